-- tenant_task --
SELECT * FROM tasks WHERE id = %(id)s AND tenant = %(tenant)s

-- list_page --
-- Newest first; the cursor is the (created_at, id) of the last row of the previous page.
-- Every filter applies before the LIMIT (an index per filter: 0004, 0008_scale).
SELECT * FROM tasks
WHERE tenant = %(tenant)s
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(agent)s::text IS NULL OR agent = %(agent)s)
  AND (%(updated_after)s::timestamptz IS NULL OR updated_at >= %(updated_after)s)
  AND (%(before_created)s::timestamptz IS NULL
       OR (created_at, id) < (%(before_created)s::timestamptz, %(before_id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
