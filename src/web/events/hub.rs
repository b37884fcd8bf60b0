//! One API process's feed of stored events: while anyone listens, it reads `events` past what
//! it has passed on, every `[api] events_poll_ms`, and hands each row to every stream of this
//! process. It reads the table the triggers of every process write, so every API process
//! serves every event; it does not poll while no stream is open.
//!
//! On PostgreSQL ids are taken at insert and become visible at commit, so a smaller id may
//! appear after a larger one: the hub remembers what it passed on above the first missing id,
//! and waits for that id up to [`GAP_WAIT`] (a rolled-back insert never fills it).

use crate::db::models::event::{EventFilter, StoredEvent};
use crate::db::Db;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How many events a stream may fall behind before it reads them from the database instead.
const BACKLOG: usize = 4096;
/// Rows read per poll at most (a full page is followed by another poll at once).
const PAGE: i64 = 1000;
/// How long a missing id is waited for before it is taken as never coming.
const GAP_WAIT: Duration = Duration::from_secs(3);

pub struct EventHub {
    db: Db,
    sender: broadcast::Sender<Arc<StoredEvent>>,
    poll_every: Duration,
    poller: Mutex<Poller>,
    limits: StreamLimits,
    /// Open streams: in all, and per project ("" for an admin's every-project stream).
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// Whether a poller runs, and (set once it has read its starting point) when it is ready.
struct Poller {
    running: bool,
    ready: watch::Receiver<bool>,
}

/// How many streams one API process keeps open at most: in all, and for one project (so that
/// one tenant's flood cannot take every stream).
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub total: usize,
    pub per_project: usize,
}

/// One open stream's place; given back when the stream is dropped (the client went away).
pub struct StreamSlot {
    hub: Arc<EventHub>,
    project: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock();
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.project) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.project);
            }
        }
    }
}

impl EventHub {
    pub fn new(db: Db, poll_every: Duration, limits: StreamLimits) -> Arc<EventHub> {
        let (sender, _) = broadcast::channel(BACKLOG);
        Arc::new(EventHub {
            db,
            sender,
            poll_every: poll_every.max(Duration::from_millis(10)),
            poller: Mutex::new(Poller {
                running: false,
                ready: watch::channel(true).1,
            }),
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for one more stream of `project` (None: every project's), unless this process
    /// has as many open as it allows.
    pub fn open_slot(self: &Arc<Self>, project: Option<&str>) -> Option<StreamSlot> {
        let project = project.unwrap_or_default().to_string();
        let mut open = self.open.lock();
        let of_project = open.1.get(&project).copied().unwrap_or(0);
        if open.0 >= self.limits.total || of_project >= self.limits.per_project {
            return None;
        }
        open.0 += 1;
        *open.1.entry(project.clone()).or_insert(0) += 1;
        Some(StreamSlot {
            hub: Arc::clone(self),
            project,
        })
    }

    /// What is passed on from now on; starts the poller when it is not running, and returns
    /// once the poller has read its starting point. A stream reads its history after this:
    /// whatever is committed meanwhile is in that history or passed on, never in neither.
    pub async fn subscribe(self: &Arc<Self>) -> broadcast::Receiver<Arc<StoredEvent>> {
        let receiver = self.sender.subscribe();
        let mut ready = {
            let mut poller = self.poller.lock();
            if !poller.running {
                poller.running = true;
                let (set, ready) = watch::channel(false);
                poller.ready = ready;
                let hub = Arc::clone(self);
                actix_web::rt::spawn(async move { hub.poll_while_listened(set).await });
            }
            poller.ready.clone()
        };
        // A poller that died before it was ready drops its sender: go on without waiting.
        let _ = ready.wait_for(|set| *set).await;
        receiver
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn poll_while_listened(self: Arc<Self>, ready: watch::Sender<bool>) {
        let mut cursor = match self.db.run(StoredEvent::newest_id).await {
            Ok(newest) => Cursor::at(newest),
            Err(e) => {
                tracing::warn!(error = %e, "event stream: reading the newest event failed");
                Cursor::at(0)
            }
        };
        let _ = ready.send(true);
        loop {
            if self.sender.receiver_count() == 0 {
                // Under the lock a stream subscribes before it looks: it sees this poller
                // running (and is counted), or stopped (and starts another).
                let mut poller = self.poller.lock();
                if self.sender.receiver_count() == 0 {
                    poller.running = false;
                    return;
                }
            }
            let floor = cursor.floor;
            match self
                .db
                .run(move |c| StoredEvent::after(c, floor, &EventFilter::default(), PAGE))
                .await
            {
                Ok(rows) => {
                    let full = rows.len() as i64 == PAGE;
                    let mut taken = 0;
                    for row in rows {
                        if cursor.take(row.id) {
                            taken += 1;
                            // No stream listening is not an error: the next poll stops.
                            let _ = self.sender.send(Arc::new(row));
                        }
                    }
                    cursor.settle(Instant::now());
                    // A full page of new rows: more follow at once. (A full page of rows passed
                    // on already, above a missing id, waits like any poll.)
                    if full && taken > 0 {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event stream: reading events failed"),
            }
            tokio::time::sleep(self.poll_every).await;
        }
    }
}

/// What the hub has passed on: every id up to `floor`, and `above` it.
#[derive(Debug)]
struct Cursor {
    floor: i64,
    above: BTreeSet<i64>,
    /// Since when the id after `floor` has been missing while later ones came.
    gap_since: Option<Instant>,
}

impl Cursor {
    fn at(floor: i64) -> Cursor {
        Cursor {
            floor,
            above: BTreeSet::new(),
            gap_since: None,
        }
    }

    /// True when `id` was not passed on yet.
    fn take(&mut self, id: i64) -> bool {
        id > self.floor && self.above.insert(id)
    }

    /// Moves the floor over what came without a gap, and over a gap older than [`GAP_WAIT`].
    fn settle(&mut self, now: Instant) {
        loop {
            while self.above.remove(&(self.floor + 1)) {
                self.floor += 1;
            }
            let Some(&next) = self.above.first() else {
                self.gap_since = None;
                return;
            };
            let since = *self.gap_since.get_or_insert(now);
            if now.duration_since(since) < GAP_WAIT {
                return;
            }
            self.floor = next - 1;
            self.gap_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_id_is_passed_on_once_and_a_lasting_gap_is_stepped_over() {
        let start = Instant::now();
        let mut cursor = Cursor::at(10);
        assert!(cursor.take(11) && cursor.take(13));
        cursor.settle(start);
        assert_eq!(cursor.floor, 11, "12 is missing: the floor waits below it");
        assert!(!cursor.take(13), "13 was passed on already");
        assert!(cursor.take(12), "12 came late, and is passed on");
        cursor.settle(start);
        assert_eq!((cursor.floor, cursor.above.len()), (13, 0));
        assert!(cursor.take(15));
        cursor.settle(start + Duration::from_secs(1));
        assert_eq!(cursor.floor, 13);
        cursor.settle(start + Duration::from_secs(1) + GAP_WAIT);
        assert_eq!(cursor.floor, 15, "14 never came: stepped over");
        assert!(!cursor.take(9), "below the floor");
    }
}
