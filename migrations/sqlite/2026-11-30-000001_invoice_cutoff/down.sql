CREATE TABLE invoice_completions (
    invoice_id TEXT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    completion_id TEXT NOT NULL REFERENCES completions(id),
    PRIMARY KEY (invoice_id, completion_id)
);
ALTER TABLE invoices DROP COLUMN completions_total;
ALTER TABLE invoices DROP COLUMN covered_generation;
ALTER TABLE invoices DROP COLUMN covered_until;
ALTER TABLE invoices DROP COLUMN cutoff_generation;
ALTER TABLE completions DROP COLUMN revoked_generation;
ALTER TABLE completions DROP COLUMN generation;
