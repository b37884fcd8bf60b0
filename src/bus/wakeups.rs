//! In-process wake-ups from the conductor to the flows waiting on an instance's status.
//!
//! A flow step that waits (for a healthy heartbeat, say) registers here and sleeps until either
//! its poll interval passes or the conductor has applied a new status for that instance —
//! so an instance goes ACTIVE as soon as its heartbeat lands, without a thousand flows polling
//! the database. When the conductor runs in another process the poll interval still applies.
//! Not an actor: a notification must never wait on a mailbox.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Wakeups {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    /// The signal for `instance_id`, created on first use by the waiting flow.
    pub fn listen(&self, instance_id: &str) -> Arc<Notify> {
        self.waiting.lock().entry(instance_id.to_string()).or_default().clone()
    }

    /// Wakes the flow waiting on `instance_id`, if one is registered (a wake-up sent while
    /// it is busy is kept until it next waits).
    pub fn wake(&self, instance_id: &str) {
        if let Some(notify) = self.waiting.lock().get(instance_id) {
            notify.notify_one();
        }
    }

    /// Forgets `instance_id` (its actor stopped).
    pub fn forget(&self, instance_id: &str) {
        self.waiting.lock().remove(instance_id);
    }
}
