-- due_agents --
SELECT * FROM agents
WHERE continuous AND NOT paused AND current_task_id IS NULL AND next_run_at <= now()
  AND NOT COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false)
ORDER BY next_run_at
LIMIT 100

-- seconds_until_due --
-- NULL when nothing can become due (no free agent, or the kill switch is on).
SELECT EXTRACT(EPOCH FROM (min(next_run_at) - now()))::float8 AS seconds FROM agents
WHERE continuous AND NOT paused AND current_task_id IS NULL
  AND NOT COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false)

-- start_iteration --
-- The lifecycle starts it (stack/lifecycle.sql): the agent row is taken only if it is still
-- due, free, not paused and the kill switch is off, so two schedulers never start two.
SELECT * FROM wakeful_start_iteration(%(task_id)s, %(agent_id)s, %(goal)s, %(budgets)s,
                                      %(agent_spec)s)

-- tokens_today --
-- Tokens the agent's iterations used since midnight UTC.
SELECT COALESCE(sum((usage->>'tokens')::bigint), 0)::bigint AS tokens,
       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day
FROM tasks
WHERE iteration_of = %(agent_id)s
  AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'

-- defer_to_tomorrow --
UPDATE agents
SET next_run_at = (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC',
    updated_at = now()
WHERE id = %(agent_id)s AND current_task_id IS NULL

-- pause_broken_agent --
-- Its spec does not parse: stop scheduling it (a person fixes the spec and resumes it),
-- and tell the other schedulers and the console.
WITH paused AS (
    UPDATE agents SET paused = true, updated_at = now()
    WHERE id = %(agent_id)s AND NOT paused AND current_task_id IS NULL
    RETURNING *
)
SELECT paused.*, pg_notify('wakeful_agents', paused.id) AS notified FROM paused
