-- Time-stamp authority high-water marks, owned by package timestamp
-- (timestamp/sqlmark): one row per TSA process (replica), the latest mark
-- (unix nanoseconds, UTC) below which it has issued or may issue tokens.
-- Serial numbers are random and need no row; timestamp_serials (00020) is no
-- longer written but stays for versions still running against this database.

-- +goose Up
CREATE TABLE timestamp_watermarks (
    name    TEXT PRIMARY KEY,
    mark_ns BIGINT NOT NULL
);

-- +goose Down
DROP TABLE timestamp_watermarks;
