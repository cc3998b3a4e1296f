-- Timestamp tokens that audit entries reference (Entry.TimestampToken, such
-- as "tsa:serial:<hex>"), owned by package auditlog. The reference is in the
-- entry and so covered by the log; the token is kept beside it, DER, so that
-- the console can show and verify it. Rows are only ever inserted; a token
-- that was changed fails verification against its entry's request digest.

-- +goose Up
CREATE TABLE audit_tokens (
    ref     TEXT PRIMARY KEY,
    token   BYTEA NOT NULL,
    time_ns BIGINT NOT NULL
);

-- +goose Down
DROP TABLE audit_tokens;
