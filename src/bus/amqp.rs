//! The RabbitMQ transport (lapin 4): a durable topic exchange (`[bus] control_exchange`), one
//! durable queue per topic bound to it by the topic's name (declared before the first cast, so
//! nothing is dropped before its consumer starts), persistent messages with publisher confirms,
//! manual acks with a bounded prefetch, and one exclusive reply queue per process for `call`.
//! A lost connection is re-made with back-off; consumers resume on the new one (what was not
//! acknowledged is delivered again, and every handler is idempotent).
//!
//! On the wire a message is oslo.messaging's rabbit driver format (see [`oslo`]).

pub(super) mod acks;
mod consume;
mod liveness;
mod oslo;

pub(super) use consume::AckHandle;

use super::replies::PendingReplies;
use super::{BusError, Envelope};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use liveness::{answered, new_channel, uri_with_liveness, ANSWER_WITHIN};
use oslo::{encode, unwrap};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub struct AmqpBus {
    url: String,
    exchange: String,
    prefetch: u16,
    /// The connection and the confirm-mode channel casts are published on; read without waiting
    /// by every publish, replaced under `connecting` when lost.
    link: Mutex<Option<(Arc<Connection>, Channel)>>,
    connecting: tokio::sync::Mutex<()>,
    /// The one channel every guest topic's consumer shares: lapin scans all of a connection's
    /// channels for every frame, so thousands of guest sessions must not mean thousands of them.
    guest_channel: tokio::sync::Mutex<Option<Channel>>,
    /// The channel queues are asked about on (see [`AmqpBus::probe`]).
    probe_channel: tokio::sync::Mutex<Option<Channel>>,
    declared: Mutex<HashSet<String>>,
    /// Topics this process consumes, and those of them it deleted: their consumers end instead
    /// of declaring them again.
    subscribed: Mutex<HashSet<String>>,
    deleted: Mutex<HashSet<String>>,
    replies: PendingReplies,
    /// This process's reply queue, consumed once the first call is made.
    reply_queue: String,
    reply_consumer: tokio::sync::OnceCell<()>,
    /// The runtime lapin's connection tasks run on: the one the bus was made on (the System's),
    /// not whichever worker's runtime happens to connect.
    runtime: tokio::runtime::Handle,
}

