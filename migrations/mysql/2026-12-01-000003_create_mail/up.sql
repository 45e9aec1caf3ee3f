-- Email verification, one-time tokens (only their SHA-256 is stored) and the mail outbox.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE one_time_tokens (
    token_hash  CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    kind        VARCHAR(16)  NOT NULL,
    user_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- The address the token was mailed to: a verification holds only while it is the user's.
    email       VARCHAR(254) NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    used_at     DATETIME(6)  NULL,
    created_at  DATETIME(6)  NOT NULL,
    CONSTRAINT one_time_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    INDEX one_time_tokens_user_id_kind_idx (user_id, kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE mail_outbox (
    id              CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    kind            VARCHAR(32)  NOT NULL,
    recipient       VARCHAR(254) NOT NULL,
    -- Template values as JSON, and the one-time token sealed (AES-256-GCM) until sent.
    params          TEXT         NOT NULL,
    sealed_token    TEXT         NULL,
    attempts        INTEGER      NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)  NOT NULL,
    lease_owner     VARCHAR(36)  NULL,
    lease_until     DATETIME(6)  NULL,
    sent_at         DATETIME(6)  NULL,
    failed_at       DATETIME(6)  NULL,
    last_error      VARCHAR(500) NULL,
    created_at      DATETIME(6)  NOT NULL,
    -- Due rows: WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?.
    INDEX mail_outbox_due_idx (sent_at, failed_at, next_attempt_at),
    -- Mails per address and hour.
    INDEX mail_outbox_recipient_idx (recipient, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
