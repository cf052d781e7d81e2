-- The server runtime: tenants and their API tokens, applied agents (continuous ones are
-- scheduled from their row), the global kill switch, alert rules, alerts and webhook
-- deliveries; tasks learn whether they are an iteration of a continuous agent.

CREATE TABLE IF NOT EXISTS tenants (
    id         text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id) VALUES ('local') ON CONFLICT DO NOTHING;
INSERT INTO tenants (id) SELECT DISTINCT tenant FROM tasks ON CONFLICT DO NOTHING;

-- Only the sha256 of a token is stored; the token itself is shown once, when created.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           text PRIMARY KEY,
    tenant       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('submitter', 'approver', 'admin')),
    name         text NOT NULL,
    token_sha256 text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- An applied agent spec. A continuous one (spec.autonomous set) carries its schedule:
-- next_run_at is when the next iteration may start; current_task_id is the iteration that
-- has not ended yet (never two at once: starting one is a conditional update of this row).
CREATE TABLE IF NOT EXISTS agents (
    id                   text PRIMARY KEY,
    tenant               text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    spec                 jsonb NOT NULL,
    continuous           boolean NOT NULL DEFAULT false,
    interval_seconds     double precision CHECK (interval_seconds > 0),
    paused               boolean NOT NULL DEFAULT false,
    current_task_id      text,
    next_run_at          timestamptz,
    last_started_at      timestamptz,
    last_completed_at    timestamptz,
    last_succeeded_at    timestamptz,
    last_outcome         text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name),
    CHECK (NOT continuous OR interval_seconds IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS agents_due ON agents (next_run_at)
    WHERE continuous AND NOT paused AND current_task_id IS NULL;

ALTER TABLE tasks ADD COLUMN IF NOT EXISTS continuous boolean NOT NULL DEFAULT false;
ALTER TABLE tasks ADD COLUMN IF NOT EXISTS iteration_of text
    REFERENCES agents (id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS tasks_iteration_of ON tasks (iteration_of, created_at DESC)
    WHERE iteration_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_tenant_page ON tasks (tenant, created_at DESC, id DESC);
ALTER TABLE agents ADD CONSTRAINT agents_current_task_fk
    FOREIGN KEY (current_task_id) REFERENCES tasks (id) ON DELETE SET NULL;

-- When an iteration ends (whatever ended it: its run, a cancel before it ran, the kill
-- switch), its agent is free again and the next iteration is due one interval later.
CREATE OR REPLACE FUNCTION wakeful_iteration_ended() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agents SET
        current_task_id = NULL,
        next_run_at = now() + make_interval(secs => interval_seconds),
        last_completed_at = now(),
        last_outcome = COALESCE(NEW.stop_reason, NEW.state),
        last_succeeded_at = CASE WHEN NEW.state = 'completed' THEN now()
                                 ELSE last_succeeded_at END,
        consecutive_failures = CASE WHEN NEW.state = 'completed' THEN 0
                                    WHEN NEW.state = 'canceled' THEN consecutive_failures
                                    ELSE consecutive_failures + 1 END,
        updated_at = now()
    WHERE id = NEW.iteration_of AND current_task_id = NEW.id;
    PERFORM pg_notify('wakeful_agents', NEW.iteration_of);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS tasks_iteration_ended ON tasks;
CREATE TRIGGER tasks_iteration_ended
    AFTER UPDATE OF state ON tasks
    FOR EACH ROW
    WHEN (NEW.iteration_of IS NOT NULL
          AND NEW.state IN ('completed', 'failed', 'canceled', 'rejected')
          AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION wakeful_iteration_ended();

-- New events wake SSE streams: one notification per task and statement, "task_id:max seq".
CREATE OR REPLACE FUNCTION wakeful_events_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wakeful_events', task_id || ':' || max(seq))
    FROM new_events GROUP BY task_id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS events_inserted ON events;
CREATE TRIGGER events_inserted
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION wakeful_events_inserted();

-- Operator switches shared by every process (the kill switch).
CREATE TABLE IF NOT EXISTS runtime_flags (
    name       text PRIMARY KEY,
    value      boolean NOT NULL,
    changed_by text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO runtime_flags (name, value, changed_by) VALUES ('killswitch', false, 'migration')
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS alert_rules (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind        text NOT NULL
                CHECK (kind IN ('consecutive_failures', 'no_success', 'budget_exhausted', 'stuck')),
    threshold   double precision,
    webhook_url text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_rules_agent ON alert_rules (agent_id);

-- A fired alert; dedupe_key makes one condition fire once (a failure streak, a silent
-- period, one task's budget or loop).
CREATE TABLE IF NOT EXISTS alerts (
    id          bigserial PRIMARY KEY,
    tenant      text NOT NULL,
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    agent       text NOT NULL,
    rule_id     bigint REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind        text NOT NULL,
    message     text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key  text NOT NULL,
    fired_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (agent_id, kind, dedupe_key)
);
CREATE INDEX IF NOT EXISTS alerts_tenant_fired ON alerts (tenant, fired_at DESC);

CREATE TABLE IF NOT EXISTS alert_deliveries (
    id           bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    url          text NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX IF NOT EXISTS alert_deliveries_alert ON alert_deliveries (alert_id);
