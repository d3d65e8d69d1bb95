-- Idempotency keys (Stripe's model): the first answer to a POST with an
-- `Idempotency-Key` is stored in the same transaction as its effect and
-- replayed for a retry with the same key and body.
-- depends: 0005_gitops

CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces(id),
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status       integer NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON idempotency_keys USING (workspace_id = openbook_workspace());
CREATE POLICY system_rows ON idempotency_keys USING (openbook_system_path());
