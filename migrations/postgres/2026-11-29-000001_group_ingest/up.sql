-- The ledger's own rows (completions, claims, the three counters) are written only by the
-- ledger writer, with keys it read from the catalog in the same transaction under the ledger
-- lock; catalog rows a completion names are never deleted (a schedule version only while it
-- priced nothing, checked under the same lock); `gateway check` verifies every reference.
-- On PostgreSQL each foreign-key check is a trigger running a query per row: ten per metered
-- event, more than half the cost of a group, and two per completion an invoice run links
-- (40 s of a run over 1,000,000 completions). They do not earn that here. (SQLite keeps them:
-- there a check is an in-process index probe.) Drafts' links are deleted with the drafts by
-- the code, no longer by cascade.
ALTER TABLE completions
    DROP CONSTRAINT completions_platform_code_fkey,
    DROP CONSTRAINT completions_course_id_fkey,
    DROP CONSTRAINT completions_learner_id_fkey,
    DROP CONSTRAINT completions_payer_code_fkey,
    DROP CONSTRAINT completions_schedule_id_fkey;
ALTER TABLE claims
    DROP CONSTRAINT claims_learner_id_fkey,
    DROP CONSTRAINT claims_course_id_fkey,
    DROP CONSTRAINT claims_completion_id_fkey;
ALTER TABLE learner_year_usage
    DROP CONSTRAINT learner_year_usage_payer_code_fkey,
    DROP CONSTRAINT learner_year_usage_learner_id_fkey;
ALTER TABLE platform_year_usage
    DROP CONSTRAINT platform_year_usage_payer_code_fkey,
    DROP CONSTRAINT platform_year_usage_platform_code_fkey;
ALTER TABLE course_usage
    DROP CONSTRAINT course_usage_payer_code_fkey,
    DROP CONSTRAINT course_usage_course_id_fkey;
ALTER TABLE invoice_completions
    DROP CONSTRAINT invoice_completions_invoice_id_fkey,
    DROP CONSTRAINT invoice_completions_completion_id_fkey;
