//! `GET /v1.0/{tenant_id}/events`: a Server-Sent Events stream of the project's instance and
//! backup status changes and flow steps (and, for an admin asking `all_projects=true`, every
//! project's and the supervision events), as they are stored. Each event's SSE `id` is its
//! stored id: a client reconnecting with `Last-Event-ID` (or `?last_event_id=`) gets what it
//! missed from the bounded history ([`hub`]), across a restart of coffer. Without one, the
//! stream starts at the newest event. `target_id` narrows it to one instance or backup: with
//! `last_event_id=0`, that instance's whole stored history first.

mod hub;
mod render;

pub use hub::{EventHub, StreamLimits};

use super::auth;
use super::AppState;
use crate::db::models::event::{EventFilter, StoredEvent};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

/// Rows read from the history per trip.
const REPLAY_PAGE: i64 = 500;
/// What the client is told to wait before it reconnects (ms).
const RETRY_MS: u64 = 2000;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id (as the `Last-Event-ID` header; the header wins).
    pub last_event_id: Option<String>,
    /// `true`: every project's events and the supervision events (admins only).
    pub all_projects: Option<String>,
    /// One instance's or backup's events only (with its flows' steps).
    pub target_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1.0/{tenant_id}/events",
    params(
        super::openapi::params::Tenant,
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id."),
    ),
    responses((
        status = 200,
        description = "An endless Server-Sent Events stream (a comment line keeps it alive; it ends when the token expires or is revoked).",
        body = super::openapi::schemas::operations::StreamedEvent,
        content_type = "text/event-stream",
    )),
)]
pub async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req)?;
    // As the backup list reads it.
    let all = query.all_projects.as_deref().is_some_and(|v| v != "false" && v != "0");
    if all && !auth::is_admin(&req) {
        return Err(ApiError::Forbidden(
            "Only an admin's token may stream every project's events.".into(),
        ));
    }
    let resume = req
        .headers()
        .get("Last-Event-ID")
        .map(|v| v.to_str().unwrap_or("?").to_string())
        .or_else(|| query.last_event_id.clone());
    let resume = match resume {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| ApiError::BadRequest(format!("Last-Event-ID must be an event id, not {text:?}")))?,
        ),
    };
    let hub = Arc::clone(&state.events);
    let project = (!all).then(|| caller.project_id.to_string());
    let slot = hub
        .open_slot(project.as_deref())
        .ok_or_else(|| ApiError::TooManyRequests {
            message: "Too many event streams are open; close one or try again later.".into(),
            retry_after_s: 5,
        })?;
    // Subscribed before the history is read: nothing falls between the two.
    let live = hub.subscribe().await;
    // A token's stream ends when the token does: at its expiry, or at the first keep-alive
    // after it was revoked (or its user lost the project).
    let token = caller.principal.as_ref().map(|principal| TokenCheck {
        state: state.clone(),
        headers: req
            .headers()
            .get("X-Auth-Token")
            .map(|v| {
                let mut only = header::HeaderMap::new();
                only.insert(header::HeaderName::from_static("x-auth-token"), v.clone());
                only
            })
            .unwrap_or_default(),
        expires_at: principal.expires_at,
    });
    let start = match resume {
        Some(id) => id,
        None => hub.db().run(StoredEvent::newest_id).await?,
    };
    let stream = EventStream {
        keep_alive: state
            .services
            .config
            .api
            .events_keepalive_ms
            .max(Duration::from_millis(100)),
        hub,
        live,
        _slot: slot,
        filter: EventFilter {
            project,
            target: query.target_id.clone(),
        },
        operator: auth::is_admin(&req),
        token,
        floor: start,
        replay_after: Some(start),
        last_sent: start,
        replayed: HashSet::new(),
        replayed_up_to: start,
        pending: VecDeque::new(),
        greeted: false,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures::stream::unfold(stream, |mut s| async move {
            let chunk = s.next_chunk().await?;
            Some((Ok::<Bytes, actix_web::Error>(chunk), s))
        })))
}

