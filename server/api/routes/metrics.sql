-- Prometheus figures, computed from the database at each scrape (so they count the work of
-- every process: workers, schedulers and servers), per tenant and agent.

-- tasks_by_state --
SELECT tenant, agent, state, count(*) AS n
FROM tasks GROUP BY tenant, agent, state

-- runs --
-- A run is a worker picking a task up (first run, resume after a crash or an approval).
SELECT t.tenant, t.agent, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'run_started'
GROUP BY t.tenant, t.agent

-- tool_calls --
SELECT t.tenant, t.agent, e.data->>'tool' AS tool, COALESCE(e.data->>'status', '') AS status,
       count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'tool_call'
GROUP BY 1, 2, 3, 4

-- tokens --
SELECT t.tenant, t.agent, COALESCE(e.data->>'role', '') AS role,
       COALESCE(sum((e.data->>'tokens')::numeric), 0) AS tokens, count(*) AS calls
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'model_call'
GROUP BY 1, 2, 3

-- approvals_requested --
SELECT t.tenant, t.agent, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'approval_requested'
GROUP BY t.tenant, t.agent

-- approvals_decided --
SELECT t.tenant, t.agent, COALESCE(e.data->>'action', '') AS action, count(*) AS n
FROM events e JOIN tasks t ON t.id = e.task_id
WHERE e.type = 'approval_decided'
GROUP BY 1, 2, 3

-- iteration_lag --
-- How late each due continuous agent is: now minus when its next iteration was due.
SELECT tenant, name AS agent,
       GREATEST(EXTRACT(EPOCH FROM now() - next_run_at), 0) AS lag_seconds
FROM agents
WHERE continuous AND NOT paused AND current_task_id IS NULL AND next_run_at IS NOT NULL

-- queue --
-- Due jobs waiting for a worker, per queue, and how long the oldest has waited.
SELECT j.queue_name AS queue, count(*) AS waiting,
       COALESCE(EXTRACT(EPOCH FROM now() - min(COALESCE(j.scheduled_at, d.at))), 0)
           AS oldest_seconds
FROM procrastinate_jobs j
LEFT JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.queue_name

-- killswitch --
SELECT COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false) AS killswitch_on
