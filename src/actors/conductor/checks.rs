//! A batch's guest messages checked before they are applied: each one's key is looked up on the
//! conductor's thread (cached; the database only for an instance not seen yet), then the
//! signatures are verified and the heartbeats decoded on a blocking thread. That is most of a
//! heartbeat's CPU, and so the conductor's thread only gathers, applies and acknowledges; the
//! API and the other actors sharing it are not held up by a flood of guest messages.

use super::BatchError;
use crate::bus::signing::GuestKey;
use crate::bus::Delivery;
use crate::guest::messages::Heartbeat;
use crate::guest_link::{verify_from_guest, CheckError};
use crate::services::Services;
use std::sync::Arc;

/// What the check made of one message.
pub(super) enum Checked {
    /// A verified heartbeat, decoded.
    Heartbeat(Heartbeat),
    /// A verified message of another method; the conductor decodes and applies it.
    Other,
    /// Not taken, and why: it names no instance, is unsigned, the instance has no guest key,
    /// or it does not verify under that key (signed for another instance or with another key,
    /// or a sealed password that does not open).
    Rejected(String),
    /// Verified, but its arguments are not what its method takes.
    Malformed(String),
}

/// A message, the instance it names (if any), and the key to check it with (`None`: guest
/// messages are not signed) or why it is rejected before any check.
type Keyed = (Delivery, Option<String>, Result<Option<Arc<GuestKey>>, String>);

/// Checks the batch's messages (pool reports are stored at once and not returned). Fails when
/// keys cannot be read now, or the check's thread failed; then none of the batch's other
/// messages is applied or acknowledged, and they come again.
pub(super) async fn check(services: &Services, batch: Vec<Delivery>) -> Result<Vec<(Delivery, Checked)>, BatchError> {
    let mut keyed: Vec<Keyed> = Vec::with_capacity(batch.len());
    for delivery in batch {
        if delivery.envelope.method == "report_service" {
            crate::actors::service_reporter::store_pool_report(services, delivery).await;
            continue;
        }
        let subject = delivery.envelope.args.get("instance_id").and_then(|v| v.as_str());
        let Some(subject) = subject.map(str::to_string) else {
            let why = format!("{} names no instance_id", delivery.envelope.method);
            keyed.push((delivery, None, Err(why)));
            continue;
        };
        let key = match services.guests.key_to_check(&subject, &delivery.envelope).await {
            Ok(key) => Ok(key),
            Err(CheckError::Rejected(why)) => Err(why),
            Err(CheckError::Unavailable(e)) => return Err(BatchError::Keys(e)),
        };
        keyed.push((delivery, Some(subject), key));
    }
    let verify = move || {
        keyed
            .into_iter()
            .map(|(mut delivery, subject, key)| {
                let checked = verify_and_decode(&mut delivery, subject.as_deref(), key);
                (delivery, checked)
            })
            .collect()
    };
    tokio::task::spawn_blocking(verify)
        .await
        .map_err(|e| BatchError::Check(e.to_string()))
}

/// Verifies one message (when signed messages are required) and decodes it if a heartbeat.
fn verify_and_decode(
    delivery: &mut Delivery,
    subject: Option<&str>,
    key: Result<Option<Arc<GuestKey>>, String>,
) -> Checked {
    let verified = match (subject, key) {
        (_, Err(why)) => Err(why),
        (Some(subject), Ok(Some(key))) => verify_from_guest(subject, &mut delivery.envelope, &key),
        (_, Ok(None)) => Ok(()),
        (None, Ok(Some(_))) => Err("names no instance_id".to_string()),
    };
    if let Err(why) = verified {
        return Checked::Rejected(why);
    }
    if delivery.envelope.method != "heartbeat" {
        return Checked::Other;
    }
    match delivery.envelope.args::<Heartbeat>() {
        Ok(heartbeat) => Checked::Heartbeat(heartbeat),
        Err(e) => Checked::Malformed(e),
    }
}
