-- Prometheus figures, computed from the database at each scrape (so they count the work of
-- every process: workers, schedulers and servers), per tenant and agent. %(tenant)s is the
-- caller's tenant for a tenant's admin, NULL (every tenant) for an installation admin.

-- tasks_by_state --
SELECT tenant, agent, state, count(*) AS n
FROM tasks WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
GROUP BY tenant, agent, state

-- runs --
-- A run is a worker picking a task up (first run, resume after a crash or an approval).
SELECT t.tenant, t.agent, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'run_started' AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY t.tenant, t.agent

-- tool_calls --
SELECT t.tenant, t.agent, e.data->>'tool' AS tool, COALESCE(e.data->>'status', '') AS status,
       count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'tool_call' AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY 1, 2, 3, 4

-- tokens --
SELECT t.tenant, t.agent, COALESCE(e.data->>'role', '') AS role,
       COALESCE(sum((e.data->>'tokens')::numeric), 0) AS tokens, count(*) AS calls
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'model_call' AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY 1, 2, 3

-- approvals_requested --
SELECT t.tenant, t.agent, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'approval_requested' AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY t.tenant, t.agent

-- approvals_decided --
SELECT t.tenant, t.agent, COALESCE(e.data->>'action', '') AS action, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'approval_decided' AND (%(tenant)s::text IS NULL OR t.tenant = %(tenant)s)
GROUP BY 1, 2, 3

-- iteration_lag --
-- How late each due continuous agent is: now minus when its next iteration was due.
SELECT tenant, name AS agent,
       GREATEST(EXTRACT(EPOCH FROM now() - next_run_at), 0) AS lag_seconds
FROM agents
WHERE continuous AND NOT paused AND current_task_id IS NULL AND next_run_at IS NOT NULL
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- queue --
-- Due jobs waiting for a worker, per queue, and how long the oldest has waited (every
-- tenant's jobs share the queues: installation admins only).
SELECT j.queue_name AS queue, count(*) AS waiting,
       COALESCE(EXTRACT(EPOCH FROM now() - min(COALESCE(j.scheduled_at, d.at))), 0)
           AS oldest_seconds
FROM procrastinate_jobs j
LEFT JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
  AND %(tenant)s::text IS NULL
GROUP BY j.queue_name

-- killswitch --
-- For a tenant: its work is stopped (the global switch or its own); else the global switch.
SELECT COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false)
    OR COALESCE((SELECT value FROM tenant_flags
                 WHERE tenant = %(tenant)s AND name = 'killswitch'), false) AS killswitch_on
