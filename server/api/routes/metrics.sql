-- Prometheus figures, read at each scrape from the counters the writers keep in the database
-- (metric_counts, stack/migrations/0008_scale.sql: triggers on tasks and events append
-- deltas in the writing transaction), so they count the work of every process — workers,
-- schedulers and servers — and a scrape reads a few hundred rows, not the events table.
-- %(tenant)s is the caller's tenant for a tenant's admin, NULL (every tenant) for an
-- installation admin.

-- counter_lines --
-- Every counter of metric_counts (tasks by state, runs, tool calls, model calls, tokens,
-- approvals) as exposition lines, one row per metric: metrics.py passes each metric's line
-- template (its name and labels in name order; format() positions 1 tenant, 2 agent,
-- 3 label1, 4 label2, 5 value), so a scrape moves one text per family rather than a row
-- per series. Label values are escaped as the text format wants (backslash, newline, ").
-- A run is a worker picking a task up (first run, resume after a crash or an approval).
-- metric_counts read as its two halves: the totals are one row per label set already, so
-- only the deltas not folded yet (a minute's worth at most) are summed, not every series.
WITH pending AS (
    SELECT metric, tenant, agent, label1, label2, sum(n) AS n
    FROM metric_deltas
    WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s
    GROUP BY 1, 2, 3, 4, 5
), counted AS (
    SELECT m.metric, m.tenant, m.agent, m.label1, m.label2, m.n + COALESCE(p.n, 0) AS n
    FROM metric_totals m
    LEFT JOIN pending p USING (metric, tenant, agent, label1, label2)
    WHERE %(tenant)s::text IS NULL OR m.tenant = %(tenant)s
    UNION ALL
    SELECT p.* FROM pending p
    WHERE NOT EXISTS (SELECT FROM metric_totals m
                      WHERE (m.metric, m.tenant, m.agent, m.label1, m.label2)
                          = (p.metric, p.tenant, p.agent, p.label1, p.label2))
)
SELECT t.metric,
       string_agg(format(t.template, e.tenant, e.agent, e.label1, e.label2,
                         trim_scale(c.n)::text), E'\n') AS lines
FROM counted c
JOIN unnest(%(metrics)s::text[], %(templates)s::text[]) AS t(metric, template)
    ON t.metric = c.metric
CROSS JOIN LATERAL (
    SELECT replace(replace(replace(c.tenant, '\', '\\'), E'\n', '\n'), '"', '\"') AS tenant,
           replace(replace(replace(c.agent, '\', '\\'), E'\n', '\n'), '"', '\"') AS agent,
           replace(replace(replace(c.label1, '\', '\\'), E'\n', '\n'), '"', '\"') AS label1,
           replace(replace(replace(c.label2, '\', '\\'), E'\n', '\n'), '"', '\"') AS label2
) AS e
GROUP BY t.metric

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
