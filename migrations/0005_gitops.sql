-- GitOps publishing (SPEC §11): deploy on push, coalescing, previews, webhooks, retention.
-- depends: 0004_row_level_security

-- Sites say whether a head move of their branch deploys, and whether other branches get previews.
ALTER TABLE sites ADD COLUMN auto_deploy boolean NOT NULL DEFAULT true;
ALTER TABLE sites ADD COLUMN previews boolean NOT NULL DEFAULT false;

-- Who asked for a deployment, from which branch, and what it publishes: the live site
-- ('live') or one branch's preview ('preview:<branch>'). Coalescing works per (site, target).
ALTER TABLE deployments ADD COLUMN trigger text NOT NULL DEFAULT 'manual'
    CHECK (trigger IN ('manual', 'push', 'preview'));
ALTER TABLE deployments ADD COLUMN branch text;
ALTER TABLE deployments ADD COLUMN target text NOT NULL DEFAULT 'live';
ALTER TABLE deployments ADD COLUMN pruned_at timestamptz;
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'building', 'deployed', 'failed', 'superseded'));
-- A deployment's commit may be garbage-collected once the deployment is pruned
-- (`openbook gc`); the row stays as history.
ALTER TABLE deployments DROP CONSTRAINT deployments_workspace_id_commit_id_fkey;
CREATE INDEX deployments_target ON deployments (site_id, target, created_at DESC);
CREATE INDEX deployments_commit ON deployments (workspace_id, commit_id);

-- One row per (site, branch) with previews: its DNS-safe key and its newest deployed build.
CREATE TABLE previews (
    workspace_id  uuid NOT NULL,
    site_id       uuid NOT NULL,
    branch        text NOT NULL,
    key           text NOT NULL CHECK (key ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    deployment_id uuid REFERENCES deployments(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, branch),
    UNIQUE (site_id, key),
    FOREIGN KEY (workspace_id, site_id) REFERENCES sites(workspace_id, id) ON DELETE CASCADE
);
ALTER TABLE previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE previews FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON previews USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON previews USING (openbook_system_path());

-- Outgoing webhooks. A delivery row is written in the transaction of its event and is
-- itself the outbox: the exact bytes to send (signed as they are), retried with backoff.
CREATE TABLE webhooks (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id),
    url           text NOT NULL,
    events        text[] NOT NULL,
    secret        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, id)
);
ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhooks USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON webhooks USING (openbook_system_path());

CREATE TABLE webhook_deliveries (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    webhook_id    uuid NOT NULL,
    event         text NOT NULL,
    body          bytea NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    FOREIGN KEY (workspace_id, webhook_id) REFERENCES webhooks(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at DESC);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhook_deliveries USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON webhook_deliveries USING (openbook_system_path());

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   integer NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhook_attempts USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON webhook_attempts USING (openbook_system_path());

-- The delivery loop crosses workspaces (it sends whatever is due): a new system path.
CREATE OR REPLACE FUNCTION openbook_system_path() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.system_path', true), '')
        IN ('outbox-relay', 'worker-claim', 'hosts-reconcile', 'backup', 'webhook-delivery')
$$;

-- Published outbox rows are deleted after a while (the relay's sweep).
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
