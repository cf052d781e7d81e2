-- One statement trigger on UPDATE of tasks instead of two, returning at once when no state
-- changed (issue 12). Every node step of a task updates its row (last_seq, usage) in
-- wakeful_append_events (stack/lifecycle.sql), and so does every lease renewal; that
-- UPDATE fired tasks_counted_update (0008, the tasks gauge) and tasks_push_states_changed
-- (0010, the A2A push outbox), each a PL/pgSQL call joining the old and new rows and an
-- INSERT of nothing: transition tables cannot be limited to a column, so both see every
-- UPDATE. One look at the rows now decides; the same rows are written, in the same
-- transaction, in the same order, when a state did change. Measured with
-- benchmarks/node_write_triggers.py: the two cost ~0.058 ms a node step, the one ~0.022.
-- (The events INSERT's two triggers, NOTIFY and counting, were measured as well and merged
-- into one with an early return: ~0.057 against ~0.059 ms, nothing to gain; they stay.)

-- Updated tasks: when no state changed (a node step's last_seq and usage, a lease renewed),
-- nothing, after one look at the rows. Otherwise -1/+1 on the tasks gauge for each state
-- change (as 0008's wakeful_count_tasks) and one push outbox row per config and state
-- change (as 0010's wakeful_push_states_changed), in the same order.
CREATE OR REPLACE FUNCTION wakeful_tasks_updated() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM old_tasks o JOIN new_tasks nw
                   ON nw.id = o.id AND nw.state IS DISTINCT FROM o.state) THEN
        RETURN NULL;
    END IF;
    INSERT INTO metric_deltas (metric, tenant, agent, label1, n)
    SELECT 'tasks', change.tenant, change.agent, change.state, sum(change.n)
    FROM old_tasks o JOIN new_tasks nw ON nw.id = o.id AND nw.state <> o.state
    CROSS JOIN LATERAL (VALUES (o.tenant, o.agent, o.state, -1),
                               (nw.tenant, nw.agent, nw.state, 1))
        AS change(tenant, agent, state, n)
    GROUP BY 2, 3, 4;
    INSERT INTO a2a_push_outbox (task_id, config_id, state, stop_reason)
    SELECT nw.id, c.id, nw.state, nw.stop_reason
    FROM new_tasks nw
    JOIN old_tasks o ON o.id = nw.id AND o.state IS DISTINCT FROM nw.state
    JOIN a2a_push_configs c ON c.task_id = nw.id
    ORDER BY nw.id, c.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS tasks_counted_update ON tasks;
DROP TRIGGER IF EXISTS tasks_push_states_changed ON tasks;
DROP TRIGGER IF EXISTS tasks_updated ON tasks;
CREATE TRIGGER tasks_updated
    AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION wakeful_tasks_updated();
DROP FUNCTION IF EXISTS wakeful_push_states_changed();
