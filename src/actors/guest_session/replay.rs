//! A guest's replay protection: the ids of the signed requests it took, each kept while its
//! request could still be taken (its issue time within the TTL), so none is taken twice. Past
//! the TTL an id is let go — the request is refused by its age anyway — so an idle session
//! keeps none, and no memory for them.

use crate::bus::signing::SignError;
use crate::bus::Envelope;
use std::collections::HashMap;

/// Ids kept at most before the expired ones are let go at once (a burst of requests).
const PRUNE_AT: usize = 4096;

/// Request ids taken, with the time each was issued.
#[derive(Default)]
pub(super) struct SeenRequests(HashMap<String, f64>);

impl SeenRequests {
    pub(super) fn contains(&self, request_id: &str) -> bool {
        self.0.contains_key(request_id)
    }

    /// Takes a verified request once: refused when older than `ttl` at `now`, or taken before.
    pub(super) fn take_once(&mut self, envelope: &Envelope, now: f64, ttl: f64) -> Result<(), SignError> {
        let issued = envelope.context.issued.ok_or(SignError::NoIssueTime)?;
        if now - issued > ttl {
            return Err(SignError::Expired { age_s: now - issued });
        }
        let id = &envelope.context.request_id;
        if self.0.contains_key(id) {
            return Err(SignError::Replayed(id.clone()));
        }
        if self.0.len() >= PRUNE_AT {
            self.forget_expired(now, ttl);
        }
        self.0.insert(id.clone(), issued);
        Ok(())
    }

    /// Lets go of the ids issued more than `ttl` seconds before `now`, and of the table's
    /// memory once none is left.
    pub(super) fn forget_expired(&mut self, now: f64, ttl: f64) {
        if self.0.is_empty() {
            return;
        }
        self.0.retain(|_, issued| now - *issued <= ttl);
        if self.0.is_empty() {
            self.0 = HashMap::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued_at(request_id: &str, issued: f64) -> Envelope {
        let mut envelope = Envelope::new("rpc_ping", serde_json::json!({}));
        envelope.context.request_id = request_id.to_string();
        envelope.context.issued = Some(issued);
        envelope
    }

    #[test]
    fn a_request_is_taken_once_within_its_ttl() {
        let mut seen = SeenRequests::default();
        assert!(seen.take_once(&issued_at("a", 100.0), 110.0, 60.0).is_ok());
        assert!(matches!(
            seen.take_once(&issued_at("a", 100.0), 120.0, 60.0),
            Err(SignError::Replayed(_))
        ));
        assert!(matches!(
            seen.take_once(&issued_at("b", 100.0), 200.0, 60.0),
            Err(SignError::Expired { .. })
        ));
    }

    #[test]
    fn ids_past_the_ttl_are_let_go_with_their_memory() {
        let mut seen = SeenRequests::default();
        seen.take_once(&issued_at("old", 100.0), 100.0, 60.0).expect("old");
        seen.take_once(&issued_at("recent", 170.0), 170.0, 60.0)
            .expect("recent");
        seen.forget_expired(200.0, 60.0);
        assert!(!seen.contains("old") && seen.contains("recent"));
        seen.forget_expired(300.0, 60.0);
        assert_eq!(seen.0.capacity(), 0, "an idle session keeps no table");
    }
}
