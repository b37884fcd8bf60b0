//! Coalesced acknowledgements for a consumer that takes its deliveries in batches (the
//! conductor): one `basic.ack` with `multiple` for every run of settled deliveries, instead of
//! a frame (and a task) per message.
//!
//! A `multiple` ack of tag T settles every delivery of the channel up to T that is still
//! outstanding, so it is sent only once every lower tag is settled, and every settlement of one
//! consumer goes out through one task, in the order decided here: a requeue or a reject is on
//! the wire before the ack that passes over its tag, and no tag is ever settled twice (that
//! would close the channel). A delivery left unsettled holds back the acks of later ones, so
//! only a consumer that settles each delivery of a batch soon uses this (the conductor settles
//! a batch before it takes the batch after next).

use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::Acker;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Frames this process sent to settle coalesced consumers' deliveries (acks, requeues, rejects).
static FRAMES_SENT: AtomicU64 = AtomicU64::new(0);

/// How many frames settled the deliveries of consumers whose acks are coalesced, so far.
pub fn frames_sent() -> u64 {
    FRAMES_SENT.load(Ordering::Relaxed)
}

/// How one delivery is settled.
enum Settle {
    /// Acknowledged, with every outstanding delivery up to it when `multiple`.
    Ack { multiple: bool },
    /// Handed back to the queue.
    Requeue,
    /// Dropped (malformed).
    Reject,
}

async fn settle_on_the_wire(acker: &Acker, settle: Settle) -> Result<bool, lapin::Error> {
    FRAMES_SENT.fetch_add(1, Ordering::Relaxed);
    match settle {
        Settle::Ack { multiple } => acker.ack(BasicAckOptions { multiple }).await,
        Settle::Requeue => {
            let options = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            acker.nack(options).await
        }
        Settle::Reject => acker.reject(BasicRejectOptions::default()).await,
    }
}

/// The deliveries of one consumer (one channel) not yet settled on the wire, by tag.
pub(in crate::bus) struct AckLedger {
    /// Each delivered tag: `None` until settled; `Some` once acknowledged here but held back by
    /// a lower tag still open.
    open: Mutex<BTreeMap<u64, Option<Acker>>>,
    wire: mpsc::UnboundedSender<(Acker, Settle)>,
}

impl AckLedger {
    /// A ledger for a new consumer, with the task that sends its settlements in order.
    pub(in crate::bus) fn start(topic: &str) -> Arc<AckLedger> {
        let (wire, mut queue) = mpsc::unbounded_channel::<(Acker, Settle)>();
        let topic = topic.to_string();
        tokio::spawn(async move {
            // A `multiple` ack covers the ones queued before it: of a run of them, only the
            // last goes out (the batch's acks, queued together, make one frame).
            let mut carried = None;
            loop {
                let (mut acker, settle) = match carried.take() {
                    Some(item) => item,
                    None => match queue.recv().await {
                        Some(item) => item,
                        None => return,
                    },
                };
                if matches!(settle, Settle::Ack { multiple: true }) {
                    while let Ok(item) = queue.try_recv() {
                        match item {
                            (later, Settle::Ack { multiple: true }) => acker = later,
                            other => {
                                carried = Some(other);
                                break;
                            }
                        }
                    }
                }
                if let Err(e) = settle_on_the_wire(&acker, settle).await {
                    // The channel is gone: what it did not settle comes back on a new one.
                    crate::telemetry::warn_limited(
                        "amqp ack",
                        &format!("amqp: settling deliveries of {topic} failed (they come back): {e}"),
                    );
                }
            }
        });
        Arc::new(AckLedger {
            open: Mutex::new(BTreeMap::new()),
            wire,
        })
    }

    /// A delivery was handed to the subscriber.
    pub(in crate::bus) fn delivered(&self, tag: u64) {
        self.open.lock().insert(tag, None);
    }

    /// Acknowledges `tag`: with every open tag below it settled, one `multiple` ack goes out for
    /// the whole run of acknowledged tags from the lowest.
    pub(in crate::bus) fn ack(&self, tag: u64, acker: Acker) {
        let mut open = self.open.lock();
        match open.get_mut(&tag) {
            Some(slot) => *slot = Some(acker),
            // Not open: it was settled already, and settling it again would close the channel.
            None => return tracing::warn!(delivery.tag = tag, "amqp: a delivery settled twice; ignored"),
        }
        self.release(&mut open);
    }

    /// Hands `tag` back to the queue (not handled), or drops it when `reject` (malformed).
    pub(in crate::bus) fn give_back(&self, tag: u64, acker: Acker, reject: bool) {
        let mut open = self.open.lock();
        open.remove(&tag);
        self.send(acker, if reject { Settle::Reject } else { Settle::Requeue });
        self.release(&mut open);
    }

    /// Sends one `multiple` ack for the run of acknowledged tags at the bottom of the ledger.
    /// Called under the lock, so the wire sees settlements in the order decided.
    fn release(&self, open: &mut BTreeMap<u64, Option<Acker>>) {
        let mut highest = None;
        while let Some(entry) = open.first_entry() {
            if entry.get().is_none() {
                break;
            }
            highest = entry.remove();
        }
        if let Some(acker) = highest {
            self.send(acker, Settle::Ack { multiple: true });
        }
    }

    fn send(&self, acker: Acker, settle: Settle) {
        // Closed only when the runtime is shutting down: the broker hands the message back.
        let _ = self.wire.send((acker, settle));
    }
}
