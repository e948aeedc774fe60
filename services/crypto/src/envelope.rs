//! Sealed bytes: `[format: 1][data key id: 4, big-endian][nonce: 12][ciphertext and tag]`.
//! The data key id is in clear so a reader knows which key opens them; the associated data (the resource's
//! identity and generation) is not stored: the reader supplies it, so bytes moved to another record do not open.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 12;
const TAG: usize = 16;

/// Which data key sealed some bytes.
pub type DataKeyId = u32;

/// A 256-bit data-encryption key, wiped from memory when dropped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> Self {
        let key = Key::<Aes256Gcm>::generate();
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        DataKey(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(array)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not sealed bytes of a known format")]
    Malformed,
    /// The bytes were changed, belong to another record, or the key is not theirs.
    #[error("the sealed bytes do not authenticate")]
    Tampered,
}

/// Seals `plaintext` under `key` (known as `key_id`), bound to `aad`.
pub fn seal(key_id: DataKeyId, key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = Nonce::<Aes256Gcm>::generate();
    let ciphertext = key
        .cipher()
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .expect("AES-GCM sealing does not fail");
    let mut out = Vec::with_capacity(HEADER + NONCE + ciphertext.len());
    out.push(FORMAT);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

/// The id of the data key that sealed `sealed`, read from its header.
pub fn sealed_key_id(sealed: &[u8]) -> Option<DataKeyId> {
    if sealed.len() < HEADER + NONCE + TAG || sealed[0] != FORMAT {
        return None;
    }
    Some(u32::from_be_bytes(
        sealed[1..HEADER].try_into().expect("four bytes"),
    ))
}

/// Opens bytes sealed by `seal` with the same key and associated data.
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    sealed_key_id(sealed).ok_or(OpenError::Malformed)?;
    let (nonce, ciphertext) = sealed[HEADER..].split_at(NONCE);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| OpenError::Malformed)?;
    key.cipher()
        .decrypt(&nonce, Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = DataKey::generate();
        let sealed = seal(7, &key, b"resource a gen 1", b"the spec");
        assert_eq!(sealed_key_id(&sealed), Some(7));
        assert_eq!(
            open(&key, b"resource a gen 1", &sealed).unwrap().as_slice(),
            b"the spec"
        );
        assert_eq!(
            open(&key, b"resource b gen 1", &sealed),
            Err(OpenError::Tampered),
            "moved to another record"
        );
        assert_eq!(
            open(&key, b"resource a gen 2", &sealed),
            Err(OpenError::Tampered),
            "replayed into another generation"
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&key, b"resource a gen 1", &flipped),
            Err(OpenError::Tampered)
        );
        assert_eq!(
            open(&DataKey::generate(), b"resource a gen 1", &sealed),
            Err(OpenError::Tampered)
        );
        assert_eq!(open(&key, b"x", b"plain json"), Err(OpenError::Malformed));
        assert!(
            !sealed.windows(8).any(|w| w == b"the spec"),
            "the plaintext is not in the sealed bytes"
        );
    }

    #[test]
    fn keys_do_not_print() {
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey(<redacted>)");
    }
}
