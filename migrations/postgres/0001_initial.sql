-- One partition per cluster: every table is keyed by the cluster's lowercase resource id.
-- Times are milliseconds since the Unix epoch. Bodies are sealed by the application (services/crypto).

CREATE TABLE clusters (
    cluster      TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    version      BIGINT NOT NULL,
    agent        TEXT,
    last_contact BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX clusters_by_subscription ON clusters (subscription);

CREATE TABLE resources (
    cluster    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    generation BIGINT NOT NULL,
    state      TEXT NOT NULL,
    deleting   BOOLEAN NOT NULL,
    body       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    etag       TEXT NOT NULL,
    PRIMARY KEY (cluster, kind, name)
);

CREATE TABLE secrets (
    cluster    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    grp        TEXT NOT NULL,
    generation BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body       BYTEA NOT NULL,
    PRIMARY KEY (cluster, kind, name, grp)
);
CREATE INDEX secrets_by_expiry ON secrets (expires_at);

CREATE TABLE operations (
    cluster    TEXT NOT NULL,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    action     TEXT NOT NULL,
    generation BIGINT NOT NULL,
    status     TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    deadline   BIGINT NOT NULL,
    error      TEXT,
    expires_at BIGINT,
    etag       TEXT NOT NULL,
    PRIMARY KEY (cluster, id)
);
CREATE INDEX operations_running_by_deadline ON operations (deadline) WHERE ended_at IS NULL;
CREATE INDEX operations_by_expiry ON operations (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE subscriptions (
    subscription TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    body         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
