-- Identities: accounts at OpenID Connect providers, each linked to one user. A provider's
-- (provider, subject) is its account's stable id; `email` is the address the provider gave
-- when the identity was last used, kept for the owner's list and never trusted for linking.
CREATE TABLE identities (
    id           VARCHAR(36)  COLLATE "C" NOT NULL PRIMARY KEY,
    provider     VARCHAR(32)  COLLATE "C" NOT NULL,
    subject      VARCHAR(255) COLLATE "C" NOT NULL,
    user_id      VARCHAR(36)  COLLATE "C" NOT NULL,
    email        VARCHAR(254) NULL,
    created_at   TIMESTAMP    NOT NULL,
    last_used_at TIMESTAMP    NULL,
    CONSTRAINT identities_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX identities_provider_subject ON identities (provider, subject);
CREATE INDEX identities_user_id ON identities (user_id, id);
