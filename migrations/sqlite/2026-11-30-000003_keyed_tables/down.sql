-- Rowid or not, the tables hold the same rows and answer the same queries.
SELECT 1;
