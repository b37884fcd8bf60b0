DROP INDEX instances_admin_listing;
