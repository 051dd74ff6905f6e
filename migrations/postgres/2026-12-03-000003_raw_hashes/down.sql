ALTER TABLE completions ALTER COLUMN content_hash TYPE TEXT USING encode(content_hash, 'hex');
ALTER TABLE vouchers ALTER COLUMN learner_hash TYPE TEXT USING encode(learner_hash, 'hex');
ALTER TABLE learners ALTER COLUMN id_hash TYPE TEXT USING encode(id_hash, 'hex');
