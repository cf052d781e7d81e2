-- The task lifecycle's one owner. Every change of tasks.state is made by a function in this
-- file, in the transaction that also writes its state_change event, usage and lease, so
-- the record of a task and the task never disagree (procrastinate keeps its job states
-- honest the same way). stack/lifecycle.py is the Python face of these functions.
--
-- The file is re-applied whenever it changes (stack/migrate.py); keep every statement
-- idempotent (CREATE OR REPLACE). Errors carry their own SQLSTATE:
--   WK404 no such task · WK409 a transition the lifecycle refuses (names both states) ·
--   WK410 the caller's lease was lost · WK422 an idempotency key reused for another request
--   WK423 the kill switch refuses new work · WK401 a submitting token no longer active ·
--   WK412 a submitted agent's spec changed since the caller read it
--
--   submitted ─claim→ working ─┬→ completed | failed | canceled     (terminal)
--       │  └→ rejected | failed  ├→ input-required ─decision→ working
--       └─cancel→ canceled       └─(crash)→ working, re-claimed when its lease expires

-- The allowed-from set of every target state; nothing leaves a terminal state, and
-- `submitted` is only ever inserted.
CREATE OR REPLACE FUNCTION wakeful_allowed_from(target text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE target
        WHEN 'working'        THEN ARRAY['submitted', 'input-required']
        WHEN 'input-required' THEN ARRAY['working']
        WHEN 'completed'      THEN ARRAY['working']
        WHEN 'failed'         THEN ARRAY['submitted', 'working']
        WHEN 'canceled'       THEN ARRAY['submitted', 'working', 'input-required']
        WHEN 'rejected'       THEN ARRAY['submitted']
        ELSE ARRAY[]::text[]
    END
$$;

CREATE OR REPLACE FUNCTION wakeful_is_terminal(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT state IN ('completed', 'failed', 'canceled', 'rejected')
$$;

-- The global switch, or the task's tenant's own (tenant_flags, stack/migrations/0006).
-- plpgsql: its body is bound when first run, not when this file is applied. Called at every
-- node boundary: Postgres's own plan caching (a generic plan once it costs no more) instead
-- of the pool's force_custom_plan, which planned its lookups again at each call
-- (benchmarks/node_write_triggers.py).
CREATE OR REPLACE FUNCTION wakeful_killswitch_on(p_tenant text) RETURNS boolean
    LANGUAGE plpgsql STABLE SET plan_cache_mode = auto AS $$
BEGIN
    RETURN COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false)
        OR COALESCE((SELECT value FROM tenant_flags
                     WHERE tenant = p_tenant AND name = 'killswitch'), false);
END;
$$;

-- A safety net under the owner: any UPDATE that moves a task along an edge the lifecycle
-- does not have fails, whoever wrote it.
CREATE OR REPLACE FUNCTION wakeful_guard_task_state() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'submitted' THEN
            RAISE EXCEPTION USING ERRCODE = 'WK409',
                MESSAGE = format('task %s cannot be created %s: tasks start submitted',
                                 NEW.id, NEW.state);
        END IF;
    ELSIF NEW.state IS DISTINCT FROM OLD.state
          AND NOT OLD.state = ANY (wakeful_allowed_from(NEW.state)) THEN
        RAISE EXCEPTION USING ERRCODE = 'WK409',
            MESSAGE = format('task %s cannot go from %s to %s', OLD.id, OLD.state, NEW.state);
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER IF EXISTS tasks_guard_state ON tasks;
CREATE TRIGGER tasks_guard_state
    BEFORE INSERT OR UPDATE OF state ON tasks
    FOR EACH ROW EXECUTE FUNCTION wakeful_guard_task_state();

-- Append events in order under the task row's lock. An event whose key is already recorded
-- (or repeats within the batch) is dropped before seqs are given out, so seq has no gaps.
-- With p_epoch, nothing is written unless the caller still holds the run lease of that
-- epoch (a run that lost its lease learns it here, at its next node boundary). p_usage,
-- when given, is the run's usage so far: it is saved with the node's events.
CREATE OR REPLACE FUNCTION wakeful_append_events(
    p_task text, p_types text[], p_datas jsonb[], p_keys text[],
    p_epoch integer DEFAULT NULL, p_usage jsonb DEFAULT NULL
) RETURNS TABLE (cancel_requested boolean, seq integer, lease_lost boolean)
    -- every node step: plan_cache_mode auto (a statement keeps a generic plan only when
    -- its estimate is no worse than planning for the values) instead of the pool's
    -- force_custom_plan, which planned each statement again at each call
    LANGUAGE plpgsql SET plan_cache_mode = auto AS $$
DECLARE
    t tasks%ROWTYPE;
    added integer;
BEGIN
    SELECT * INTO t FROM tasks WHERE id = p_task FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'WK404', MESSAGE = format('no task with id %s', p_task);
    END IF;
    -- the kill switch stops a run at its next node boundary even before its batch of
    -- wakeful_cancel_open has flagged the task
    t.cancel_requested := t.cancel_requested OR wakeful_killswitch_on(t.tenant);
    IF p_epoch IS NOT NULL AND t.lease_epoch <> p_epoch THEN
        RETURN QUERY SELECT t.cancel_requested, NULL::integer, true;
        RETURN;
    END IF;
    WITH batch AS (
        SELECT b.type, b.data, b.key, b.ord
        FROM unnest(p_types, p_datas, p_keys) WITH ORDINALITY AS b(type, data, key, ord)
    ), fresh AS (
        SELECT DISTINCT ON (COALESCE('k:' || batch.key, 'o:' || batch.ord)) batch.*
        FROM batch
        WHERE batch.key IS NULL
           OR NOT EXISTS (SELECT 1 FROM events e WHERE e.task_id = p_task AND e.key = batch.key)
        ORDER BY COALESCE('k:' || batch.key, 'o:' || batch.ord), batch.ord
    ), numbered AS (
        SELECT fresh.*, row_number() OVER (ORDER BY fresh.ord) AS n FROM fresh
    )
    INSERT INTO events (task_id, seq, type, data, key)
    SELECT p_task, t.last_seq + numbered.n, numbered.type, numbered.data, numbered.key
    FROM numbered ORDER BY numbered.n;
    GET DIAGNOSTICS added = ROW_COUNT;
    UPDATE tasks SET last_seq = tasks.last_seq + added,
                     usage = COALESCE(p_usage, tasks.usage)
    WHERE id = p_task AND (added > 0 OR p_usage IS NOT NULL);
    RETURN QUERY SELECT t.cancel_requested,
                        CASE WHEN added > 0 THEN t.last_seq + added END, false;
END;
$$;

CREATE OR REPLACE FUNCTION wakeful_state_change(
    p_task text, p_from text, p_to text, p_reason text, p_detail jsonb
) RETURNS void
    LANGUAGE sql AS $$
    SELECT FROM wakeful_append_events(
        p_task, ARRAY['state_change'],
        ARRAY[jsonb_build_object('from', p_from, 'to', p_to, 'stop_reason', p_reason)
              || COALESCE(p_detail, '{}'::jsonb)],
        ARRAY[NULL::text])
$$;

-- An iteration of a continuous agent ended (however it ended): the agent is free again and
-- its next iteration is due one interval later.
CREATE OR REPLACE FUNCTION wakeful_iteration_ended(t tasks) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agents SET
        current_task_id = NULL,
        next_run_at = now() + make_interval(secs => interval_seconds),
        last_completed_at = now(),
        last_outcome = COALESCE(t.stop_reason, t.state),
        last_succeeded_at = CASE WHEN t.state = 'completed' THEN now() ELSE last_succeeded_at END,
        consecutive_failures = CASE WHEN t.state = 'completed' THEN 0
                                    WHEN t.state = 'canceled' THEN consecutive_failures
                                    ELSE consecutive_failures + 1 END,
        updated_at = now()
    WHERE id = t.iteration_of AND current_task_id = t.id;
    PERFORM pg_notify('wakeful_agents', t.iteration_of);
END;
$$;

-- Create a task: the one INSERT of tasks. With an idempotency key, a second call with the
-- same key and the same request returns the first task (compare its id with p_id to tell);
-- the same key for another request is refused.
CREATE OR REPLACE FUNCTION wakeful_create_task(
    p_id text, p_tenant text, p_agent text, p_goal text, p_budgets jsonb, p_spec jsonb,
    p_continuous boolean DEFAULT false, p_iteration_of text DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL, p_request_sha256 text DEFAULT NULL
) RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    existing tasks%ROWTYPE;
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO existing FROM tasks
        WHERE tenant = p_tenant AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            IF existing.request_sha256 IS DISTINCT FROM p_request_sha256 THEN
                RAISE EXCEPTION USING ERRCODE = 'WK422', MESSAGE = format(
                    'idempotency key %s was already used for another request (task %s)',
                    p_idempotency_key, existing.id);
            END IF;
            RETURN NEXT existing;
            RETURN;
        END IF;
    END IF;
    IF wakeful_killswitch_on(p_tenant) THEN
        RAISE EXCEPTION USING ERRCODE = 'WK423',
            MESSAGE = 'the kill switch is on: no task starts until it is turned off';
    END IF;
    RETURN QUERY
    INSERT INTO tasks (id, tenant, agent, goal, state, budgets, agent_spec, continuous,
                       iteration_of, idempotency_key, request_sha256)
    VALUES (p_id, p_tenant, p_agent, p_goal, 'submitted', p_budgets, p_spec, p_continuous,
            p_iteration_of, p_idempotency_key, p_request_sha256)
    ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *;
    IF NOT FOUND THEN  -- a concurrent call with the same key was first
        RETURN QUERY SELECT * FROM tasks
        WHERE tenant = p_tenant AND idempotency_key = p_idempotency_key
          AND request_sha256 IS NOT DISTINCT FROM p_request_sha256;
        IF NOT FOUND THEN  -- ... with another request: the same refusal as when it is older
            RAISE EXCEPTION USING ERRCODE = 'WK422', MESSAGE = format(
                'idempotency key %s was just used for another request', p_idempotency_key);
        END IF;
    END IF;
END;
$$;

-- Submit a task in one statement (POST /tasks): wakeful_create_task, and when it created
-- the task, the task's run job queued in the same transaction (the job's fields come from
-- the caller, who knows the queue; procrastinate's own defer function inserts it, so its
-- triggers and notifications are the same as procrastinate's defer). Two checks a caller
-- may ask for, both made before anything is written:
-- p_token_sha256: the caller's API token must still be active for p_tenant (WK401): a
-- caller that verified the token earlier learns here, exactly, that it was revoked or
-- expired since. p_agent_spec_md5: the agent's spec must still be the one the caller
-- built the task from (WK412 otherwise, nothing written: build it again).
CREATE OR REPLACE FUNCTION wakeful_submit_task(
    p_id text, p_tenant text, p_agent text, p_goal text, p_budgets jsonb, p_spec jsonb,
    p_job_queue text, p_job_task text, p_job_priority integer, p_job_lock text,
    p_job_args jsonb, p_idempotency_key text DEFAULT NULL, p_request_sha256 text DEFAULT NULL,
    p_token_sha256 text DEFAULT NULL, p_agent_spec_md5 text DEFAULT NULL
) RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
BEGIN
    IF p_token_sha256 IS NOT NULL THEN
        PERFORM 1 FROM api_tokens
        WHERE token_sha256 = p_token_sha256 AND tenant = p_tenant AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > now());
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'WK401',
                MESSAGE = 'the bearer token is unknown or revoked';
        END IF;
    END IF;
    IF p_agent_spec_md5 IS NOT NULL THEN
        PERFORM 1 FROM agents
        WHERE tenant = p_tenant AND name = p_agent AND md5(spec::text) = p_agent_spec_md5;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'WK412', MESSAGE = format(
                'agent %s changed (or is gone) since its spec was read', p_agent);
        END IF;
    END IF;
    SELECT * INTO t FROM wakeful_create_task(
        p_id, p_tenant, p_agent, p_goal, p_budgets, p_spec,
        p_idempotency_key => p_idempotency_key, p_request_sha256 => p_request_sha256);
    IF t.id = p_id THEN  -- created now (not an idempotent repeat): queue its run
        PERFORM procrastinate_defer_jobs_v1(ARRAY[ROW(
            p_job_queue, p_job_task, p_job_priority, p_job_lock, NULL, p_job_args, NULL
        )::procrastinate_job_to_defer_v1]);
    END IF;
    RETURN NEXT t;
