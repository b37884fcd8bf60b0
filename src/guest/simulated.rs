//! The simulated datastore: databases and users in memory, a configurable prepare time, no
//! process. Thousands of them fit in one coffer for load tests.

use super::{Datastore, FilesystemStats, GuestError, PrepareRequest};
use crate::status::ServiceStatus;
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct State {
    prepared: bool,
    preparing: bool,
    running: bool,
    databases: Vec<serde_json::Value>,
    users: Vec<serde_json::Value>,
    volume_size_gb: Option<i64>,
}

pub struct SimulatedDatastore {
    prepare_time: Duration,
    state: Arc<Mutex<State>>,
}

impl SimulatedDatastore {
    /// A fresh datastore; `prepared` is true when re-adopting one whose prepare already ran.
    pub fn new(prepare_time: Duration, prepared: bool) -> SimulatedDatastore {
        let state = State {
            prepared,
            running: prepared,
            ..State::default()
        };
        SimulatedDatastore {
            prepare_time,
            state: Arc::new(Mutex::new(state)),
        }
    }
}

impl Datastore for SimulatedDatastore {
    fn prepare(&mut self, request: PrepareRequest) -> BoxFuture<'static, Result<(), GuestError>> {
        let state = Arc::clone(&self.state);
        let delay = self.prepare_time;
        async move {
            {
                let mut s = state.lock();
                if s.prepared || s.preparing {
                    return Ok(());
                }
                s.preparing = true;
            }
            tokio::time::sleep(delay).await;
            let mut s = state.lock();
            s.databases = request.databases;
            s.users = request.users;
            s.volume_size_gb = request.volume_size_gb;
            s.prepared = true;
            s.preparing = false;
            s.running = true;
            Ok(())
        }
        .boxed()
    }

    fn restart(&mut self) -> BoxFuture<'static, Result<(), GuestError>> {
        let state = Arc::clone(&self.state);
        async move {
            let mut s = state.lock();
            if !s.prepared {
                return Err(GuestError::Unprocessable(
                    "the datastore is not prepared yet".into(),
                ));
            }
            s.running = true;
            Ok(())
        }
        .boxed()
    }

    fn stop(&mut self) -> BoxFuture<'static, Result<(), GuestError>> {
        self.state.lock().running = false;
        futures::future::ready(Ok(())).boxed()
    }

    fn status(&mut self) -> BoxFuture<'static, ServiceStatus> {
        let s = self.state.lock();
        let status = match (s.prepared, s.running) {
            (false, _) => ServiceStatus::Building,
            (true, true) => ServiceStatus::Healthy,
            (true, false) => ServiceStatus::Shutdown,
        };
        futures::future::ready(status).boxed()
    }

    fn filesystem_stats(&mut self) -> BoxFuture<'static, Result<FilesystemStats, GuestError>> {
        let s = self.state.lock();
        let total = s.volume_size_gb.unwrap_or(1) as f64;
        let used = 0.001 * (s.databases.len() + s.users.len()) as f64;
        futures::future::ready(Ok(FilesystemStats { total, used })).boxed()
    }

    fn is_prepared(&self) -> bool {
        self.state.lock().prepared
    }
}
