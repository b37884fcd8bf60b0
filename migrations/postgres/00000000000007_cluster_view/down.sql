DROP TABLE deployment_facts;
DROP TABLE cluster_leases;
DROP TABLE supervision_events;
DROP TABLE services;
