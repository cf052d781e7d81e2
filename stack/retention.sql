-- Retention (stack/retention.py): each statement handles one batch of at most %(batch)s
-- tasks (or rows), oldest first, and is repeated until a batch comes back empty. Only ended
-- tasks are touched, never one an operator still needs: a task that has not ended (queued,
-- running, waiting for a person), one with a ledger row still open (started, unknown,
-- held: "did this happen?" is unanswered), or an agent's current iteration. Ages are
-- seconds; the LangGraph checkpoint tables are LangGraph's schema (thread_id = task id).

-- compact_checkpoints --
-- An ended task keeps its final checkpoint (per namespace), that checkpoint's pending
-- writes and the blobs it references; the history before it goes. Walks (ended_at, id)
-- from the 'compacted' mark.
WITH mark AS (
    SELECT COALESCE((SELECT ended_at FROM retention_marks WHERE name = 'compacted'),
                    '-infinity'::timestamptz) AS ended_at,
           COALESCE((SELECT task_id FROM retention_marks WHERE name = 'compacted'), '')
               AS task_id
), due AS (
    SELECT t.id, t.ended_at FROM tasks t, mark
    WHERE t.state IN ('completed', 'failed', 'canceled', 'rejected')
      AND (t.ended_at, t.id) > (mark.ended_at, mark.task_id)
      AND t.ended_at < now() - make_interval(secs => %(history_seconds)s)
    ORDER BY t.ended_at, t.id
    LIMIT %(batch)s
), latest AS (
    SELECT DISTINCT ON (c.thread_id, c.checkpoint_ns)
           c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.checkpoint->'channel_versions' AS versions
    FROM checkpoints c JOIN due ON c.thread_id = due.id
    ORDER BY c.thread_id, c.checkpoint_ns, c.checkpoint_id DESC
), old_checkpoints AS (
    DELETE FROM checkpoints c USING due
    WHERE c.thread_id = due.id
      AND NOT EXISTS (SELECT 1 FROM latest l
                      WHERE l.thread_id = c.thread_id AND l.checkpoint_ns = c.checkpoint_ns
                        AND l.checkpoint_id = c.checkpoint_id)
    RETURNING 1
), old_writes AS (
    DELETE FROM checkpoint_writes w USING due
    WHERE w.thread_id = due.id
      AND NOT EXISTS (SELECT 1 FROM latest l
                      WHERE l.thread_id = w.thread_id AND l.checkpoint_ns = w.checkpoint_ns
                        AND l.checkpoint_id = w.checkpoint_id)
    RETURNING 1
), old_blobs AS (
    DELETE FROM checkpoint_blobs b USING due
    WHERE b.thread_id = due.id
      AND NOT EXISTS (SELECT 1 FROM latest l
                      WHERE l.thread_id = b.thread_id AND l.checkpoint_ns = b.checkpoint_ns
                        AND l.versions->>b.channel = b.version)
    RETURNING 1
), moved AS (
    INSERT INTO retention_marks (name, ended_at, task_id)
    SELECT 'compacted', ended_at, id FROM due ORDER BY ended_at DESC, id DESC LIMIT 1
    ON CONFLICT (name) DO UPDATE SET ended_at = EXCLUDED.ended_at, task_id = EXCLUDED.task_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM due) AS tasks,
       (SELECT count(*) FROM old_checkpoints) AS checkpoints,
       (SELECT count(*) FROM old_writes) AS checkpoint_writes,
       (SELECT count(*) FROM old_blobs) AS checkpoint_blobs,
       (SELECT count(*) FROM moved) AS marks

