-- lock_task --
-- Placeholders are numbered per task and kind: one masking at a time per task.
SELECT pg_advisory_xact_lock(hashtextextended('pii_vault:' || %(task_id)s, 0));

-- known --
SELECT value_sha256, kind, n FROM pii_vault
WHERE task_id = %(task_id)s AND value_sha256 = ANY(%(hashes)s);

-- add --
INSERT INTO pii_vault (task_id, kind, n, value, value_sha256)
SELECT %(task_id)s, %(kind)s, coalesce(max(n), 0) + 1, %(value)s, %(value_sha256)s
FROM pii_vault WHERE task_id = %(task_id)s AND kind = %(kind)s
RETURNING n;

-- values_of --
SELECT kind, n, value FROM pii_vault
WHERE task_id = %(task_id)s AND (kind, n) IN (SELECT * FROM unnest(%(kinds)s::text[], %(ns)s::int[]));
