-- Revocable access: a token names the version of its account it was issued under; rotating a
-- platform's secret or changing a user's password or standing moves the version on.
ALTER TABLE platforms ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff_users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE staff_users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
