-- A learner's keyed hash and an event's content hash are SHA-256 digests: kept as their 32
-- bytes, not as 64 hex characters. The learner's hash is in its row, in its unique index and in
-- each voucher issued to the learner; the content hash is in every completion.
-- The columns keep their declared TEXT: on SQLite a declared type is only an affinity, which
-- stores a BLOB as it is given, and changing it means rebuilding the learners table, which
-- cannot be dropped while completions name its rows (foreign keys are on in this transaction).
-- A value that is not hex becomes NULL, fails NOT NULL and stops the migration with the books
-- as they were.
UPDATE learners SET id_hash = unhex(id_hash);
UPDATE vouchers SET learner_hash = unhex(learner_hash);
UPDATE completions SET content_hash = unhex(content_hash);