END;
$$;

-- Start an iteration of a continuous agent, atomically: the agent row is taken only if it
-- is still due, free, not paused and the kill switch is off (two schedulers never start
-- two iterations). No row: nothing started.
CREATE OR REPLACE FUNCTION wakeful_start_iteration(
    p_task text, p_agent_id text, p_goal text, p_budgets jsonb, p_spec jsonb
) RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    a agents%ROWTYPE;
BEGIN
    SELECT * INTO a FROM agents
    WHERE id = p_agent_id AND continuous AND NOT paused AND current_task_id IS NULL
      AND next_run_at <= now() AND NOT wakeful_killswitch_on(tenant)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM wakeful_create_task(
        p_task, a.tenant, a.name, p_goal, p_budgets, p_spec, true, a.id);
    UPDATE agents SET current_task_id = p_task, last_started_at = now(), updated_at = now()
    WHERE id = p_agent_id;
END;
$$;

-- Move a task to p_to. With p_epoch the caller must hold the run lease of that epoch.
-- Leaving `working` gives the lease up. A cancel requested meanwhile wins over a request
-- for a person: input-required becomes canceled. The state_change event (with p_detail
-- merged in), usage and the agent's schedule are written in the same transaction.
CREATE OR REPLACE FUNCTION wakeful_transition(
    p_task text, p_to text, p_stop_reason text DEFAULT NULL, p_output text DEFAULT NULL,
    p_usage jsonb DEFAULT NULL, p_detail jsonb DEFAULT NULL, p_epoch integer DEFAULT NULL,
    p_tenant text DEFAULT NULL
) RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
    previous text;
    target text := p_to;
    reason text := p_stop_reason;
