DROP TABLE quota_usages;
DROP TABLE quotas;
DROP TABLE tokens;
DROP TABLE role_assignments;
DROP TABLE users;
DROP TABLE projects;
