DROP TABLE backup_schedules;
DROP TABLE backups;
