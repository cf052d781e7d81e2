-- Prometheus figures, read at each scrape from the counters the writers keep in the database
-- (metric_counts, stack/migrations/0008_scale.sql: triggers on tasks and events append
-- deltas in the writing transaction), so they count the work of every process — workers,
-- schedulers and servers — and a scrape reads a few hundred rows, not the events table.
-- %(tenant)s is the caller's tenant for a tenant's admin, NULL (every tenant) for an
-- installation admin.

-- counts --
-- Every counter of metric_counts (tasks by state, runs, tool calls, model calls, tokens,
-- approvals), in one pass over the totals and the deltas not folded yet; split by metric
-- in metrics.py. A run is a worker picking a task up (first run, resume after a crash or
-- an approval).
SELECT metric, tenant, agent, label1, label2, n
FROM metric_counts
WHERE metric IN ('tasks', 'runs', 'tool_calls', 'model_calls', 'tokens', 'approvals_requested',
                 'approvals_decided')
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- iteration_lag --
-- How late each due continuous agent is: now minus when its next iteration was due.
SELECT tenant, name AS agent,
       GREATEST(EXTRACT(EPOCH FROM now() - next_run_at), 0) AS lag_seconds
FROM agents
WHERE continuous AND NOT paused AND current_task_id IS NULL AND next_run_at IS NOT NULL
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- queue --
-- Due jobs waiting for a worker, per queue, and how long the oldest has waited (every
-- tenant's jobs share the queues: installation admins only). A job never retried waits
-- since it was deferred, and job ids grow with deferral: the oldest such one is the lowest
-- id, so one deferred event is read per queue, not one per waiting job.
SELECT q.queue_name AS queue, q.waiting,
       COALESCE(EXTRACT(EPOCH FROM now() - LEAST(
           q.oldest_scheduled,
           (SELECT min(d.at) FROM procrastinate_events d
            WHERE d.job_id = q.first_unscheduled AND d.type = 'deferred'))), 0) AS oldest_seconds
FROM (
    SELECT queue_name, count(*) AS waiting, min(scheduled_at) AS oldest_scheduled,
           min(id) FILTER (WHERE scheduled_at IS NULL) AS first_unscheduled
    FROM procrastinate_jobs
    WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
      AND %(tenant)s::text IS NULL
    GROUP BY queue_name
) AS q

-- killswitch --
-- For a tenant: its work is stopped (the global switch or its own); else the global switch.
SELECT COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false)
    OR COALESCE((SELECT value FROM tenant_flags
                 WHERE tenant = %(tenant)s AND name = 'killswitch'), false) AS killswitch_on
