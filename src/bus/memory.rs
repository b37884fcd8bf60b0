//! The in-process transport: one bounded MPMC queue per topic (consumers compete for messages),
//! replies routed by correlation id. A delivery dropped without an acknowledgement is queued
//! again, which gives the same at-least-once contract as RabbitMQ with manual acks.

use super::{BusError, Delivery, Envelope, Subscription};
use futures::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

type Reply = Result<serde_json::Value, String>;

struct Queue {
    tx: async_channel::Sender<(Envelope, bool)>,
    rx: async_channel::Receiver<(Envelope, bool)>,
}

pub struct MemoryBus {
    capacity: usize,
    queues: Mutex<HashMap<String, Queue>>,
    replies: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
}

/// Lets a delivery acknowledge, reply, or put itself back.
pub(super) struct AckHandle {
    bus: Arc<MemoryBus>,
    requeue: async_channel::Sender<(Envelope, bool)>,
}

impl AckHandle {
    pub(super) fn reply(self, envelope: &Envelope, result: Reply) {
        if let Some(id) = &envelope.correlation_id {
            if let Some(waiter) = self.bus.replies.lock().remove(id) {
                let _ = waiter.send(result);
            }
        }
    }

    pub(super) fn requeue(self, envelope: Envelope) {
        // A closed queue means the topic was deleted: nothing is left to deliver to.
        let _ = self.requeue.try_send((envelope, true));
    }
}

impl MemoryBus {
    pub fn new(capacity: usize) -> MemoryBus {
        MemoryBus {
            capacity: capacity.max(1),
            queues: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
        }
    }

    /// The topic's queue ends, created on first use (so a guest's queue holds messages sent
    /// before the guest subscribed, as Trove pre-creates it).
    fn queue(
        &self,
        topic: &str,
    ) -> (
        async_channel::Sender<(Envelope, bool)>,
        async_channel::Receiver<(Envelope, bool)>,
    ) {
        let mut queues = self.queues.lock();
        let queue = queues.entry(topic.to_string()).or_insert_with(|| {
            let (tx, rx) = async_channel::bounded(self.capacity);
            Queue { tx, rx }
        });
        (queue.tx.clone(), queue.rx.clone())
    }

    pub async fn cast(&self, topic: &str, envelope: Envelope) -> Result<(), BusError> {
        self.queue(topic)
            .0
            .send((envelope, false))
            .await
            .map_err(|_| BusError::Closed)
    }

    pub async fn call(
        &self,
        topic: &str,
        mut envelope: Envelope,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.replies.lock().insert(id.clone(), tx);
        envelope.reply_to = Some("memory".into());
        envelope.correlation_id = Some(id.clone());
        let method = envelope.method.clone();
        if let Err(e) = self.cast(topic, envelope).await {
            self.replies.lock().remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(message))) => Err(BusError::Remote(message)),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => {
                self.replies.lock().remove(&id);
                Err(BusError::Timeout {
                    topic: topic.to_string(),
                    method,
                    timeout,
                })
            }
        }
    }

    pub fn subscribe(self: &Arc<Self>, topic: &str) -> Subscription {
        let (requeue, rx) = self.queue(topic);
        let bus = Arc::clone(self);
        Box::pin(rx.map(move |(envelope, redelivered)| Delivery {
            envelope,
            redelivered,
            ack: Some(AckHandle {
                bus: Arc::clone(&bus),
                requeue: requeue.clone(),
            }),
        }))
    }

    pub fn delete_topic(&self, topic: &str) {
        if let Some(queue) = self.queues.lock().remove(topic) {
            queue.tx.close();
        }
    }

    pub fn depth(&self, topic: &str) -> usize {
        self.queues
            .lock()
            .get(topic)
            .map(|q| q.rx.len())
            .unwrap_or(0)
    }
}
