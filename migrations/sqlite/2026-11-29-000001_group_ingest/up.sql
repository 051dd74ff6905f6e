-- PostgreSQL drops the foreign keys of the ledger's own rows here (see its migration of this
-- name). SQLite keeps them: each check is an in-process index probe, a small share of a group.
SELECT 1;
