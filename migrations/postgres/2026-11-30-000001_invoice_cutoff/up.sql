-- An invoice names what it includes by a cut-off instead of a row per completion: every
-- completion and revocation carries the ledger generation that wrote it, so "the books as of
-- generation G" are exact, and an invoice records the generation of the snapshot it was drafted
-- from and the window (period end, generation) of the counted invoice before it. The run then
-- reads a snapshot without the ledger lock and writes only the invoice rows.
ALTER TABLE completions ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE completions ADD COLUMN revoked_generation BIGINT;
ALTER TABLE invoices ADD COLUMN cutoff_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN covered_until TIMESTAMP;
ALTER TABLE invoices ADD COLUMN covered_generation BIGINT;
ALTER TABLE invoices ADD COLUMN completions_total BIGINT NOT NULL DEFAULT 0;

-- Existing invoices keep listing what they linked: their stamps are rebuilt from the links.
-- The invoices are numbered 1..n in the order they were drafted (their cut-offs); a completion
-- takes the number of the first invoice that linked it; one no invoice linked, and every
-- revocation, comes after them all (n + 1), so the next run includes what none included.
UPDATE invoices SET
    cutoff_generation = (SELECT COUNT(*) FROM invoices j
                         WHERE j.created_at < invoices.created_at
                            OR (j.created_at = invoices.created_at AND j.id <= invoices.id)),
    completions_total = (SELECT COUNT(*) FROM invoice_completions ic
                         WHERE ic.invoice_id = invoices.id);
UPDATE completions SET generation = COALESCE(
    (SELECT MIN(i.cutoff_generation) FROM invoice_completions ic
     JOIN invoices i ON i.id = ic.invoice_id WHERE ic.completion_id = completions.id),
    (SELECT COUNT(*) + 1 FROM invoices));
UPDATE completions SET revoked_generation = (SELECT COUNT(*) + 1 FROM invoices)
    WHERE revoked_at IS NOT NULL;
UPDATE invoices SET covered_generation =
    (SELECT MAX(j.cutoff_generation) FROM invoices j
     WHERE j.platform_code = invoices.platform_code AND j.payer_code = invoices.payer_code
       AND j.training_year = invoices.training_year
       AND j.status IN ('issued', 'approved', 'submitted', 'paid')
       AND j.cutoff_generation < invoices.cutoff_generation);
-- A period's end: the first instant of the next month in China Standard Time (UTC+8), as UTC.
UPDATE invoices SET covered_until =
    (SELECT CAST(to_date(j.period || '-01', 'YYYY-MM-DD') + INTERVAL '1 month' - INTERVAL '8 hours' AS TIMESTAMP) FROM invoices j WHERE j.cutoff_generation = invoices.covered_generation)
    WHERE covered_generation IS NOT NULL;
UPDATE ledger_locks SET generation = GREATEST(generation, (SELECT COUNT(*) + 1 FROM invoices));
DROP TABLE invoice_completions;
