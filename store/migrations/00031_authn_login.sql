-- Login methods of package authn beyond the password: one-time codes
-- (assurance level urn:tongxing:loa:3) and certificate login
-- (urn:tongxing:loa:4). Times are unix nanoseconds (UTC).

-- +goose Up
-- Legal persons (enterprise e-certs) are accounts keyed by their unified
-- social credit code; citizens logging in by certificate are found by
-- citizen_id_hash, the pseudonym the CA writes into the certificate.
-- agent_name is the person who last logged in for the enterprise.
ALTER TABLE authn_users ADD COLUMN uscc TEXT;
ALTER TABLE authn_users ADD COLUMN org_name TEXT NOT NULL DEFAULT '';
ALTER TABLE authn_users ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX authn_users_uscc ON authn_users (uscc);

-- RFC 6238 secrets (base32) of accounts with a one-time-code factor.
-- last_step is the last time step accepted: a code is accepted only by
-- UPDATE ... SET last_step = ? WHERE user_id = ? AND last_step < ?, so each
-- step is used at most once, across replicas.
CREATE TABLE authn_totp (
    user_id    TEXT PRIMARY KEY REFERENCES authn_users (id),
    secret     TEXT NOT NULL,
    last_step  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Certificate-login challenges, kept until they expire; used_at is set by
-- the one login that uses a challenge.
CREATE TABLE authn_cert_challenges (
    id         TEXT PRIMARY KEY,   -- the nonce, base64url
    audience   TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX authn_cert_challenges_expiry ON authn_cert_challenges (expires_at);

-- +goose Down
DROP TABLE authn_cert_challenges;
DROP TABLE authn_totp;
DROP INDEX authn_users_uscc;
ALTER TABLE authn_users DROP COLUMN agent_name;
ALTER TABLE authn_users DROP COLUMN org_name;
ALTER TABLE authn_users DROP COLUMN uscc;
