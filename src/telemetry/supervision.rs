//! The supervision log: which actors are alive, how often each was restarted, and every start,
//! stop, restart and failure — each also one structured `tracing` event with `actor.kind` and
//! `actor.id`. Operators read the live actors through `GET /mgmt/actors`; the events go on to
//! the shared database ([`ServiceReporter`](super::service_reporter::ServiceReporter) takes
//! them), where `GET /mgmt/supervision-events` reads those of every process.
//!
//! It is a shared, lock-protected record rather than an actor: every actor writes to it from its
//! own lifecycle hooks, and a write must never wait on a mailbox.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How many events wait for the database at most (oldest dropped first).
const UNSENT_KEPT: usize = 20_000;

/// A live actor as `/mgmt/actors` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActorEntry {
    pub kind: String,
    pub id: String,
    pub started_at: String,
    pub restarts: u64,
    /// The actor that started it and answers for it (None: the process's system itself).
    pub supervisor: Option<ActorRef>,
    pub last_failure: Option<FailureEntry>,
}

/// An actor named by its kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct ActorRef {
    pub kind: String,
    pub id: String,
}

/// An actor's last failure: when (RFC 3339) and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailureEntry {
    pub at: String,
    pub reason: String,
}

/// Who supervises an actor: the process's system (`ROOT`), or another actor of this process.
#[derive(Debug, Clone, Copy)]
pub struct Parent<'a> {
    kind: &'static str,
    id: &'a str,
}

impl<'a> Parent<'a> {
    /// The actix system of the process: its components.
    pub const ROOT: Parent<'static> = Parent { kind: "", id: "" };

