//! SSH key pairs for Git repositories whose configuration gave no private key: the agent makes one, keeps it as
//! long as the configuration exists, and reports its public half (`repositoryPublicKey`) for the user to add as
//! a deploy key.

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use crate::state::SshKeyPair;

pub fn generate(comment: &str) -> anyhow::Result<SshKeyPair> {
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
    key.set_comment(comment);
    Ok(SshKeyPair {
        private_openssh: key.to_openssh(LineEnding::LF)?.to_string(),
        public_openssh: key.public_key().to_openssh()?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_an_openssh_pair() {
        let pair = super::generate("flux-config").unwrap();
        assert!(pair.public_openssh.starts_with("ssh-ed25519 AAAA"));
        assert!(
            pair.private_openssh
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
    }
}
