-- Certificate status changes (revocation, hold, release) and CRLs, owned by
-- package ca.

-- +goose Up
ALTER TABLE ca_certificates ADD COLUMN revoked_at BIGINT;
ALTER TABLE ca_certificates ADD COLUMN revocation_reason INTEGER;
CREATE INDEX ca_certificates_issuer_status ON ca_certificates (issuer, status);

CREATE TABLE ca_status_events (
    id          TEXT PRIMARY KEY,
    serial      TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    reason      INTEGER,          -- RFC 5280 CRLReason, NULL for a release
    actor       TEXT NOT NULL,
    comment     TEXT NOT NULL,
    at          BIGINT NOT NULL   -- unix nanoseconds
);
CREATE INDEX ca_status_events_serial ON ca_status_events (serial, at);

-- The last CRL number handed out per issuing CA; shared by replicas.
CREATE TABLE ca_crl_numbers (
    issuer TEXT PRIMARY KEY,
    number BIGINT NOT NULL
);

-- The newest CRL per issuing CA.
CREATE TABLE ca_crls (
    issuer      TEXT PRIMARY KEY,
    number      BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der         BYTEA NOT NULL
);

-- +goose Down
DROP TABLE ca_crls;
DROP TABLE ca_crl_numbers;
DROP TABLE ca_status_events;
DROP INDEX ca_certificates_issuer_status;
ALTER TABLE ca_certificates DROP COLUMN revocation_reason;
ALTER TABLE ca_certificates DROP COLUMN revoked_at;
