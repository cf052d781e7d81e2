-- Tenancy and A2A push: tokens that expire and an installation-admin role above every
-- tenant's admin; a kill switch per tenant beside the global one; the client's message ids
-- of A2A tasks; push-notification configs and a durable outbox of deliveries.

ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('submitter', 'approver', 'admin', 'installation-admin'));
CREATE INDEX IF NOT EXISTS api_tokens_tenant ON api_tokens (tenant, created_at);

-- Per-tenant switches (the tenant's kill switch); the global ones stay in runtime_flags.
-- stack/lifecycle.sql's wakeful_killswitch_on(tenant) reads both.
CREATE TABLE IF NOT EXISTS tenant_flags (
    tenant     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    value      boolean NOT NULL,
    changed_by text,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

-- The A2A message that created a task (its client-chosen messageId, kept for history).
CREATE TABLE IF NOT EXISTS a2a_messages (
    task_id    text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    message_id text NOT NULL,
    role       text NOT NULL DEFAULT 'user',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, message_id)
);

-- Where to push a task's updates (A2A TaskPushNotificationConfig).
CREATE TABLE IF NOT EXISTS a2a_push_configs (
    task_id          text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    id               text NOT NULL,
    tenant           text NOT NULL,
    url              text NOT NULL,
    token            text,
    auth_scheme      text,
    auth_credentials text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, id)
);

-- One delivery per config and state change, written in the transaction that changes the
-- state; delivered in order per config, retried with backoff, kept across restarts.
CREATE TABLE IF NOT EXISTS a2a_push_outbox (
    id              bigserial PRIMARY KEY,
    task_id         text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    config_id       text NOT NULL,
    state           text NOT NULL,
    stop_reason     text,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX IF NOT EXISTS a2a_push_outbox_pending ON a2a_push_outbox (task_id, config_id, id)
    WHERE status = 'pending';

CREATE OR REPLACE FUNCTION wakeful_push_state_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO a2a_push_outbox (task_id, config_id, state, stop_reason)
    SELECT NEW.id, c.id, NEW.state, NEW.stop_reason
    FROM a2a_push_configs c WHERE c.task_id = NEW.id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS tasks_push_state_changed ON tasks;
CREATE TRIGGER tasks_push_state_changed
    AFTER UPDATE OF state ON tasks
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION wakeful_push_state_changed();
