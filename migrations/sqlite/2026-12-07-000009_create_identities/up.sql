-- Identities: accounts at OpenID Connect providers, each linked to one user. (issuer,
-- subject) is the account's stable id: a `sub` is unique only at its issuer. `provider` is
-- the name in OIDC_PROVIDERS; `email` is the address the provider gave
-- when the identity was last used, kept for the owner's list and never trusted for linking.
CREATE TABLE identities (
    id           TEXT      NOT NULL PRIMARY KEY,
    provider     TEXT      NOT NULL,
    issuer       TEXT      NOT NULL,
    subject      TEXT      NOT NULL,
    user_id      TEXT      NOT NULL CONSTRAINT identities_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    email        TEXT      NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_user_id ON identities (user_id, id);
