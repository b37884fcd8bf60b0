//! The simulated compute driver: a server is a guest session with a simulated datastore.

use crate::guest::simulated::SimulatedDatastore;
use crate::guest::Datastore;
use std::time::Duration;

/// Builds the driver of a simulated server.
pub fn datastore_for(prepare_time: Duration, prepared: bool) -> Box<dyn Datastore> {
    Box::new(SimulatedDatastore::new(prepare_time, prepared))
}
