-- The task lifecycle gets one owner (stack/lifecycle.sql): the functions there are the only
-- writers of tasks.state. This migration adds what they need on the row — a run lease
-- (owner, epoch, expiry) instead of a Postgres session held per running task, idempotent
-- submission, and crash re-dispatches counted apart from error retries — and retires the
-- trigger that freed an agent when its iteration ended (the owner does that now).

ALTER TABLE tasks
    ADD COLUMN IF NOT EXISTS lease_owner      text,        -- "worker@host:pid", "cli@host:pid"
    ADD COLUMN IF NOT EXISTS lease_epoch      integer NOT NULL DEFAULT 0,  -- fencing token
    ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS idempotency_key  text,
    ADD COLUMN IF NOT EXISTS request_sha256   text,        -- what the key was first used for
    ADD COLUMN IF NOT EXISTS dispatches       integer NOT NULL DEFAULT 0,  -- runs claimed
    ADD COLUMN IF NOT EXISTS crash_retries    integer NOT NULL DEFAULT 0,  -- re-claims after a crash
    ADD COLUMN IF NOT EXISTS error_retries    integer NOT NULL DEFAULT 0;  -- run jobs that raised

CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency
    ON tasks (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Unfinished tasks stay few while ended ones grow without bound: the kill switch, the
-- orphan sweep and queue depth read only these.
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (state, updated_at)
    WHERE state IN ('submitted', 'working', 'input-required');

DROP TRIGGER IF EXISTS tasks_iteration_ended ON tasks;
DROP FUNCTION IF EXISTS wakeful_iteration_ended();
-- `wakeful task show 3f2a…`: id prefixes, served by an index whatever the collation.
CREATE INDEX IF NOT EXISTS tasks_id_prefix ON tasks (id text_pattern_ops);
