-- tenant_task --
SELECT * FROM tasks WHERE id = %(id)s AND tenant = %(tenant)s

-- list_page --
-- Newest first; the cursor is the (created_at, id) of the last row of the previous page.
SELECT * FROM tasks
WHERE tenant = %(tenant)s
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(agent)s::text IS NULL OR agent = %(agent)s)
  AND (%(before_created)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created)s::timestamptz, %(before_id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
