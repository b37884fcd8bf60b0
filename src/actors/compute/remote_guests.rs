//! Servers whose guests run outside this process: handed to a `coffer guest --simulated` pool,
//! or destroyed through (and, when it does not answer, around) their own guest process.

use crate::bus;
use crate::bus::signing::GuestKey;
use crate::compute::error::ComputeError;
use crate::compute::guest_process;
use crate::ids::InstanceId;
use crate::services::Services;
use std::path::Path;
use std::time::Duration;

/// Hands a simulated instance's guest to a `coffer guest --simulated` pool (idempotent there).
pub(crate) async fn host_in_pool(
    services: &Services,
    instance_id: &str,
    key: &GuestKey,
    prepared: bool,
) -> Result<(), ComputeError> {
    let args = crate::guest::messages::encode(&crate::guest::messages::HostGuest {
        instance_id: InstanceId::new(instance_id),
        sealed_key: services.secrets.seal(&key.to_base64()),
        prepared,
    });
    // The guest's queue is made here, by the side that hands the guest out; a pool's session
    // that comes back after a lost connection only consumes a queue that still exists.
    services
        .bus
        .ensure_topic(&bus::guest_topic(instance_id))
        .await
        .map_err(ComputeError::bus("declaring the guest's queue"))?;
    services
        .bus
        .cast(bus::GUEST_POOL, crate::bus::Envelope::new("host_guest", args))
        .await
        .map_err(ComputeError::bus("handing the guest to a pool"))
}

/// Destroys a server whose guest runs elsewhere: the guest is asked to (and then exits); a
/// guest that does not answer is killed and its datastore destroyed from here. An error: the
/// broker cannot be reached, and the guest may still run (the delete asks again).
pub(super) async fn destroy_remote(services: &Services, instance_id: &str, volume: &Path) -> Result<(), ComputeError> {
    let asked = services
        .guests
        .call(instance_id, "destroy", serde_json::json!({}), Duration::from_secs(60))
        .await;
    match asked {
        Ok(_) => return Ok(()),
        Err(e @ (crate::bus::BusError::Unavailable(_) | crate::bus::BusError::Closed)) => {
            return Err(ComputeError::Refused(format!(
                "asking the guest to destroy its server: {e}"
            )))
        }
        // No guest runs (a create that failed before it had one, a pool that died): nothing
        // waits for an answer that cannot come.
        Err(e @ crate::bus::BusError::NoConsumer { .. }) => {
            tracing::info!(instance.id = %instance_id, "no guest to ask ({e}); destroying what is left here")
        }
        Err(e) => {
            tracing::warn!(instance.id = %instance_id, "the guest did not destroy its server ({e}); doing it here")
        }
    }
    if let Some(pid) = guest_process::running(volume, instance_id) {
        crate::guest::server::kill(pid, Duration::from_secs(5)).await;
    }
    let Some(spec) = guest_process::read_spec(volume) else {
        return Ok(());
    };
    let key = match services.guests.keys().find(&services.db, instance_id).await {
        Ok(Some(key)) => key,
        _ => return Ok(()),
    };
    let address = spec.address.and_then(|a| a.parse().ok());
    let driver = crate::compute::datastore_for(&services.config, instance_id, spec.manager, address, true, &key);
    match driver {
        Ok(mut datastore) => {
            if let Err(e) = datastore.destroy().await {
                tracing::warn!(instance.id = %instance_id, "destroying the server: {e}");
            }
        }
        Err(e) => tracing::warn!(instance.id = %instance_id, "{e}"),
    }
    Ok(())
}
