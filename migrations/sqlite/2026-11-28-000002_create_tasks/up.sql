CREATE TABLE tasks (
    id          TEXT      NOT NULL PRIMARY KEY,
    user_id     TEXT      NOT NULL CONSTRAINT tasks_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT      NOT NULL,
    description TEXT      NULL,
    done        BOOLEAN   NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
-- Keyset pagination of one user's tasks: WHERE user_id = ? AND id > ? ORDER BY id.
CREATE INDEX tasks_user_id_id_idx ON tasks (user_id, id);
