-- PII vault: what each placeholder a model saw (<EMAIL_1>) stands for, per task. The model
-- and the event log only ever see placeholders; tool-call arguments are restored from here.
-- Rows go with their task (ON DELETE CASCADE): retention that deletes a task deletes them.
CREATE TABLE IF NOT EXISTS pii_vault (
    task_id      text        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind         text        NOT NULL
                 CHECK (kind IN ('SECRET', 'EMAIL', 'IBAN', 'CARD', 'IP', 'PHONE')),
    n            integer     NOT NULL CHECK (n > 0),
    value        text        NOT NULL,
    value_sha256 text        NOT NULL,   -- looks a value up without an index on long text
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, kind, n),
    UNIQUE (task_id, value_sha256)
);
