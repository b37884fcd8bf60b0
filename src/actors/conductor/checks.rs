//! A batch's guest messages checked before they are applied: each message's key is looked up
//! on the conductor's thread (from the node's key cache, which also remembers for 2 s the
//! instances that have none; the database only for an instance not seen yet), then the
//! signatures are verified and the heartbeats decoded on a blocking thread. That is most of a
//! heartbeat's CPU, and so the conductor's thread only gathers, applies and acknowledges; the
//! API and the other actors sharing it are not held up by a flood of guest messages.

use super::BatchError;
use crate::bus::signing::{GuestKey, SignError};
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

/// What a message is to be checked with, decided on the conductor's thread.
enum ToCheck {
    /// Rejected before any check, and why.
    Rejected(String),
    /// Guest messages are not signed here: nothing to verify.
    NotSigned,
    /// Verify its signature for `subject` (the instance it names) under `key`.
    Signed { subject: String, key: Arc<GuestKey> },
}

/// Checks the batch's messages (pool reports are stored at once and not returned). Fails when
/// keys cannot be read now, or the check's thread failed; then none of the batch's other
/// messages is applied or acknowledged, and they come again.
pub(super) async fn check(services: &Services, batch: Vec<Delivery>) -> Result<Vec<(Delivery, Checked)>, BatchError> {
    let mut to_check: Vec<(Delivery, ToCheck)> = Vec::with_capacity(batch.len());
    for delivery in batch {
        if delivery.envelope.method == "report_service" {
            crate::actors::service_reporter::store_pool_report(services, delivery).await;
            continue;
        }
        let what = what_to_check(services, &delivery).await?;
        to_check.push((delivery, what));
    }
    let verify = move || {
        to_check
            .into_iter()
            .map(|(mut delivery, what)| {
                let checked = verify_and_decode(&mut delivery, what);
                (delivery, checked)
            })
            .collect()
    };
    tokio::task::spawn_blocking(verify)
        .await
        .map_err(|e| BatchError::Check(e.to_string()))
}

/// Decides how one message is checked.
async fn what_to_check(services: &Services, delivery: &Delivery) -> Result<ToCheck, BatchError> {
    let Some(subject) = delivery.envelope.args.get("instance_id").and_then(|v| v.as_str()) else {
        return Ok(ToCheck::Rejected(format!(
            "{} names no instance_id",
            delivery.envelope.method
        )));
    };
    if !services.guests.checks_signatures() {
        return Ok(ToCheck::NotSigned);
    }
    if delivery.envelope.context.signature.is_none() {
        return Ok(ToCheck::Rejected(SignError::Unsigned.to_string()));
    }
    Ok(match services.guests.key_to_check(subject).await {
        Ok(key) => ToCheck::Signed {
            subject: subject.to_string(),
            key,
        },
        Err(CheckError::Rejected(why)) => ToCheck::Rejected(why),
        Err(CheckError::Unavailable(e)) => return Err(BatchError::Keys(e)),
    })
}

/// Verifies one message (when signed messages are required) and decodes it if a heartbeat.
fn verify_and_decode(delivery: &mut Delivery, what: ToCheck) -> Checked {
    let verified = match what {
        ToCheck::Rejected(why) => Err(why),
        ToCheck::NotSigned => Ok(()),
        ToCheck::Signed { subject, key } => verify_from_guest(&subject, &mut delivery.envelope, &key),
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
