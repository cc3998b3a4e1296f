-- When an officer last signed out of the console (unix seconds, 0: never),
-- owned by package access: console session cookies are stateless and
-- signed, so a cookie started no later than this is refused on every
-- replica, whoever replays it.

-- +goose Up
ALTER TABLE access_officers ADD COLUMN console_signed_out_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE access_officers DROP COLUMN console_signed_out_at;
