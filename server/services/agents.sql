-- ensure_tenant --
INSERT INTO tenants (id) VALUES (%(tenant)s) ON CONFLICT DO NOTHING

-- upsert_agent --
-- A new continuous agent is due at once; an updated one keeps its schedule (brought forward
-- when the new interval is shorter); an agent that is no longer continuous is unscheduled.
INSERT INTO agents (id, tenant, name, spec, continuous, interval_seconds, next_run_at)
VALUES (%(id)s, %(tenant)s, %(name)s, %(spec)s, %(continuous)s, %(interval_seconds)s,
        CASE WHEN %(continuous)s THEN now() END)
ON CONFLICT (tenant, name) DO UPDATE SET
    spec = EXCLUDED.spec,
    continuous = EXCLUDED.continuous,
    interval_seconds = EXCLUDED.interval_seconds,
    next_run_at = CASE
        WHEN NOT EXCLUDED.continuous THEN NULL
        ELSE LEAST(COALESCE(agents.next_run_at, now()),
                   COALESCE(agents.last_completed_at, now())
                       + make_interval(secs => EXCLUDED.interval_seconds))
    END,
    updated_at = now()
RETURNING *

-- notify_agent --
SELECT pg_notify('wakeful_agents', %(id)s) AS notified

-- list_agents --
SELECT * FROM agents WHERE tenant = %(tenant)s ORDER BY name

-- get_agent --
SELECT * FROM agents WHERE tenant = %(tenant)s AND name = %(name)s

-- set_paused --
UPDATE agents SET paused = %(paused)s, updated_at = now()
WHERE tenant = %(tenant)s AND name = %(name)s
RETURNING *

-- delete_agent --
DELETE FROM agents WHERE id = %(id)s
