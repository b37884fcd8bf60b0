//! The consuming side of the RabbitMQ transport: consumers with a bounded prefetch (the guest
//! topics' on one shared channel) that survive reconnects, and how a delivery is acknowledged,
//! rejected or answered.

use super::acks::AckLedger;
use super::liveness::{answered, new_channel};
use super::oslo::{decode, wrap};
use super::AmqpBus;
use crate::bus::replies::Reply;
use crate::bus::{BusError, Delivery, Envelope, Subscription};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use serde_json::{json, Value};
use std::sync::Arc;

/// The longest pause before a lost consumer tries again.
const RECONNECT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(3);

/// Acknowledges, rejects or answers one AMQP delivery.
pub(in crate::bus) struct AckHandle {
    bus: Arc<AmqpBus>,
    acker: lapin::Acker,
    /// Its consumer's ledger and its tag, when that consumer's acks are coalesced.
    ledger: Option<(Arc<AckLedger>, u64)>,
}

impl AckHandle {
    pub(in crate::bus) fn ack(mut self) {
        if let Some((ledger, tag)) = self.ledger.take() {
            return ledger.ack(tag, self.acker.clone());
        }
        tokio::spawn(async move {
            if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
                crate::telemetry::warn_limited("amqp ack", &format!("amqp ack failed (the message comes back): {e}"));
            }
        });
    }

    pub(in crate::bus) fn reply(mut self, envelope: &Envelope, result: Reply) {
        let target = envelope.reply_to.clone().zip(envelope.correlation_id.clone());
        tokio::spawn(async move {
            if let Some((queue, id)) = target {
                let (result, failure) = match result {
                    Ok(v) => (v, Value::Null),
                    Err(e) => (Value::Null, json!(e)),
                };
                let inner = json!({"result": result, "failure": failure, "ending": true, "_msg_id": id});
                if let Err(e) = self.bus.publish("", &queue, &wrap(inner)).await {
                    crate::telemetry::warn_limited("amqp reply", &format!("amqp reply not sent: {e}"));
                }
            }
            match self.ledger.take() {
                Some((ledger, tag)) => ledger.ack(tag, self.acker.clone()),
                None => {
                    let _ = self.acker.ack(BasicAckOptions::default()).await;
                }
            }
        });
    }

    pub(in crate::bus) fn requeue(mut self) {
        if let Some((ledger, tag)) = self.ledger.take() {
            return ledger.give_back(tag, self.acker.clone(), false);
        }
        tokio::spawn(async move {
            let options = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            let _ = self.acker.nack(options).await;
        });
    }
}

impl Drop for AckHandle {
    /// A handle dropped unsettled (its reply's task dropped at shutdown, or panicked) gives its
    /// tag back, so that its ledger does not hold every later ack back for good.
    fn drop(&mut self) {
        if let Some((ledger, tag)) = self.ledger.take() {
            ledger.give_back(tag, self.acker.clone(), false);
        }
    }
}

impl AmqpBus {
    /// The shared channel of guest topics' consumers, made again when it was lost.
    async fn guest_channel(&self, conn: &Connection) -> Result<Channel, BusError> {
        let mut shared = self.guest_channel.lock().await;
        if let Some(channel) = shared.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = new_channel(conn).await?;
        *shared = Some(channel.clone());
        Ok(channel)
    }

