-- An invoice names what it includes by a cut-off instead of a row per completion: every
-- completion and revocation carries the ledger generation that wrote it, so "the books as of
-- generation G" are exact, and an invoice records the generation of the snapshot it was drafted
-- from and the window (period end, generation) of the counted invoice before it. The run then
-- reads a snapshot without the ledger lock and writes only the invoice rows.
ALTER TABLE completions ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE completions ADD COLUMN revoked_generation BIGINT;
UPDATE completions SET revoked_generation = 0 WHERE revoked_at IS NOT NULL;

ALTER TABLE invoices ADD COLUMN cutoff_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN covered_until TIMESTAMP;
ALTER TABLE invoices ADD COLUMN covered_generation BIGINT;
ALTER TABLE invoices ADD COLUMN completions_total BIGINT NOT NULL DEFAULT 0;
-- Invoices drafted before this migration keep their count; from now on they list the
-- completions of their period as of the migration (their amounts and lines are unchanged).
UPDATE invoices SET completions_total =
    (SELECT COUNT(*) FROM invoice_completions ic WHERE ic.invoice_id = invoices.id);
DROP TABLE invoice_completions;
