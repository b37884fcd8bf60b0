-- The API request that recorded a flow (X-Openstack-Request-Id), carried by its steps' logs and messages.
ALTER TABLE flows ADD COLUMN request_id TEXT;
