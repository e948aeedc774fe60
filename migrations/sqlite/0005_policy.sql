-- Azure Policy at scale: what the cluster inventory knows of each cluster, the policy definitions,
-- assignments and remediations (beside the clusters: one assignment covers many), and each cluster's
-- compliance with each assignment (in the cluster's partition, keyed by the cluster like everything of it).

-- JSON: `location` and `tags` of the cluster as an Azure resource, imported from Azure Resource Graph.
ALTER TABLE clusters ADD COLUMN inventory TEXT;

CREATE TABLE policy_records (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    scope      TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    etag       TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX policy_records_by_scope ON policy_records (kind, scope, id);

CREATE TABLE policy_states (
    cluster      TEXT NOT NULL,
    assignment   TEXT NOT NULL,
    compliance   TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    body         TEXT NOT NULL,
    etag         TEXT NOT NULL,
    PRIMARY KEY (cluster, assignment)
);
CREATE INDEX policy_states_by_assignment ON policy_states (assignment, cluster);
