-- The network a create named in nics (net-id / network_id), echoed in addresses[].network.
ALTER TABLE instances ADD COLUMN network_id TEXT;
