-- Email verification, one-time tokens (only their SHA-256 is stored) and the mail outbox.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE one_time_tokens (
    token_hash  TEXT      NOT NULL PRIMARY KEY,
    kind        TEXT      NOT NULL,
    user_id     TEXT      NOT NULL CONSTRAINT one_time_tokens_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    -- The address the token was mailed to: a verification holds only while it is the user's.
    email       TEXT      NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX one_time_tokens_user_id_kind_idx ON one_time_tokens (user_id, kind);

CREATE TABLE mail_outbox (
    id              TEXT      NOT NULL PRIMARY KEY,
    kind            TEXT      NOT NULL,
    recipient       TEXT      NOT NULL,
    -- Template values as JSON, and the one-time token sealed (AES-256-GCM) until sent.
    params          TEXT      NOT NULL,
    sealed_token    TEXT      NULL,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner     TEXT      NULL,
    lease_until     TIMESTAMP NULL,
    sent_at         TIMESTAMP NULL,
    failed_at       TIMESTAMP NULL,
    last_error      TEXT      NULL,
    created_at      TIMESTAMP NOT NULL
);
-- Due rows: WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (sent_at, failed_at, next_attempt_at);
-- Mails per address and hour.
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (recipient, created_at);
