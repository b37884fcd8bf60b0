//! The control plane's end of signed guest messages: each instance's guest key (made when its
//! server is provisioned, stored sealed under the master key, cached here) and [`GuestLink`], the
//! one way the task manager and the API cast and call a guest — signed, with its passwords sealed,
//! unless `[bus] sign_guest_messages` is off.

use crate::bus::signing::{self, GuestKey};
use crate::bus::{self, Bus, BusError, Envelope};
use crate::db::models::guest_key::GuestKeyRow;
use crate::db::Db;
use crate::secrets::MasterKey;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why an instance's guest key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum GuestKeyError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The stored key does not open under the master key, or is not a key.
    #[error("guest key of {instance_id}: {reason}")]
    Unreadable { instance_id: String, reason: String },
    #[error("no guest key for {0}")]
    Missing(String),
}

/// Keys cached at most; past it the cache starts again (a key is one row away).
const CACHE_MAX: usize = 200_000;

/// Instances found without a key that are remembered at most; past it that list starts again,
/// so a flood of made-up ids never pushes real keys out.
const ABSENT_MAX: usize = 10_000;

/// How long an instance found without a key is taken to have none: a flood of messages naming
/// it costs one database read per this long, and a key another node stores meanwhile (a server
/// being provisioned there) is seen at most this late.
const ABSENT_FOR: Duration = Duration::from_secs(2);

/// The guest keys of all instances, read through a cache that also remembers, briefly, the
/// instances that have none. Reads take a shared lock only.
pub struct GuestKeys {
    master: Arc<MasterKey>,
    cache: RwLock<HashMap<String, Arc<GuestKey>>>,
    absent: Mutex<HashMap<String, Instant>>,
}

impl GuestKeys {
    pub fn new(master: Arc<MasterKey>) -> GuestKeys {
        GuestKeys {
            master,
            cache: RwLock::default(),
            absent: Mutex::default(),
        }
    }

    fn cached(&self, instance_id: &str) -> Option<Arc<GuestKey>> {
        self.cache.read().get(instance_id).cloned()
    }

    /// Whether `instance_id` was found without a key within [`ABSENT_FOR`].
    fn known_absent(&self, instance_id: &str) -> bool {
        self.absent
            .lock()
            .get(instance_id)
            .is_some_and(|since| since.elapsed() < ABSENT_FOR)
    }

    fn remember_absent(&self, instance_id: &str) {
        let mut absent = self.absent.lock();
        if absent.len() >= ABSENT_MAX {
            absent.clear();
        }
        absent.insert(instance_id.to_string(), Instant::now());
    }

    fn remember(&self, instance_id: &str, sealed: &str) -> Result<Arc<GuestKey>, GuestKeyError> {
        let text = self.master.open(sealed).map_err(|e| GuestKeyError::Unreadable {
            instance_id: instance_id.to_string(),
            reason: e.to_string(),
        })?;
        let key = GuestKey::from_base64(&text).map_err(|e| GuestKeyError::Unreadable {
            instance_id: instance_id.to_string(),
            reason: e.to_string(),
        })?;
        let key = Arc::new(key);
        self.absent.lock().remove(instance_id);
        let mut cache = self.cache.write();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(instance_id.to_string(), Arc::clone(&key));
        Ok(key)
    }

    /// The instance's key, if its server was ever provisioned.
    pub async fn find(&self, db: &Db, instance_id: &str) -> Result<Option<Arc<GuestKey>>, GuestKeyError> {
        if let Some(key) = self.cached(instance_id) {
            return Ok(Some(key));
        }
        if self.known_absent(instance_id) {
            return Ok(None);
        }
        let id = instance_id.to_string();
        let sealed = db.run(move |c| GuestKeyRow::find(c, &id)).await?;
        match sealed {
            Some(sealed) => self.remember(instance_id, &sealed).map(Some),
            None => {
                self.remember_absent(instance_id);
                Ok(None)
            }
        }
    }

    /// The instance's key, made and stored now if it has none (at provisioning).
    pub async fn ensure(&self, db: &Db, instance_id: &str) -> Result<Arc<GuestKey>, GuestKeyError> {
        let mut keys = self.ensure_all(db, vec![instance_id.to_string()]).await?;
        keys.pop()
            .ok_or_else(|| GuestKeyError::Missing(instance_id.to_string()))
    }

    /// [`ensure`](Self::ensure) for many instances, with one trip to the database for those not
    /// cached; the keys in the order of `instance_ids`.
    pub async fn ensure_all(&self, db: &Db, instance_ids: Vec<String>) -> Result<Vec<Arc<GuestKey>>, GuestKeyError> {
        let mut found: HashMap<String, Arc<GuestKey>> = HashMap::new();
        let mut missing = Vec::new();
        for id in &instance_ids {
            match self.cached(id) {
                Some(key) => {
                    found.insert(id.clone(), key);
                }
                None => missing.push((id.clone(), self.master.seal(&GuestKey::generate().to_base64()))),
            }
        }
        if !missing.is_empty() {
            let stored = db
                .run(move |c| {
                    let mut stored = Vec::with_capacity(missing.len());
                    for (id, fresh) in missing {
                        let sealed = GuestKeyRow::ensure(c, &id, &fresh)?;
                        stored.push((id, sealed));
                    }
                    Ok(stored)
                })
                .await?;
            for (id, sealed) in stored {
                let key = self.remember(&id, &sealed)?;
                found.insert(id, key);
            }
        }
        instance_ids
            .iter()
            .map(|id| found.get(id).cloned().ok_or_else(|| GuestKeyError::Missing(id.clone())))
            .collect()
    }

