-- Ids are UUID v7 strings made by the application (SQLite compares TEXT byte-wise).
CREATE TABLE users (
    id            TEXT      NOT NULL PRIMARY KEY,
    username      TEXT      NOT NULL CONSTRAINT users_username_key UNIQUE,
    email         TEXT      NOT NULL CONSTRAINT users_email_key UNIQUE,
    password_hash TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
