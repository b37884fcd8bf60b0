//! A Server-Sent Events client of `GET /v1.0/{project}/events`, reading in the background into
//! a list the test inspects.

use super::eventually;
use futures::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One event as received: its `id:`, `event:` and `data:` (parsed).
#[derive(Debug, Clone)]
pub struct Received {
    pub id: i64,
    pub kind: String,
    pub data: Value,
}

pub struct EventStream {
    received: Arc<Mutex<Vec<Received>>>,
    reader: actix_web::rt::task::JoinHandle<()>,
}

impl EventStream {
    /// Connects as `project` (noauth), resuming after `last_event_id` when given; returns once
    /// the stream's headers are in.
    pub async fn connect(root: &str, project: &str, last_event_id: Option<i64>) -> EventStream {
        Self::connect_to(&format!("{root}/v1.0/{project}/events"), last_event_id).await
    }

    /// Connects to the stream at `url` (with its query).
    pub async fn connect_to(url: &str, last_event_id: Option<i64>) -> EventStream {
        Self::connect_as(url, None, last_event_id).await
    }

    /// Connects to the stream at `url` with `token` (as `X-Auth-Token`).
    pub async fn connect_as(url: &str, token: Option<&str>, last_event_id: Option<i64>) -> EventStream {
        let client = awc::Client::builder().disable_timeout().finish();
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.insert_header(("X-Auth-Token", token));
        }
        if let Some(id) = last_event_id {
            request = request.insert_header(("Last-Event-ID", id.to_string()));
        }
        let mut response = request.send().await.expect("the event stream connects");
        assert_eq!(response.status().as_u16(), 200, "the event stream answers 200");
        let content_type = response.headers().get("content-type").cloned();
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let reader = actix_web::rt::spawn(async move {
            let mut text = String::new();
            while let Some(Ok(chunk)) = response.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if let Some(event) = parse(&block) {
                        sink.lock().expect("lock").push(event);
                    }
                }
            }
        });
        EventStream { received, reader }
    }

    /// The server ended the stream (or the connection broke).
    pub fn ended(&self) -> bool {
        self.reader.is_finished()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until an event satisfies `found`; returns everything received by then.
    pub async fn wait_for(&self, what: &str, found: impl Fn(&Received) -> bool) -> Vec<Received> {
        eventually(Duration::from_secs(30), what, || async {
            let all = self.received();
            match all.iter().any(&found) {
                true => Ok(all),
                false => Err(all.len()),
            }
        })
        .await
    }

    /// The `status` of each instance event of `instance`, in the order received.
    pub fn statuses_of(&self, instance: &str) -> Vec<String> {
        self.received()
            .iter()
            .filter(|e| e.kind == "instance" && e.data["instance"]["id"] == instance)
            .map(|e| e.data["instance"]["status"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// An instance event of `instance` with `status`.
pub fn instance_status(instance: &str, status: &str) -> impl Fn(&Received) -> bool {
    let (instance, status) = (instance.to_string(), status.to_string());
    move |e| e.kind == "instance" && e.data["instance"]["id"] == *instance && e.data["instance"]["status"] == *status
}

fn parse(block: &str) -> Option<Received> {
    let (mut id, mut kind, mut data) = (None, None, String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    Some(Received {
        id: id?,
        kind: kind?,
        data: serde_json::from_str(&data).ok()?,
    })
}
