CREATE OR REPLACE FUNCTION openbook_system_path() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT COALESCE(current_setting('app.system_path', true), '')
        IN ('outbox-relay', 'worker-claim', 'hosts-reconcile', 'backup', 'webhook-delivery')
$$;
DROP TABLE mirror_events;
DROP TABLE mirrors;
