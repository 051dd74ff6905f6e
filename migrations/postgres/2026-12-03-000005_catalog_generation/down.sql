DROP TRIGGER ledger_catalog_stamp ON ledger_locks;
DROP FUNCTION ledger_catalog_stamp();
ALTER TABLE ledger_locks DROP COLUMN group_generation;
ALTER TABLE ledger_locks DROP COLUMN catalog_generation;
