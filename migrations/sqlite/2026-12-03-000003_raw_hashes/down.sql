UPDATE completions SET content_hash = lower(hex(content_hash));
UPDATE vouchers SET learner_hash = lower(hex(learner_hash));
UPDATE learners SET id_hash = lower(hex(id_hash));
