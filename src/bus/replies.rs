//! The calls of this process waiting for their replies, by correlation id: one mechanism for
//! every transport (a transport only says where replies come back and how a request leaves).

use super::{BusError, Envelope};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;

/// A consumer's answer: the result, or the error text it replied with.
pub(super) type Reply = Result<serde_json::Value, String>;

#[derive(Default)]
pub(super) struct PendingReplies(Mutex<HashMap<String, oneshot::Sender<Reply>>>);

impl PendingReplies {
    /// Hands `result` to the call waiting under `correlation_id`, if it still waits.
    pub(super) fn answer(&self, correlation_id: &str, result: Reply) {
        if let Some(waiter) = self.0.lock().remove(correlation_id) {
            let _ = waiter.send(result);
        }
    }

    /// Sends `envelope` with `send`, asking for the reply at `reply_to`, and waits for it up to
    /// `timeout`.
    pub(super) async fn call<F, Fut>(
        &self,
        reply_to: String,
        topic: &str,
        mut envelope: Envelope,
        timeout: Duration,
        send: F,
    ) -> Result<serde_json::Value, BusError>
    where
        F: FnOnce(Envelope) -> Fut,
        Fut: Future<Output = Result<(), BusError>>,
    {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        self.0.lock().insert(id.clone(), tx);
        envelope.reply_to = Some(reply_to);
        envelope.correlation_id = Some(id.clone());
        let method = envelope.method.clone();
        let outcome = tokio::time::timeout(timeout, async {
            send(envelope).await?;
            rx.await.map_err(|_| BusError::Closed)
        })
        .await;
        self.0.lock().remove(&id);
        match outcome {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(message))) => Err(BusError::Remote(message)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(BusError::Timeout {
                topic: topic.to_string(),
                method,
                timeout,
            }),
        }
    }
}
