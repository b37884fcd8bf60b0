-- What `GET /v1.0/{tenant}/events` streams: every change of an instance's or a backup's status,
-- every flow step, every supervision event, in the order stored. Triggers write them in the
-- transaction of the change, whoever makes it, so a stream resumes from here after a restart
-- and every API process serves every event. `facts` holds the stored columns the API derives
-- Trove's status from (in Rust, by the same rules as every view); project_id NULL: admins only.
-- One b-tree write per event (no secondary index): a stream resuming for one project filters
-- the rows after its id, which the trim bounds.
CREATE TABLE events (
    -- Not AUTOINCREMENT: the trim keeps the newest rows, so an id is never given twice.
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    project_id TEXT,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    facts TEXT NOT NULL
);

-- An instance's facts as they stand now (read by the triggers below).
CREATE VIEW instance_event_facts AS
SELECT i.id AS id, i.tenant_id AS project_id, json_object(
    'name', i.name,
    'task_id', i.task_id,
    'server_status', i.server_status,
    'service_status_id', (SELECT s.status_id FROM service_statuses s WHERE s.instance_id = i.id),
    'backup_running', EXISTS (SELECT 1 FROM backups b WHERE b.instance_id = i.id
                              AND b.state IN ('NEW', 'BUILDING') AND NOT b.deleted),
    'deleted', i.deleted) AS facts
FROM instances i;

CREATE TRIGGER instances_insert_event AFTER INSERT ON instances BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.id;
END;
CREATE TRIGGER instances_update_event AFTER UPDATE OF task_id, server_status, deleted ON instances
WHEN OLD.task_id IS NOT NEW.task_id OR OLD.server_status IS NOT NEW.server_status
    OR OLD.deleted IS NOT NEW.deleted BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.id;
END;
CREATE TRIGGER service_statuses_insert_event AFTER INSERT ON service_statuses BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.instance_id;
END;
CREATE TRIGGER service_statuses_update_event AFTER UPDATE OF status_id ON service_statuses
WHEN OLD.status_id IS NOT NEW.status_id BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.instance_id;
END;

-- A backup's facts, and a flow's (its project is its instance's, or its backup's).
CREATE VIEW backup_event_facts AS
SELECT b.id AS id, b.tenant_id AS project_id, json_object(
    'name', b.name, 'instance_id', b.instance_id, 'state', b.state, 'deleted', b.deleted) AS facts
FROM backups b;
CREATE VIEW flow_event_facts AS
SELECT f.id AS id, f.target_id AS target_id,
    COALESCE((SELECT tenant_id FROM instances WHERE id = f.target_id),
             (SELECT tenant_id FROM backups WHERE id = f.target_id)) AS project_id,
    json_object('flow_id', f.id, 'flow_kind', f.kind, 'step', f.step, 'status', f.status,
                'attempts', f.attempts, 'owner', f.owner) AS facts
FROM flows f;

-- A backup's change changes its instance's status too (BACKUP while one runs).
CREATE TRIGGER backups_insert_event AFTER INSERT ON backups BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'backup', id, facts
    FROM backup_event_facts WHERE id = NEW.id;
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.instance_id;
END;
CREATE TRIGGER backups_update_event AFTER UPDATE OF state, deleted ON backups
WHEN OLD.state IS NOT NEW.state OR OLD.deleted IS NOT NEW.deleted BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'backup', id, facts
    FROM backup_event_facts WHERE id = NEW.id;
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'instance', id, facts
    FROM instance_event_facts WHERE id = NEW.instance_id;
END;
CREATE TRIGGER flows_insert_event AFTER INSERT ON flows BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'flow', target_id, facts
    FROM flow_event_facts WHERE id = NEW.id;
END;
CREATE TRIGGER flows_update_event AFTER UPDATE OF step, status ON flows
WHEN OLD.step IS NOT NEW.step OR OLD.status IS NOT NEW.status BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER), project_id, 'flow', target_id, facts
    FROM flow_event_facts WHERE id = NEW.id;
END;

CREATE TRIGGER supervision_events_insert_event AFTER INSERT ON supervision_events BEGIN
    INSERT INTO events (at, project_id, kind, target_id, facts)
    VALUES (NEW.at, NULL, 'supervision', NEW.actor_id,
            json_object('actor_kind', NEW.kind, 'event', NEW.event, 'reason', NEW.reason,
                        'node_id', NEW.node_id, 'service_id', NEW.service_id));
END;
