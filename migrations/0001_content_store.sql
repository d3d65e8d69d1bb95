-- Workspaces, the Merkle object store, branches and the append-only audit log.
-- depends:

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every object (blob, tree leaf, tree node, commit) keyed by (workspace, hash).
-- The CHECK re-hashes on insert: a row can never lie about its content.
CREATE TABLE objects (
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    hash         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('blob', 'tree', 'tnode', 'commit')),
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, hash),
    CHECK (hash = encode(sha256(convert_to(kind, 'UTF8') || '\x00'::bytea || data), 'hex'))
);

CREATE TABLE branches (
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    name         text NOT NULL,
    head         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, name),
    FOREIGN KEY (workspace_id, head) REFERENCES objects(workspace_id, hash)
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    action       text NOT NULL,
    actor        text NOT NULL,
    target       text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id DESC);

-- Append-only, enforced by the database for every role and every client.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
