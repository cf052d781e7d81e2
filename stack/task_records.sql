-- create_task --
INSERT INTO tasks (id, tenant, agent, goal, state, budgets, agent_spec)
VALUES (%(id)s, %(tenant)s, %(agent)s, %(goal)s, 'submitted', %(budgets)s, %(agent_spec)s)
RETURNING *

-- get_task --
SELECT * FROM tasks WHERE id = %(id)s

-- list_tasks --
SELECT * FROM tasks
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(agent)s::text IS NULL OR agent = %(agent)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s

-- set_state --
UPDATE tasks SET
    state = %(state)s,
    stop_reason = COALESCE(%(stop_reason)s, stop_reason),
    output = COALESCE(%(output)s, output),
    usage = COALESCE(%(usage)s, usage),
    updated_at = now(),
    started_at = CASE WHEN %(state)s = 'working' THEN COALESCE(started_at, now()) ELSE started_at END,
    ended_at = CASE WHEN %(state)s IN ('completed', 'failed', 'canceled', 'rejected') THEN now()
                    ELSE ended_at END
WHERE id = %(id)s
RETURNING *

-- request_cancel --
UPDATE tasks SET cancel_requested = true, updated_at = now()
WHERE id = %(id)s AND state NOT IN ('completed', 'failed', 'canceled', 'rejected')
RETURNING id

-- append_events --
-- One statement for a batch: allocate seqs under the task row's lock, insert (an event whose
-- key was already recorded is dropped), and report whether the task was asked to stop.
WITH allocated AS (
    UPDATE tasks SET last_seq = last_seq + cardinality(%(types)s::text[])
    WHERE id = %(task_id)s
    RETURNING last_seq - cardinality(%(types)s::text[]) AS base, cancel_requested
), batch AS (
    SELECT type, data, key, ord
    FROM unnest(%(types)s::text[], %(datas)s::jsonb[], %(keys)s::text[])
         WITH ORDINALITY AS b(type, data, key, ord)
), inserted AS (
    INSERT INTO events (task_id, seq, type, data, key)
    SELECT %(task_id)s, allocated.base + batch.ord, batch.type, batch.data, batch.key
    FROM allocated, batch
    ORDER BY batch.ord
    ON CONFLICT DO NOTHING
    RETURNING seq
)
SELECT allocated.cancel_requested, (SELECT max(seq) FROM inserted) AS seq FROM allocated

-- list_events --
SELECT id, task_id, seq, ts, type, data FROM events
WHERE task_id = %(task_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
