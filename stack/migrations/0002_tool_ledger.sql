-- Idempotency ledger for side-effecting (write / external) tool calls: one row per
-- (task, tool call). "started" is written before the tool runs, "completed"/"failed" after,
-- so a resumed run can tell a finished side effect from one whose outcome is unknown.
CREATE TABLE IF NOT EXISTS tool_ledger (
    task_id      text        NOT NULL,
    tool_call_id text        NOT NULL,
    tool         text        NOT NULL,
    args_hash    text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    result       text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (task_id, tool_call_id)
);
