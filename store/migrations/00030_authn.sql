-- OpenID Connect provider state, owned by package authn. Times are unix
-- nanoseconds (UTC); binary values are BYTEA (SQLite stores them as blobs).
-- Bearer secrets (session cookies, authorization codes, refresh tokens) are
-- stored only as SHA-256 hashes, passwords only as argon2id hashes, personal
-- ID numbers only as an HMAC-SM3 pseudonym plus their last four characters.

-- +goose Up
-- Provider-wide values shared by replicas (the pairwise-subject key).
CREATE TABLE authn_settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Token signing keys. state is 'next' (published, not yet signing),
-- 'current' (signing), 'retired' (published until publish_until) or
-- 'expired' (withdrawn; private key erased). The private key is either
-- private_pem (encrypted PKCS#8, PBES2/PBKDF2-HMAC-SM3/SM4-CBC) or the name
-- of a key in the key manager (kms_name).
CREATE TABLE authn_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_pem   BYTEA,
    kms_name      TEXT,
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    retired_at    BIGINT,
    publish_until BIGINT
);
CREATE UNIQUE INDEX authn_keys_one_current ON authn_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX authn_keys_one_next ON authn_keys (alg) WHERE state = 'next';

-- Clients (department portals) registered at run time; config is JSON.
CREATE TABLE authn_clients (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Citizens' accounts.
CREATE TABLE authn_users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    email_verified   BIGINT NOT NULL,
    phone            TEXT NOT NULL,
    phone_verified   BIGINT NOT NULL,
    address          TEXT NOT NULL,   -- JSON, OpenID Connect address claim
    citizen_id_hash  TEXT UNIQUE,     -- HMAC-SM3 pseudonym, NULL when none
    citizen_id_last4 TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    disabled_at      BIGINT
);

-- Brute-force throttling counters, per account ('acct:...') and per client
-- address ('addr:...').
CREATE TABLE authn_throttle (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

-- Single sign-on sessions. id is public (the "sid" claim); the cookie holds
-- a separate secret whose hash is secret_hash.
CREATE TABLE authn_sessions (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES authn_users (id),
    auth_time   BIGINT NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX authn_sessions_user ON authn_sessions (user_id);
CREATE INDEX authn_sessions_expiry ON authn_sessions (expires_at);

-- Login transactions: an authorization request waiting for the login or
-- consent form, bound to the browser by a cookie hash and a CSRF token.
CREATE TABLE authn_logins (
    id           TEXT PRIMARY KEY,
    browser_hash BYTEA NOT NULL,
    csrf         TEXT NOT NULL,
    stage        TEXT NOT NULL,
    request      TEXT NOT NULL,   -- JSON authorization request
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    done_at      BIGINT
);
CREATE INDEX authn_logins_expiry ON authn_logins (expires_at);

-- One grant per authorization code; every token issued from the code, and
-- from refresh tokens descending from it, belongs to the grant, so revoking
-- the grant revokes them all.
CREATE TABLE authn_grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES authn_users (id),
    session_id TEXT NOT NULL,
    scope      TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    acr        TEXT NOT NULL,
    amr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE authn_codes (
    hash           BYTEA PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES authn_grants (id),
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX authn_codes_grant ON authn_codes (grant_id);

CREATE TABLE authn_refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES authn_grants (id),
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX authn_refresh_tokens_grant ON authn_refresh_tokens (grant_id);

-- Access tokens are JWTs; their jti is recorded so they can be revoked.
CREATE TABLE authn_access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES authn_grants (id),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX authn_access_tokens_grant ON authn_access_tokens (grant_id);

-- +goose Down
DROP TABLE authn_access_tokens;
DROP TABLE authn_refresh_tokens;
DROP TABLE authn_codes;
DROP TABLE authn_grants;
DROP TABLE authn_logins;
DROP TABLE authn_sessions;
DROP TABLE authn_throttle;
DROP TABLE authn_users;
DROP TABLE authn_clients;
DROP TABLE authn_keys;
DROP TABLE authn_settings;
