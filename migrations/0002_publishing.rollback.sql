DROP TABLE outbox;
ALTER TABLE sites DROP COLUMN live_deployment_id;
DROP TABLE deployments;
DROP TABLE domains;
DROP TABLE sites;
