-- claim_task --
-- A run job takes its task: submitted, or working (a run resumed after a crash or with an
-- approval's answer), becomes working. While the kill switch is on, a task that never
-- started is canceled instead, and a resumed one is asked to stop.
WITH target AS (
    SELECT id, state AS previous_state,
           COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false) AS killed
    FROM tasks
    WHERE id = %(id)s AND state IN ('submitted', 'working')
    FOR UPDATE
), claimed AS (
    UPDATE tasks SET
        state = CASE WHEN target.killed AND tasks.state = 'submitted' THEN 'canceled'
                     ELSE 'working' END,
        stop_reason = CASE WHEN target.killed AND tasks.state = 'submitted' THEN 'canceled'
                           ELSE tasks.stop_reason END,
        ended_at = CASE WHEN target.killed AND tasks.state = 'submitted' THEN now()
                        ELSE tasks.ended_at END,
        cancel_requested = tasks.cancel_requested OR target.killed,
        started_at = COALESCE(tasks.started_at, now()),
        updated_at = now()
    FROM target
    WHERE tasks.id = target.id
    RETURNING tasks.*, target.previous_state
)
SELECT * FROM claimed

-- cancel_tasks --
-- Cancel one task (by id) or, with a null id, every task that has not ended (the kill
-- switch). A running task is flagged and woken (a cancel notification per task); a task
-- that is not running (queued, or waiting for an approval) ends canceled right here.
WITH target AS (
    SELECT id, state AS previous_state FROM tasks
    WHERE (%(id)s::text IS NULL OR id = %(id)s)
      AND state NOT IN ('completed', 'failed', 'canceled', 'rejected')
    FOR UPDATE
), changed AS (
    UPDATE tasks SET
        cancel_requested = true,
        state = CASE WHEN tasks.state IN ('submitted', 'input-required') THEN 'canceled'
                     ELSE tasks.state END,
        stop_reason = CASE WHEN tasks.state IN ('submitted', 'input-required') THEN 'canceled'
                           ELSE tasks.stop_reason END,
        ended_at = CASE WHEN tasks.state IN ('submitted', 'input-required') THEN now()
                        ELSE tasks.ended_at END,
        updated_at = now()
    FROM target
    WHERE tasks.id = target.id
    RETURNING tasks.*, target.previous_state
)
SELECT changed.*, pg_notify('wakeful_cancel', changed.id) AS notified FROM changed

-- answer_task --
-- An approval was answered: the waiting task goes back to work (its resume job is queued in
-- the same transaction). Only the first answer finds the task waiting.
UPDATE tasks SET state = 'working', updated_at = now()
WHERE id = %(id)s AND tenant = %(tenant)s AND state = 'input-required'
RETURNING *

-- park_task --
-- A run found its task waiting for an approval it had not recorded yet (it crashed between
-- the interrupt and the bookkeeping): wait for a person again.
UPDATE tasks SET state = 'input-required', updated_at = now()
WHERE id = %(id)s AND state = 'working'
RETURNING *
