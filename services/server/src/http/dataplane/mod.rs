//! The agent data plane: pull only. Each agent reads its own cluster's desired state and reports back.

pub mod desired_state;
pub mod status;
