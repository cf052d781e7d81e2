-- upsert_config --
-- Create or replace a config (same task and id); at most %(max)s configs per task.
INSERT INTO a2a_push_configs (task_id, id, tenant, url, token, auth_scheme, auth_credentials)
SELECT %(task_id)s, %(id)s, %(tenant)s, %(url)s, %(token)s, %(auth_scheme)s, %(auth_credentials)s
WHERE EXISTS (SELECT 1 FROM a2a_push_configs WHERE task_id = %(task_id)s AND id = %(id)s)
   OR (SELECT count(*) FROM a2a_push_configs WHERE task_id = %(task_id)s) < %(max)s
ON CONFLICT (task_id, id) DO UPDATE SET
    url = EXCLUDED.url, token = EXCLUDED.token, auth_scheme = EXCLUDED.auth_scheme,
    auth_credentials = EXCLUDED.auth_credentials
WHERE a2a_push_configs.tenant = EXCLUDED.tenant
RETURNING task_id, id

-- list_configs --
SELECT * FROM a2a_push_configs
WHERE task_id = %(task_id)s AND tenant = %(tenant)s
ORDER BY created_at, id

-- delete_configs --
-- One config (or, with no id, all of the task's) and its undelivered notifications.
WITH gone AS (
    DELETE FROM a2a_push_configs
    WHERE task_id = %(task_id)s AND tenant = %(tenant)s
      AND (%(id)s::text IS NULL OR id = %(id)s)
    RETURNING task_id, id
)
DELETE FROM a2a_push_outbox o USING gone
WHERE o.task_id = gone.task_id AND o.config_id = gone.id AND o.status = 'pending'
