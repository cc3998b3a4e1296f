-- Certificate inventory and enrolment codes, owned by package ca.
-- Times are unix seconds (UTC); binary values are BYTEA (SQLite stores them as blobs).

-- +goose Up
CREATE TABLE ca_certificates (
    serial       TEXT PRIMARY KEY,   -- lower-case hex, no leading zeros
    issuer       TEXT NOT NULL,      -- issuing CA name, e.g. gm-issuing
    profile      TEXT NOT NULL,
    suite        TEXT NOT NULL,      -- gm or intl
    subject      TEXT NOT NULL,      -- RFC 4514 string of the subject DN
    not_before   BIGINT NOT NULL,
    not_after    BIGINT NOT NULL,
    status       TEXT NOT NULL,      -- valid, revoked, hold
    der          BYTEA NOT NULL,
    requested_by TEXT NOT NULL,      -- "code:<id>" or "officer:<name>"
    created_at   BIGINT NOT NULL
);
CREATE INDEX ca_certificates_profile ON ca_certificates (profile, created_at);
CREATE INDEX ca_certificates_subject ON ca_certificates (subject);
CREATE INDEX ca_certificates_status ON ca_certificates (status, created_at);

CREATE TABLE ca_enrolment_codes (
    id           TEXT PRIMARY KEY,
    code_hash    BYTEA NOT NULL UNIQUE, -- SHA-256 of the code; the code itself is never stored
    profile      TEXT NOT NULL,
    subject_json TEXT NOT NULL,         -- the subject fields the code is bound to
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,                -- NULL until redeemed
    used_serial  TEXT
);

-- +goose Down
DROP TABLE ca_enrolment_codes;
DROP TABLE ca_certificates;
