-- A claim (RULES.md §1: one paid claim per learner × course, whoever pays) is the live accepted
-- completion itself: a unique partial index on completions says so where a table of its own
-- repeated the learner, the course and the completion's id, and cost one more row per grant.
-- Revoking a completion takes it out of the index, which releases the claim.
--
-- The table goes only if it agrees with the live grants: a claim missing, stale (naming a
-- revoked or unpaid completion) or doubled would be lost with it, so any such row fails this
-- CHECK and the migration stops (the earlier version's `gateway check` names each one).
CREATE TEMPORARY TABLE claims_agree_with_live_grants (
    mismatches BIGINT NOT NULL CHECK (mismatches = 0)
);
INSERT INTO claims_agree_with_live_grants (mismatches)
SELECT (SELECT COUNT(*) FROM (
            SELECT learner_id, course_id, completion_id FROM claims
            EXCEPT
            SELECT learner_id, course_id, id FROM completions
            WHERE status = 'accepted' AND revoked_at IS NULL) stale)
     + (SELECT COUNT(*) FROM (
            SELECT learner_id, course_id, id FROM completions
            WHERE status = 'accepted' AND revoked_at IS NULL
            EXCEPT
            SELECT learner_id, course_id, completion_id FROM claims) unclaimed);
DROP TABLE claims_agree_with_live_grants;
CREATE UNIQUE INDEX completions_by_claim ON completions (learner_id, course_id)
    WHERE status = 'accepted' AND revoked_at IS NULL;
DROP TABLE claims;
