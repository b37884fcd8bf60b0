//! The brake on password guessing: each login attempt is charged to its keys (the resolved
//! user — name and id are one key — and the client address) *before* its password is checked,
//! in one step with the check of the allowance, so concurrent guesses cannot slip past it. A
//! failed attempt stays charged for the window; a successful one is refunded. Keys are fixed-size
//! digests and the map holds a bounded number of them, so a flood of odd names costs nothing.

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A key attempts are counted under: a digest, whatever the name's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrakeKey([u8; 16]);

impl BrakeKey {
    fn of(kind: &str, value: &str) -> BrakeKey {
        let digest = Sha256::new()
            .chain_update(kind.as_bytes())
            .chain_update([0u8])
            .chain_update(value.as_bytes())
            .finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        BrakeKey(key)
    }

    /// An existing user, by id (whether the login named it by name or by id).
    pub fn user(user_id: &str) -> BrakeKey {
        Self::of("user", user_id)
    }

    /// A user that does not exist, by the name or id the login gave.
    pub fn unknown_user(given: &str) -> BrakeKey {
        Self::of("unknown", given)
    }

    /// A client address.
    pub fn address(ip: &str) -> BrakeKey {
        Self::of("addr", ip)
    }
}

struct Attempts {
    times: VecDeque<Instant>,
    last: Instant,
}

/// Counts login attempts per key within a window.
pub struct LoginBrake {
    window: Duration,
    max_keys: usize,
    seen: Mutex<HashMap<BrakeKey, Attempts>>,
}

impl LoginBrake {
    /// Remembers at most `max_keys` keys (the longest idle ones are forgotten first).
    pub fn new(window: Duration, max_keys: usize) -> LoginBrake {
        LoginBrake {
            window,
            max_keys: max_keys.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has fewer than `allowance` attempts charged within the window.
    pub fn allows(&self, key: BrakeKey, allowance: usize) -> bool {
        let mut seen = self.seen.lock();
        match seen.get_mut(&key) {
            Some(entry) => {
                Self::prune(&mut entry.times, self.window);
                entry.times.len() < allowance
            }
            None => allowance > 0,
        }
    }

    /// Charges one attempt to `key` if it has fewer than `allowance` within the window —
    /// checked and counted under one lock. False: refused, nothing charged.
    pub fn charge(&self, key: BrakeKey, allowance: usize) -> bool {
        let mut seen = self.seen.lock();
        let now = Instant::now();
        if !seen.contains_key(&key) && seen.len() >= self.max_keys {
            self.make_room(&mut seen);
        }
        let entry = seen.entry(key).or_insert_with(|| Attempts {
            times: VecDeque::new(),
            last: now,
        });
        Self::prune(&mut entry.times, self.window);
        entry.last = now;
        if entry.times.len() >= allowance {
            return false;
        }
        entry.times.push_back(now);
        true
    }

    /// Takes back the newest attempt charged to `key` (it was not a failure).
    pub fn refund(&self, key: BrakeKey) {
        let mut seen = self.seen.lock();
        if let Some(entry) = seen.get_mut(&key) {
            entry.times.pop_back();
            if entry.times.is_empty() {
                seen.remove(&key);
            }
        }
    }

    /// Forgets every attempt of `key` (a successful login of that user).
    pub fn clear(&self, key: BrakeKey) {
        self.seen.lock().remove(&key);
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn prune(times: &mut VecDeque<Instant>, window: Duration) {
        while times.front().is_some_and(|t| t.elapsed() >= window) {
            times.pop_front();
        }
    }

    /// Drops the keys whose window has passed; if none has, the longest idle one.
    fn make_room(&self, seen: &mut HashMap<BrakeKey, Attempts>) {
        let window = self.window;
        seen.retain(|_, a| {
            Self::prune(&mut a.times, window);
            !a.times.is_empty()
        });
        if seen.len() >= self.max_keys {
            if let Some(idle) = seen.iter().min_by_key(|(_, a)| a.last).map(|(k, _)| *k) {
                seen.remove(&idle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_refunds_and_stays_bounded() {
        let brake = LoginBrake::new(Duration::from_secs(60), 3);
        let alice = BrakeKey::user("alice-id");
        assert!(brake.charge(alice, 2));
        assert!(brake.charge(alice, 2));
        assert!(!brake.charge(alice, 2), "the third attempt is over the allowance");
        assert!(!brake.allows(alice, 2));
        brake.refund(alice);
        assert!(brake.allows(alice, 2));
        brake.clear(alice);
        assert!(brake.is_empty());
        for i in 0..100 {
            brake.charge(BrakeKey::unknown_user(&"x".repeat(i * 1000)), 10);
        }
        assert_eq!(brake.len(), 3, "at most max_keys keys");
        assert_ne!(BrakeKey::user("a"), BrakeKey::unknown_user("a"));
    }
}
