-- Key management centre (KMC) for e证通 dual certificates, owned by package
-- ca/kmc: escrowed encryption keys, key recovery requests under dual control,
-- their approvals, and the record of every step. Times are unix seconds (UTC)
-- except approvals and events, which are unix nanoseconds; binary values are
-- BYTEA (SQLite stores them as blobs).

-- +goose Up
-- One escrowed SM2 encryption private key per encryption certificate. The
-- key is sealed with SM4-GCM under the KMC master key; the additional data
-- binds it to enc_serial, so a row moved to another serial fails to open.
CREATE TABLE kmc_escrow (
    enc_serial    TEXT PRIMARY KEY,  -- serial of the encryption certificate (lower-case hex)
    sign_serial   TEXT NOT NULL,     -- serial of its signing certificate
    master_key_id TEXT NOT NULL,     -- identifier of the master key that sealed it
    nonce         BYTEA NOT NULL,    -- 12-byte GCM nonce
    ciphertext    BYTEA NOT NULL,    -- SM4-GCM(private scalar, 32 bytes) with tag
    created_at    BIGINT NOT NULL
);
CREATE INDEX kmc_escrow_sign ON kmc_escrow (sign_serial);

-- Key recovery requests. status: requested, approved, delivered, rejected.
CREATE TABLE kmc_recoveries (
    id             TEXT PRIMARY KEY,
    enc_serial     TEXT NOT NULL,
    requested_by   TEXT NOT NULL,    -- "officer:<name>"
    reason         TEXT NOT NULL,
    deliver_to_pub BYTEA NOT NULL,   -- SubjectPublicKeyInfo of the SM2 key the recovered key is enveloped to
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    closed_by      TEXT,             -- who delivered or rejected it
    closed_at      BIGINT
);
CREATE INDEX kmc_recoveries_serial ON kmc_recoveries (enc_serial, created_at);

-- Approvals of a recovery, one per officer.
CREATE TABLE kmc_approvals (
    recovery_id TEXT NOT NULL REFERENCES kmc_recoveries (id),
    officer     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (recovery_id, officer)
);

-- Every step: escrow, request, approval, delivery, rejection, and refusals.
CREATE TABLE kmc_events (
    id          TEXT PRIMARY KEY,
    recovery_id TEXT NOT NULL,       -- '' for events of no recovery (escrow)
    enc_serial  TEXT NOT NULL,
    what        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX kmc_events_recovery ON kmc_events (recovery_id, at);
CREATE INDEX kmc_events_serial ON kmc_events (enc_serial, at);

-- +goose Down
DROP TABLE kmc_events;
DROP TABLE kmc_approvals;
DROP TABLE kmc_recoveries;
DROP TABLE kmc_escrow;