BEGIN
    SELECT * INTO t FROM tasks
    WHERE id = p_task AND (p_tenant IS NULL OR tenant = p_tenant) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'WK404', MESSAGE = format('no task with id %s', p_task);
    END IF;
    previous := t.state;
    IF p_epoch IS NOT NULL AND t.lease_epoch <> p_epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'WK410', MESSAGE = format(
            'task %s: this run lost its lease (now held by %s)', p_task,
            COALESCE(t.lease_owner, 'nobody'));
    END IF;
    IF target = 'input-required' AND previous = 'working'
       AND (t.cancel_requested OR wakeful_killswitch_on(t.tenant)) THEN
        target := 'canceled';
        reason := 'canceled';
    END IF;
    IF NOT previous = ANY (wakeful_allowed_from(target)) THEN
        RAISE EXCEPTION USING ERRCODE = 'WK409',
            MESSAGE = format('task %s cannot go from %s to %s', p_task, previous, target);
    END IF;
    IF wakeful_is_terminal(target) THEN
        reason := COALESCE(reason, target);
    ELSE
        reason := NULL;
    END IF;
    UPDATE tasks SET
        state = target,
        stop_reason = reason,
        output = COALESCE(p_output, tasks.output),
        usage = COALESCE(p_usage, tasks.usage),
        cancel_requested = tasks.cancel_requested OR target = 'canceled',
        lease_owner = CASE WHEN target = 'working' THEN tasks.lease_owner END,
        lease_expires_at = CASE WHEN target = 'working' THEN tasks.lease_expires_at END,
        -- ended by someone other than its run (a cancel): fence off a run still alive
        lease_epoch = tasks.lease_epoch
                      + CASE WHEN previous = 'working' AND p_epoch IS NULL THEN 1 ELSE 0 END,
        started_at = CASE WHEN target = 'working' THEN COALESCE(tasks.started_at, now())
                          ELSE tasks.started_at END,
        ended_at = CASE WHEN wakeful_is_terminal(target) THEN now() END,
        updated_at = now()
    WHERE id = p_task
    RETURNING * INTO t;
    PERFORM wakeful_state_change(p_task, previous, target, reason, p_detail);
    IF wakeful_is_terminal(target) AND t.iteration_of IS NOT NULL THEN
        PERFORM wakeful_iteration_ended(t);
    END IF;
    RETURN QUERY SELECT * FROM tasks WHERE id = p_task;
