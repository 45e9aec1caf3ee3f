DROP TABLE audit_events;
DROP INDEX users_role;
ALTER TABLE users DROP COLUMN ban_reason;
ALTER TABLE users DROP COLUMN banned_until;
ALTER TABLE users DROP COLUMN banned_at;
ALTER TABLE users DROP COLUMN role;
