DROP INDEX completions_by_platform_generation;
DROP INDEX completions_by_platform_certified;
CREATE INDEX completions_by_platform ON completions (payer_code, platform_code, training_year, status);