impl AmqpBus {
    /// A bus that connects lazily (at the first use) on the current tokio runtime.
    pub fn new(url: &str, exchange: &str, prefetch: u16) -> AmqpBus {
        AmqpBus {
            url: url.to_string(),
            exchange: exchange.to_string(),
            prefetch: prefetch.max(1),
            link: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            guest_channel: tokio::sync::Mutex::new(None),
            probe_channel: tokio::sync::Mutex::new(None),
            declared: Mutex::new(HashSet::new()),
            subscribed: Mutex::new(HashSet::new()),
            deleted: Mutex::new(HashSet::new()),
            replies: PendingReplies::default(),
            reply_queue: format!("reply_{}", uuid::Uuid::new_v4().simple()),
            reply_consumer: tokio::sync::OnceCell::new(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// A connected (connection, publish channel), connecting again if it was lost.
    async fn link(&self) -> Result<(Arc<Connection>, Channel), BusError> {
        let connected = || {
            let link = self.link.lock();
            link.as_ref()
                .filter(|(conn, channel)| conn.status().connected() && channel.status().connected())
                .map(|(conn, channel)| (Arc::clone(conn), channel.clone()))
        };
        if let Some(link) = connected() {
            return Ok(link);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(link) = connected() {
            return Ok(link); // another task reconnected meanwhile
        }
        self.link.lock().take();
        self.declared.lock().clear();
        let runtime = async_rs::Runtime::tokio_with_handle(self.runtime.clone());
        let uri = uri_with_liveness(&self.url)?;
        let connect = Connection::connect_uri_with_runtime(uri, ConnectionProperties::default(), runtime);
        // The URL's connect timeout bounds the TCP connect; this bounds the handshake too.
        let conn = match tokio::time::timeout(ANSWER_WITHIN * 2, connect).await {
            Ok(Ok(conn)) => Arc::new(conn),
            Ok(Err(e)) => return Err(BusError::Unavailable(format!("RabbitMQ at {}: {e}", redact(&self.url)))),
            Err(_) => {
                return Err(BusError::Unavailable(format!(
                    "RabbitMQ at {} did not complete a connection",
                    redact(&self.url)
                )))
            }
        };
        let channel = new_channel(&conn).await?;
        answered(
            "confirm.select",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let declare = channel.exchange_declare(
            self.exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        );
        answered("the exchange's declare", declare).await?;
        *self.link.lock() = Some((Arc::clone(&conn), channel.clone()));
        Ok((conn, channel))
    }

    /// Declares the topic's durable queue and binds it (once per connection).
    async fn declare(&self, channel: &Channel, topic: &str) -> Result<(), BusError> {
        if self.declared.lock().contains(topic) {
            return Ok(());
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let declare = channel.queue_declare(topic.into(), durable, FieldTable::default());
        answered("a queue's declare", declare).await?;
        let bind = channel.queue_bind(
            topic.into(),
            self.exchange.as_str().into(),
            topic.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        );
        answered("a queue's bind", bind).await?;
        self.declared.lock().insert(topic.to_string());
        Ok(())
    }

    /// Publishes persistently and waits for the broker's confirm; one retry on a new connection.
    async fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) -> Result<(), BusError> {
        let mut last = None;
        for _ in 0..2 {
            let (_, channel) = self.link().await?;
            if !exchange.is_empty() {
                if let Err(e) = self.declare(&channel, routing_key).await {
                    last = Some(e);
                    continue;
                }
            }
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            let publish = channel.basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            );
            let confirmed = async { publish.await?.await };
            match answered("a publish", confirmed).await {
                Ok(c) if c.is_nack() => last = Some(BusError::Unavailable("RabbitMQ refused the message".into())),
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
            self.link.lock().take();
        }
        Err(last.unwrap_or(BusError::Closed))
    }

    /// How many deliveries a consumer may hold unacknowledged: `[bus] prefetch`, or more when its
    /// subscriber asks to hold more (see [`crate::bus::Bus::subscribe_holding`]).
    pub fn prefetch(&self, at_least: u16) -> u16 {
        self.prefetch.max(at_least)
    }

    /// How many consumers `topic`'s queue has, or None when it has no queue.
    pub async fn probe(&self, topic: &str) -> Result<Option<u32>, BusError> {
        Ok(self.queue_counts(topic).await?.map(|q| q.consumer_count()))
    }

    /// How many messages wait on `topic`'s queue (ready, not yet delivered to a consumer), or
    /// None when it has no queue.
    pub async fn waiting(&self, topic: &str) -> Result<Option<u32>, BusError> {
        Ok(self.queue_counts(topic).await?.map(|q| q.message_count()))
    }

    /// `topic`'s queue as the broker counts it, or None when it has no queue. Asked with a
    /// passive declare on a channel of its own (a missing queue closes that channel, which is
    /// made again at the next question): asking never makes a queue, so asking about a deleted
    /// instance's guest cannot bring its queue back.
    async fn queue_counts(&self, topic: &str) -> Result<Option<lapin::Queue>, BusError> {
        let (conn, _) = self.link().await?;
        let mut probe = self.probe_channel.lock().await;
        let channel = match probe.as_ref().filter(|c| c.status().connected()) {
            Some(channel) => channel.clone(),
            None => {
                let channel = new_channel(&conn).await?;
                *probe = Some(channel.clone());
                channel
            }
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let asked = channel.queue_declare(topic.into(), passive, FieldTable::default());
        match tokio::time::timeout(ANSWER_WITHIN, asked).await {
            Ok(Ok(queue)) => Ok(Some(queue)),
            Ok(Err(e)) if is_not_found(&e) => {
                probe.take();
                Ok(None)
            }
            Ok(Err(e)) => {
                probe.take();
                Err(unavailable(e))
            }
            Err(_) => {
                probe.take();
                Err(BusError::Unavailable(format!(
                    "RabbitMQ did not answer about {topic}'s queue"
                )))
            }
        }
    }

    /// How many consumers `topic` has (0 when it has no queue).
    pub async fn consumers(&self, topic: &str) -> Result<u32, BusError> {
        Ok(self.probe(topic).await?.unwrap_or(0))
    }

    /// Declares the topic's queue (a guest's, before it is handed to a pool).
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        let (_, channel) = self.link().await?;
        self.declare(&channel, topic).await
    }

    /// A message's body as it goes on the wire (for the benchmark's raw-rate comparison).
    pub fn wire_body(envelope: &Envelope) -> Vec<u8> {
        encode(envelope)
    }

    pub async fn cast(&self, topic: &str, envelope: Envelope) -> Result<(), BusError> {
        let exchange = self.exchange.clone();
        self.publish(&exchange, topic, &encode(&envelope)).await
    }

    pub async fn call(self: &Arc<Self>, topic: &str, envelope: Envelope, timeout: Duration) -> Result<Value, BusError> {
        // A call nobody can answer fails now, instead of waiting out its timeout and staying
        // queued for a guest that may run it much later.
        if self.consumers(topic).await? == 0 {
            return Err(BusError::NoConsumer {
                topic: topic.to_string(),
                method: envelope.method.clone(),
            });
        }
        let bus = Arc::clone(self);
        self.reply_consumer
            .get_or_init(|| async move {
                tokio::spawn(bus.consume_replies());
            })
            .await;
        let send = |envelope| self.cast(topic, envelope);
        self.replies
            .call(self.reply_queue.clone(), topic, envelope, timeout, send)
            .await
    }

    /// Consumes this process's reply queue for as long as the process lives, reconnecting.
    async fn consume_replies(self: Arc<Self>) {
        let mut failures = 0;
        loop {
            match self.reply_stream().await {
                Ok(mut consumer) => {
                    failures = 0;
                    while let Some(Ok(delivery)) = consumer.next().await {
                        let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                        let Ok(m) = unwrap(&delivery.data) else { continue };
                        let Some(id) = m.get("_msg_id").and_then(|v| v.as_str()) else {
                            continue;
                        };
                        let result = match m.get("failure").filter(|f| !f.is_null()) {
                            Some(f) => Err(f.as_str().map(str::to_string).unwrap_or_else(|| f.to_string())),
                            None => Ok(m.get("result").cloned().unwrap_or(Value::Null)),
                        };
                        self.replies.answer(id, result);
                    }
                }
                Err(e) => crate::telemetry::warn_limited("amqp reply queue", &format!("amqp reply queue: {e}")),
            }
            failures += 1;
            tokio::time::sleep(crate::bus::retry::backoff(
                std::time::Duration::from_millis(200),
                failures,
            ))
            .await;
        }
    }

    async fn reply_stream(&self) -> Result<lapin::Consumer, BusError> {
        let (conn, _) = self.link().await?;
        let channel = new_channel(&conn).await?;
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        let declare = channel.queue_declare(self.reply_queue.as_str().into(), exclusive, FieldTable::default());
        answered("the reply queue's declare", declare).await?;
        let consume = channel.basic_consume(
            self.reply_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        answered("the reply queue's consume", consume).await
    }

    pub fn delete_topic(self: &Arc<Self>, topic: &str) {
        let (bus, topic) = (Arc::clone(self), topic.to_string());
        tokio::spawn(async move {
            let _ = bus.remove_topic(&topic).await;
        });
    }

    /// Deletes the topic's queue and what waits on it; an error when the broker cannot be
    /// reached (asking again is safe).
    pub async fn remove_topic(&self, topic: &str) -> Result<(), BusError> {
        if self.subscribed.lock().contains(topic) {
            self.deleted.lock().insert(topic.to_string());
        }
        let (_, channel) = self.link().await?;
        channel
            .queue_delete(topic.into(), QueueDeleteOptions::default())
            .await
            .map_err(unavailable)?;
        self.declared.lock().remove(topic);
        Ok(())
    }
}

/// Whether the broker answered "no such queue".
pub(super) fn is_not_found(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(amqp) if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
}

pub(super) fn unavailable(e: lapin::Error) -> BusError {
    BusError::Unavailable(format!("RabbitMQ: {e}"))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
