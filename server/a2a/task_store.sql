-- count_tasks --
-- ListTasks' total_size: the tenant's tasks (in one state, when asked).
SELECT count(*) AS n FROM tasks
WHERE tenant = %(tenant)s AND (%(state)s::text IS NULL OR state = %(state)s)