END;
$$;

-- Take a task for a run: a submitted task, or a working one whose run is gone (its lease
-- expired, was given up, or its holder is p_steal_from, known dead by the caller), becomes
-- working with a new lease for p_owner. The row comes back in every case; the caller reads
-- the outcome from it: lease_owner = p_owner (claimed), another lease_owner (held: the
-- loser is told who and until when), or a state with nothing to run (ended, waiting for a
-- person). A task asked to stop, under the kill switch, or a queued iteration of a paused
-- agent ends canceled here instead of running. A task re-claimed after too many crashes
-- fails `crash_loop` rather than taking its worker down again and again.
DROP FUNCTION IF EXISTS wakeful_claim(text, text, double precision, text, integer);
CREATE OR REPLACE FUNCTION wakeful_claim(
    p_task text, p_owner text, p_lease_seconds double precision,
    p_steal_from text DEFAULT NULL, p_max_crashes integer DEFAULT 20,
    p_detail jsonb DEFAULT NULL
) RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
    previous text;
    crashed boolean;
    paused boolean;
BEGIN
    SELECT * INTO t FROM tasks WHERE id = p_task FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'WK404', MESSAGE = format('no task with id %s', p_task);
    END IF;
    IF t.state NOT IN ('submitted', 'working') THEN
        RETURN NEXT t;
        RETURN;
    END IF;
    IF t.lease_owner IS NOT NULL AND t.lease_owner <> p_owner
       AND t.lease_expires_at > now() AND t.lease_owner IS DISTINCT FROM p_steal_from THEN
        RETURN NEXT t;
        RETURN;
    END IF;
    SELECT agents.paused INTO paused FROM agents WHERE agents.id = t.iteration_of;
    IF t.cancel_requested OR wakeful_killswitch_on(t.tenant)
       OR (t.state = 'submitted' AND COALESCE(paused, false)) THEN
        RETURN QUERY SELECT * FROM wakeful_transition(
            p_task, 'canceled',
            CASE WHEN t.cancel_requested OR wakeful_killswitch_on(t.tenant) THEN 'canceled'
                 ELSE 'agent_paused' END,
            p_detail => jsonb_build_object('by', CASE
                WHEN t.cancel_requested THEN 'cancel'
                WHEN wakeful_killswitch_on(t.tenant) THEN 'killswitch'
                ELSE 'pause' END));
        RETURN;
    END IF;
    previous := t.state;
    crashed := previous = 'working' AND t.lease_owner IS NOT NULL;
    IF crashed AND t.crash_retries >= p_max_crashes THEN
        RETURN QUERY SELECT * FROM wakeful_transition(
            p_task, 'failed', 'crash_loop',
            format('The run stopped without ending %s times (its worker crashed or was '
                   'killed each time); it is not tried again.', t.crash_retries + 1));
        RETURN;
    END IF;
    UPDATE tasks SET
        state = 'working',
        lease_owner = p_owner,
        lease_epoch = tasks.lease_epoch + 1,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds),
        dispatches = tasks.dispatches + 1,
        crash_retries = tasks.crash_retries + CASE WHEN crashed THEN 1 ELSE 0 END,
        started_at = COALESCE(tasks.started_at, now()),
        updated_at = now()
    WHERE id = p_task
    RETURNING * INTO t;
    PERFORM wakeful_append_events(
        p_task, ARRAY['run_started'],
        ARRAY[jsonb_build_object(
            'owner', p_owner, 'epoch', t.lease_epoch, 'dispatch', t.dispatches,
            'reason', CASE WHEN previous = 'submitted' THEN 'first'
                           WHEN crashed THEN 'crash' ELSE 'resume' END)
              || COALESCE(p_detail, '{}'::jsonb)],
        ARRAY[NULL::text]);
    IF previous = 'submitted' THEN
        PERFORM wakeful_state_change(p_task, 'submitted', 'working', NULL, NULL);
    END IF;
    RETURN NEXT t;
