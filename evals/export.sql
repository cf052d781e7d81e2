-- select_tasks --
-- Tasks to export: by agent, tenant and creation time, oldest first.
SELECT * FROM tasks
WHERE (%(agent)s::text IS NULL OR agent = %(agent)s)
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)
ORDER BY created_at, id
LIMIT %(limit)s
