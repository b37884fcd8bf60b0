CREATE TABLE conductor_lastseen (
    instance_id TEXT NOT NULL,
    method_name TEXT NOT NULL,
    sent DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (instance_id, method_name)
);
INSERT INTO conductor_lastseen (instance_id, method_name, sent)
    SELECT instance_id, 'heartbeat', heartbeat_sent FROM service_statuses;
ALTER TABLE service_statuses DROP COLUMN heartbeat_sent;
