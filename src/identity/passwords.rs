//! Password hashes (argon2id) and their verification under a bound: at most one verification per
//! CPU core runs at a time ([`PasswordChecker`]), each in argon2 working memory taken from a
//! small pool and handed back, so a flood of logins neither allocates ~19 MiB per attempt nor
//! queues up work — a check that finds no free slot is refused at once (the API answers 429).

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use parking_lot::Mutex;
use std::sync::{Arc, OnceLock};

/// The largest argon2 memory (KiB) a stored hash may ask for; coffer's own use the default 19 MiB.
const MAX_M_COST_KIB: u32 = 64 * 1024;

/// Hashes a password (argon2id, the crate's default parameters, a random salt).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    // The OS random source failing is not something coffer can work around.
    getrandom::fill(&mut salt).expect("the operating system's random source is unavailable");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode as a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// A hash of nothing anyone knows, checked when the user does not exist, so an unknown user
/// costs as much as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::secrets::random_password(32)))
}

/// Checks `password` against the PHC string `hash` in `memory` (grown to the hash's size once).
pub fn verify_in(password: &str, hash: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST_KIB {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// Why a password could not be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Verifies passwords off the async threads, at most `slots` at a time.
pub struct PasswordChecker {
    slots: Arc<tokio::sync::Semaphore>,
    /// argon2 working memory, one buffer per slot ever used, reused by every check.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    checks: std::sync::atomic::AtomicU64,
}

impl PasswordChecker {
    /// `slots` concurrent checks; 0 means one per CPU core.
    pub fn new(slots: usize) -> PasswordChecker {
        let slots = match slots {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        PasswordChecker {
            slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            memory: Arc::default(),
            checks: Default::default(),
        }
    }

    /// A slot for one check, or `Busy` when every slot is taken.
    pub fn reserve(&self) -> Result<CheckSlot, Busy> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().map_err(|_| Busy)?;
        Ok(CheckSlot {
            _permit: permit,
            memory: Arc::clone(&self.memory),
        })
    }

    /// Password checks run so far (for `/metrics` and the tests).
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks `password` against `hash` in the reserved slot.
    pub async fn verify(&self, slot: CheckSlot, password: String, hash: String) -> bool {
        self.checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::spawn_blocking(move || slot.verify(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

/// The right to run one check now; given back when dropped.
pub struct CheckSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl CheckSlot {
    fn verify(&self, password: &str, hash: &str) -> bool {
        let mut memory = self.memory.lock().pop().unwrap_or_default();
        let ok = verify_in(password, hash, &mut memory);
        self.memory.lock().push(memory);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_in_reused_memory() {
        let hash = hash_password("pw");
        assert!(hash.starts_with("$argon2id$"));
        let mut memory = Vec::new();
        assert!(verify_in("pw", &hash, &mut memory));
        let grown = memory.len();
        assert!(!verify_in("other", &hash, &mut memory));
        assert!(!verify_in("pw", dummy_hash(), &mut memory));
        assert_eq!(memory.len(), grown, "the same memory serves every check");
        assert!(!verify_in("pw", "not a hash", &mut memory));
    }

    #[actix_web::test]
    async fn a_full_checker_refuses_at_once() {
        let checker = PasswordChecker::new(1);
        let slot = checker.reserve().expect("a free slot");
        assert_eq!(checker.reserve().err(), Some(Busy));
        assert!(checker.verify(slot, "pw".into(), hash_password("pw")).await);
        assert!(checker.reserve().is_ok(), "the slot came back");
        assert_eq!(checker.checks(), 1);
    }
}
