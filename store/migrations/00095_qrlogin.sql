-- Scan to sign in (扫码登录), owned by package authn/qrlogin: one
-- certificate-login challenge per login transaction, shown to the browser
-- as a QR code, signed by the card holder's device, used once by the
-- browser that holds the login transaction.

-- +goose Up
CREATE TABLE qrlogin_challenges (
    id         TEXT PRIMARY KEY,      -- the challenge nonce, base64url
    login_id   TEXT NOT NULL UNIQUE,  -- the login transaction (authn_logins.id)
    audience   TEXT NOT NULL,
    portal     TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    chain      TEXT,                  -- PEM, leaf first, once signed
    signature  BYTEA,
    signed_at  BIGINT,
    used_at    BIGINT
);
CREATE INDEX qrlogin_challenges_expiry ON qrlogin_challenges (expires_at);

-- +goose Down
DROP TABLE qrlogin_challenges;
