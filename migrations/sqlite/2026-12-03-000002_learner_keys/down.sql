-- Back to text keys: each learner's number, as text (the UUIDs it replaced are not kept).
-- Column affinity turns each integer key into its text as the rows are copied.
CREATE TABLE learners_text (
    id TEXT PRIMARY KEY NOT NULL,
    id_hash TEXT NOT NULL UNIQUE,
    id_masked TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO learners_text SELECT id, id_hash, id_masked, name, created_at FROM learners;

CREATE TABLE completions_text (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    event_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    course_id TEXT NOT NULL REFERENCES courses(id),
    learner_id TEXT NOT NULL REFERENCES learners_text(id),
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
    generation BIGINT NOT NULL DEFAULT 0,
    revoked_generation BIGINT,
    voucher_code TEXT,
    UNIQUE (platform_code, event_id)
);
INSERT INTO completions_text SELECT id, platform_code, event_id, content_hash, course_id,
    learner_id, payer_code, class_hours, level, certificate_no, certified_at, training_year,
    status, gross_fen, granted_fen, limited_by, schedule_id, received_at, revoked_at,
    revoke_reason, generation, revoked_generation, voucher_code FROM completions;

CREATE TABLE learner_year_usage_text (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    learner_id TEXT NOT NULL REFERENCES learners_text(id),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, learner_id, training_year)
) WITHOUT ROWID;
INSERT INTO learner_year_usage_text
    SELECT payer_code, learner_id, training_year, granted_fen FROM learner_year_usage;

CREATE TABLE offline_followups_text (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    learner_id TEXT NOT NULL REFERENCES learners_text(id),
    attended_on DATE NOT NULL,
    program TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO offline_followups_text
    SELECT id, platform_code, learner_id, attended_on, program, created_at FROM offline_followups;

DROP TABLE completions;
DROP TABLE learner_year_usage;
DROP TABLE offline_followups;
DROP TABLE learners;
ALTER TABLE learners_text RENAME TO learners;
ALTER TABLE completions_text RENAME TO completions;
ALTER TABLE learner_year_usage_text RENAME TO learner_year_usage;
ALTER TABLE offline_followups_text RENAME TO offline_followups;

CREATE INDEX learners_by_masked_id ON learners (id_masked);
CREATE INDEX completions_by_learner ON completions (learner_id, payer_code, training_year);
CREATE INDEX completions_by_payer_year ON completions (payer_code, training_year);
CREATE INDEX completions_by_course ON completions (course_id);
CREATE INDEX completions_by_platform_certified
    ON completions (payer_code, platform_code, training_year, certified_at);
CREATE INDEX completions_by_platform_generation
    ON completions (payer_code, platform_code, training_year, generation);
CREATE UNIQUE INDEX completions_by_voucher ON completions (voucher_code)
    WHERE voucher_code IS NOT NULL AND revoked_at IS NULL;
CREATE UNIQUE INDEX completions_by_claim ON completions (learner_id, course_id)
    WHERE status = 'accepted' AND revoked_at IS NULL;
CREATE INDEX offline_followups_by_learner
    ON offline_followups (platform_code, learner_id, attended_on);
