-- One-time code enrolment by the signed-in account holder (package authn,
-- issue 9).

-- +goose Up
-- A one-time code factor being enrolled by the signed-in account holder:
-- it becomes the account's authn_totp row only when a code of it is
-- entered within the enrolment's lifetime, from the same session.
-- last_step is the last time step accepted for it, carried into authn_totp
-- so the code that confirmed the enrolment cannot then log in.
CREATE TABLE authn_totp_enrolments (
    user_id    TEXT PRIMARY KEY REFERENCES authn_users (id),
    session_id TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    last_step  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authn_totp_enrolments_expiry ON authn_totp_enrolments (expires_at);

-- +goose Down
DROP INDEX authn_totp_enrolments_expiry;
DROP TABLE authn_totp_enrolments;
