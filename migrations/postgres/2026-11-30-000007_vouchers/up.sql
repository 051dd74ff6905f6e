-- Electronic vouchers (RULES.md §7). A payer that requires them pays a completion only against a
-- voucher issued to that learner; from when on it requires them is kept, so that completions
-- recorded before need none.
ALTER TABLE payers ADD COLUMN voucher_required_since TIMESTAMP;

CREATE TABLE vouchers (
    code TEXT PRIMARY KEY NOT NULL,
    payer_code TEXT NOT NULL REFERENCES payers (code),
    -- The learner as the gateway knows them: the keyed hash of the ID number and its masked form.
    learner_hash TEXT NOT NULL,
    learner_masked TEXT NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_until TIMESTAMP NOT NULL,
    level TEXT,
    course_code TEXT,
    -- issued, redeemed or cancelled; a redeemed voucher names the completion that holds it.
    status TEXT NOT NULL,
    completion_id TEXT,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX vouchers_by_learner ON vouchers (learner_hash);
CREATE UNIQUE INDEX vouchers_by_completion ON vouchers (completion_id) WHERE completion_id IS NOT NULL;
