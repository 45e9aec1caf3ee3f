-- Passkeys: a user's WebAuthn credentials, as webauthn-rs serialises them (public key,
-- counter, flags; the private key never leaves the authenticator). `credential_id` is the
-- credential's id in base64url, what a sign-in finds it by; the flags are copied out of
-- `credential` so a list needs no JSON.
CREATE TABLE passkeys (
    id              TEXT      NOT NULL PRIMARY KEY,
    user_id         TEXT      NOT NULL CONSTRAINT passkeys_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT      NOT NULL,
    name            TEXT      NOT NULL,
    credential      TEXT      NOT NULL,
    backup_eligible BOOLEAN   NOT NULL,
    backed_up       BOOLEAN   NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    last_used_at    TIMESTAMP NULL
);
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user_id ON passkeys (user_id, id);
