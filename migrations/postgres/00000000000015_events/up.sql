-- What `GET /v1.0/{tenant}/events` streams: every change of an instance's or a backup's status,
-- every flow step, every supervision event, in the order stored. Triggers write them in the
-- transaction of the change, whoever makes it, so a stream resumes from here after a restart
-- and every API process serves every event. `facts` holds the stored columns the API derives
-- Trove's status from (in Rust, by the same rules as every view); project_id NULL: admins only.
-- One b-tree write per event (no secondary index): a stream resuming for one project filters
-- the rows after its id, which the trim bounds.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    project_id TEXT,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    facts TEXT NOT NULL
);

CREATE FUNCTION coffer_now_ms() RETURNS BIGINT AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
$$ LANGUAGE sql;

-- An instance's facts as they stand now.
CREATE FUNCTION coffer_instance_event(instance TEXT) RETURNS void AS $$
BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT coffer_now_ms(), i.tenant_id, 'instance', i.id, json_build_object(
        'name', i.name,
        'task_id', i.task_id,
        'server_status', i.server_status,
        'service_status_id', (SELECT s.status_id FROM service_statuses s WHERE s.instance_id = i.id),
        'backup_running', EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = i.id
                                  AND b.state IN ('NEW', 'BUILDING') AND NOT b.deleted),
        'deleted', i.deleted)::TEXT
    FROM instances i WHERE i.id = instance;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION coffer_row_event() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'instances' THEN
        PERFORM coffer_instance_event(NEW.id);
    ELSIF TG_TABLE_NAME = 'service_statuses' THEN
        PERFORM coffer_instance_event(NEW.instance_id);
    ELSIF TG_TABLE_NAME = 'backups' THEN
        INSERT INTO events (at, project_id, kind, target_id, facts)
        VALUES (coffer_now_ms(), NEW.tenant_id, 'backup', NEW.id,
                json_build_object('name', NEW.name, 'instance_id', NEW.instance_id,
                                  'state', NEW.state, 'deleted', NEW.deleted)::TEXT);
        PERFORM coffer_instance_event(NEW.instance_id);
    ELSIF TG_TABLE_NAME = 'flows' THEN
        -- A flow's project is its instance's, or its backup's.
        INSERT INTO events (at, project_id, kind, target_id, facts)
        VALUES (coffer_now_ms(),
                COALESCE((SELECT tenant_id FROM instances WHERE id = NEW.target_id),
                         (SELECT tenant_id FROM backups WHERE id = NEW.target_id)),
                'flow', NEW.target_id,
                json_build_object('flow_id', NEW.id, 'flow_kind', NEW.kind, 'step', NEW.step,
                                  'status', NEW.status, 'attempts', NEW.attempts,
                                  'owner', NEW.owner)::TEXT);
    ELSIF TG_TABLE_NAME = 'supervision_events' THEN
        INSERT INTO events (at, project_id, kind, target_id, facts)
        VALUES (NEW.at, NULL, 'supervision', NEW.actor_id,
                json_build_object('actor_kind', NEW.kind, 'event', NEW.event, 'reason', NEW.reason,
                                  'node_id', NEW.node_id, 'service_id', NEW.service_id)::TEXT);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER instances_insert_event AFTER INSERT ON instances
    FOR EACH ROW EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER instances_update_event AFTER UPDATE ON instances FOR EACH ROW
    WHEN (OLD.task_id IS DISTINCT FROM NEW.task_id OR OLD.server_status IS DISTINCT FROM NEW.server_status
          OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER service_statuses_insert_event AFTER INSERT ON service_statuses
    FOR EACH ROW EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER service_statuses_update_event AFTER UPDATE ON service_statuses FOR EACH ROW
    WHEN (OLD.status_id IS DISTINCT FROM NEW.status_id)
    EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER backups_insert_event AFTER INSERT ON backups
    FOR EACH ROW EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER backups_update_event AFTER UPDATE ON backups FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER flows_insert_event AFTER INSERT ON flows
    FOR EACH ROW EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER flows_update_event AFTER UPDATE ON flows FOR EACH ROW
    WHEN (OLD.step IS DISTINCT FROM NEW.step OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION coffer_row_event();
CREATE TRIGGER supervision_events_insert_event AFTER INSERT ON supervision_events
    FOR EACH ROW EXECUTE FUNCTION coffer_row_event();
