-- Passkeys: a user's WebAuthn credentials, as webauthn-rs serialises them (public key,
-- counter, flags; the private key never leaves the authenticator). `credential_id` is the
-- credential's id in base64url (ASCII, so its unique index fits InnoDB's key limit), what
-- a sign-in finds it by; the flags are copied out of `credential` so a list needs no JSON.
CREATE TABLE passkeys (
    id              CHAR(36)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id         CHAR(36)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    credential_id   VARCHAR(1400) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name            VARCHAR(64)   NOT NULL,
    credential      TEXT          NOT NULL,
    backup_eligible BOOLEAN       NOT NULL,
    backed_up       BOOLEAN       NOT NULL,
    created_at      DATETIME(6)   NOT NULL,
    last_used_at    DATETIME(6)   NULL,
    CONSTRAINT passkeys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    UNIQUE INDEX passkeys_credential_id (credential_id),
    INDEX passkeys_user_id (user_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
