-- Objects looked up by id whatever the planner believes about a workspace's size: with only
-- the primary key (workspace_id, hash), a workspace filled since the last ANALYZE is
-- estimated at a row or two and scanned whole for every lookup (hundreds of ms on 100,000
-- objects). Hash first, the index is as selective as a lookup can be.
-- depends: 0006_idempotency

CREATE UNIQUE INDEX objects_by_hash ON objects (hash, workspace_id);
