-- Officer API tokens, owned by package access. Only a SHA-256 hash of each token
-- is stored.

-- +goose Up
CREATE TABLE access_tokens (
    id         TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    roles      TEXT NOT NULL,   -- comma-separated: admin, ra, auditor
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- +goose Down
DROP TABLE access_tokens;
