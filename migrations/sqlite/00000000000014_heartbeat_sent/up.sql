-- A heartbeat's stale check and its status are one conditional UPDATE of the instance's
-- service_statuses row (Trove writes conductor_lastseen and service_statuses: two writes per
-- heartbeat). `heartbeat_sent` is the `sent` of the newest heartbeat applied.
ALTER TABLE service_statuses ADD COLUMN heartbeat_sent REAL NOT NULL DEFAULT 0;
UPDATE service_statuses SET heartbeat_sent = COALESCE(
    (SELECT l.sent FROM conductor_lastseen l
     WHERE l.instance_id = service_statuses.instance_id AND l.method_name = 'heartbeat'),
    0);
-- Heartbeats were its only method (backup reports are checked on the backup row).
DROP TABLE conductor_lastseen;
