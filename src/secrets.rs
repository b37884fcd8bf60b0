//! Secrets at rest: passwords sealed under the master key (ChaCha20-Poly1305), so that flow
//! state, the database and logs never hold one in the clear, and random credentials.
//!
//! The master key comes from `[secrets] master_key_file` (32 bytes, base64); when the file does
//! not exist coffer creates it with mode 0600. Every node of a deployment must share it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;

/// Why a secret could not be loaded or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("a sealed secret does not open with this master key")]
    Tampered,
}

/// The key every secret is sealed under.
pub struct MasterKey {
    cipher: ChaCha20Poly1305,
    /// SHA-256 of the key (hex, first 16 bytes): every process of a deployment must show the same.
    fingerprint: String,
}

fn fingerprint_of(key: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is not something coffer can work around.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

impl MasterKey {
    /// Reads the key file, creating it (0600) with a fresh random key when it does not exist.
    /// Processes starting together on one host agree on one key: only the first one's is
    /// put in place (see [`crate::files::write_new`]).
    pub fn load_or_create(path: &Path) -> Result<MasterKey, SecretError> {
        let fail = |reason: String| SecretError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::files::create_dirs(dir, 0o700).map_err(|e| fail(e.to_string()))?;
            }
            let key: [u8; 32] = random_bytes();
            let text = format!("{}\n", B64.encode(key));
            match crate::files::write_new(path, text.as_bytes(), 0o600) {
                Ok(true) => {
                    tracing::info!(secrets.master_key_file = %path.display(), "created a new master key")
                }
                Ok(false) => {} // another process's
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        Self::load(path)
    }

    /// Reads the key file, waiting up to `wait` for it to appear (a process started before the
    /// one that creates it, or before an operator copied it to this host).
    pub async fn load_waiting(path: &Path, wait: std::time::Duration) -> Result<MasterKey, SecretError> {
        let deadline = std::time::Instant::now() + wait;
        let mut told = false;
        while !path.exists() && std::time::Instant::now() < deadline {
            if !told {
                tracing::warn!(
                    secrets.master_key_file = %path.display(),
                    "waiting up to {wait:?} for the master key at {}: the first coffer api, conductor or taskmanager \
                     started on this host creates it; on other hosts copy it there",
                    path.display()
                );
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Self::load(path)
    }

    /// The key's fingerprint, to check that every process of a deployment shares one key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Reads an existing key file (a process that must share the deployment's key never makes
    /// one of its own).
    pub fn load(path: &Path) -> Result<MasterKey, SecretError> {
        let fail = |reason: String| SecretError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let key = B64.decode(text.trim()).map_err(|e| fail(format!("not base64: {e}")))?;
        if key.len() != 32 {
            return Err(fail(format!("expected 32 bytes, found {}", key.len())));
        }
        Ok(MasterKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            fingerprint: fingerprint_of(&key),
        })
    }

    /// A key from its 32 bytes (a guest's keys are derived from its instance key).
    pub fn from_bytes(key: &[u8; 32]) -> MasterKey {
        MasterKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            fingerprint: fingerprint_of(key),
        }
    }

    /// Seals `plaintext`: base64 of a random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce: [u8; 12] = random_bytes();
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("ChaCha20-Poly1305 encryption");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        B64.encode(out)
    }

    /// Opens what [`seal`](Self::seal) made.
    /// [`MasterKey::seal`], as a value that says what it is.
    pub fn seal_secret(&self, plaintext: &str) -> Sealed {
        Sealed(self.seal(plaintext))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let bytes = B64.decode(sealed).map_err(|_| SecretError::Tampered)?;
        if bytes.len() < 12 {
            return Err(SecretError::Tampered);
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(plain).map_err(|_| SecretError::Tampered)
    }
}

/// A random password of `len` letters and digits.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes: [u8; 64] = random_bytes();
    bytes
        .iter()
        .cycle()
        .take(len)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A secret sealed under the master key (base64), as stored in flow state: it can only be
/// opened with the key, never read or logged by mistake as the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    pub fn open(&self, key: &MasterKey) -> Result<String, SecretError> {
        key.open(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_detects_tampering() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/master.key");
        let key = MasterKey::load_or_create(&path).expect("created");
        let mode = std::fs::metadata(&path).expect("meta").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        let sealed = key.seal("s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open(&sealed).expect("opens"), "s3cret");
        let again = MasterKey::load_or_create(&path).expect("loaded");
        assert_eq!(again.open(&sealed).expect("same key"), "s3cret");
        let mut bad = sealed.into_bytes();
        bad[20] ^= 1;
        assert!(key.open(&String::from_utf8_lossy(&bad)).is_err());
        assert_eq!(random_password(20).len(), 20);
    }
}
