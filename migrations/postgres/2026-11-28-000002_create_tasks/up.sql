CREATE TABLE tasks (
    id          VARCHAR(36) COLLATE "C" NOT NULL PRIMARY KEY,
    user_id     VARCHAR(36) COLLATE "C" NOT NULL,
    title       VARCHAR(200)  NOT NULL,
    description VARCHAR(2000) NULL,
    done        BOOLEAN       NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP     NOT NULL,
    updated_at  TIMESTAMP     NOT NULL,
    CONSTRAINT tasks_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
-- Keyset pagination of one user's tasks: WHERE user_id = ? AND id > ? ORDER BY id.
CREATE INDEX tasks_user_id_id_idx ON tasks (user_id, id);
