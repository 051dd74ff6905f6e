-- A check of the ID-number key (an HMAC of a constant under it, which does not reveal the key):
-- a gateway started with other keys than the ones its learners were found by refuses to start.
CREATE TABLE key_checks (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
