DROP INDEX deployments_unfinished;
DROP TABLE relay_state;
