-- Tokens of department services, owned by package authn. Times are unix
-- nanoseconds (UTC).

-- +goose Up
-- Access tokens issued to department services by the client credentials
-- grant (user_id NULL) and by token exchange on behalf of a citizen
-- (user_id and the subject token's grant set, so that revoking that grant
-- revokes them too). audience is the space-separated target departments.
CREATE TABLE authn_service_tokens (
    jti          TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    user_id      TEXT,
    grant_id     TEXT,
    audience     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX authn_service_tokens_grant ON authn_service_tokens (grant_id);
CREATE INDEX authn_service_tokens_expiry ON authn_service_tokens (expires_at);

-- jti values of client assertions (private_key_jwt) already used, kept
-- until the assertion expires so that a replay is refused.
CREATE TABLE authn_client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- +goose Down
DROP TABLE authn_client_assertions;
DROP TABLE authn_service_tokens;
