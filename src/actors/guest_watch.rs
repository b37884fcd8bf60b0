//! The watch over pool-hosted guests (`[compute] guest_host = "process"`): a guest pool that
//! dies takes its simulated guests with it, and nothing else would host them again. One task
//! manager at a time (the holder of the `guest_watch` lease) looks every scan for simulated
//! instances whose guest has been silent for three heartbeat intervals (at most half the
//! heartbeat expiry); a guest whose queue has no consumer is orphaned and is handed to the
//! pools again (`host_guest`), where a live pool with room takes it — well within
//! `heartbeat_expiry_s`. A guest that is merely slow still has its consumer and is left alone.

use super::compute::host_in_pool;
use crate::bus;
use crate::compute::error::ComputeError;
use crate::db::models::cluster::hold_lease;
use crate::db::models::instance::Instance;
use crate::services::Services;
use crate::telemetry::supervision::Parent;
use actix::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const KIND: &str = "guest_watch";
const LEASE: &str = "guest_watch";
/// Guests looked at per scan at most.
const PER_SCAN: i64 = 5_000;

pub struct GuestWatch {
    services: Services,
    /// When each orphan was last handed to the pools (not asked again before it could answer).
    asked: HashMap<String, Instant>,
    busy: bool,
}

impl GuestWatch {
    pub fn new(services: Services) -> GuestWatch {
        GuestWatch {
            services,
            asked: HashMap::new(),
            busy: false,
        }
    }

    /// How long a guest may be silent before its consumer is looked at.
    fn silent_after(&self) -> Duration {
        let guest = &self.services.config.guest;
        let three_beats = guest.heartbeat_interval_s * 3;
        three_beats
            .min(guest.heartbeat_expiry_s / 2)
            .max(Duration::from_secs(1))
    }

    fn scan(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let silent = self.silent_after();
        self.asked.retain(|_, at| at.elapsed() < silent);
        let recently: Vec<String> = self.asked.keys().cloned().collect();
        let services = self.services.clone();
        let scan = async move { rehost_orphans(&services, silent, recently).await };
        ctx.spawn(scan.into_actor(self).map(|outcome, act, _| {
            act.busy = false;
            match outcome {
                Ok(rehosted) if !rehosted.is_empty() => {
                    let reason = format!(
                        "{} took {} orphaned guests to the pools again (their pool stopped answering)",
                        act.services.node_id,
                        rehosted.len()
                    );
                    act.services
                        .supervision
                        .note(KIND, &act.services.node_id, "rehosted", &reason);
                    let now = Instant::now();
                    act.asked.extend(rehosted.into_iter().map(|id| (id, now)));
                }
                Ok(_) => {}
                Err(e) => crate::telemetry::warn_limited("guest watch", &format!("guest watch: {e}")),
            }
        }));
    }
}

/// Hands every orphaned guest to the pools; returns those handed.
async fn rehost_orphans(
    services: &Services,
    silent: Duration,
    recently: Vec<String>,
) -> Result<Vec<String>, ComputeError> {
    let lease_ms = services.config.taskmanager.lease_s.as_millis() as i64;
    let node = services.node_id.clone();
    let cutoff = crate::db::now_ms() - silent.as_millis() as i64;
    let candidates = services
        .db
        .run(move |c| {
            if !hold_lease(c, LEASE, &node, lease_ms)? {
                return Ok(Vec::new());
            }
            Instance::silent_pool_guests(c, cutoff, PER_SCAN)
        })
        .await?;
    let mut rehosted = Vec::new();
    for (id, prepared) in candidates {
        if recently.contains(&id) {
            continue;
        }
        match rehost_if_orphaned(services, &id, prepared).await {
            Ok(true) => rehosted.push(id),
            Ok(false) => {}
            // The next scan tries again; what was handed over so far is reported.
            Err(e) => {
                crate::telemetry::warn_limited("guest watch", &format!("guest watch: {id}: {e}"));
                break;
            }
        }
    }
    Ok(rehosted)
}

/// Hands the guest to the pools if nothing consumes its queue; true when it did.
async fn rehost_if_orphaned(services: &Services, id: &str, prepared: bool) -> Result<bool, ComputeError> {
    if services
        .bus
        .consumers(&bus::guest_topic(id))
        .await
        .map_err(ComputeError::bus("counting the guest's consumers"))?
        > 0
    {
        return Ok(false); // slow, not orphaned
    }
    // Found, never made: a key gone since the scan is an instance deleted since.
    let Some(key) = services.guests.keys().find(&services.db, id).await? else {
        return Ok(false);
    };
    host_in_pool(services, id, &key, prepared).await?;
    tracing::info!(instance.id = %id, "guest watch: guest orphaned; handed to the pools again");
    Ok(true)
}

impl Actor for GuestWatch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.services
            .supervision
            .started(KIND, &self.services.node_id, Parent::ROOT);
        let config = &self.services.config;
        let every = config
            .taskmanager
            .scan_interval_s
            .min(config.guest.heartbeat_interval_s);
        let every = every.max(Duration::from_millis(500));
        ctx.run_interval(every, |act, ctx| act.scan(ctx));
    }
}

impl Supervised for GuestWatch {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.busy = false;
        self.services
            .supervision
            .restarting(KIND, &self.services.node_id, "guest watch stopped");
    }
}
