-- Tamper-evident audit log, owned by package auditlog. The log has no update or
-- delete path: audit_entries and audit_nodes rows are only ever inserted, and
-- `tongxing audit verify` detects any change to them. Times are unix
-- nanoseconds (UTC); binary values are BYTEA (SQLite stores them as blobs).

-- +goose Up
-- One row per sequenced entry. body is the canonical encoding (the Merkle
-- leaf); the other columns are copies of body fields for indexed search and
-- are checked against body by verification.
CREATE TABLE audit_entries (
    idx               BIGINT PRIMARY KEY,
    time_ns           BIGINT NOT NULL,
    actor_subject     TEXT NOT NULL,
    actor_department  TEXT NOT NULL,
    object_department TEXT NOT NULL,
    action            TEXT NOT NULL,
    decision          TEXT NOT NULL,
    citizen_hash      TEXT NOT NULL,   -- '' when the entry concerns no citizen
    leaf_hash         BYTEA NOT NULL,  -- SM3(0x00 || body)
    body              BYTEA NOT NULL
);
CREATE INDEX audit_entries_time ON audit_entries (time_ns, idx);
CREATE INDEX audit_entries_actor ON audit_entries (actor_subject, time_ns, idx);
CREATE INDEX audit_entries_actor_dept ON audit_entries (actor_department, time_ns, idx);
CREATE INDEX audit_entries_object_dept ON audit_entries (object_department, time_ns, idx);
CREATE INDEX audit_entries_action ON audit_entries (action, time_ns, idx);
CREATE INDEX audit_entries_decision ON audit_entries (decision, time_ns, idx) WHERE decision <> '';
CREATE INDEX audit_entries_citizen ON audit_entries (citizen_hash, time_ns, idx) WHERE citizen_hash <> '';

-- Interior Merkle tree nodes (level >= 1) of perfect subtrees, keyed by the
-- node's post-order position so that verification can stream them in the
-- order it recomputes them.
CREATE TABLE audit_nodes (
    pos  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);

-- The integrated tree: size, root and the compact range of [0, size). There
-- is exactly one row (id = 1); the sequencer replaces it with compare-and-set
-- on size.
CREATE TABLE audit_tree (
    id         INTEGER PRIMARY KEY,
    size       BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    compact    BYTEA NOT NULL,     -- concatenated 32-byte subtree hashes
    updated_ns BIGINT NOT NULL
);

-- Signed checkpoints (C2SP tlog-checkpoint in a signed note).
CREATE TABLE audit_checkpoints (
    size    BIGINT PRIMARY KEY,
    time_ns BIGINT NOT NULL,
    note    TEXT NOT NULL,
    tst     BYTEA                  -- timestamp token over note, NULL if none
);

-- Entries accepted durably by a process that is not the sequencer, waiting
-- for the sequencer to give them an index. body is the canonical encoding
-- with index 0.
CREATE TABLE audit_pending (
    id         TEXT PRIMARY KEY,
    created_ns BIGINT NOT NULL,
    body       BYTEA NOT NULL
);
CREATE INDEX audit_pending_order ON audit_pending (created_ns, id);

-- Indexes given to pending entries, read (and removed) by the process that
-- accepted them.
CREATE TABLE audit_receipts (
    id         TEXT PRIMARY KEY,
    idx        BIGINT NOT NULL,
    created_ns BIGINT NOT NULL
);
CREATE INDEX audit_receipts_created ON audit_receipts (created_ns);

-- +goose Down
DROP TABLE audit_receipts;
DROP TABLE audit_pending;
DROP TABLE audit_checkpoints;
DROP TABLE audit_tree;
DROP TABLE audit_nodes;
DROP TABLE audit_entries;
