//! The in-process transport: one MPMC queue per topic (consumers compete for messages), replies
//! routed by correlation id. A delivery dropped without an acknowledgement is queued again,
//! which gives the same at-least-once contract as RabbitMQ with manual acks.
//!
//! A queue is a locked `VecDeque` with a wake-up for its consumers: an idle guest's queue costs
//! about 230 bytes (a channel with lock-free blocks cost ~1.3 KiB once it had held a message), so
//! a hundred thousand guests fit. The bound is a semaphore of `capacity` permits: a cast takes
//! one, a consumer taking the message gives it back, and a cast to a full queue waits
//! (back-pressure).

use super::replies::{PendingReplies, Reply};
use super::{BusError, Delivery, Envelope, Subscription};
use futures::StreamExt;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// The slots an idle queue keeps of the buffer a burst grew (16 bytes each: a pointer and a flag).
const IDLE_SLOTS: usize = 4;

/// An envelope (boxed at the cast, or when a delivery is put back, so that it moves as a pointer
/// from the sender to the consumer's delivery), and whether it is being delivered again.
type Item = (Box<Envelope>, bool);

/// One topic's queue, shared by its senders and its competing consumers.
struct Queue {
    pending: Mutex<Pending>,
    /// Wakes one waiting consumer per message queued, or all of them when the queue closes.
    arrived: Notify,
    space: Semaphore,
}

/// What a queue holds, and whether its topic was deleted.
#[derive(Default)]
struct Pending {
    /// A burst's buffer holds pointers and flags, not envelopes (and a queue drained empty
    /// shrinks back to `IDLE_SLOTS` slots).
    items: VecDeque<Item>,
    closed: bool,
}

impl Queue {
    fn new(capacity: usize) -> Queue {
        Queue {
            pending: Mutex::default(),
            arrived: Notify::new(),
            space: Semaphore::new(capacity),
        }
    }

    /// Queues `item` unless the queue was closed (its topic deleted).
    fn push(&self, item: Item) -> Result<(), BusError> {
        {
            let mut pending = self.pending.lock();
            if pending.closed {
                return Err(BusError::Closed);
            }
            pending.items.push_back(item);
        }
        self.arrived.notify_one();
        Ok(())
    }

    /// The next message, waiting for one; `None` once the queue is closed.
    async fn next(&self) -> Option<Item> {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so a message queued in between still wakes it.
            arrived.as_mut().enable();
            {
                let mut pending = self.pending.lock();
                if let Some(item) = pending.items.pop_front() {
                    if pending.items.is_empty() && pending.items.capacity() > IDLE_SLOTS {
                        // A burst's buffer is not kept by an idle queue.
                        pending.items.shrink_to(IDLE_SLOTS);
                    }
                    return Some(item);
                }
                if pending.closed {
                    return None;
                }
            }
            arrived.await;
        }
    }

    /// Closes the queue and drops what it holds, as a broker deleting a queue does.
    /// Its messages are returned, to be dropped once no lock is held.
    fn close(&self) -> VecDeque<Item> {
        let dropped = {
            let mut pending = self.pending.lock();
            pending.closed = true;
            std::mem::take(&mut pending.items)
        };
        self.space.close();
        self.arrived.notify_waiters();
        dropped
    }
}

pub struct MemoryBus {
    capacity: usize,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    replies: PendingReplies,
}

/// Lets a delivery acknowledge, reply, or put itself back.
pub(super) struct AckHandle {
    bus: Arc<MemoryBus>,
    queue: Arc<Queue>,
}

impl AckHandle {
    pub(super) fn reply(self, envelope: &Envelope, result: Reply) {
        if let Some(id) = &envelope.correlation_id {
            self.bus.replies.answer(id, result);
        }
    }

    pub(super) fn requeue(self, envelope: Box<Envelope>) {
        // A redelivery may briefly exceed the bound; a closed queue means the topic was deleted.
        let _ = self.queue.push((envelope, true));
    }
}

