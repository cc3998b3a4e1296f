-- Pre-signed OCSP responses, one per certificate, owned by package ca. A row
-- is valid while its status equals the certificate's and it is fresh; the
-- responder re-signs it otherwise.

-- +goose Up
CREATE TABLE ca_ocsp_responses (
    serial      TEXT PRIMARY KEY,
    status      TEXT NOT NULL,     -- the certificate status the response states
    responder   TEXT NOT NULL,     -- serial of the responder certificate that signed it
    cert_id_hash TEXT NOT NULL,    -- hash algorithm of the CertID it answers (SHA-1, SHA-256, SM3)
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der         BYTEA NOT NULL
);
CREATE INDEX ca_ocsp_responses_next_update ON ca_ocsp_responses (next_update);

-- +goose Down
DROP TABLE ca_ocsp_responses;
