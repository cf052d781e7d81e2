-- agent_status --
SELECT agents.*,
       (SELECT COALESCE(sum(n), 0)::bigint FROM metric_counts  -- counters: 0008_scale
        WHERE metric = 'tasks' AND tenant = agents.tenant AND agent = agents.name
          AND label1 = 'submitted') AS queue_depth,
       (SELECT COALESCE(sum((usage->>'tokens')::bigint), 0) FROM tasks
        WHERE tasks.iteration_of = agents.id
          AND tasks.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
           AS tokens_today,
       (SELECT count(*) FROM alerts
        WHERE alerts.agent_id = agents.id AND alerts.resolved_at IS NULL) AS open_alerts,
       COALESCE((SELECT value FROM runtime_flags WHERE name = 'killswitch'), false) AS killswitch
FROM agents
WHERE tenant = %(tenant)s AND name = %(name)s
