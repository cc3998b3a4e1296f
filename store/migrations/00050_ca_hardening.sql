-- CA hardening (issue 9), owned by package ca.
--
-- Enrolment codes keep only what their certificate will carry and lose their
-- subject once used or expired (purged_at records when). hardware_key is the
-- registration officer's statement that the subscriber's key is held in
-- hardware. Certificates are found by who requested them (a code, for a
-- repeated enrolment).

-- +goose Up
ALTER TABLE ca_enrolment_codes ADD COLUMN hardware_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ca_enrolment_codes ADD COLUMN purged_at BIGINT;
CREATE INDEX ca_enrolment_codes_purge ON ca_enrolment_codes (purged_at, expires_at);
CREATE INDEX ca_certificates_requested_by ON ca_certificates (requested_by);

-- +goose Down
DROP INDEX ca_certificates_requested_by;
DROP INDEX ca_enrolment_codes_purge;
ALTER TABLE ca_enrolment_codes DROP COLUMN purged_at;
ALTER TABLE ca_enrolment_codes DROP COLUMN hardware_key;
