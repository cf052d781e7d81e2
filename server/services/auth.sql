-- ensure_tenant --
INSERT INTO tenants (id) VALUES (%(tenant)s) ON CONFLICT DO NOTHING

-- insert_token --
INSERT INTO api_tokens (id, tenant, role, name, token_sha256)
VALUES (%(id)s, %(tenant)s, %(role)s, %(name)s, %(sha256)s)

-- principal --
SELECT tenant, role, name FROM api_tokens
WHERE token_sha256 = %(sha256)s AND revoked_at IS NULL

-- revoke --
UPDATE api_tokens SET revoked_at = now()
WHERE tenant = %(tenant)s AND name = %(name)s AND revoked_at IS NULL
RETURNING id
