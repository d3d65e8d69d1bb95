DROP INDEX outbox_published;
CREATE OR REPLACE FUNCTION openbook_system_path() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.system_path', true), '')
        IN ('outbox-relay', 'worker-claim', 'hosts-reconcile', 'backup')
$$;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE previews;
DROP INDEX deployments_commit;
DROP INDEX deployments_target;
ALTER TABLE deployments ADD FOREIGN KEY (workspace_id, commit_id) REFERENCES objects(workspace_id, hash);
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'building', 'deployed', 'failed'));
ALTER TABLE deployments DROP COLUMN pruned_at;
ALTER TABLE deployments DROP COLUMN target;
ALTER TABLE deployments DROP COLUMN branch;
ALTER TABLE deployments DROP COLUMN trigger;
ALTER TABLE sites DROP COLUMN previews;
ALTER TABLE sites DROP COLUMN auto_deploy;
