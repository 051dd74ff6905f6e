CREATE TABLE invoice_completions (
    invoice_id TEXT NOT NULL,
    completion_id TEXT NOT NULL,
    PRIMARY KEY (invoice_id, completion_id)
);
ALTER TABLE invoices DROP COLUMN completions_total, DROP COLUMN covered_generation,
    DROP COLUMN covered_until, DROP COLUMN cutoff_generation;
ALTER TABLE completions DROP COLUMN revoked_generation, DROP COLUMN generation;
