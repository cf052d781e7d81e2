-- The push outbox (0006) is written by a statement-level trigger instead of a per-row one:
-- the kill switch ends thousands of tasks in one statement (stack/lifecycle.sql
-- wakeful_cancel_open), and a row trigger that looks for each task's push configs cost
-- more than a tenth of that statement (benchmarks/scale.py, 30k open tasks: 2.2 s of
-- 15 s); one join of the changed rows with a2a_push_configs does the same work. Same
-- transaction, same rows: one outbox row per config and state change.
CREATE OR REPLACE FUNCTION wakeful_push_states_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO a2a_push_outbox (task_id, config_id, state, stop_reason)
    SELECT nw.id, c.id, nw.state, nw.stop_reason
    FROM new_tasks nw
    JOIN old_tasks o ON o.id = nw.id AND o.state IS DISTINCT FROM nw.state
    JOIN a2a_push_configs c ON c.task_id = nw.id
    ORDER BY nw.id, c.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS tasks_push_state_changed ON tasks;
DROP FUNCTION IF EXISTS wakeful_push_state_changed();
DROP TRIGGER IF EXISTS tasks_push_states_changed ON tasks;
CREATE TRIGGER tasks_push_states_changed
    AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_push_states_changed();
