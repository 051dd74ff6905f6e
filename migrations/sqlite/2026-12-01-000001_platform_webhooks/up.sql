-- Endpoints platforms register to be told what happens to their money (Standard Webhooks).
-- The secret signs every message; after a rotation the previous one signs too for a day, so a
-- receiver can switch without refusing messages meanwhile.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    url TEXT NOT NULL,
    -- The event types it receives, space-separated.
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    -- enabled | disabled (failing too long, with the reason) | deleted
    status TEXT NOT NULL,
    disabled_reason TEXT,
    -- Since when every delivery failed; cleared by the next success.
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_by_platform ON webhook_endpoints (platform_code, status);

-- One outbox for the bureau and for platforms: a kind and a target per row. A bureau row
-- forwards an invoice; a platform row carries one message to one endpoint.
CREATE TABLE outbox_targets (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT REFERENCES invoices(id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    kind TEXT NOT NULL,
    endpoint_id TEXT REFERENCES webhook_endpoints(id),
    message_id TEXT,
    event_type TEXT,
    payload TEXT,
    resent_at TIMESTAMP
);
INSERT INTO outbox_targets
    SELECT id, invoice_id, status, attempts, next_attempt_at, lease_until, last_error,
           created_at, delivered_at, 'bureau', NULL, NULL, NULL, NULL, NULL
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_targets RENAME TO outbox;
CREATE UNIQUE INDEX outbox_by_invoice ON outbox (invoice_id) WHERE kind = 'bureau';
CREATE UNIQUE INDEX outbox_by_message ON outbox (endpoint_id, message_id) WHERE kind = 'platform';
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Every delivery attempt to an endpoint, for the platform to see.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
    outbox_id TEXT NOT NULL REFERENCES outbox(id),
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    -- succeeded | failed
    outcome TEXT NOT NULL,
    answer_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, attempted_at);
