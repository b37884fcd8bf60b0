-- The admin list (every project's instances, newest first) reads pages in this order, so a page
-- stops at its LIMIT instead of sorting every live instance.
CREATE INDEX instances_admin_listing ON instances (deleted, created, id);
