-- Platform staff with passwords of their own: a user of role `platform` speaks for one platform.
ALTER TABLE staff_users ADD COLUMN platform_code TEXT REFERENCES platforms (code);
