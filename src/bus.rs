//! The message bus: `cast` (fire and forget) and `call` (request/reply with a timeout) on named
//! topics, behind one type whatever the transport.
//!
//! Topics are Trove's: `taskmanager`, `trove-conductor`, `guestagent.<instance id>`. Delivery is
//! at-least-once: a consumer acknowledges a [`Delivery`] only after its effect is committed; one
//! dropped unacknowledged is delivered again, so every handler must be idempotent.

mod amqp;
mod envelope;
mod memory;
mod replies;
pub mod retry;
pub mod signing;
pub mod wakeups;

pub use amqp::acks::frames_sent as coalesced_settle_frames;
pub use amqp::AmqpBus;
pub use envelope::{Envelope, RequestContext};
pub use memory::MemoryBus;

use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The task manager's topic.
pub const TASKMANAGER: &str = "taskmanager";
/// The conductor's topic (Trove's default `conductor_queue`).
pub const CONDUCTOR: &str = "trove-conductor";

/// The topic `coffer guest --simulated` pools consume (`host_guest`), competing.
pub const GUEST_POOL: &str = "guestpool";

/// The topic a guest agent consumes.
pub fn guest_topic(instance_id: &str) -> String {
    format!("guestagent.{instance_id}")
}

/// Why a bus operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("no reply to {method} on {topic} within {timeout:?}")]
    Timeout {
        topic: String,
        method: String,
        timeout: Duration,
    },
    #[error("the bus is closed")]
    Closed,
    /// Nothing consumes the topic (its guest is not running): the call was not sent.
    #[error("nothing consumes {topic}: {method} not sent")]
    NoConsumer { topic: String, method: String },
    /// The broker cannot be reached now (the transport reconnects on its own).
    #[error("{0}")]
    Unavailable(String),
    /// The consumer answered with an error (Trove's RemoteError / GuestError).
    #[error("{0}")]
    Remote(String),
}

impl BusError {
    /// True when the other end did not answer (it is not running, or not in time): the caller
    /// may ask again later; the bus itself works.
    pub fn is_no_answer(&self) -> bool {
        matches!(self, BusError::Timeout { .. } | BusError::NoConsumer { .. })
    }
}

/// A message handed to a consumer; acknowledge it once its effect is durable.
pub struct Delivery {
    /// Boxed: a delivery is moved through a consumer's stages (gathered, checked, kept until its
    /// batch commits) as a pointer, not a few hundred bytes.
    pub envelope: Box<Envelope>,
    /// True when this message was handed out before and not acknowledged.
    pub redelivered: bool,
    ack: Option<AckHandle>,
}

/// How a delivery is acknowledged, per transport.
enum AckHandle {
    Memory(memory::AckHandle),
    Amqp(amqp::AckHandle),
}

impl Delivery {
    fn from_memory(envelope: Box<Envelope>, redelivered: bool, handle: memory::AckHandle) -> Delivery {
        Delivery {
            envelope,
            redelivered,
            ack: Some(AckHandle::Memory(handle)),
        }
    }

    fn from_amqp(envelope: Envelope, redelivered: bool, handle: amqp::AckHandle) -> Delivery {
        Delivery {
            envelope: Box::new(envelope),
            redelivered,
            ack: Some(AckHandle::Amqp(handle)),
        }
    }

    /// Marks the message as handled; it will not be delivered again.
    pub fn ack(mut self) {
        if let Some(AckHandle::Amqp(handle)) = self.ack.take() {
            handle.ack();
        }
    }

    /// Acknowledges and answers a `call` (a cast's reply goes nowhere).
    pub fn reply(mut self, result: Result<serde_json::Value, String>) {
        match self.ack.take() {
            Some(AckHandle::Memory(handle)) => handle.reply(&self.envelope, result),
            Some(AckHandle::Amqp(handle)) => handle.reply(&self.envelope, result),
            None => {}
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        match self.ack.take() {
            Some(AckHandle::Memory(handle)) => handle.requeue(self.envelope.clone()),
            Some(AckHandle::Amqp(handle)) => handle.requeue(),
            None => {}
        }
    }
}

/// A consumer's stream of deliveries on one topic (competing with other consumers of it).
pub type Subscription = Pin<Box<dyn Stream<Item = Delivery> + Send>>;

/// The bus; cheap to clone.
#[derive(Clone)]
pub enum Bus {
    Memory(Arc<MemoryBus>),
    Amqp(Arc<AmqpBus>),
}

impl Bus {
    /// An in-process bus whose topic queues hold at most `capacity` messages each.
    pub fn memory(capacity: usize) -> Bus {
        Bus::Memory(Arc::new(MemoryBus::new(capacity)))
    }

