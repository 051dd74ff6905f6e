-- A replica's ledger writer keeps the catalog rows it read (platforms, courses, payers, rate
-- schedules) while only writers' groups, which add completions, learners and counters, took
-- the ledger lock since its own last group: `catalog_generation` is the generation of the last
-- money transaction that was not such a group. A group says so by setting `group_generation` to
-- the generation it takes; every other update of the ledger row (an admin change, a revocation,
-- the invoice run, a change by hand, an older gateway's) moves `catalog_generation` along.
ALTER TABLE ledger_locks ADD COLUMN catalog_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger_locks ADD COLUMN group_generation BIGINT NOT NULL DEFAULT 0;
UPDATE ledger_locks SET catalog_generation = generation;

CREATE FUNCTION ledger_catalog_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.group_generation IS DISTINCT FROM NEW.generation THEN
        NEW.catalog_generation := NEW.generation;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_catalog_stamp BEFORE UPDATE ON ledger_locks
    FOR EACH ROW EXECUTE FUNCTION ledger_catalog_stamp();
