CREATE TABLE claims (
    learner_id TEXT NOT NULL REFERENCES learners(id),
    course_id TEXT NOT NULL REFERENCES courses(id),
    completion_id TEXT NOT NULL REFERENCES completions(id),
    PRIMARY KEY (learner_id, course_id)
) WITHOUT ROWID;
INSERT INTO claims (learner_id, course_id, completion_id)
    SELECT learner_id, course_id, id FROM completions
    WHERE status = 'accepted' AND revoked_at IS NULL;
DROP INDEX completions_by_claim;
