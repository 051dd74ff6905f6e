-- A learner's keyed hash and an event's content hash are SHA-256 digests: kept as their 32
-- bytes, not as 64 hex characters. The learner's hash is in its row, in its unique index and in
-- each voucher issued to the learner; the content hash is in every completion.
-- A value that is not hex stops the migration with the books as they were.
ALTER TABLE learners ALTER COLUMN id_hash TYPE BYTEA USING decode(id_hash, 'hex');
ALTER TABLE vouchers ALTER COLUMN learner_hash TYPE BYTEA USING decode(learner_hash, 'hex');
ALTER TABLE completions ALTER COLUMN content_hash TYPE BYTEA USING decode(content_hash, 'hex');
