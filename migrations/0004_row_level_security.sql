-- Row-level security on every table that carries workspace_id (SPEC §10).
-- Tenant transactions run `set_config('app.workspace_id', <workspace>, true)`;
-- the few system paths that cross workspaces name themselves in
-- `app.system_path`, and only the names listed below are accepted (the same
-- list as openbook.db.scopes.SYSTEM_PATHS, plus `backup` for pg_dump, see
-- docs/ops/backup.md). A connection that set neither sees and writes no
-- tenant rows, even as the tables' owner (FORCE). After a transaction-local
-- setting ends, the value reads as '' rather than NULL, hence NULLIF before
-- the uuid cast.
-- depends: 0003_pipeline_state

CREATE FUNCTION openbook_workspace() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('app.workspace_id', true), '')::uuid
$$;
CREATE FUNCTION openbook_system_path() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.system_path', true), '')
        IN ('outbox-relay', 'worker-claim', 'hosts-reconcile', 'backup')
$$;

ALTER TABLE objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE objects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON objects USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON objects USING (openbook_system_path());

ALTER TABLE branches ENABLE ROW LEVEL SECURITY;
ALTER TABLE branches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON branches USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON branches USING (openbook_system_path());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_log USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON audit_log USING (openbook_system_path());

ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON sites USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON sites USING (openbook_system_path());

ALTER TABLE domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON domains USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON domains USING (openbook_system_path());

ALTER TABLE deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON deployments USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON deployments USING (openbook_system_path());
