-- claim_due --
-- The oldest undelivered notification of each config, when due (a later one waits for it:
-- a receiver sees a task's states in order), taken for `lease` seconds: a process that
-- dies while delivering leaves it to be taken again once the lease has run out.
WITH heads AS (
    SELECT DISTINCT ON (task_id, config_id) id, next_attempt_at
    FROM a2a_push_outbox WHERE status = 'pending'
    ORDER BY task_id, config_id, id
), due AS (
    SELECT o.id FROM a2a_push_outbox o JOIN heads h ON h.id = o.id
    WHERE h.next_attempt_at <= now()
    ORDER BY o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE a2a_push_outbox o
SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease)s)
FROM due, a2a_push_configs c
WHERE o.id = due.id AND c.task_id = o.task_id AND c.id = o.config_id
RETURNING o.id, o.task_id, o.config_id, o.state, o.stop_reason, o.changed_at, o.attempts,
          c.url, c.token, c.auth_scheme, c.auth_credentials

-- next_due --
-- Seconds until the next notification is due (NULL: none is waiting).
SELECT GREATEST(EXTRACT(EPOCH FROM min(next_attempt_at) - now()), 0) AS seconds
FROM a2a_push_outbox WHERE status = 'pending'

-- delivered --
UPDATE a2a_push_outbox
SET status = 'delivered', delivered_at = now(), last_status = %(status)s, last_error = NULL
WHERE id = %(id)s

-- retry --
UPDATE a2a_push_outbox
SET next_attempt_at = now() + make_interval(secs => %(delay)s),
    last_status = %(status)s, last_error = %(error)s
WHERE id = %(id)s

-- give_up --
UPDATE a2a_push_outbox
SET status = 'failed', last_status = %(status)s, last_error = %(error)s
WHERE id = %(id)s

-- task --
SELECT * FROM tasks WHERE id = %(id)s
