DROP TABLE guest_keys;
