DROP INDEX completions_by_learner;
CREATE INDEX completions_by_learner ON completions (learner_id, payer_code, training_year);
