-- A learner is keyed by an integer, numbered in the order learners were first seen, instead of
-- a 36-character text UUID: the key is repeated in every completion, in two of its indexes and
-- in the learner's year counters. The ledger writer numbers new learners under the ledger lock
-- (service::group::Kept), as every write to the ledger's tables is made.
CREATE TEMPORARY TABLE learner_keys (old TEXT PRIMARY KEY, new BIGINT NOT NULL);
INSERT INTO learner_keys (old, new)
    SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) FROM learners;

-- Each table that names a learner gets the number beside the text key, then loses the text key
-- (and the indexes on it, rebuilt below). A row naming a learner that does not exist gets no
-- number, fails NOT NULL and stops the migration with the books as they were.
ALTER TABLE offline_followups DROP CONSTRAINT offline_followups_learner_id_fkey;
ALTER TABLE learners ADD COLUMN number BIGINT;
UPDATE learners l SET number = k.new FROM learner_keys k WHERE k.old = l.id;
ALTER TABLE learners DROP COLUMN id;
ALTER TABLE learners RENAME COLUMN number TO id;
ALTER TABLE learners ADD PRIMARY KEY (id);

ALTER TABLE completions ADD COLUMN learner_number BIGINT;
UPDATE completions c SET learner_number = k.new FROM learner_keys k WHERE k.old = c.learner_id;
ALTER TABLE completions DROP COLUMN learner_id;
ALTER TABLE completions RENAME COLUMN learner_number TO learner_id;
ALTER TABLE completions ALTER COLUMN learner_id SET NOT NULL;
CREATE INDEX completions_by_learner ON completions (learner_id, payer_code, training_year);
CREATE UNIQUE INDEX completions_by_claim ON completions (learner_id, course_id)
    WHERE status = 'accepted' AND revoked_at IS NULL;

ALTER TABLE learner_year_usage ADD COLUMN learner_number BIGINT;
UPDATE learner_year_usage u SET learner_number = k.new
    FROM learner_keys k WHERE k.old = u.learner_id;
ALTER TABLE learner_year_usage DROP COLUMN learner_id;
ALTER TABLE learner_year_usage RENAME COLUMN learner_number TO learner_id;
ALTER TABLE learner_year_usage ALTER COLUMN learner_id SET NOT NULL;
ALTER TABLE learner_year_usage ADD PRIMARY KEY (payer_code, learner_id, training_year);

ALTER TABLE offline_followups ADD COLUMN learner_number BIGINT;
UPDATE offline_followups f SET learner_number = k.new
    FROM learner_keys k WHERE k.old = f.learner_id;
ALTER TABLE offline_followups DROP COLUMN learner_id;
ALTER TABLE offline_followups RENAME COLUMN learner_number TO learner_id;
ALTER TABLE offline_followups ALTER COLUMN learner_id SET NOT NULL;
ALTER TABLE offline_followups
    ADD CONSTRAINT offline_followups_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id);
CREATE INDEX offline_followups_by_learner
    ON offline_followups (platform_code, learner_id, attended_on);

DROP TABLE learner_keys;
