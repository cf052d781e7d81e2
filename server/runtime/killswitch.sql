-- set_killswitch --
-- Flip the switch and announce it: runs stop their in-flight model calls, schedulers stop
-- (or start again: "off" also wakes them, for the catch-up iterations).
WITH flipped AS (
    INSERT INTO runtime_flags (name, value, changed_by, changed_at)
    VALUES ('killswitch', %(on)s, %(by)s, now())
    ON CONFLICT (name) DO UPDATE
        SET value = EXCLUDED.value, changed_by = EXCLUDED.changed_by, changed_at = now()
    RETURNING value, changed_by, changed_at
)
SELECT flipped.*,
       pg_notify('wakeful_killswitch', CASE WHEN value THEN 'on' ELSE 'off' END) AS notified,
       pg_notify('wakeful_agents', '*') AS agents_notified
FROM flipped

-- get_killswitch --
SELECT value, changed_by, changed_at FROM runtime_flags WHERE name = 'killswitch'

-- set_tenant_killswitch --
-- A tenant's own switch; the notifications wake runs and schedulers as the global one does
-- (they re-read which tenants are stopped).
WITH flipped AS (
    INSERT INTO tenant_flags (tenant, name, value, changed_by, changed_at)
    VALUES (%(tenant)s, 'killswitch', %(on)s, %(by)s, now())
    ON CONFLICT (tenant, name) DO UPDATE
        SET value = EXCLUDED.value, changed_by = EXCLUDED.changed_by, changed_at = now()
    RETURNING value
)
SELECT pg_notify('wakeful_agents', '*') AS agents_notified FROM flipped

-- get_tenant_killswitch --
SELECT value, changed_by, changed_at FROM tenant_flags
WHERE tenant = %(tenant)s AND name = 'killswitch'

-- tenants_stopped --
SELECT tenant FROM tenant_flags WHERE name = 'killswitch' AND value ORDER BY tenant
