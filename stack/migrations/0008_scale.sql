-- A year of continuous agents on one Postgres (issue 10): every query the API, workers,
-- scheduler and A2A run is served by an index at 1M tasks / 10M events; /metrics reads
-- counters the writers keep current instead of scanning events; retention can find what
-- it may compact and prune without a scan. benchmarks/scale.py measures all of it and
-- tests/server/runtime/test_query_plans.py keeps each plan on its index.

-- Task lists: the tenant's page (tasks_tenant_page, 0004) narrowed by state or by agent,
-- newest first, keyset-paged on (created_at, id).
CREATE INDEX IF NOT EXISTS tasks_tenant_state_page
    ON tasks (tenant, state, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS tasks_tenant_agent_page
    ON tasks (tenant, agent, created_at DESC, id DESC);
-- A2A ListTasks' status_timestamp_after: the tenant's tasks changed since a time.
CREATE INDEX IF NOT EXISTS tasks_tenant_updated ON tasks (tenant, updated_at);
-- Superseded by the three above (each a prefix of, or the same order as, one of them):
-- fewer indexes to keep up on every task write.
DROP INDEX IF EXISTS tasks_tenant_created;
DROP INDEX IF EXISTS tasks_agent_created;

-- Retention (stack/retention.sql): ended tasks in the order they ended. Its passes walk this
-- index from a mark (retention_marks, below) rather than flagging rows: a task row is never
-- rewritten (with every index) just to say it was compacted.
CREATE INDEX IF NOT EXISTS tasks_ended ON tasks (ended_at, id)
    WHERE state IN ('completed', 'failed', 'canceled', 'rejected');
CREATE INDEX IF NOT EXISTS alerts_resolved ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;
-- Ledger rows still waiting for an answer or a result: their task is never pruned.
CREATE INDEX IF NOT EXISTS tool_ledger_open ON tool_ledger (task_id)
    WHERE status IN ('started', 'unknown', 'held');
CREATE INDEX IF NOT EXISTS tool_ledger_settled ON tool_ledger (completed_at)
    WHERE status IN ('completed', 'failed', 'skipped');
-- How far a retention pass that walks ended tasks in (ended_at, id) order has got.
CREATE TABLE IF NOT EXISTS retention_marks (
    name     text PRIMARY KEY,
    ended_at timestamptz NOT NULL,
    task_id  text NOT NULL
);

-- Counters. Writers append signed deltas (insert-only, so concurrent writers never wait on
-- each other or deadlock on a counter row); a rollup (wakeful_rollup_metrics, run every
-- minute by the maintenance queue) folds them into metric_totals. A reading is totals plus
-- the deltas not folded yet (metric_counts), exact at any moment. Event counters only grow:
-- pruning old events does not lower them (Prometheus counters); `tasks` is a gauge.
--   metric              label1   label2
--   tasks               state
--   runs
--   tool_calls          tool     status
--   model_calls         role
--   tokens              role
--   approvals_requested
--   approvals_decided   action
CREATE TABLE IF NOT EXISTS metric_deltas (
    metric text NOT NULL,
    tenant text NOT NULL,
    agent  text NOT NULL,
    label1 text NOT NULL DEFAULT '',
    label2 text NOT NULL DEFAULT '',
    n      numeric NOT NULL
);
CREATE TABLE IF NOT EXISTS metric_totals (
    metric text NOT NULL,
    tenant text NOT NULL,
    agent  text NOT NULL,
    label1 text NOT NULL DEFAULT '',
    label2 text NOT NULL DEFAULT '',
    n      numeric NOT NULL,
    PRIMARY KEY (metric, tenant, agent, label1, label2)
);
CREATE OR REPLACE VIEW metric_counts AS
SELECT metric, tenant, agent, label1, label2, sum(n) AS n
FROM (SELECT metric, tenant, agent, label1, label2, n FROM metric_totals
      UNION ALL
      SELECT metric, tenant, agent, label1, label2, n FROM metric_deltas) AS counted
GROUP BY metric, tenant, agent, label1, label2;

-- The counters one event adds to (none for most types).
CREATE OR REPLACE FUNCTION wakeful_event_metrics(p_type text, p_data jsonb)
RETURNS TABLE (metric text, label1 text, label2 text, n numeric)
    LANGUAGE sql IMMUTABLE AS $$
    SELECT m.metric, m.label1, m.label2, m.n
    FROM (VALUES
        ('runs', '', '', 1::numeric, p_type = 'run_started'),
        ('tool_calls', COALESCE(p_data->>'tool', ''), COALESCE(p_data->>'status', ''), 1,
         p_type = 'tool_call'),
        ('model_calls', COALESCE(p_data->>'role', ''), '', 1, p_type = 'model_call'),
        ('tokens', COALESCE(p_data->>'role', ''), '',
         COALESCE((p_data->>'tokens')::numeric, 0), p_type = 'model_call'),
        ('approvals_requested', '', '', 1, p_type = 'approval_requested'),
        ('approvals_decided', COALESCE(p_data->>'action', ''), '', 1,
         p_type = 'approval_decided')
    ) AS m(metric, label1, label2, n, applies)
    WHERE m.applies
$$;

-- What a batch of new events adds to the counters (one statement per batch, whatever its
-- size: the kill switch's 30k state_change events cost one statement, not 30k).
CREATE OR REPLACE FUNCTION wakeful_count_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_deltas (metric, tenant, agent, label1, label2, n)
    SELECT m.metric, t.tenant, t.agent, m.label1, m.label2, sum(m.n)
    FROM new_events e
    JOIN tasks t ON t.id = e.task_id
    CROSS JOIN LATERAL wakeful_event_metrics(e.type, e.data) AS m
    WHERE e.type IN ('run_started', 'tool_call', 'model_call', 'approval_requested',
                     'approval_decided')
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS events_counted ON events;
CREATE TRIGGER events_counted
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_count_events();

-- Tasks by state: +1 for a created task, -1/+1 for a state change, -1 for a pruned task.
-- Statement-level (transition tables may not name columns, so the UPDATE trigger sees every
-- update of tasks; it joins the changed rows only and writes nothing for the others).
CREATE OR REPLACE FUNCTION wakeful_count_tasks() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO metric_deltas (metric, tenant, agent, label1, n)
        SELECT 'tasks', tenant, agent, state, count(*) FROM new_tasks GROUP BY 2, 3, 4;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO metric_deltas (metric, tenant, agent, label1, n)
        SELECT 'tasks', tenant, agent, state, -count(*) FROM old_tasks GROUP BY 2, 3, 4;
    ELSE
        INSERT INTO metric_deltas (metric, tenant, agent, label1, n)
        SELECT 'tasks', change.tenant, change.agent, change.state, sum(change.n)
        FROM old_tasks o JOIN new_tasks nw ON nw.id = o.id AND nw.state <> o.state
        CROSS JOIN LATERAL (VALUES (o.tenant, o.agent, o.state, -1),
                                   (nw.tenant, nw.agent, nw.state, 1))
            AS change(tenant, agent, state, n)
        GROUP BY 2, 3, 4;
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS tasks_counted_insert ON tasks;
CREATE TRIGGER tasks_counted_insert
    AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_count_tasks();
DROP TRIGGER IF EXISTS tasks_counted_update ON tasks;
CREATE TRIGGER tasks_counted_update
    AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_count_tasks();
DROP TRIGGER IF EXISTS tasks_counted_delete ON tasks;
CREATE TRIGGER tasks_counted_delete
    AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_count_tasks();

-- Fold the deltas into the totals. Rows inserted after the DELETE's snapshot stay for the
-- next rollup, and two rollups at once never count a delta twice (the second one's DELETE
-- skips rows the first removed). Gauge rows that fell to zero go (a deleted agent's).
CREATE OR REPLACE FUNCTION wakeful_rollup_metrics() RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    WITH moved AS (
        DELETE FROM metric_deltas RETURNING *
    ), summed AS (
        INSERT INTO metric_totals AS t (metric, tenant, agent, label1, label2, n)
        SELECT metric, tenant, agent, label1, label2, sum(n) FROM moved
        GROUP BY metric, tenant, agent, label1, label2
        ORDER BY metric, tenant, agent, label1, label2
        ON CONFLICT (metric, tenant, agent, label1, label2) DO UPDATE SET n = t.n + EXCLUDED.n
        RETURNING 1
    )
    SELECT count(*) INTO folded FROM moved;
    DELETE FROM metric_totals WHERE metric = 'tasks' AND n = 0;
    RETURN folded;
END;
$$;

-- Recount every counter from the rows (this migration, and benchmarks that load rows with
-- triggers off). Event counters recounted after retention pruned events would drop.
CREATE OR REPLACE FUNCTION wakeful_recount_metrics() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metric_deltas;
    DELETE FROM metric_totals;
    INSERT INTO metric_deltas (metric, tenant, agent, label1, n)
    SELECT 'tasks', tenant, agent, state, count(*) FROM tasks GROUP BY 2, 3, 4;
    INSERT INTO metric_deltas (metric, tenant, agent, label1, label2, n)
    SELECT m.metric, t.tenant, t.agent, m.label1, m.label2, sum(m.n)
    FROM events e
    JOIN tasks t ON t.id = e.task_id
    CROSS JOIN LATERAL wakeful_event_metrics(e.type, e.data) AS m
    WHERE e.type IN ('run_started', 'tool_call', 'model_call', 'approval_requested',
                     'approval_decided')
    GROUP BY 1, 2, 3, 4, 5;
    PERFORM wakeful_rollup_metrics();
END;
$$;

-- Count what is there already, with writers held off so nothing is counted twice or missed.
LOCK TABLE tasks, events IN SHARE ROW EXCLUSIVE MODE;
SELECT wakeful_recount_metrics();
