-- Sites, domains, deployments and the outbox relayed to the Redis stream.
-- depends: 0001_content_store

CREATE TABLE sites (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    name         text NOT NULL,
    slug         text NOT NULL,
    theme        text NOT NULL,
    branch       text NOT NULL DEFAULT 'main',
    root         text NOT NULL DEFAULT '',
    settings     jsonb NOT NULL DEFAULT '{}'::jsonb,
    live_deployment_id uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, slug),
    UNIQUE (workspace_id, id)
);

-- A hostname belongs to one site in the whole system, whoever holds it.
CREATE TABLE domains (
    hostname     text PRIMARY KEY CHECK (hostname = lower(hostname)),
    workspace_id uuid NOT NULL,
    site_id      uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, site_id) REFERENCES sites(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX domains_site ON domains (site_id);

CREATE TABLE deployments (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    site_id      uuid NOT NULL,
    commit_id    text NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'building', 'deployed', 'failed')),
    error        text,
    stats        jsonb NOT NULL DEFAULT '{}'::jsonb,
    conditions   jsonb NOT NULL DEFAULT '[]'::jsonb,
    attempts     integer NOT NULL DEFAULT 0,
    lease_owner  text,
    lease_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    FOREIGN KEY (workspace_id, site_id) REFERENCES sites(workspace_id, id),
    FOREIGN KEY (workspace_id, commit_id) REFERENCES objects(workspace_id, hash)
);
CREATE INDEX deployments_site ON deployments (site_id, created_at DESC);

ALTER TABLE sites ADD FOREIGN KEY (live_deployment_id) REFERENCES deployments(id);

-- Written in the deployment's transaction; the relay XADDs rows still unpublished.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    deployment_id uuid NOT NULL REFERENCES deployments(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
