-- Keys of secret periods: sealed secret groups expire with their period, and the key (with its own
-- key-encryption key, in the key provider) is destroyed at this time (milliseconds since the epoch), so that no
-- copy a store keeps of what it sealed can be opened afterwards. NULL for data keys, which live on.
ALTER TABLE data_keys ADD COLUMN destroy_at BIGINT;
