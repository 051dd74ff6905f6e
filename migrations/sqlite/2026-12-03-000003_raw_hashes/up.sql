-- A learner's keyed hash and an event's content hash are SHA-256 digests: kept as their 32
-- bytes, not as 64 hex characters. The learner's hash is in its row, in its unique index and in
-- each voucher issued to the learner; the content hash is in every completion.
-- The columns keep their declared TEXT: on SQLite a declared type is only an affinity, which
-- stores a BLOB as it is given, and changing it means rebuilding the learners table, which
-- cannot be dropped while completions name its rows (foreign keys are on in this transaction).
-- So a learner's and a voucher's hash must be 32 bytes, from these updates on: a gateway from
-- before this migration, still running beside it, would write hex text, which never equals the
-- same learner's bytes, and give that learner a second record with a cap of its own; its money
-- transactions fail instead. A value that is not hex becomes NULL and fails NOT NULL, one of
-- another length fails the triggers: either stops the migration with the books as they were.
CREATE TRIGGER learners_hash_is_bytes BEFORE INSERT ON learners
    WHEN typeof(NEW.id_hash) != 'blob' OR length(NEW.id_hash) != 32
    BEGIN SELECT RAISE(ABORT, 'learners.id_hash must be 32 bytes'); END;
CREATE TRIGGER learners_hash_stays_bytes BEFORE UPDATE OF id_hash ON learners
    WHEN typeof(NEW.id_hash) != 'blob' OR length(NEW.id_hash) != 32
    BEGIN SELECT RAISE(ABORT, 'learners.id_hash must be 32 bytes'); END;
CREATE TRIGGER vouchers_hash_is_bytes BEFORE INSERT ON vouchers
    WHEN typeof(NEW.learner_hash) != 'blob' OR length(NEW.learner_hash) != 32
    BEGIN SELECT RAISE(ABORT, 'vouchers.learner_hash must be 32 bytes'); END;
CREATE TRIGGER vouchers_hash_stays_bytes BEFORE UPDATE OF learner_hash ON vouchers
    WHEN typeof(NEW.learner_hash) != 'blob' OR length(NEW.learner_hash) != 32
    BEGIN SELECT RAISE(ABORT, 'vouchers.learner_hash must be 32 bytes'); END;
UPDATE learners SET id_hash = unhex(id_hash);
UPDATE vouchers SET learner_hash = unhex(learner_hash);
UPDATE completions SET content_hash = unhex(content_hash);