    pub fn forget(&self, instance_id: &str) {
        self.cache.write().remove(instance_id);
    }
}

/// Why a guest's message was not taken.
#[derive(Debug)]
pub enum CheckError {
    /// The instance it names has no guest key: dropped for good.
    Rejected(String),
    /// The key could not be read now (the database): the message must come back later.
    Unavailable(String),
}

/// Casts and calls to guests, signed under each instance's key.
#[derive(Clone)]
pub struct GuestLink {
    bus: Bus,
    db: Db,
    keys: Arc<GuestKeys>,
    sign: bool,
}

impl GuestLink {
    pub fn new(bus: Bus, db: Db, keys: Arc<GuestKeys>, sign: bool) -> GuestLink {
        GuestLink { bus, db, keys, sign }
    }

    pub fn keys(&self) -> &Arc<GuestKeys> {
        &self.keys
    }

    /// The instance's key; an instance without one never had a guest (its server was never
    /// provisioned), so nothing could answer: `NoConsumer`.
    async fn key(&self, instance_id: &str, method: &str) -> Result<Arc<GuestKey>, BusError> {
        self.keys
            .find(&self.db, instance_id)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?
            .ok_or_else(|| BusError::NoConsumer {
                topic: bus::guest_topic(instance_id),
                method: method.to_string(),
            })
    }

    async fn envelope(&self, instance_id: &str, method: &str, args: serde_json::Value) -> Result<Envelope, BusError> {
        let mut envelope = Envelope::new(method, args);
        envelope.context.request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
        envelope.context.global_request_id = crate::telemetry::request::current();
        if self.sign {
            envelope.context.issued = Some(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
            signing::sign(&mut envelope, instance_id, &*self.key(instance_id, method).await?);
        }
        Ok(envelope)
    }

    pub async fn cast(&self, instance_id: &str, method: &str, args: serde_json::Value) -> Result<(), BusError> {
        let envelope = self.envelope(instance_id, method, args).await?;
        self.bus.cast(&bus::guest_topic(instance_id), envelope).await
    }

    pub async fn call(
        &self,
        instance_id: &str,
        method: &str,
        args: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        let envelope = self.envelope(instance_id, method, args).await?;
        let answer = self
            .bus
            .call(&bus::guest_topic(instance_id), envelope.clone(), timeout)
            .await?;
        if !self.sign {
            return Ok(answer);
        }
        let key = self.key(instance_id, method).await?;
        signing::open_reply(answer, &envelope, instance_id, &key).map_err(|e| {
            BusError::Remote(format!(
                "the answer of {instance_id}'s guest to {method} is rejected: {e}"
            ))
        })
    }

    /// Whether guests' messages must be signed (and so checked with [`GuestLink::key_to_check`]).
    pub fn checks_signatures(&self) -> bool {
        self.sign
    }

    /// The key a message a guest sent about `instance_id` (a conductor's input) must be signed
    /// under. Check it with [`verify_from_guest`], which is CPU work and may run on another
    /// thread.
    pub async fn key_to_check(&self, instance_id: &str) -> Result<Arc<GuestKey>, CheckError> {
        self.keys
            .find(&self.db, instance_id)
            .await
            .map_err(|e| CheckError::Unavailable(e.to_string()))?
            .ok_or_else(|| CheckError::Rejected(format!("instance {instance_id} has no guest key")))
    }
}

/// Checks a guest's message about `instance_id` under the key [`GuestLink::key_to_check`] gave,
/// and opens its sealed passwords.
pub fn verify_from_guest(instance_id: &str, envelope: &mut Envelope, key: &GuestKey) -> Result<(), String> {
    signing::verify(envelope, instance_id, key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instance found without a key is taken to have none for a moment only: a key another
    /// node stores meanwhile is seen once that moment has passed, and one stored through this
    /// cache at once.
    #[tokio::test]
    async fn a_missing_key_is_remembered_briefly() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let db = Db::connect(&url, 2, Duration::from_secs(10)).expect("migrated");
        let master = Arc::new(MasterKey::from_bytes(&[7; 32]));
        let keys = GuestKeys::new(Arc::clone(&master));
        assert!(keys.find(&db, "elsewhere").await.expect("read").is_none());
        let sealed = master.seal(&GuestKey::generate().to_base64());
        db.run(move |c| GuestKeyRow::ensure(c, "elsewhere", &sealed))
            .await
            .expect("stored by another node");
        assert!(
            keys.find(&db, "elsewhere").await.expect("read").is_none(),
            "the miss is remembered"
        );
        tokio::time::sleep(ABSENT_FOR).await;
        assert!(
            keys.find(&db, "elsewhere").await.expect("read").is_some(),
            "and then forgotten"
        );

        assert!(keys.find(&db, "here").await.expect("read").is_none());
        let made = keys.ensure(&db, "here").await.expect("made");
        let found = keys.find(&db, "here").await.expect("read").expect("found at once");
        assert_eq!(found.to_base64(), made.to_base64());
    }
}
