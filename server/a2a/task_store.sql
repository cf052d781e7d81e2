-- count_tasks --
-- ListTasks' total_size: the tenant's tasks (in one state, when asked), from the counters
-- the task triggers keep (0008_scale), not a count(*) over a million rows.
SELECT COALESCE(sum(n), 0)::bigint AS n FROM metric_counts
WHERE metric = 'tasks' AND tenant = %(tenant)s
  AND (%(state)s::text IS NULL OR label1 = %(state)s)

-- count_changed --
-- With status_timestamp_after: the tenant's tasks changed since then, counted over the
-- tasks_tenant_updated index and at most 10,000 (a bound on what one call may read).
SELECT count(*) AS n FROM (
    SELECT 1 FROM tasks
    WHERE tenant = %(tenant)s AND updated_at >= %(updated_after)s
      AND (%(state)s::text IS NULL OR state = %(state)s)
    LIMIT 10000
) AS changed
