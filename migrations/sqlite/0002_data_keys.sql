-- Data-encryption keys, wrapped by a key-encryption key (see services/crypto). Resource data names the key that
-- sealed it; a key stays as long as anything sealed with it may remain.
CREATE TABLE data_keys (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    kek_version TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    etag        TEXT NOT NULL
);
