//! The simulated compute driver: a server is a guest session with a simulated datastore.

use crate::guest::simulated::SimulatedDatastore;
use crate::guest::Datastore;
use std::time::Duration;

/// Builds the datastore driver for a server of `manager`, or says why it cannot.
pub fn datastore_for(manager: &str, prepare_time: Duration, prepared: bool) -> Result<Box<dyn Datastore>, String> {
    match manager {
        "simulated" => Ok(Box::new(SimulatedDatastore::new(prepare_time, prepared))),
        other => Err(format!("datastore {other} is not available on this compute driver")),
    }
}
