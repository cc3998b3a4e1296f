-- Officers (三员分立), owned by package access: each officer holds exactly
-- one role (sysadmin, ra, auditor); officer changes proposed by a sysadmin
-- take effect when an officer of the target role approves them; tokens
-- belong to officers and expire. Times are unix seconds (UTC); hashes are
-- SHA-256, never the secrets.

-- +goose Up
CREATE TABLE access_officers (
    id          TEXT PRIMARY KEY,          -- ofc_<hex>
    name        TEXT NOT NULL UNIQUE,      -- the actor name is "officer:<name>"
    role        TEXT NOT NULL,             -- sysadmin, ra or auditor
    status      TEXT NOT NULL,             -- active or revoked
    user_id     TEXT UNIQUE,               -- bound sign-on account (authn_users.id), NULL when none
    username    TEXT,                      -- its user name when bound, for display
    proposed_by TEXT NOT NULL,             -- "officer:<name>", "system:init", "system:serve" or "system:upgrade"
    approved_by TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    revoked_by  TEXT
);

-- Tokens now belong to an officer and expire.
ALTER TABLE access_tokens ADD COLUMN officer_id TEXT;
ALTER TABLE access_tokens ADD COLUMN expires_at BIGINT;
CREATE INDEX access_tokens_officer ON access_tokens (officer_id);

-- Each earlier token becomes an officer of its own. The all-powerful admin
-- role no longer exists: an admin token becomes a sysadmin. Tokens holding
-- any other combination of roles were never made by a released command;
-- they become revoked officers and their tokens are revoked. The expiry of
-- the surviving tokens is set at the next start (see access.Officers).
INSERT INTO access_officers (id, name, role, status, proposed_by, approved_by, created_at, revoked_at, revoked_by)
SELECT 'ofc_' || t.id,
       CASE WHEN (SELECT COUNT(*) FROM access_tokens d WHERE d.name = t.name) > 1 THEN t.name || '-' || t.id ELSE t.name END,
       CASE t.roles WHEN 'ra' THEN 'ra' WHEN 'auditor' THEN 'auditor' ELSE 'sysadmin' END,
       CASE WHEN t.revoked_at IS NULL AND t.roles IN ('admin', 'ra', 'auditor') THEN 'active' ELSE 'revoked' END,
       'system:upgrade', 'system:upgrade', t.created_at,
       CASE WHEN t.revoked_at IS NULL AND t.roles IN ('admin', 'ra', 'auditor') THEN NULL ELSE COALESCE(t.revoked_at, t.created_at) END,
       CASE WHEN t.revoked_at IS NULL AND t.roles IN ('admin', 'ra', 'auditor') THEN NULL ELSE 'system:upgrade' END
FROM access_tokens t;
UPDATE access_tokens SET revoked_at = created_at WHERE revoked_at IS NULL AND roles NOT IN ('admin', 'ra', 'auditor');
UPDATE access_tokens SET officer_id = 'ofc_' || id;

-- Proposed officer changes. kind: add (a new officer), bind (bind a
-- sign-on account), token (a new token for an officer who lost theirs).
-- status: pending, approved (add and token: waiting to be claimed),
-- rejected, claimed, applied (bind), failed (too many wrong claim codes).
-- An add or token proposal yields the officer's token only to whoever
-- holds both the proposer's and the approver's code.
CREATE TABLE access_proposals (
    id                 TEXT PRIMARY KEY,   -- prp_<hex>
    kind               TEXT NOT NULL,
    officer            TEXT NOT NULL,      -- officer name
    role               TEXT NOT NULL,      -- the role whose officers decide
    user_id            TEXT,               -- bind: the account
    username           TEXT,
    status             TEXT NOT NULL,
    proposed_by        TEXT NOT NULL,
    proposed_at        BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,    -- to be decided (pending) or claimed (approved) by then
    decided_by         TEXT,
    decided_at         BIGINT,
    comment            TEXT NOT NULL,
    proposer_code_hash BYTEA,
    approver_code_hash BYTEA,
    claim_failures     BIGINT NOT NULL,
    claimed_at         BIGINT
);
CREATE INDEX access_proposals_status ON access_proposals (status, proposed_at);
-- At most one open proposal per officer name.
CREATE UNIQUE INDEX access_proposals_open ON access_proposals (officer) WHERE status IN ('pending', 'approved');

-- +goose Down
DROP TABLE access_proposals;
DROP INDEX access_tokens_officer;
ALTER TABLE access_tokens DROP COLUMN expires_at;
ALTER TABLE access_tokens DROP COLUMN officer_id;
DROP TABLE access_officers;
