-- Web studio sign-in (SPEC §13): one-time sign-in links and browser sessions.
-- Both hold only a SHA-256 digest of their secret: a copy of the database signs
-- nobody in. The secret travels as `<workspace_id>.<secret>`, so every lookup is a
-- tenant transaction of that workspace (row-level security as for every tenant
-- table), and a secret presented with another workspace's id finds nothing.
-- depends: 0007_objects_by_hash

CREATE TABLE studio_login_links (
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    digest       bytea NOT NULL CHECK (length(digest) = 32),
    sub          text NOT NULL,
    role         text NOT NULL CHECK (role IN ('reader', 'writer', 'publisher', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    PRIMARY KEY (workspace_id, digest)
);
CREATE INDEX studio_login_links_expiry ON studio_login_links (workspace_id, expires_at);
ALTER TABLE studio_login_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE studio_login_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON studio_login_links USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON studio_login_links USING (openbook_system_path());

CREATE TABLE studio_sessions (
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    digest       bytea NOT NULL CHECK (length(digest) = 32),
    sub          text NOT NULL,
    role         text NOT NULL CHECK (role IN ('reader', 'writer', 'publisher', 'admin')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, digest)
);
CREATE INDEX studio_sessions_expiry ON studio_sessions (workspace_id, expires_at);
ALTER TABLE studio_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE studio_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON studio_sessions USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON studio_sessions USING (openbook_system_path());
