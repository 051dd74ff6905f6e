-- Back to text keys: each learner's number, as text (the UUIDs it replaced are not kept).
ALTER TABLE offline_followups DROP CONSTRAINT offline_followups_learner_id_fkey;
ALTER TABLE learners ALTER COLUMN id TYPE TEXT USING id::text;
ALTER TABLE completions ALTER COLUMN learner_id TYPE TEXT USING learner_id::text;
ALTER TABLE learner_year_usage ALTER COLUMN learner_id TYPE TEXT USING learner_id::text;
ALTER TABLE offline_followups ALTER COLUMN learner_id TYPE TEXT USING learner_id::text;
ALTER TABLE offline_followups
    ADD CONSTRAINT offline_followups_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id);