    /// A consumer on the topic's queue with a bounded prefetch (RabbitMQ applies it per consumer,
    /// also on the guests' shared channel).
    async fn consumer(&self, topic: &str, prefetch: u16) -> Result<(Channel, lapin::Consumer), BusError> {
        let (conn, _) = self.link().await?;
        let channel = match topic.starts_with("guestagent.") {
            true => self.guest_channel(&conn).await?,
            false => new_channel(&conn).await?,
        };
        let qos = channel.basic_qos(prefetch, BasicQosOptions::default());
        answered("basic.qos", qos).await?;
        self.declared.lock().remove(topic);
        self.declare(&channel, topic).await?;
        let consume = channel.basic_consume(
            topic.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let consumer = answered("a consume", consume).await?;
        Ok((channel, consumer))
    }

    /// Deliveries of `topic`, across reconnects; a malformed message is rejected (not requeued)
    /// and logged, and the stream goes on.
    /// Its consumer holds up to `prefetch` deliveries unacknowledged; with `coalesce_acks` (a
    /// consumer on a channel of its own that settles each batch soon, see [`AckLedger`]) their acks go out as `multiple` acks.
    pub fn subscribe(self: &Arc<Self>, topic: &str, prefetch: u16, coalesce_acks: bool) -> Subscription {
        let (bus, topic) = (Arc::clone(self), topic.to_string());
        let (tx, rx) = async_channel::bounded::<Delivery>(usize::from(prefetch));
        self.subscribed.lock().insert(topic.clone());
        let guest = topic.starts_with("guestagent.");
        tokio::spawn(async move {
            let (mut failures, mut lost) = (0, false);
            let end = |bus: &AmqpBus, topic: &str| {
                bus.subscribed.lock().remove(topic);
                bus.deleted.lock().remove(topic);
            };
            while !tx.is_closed() {
                if bus.deleted.lock().contains(&topic) {
                    return end(&bus, &topic); // the topic is gone: the stream ends, and its consumer
                }
                if guest && lost {
                    // Back after a lost connection: a guest whose queue was deleted meanwhile is
                    // gone, and one another host took over (a pool that re-hosted it) is theirs.
                    match bus.probe(&topic).await {
                        Ok(None) | Ok(Some(1..)) => {
                            tracing::info!(topic = %topic, "amqp: the guest's queue is gone or served elsewhere; letting go");
                            return end(&bus, &topic);
                        }
                        Ok(Some(0)) | Err(_) => {}
                    }
                }
                match bus.consumer(&topic, prefetch).await {
                    Ok((channel, mut consumer)) => {
                        failures = 0;
                        // Tags are the channel's: a new consumer starts a new ledger.
                        let ledger = (coalesce_acks && !guest).then(|| AckLedger::start(&topic));
                        while let Some(next) = consumer.next().await {
                            let Ok(delivery) = next else { break };
                            let ledger = ledger.as_ref().map(|l| {
                                l.delivered(delivery.delivery_tag);
                                (Arc::clone(l), delivery.delivery_tag)
                            });
                            let envelope = match decode(&delivery.data) {
                                Ok(e) => e,
                                Err(e) => {
                                    crate::telemetry::warn_limited(
                                        "amqp malformed",
                                        &format!("amqp: malformed message on {topic} rejected: {e}"),
                                    );
                                    match ledger {
                                        Some((ledger, tag)) => ledger.give_back(tag, delivery.acker, true),
                                        None => {
                                            let _ = delivery.acker.reject(Default::default()).await;
                                        }
                                    }
                                    continue;
                                }
                            };
                            let handle = AckHandle {
                                bus: Arc::clone(&bus),
                                acker: delivery.acker.clone(),
                                ledger,
                            };
                            let item = Delivery::from_amqp(envelope, delivery.redelivered, handle);
                            if tx.send(item).await.is_err() {
                                return; // the subscriber is gone; unacked messages come back
                            }
                        }
                        // The stream ended on a working channel: the broker cancelled the
                        // consumer because the queue was deleted (a deleted instance's guest,
                        // removed by whoever deleted it). Declaring it again would leak it.
                        if guest && channel.status().connected() {
                            tracing::debug!(topic = %topic, "amqp: queue deleted; its consumer ends");
                            return end(&bus, &topic);
                        }
                    }
                    Err(e) => {
                        crate::telemetry::warn_limited("amqp consumer", &format!("amqp consumer of {topic}: {e}"))
                    }
                }
                failures += 1;
                lost = true;
                crate::telemetry::warn_limited(
                    "amqp consumer lost",
                    &format!("amqp consumer of {topic} lost; reconnecting"),
                );
                // At most a few seconds: a consumer back later than that finds its guest
                // re-hosted by the guest watch.
                tokio::time::sleep(
                    crate::bus::retry::backoff(std::time::Duration::from_millis(200), failures).min(RECONNECT_AT_MOST),
                )
                .await;
            }
        });
        Box::pin(rx)
    }
}
