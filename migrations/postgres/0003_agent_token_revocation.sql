-- Agent tokens of a cluster issued before this time (milliseconds since the epoch) are refused: revocation
-- per cluster (`clusterconfig token revoke --cluster ...`).
ALTER TABLE clusters ADD COLUMN agent_tokens_not_before BIGINT;
