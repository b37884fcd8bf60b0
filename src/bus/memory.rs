//! The in-process transport: one MPMC queue per topic (consumers compete for messages), replies
//! routed by correlation id. A delivery dropped without an acknowledgement is queued again,
//! which gives the same at-least-once contract as RabbitMQ with manual acks.
//!
//! Queues allocate as they fill (an idle guest's queue costs a few hundred bytes, so thousands
//! of guests fit); the bound is a semaphore of `capacity` permits: a cast takes one, a consumer
//! taking the message gives it back, and a cast to a full queue waits (back-pressure).

use super::replies::{PendingReplies, Reply};
use super::{BusError, Delivery, Envelope, Subscription};
use futures::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Boxed: a queue's channel keeps a block of 31 slots allocated once it has held a message, and
/// an envelope inline would make that block kilobytes for every idle guest.
type Item = Box<(Envelope, bool)>;

#[derive(Clone)]
struct Queue {
    tx: async_channel::Sender<Item>,
    rx: async_channel::Receiver<Item>,
    space: Arc<Semaphore>,
}

pub struct MemoryBus {
    capacity: usize,
    queues: Mutex<HashMap<String, Queue>>,
    replies: PendingReplies,
}

/// Lets a delivery acknowledge, reply, or put itself back.
pub(super) struct AckHandle {
    bus: Arc<MemoryBus>,
    requeue: async_channel::Sender<Item>,
}

impl AckHandle {
    pub(super) fn reply(self, envelope: &Envelope, result: Reply) {
        if let Some(id) = &envelope.correlation_id {
            self.bus.replies.answer(id, result);
        }
    }

    pub(super) fn requeue(self, envelope: Envelope) {
        // A redelivery may briefly exceed the bound; a closed queue means the topic was deleted.
        let _ = self.requeue.try_send(Box::new((envelope, true)));
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
    fn queue(&self, topic: &str) -> Queue {
        let mut queues = self.queues.lock();
        queues
            .entry(topic.to_string())
            .or_insert_with(|| {
                let (tx, rx) = async_channel::unbounded();
                Queue {
                    tx,
                    rx,
                    space: Arc::new(Semaphore::new(self.capacity)),
                }
            })
            .clone()
    }

    pub async fn cast(&self, topic: &str, envelope: Envelope) -> Result<(), BusError> {
        let queue = self.queue(topic);
        let permit = queue.space.acquire().await.map_err(|_| BusError::Closed)?;
        permit.forget();
        queue
            .tx
            .send(Box::new((envelope, false)))
            .await
            .map_err(|_| BusError::Closed)
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
        let queue = self.queue(topic);
        let bus = Arc::clone(self);
        let requeue = queue.tx.clone();
        let space = queue.space.clone();
        Box::pin(queue.rx.map(move |item| {
            let (envelope, redelivered) = *item;
            if !redelivered {
                space.add_permits(1);
            }
            let handle = AckHandle {
                bus: Arc::clone(&bus),
                requeue: requeue.clone(),
            };
            Delivery::from_memory(envelope, redelivered, handle)
        }))
    }

    pub fn delete_topic(&self, topic: &str) {
        if let Some(queue) = self.queues.lock().remove(topic) {
            queue.tx.close();
            queue.space.close();
        }
    }

    pub fn depth(&self, topic: &str) -> usize {
        self.queues.lock().get(topic).map(|q| q.rx.len()).unwrap_or(0)
    }
}
