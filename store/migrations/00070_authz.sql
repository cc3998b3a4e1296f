-- Policy bundles, owned by package authz. Every signed bundle a system
-- administrator activated (or serve loaded at first start), kept so that
-- each replica loads the newest and an earlier revision can be shown and
-- reactivated. The bundle is verified against the policy-signer key each
-- time it is loaded; this table is not trusted for integrity.

-- +goose Up
CREATE TABLE authz_bundles (
    revision     TEXT PRIMARY KEY,
    bundle       BYTEA NOT NULL,   -- the signed .tar.gz as uploaded
    sha256       TEXT NOT NULL,    -- hex SHA-256 of bundle
    activated_ns BIGINT NOT NULL,  -- last activation, unix nanoseconds
    activated_by TEXT NOT NULL
);
CREATE INDEX authz_bundles_activated ON authz_bundles (activated_ns, revision);

-- +goose Down
DROP TABLE authz_bundles;
