-- Task rows (lifecycle, small and stable) and the append-only activity log per task.
CREATE TABLE IF NOT EXISTS tasks (
    id               text PRIMARY KEY,            -- = LangGraph thread id
    tenant           text NOT NULL DEFAULT 'local',
    agent            text NOT NULL,
    goal             text NOT NULL,
    state            text NOT NULL DEFAULT 'submitted'
                     CHECK (state IN ('submitted', 'working', 'input-required', 'completed',
                                      'failed', 'canceled', 'rejected')),
    stop_reason      text,
    budgets          jsonb NOT NULL DEFAULT '{}'::jsonb,
    usage            jsonb NOT NULL DEFAULT '{}'::jsonb,
    output           text,
    agent_spec       jsonb NOT NULL DEFAULT '{}'::jsonb,
    cancel_requested boolean NOT NULL DEFAULT false,
    last_seq         integer NOT NULL DEFAULT 0,    -- allocates events.seq under the row lock
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    ended_at         timestamptz
);
CREATE INDEX IF NOT EXISTS tasks_tenant_created ON tasks (tenant, created_at DESC);
CREATE INDEX IF NOT EXISTS tasks_agent_created ON tasks (agent, created_at DESC);

CREATE TABLE IF NOT EXISTS events (
    id       bigserial PRIMARY KEY,
    task_id  text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq      integer NOT NULL,
    ts       timestamptz NOT NULL DEFAULT clock_timestamp(),
    type     text NOT NULL,
    data     jsonb NOT NULL DEFAULT '{}'::jsonb,
    key      text,                                 -- makes a logical event exactly-once
    UNIQUE (task_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_task_key ON events (task_id, key) WHERE key IS NOT NULL;
