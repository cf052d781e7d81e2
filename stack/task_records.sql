-- get_task --
SELECT * FROM tasks WHERE id = %(id)s

-- find_by_prefix --
-- An id or an id prefix (the tasks_id_prefix index serves this LIKE whatever the collation).
SELECT * FROM tasks
WHERE id LIKE %(pattern)s
ORDER BY id
LIMIT 2

-- list_tasks --
SELECT * FROM tasks
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(agent)s::text IS NULL OR agent = %(agent)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s

-- append_events --
SELECT * FROM wakeful_append_events(%(task_id)s, %(types)s::text[], %(datas)s::jsonb[],
                                    %(keys)s::text[], %(epoch)s, %(usage)s)

-- list_events --
SELECT id, task_id, seq, ts, type, data FROM events
WHERE task_id = %(task_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
