-- Mirrors (issue 10, item 5): an external git repository followed into a branch. A push
-- webhook (or the API) asks for a sync; a worker claims it and imports (docs/git.md).
-- depends: 0009_git_remote 0010_studio_sessions

CREATE TABLE mirrors (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces(id),
    url           text NOT NULL,
    ref           text NOT NULL,
    branch        text NOT NULL,
    secret        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A sync is due from `sync_requested_at`; a worker holds it until `lease_until`.
    sync_requested_at timestamptz,
    lease_until   timestamptz,
    synced_at     timestamptz,
    synced_commit bytea,
    last_error    text,
    UNIQUE (workspace_id, id),
    UNIQUE (workspace_id, branch)
);
CREATE INDEX mirrors_due ON mirrors (sync_requested_at) WHERE sync_requested_at IS NOT NULL;
ALTER TABLE mirrors ENABLE ROW LEVEL SECURITY;
ALTER TABLE mirrors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mirrors USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON mirrors USING (openbook_system_path());

-- Every webhook delivery and every sync, verified or not, with what came of it.
CREATE TABLE mirror_events (
    id            bigserial PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    mirror_id     uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('delivery', 'sync')),
    outcome       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (workspace_id, mirror_id) REFERENCES mirrors(workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX mirror_events_mirror ON mirror_events (mirror_id, id DESC);
ALTER TABLE mirror_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE mirror_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mirror_events USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON mirror_events USING (openbook_system_path());

-- A hook names only a mirror id, and workers sync whatever is due: one more system path.
CREATE OR REPLACE FUNCTION openbook_system_path() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.system_path', true), '')
        IN ('outbox-relay', 'worker-claim', 'hosts-reconcile', 'backup', 'webhook-delivery', 'git-mirrors')
$$;
