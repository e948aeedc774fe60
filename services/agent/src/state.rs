//! What the agent remembers between runs (the cluster side of things): the version it last applied, which
//! generations it reported, its copy of each secret group, the SSH keys it made, and the files it rendered.
//! Written atomically, readable by its owner only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    pub version: Option<u64>,
    /// `flux/{name}` or `extension/{name}` → the last generation reported.
    pub reported: BTreeMap<String, u64>,
    /// `flux/{name}/{group}` → the cluster's copy of a secret group.
    pub secrets: BTreeMap<String, SecretCopy>,
    /// fluxConfiguration name → the SSH key pair made for it.
    pub ssh_keys: BTreeMap<String, SshKeyPair>,
    /// Files this agent wrote in the render directory, by the resource (`flux/{name}`, `extension/{name}`) they
    /// belong to. A file several resources share (a namespace) is listed under each.
    pub rendered: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct SecretCopy {
    pub generation: u64,
    pub values: BTreeMap<String, String>,
}

impl fmt::Debug for SecretCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCopy")
            .field("generation", &self.generation)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshKeyPair {
    pub private_openssh: String,
    pub public_openssh: String,
}

impl fmt::Debug for SshKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshKeyPair")
            .field("public_openssh", &self.public_openssh)
            .finish_non_exhaustive()
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join("agent-state.json")
}

impl AgentState {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path(dir)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err.into()),
        }
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_private(&path(dir), &serde_json::to_vec_pretty(self)?)
    }
}

/// Writes a file readable by its owner only (0600), atomically: a temporary file beside it, synced, then renamed
/// over it, so a crash leaves the old content or the new, never a part.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
