-- agent_of_task --
SELECT * FROM agents
WHERE id = %(iteration_of)s OR (%(iteration_of)s::text IS NULL AND tenant = %(tenant)s AND name = %(agent)s)

-- rules_of_agent --
SELECT * FROM alert_rules WHERE agent_id = %(agent_id)s ORDER BY id

-- replace_rules --
DELETE FROM alert_rules WHERE agent_id = %(agent_id)s

-- insert_rule --
INSERT INTO alert_rules (agent_id, kind, threshold, webhook_url)
VALUES (%(agent_id)s, %(kind)s, %(threshold)s, %(webhook_url)s)

-- fire_alert --
-- One condition fires once: a second attempt with the same key is a no-op.
INSERT INTO alerts (tenant, agent_id, agent, rule_id, kind, message, data, dedupe_key)
VALUES (%(tenant)s, %(agent_id)s, %(agent)s, %(rule_id)s, %(kind)s, %(message)s, %(data)s,
        %(dedupe_key)s)
ON CONFLICT (agent_id, kind, dedupe_key) DO NOTHING
RETURNING *

-- add_delivery --
INSERT INTO alert_deliveries (alert_id, url) VALUES (%(alert_id)s, %(url)s) RETURNING id

-- resolve_alerts --
-- A successful iteration ends failure streaks and silences.
UPDATE alerts SET resolved_at = now()
WHERE agent_id = %(agent_id)s AND resolved_at IS NULL
  AND kind IN ('consecutive_failures', 'no_success')

-- silent_agents --
-- Agents with a no-success rule whose last success (or creation) is older than it allows.
SELECT agents.*, alert_rules.id AS rule_id, alert_rules.threshold, alert_rules.webhook_url,
       COALESCE(agents.last_succeeded_at, agents.created_at) AS silent_since
FROM agents JOIN alert_rules ON alert_rules.agent_id = agents.id
WHERE alert_rules.kind = 'no_success' AND NOT agents.paused
  AND COALESCE(agents.last_succeeded_at, agents.created_at)
      < now() - make_interval(secs => LEAST(alert_rules.threshold, 316224000))  -- 10 years: a rule stored before the bound

-- failing_agents --
-- Agents whose failure streak has reached their consecutive-failures rule (the sweep fires
-- what an iteration's end hook missed; one alert per streak, by its dedupe key).
SELECT agents.*, alert_rules.id AS rule_id, alert_rules.threshold, alert_rules.webhook_url
FROM agents JOIN alert_rules ON alert_rules.agent_id = agents.id
WHERE alert_rules.kind = 'consecutive_failures'
  AND agents.consecutive_failures >= alert_rules.threshold

-- hung_iterations --
-- Running iterations with no new event for longer than the agent's stuck rule allows.
SELECT agents.*, alert_rules.id AS rule_id, alert_rules.threshold, alert_rules.webhook_url,
       last_event.ts AS last_event_at
FROM agents
JOIN alert_rules ON alert_rules.agent_id = agents.id AND alert_rules.kind = 'stuck'
JOIN tasks ON tasks.id = agents.current_task_id AND tasks.state = 'working'
CROSS JOIN LATERAL (
    SELECT COALESCE(max(ts), tasks.started_at, tasks.created_at) AS ts
    FROM events WHERE events.task_id = tasks.id
) AS last_event
WHERE last_event.ts < now() - make_interval(secs => LEAST(alert_rules.threshold, 316224000))

-- delivery --
SELECT alert_deliveries.id, alert_deliveries.url, alert_deliveries.attempts,
       alert_deliveries.state, alerts.id AS alert_id, alerts.tenant, alerts.agent, alerts.kind,
       alerts.message, alerts.data, alerts.fired_at
FROM alert_deliveries JOIN alerts ON alerts.id = alert_deliveries.alert_id
WHERE alert_deliveries.id = %(id)s

-- record_attempt --
UPDATE alert_deliveries SET
    attempts = attempts + 1,
    state = %(state)s,
    last_status = %(status)s,
    last_error = %(error)s,
    delivered_at = CASE WHEN %(state)s = 'delivered' THEN now() ELSE delivered_at END,
    updated_at = now()
WHERE id = %(id)s

-- list_alerts --
SELECT alerts.*,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'url', d.url, 'state', d.state, 'attempts', d.attempts,
                    'last_status', d.last_status, 'last_error', d.last_error,
                    'delivered_at', d.delivered_at) ORDER BY d.id)
                 FROM alert_deliveries d WHERE d.alert_id = alerts.id), '[]'::jsonb)
           AS deliveries
FROM alerts
WHERE tenant = %(tenant)s AND (%(agent)s::text IS NULL OR agent = %(agent)s)
ORDER BY fired_at DESC, id DESC
LIMIT %(limit)s
