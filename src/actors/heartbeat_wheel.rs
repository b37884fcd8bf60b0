//! One timer for all the guest sessions of a host process (a coffer node, a pool of simulated
//! guests, a single guest): the sessions are spread over the slots of a wheel that turns once
//! per heartbeat interval, and each tick tells the sessions of one slot to beat ([`Beat`]:
//! heartbeat, volume check, expired request ids let go).
//!
//! A session costs the wheel a weak address (8 bytes) rather than a timer of its own: an
//! interval, its sleep and the context slot they spilled into cost ~390 bytes a session, paid
//! a hundred thousand times with as many simulated guests. A weak address keeps no session
//! alive (a session ended for good is not restarted because the wheel knows it); it is dropped
//! from its slot at the tick after its session ended.

use super::guest_session::{Beat, GuestSession};
use crate::config::Config;
use crate::telemetry::supervision::{Parent, SupervisionLog};
use actix::prelude::*;
use actix::WeakAddr;
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "heartbeat_wheel";
/// The finest tick: an interval shorter than `MAX_SLOTS` of them has fewer slots.
const MIN_TICK: Duration = Duration::from_millis(100);
/// Slots of the wheel at most (one tick a second at the default 30 s interval).
const MAX_SLOTS: u32 = 30;

/// A session beats from now on, every interval, starting about an interval from now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join(pub WeakAddr<GuestSession>);

pub struct HeartbeatWheel {
    /// The sessions each tick serves.
    slots: Vec<Vec<WeakAddr<GuestSession>>>,
    tick: Duration,
    /// The slot the next tick serves.
    hand: usize,
    /// Whose wheel this is, for the supervision log.
    host: String,
    supervision: Arc<SupervisionLog>,
}

impl HeartbeatWheel {
    pub fn new(interval: Duration, host: String, supervision: Arc<SupervisionLog>) -> HeartbeatWheel {
        let (slots, tick) = slots_for(interval);
        HeartbeatWheel {
            slots: (0..slots).map(|_| Vec::new()).collect(),
            tick,
            hand: 0,
            host,
            supervision,
        }
    }

    /// Starts the wheel of a host process whose sessions beat every `[guest]
    /// heartbeat_interval_s`.
    pub fn start_for(config: &Config, host: &str, supervision: &Arc<SupervisionLog>) -> Addr<HeartbeatWheel> {
        let (interval, host, supervision) = (
            config.guest.heartbeat_interval_s,
            host.to_string(),
            Arc::clone(supervision),
        );
        Supervisor::start(move |_| HeartbeatWheel::new(interval, host, supervision))
    }

    /// Tells the sessions of the slot under the hand to beat, lets go of the ended ones, and
    /// moves the hand on.
    fn turn(&mut self) {
        let Some(slot) = self.slots.get_mut(self.hand) else {
            return;
        };
        slot.retain(|session| match session.upgrade() {
            Some(addr) => {
                addr.do_send(Beat);
                true
            }
            None => false,
        });
        if slot.capacity() > 2 * slot.len() + 16 {
            slot.shrink_to_fit(); // many of its sessions ended
        }
        self.hand = (self.hand + 1) % self.slots.len().max(1);
    }
}

/// The number of slots and the tick for `interval`: ticks of at least `MIN_TICK`, at most
/// `MAX_SLOTS` slots, so that one turn lasts the interval.
fn slots_for(interval: Duration) -> (usize, Duration) {
    let fit = interval.as_millis() / MIN_TICK.as_millis();
    let slots = u32::try_from(fit).unwrap_or(MAX_SLOTS).clamp(1, MAX_SLOTS);
    (slots as usize, interval / slots)
}

impl Actor for HeartbeatWheel {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.supervision.started(KIND, &self.host, Parent::ROOT);
        ctx.run_interval(self.tick, |act, _| act.turn());
    }
}

impl Supervised for HeartbeatWheel {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Its sessions stay in their slots: a restart costs them at most one beat.
        self.supervision.restarting(KIND, &self.host, "heartbeat wheel stopped");
    }
}

impl Handler<Join> for HeartbeatWheel {
    type Result = ();

    fn handle(&mut self, Join(session): Join, _ctx: &mut Context<Self>) {
        // Into the slot the hand served last: it comes round again one interval from now, as
        // a timer of the session's own would have. (Sessions started together beat together;
        // so they did with timers of their own.)
        let slots = self.slots.len().max(1);
        let last_served = (self.hand + slots - 1) % slots;
        if let Some(slot) = self.slots.get_mut(last_served) {
            slot.push(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_lasts_the_interval() {
        assert_eq!(slots_for(Duration::from_secs(30)), (30, Duration::from_secs(1)));
        assert_eq!(slots_for(Duration::from_secs(1)), (10, Duration::from_millis(100)));
        assert_eq!(slots_for(Duration::from_millis(50)), (1, Duration::from_millis(50)));
        assert_eq!(slots_for(Duration::from_secs(3600)), (30, Duration::from_secs(120)));
    }
}
