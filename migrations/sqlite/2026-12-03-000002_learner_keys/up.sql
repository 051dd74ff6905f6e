-- A learner is keyed by an integer, numbered in the order learners were first seen, instead of
-- a 36-character text UUID: the key is repeated in every completion, in two of its indexes and
-- in the learner's year counters, and as an INTEGER PRIMARY KEY it is the row's own rowid, so the
-- learners table loses the index its text key needed. The ledger writer numbers new learners
-- under the ledger lock (service::group::Kept), as every write to the ledger's tables is made.
-- SQLite cannot change a column's type in place: the four tables that hold the key are rebuilt.
CREATE TEMPORARY TABLE learner_keys (old TEXT PRIMARY KEY NOT NULL, new BIGINT NOT NULL);
INSERT INTO learner_keys (old, new)
    SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) FROM learners;

CREATE TABLE learners_keyed (
    id INTEGER PRIMARY KEY NOT NULL,
    id_hash TEXT NOT NULL UNIQUE,
    id_masked TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO learners_keyed (id, id_hash, id_masked, name, created_at)
    SELECT k.new, l.id_hash, l.id_masked, l.name, l.created_at
    FROM learners l JOIN learner_keys k ON k.old = l.id
    ORDER BY k.new;

-- A row naming a learner that does not exist gets no key, fails NOT NULL and stops the
-- migration with the books as they were: nothing is dropped on the way. So does a completion
-- naming any other row that does not exist (a foreign key): `gateway check` names such rows.
CREATE TABLE completions_keyed (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    event_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    course_id TEXT NOT NULL REFERENCES courses(id),
    learner_id BIGINT NOT NULL REFERENCES learners_keyed(id),
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
INSERT INTO completions_keyed (id, platform_code, event_id, content_hash, course_id, learner_id,
    payer_code, class_hours, level, certificate_no, certified_at, training_year, status,
    gross_fen, granted_fen, limited_by, schedule_id, received_at, revoked_at, revoke_reason,
    generation, revoked_generation, voucher_code)
    SELECT c.id, c.platform_code, c.event_id, c.content_hash, c.course_id, k.new,
        c.payer_code, c.class_hours, c.level, c.certificate_no, c.certified_at, c.training_year,
        c.status, c.gross_fen, c.granted_fen, c.limited_by, c.schedule_id, c.received_at,
        c.revoked_at, c.revoke_reason, c.generation, c.revoked_generation, c.voucher_code
    FROM completions c LEFT JOIN learner_keys k ON k.old = c.learner_id
    ORDER BY c.rowid;

CREATE TABLE learner_year_usage_keyed (
    payer_code TEXT NOT NULL REFERENCES payers(code),
    learner_id BIGINT NOT NULL REFERENCES learners_keyed(id),
    training_year INTEGER NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (payer_code, learner_id, training_year)
) WITHOUT ROWID;
INSERT INTO learner_year_usage_keyed (payer_code, learner_id, training_year, granted_fen)
    SELECT u.payer_code, k.new, u.training_year, u.granted_fen
    FROM learner_year_usage u LEFT JOIN learner_keys k ON k.old = u.learner_id;

CREATE TABLE offline_followups_keyed (
    id TEXT PRIMARY KEY NOT NULL,
    platform_code TEXT NOT NULL REFERENCES platforms(code),
    learner_id BIGINT NOT NULL REFERENCES learners_keyed(id),
    attended_on DATE NOT NULL,
    program TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO offline_followups_keyed (id, platform_code, learner_id, attended_on, program,
    created_at)
    SELECT f.id, f.platform_code, k.new, f.attended_on, f.program, f.created_at
    FROM offline_followups f LEFT JOIN learner_keys k ON k.old = f.learner_id
    ORDER BY f.rowid;

DROP TABLE completions;
DROP TABLE learner_year_usage;
DROP TABLE offline_followups;
DROP TABLE learners;
DROP TABLE learner_keys;
-- Renaming a table rewrites the references to it: the keyed tables now name `learners`.
ALTER TABLE learners_keyed RENAME TO learners;
ALTER TABLE completions_keyed RENAME TO completions;
ALTER TABLE learner_year_usage_keyed RENAME TO learner_year_usage;
ALTER TABLE offline_followups_keyed RENAME TO offline_followups;

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
