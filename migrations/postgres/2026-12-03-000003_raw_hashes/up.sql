-- A learner's keyed hash and an event's content hash are SHA-256 digests: kept as their 32
-- bytes, not as 64 hex characters. The learner's hash is in its row, in its unique index and in
-- each voucher issued to the learner; the content hash is in every completion.
-- A value that is not hex, or a learner's or voucher's hash of another length than 32 bytes,
-- stops the migration with the books as they were. A gateway from before it, still running, fails
-- its money transactions: it binds text to these columns.
ALTER TABLE learners ALTER COLUMN id_hash TYPE BYTEA USING decode(id_hash, 'hex'),
    ADD CONSTRAINT learners_hash_is_bytes CHECK (octet_length(id_hash) = 32);
ALTER TABLE vouchers ALTER COLUMN learner_hash TYPE BYTEA USING decode(learner_hash, 'hex'),
    ADD CONSTRAINT vouchers_hash_is_bytes CHECK (octet_length(learner_hash) = 32);
ALTER TABLE completions ALTER COLUMN content_hash TYPE BYTEA USING decode(content_hash, 'hex');
-- Changing a column's type drops its statistics.
ANALYZE learners, vouchers, completions;
