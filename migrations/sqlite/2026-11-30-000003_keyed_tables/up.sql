-- The claims and the counters are found only by their keys: stored in their key's B-tree
-- (WITHOUT ROWID) instead of a rowid table beside an index of the same key, each row is written
-- and kept once. PostgreSQL has no such table kind (its migration of this name does nothing).
CREATE TABLE claims_keyed (
    learner_id TEXT NOT NULL REFERENCES learners(id),
    course_id TEXT NOT NULL REFERENCES courses(id),
    completion_id TEXT NOT NULL REFERENCES completions(id),
    PRIMARY KEY (learner_id, course_id)
) WITHOUT ROWID;
INSERT INTO claims_keyed SELECT learner_id, course_id, completion_id FROM claims;
DROP TABLE claims;
ALTER TABLE claims_keyed RENAME TO claims;

CREATE TABLE learner_year_usage_keyed (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    learner_id TEXT NOT NULL REFERENCES learners(id),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, learner_id, training_year)
) WITHOUT ROWID;
INSERT INTO learner_year_usage_keyed
    SELECT payer_code, learner_id, training_year, granted_fen FROM learner_year_usage;
DROP TABLE learner_year_usage;
ALTER TABLE learner_year_usage_keyed RENAME TO learner_year_usage;

CREATE TABLE platform_year_usage_keyed (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, platform_code, training_year)
) WITHOUT ROWID;
INSERT INTO platform_year_usage_keyed
    SELECT payer_code, platform_code, training_year, granted_fen FROM platform_year_usage;
DROP TABLE platform_year_usage;
ALTER TABLE platform_year_usage_keyed RENAME TO platform_year_usage;

CREATE TABLE course_usage_keyed (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    course_id TEXT NOT NULL REFERENCES courses(id),
    granted_fen BIGINT NOT NULL,
    free_since TIMESTAMP,
    PRIMARY KEY (payer_code, course_id)
) WITHOUT ROWID;
INSERT INTO course_usage_keyed SELECT payer_code, course_id, granted_fen, free_since FROM course_usage;
DROP TABLE course_usage;
ALTER TABLE course_usage_keyed RENAME TO course_usage;