/// What a token's stream checks at each keep-alive.
struct TokenCheck {
    state: web::Data<AppState>,
    headers: header::HeaderMap,
    /// Milliseconds since the epoch.
    expires_at: i64,
}

impl TokenCheck {
    /// How long the stream may wait for an event before it looks at the token again.
    fn wait(&self, keep_alive: Duration) -> Duration {
        let left = (self.expires_at - crate::db::now_ms()).max(0) as u64;
        keep_alive.min(Duration::from_millis(left))
    }

    async fn still_valid(&self) -> bool {
        crate::db::now_ms() < self.expires_at && auth::principal_of(&self.state, &self.headers).await.is_ok()
    }
}

/// One client's stream: the history after its start, then what the hub passes on.
struct EventStream {
    /// A comment line this often keeps proxies and clients from timing the stream out.
    keep_alive: Duration,
    hub: Arc<EventHub>,
    /// Its place among the process's open streams, given back when it is dropped.
    _slot: hub::StreamSlot,
    live: Receiver<Arc<StoredEvent>>,
    /// The project's (None: every project's, and the operators' events), or one target's.
    filter: EventFilter,
    /// An admin's stream: flow events name the node holding the lease.
    operator: bool,
    /// The token the stream was opened with (None in noauth mode).
    token: Option<TokenCheck>,
    /// The id the stream started after: nothing at or below it is sent.
    floor: i64,
    /// Read the history after this id before following the hub (None: caught up).
    replay_after: Option<i64>,
    last_sent: i64,
    /// Ids sent from the history, not to be sent again when the hub passes them on; let go
    /// once the hub passes on an id above them all.
    replayed: HashSet<i64>,
    replayed_up_to: i64,
    pending: VecDeque<StoredEvent>,
    greeted: bool,
}

impl EventStream {
    /// The next bytes to send; None ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.greeted {
            self.greeted = true;
            return Some(Bytes::from(format!("retry: {RETRY_MS}\n: coffer events\n\n")));
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(self.sent(&event));
            }
            if let Some(after) = self.replay_after {
                let filter = self.filter.clone();
                let rows = self
                    .hub
                    .db()
                    .run(move |c| StoredEvent::after(c, after, &filter, REPLAY_PAGE))
                    .await;
                let rows = match rows {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream: reading the history failed");
                        return None; // the client reconnects with its Last-Event-ID
                    }
                };
                self.replay_after = match rows.last() {
                    Some(last) if rows.len() as i64 == REPLAY_PAGE => Some(last.id),
                    _ => None,
                };
                if self.replayed.len() > 100_000 {
                    self.replayed.clear();
                }
                self.replayed.extend(rows.iter().map(|r| r.id));
                if let Some(last) = rows.last() {
                    self.replayed_up_to = self.replayed_up_to.max(last.id);
                }
                self.pending.extend(rows);
                continue;
            }
            let wait = self.token.as_ref().map_or(self.keep_alive, |t| t.wait(self.keep_alive));
            let received = tokio::time::timeout(wait, self.live.recv()).await;
            match received {
                Err(_) => {
                    if let Some(token) = &self.token {
                        if !token.still_valid().await {
                            return None;
                        }
                    }
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
                Ok(Ok(event)) => {
                    let wanted = self.wants(&event);
                    if event.id > self.replayed_up_to && !self.replayed.is_empty() {
                        self.replayed = HashSet::new();
                    }
                    if wanted {
                        return Some(self.sent(&event));
                    }
                }
                // Fell behind the hub: what it passed on meanwhile is read from the history.
                Ok(Err(RecvError::Lagged(_))) => self.replay_after = Some(self.last_sent),
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    }

    fn wants(&self, event: &StoredEvent) -> bool {
        self.filter.passes(event) && event.id > self.floor && !self.replayed.contains(&event.id)
    }

    fn sent(&mut self, event: &StoredEvent) -> Bytes {
        self.last_sent = self.last_sent.max(event.id);
        let body = render::render(event, self.operator);
        let data = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        Bytes::from(format!("id: {}\nevent: {}\ndata: {data}\n\n", event.id, event.kind))
    }
}
