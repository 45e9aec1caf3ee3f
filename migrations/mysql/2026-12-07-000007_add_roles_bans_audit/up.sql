-- Roles and bans: `role` is `user` or `admin`; an account is banned while `banned_at` is
-- set and `banned_until` is empty (until lifted) or still ahead.
ALTER TABLE users ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN banned_at DATETIME(6) NULL;
ALTER TABLE users ADD COLUMN banned_until DATETIME(6) NULL;
ALTER TABLE users ADD COLUMN ban_reason VARCHAR(500) NULL;
-- Every act that could remove an admin locks the admins' rows: found by index, so no
-- other row is locked.
CREATE INDEX users_role ON users (role);

-- The audit trail: append-only, one row per event, ids in time order (UUID v7). No
-- foreign key: an account's history outlives the account.
CREATE TABLE audit_events (
    id         VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    at         DATETIME(6)  NOT NULL,
    kind       VARCHAR(48)  NOT NULL,
    actor_id   VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NULL,
    subject_id VARCHAR(36)  CHARACTER SET ascii COLLATE ascii_bin NULL,
    ip         VARCHAR(64)  NULL,
    user_agent VARCHAR(256) NULL,
    details    TEXT         NOT NULL,
    INDEX audit_events_subject (subject_id, id),
    INDEX audit_events_actor (actor_id, id),
    INDEX audit_events_at (at),
    INDEX audit_events_kind (kind, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
