-- Data-encryption keys, wrapped by a key-encryption key (see services/crypto).
CREATE TABLE data_keys (
    id          BIGINT PRIMARY KEY,
    provider    TEXT NOT NULL,
    kek_version TEXT NOT NULL,
    wrapped     BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    etag        TEXT NOT NULL
);