    /// RabbitMQ at `url`, on the durable topic exchange `exchange`; consumers take at most
    /// `prefetch` unacknowledged messages.
    pub fn amqp(url: &str, exchange: &str, prefetch: u16) -> Bus {
        Bus::Amqp(Arc::new(AmqpBus::new(url, exchange, prefetch)))
    }

    /// Sends and returns once the transport has accepted the message. RabbitMQ's (larger)
    /// futures are boxed, so that every future awaiting a send is not as large as theirs.
    pub async fn cast(&self, topic: &str, envelope: Envelope) -> Result<(), BusError> {
        match self {
            Bus::Memory(m) => m.cast(topic, envelope).await,
            Bus::Amqp(a) => Box::pin(a.cast(topic, envelope)).await,
        }
    }

    /// Sends and waits for the consumer's reply, or `BusError::Timeout`; on RabbitMQ a call to a
    /// topic nobody consumes fails at once with `BusError::NoConsumer`, unsent.
    pub async fn call(
        &self,
        topic: &str,
        envelope: Envelope,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        match self {
            Bus::Memory(m) => m.call(topic, envelope, timeout).await,
            Bus::Amqp(a) => Box::pin(a.call(topic, envelope, timeout)).await,
        }
    }

    /// Starts consuming `topic`.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        match self {
            Bus::Memory(m) => m.subscribe(topic),
            Bus::Amqp(a) => a.subscribe(topic, a.prefetch(0), false),
        }
    }

    /// As [`Bus::subscribe`], for a consumer that takes what it holds in batches and settles
    /// every delivery of a batch soon (the conductor: before it takes the batch after next, one
    /// batch being written while the next is gathered): over RabbitMQ it may hold up to
    /// `at_least` deliveries unacknowledged (`[bus] prefetch` when that is more), and their acks
    /// are coalesced (one `multiple` ack per run). Also returns how many it holds at most, the
    /// largest batch it can take.
    pub fn subscribe_holding(&self, topic: &str, at_least: u16) -> (Subscription, usize) {
        match self {
            Bus::Memory(m) => (m.subscribe(topic), usize::MAX),
            Bus::Amqp(a) => {
                let prefetch = a.prefetch(at_least);
                (a.subscribe(topic, prefetch, true), usize::from(prefetch))
            }
        }
    }

    /// Removes a topic and what is queued on it (a deleted guest's queue).
    pub fn delete_topic(&self, topic: &str) {
        match self {
            Bus::Memory(m) => m.delete_topic(topic),
            Bus::Amqp(a) => a.delete_topic(topic),
        }
    }

    /// Removes a topic and what is queued on it, once the broker confirms it (a deleted
    /// instance's guest queue, which must not outlive it).
    pub async fn remove_topic(&self, topic: &str) -> Result<(), BusError> {
        match self {
            Bus::Memory(m) => {
                m.delete_topic(topic);
                Ok(())
            }
            Bus::Amqp(a) => a.remove_topic(topic).await,
        }
    }

    /// Makes sure `topic`'s queue exists (RabbitMQ; the in-process bus makes queues on use).
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        match self {
            Bus::Memory(_) => Ok(()),
            Bus::Amqp(a) => a.ensure_topic(topic).await,
        }
    }

    /// How many consumers `topic` has, 0 when it has no queue (RabbitMQ; asking never makes
    /// the queue; the in-process bus says 0).
    pub async fn consumers(&self, topic: &str) -> Result<u32, BusError> {
        match self {
            Bus::Memory(_) => Ok(0),
            Bus::Amqp(a) => a.consumers(topic).await,
        }
    }

    /// Messages waiting on `topic` in this process's in-process queue (for metrics and tests;
    /// 0 on RabbitMQ, see [`Bus::queued`]).
    pub fn depth(&self, topic: &str) -> usize {
        match self {
            Bus::Memory(m) => m.depth(topic),
            Bus::Amqp(_) => 0,
        }
    }

    /// Messages waiting on `topic` for its consumer: the in-process queue's length, or the
    /// broker's count of the queue's ready messages. None when RabbitMQ has no such queue or
    /// does not answer.
    pub async fn queued(&self, topic: &str) -> Option<usize> {
        match self {
            Bus::Memory(m) => Some(m.depth(topic)),
            Bus::Amqp(a) => a.waiting(topic).await.ok().flatten().map(|n| n as usize),
        }
    }
}
