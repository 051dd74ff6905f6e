-- An invoice after the first lists two ranges of its platform's year: the completions recorded
-- since the cut-off before it (by generation) and those recorded before it but certified after
-- that invoice's period end (by certified_at). Each gets an index, so reading a later invoice
-- does not walk the year's earlier completions; the second also serves the year-to-date sums
-- (certified before the period's end), which the status column of the old index did not narrow.
DROP INDEX completions_by_platform;
CREATE INDEX completions_by_platform_certified
    ON completions (payer_code, platform_code, training_year, certified_at);
CREATE INDEX completions_by_platform_generation
    ON completions (payer_code, platform_code, training_year, generation);
