-- SQLite stores its claims and counters WITHOUT ROWID here; PostgreSQL has no such table kind.
SELECT 1;
