-- A learner's completions are found by the learner's number alone: the queries that read them
-- (a learner's subsidy, a learner's grants by platform) read each row anyway, and a learner has
-- few completions, so the payer and year beside the number in every index entry did not earn
-- their bytes.
DROP INDEX completions_by_learner;
CREATE INDEX completions_by_learner ON completions (learner_id);
