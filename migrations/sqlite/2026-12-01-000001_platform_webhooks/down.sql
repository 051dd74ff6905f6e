DROP TABLE webhook_attempts;
DELETE FROM outbox WHERE kind <> 'bureau';
CREATE TABLE outbox_bureau (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT NOT NULL UNIQUE REFERENCES invoices(id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
INSERT INTO outbox_bureau
    SELECT id, invoice_id, status, attempts, next_attempt_at, lease_until, last_error,
           created_at, delivered_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_bureau RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
DROP TABLE webhook_endpoints;
