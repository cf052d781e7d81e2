-- Named queries for tools/ledger.py; each starts at a "-- name --" line.
-- The table is created by stack/migrations/0002_tool_ledger.sql.

-- insert_started --
INSERT INTO tool_ledger (task_id, tool_call_id, tool, args_hash, status)
VALUES (%(task_id)s, %(tool_call_id)s, %(tool)s, %(args_hash)s, 'started')
ON CONFLICT (task_id, tool_call_id) DO NOTHING
RETURNING task_id;

-- get_entry --
SELECT task_id, tool_call_id, tool, args_hash, status, result, started_at, completed_at
FROM tool_ledger
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s;

-- finish --
UPDATE tool_ledger
SET status = %(status)s, result = %(result)s, completed_at = now()
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s AND status = 'started';

-- has_unknown_outcome --
SELECT EXISTS (
    SELECT 1 FROM tool_ledger
    WHERE task_id = %(task_id)s AND tool = %(tool)s AND args_hash = %(args_hash)s
      AND status = 'started' AND tool_call_id <> %(tool_call_id)s
) AS found;