-- prune_events --
-- Events of tasks that ended before the events' TTL (when it is shorter than the tasks'
-- own: their rows stay, their activity log goes). Walks (ended_at, id) from a mark.
WITH mark AS (
    SELECT COALESCE((SELECT ended_at FROM retention_marks WHERE name = 'events'),
                    '-infinity'::timestamptz) AS ended_at,
           COALESCE((SELECT task_id FROM retention_marks WHERE name = 'events'), '') AS task_id
), batch AS (
    SELECT t.id, t.ended_at FROM tasks t, mark
    WHERE t.state IN ('completed', 'failed', 'canceled', 'rejected')
      AND (t.ended_at, t.id) > (mark.ended_at, mark.task_id)
      AND t.ended_at < now() - make_interval(secs => %(event_seconds)s)
    ORDER BY t.ended_at, t.id
    LIMIT %(batch)s
), gone AS (
    -- a task with an open ledger row keeps its record (it goes with the task, later)
    DELETE FROM events e USING batch WHERE e.task_id = batch.id
      AND NOT EXISTS (SELECT 1 FROM tool_ledger l WHERE l.task_id = batch.id
                      AND l.status IN ('started', 'unknown', 'held'))
    RETURNING 1
), moved AS (
    INSERT INTO retention_marks (name, ended_at, task_id)
    SELECT 'events', ended_at, id FROM batch ORDER BY ended_at DESC, id DESC LIMIT 1
    ON CONFLICT (name) DO UPDATE SET ended_at = EXCLUDED.ended_at, task_id = EXCLUDED.task_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS tasks, (SELECT count(*) FROM gone) AS events,
       (SELECT count(*) FROM moved) AS marks

-- prune_tasks --
-- Ended tasks past their TTL, with everything that is theirs: events, A2A rows (cascade),
-- checkpoints and ledger rows (which have no foreign key).
WITH doomed AS (
    SELECT t.id FROM tasks t
    WHERE t.state IN ('completed', 'failed', 'canceled', 'rejected')
      AND t.ended_at < now() - make_interval(secs => %(task_seconds)s)
      AND NOT EXISTS (SELECT 1 FROM tool_ledger l
                      WHERE l.task_id = t.id AND l.status IN ('started', 'unknown', 'held'))
      AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.current_task_id = t.id)
    ORDER BY t.ended_at
    LIMIT %(batch)s
    FOR UPDATE OF t SKIP LOCKED
), gone_checkpoints AS (
    DELETE FROM checkpoints c USING doomed WHERE c.thread_id = doomed.id RETURNING 1
), gone_writes AS (
    DELETE FROM checkpoint_writes w USING doomed WHERE w.thread_id = doomed.id RETURNING 1
), gone_blobs AS (
    DELETE FROM checkpoint_blobs b USING doomed WHERE b.thread_id = doomed.id RETURNING 1
), gone_ledger AS (
    DELETE FROM tool_ledger l USING doomed WHERE l.task_id = doomed.id RETURNING 1
), gone_tasks AS (
    DELETE FROM tasks USING doomed WHERE tasks.id = doomed.id RETURNING tasks.last_seq
)
SELECT (SELECT count(*) FROM gone_tasks) AS tasks,
       (SELECT COALESCE(sum(last_seq), 0) FROM gone_tasks) AS events_at_most,
       (SELECT count(*) FROM gone_checkpoints) AS checkpoints,
       (SELECT count(*) FROM gone_writes) AS checkpoint_writes,
       (SELECT count(*) FROM gone_blobs) AS checkpoint_blobs,
       (SELECT count(*) FROM gone_ledger) AS ledger_rows

-- prune_ledger --
-- Settled ledger rows past their TTL whose task has ended (a running or resumable task
-- still needs them: they keep a resumed run from repeating a side effect).
WITH doomed AS (
    SELECT l.task_id, l.tool_call_id FROM tool_ledger l
    WHERE l.status IN ('completed', 'failed', 'skipped')
      AND l.completed_at < now() - make_interval(secs => %(ledger_seconds)s)
      AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = l.task_id
                      AND t.state IN ('submitted', 'working', 'input-required'))
    ORDER BY l.completed_at
    LIMIT %(batch)s
)
DELETE FROM tool_ledger l USING doomed
WHERE l.task_id = doomed.task_id AND l.tool_call_id = doomed.tool_call_id

-- prune_alerts --
-- Resolved alerts past their TTL (with their webhook deliveries); open ones stay.
WITH doomed AS (
    SELECT id FROM alerts
    WHERE resolved_at < now() - make_interval(secs => %(alert_seconds)s)
    ORDER BY resolved_at
    LIMIT %(batch)s
)
DELETE FROM alerts USING doomed WHERE alerts.id = doomed.id

-- rollup_metrics --
SELECT wakeful_rollup_metrics() AS folded

-- table_sizes --
-- What each table holds on disk (with its indexes and TOAST) and about how many rows.
SELECT c.relname AS "table", pg_total_relation_size(c.oid) AS bytes,
       GREATEST(c.reltuples, 0)::bigint AS rows_estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = current_schema()
  AND c.relname = ANY (%(tables)s)
ORDER BY bytes DESC

-- tasks_by_state --
-- From the counters (a scan of tasks would take seconds at a million rows).
SELECT label1 AS state, sum(n)::bigint AS n FROM metric_counts
WHERE metric = 'tasks' GROUP BY label1 ORDER BY label1

-- ended_tasks --
-- The oldest ended task, and how many ended tasks still carry their checkpoint history
-- (those past the compaction mark: about a history TTL's worth).
SELECT (SELECT min(ended_at) FROM tasks
        WHERE state IN ('completed', 'failed', 'canceled', 'rejected')) AS oldest_ended,
       (SELECT count(*) FROM tasks t
        WHERE t.state IN ('completed', 'failed', 'canceled', 'rejected')
          AND (t.ended_at, t.id) > (
              COALESCE((SELECT ended_at FROM retention_marks WHERE name = 'compacted'),
                       '-infinity'::timestamptz),
              COALESCE((SELECT task_id FROM retention_marks WHERE name = 'compacted'), '')))
           AS not_compacted
