-- Roles and bans: `role` is `user` or `admin`; an account is banned while `banned_at` is
-- set and `banned_until` is empty (until lifted) or still ahead.
ALTER TABLE users ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN banned_at TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN banned_until TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN ban_reason VARCHAR(500) NULL;
-- Every act that could remove an admin locks the admins' rows: found by index, so no
-- other row is locked.
CREATE INDEX users_role ON users (role);

-- The audit trail: append-only, one row per event, ids in time order (UUID v7). No
-- foreign key: an account's history outlives the account.
CREATE TABLE audit_events (
    id         VARCHAR(36)  COLLATE "C" NOT NULL PRIMARY KEY,
    at         TIMESTAMP    NOT NULL,
    kind       VARCHAR(48)  NOT NULL,
    actor_id   VARCHAR(36)  COLLATE "C" NULL,
    subject_id VARCHAR(36)  COLLATE "C" NULL,
    ip         VARCHAR(64)  NULL,
    user_agent VARCHAR(256) NULL,
    details    TEXT         NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject_id, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
