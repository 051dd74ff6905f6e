DROP TRIGGER learners_hash_is_bytes;
DROP TRIGGER learners_hash_stays_bytes;
DROP TRIGGER vouchers_hash_is_bytes;
DROP TRIGGER vouchers_hash_stays_bytes;
UPDATE completions SET content_hash = lower(hex(content_hash));
UPDATE vouchers SET learner_hash = lower(hex(learner_hash));
UPDATE learners SET id_hash = lower(hex(id_hash));
