ALTER TABLE completions ALTER COLUMN content_hash TYPE TEXT USING encode(content_hash, 'hex');
ALTER TABLE vouchers DROP CONSTRAINT vouchers_hash_is_bytes,
    ALTER COLUMN learner_hash TYPE TEXT USING encode(learner_hash, 'hex');
ALTER TABLE learners DROP CONSTRAINT learners_hash_is_bytes,
    ALTER COLUMN id_hash TYPE TEXT USING encode(id_hash, 'hex');