END;
$$;

-- Keep leases alive: the (task, epoch) pairs still held come back; a missing pair is a
-- lease this process lost (another run took the task over after it expired).
CREATE OR REPLACE FUNCTION wakeful_renew_leases(
    p_tasks text[], p_epochs integer[], p_lease_seconds double precision
) RETURNS TABLE (task_id text, epoch integer)
    LANGUAGE sql AS $$
    UPDATE tasks SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    FROM unnest(p_tasks, p_epochs) AS held(task_id, epoch)
    WHERE tasks.id = held.task_id AND tasks.lease_epoch = held.epoch
      AND tasks.state = 'working' AND tasks.lease_owner IS NOT NULL
    RETURNING tasks.id, tasks.lease_epoch
$$;

-- A run gives its lease up without changing the state (it stopped early: a shutdown, or the
-- database went away mid-run); the task is then re-claimed at once, not after expiry.
CREATE OR REPLACE FUNCTION wakeful_release_lease(p_task text, p_epoch integer) RETURNS void
    LANGUAGE sql AS $$
    UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL
    WHERE id = p_task AND lease_epoch = p_epoch
$$;

-- Cancel one task: one that is not running (queued, waiting for a person, or working with
-- no live lease) ends canceled now; a running one is flagged and its run woken (it stops
-- at its next node boundary). An ended task is refused, naming its state.
CREATE OR REPLACE FUNCTION wakeful_cancel(p_task text, p_by text, p_tenant text DEFAULT NULL)
RETURNS SETOF tasks
    LANGUAGE plpgsql AS $$
