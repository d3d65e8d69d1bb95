-- Relay bookkeeping: which Redis instance last received the stream, so that a
-- Redis restarted empty gets every unfinished deployment re-published.
-- depends: 0002_publishing

CREATE TABLE relay_state (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The relay and the sweeper look only at unfinished deployments.
CREATE INDEX deployments_unfinished ON deployments (created_at)
    WHERE status IN ('pending', 'building');
