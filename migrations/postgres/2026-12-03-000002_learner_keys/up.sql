-- A learner is keyed by an integer, numbered in the order learners were first seen, instead of
-- a 36-character text UUID: the key is repeated in every completion, in two of its indexes and
-- in the learner's year counters. The ledger writer numbers new learners under the ledger lock
-- (service::group::Kept), as every write to the ledger's tables is made.
CREATE TEMPORARY TABLE learner_keys (old TEXT PRIMARY KEY, new BIGINT NOT NULL);
INSERT INTO learner_keys (old, new)
    SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) FROM learners;
ANALYZE learner_keys;
CREATE FUNCTION pg_temp.learner_number(TEXT) RETURNS BIGINT LANGUAGE sql STABLE
    AS $$ SELECT new FROM learner_keys WHERE old = $1 $$;

-- Each column changes type in place: its table is rewritten once, compactly, with its indexes
-- and keys rebuilt. A row naming a learner that does not exist gets no number, fails NOT NULL
-- and stops the migration with the books as they were (`gateway check` names such rows).
ALTER TABLE offline_followups DROP CONSTRAINT offline_followups_learner_id_fkey;
ALTER TABLE learners ALTER COLUMN id TYPE BIGINT USING pg_temp.learner_number(id);
ALTER TABLE completions
    ALTER COLUMN learner_id TYPE BIGINT USING pg_temp.learner_number(learner_id);
ALTER TABLE learner_year_usage
    ALTER COLUMN learner_id TYPE BIGINT USING pg_temp.learner_number(learner_id);
ALTER TABLE offline_followups
    ALTER COLUMN learner_id TYPE BIGINT USING pg_temp.learner_number(learner_id);
ALTER TABLE offline_followups
    ADD CONSTRAINT offline_followups_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id);

DROP FUNCTION pg_temp.learner_number(TEXT);
DROP TABLE learner_keys;
ANALYZE learners, completions, learner_year_usage, offline_followups;
