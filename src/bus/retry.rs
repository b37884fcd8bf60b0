//! Retrying what failed: the back-off shared by the transports' reconnects and the actors'
//! restarts.

/// Back-off before retrying after `failures` consecutive failures: `base`, doubling, at most
/// 30 s.
pub fn backoff(base: std::time::Duration, failures: u32) -> std::time::Duration {
    if failures == 0 {
        return std::time::Duration::ZERO;
    }
    let ms = (base.as_millis() as u64).saturating_mul(1u64 << failures.min(16).saturating_sub(1));
    std::time::Duration::from_millis(ms.min(30_000))
}
