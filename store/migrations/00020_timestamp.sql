-- Time-stamp authority state, owned by package timestamp (timestamp/sqlserial).
-- One row per serial sequence: the last serial number handed out and the
-- latest genTime issued (unix nanoseconds, UTC), shared by every replica so
-- that serials stay unique and increasing and a clock that went backwards is
-- noticed across restarts.

-- +goose Up
CREATE TABLE timestamp_serials (
    name        TEXT PRIMARY KEY,
    last_serial BIGINT NOT NULL,
    latest_ns   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE timestamp_serials;