impl MemoryBus {
    pub fn new(capacity: usize) -> MemoryBus {
        MemoryBus {
            capacity: capacity.max(1),
            queues: Mutex::new(HashMap::new()),
            replies: PendingReplies::default(),
        }
    }

    /// The topic's queue, created on first use (so a guest's queue holds messages sent before
    /// the guest subscribed, as Trove pre-creates it).
    fn queue(&self, topic: &str) -> Arc<Queue> {
        let mut queues = self.queues.lock();
        if let Some(queue) = queues.get(topic) {
            return Arc::clone(queue);
        }
        let queue = Arc::new(Queue::new(self.capacity));
        queues.insert(topic.to_string(), Arc::clone(&queue));
        queue
    }

    pub async fn cast(&self, topic: &str, envelope: Envelope) -> Result<(), BusError> {
        let queue = self.queue(topic);
        let permit = queue.space.acquire().await.map_err(|_| BusError::Closed)?;
        permit.forget();
        queue.push((Box::new(envelope), false))
    }

    pub async fn call(
        &self,
        topic: &str,
        envelope: Envelope,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        let send = |envelope| self.cast(topic, envelope);
        self.replies.call("memory".into(), topic, envelope, timeout, send).await
    }

    pub fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let consumer = (Arc::clone(self), self.queue(topic));
        let deliveries = futures::stream::unfold(consumer, |(bus, queue)| async move {
            let (envelope, redelivered) = queue.next().await?;
            if !redelivered {
                queue.space.add_permits(1);
            }
            let handle = AckHandle {
                bus: Arc::clone(&bus),
                queue: Arc::clone(&queue),
            };
            Some((Delivery::from_memory(envelope, redelivered, handle), (bus, queue)))
        });
        // Fused: a consumer may ask again after the end (a deleted topic), as of any stream.
        Box::pin(deliveries.fuse())
    }

    pub fn delete_topic(&self, topic: &str) {
        let removed = self.queues.lock().remove(topic);
        if let Some(queue) = removed {
            drop(queue.close());
        }
    }

    pub fn depth(&self, topic: &str) -> usize {
        self.queues
            .lock()
            .get(topic)
            .map(|q| q.pending.lock().items.len())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn numbered(n: i64) -> Envelope {
        Envelope::new("n", serde_json::json!(n))
    }

    /// Consumers compete (each message goes to one), an unacknowledged delivery comes again
    /// marked as such, a full queue holds its sender back until a consumer takes a message, and
    /// deleting the topic ends its consumers.
    #[tokio::test]
    async fn queues_hand_out_requeue_bound_and_close() {
        let bus = Arc::new(MemoryBus::new(2));
        let (mut first, mut second) = (bus.subscribe("t"), bus.subscribe("t"));
        bus.cast("t", numbered(1)).await.expect("cast");
        bus.cast("t", numbered(2)).await.expect("cast");
        let full = tokio::time::timeout(Duration::from_millis(100), bus.cast("t", numbered(3))).await;
        assert!(full.is_err(), "a third message waits for room");
        let a = first.next().await.expect("one");
        let b = second.next().await.expect("another");
        assert_eq!(
            (a.envelope.args.clone(), b.envelope.args.clone()),
            (serde_json::json!(1), serde_json::json!(2))
        );
        assert_eq!(bus.depth("t"), 0);
        a.ack();
        drop(b); // not acknowledged: queued again
        let again = first.next().await.expect("redelivered");
        assert!(again.redelivered);
        assert_eq!(again.envelope.args, serde_json::json!(2));
        again.ack();
        bus.cast("t", numbered(3)).await.expect("room again");
        assert_eq!(bus.depth("t"), 1);
        bus.delete_topic("t");
        let waiting = tokio::spawn(async move { second.next().await.is_none() });
        assert!(first.next().await.is_none(), "a deleted topic ends its consumers");
        assert!(waiting.await.expect("joined"));
    }
}
