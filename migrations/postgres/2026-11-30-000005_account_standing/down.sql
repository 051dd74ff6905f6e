ALTER TABLE staff_users DROP COLUMN token_version;
ALTER TABLE staff_users DROP COLUMN status;
ALTER TABLE platforms DROP COLUMN token_version;
