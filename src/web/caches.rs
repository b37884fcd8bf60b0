//! What the API answers from memory: validated tokens (their principal, until the token
//! expires) and the catalog (datastores, versions, flavors). Both are read-mostly and cost a
//! thread hop and several statements each time they come from the database.
//!
//! Every change to the rows behind them moves a generation in `cache_generations` (triggers
//! do it, whoever writes). A thread of each API process reads the generations every
//! [`POLL_EVERY`] on a connection of its own and drops a kind whose generation moved. The
//! rules that keep memory from ever answering what the database no longer holds:
//! - memory answers only while the last poll *began* less than [`STALE_AFTER`] ago; a process
//!   whose polls fail or lag answers from the database;
//! - a value read from the database is kept only if the process was fresh when its read began
//!   and nothing was dropped since (the epoch of its [`Ticket`]);
//! - so a change committed at T is out of every API process's memory by T + [`STALE_AFTER`]:
//!   a revocation waits a little longer than that ([`ReadCaches::settle_time`]) before it answers
//!   when other API processes may exist, and drops this process's own memory at once. A change
//!   made elsewhere (`coffer user`, SQL) takes effect within [`STALE_AFTER`].

use crate::db::models::cache_generation::Generations;
use crate::db::models::catalog::Catalog;
use crate::db::{now_ms, Db, DbError};
use crate::identity::Principal;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the generations are read.
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// How old the last poll may be for memory to answer.
pub const STALE_AFTER: Duration = Duration::from_millis(200);
/// Validated tokens kept at most (a full cache is emptied and fills again).
const MAX_TOKENS: usize = 100_000;

/// A token as memory knows it: the SHA-256 of the token, never the token itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn of(token: &str) -> TokenKey {
        TokenKey(Sha256::digest(token.as_bytes()).into())
    }
}

/// The epochs a database read began under; what it read is kept only if they still hold.
#[derive(Clone, Copy)]
pub struct Ticket {
    tokens: u64,
    catalog: u64,
}

/// A value that is dropped (and its epoch moved) whenever its kind's generation moves.
struct EpochSlot<T> {
    inner: RwLock<(u64, T)>,
}

impl<T: Default> EpochSlot<T> {
    fn new() -> Self {
        EpochSlot {
            inner: RwLock::new((0, T::default())),
        }
    }
    fn epoch(&self) -> u64 {
        self.inner.read().0
    }
    fn drop_all(&self) {
        let mut slot = self.inner.write();
        slot.0 += 1;
        slot.1 = T::default();
    }
    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.inner.read().1)
    }
    /// Applies `f` only if nothing was dropped since `epoch`.
    fn update_if(&self, epoch: u64, f: impl FnOnce(&mut T)) {
        let mut slot = self.inner.write();
        if slot.0 == epoch {
            f(&mut slot.1);
        }
    }
}

/// The API process's memory of tokens and the catalog; see the module's rules.
pub struct ReadCaches {
    born: Instant,
    /// Milliseconds after `born` at which the last successful poll began, plus one (0: never).
    polled: AtomicU64,
    tokens: EpochSlot<HashMap<TokenKey, Arc<Principal>>>,
    catalog: EpochSlot<Option<Arc<Catalog>>>,
}

impl ReadCaches {
    /// The caches, and the thread that polls the generations on a connection of its own (so no
    /// request load delays it); the thread ends when the caches are dropped.
    pub fn start(db: &Db) -> Result<Arc<ReadCaches>, String> {
        let caches = Arc::new(ReadCaches {
            born: Instant::now(),
            polled: AtomicU64::new(0),
            tokens: EpochSlot::new(),
            catalog: EpochSlot::new(),
        });
        let own = db.unmetered_pool(1).map_err(|e| e.to_string())?;
        let watched = Arc::downgrade(&caches);
        std::thread::Builder::new()
            .name("coffer-cache-poll".into())
            .spawn(move || poll(watched, own))
            .map_err(|e| format!("starting the cache poller: {e}"))?;
        Ok(caches)
    }

