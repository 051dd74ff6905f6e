-- Money is integer fen; instants are UTC timestamps; ids are UUIDv7 text made by the gateway.

CREATE TABLE gateway_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Every transaction that moves money updates its row first: one writer at a time, on any
-- number of gateway processes (see README, "How limits stay exact").
CREATE TABLE ledger_locks (
    name TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO ledger_locks (name, generation) VALUES ('ledger', 0);

CREATE TABLE payers (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE rate_schedules (
    id TEXT PRIMARY KEY NOT NULL,
    payer_code TEXT NOT NULL REFERENCES payers(code),
    effective_year INTEGER NOT NULL,
    junior_rate_fen BIGINT NOT NULL,
    intermediate_rate_fen BIGINT NOT NULL,
    senior_rate_fen BIGINT NOT NULL,
    junior_saturation_fen BIGINT NOT NULL,
    intermediate_saturation_fen BIGINT NOT NULL,
    senior_saturation_fen BIGINT NOT NULL,
    learner_annual_cap_fen BIGINT NOT NULL,
    platform_annual_ceiling_fen BIGINT NOT NULL,
    offline_ratio_threshold TEXT NOT NULL,
    offline_reduction_factor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (payer_code, effective_year)
);

CREATE TABLE platforms (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    client_secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_users (
    username TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE courses (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    level TEXT NOT NULL,
    class_hours INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (platform_code, code)
);

-- The full ID number is never stored: a keyed hash finds the learner, the masked form shows it.
CREATE TABLE learners (
    id TEXT PRIMARY KEY NOT NULL,
    id_hash TEXT NOT NULL UNIQUE,
    id_masked TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE completions (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    event_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    course_id TEXT NOT NULL REFERENCES courses(id),
    learner_id TEXT NOT NULL REFERENCES learners(id),
    payer_code TEXT NOT NULL REFERENCES payers(code),
    class_hours INTEGER NOT NULL,
    level TEXT NOT NULL,
    certificate_no TEXT UNIQUE,
    certified_at TIMESTAMP,
    training_year INTEGER,
    status TEXT NOT NULL,
    gross_fen BIGINT NOT NULL,
    granted_fen BIGINT NOT NULL,
    limited_by TEXT,
    schedule_id TEXT REFERENCES rate_schedules(id),
    received_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoke_reason TEXT,
    UNIQUE (platform_code, event_id)
);
CREATE INDEX completions_by_learner ON completions (learner_id, payer_code, training_year);
-- payer first: lookups by (platform, event_id) must find only the unique index led by platform.
CREATE INDEX completions_by_platform ON completions (payer_code, platform_code, training_year, status);
CREATE INDEX completions_by_payer_year ON completions (payer_code, training_year);
CREATE INDEX completions_by_course ON completions (course_id);

-- One paid claim per learner × course, across every platform and payer (RULES.md §1).
CREATE TABLE claims (
    learner_id TEXT NOT NULL REFERENCES learners(id),
    course_id TEXT NOT NULL REFERENCES courses(id),
    completion_id TEXT NOT NULL REFERENCES completions(id),
    PRIMARY KEY (learner_id, course_id)
);

CREATE TABLE learner_year_usage (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    learner_id TEXT NOT NULL REFERENCES learners(id),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, learner_id, training_year)
);

CREATE TABLE platform_year_usage (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, platform_code, training_year)
);

CREATE TABLE course_usage (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    course_id TEXT NOT NULL REFERENCES courses(id),
    granted_fen BIGINT NOT NULL,
    free_since TIMESTAMP,
    PRIMARY KEY (payer_code, course_id)
);

CREATE TABLE offline_followups (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    learner_id TEXT NOT NULL REFERENCES learners(id),
    attended_on DATE NOT NULL,
    program TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX offline_followups_by_learner ON offline_followups (platform_code, learner_id, attended_on);

-- RULES.md defaults (seed plan, 2022) for the provincial finance bureau.
INSERT INTO payers (code, name, created_at) VALUES ('province', '省级财政 Provincial finance bureau', CURRENT_TIMESTAMP);
INSERT INTO rate_schedules (
    id, payer_code, effective_year,
    junior_rate_fen, intermediate_rate_fen, senior_rate_fen,
    junior_saturation_fen, intermediate_saturation_fen, senior_saturation_fen,
    learner_annual_cap_fen, platform_annual_ceiling_fen,
    offline_ratio_threshold, offline_reduction_factor, created_at
) VALUES (
    'seed-province-2022', 'province', 2022,
    300, 400, 500,
    300000, 400000, 500000,
    30000, 300000000,
    '0.50', '0.50', CURRENT_TIMESTAMP
);
