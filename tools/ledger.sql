-- Named queries for tools/ledger.py; each starts at a "-- name --" line.
-- The table is created by stack/migrations/0002_tool_ledger.sql and extended by
-- 0007_ledger_outcomes.sql (unknown / held / skipped, decisions).

-- insert_started --
INSERT INTO tool_ledger (task_id, tool_call_id, tool, args_hash, status)
VALUES (%(task_id)s, %(tool_call_id)s, %(tool)s, %(args_hash)s, 'started')
ON CONFLICT (task_id, tool_call_id) DO NOTHING
RETURNING task_id;

-- insert_held --
INSERT INTO tool_ledger (task_id, tool_call_id, tool, args_hash, status, repeat_of,
                         unknown_reason)
VALUES (%(task_id)s, %(tool_call_id)s, %(tool)s, %(args_hash)s, 'held', %(repeat_of)s,
        'repeat_of_unknown_outcome')
ON CONFLICT (task_id, tool_call_id) DO NOTHING;

-- get_entry --
SELECT task_id, tool_call_id, tool, args_hash, status, result, started_at, completed_at,
       unknown_reason, repeat_of, decisions
FROM tool_ledger
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s;

-- finish --
UPDATE tool_ledger
SET status = %(status)s, result = %(result)s, completed_at = now()
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s AND status = 'started';

-- mark_unknown --
UPDATE tool_ledger
SET status = 'unknown', unknown_reason = %(reason)s, result = %(result)s, completed_at = now()
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s AND status = 'started';

-- find_unknown --
-- The earliest other call of this tool with these arguments that may have taken effect
-- without anyone knowing (held calls never ran, so they are not such a call).
SELECT task_id, tool_call_id, tool, args_hash, status, result, started_at, completed_at,
       unknown_reason, repeat_of, decisions
FROM tool_ledger
WHERE task_id = %(task_id)s AND tool = %(tool)s AND args_hash = %(args_hash)s
  AND status IN ('started', 'unknown') AND tool_call_id <> %(tool_call_id)s
ORDER BY started_at, tool_call_id
LIMIT 1;

-- decide --
-- Answer number %(index)s for an unresolved call, applied once: a second attempt with the
-- same index (a re-executed node) matches no row. "unfit" only records the answer.
UPDATE tool_ledger
SET status = CASE %(action)s::text
        WHEN 'done' THEN 'completed' WHEN 'skip' THEN 'skipped' WHEN 'retry' THEN 'started'
        ELSE status END,
    result = CASE %(action)s::text
        WHEN 'done' THEN %(comment)s::text WHEN 'retry' THEN NULL ELSE result END,
    started_at = CASE WHEN %(action)s::text = 'retry' THEN now() ELSE started_at END,
    completed_at = CASE %(action)s::text
        WHEN 'retry' THEN NULL WHEN 'unfit' THEN completed_at ELSE now() END,
    decisions = decisions || jsonb_build_array(jsonb_build_object(
        'action', %(action)s::text, 'decided_by', %(decided_by)s::text,
        'comment', %(comment)s::text, 'at', now()))
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s
  AND jsonb_array_length(decisions) = %(index)s
  AND status IN ('started', 'unknown', 'held')
RETURNING repeat_of;

-- settle_repeated --
-- The earlier call a held repeat stood in for, settled by the answer to the repeat: done
-- means it took effect; retry (run the repeat instead) and skip mean it is not counted.
UPDATE tool_ledger
SET status = CASE WHEN %(action)s::text = 'done' THEN 'completed' ELSE 'skipped' END,
    result = CASE WHEN %(action)s::text = 'done' THEN %(comment)s::text ELSE result END,
    completed_at = now(),
    decisions = decisions || jsonb_build_array(jsonb_build_object(
        'action', %(action)s::text, 'decided_by', %(decided_by)s::text,
        'comment', %(comment)s::text, 'at', now(), 'via', %(via)s::text))
WHERE task_id = %(task_id)s AND tool_call_id = %(tool_call_id)s
  AND status IN ('started', 'unknown');