    pub fn actor(kind: &'static str, id: &'a str) -> Parent<'a> {
        Parent { kind, id }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SupervisionEvent {
    /// Milliseconds since the epoch.
    pub at: i64,
    pub kind: String,
    pub actor_id: String,
    /// started | stopped | restarting | failed
    pub event: String,
    pub reason: String,
}

/// What is kept of one live actor: a hundred thousand guest sessions are listed here, so
/// neither its kind (a constant) nor its start time (as text) is stored with it.
#[derive(Clone)]
struct Alive {
    started_ms: i64,
    restarts: u32,
    /// Index in [`Inner::parents`]; 0 is the system.
    parent: u32,
    /// Boxed: most actors never fail, and a guest session's every byte counts.
    last_failure: Option<Box<(i64, Box<str>)>>,
}

/// One live actor, copied out of the lock: (kind, id, what is kept of it).
type LiveCopy = (&'static str, Box<str>, Alive);

#[derive(Default)]
struct Inner {
    /// Live actors by kind, then id.
    alive: HashMap<&'static str, HashMap<Box<str>, Alive>>,
    /// The supervisors named so far (a handful: the node's components), the system first.
    parents: Vec<(&'static str, Box<str>)>,
    /// Events not yet taken for the database (kept only once a reporter takes them).
    unsent: VecDeque<SupervisionEvent>,
    forwarding: bool,
    restarts_total: u64,
    failures_total: u64,
}

#[derive(Default)]
pub struct SupervisionLog {
    inner: Mutex<Inner>,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl Inner {
    fn alive_mut(&mut self, kind: &str, id: &str) -> Option<&mut Alive> {
        self.alive.get_mut(kind)?.get_mut(id)
    }

    fn parent_index(&mut self, parent: Parent<'_>) -> u32 {
        if self.parents.is_empty() {
            self.parents.push(("", "".into()));
        }
        if let Some(i) = self
            .parents
            .iter()
            .position(|(k, id)| *k == parent.kind && &**id == parent.id)
        {
            return i as u32;
        }
        self.parents.push((parent.kind, parent.id.into()));
        (self.parents.len() - 1) as u32
    }

    fn parent_ref(&self, index: u32) -> Option<ActorRef> {
        match self.parents.get(index as usize) {
            Some((kind, id)) if !kind.is_empty() => Some(ActorRef {
                kind: kind.to_string(),
                id: id.to_string(),
            }),
            _ => None,
        }
    }
}

/// How many restarted or failed actors a process's summary names at most.
const NOTABLE_KEPT: usize = 200;

/// The listing of one live actor.
fn entry(kind: &'static str, id: Box<str>, alive: Alive, parents: &[Option<ActorRef>]) -> ActorEntry {
    ActorEntry {
        kind: kind.to_string(),
        id: id.into_string(),
        started_at: iso(alive.started_ms),
        restarts: u64::from(alive.restarts),
        supervisor: parents.get(alive.parent as usize).cloned().flatten(),
        last_failure: alive.last_failure.map(|f| FailureEntry {
            at: iso(f.0),
            reason: f.1.into_string(),
        }),
    }
}

impl SupervisionLog {
    fn push(inner: &mut Inner, kind: &str, id: &str, event: &str, reason: &str) {
        if !inner.forwarding {
            return;
        }
        let entry = SupervisionEvent {
            at: chrono::Utc::now().timestamp_millis(),
            kind: kind.to_string(),
            actor_id: id.to_string(),
            event: event.to_string(),
            reason: reason.to_string(),
        };
        if inner.unsent.len() == UNSENT_KEPT {
            inner.unsent.pop_front();
        }
        inner.unsent.push_back(entry);
    }

    /// From now on events are kept until [`take_unsent`](Self::take_unsent) takes them.
    pub fn forward_events(&self) {
        self.inner.lock().forwarding = true;
    }

    /// At most `max` of the events not yet taken, oldest first.
    pub fn take_unsent(&self, max: usize) -> Vec<SupervisionEvent> {
        let mut inner = self.inner.lock();
        let n = inner.unsent.len().min(max);
        inner.unsent.drain(..n).collect()
    }

    /// Records an event that is no actor's lifecycle (a task manager taking over flows).
    pub fn note(&self, kind: &str, id: &str, event: &str, reason: &str) {
        tracing::info!(actor.kind = kind, actor.id = id, event, reason, "{reason}");
        Self::push(&mut self.inner.lock(), kind, id, event, reason);
    }

    /// An actor started (first time) under `parent` — or started again after a restart, which
    /// keeps its count.
    pub fn started(&self, kind: &'static str, id: &str, parent: Parent<'_>) {
        tracing::debug!(
            actor.kind = kind,
            actor.id = id,
            event = "started",
            "{kind} {id} started"
        );
        let mut inner = self.inner.lock();
        let parent = inner.parent_index(parent);
        let of_kind = inner.alive.entry(kind).or_default();
        if !of_kind.contains_key(id) {
            let started_ms = chrono::Utc::now().timestamp_millis();
            of_kind.insert(
                id.into(),
                Alive {
                    started_ms,
                    restarts: 0,
                    parent,
                    last_failure: None,
                },
            );
        }
        Self::push(&mut inner, kind, id, "started", "");
    }

    /// An actor failed (error, panic, timeout) and will be restarted by its supervisor.
    pub fn failed(&self, kind: &str, id: &str, reason: &str) {
        // Every failure is an event (structured, at debug, and stored); as a warning, a burst of
        // them (a broker outage seen by 500 flows) is one line every 10 s with a count.
        tracing::debug!(
            actor.kind = kind,
            actor.id = id,
            event = "failed",
            reason,
            "{kind} {id} failed"
        );
        crate::telemetry::warn_limited("actor failed", &format!("{kind} {id} failed: {reason}"));
        let mut inner = self.inner.lock();
        inner.failures_total += 1;
        if let Some(entry) = inner.alive_mut(kind, id) {
            entry.last_failure = Some(Box::new((chrono::Utc::now().timestamp_millis(), reason.into())));
        }
        Self::push(&mut inner, kind, id, "failed", reason);
    }

    /// The supervisor is restarting the actor.
    pub fn restarting(&self, kind: &str, id: &str, reason: &str) {
        tracing::info!(
            actor.kind = kind,
            actor.id = id,
            event = "restarting",
            reason,
            "{kind} {id} restarting"
        );
        let mut inner = self.inner.lock();
        inner.restarts_total += 1;
        if let Some(entry) = inner.alive_mut(kind, id) {
            entry.restarts = entry.restarts.saturating_add(1);
        }
        Self::push(&mut inner, kind, id, "restarting", reason);
    }

    /// The actor stopped: for good, or (`will_restart`) to be restarted by its supervisor, in
    /// which case it stays listed and keeps its restart count.
    pub fn stopped(&self, kind: &str, id: &str, reason: &str, will_restart: bool) {
        tracing::debug!(
            actor.kind = kind,
            actor.id = id,
            event = "stopped",
            reason,
            "{kind} {id} stopped"
        );
        let mut inner = self.inner.lock();
        if !will_restart {
            if let Some(of_kind) = inner.alive.get_mut(kind) {
                of_kind.remove(id);
                if of_kind.is_empty() {
                    of_kind.shrink_to_fit();
                }
            }
        }
        Self::push(&mut inner, kind, id, "stopped", reason);
    }

    /// Live actors, optionally of one kind, ordered by kind and id. Copied out under the lock
    /// and described after it, so that actors starting and stopping meanwhile do not wait.
    pub fn actors(&self, kind: Option<&str>) -> Vec<ActorEntry> {
        let (alive, parents): (Vec<LiveCopy>, Vec<Option<ActorRef>>) = {
            let inner = self.inner.lock();
            let alive = inner
                .alive
                .iter()
                .filter(|(k, _)| kind.is_none_or(|wanted| **k == wanted))
                .flat_map(|(k, of_kind)| of_kind.iter().map(|(id, alive)| (*k, id.clone(), alive.clone())))
                .collect();
            let parents = (0..inner.parents.len() as u32).map(|i| inner.parent_ref(i)).collect();
            (alive, parents)
        };
        let mut list: Vec<ActorEntry> = alive
            .into_iter()
            .map(|(kind, id, alive)| entry(kind, id, alive, &parents))
            .collect();
        list.sort_by(|a, b| (&a.kind, &a.id).cmp(&(&b.kind, &b.id)));
        list
    }

    /// What a process reports of its actors for the cluster's view (JSON): how many of each
    /// kind are alive, and the entries of its components (those the system supervises) and of
    /// every actor that was restarted or failed, at most [`NOTABLE_KEPT`] of those. One pass
    /// under the lock, copying only what is reported.
    pub fn summary(&self) -> String {
        let (counts, mut notable, parents) = {
            let inner = self.inner.lock();
            let counts: BTreeMap<&'static str, usize> = inner
                .alive
                .iter()
                .filter(|(_, of_kind)| !of_kind.is_empty())
                .map(|(kind, of_kind)| (*kind, of_kind.len()))
                .collect();
            let every = || {
                inner
                    .alive
                    .iter()
                    .flat_map(|(k, of_kind)| of_kind.iter().map(move |(id, alive)| (*k, id, alive)))
            };
            // Every component (a handful), then at most NOTABLE_KEPT of the others that failed.
            let components = every().filter(|(_, _, a)| a.parent == 0);
            let failed = every()
                .filter(|(_, _, a)| a.parent != 0 && (a.restarts > 0 || a.last_failure.is_some()))
                .take(NOTABLE_KEPT);
            let notable: Vec<LiveCopy> = components
                .chain(failed)
                .map(|(k, id, a)| (k, id.clone(), a.clone()))
                .collect();
            let parents: Vec<Option<ActorRef>> = (0..inner.parents.len() as u32).map(|i| inner.parent_ref(i)).collect();
            (counts, notable, parents)
        };
        notable.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let actors: Vec<ActorEntry> = notable
            .into_iter()
            .map(|(kind, id, alive)| entry(kind, id, alive, &parents))
            .collect();
        serde_json::json!({ "counts": counts, "actors": actors }).to_string()
    }

    /// The restart count of one live actor.
    pub fn restarts_of(&self, kind: &str, id: &str) -> Option<u64> {
        let inner = self.inner.lock();
        inner
            .alive
            .get(kind)
            .and_then(|of_kind| of_kind.get(id))
            .map(|a| u64::from(a.restarts))
    }

    /// (alive per kind, restarts total, failures total) for `/metrics`.
    pub fn counters(&self) -> (Vec<(String, usize)>, u64, u64) {
        let inner = self.inner.lock();
        let mut per_kind: Vec<(String, usize)> = inner
            .alive
            .iter()
            .filter(|(_, of_kind)| !of_kind.is_empty())
            .map(|(kind, of_kind)| (kind.to_string(), of_kind.len()))
            .collect();
        per_kind.sort();
        (per_kind, inner.restarts_total, inner.failures_total)
    }
}
