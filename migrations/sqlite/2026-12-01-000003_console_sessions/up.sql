-- Console sign-ins. A session is known by the SHA-256 of its cookie (the cookie's value is never
-- stored), carries the account version it was opened under (revoking the account ends it, as it
-- does tokens) and the token every form of its pages must send back. A learner's subject is the
-- keyed hash of the ID number and `display` its masked form: no ID number is stored here.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    display TEXT NOT NULL,
    platform_code TEXT,
    account_version BIGINT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- One-time sign-in links printed by `gateway login-link`, known by the SHA-256 of their token.
CREATE TABLE console_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    display TEXT NOT NULL,
    platform_code TEXT,
    expires_at TIMESTAMP NOT NULL
);

-- A platform's staff search their completions by the learner's masked ID number.
CREATE INDEX learners_by_masked_id ON learners (id_masked);
