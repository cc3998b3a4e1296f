-- Search indexes of the audit log, owned by package auditlog, moved out of
-- audit_entries so that appending an entry writes one table row instead of
-- a row and seven index entries in the same commit. audit_search holds a
-- copy of each sequenced entry's search columns, filled by the sequencing
-- process in larger batches shortly after the entries commit, always as
-- the prefix [0, n) of the log; searches read the entries not yet copied
-- from audit_entries directly. Verification checks every row against its
-- entry.

-- +goose Up
CREATE TABLE audit_search (
    idx               BIGINT PRIMARY KEY,
    time_ns           BIGINT NOT NULL,
    actor_subject     TEXT NOT NULL,
    actor_department  TEXT NOT NULL,
    object_department TEXT NOT NULL,
    action            TEXT NOT NULL,
    decision          TEXT NOT NULL,
    citizen_hash      TEXT NOT NULL
);
INSERT INTO audit_search (idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash)
    SELECT idx, time_ns, actor_subject, actor_department, object_department, action, decision, citizen_hash FROM audit_entries;
CREATE INDEX audit_search_time ON audit_search (time_ns, idx);
CREATE INDEX audit_search_actor ON audit_search (actor_subject, time_ns, idx);
CREATE INDEX audit_search_actor_dept ON audit_search (actor_department, time_ns, idx);
CREATE INDEX audit_search_object_dept ON audit_search (object_department, time_ns, idx);
CREATE INDEX audit_search_action ON audit_search (action, time_ns, idx);
CREATE INDEX audit_search_decision ON audit_search (decision, time_ns, idx) WHERE decision <> '';
CREATE INDEX audit_search_citizen ON audit_search (citizen_hash, time_ns, idx) WHERE citizen_hash <> '';
DROP INDEX audit_entries_time;
DROP INDEX audit_entries_actor;
DROP INDEX audit_entries_actor_dept;
DROP INDEX audit_entries_object_dept;
DROP INDEX audit_entries_action;
DROP INDEX audit_entries_decision;
DROP INDEX audit_entries_citizen;

-- +goose Down
CREATE INDEX audit_entries_time ON audit_entries (time_ns, idx);
CREATE INDEX audit_entries_actor ON audit_entries (actor_subject, time_ns, idx);
CREATE INDEX audit_entries_actor_dept ON audit_entries (actor_department, time_ns, idx);
CREATE INDEX audit_entries_object_dept ON audit_entries (object_department, time_ns, idx);
CREATE INDEX audit_entries_action ON audit_entries (action, time_ns, idx);
CREATE INDEX audit_entries_decision ON audit_entries (decision, time_ns, idx) WHERE decision <> '';
CREATE INDEX audit_entries_citizen ON audit_entries (citizen_hash, time_ns, idx) WHERE citizen_hash <> '';
DROP TABLE audit_search;
