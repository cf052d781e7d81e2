-- ensure_tenant --
INSERT INTO tenants (id) VALUES (%(tenant)s) ON CONFLICT DO NOTHING

-- get_tenant --
SELECT id, created_at FROM tenants WHERE id = %(tenant)s

-- create_tenant --
INSERT INTO tenants (id) VALUES (%(tenant)s) ON CONFLICT DO NOTHING
RETURNING id, created_at

-- list_tenants --
SELECT t.id, t.created_at,
       count(k.id) FILTER (WHERE k.revoked_at IS NULL
                           AND (k.expires_at IS NULL OR k.expires_at > now())) AS active_tokens
FROM tenants t LEFT JOIN api_tokens k ON k.tenant = t.id
GROUP BY t.id, t.created_at
ORDER BY t.id

-- insert_token --
INSERT INTO api_tokens (id, tenant, role, name, token_sha256, expires_at)
VALUES (%(id)s, %(tenant)s, %(role)s, %(name)s, %(sha256)s, %(expires_at)s)
RETURNING *

-- principal --
-- A revoked or expired token authenticates nobody; a good one is marked as used (at most
-- once a minute, so busy clients do not rewrite the row on every request).
WITH found AS (
    SELECT id, tenant, role, name FROM api_tokens
    WHERE token_sha256 = %(sha256)s AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > now())
), touched AS (
    UPDATE api_tokens SET last_used_at = now()
    FROM found
    WHERE api_tokens.id = found.id
      AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT tenant, role, name FROM found

-- list_tokens --
SELECT * FROM api_tokens
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
  AND (%(all)s OR revoked_at IS NULL)
ORDER BY tenant, created_at

-- revoke --
UPDATE api_tokens SET revoked_at = now()
WHERE tenant = %(tenant)s AND name = %(name)s AND revoked_at IS NULL
RETURNING id

-- revoke_id --
UPDATE api_tokens SET revoked_at = now()
WHERE id = %(id)s AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) AND revoked_at IS NULL
RETURNING *
