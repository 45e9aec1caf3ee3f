-- A second factor: the TOTP secret (sealed with AES-256-GCM under MFA_ENCRYPTION_KEY), the
-- one waiting for its first code, the last time step accepted (no code is accepted twice),
-- and the recovery codes (only their SHA-256 is stored).
ALTER TABLE users ADD COLUMN totp_secret TEXT NULL;
ALTER TABLE users ADD COLUMN totp_pending TEXT NULL;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
    code_hash   TEXT      NOT NULL PRIMARY KEY,
    user_id     TEXT      NOT NULL CONSTRAINT recovery_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    used_at     TIMESTAMP NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);
