-- The agent of an enterprise login (the subject CN of the e-cert that
-- signed in), owned by package authn, kept with the session and each
-- grant made under it: ID tokens and userinfo name the agent of the login
-- they come from, not whoever of the enterprise signed in last.

-- +goose Up
ALTER TABLE authn_sessions ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';
ALTER TABLE authn_grants ADD COLUMN agent_name TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE authn_grants DROP COLUMN agent_name;
ALTER TABLE authn_sessions DROP COLUMN agent_name;
