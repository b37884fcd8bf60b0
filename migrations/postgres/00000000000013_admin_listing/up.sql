-- The admin list (every project's instances, newest first) reads pages in this order, so a page
-- stops at its LIMIT instead of sorting every live instance.
CREATE INDEX instances_admin_listing ON instances (deleted, created, id);
-- A list row's "has live replicas" probe matches both columns here; on the old one-column index
-- the planner could prefer the index above and scan every live instance for each row.
DROP INDEX instances_slave_of_id;
CREATE INDEX instances_slave_of_id ON instances (slave_of_id, deleted);
