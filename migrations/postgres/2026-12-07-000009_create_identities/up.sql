-- Identities: accounts at OpenID Connect providers, each linked to one user. (issuer,
-- subject) is the account's stable id: a `sub` is unique only at its issuer, so a provider
-- name pointed at another issuer finds none of the old ones. `provider` is the name in
-- OIDC_PROVIDERS it signed in through; `email` is the address the provider gave
-- when the identity was last used, kept for the owner's list and never trusted for linking.
CREATE TABLE identities (
    id           VARCHAR(36)  COLLATE "C" NOT NULL PRIMARY KEY,
    provider     VARCHAR(32)  COLLATE "C" NOT NULL,
    issuer       VARCHAR(255) COLLATE "C" NOT NULL,
    subject      VARCHAR(255) COLLATE "C" NOT NULL,
    user_id      VARCHAR(36)  COLLATE "C" NOT NULL,
    email        VARCHAR(254) NULL,
    created_at   TIMESTAMP    NOT NULL,
    last_used_at TIMESTAMP    NULL,
    CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_user_id ON identities (user_id, id);