    fn since_born_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// Whether memory may answer now.
    fn fresh(&self) -> bool {
        match self.polled.load(Ordering::Acquire) {
            0 => false,
            began => self.since_born_ms().saturating_sub(began - 1) < STALE_AFTER.as_millis() as u64,
        }
    }

    /// Taken before a database read whose result may be kept; None while memory may not answer.
    pub fn ticket(&self) -> Option<Ticket> {
        let ticket = Ticket {
            tokens: self.tokens.epoch(),
            catalog: self.catalog.epoch(),
        };
        self.fresh().then_some(ticket)
    }

    /// The principal of a token memory holds, unless it has expired.
    pub fn principal(&self, key: &TokenKey) -> Option<Arc<Principal>> {
        if !self.fresh() {
            return None;
        }
        let now = now_ms();
        self.tokens.read(|m| m.get(key).filter(|p| p.expires_at > now).cloned())
    }

    /// Keeps a principal the database just gave for `key` (see [`ReadCaches::ticket`]).
    pub fn remember_principal(&self, ticket: Option<Ticket>, key: TokenKey, principal: Arc<Principal>) {
        let Some(ticket) = ticket else { return };
        self.tokens.update_if(ticket.tokens, |m| {
            // Full: start over (a walk over every entry under the lock would stall all readers).
            if m.len() >= MAX_TOKENS {
                m.clear();
            }
            m.insert(key, principal);
        });
    }

    /// Drops every token at once (this process revoked one).
    pub fn forget_tokens(&self) {
        self.tokens.drop_all();
    }

    /// The catalog, from memory when it may answer, else read (and kept if allowed).
    pub async fn catalog(&self, db: &Db) -> Result<Arc<Catalog>, DbError> {
        if self.fresh() {
            if let Some(held) = self.catalog.read(Clone::clone) {
                return Ok(held);
            }
        }
        let ticket = self.ticket();
        let read = Arc::new(db.run(Catalog::load).await?);
        if let Some(ticket) = ticket {
            self.catalog
                .update_if(ticket.catalog, |slot| *slot = Some(read.clone()));
        }
        Ok(read)
    }

    /// How long a change this process made must wait before it answers, so that every other
    /// API process has dropped what it remembered of it: past [`STALE_AFTER`] when other API
    /// processes may share the database (a RabbitMQ bus or a PostgreSQL database), else none.
    pub fn settle_time(config: &crate::config::Config, db: &Db) -> Duration {
        let shared = config.bus.transport == crate::config::Transport::Amqp || db.backend == "postgres";
        if shared {
            STALE_AFTER + POLL_EVERY
        } else {
            Duration::ZERO
        }
    }
}

/// The poller: reads the generations every [`POLL_EVERY`], drops what moved, marks freshness.
fn poll(watched: Weak<ReadCaches>, db: Db) {
    let mut seen: Option<Generations> = None;
    let mut failing = false;
    loop {
        std::thread::sleep(POLL_EVERY);
        let Some(caches) = watched.upgrade() else { return };
        let began = caches.since_born_ms();
        let read = db.get_connection().and_then(|mut conn| Generations::read(&mut conn));
        match read {
            Ok(now) => {
                if let Some(before) = seen {
                    if before.identity != now.identity {
                        caches.tokens.drop_all();
                    }
                    if before.catalog != now.catalog {
                        caches.catalog.drop_all();
                    }
                }
                seen = Some(now);
                caches.polled.store(began + 1, Ordering::Release);
                if failing {
                    tracing::info!(
                        cache.kind = "api",
                        "cache generations readable again: answering from memory"
                    );
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(cache.kind = "api", error = %e, "cache generations unreadable: answering from the database");
                    failing = true;
                }
            }
        }
    }
}
