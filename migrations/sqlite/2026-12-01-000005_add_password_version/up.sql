-- Moves on with every change of password (a change, a reset by mail), and not when a login
-- hashes the same password again under a newer setting: what a waiting sign-in, a login's
-- last check and a conditional change compare, so a rehash never looks like a change.
ALTER TABLE users ADD COLUMN password_version BIGINT NOT NULL DEFAULT 0;
