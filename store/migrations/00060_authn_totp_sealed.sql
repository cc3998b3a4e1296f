-- One-time codes of package authn (issue 9): secrets encrypted at rest.

-- +goose Up
-- sealed is the secret encrypted with SM4-GCM under the data key that
-- authn_settings 'totp_key' holds sealed under the key passphrase; secret
-- (base32 in clear, written by earlier versions) is emptied when the
-- provider seals it at start-up.
ALTER TABLE authn_totp ADD COLUMN sealed BYTEA;

-- +goose Down
ALTER TABLE authn_totp DROP COLUMN sealed;