DECLARE
    t tasks%ROWTYPE;
BEGIN
    SELECT * INTO t FROM tasks
    WHERE id = p_task AND (p_tenant IS NULL OR tenant = p_tenant) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'WK404', MESSAGE = format('no task with id %s', p_task);
    END IF;
    IF t.state = 'working' AND t.lease_owner IS NOT NULL AND t.lease_expires_at > now() THEN
        UPDATE tasks SET cancel_requested = true, updated_at = now() WHERE id = p_task;
        PERFORM pg_notify('wakeful_cancel', p_task);
        RETURN QUERY SELECT * FROM tasks WHERE id = p_task;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM wakeful_transition(
        p_task, 'canceled', 'canceled', p_detail => jsonb_build_object('by', p_by));
END;
$$;

-- The kill switch's cancel, set-based and in bounded batches: up to p_limit open tasks of
-- the tenant (every tenant: NULL; every open task: p_limit NULL) in one statement. Rows
-- another transaction holds (a run at its node boundary) are skipped, not waited for: the
-- next batch takes them. The ones not running end canceled with their state_change event
-- (and a canceled iteration frees its agent, as wakeful_iteration_ended does for one);
-- running ones are flagged and woken. Returns each task it stopped, and whether it was
-- running. The switch itself is in effect before the first batch: claims, creates,
-- iteration starts and node boundaries read wakeful_killswitch_on.
DROP FUNCTION IF EXISTS wakeful_cancel_open(text, text);
CREATE OR REPLACE FUNCTION wakeful_cancel_open(
    p_by text, p_tenant text DEFAULT NULL, p_limit integer DEFAULT NULL
) RETURNS TABLE (task_id text, running boolean)
    LANGUAGE sql AS $$
    WITH open AS (
        SELECT id, state AS previous, iteration_of,
               state = 'working' AND lease_owner IS NOT NULL AND lease_expires_at > now()
                   AS running
        FROM tasks
        WHERE state = ANY (wakeful_allowed_from('canceled'))
          AND (p_tenant IS NULL OR tenant = p_tenant)
          AND NOT (cancel_requested AND state = 'working' AND lease_owner IS NOT NULL
                   AND lease_expires_at > now())
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), changed AS (
        UPDATE tasks SET
            cancel_requested = true,
            state = CASE WHEN b.running THEN tasks.state ELSE 'canceled' END,
            stop_reason = CASE WHEN b.running THEN tasks.stop_reason ELSE 'canceled' END,
            ended_at = CASE WHEN b.running THEN tasks.ended_at ELSE now() END,
            lease_owner = CASE WHEN b.running THEN tasks.lease_owner END,
            lease_expires_at = CASE WHEN b.running THEN tasks.lease_expires_at END,
            last_seq = tasks.last_seq + CASE WHEN b.running THEN 0 ELSE 1 END,
            lease_epoch = tasks.lease_epoch
                          + CASE WHEN NOT b.running AND b.previous = 'working' THEN 1 ELSE 0 END,
            updated_at = now()
        FROM open b WHERE tasks.id = b.id
        RETURNING tasks.id, tasks.last_seq, b.previous, b.running, b.iteration_of
    ), logged AS (
        INSERT INTO events (task_id, seq, type, data)
        SELECT c.id, c.last_seq, 'state_change',
               jsonb_build_object('from', c.previous, 'to', 'canceled', 'stop_reason', 'canceled',
                                  'by', p_by)
        FROM changed c WHERE NOT c.running
    ), freed AS (  -- wakeful_iteration_ended for every canceled iteration, in one UPDATE
        UPDATE agents SET
            current_task_id = NULL,
            next_run_at = now() + make_interval(secs => interval_seconds),
            last_completed_at = now(),
            last_outcome = 'canceled',
            updated_at = now()
        FROM changed c
        WHERE NOT c.running AND agents.id = c.iteration_of AND agents.current_task_id = c.id
        RETURNING agents.id
    ), told AS (
        SELECT (SELECT count(pg_notify('wakeful_agents', id)) FROM freed)
             + (SELECT count(pg_notify('wakeful_cancel', c.id)) FROM changed c WHERE c.running)
               AS n
    )
    SELECT c.id, c.running FROM changed c, told
