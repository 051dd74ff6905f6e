CREATE TABLE claims (
    learner_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    completion_id TEXT NOT NULL,
    PRIMARY KEY (learner_id, course_id)
);
INSERT INTO claims (learner_id, course_id, completion_id)
    SELECT learner_id, course_id, id FROM completions
    WHERE status = 'accepted' AND revoked_at IS NULL;
DROP INDEX completions_by_claim;
