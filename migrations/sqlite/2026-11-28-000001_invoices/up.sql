-- Invoices: cumulative true-ups per platform, payer and training year (RULES.md §4).
CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    number TEXT UNIQUE,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    payer_code TEXT NOT NULL REFERENCES payers(code),
    training_year INTEGER NOT NULL,
    period TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    granted_ytd_fen BIGINT NOT NULL,
    payable_ytd_fen BIGINT NOT NULL,
    previously_invoiced_fen BIGINT NOT NULL,
    learners BIGINT NOT NULL,
    learners_with_followup BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    issued_at TIMESTAMP,
    issued_by TEXT,
    approved_at TIMESTAMP,
    approved_by TEXT,
    rejected_at TIMESTAMP,
    rejected_by TEXT,
    reject_reason TEXT,
    submitted_at TIMESTAMP,
    paid_at TIMESTAMP,
    paid_by TEXT,
    payment_reference TEXT
);
CREATE INDEX invoices_by_platform ON invoices (platform_code, payer_code, training_year, status);

CREATE TABLE invoice_lines (
    invoice_id TEXT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    level TEXT,
    class_hours BIGINT,
    amount_fen BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- The completions an invoice newly includes.
CREATE TABLE invoice_completions (
    invoice_id TEXT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    completion_id TEXT NOT NULL REFERENCES completions(id),
    PRIMARY KEY (invoice_id, completion_id)
);

-- Gapless numbers per payer and training year, taken at issue inside the money transaction.
CREATE TABLE invoice_numbers (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    training_year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (payer_code, training_year)
);

-- Approved invoices waiting for, or delivered to, the finance bureau.
CREATE TABLE outbox (
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
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Append-only record of every money change and configuration change.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT
);
CREATE INDEX audit_events_by_object ON audit_events (object_type, object_id);
