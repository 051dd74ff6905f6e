-- A claim (RULES.md §1: one paid claim per learner × course, whoever pays) is the live accepted
-- completion itself: a unique partial index on completions says so where a table of its own
-- repeated the learner, the course and the completion's id, and cost one more row per grant.
-- Revoking a completion takes it out of the index, which releases the claim. Built before the
-- table goes, so books that broke the rule stop the migration instead of losing the evidence.
CREATE UNIQUE INDEX completions_by_claim ON completions (learner_id, course_id)
    WHERE status = 'accepted' AND revoked_at IS NULL;
DROP TABLE claims;
