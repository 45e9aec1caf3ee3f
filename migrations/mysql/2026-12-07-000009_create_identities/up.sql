-- Identities: accounts at OpenID Connect providers, each linked to one user. (issuer,
-- subject) is the account's stable id (compared byte for byte): a `sub` is unique only at
-- its issuer. `provider` is the name in OIDC_PROVIDERS; `email` is the address the provider gave when the identity was last used, kept for the owner's list and
-- never trusted for linking.
CREATE TABLE identities (
    id           CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    provider     VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    issuer       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    subject      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    user_id      CHAR(36)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    email        VARCHAR(254) NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    UNIQUE INDEX identities_issuer_subject (issuer, subject),
    INDEX identities_user_id (user_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
