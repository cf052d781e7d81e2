-- Named queries for tools/mcp/pinning.py; each starts at a "-- name --" line.
-- The table is created by stack/migrations/0003_tool_pins.sql.

-- lock_tool --
SELECT pg_advisory_xact_lock(hashtextextended(%(server)s || '.' || %(tool)s, 0));

-- tool_seen --
SELECT EXISTS (
    SELECT 1 FROM tool_pins WHERE server = %(server)s AND tool = %(tool)s
) AS seen;

-- insert_pin --
INSERT INTO tool_pins (server, tool, digest, description, input_schema, approved_by, approved_at)
VALUES (%(server)s, %(tool)s, %(digest)s, %(description)s, %(input_schema)s, %(approved_by)s,
        CASE WHEN %(approved_by)s::text IS NULL THEN NULL ELSE now() END)
ON CONFLICT (server, tool, digest) DO NOTHING;

-- get_pin --
SELECT server, tool, digest, description, input_schema, first_seen_at, approved_by, approved_at
FROM tool_pins
WHERE server = %(server)s AND tool = %(tool)s AND digest = %(digest)s;

-- approve_pin --
UPDATE tool_pins
SET approved_by = %(approved_by)s, approved_at = now()
WHERE server = %(server)s AND tool = %(tool)s AND digest = %(digest)s AND approved_at IS NULL;

-- list_pins --
SELECT server, tool, digest, description, input_schema, first_seen_at, approved_by, approved_at
FROM tool_pins
WHERE (%(server)s::text IS NULL OR server = %(server)s)
  AND (NOT %(pending)s OR approved_at IS NULL)
ORDER BY server, tool, first_seen_at;