$$;

-- How many open tasks (of the tenant; every tenant: NULL) the kill switch has not stopped
-- yet: what wakeful_cancel_open's next batches would take (rows locked now included).
CREATE OR REPLACE FUNCTION wakeful_open_left(p_tenant text DEFAULT NULL) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM tasks
    WHERE state = ANY (wakeful_allowed_from('canceled'))
      AND (p_tenant IS NULL OR tenant = p_tenant)
      AND NOT (cancel_requested AND state = 'working' AND lease_owner IS NOT NULL
               AND lease_expires_at > now())
$$;

-- A run job raised (not the graph: the runtime around it). Returns how many times it has.
CREATE OR REPLACE FUNCTION wakeful_count_run_error(p_task text, p_error text)
RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE tasks SET error_retries = error_retries + 1 WHERE id = p_task
    RETURNING error_retries INTO n;
    PERFORM wakeful_append_events(
        p_task, ARRAY['run_error'],
        ARRAY[jsonb_build_object('error', left(p_error, 2000), 'attempt', n)], ARRAY[NULL::text]);
    RETURN n;
END;
$$;

-- Unfinished tasks that nothing will run: no live lease and no queued or running job (a
-- lost job, a CLI run that died). Read by the periodic orphan re-dispatch.
CREATE OR REPLACE FUNCTION wakeful_orphans(p_older_than_seconds double precision)
RETURNS TABLE (task_id text)
    LANGUAGE plpgsql STABLE AS $$  -- plpgsql: procrastinate's tables may come later
BEGIN
    RETURN QUERY
    SELECT t.id FROM tasks t
    WHERE t.state IN ('submitted', 'working')
      AND t.updated_at < now() - make_interval(secs => p_older_than_seconds)
      AND (t.lease_owner IS NULL OR t.lease_expires_at < now())
      AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
                      WHERE j.lock = t.id AND j.status IN ('todo', 'doing'))
    ORDER BY t.updated_at
    LIMIT 500;
END;
$$;
