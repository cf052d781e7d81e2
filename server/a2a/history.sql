-- record_message --
INSERT INTO a2a_messages (task_id, message_id) VALUES (%(task_id)s, %(id)s)
ON CONFLICT DO NOTHING

-- goal_message_ids --
-- The first message recorded for each task: the one that created it.
SELECT DISTINCT ON (task_id) task_id, message_id FROM a2a_messages
WHERE task_id = ANY(%(ids)s)
ORDER BY task_id, created_at
