-- Git remote (SPEC §12): one row per git object a workspace knows, and the OpenBook
-- object it stands for (openbook/gitmap/index.py, docs/git.md).
-- depends: 0007_objects_by_hash

CREATE TABLE git_objects (
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    git_id       bytea NOT NULL CHECK (octet_length(git_id) = 20),
    kind         text NOT NULL CHECK (kind IN ('blob', 'tree', 'commit')),
    ob_id        text NOT NULL,
    -- TRUE: the export of ob_id (one per object); NULL: a pushed tree kept as pushed. NULL, not
    -- FALSE, so that the unique index below admits any number of those.
    canonical    boolean CHECK (canonical),
    size         bigint,
    generation   integer,
    raw          bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Id first: lookups by git id stay index probes however stale the statistics (see 0007).
    PRIMARY KEY (git_id, workspace_id),
    -- A collected object takes its rows with it (`openbook gc`).
    FOREIGN KEY (workspace_id, ob_id) REFERENCES objects(workspace_id, hash) ON DELETE CASCADE,
    CHECK ((kind = 'blob') = (size IS NOT NULL)),
    CHECK ((kind = 'blob') = (raw IS NULL)),
    CHECK ((kind = 'commit') = (generation IS NOT NULL)),
    CHECK (kind = 'tree' OR canonical)
);
-- The one canonical git id of an OpenBook object; also serves the cascade above.
CREATE UNIQUE INDEX git_objects_by_ob ON git_objects (ob_id, workspace_id, canonical);

ALTER TABLE git_objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE git_objects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON git_objects USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON git_objects USING (openbook_system_path());
