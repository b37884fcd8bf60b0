//! The HTTP server of the API: actix-web's app on actix-http, each connection wrapped in
//! [`FaultIo`](crate::web::fault_io::FaultIo) so that even the HTTP layer's own refusals carry
//! Trove's fault body and lingers when closed early ([`Lingering`]); links name `[api] public_url` (see [`crate::web::links`]).

use crate::db::Db;
use crate::services::Services;
use crate::web::fault_io::FaultIo;
use crate::web::linger::Lingering;
use crate::web::{self, AppState};
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServerHandle};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a client may take to send a request's head (actix-web's default).
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `[api] bind` and serves the API on `api_db`, in the current actix System.
pub fn start(services: &Services, api_db: Db) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let api = &services.config.api;
    let listener =
        std::net::TcpListener::bind(&api.bind).with_context(|| format!("binding the API to {}", api.bind))?;
    let addr = listener.local_addr().context("the API's bound address")?;
    let state = AppState::new(services.clone(), api_db, addr).map_err(anyhow::Error::msg)?;
    tracing::info!(api.public_url = %state.public_url, "links name {}", state.public_url);
    let state = actix_web::web::Data::new(state);
    let server = actix_server::Server::build()
        .workers(api.workers.max(1))
        .shutdown_timeout(api.shutdown_timeout_s.as_secs())
        .disable_signals()
        .listen("coffer-api", listener, move || {
            let app = actix_web::App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(web::input::check_request_line))
                // Every refusal under /v3 in Keystone's shape, the request line's too.
                .wrap(actix_web::middleware::from_fn(web::keystone_faults))
                .wrap(access_log())
                // Outermost: the access log and everything below carry the request's id.
                .wrap(actix_web::middleware::from_fn(web::request_id::tag))
                .configure(web::configure)
                .into_factory();
            let http = HttpService::build()
                .keep_alive(KeepAlive::default())
                .client_request_timeout(REQUEST_HEAD_TIMEOUT)
                .local_addr(addr)
                .finish(map_config(app, |_| AppConfig::default()));
            fn_service(|io: actix_rt::net::TcpStream| async move {
                let peer = io.peer_addr().ok();
                let _ = io.set_nodelay(true);
                Ok((FaultIo::new(Lingering::new(io)), Protocol::Http1, peer))
            })
            .and_then(http)
        })
        .with_context(|| format!("serving the API on {addr}"))?
        .run();
    tracing::info!(api.bind = %addr, "Trove v1.0 API listening on http://{addr}");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((handle, addr))
}

/// Access log as structured events.
fn access_log() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new("%r %s %Dms").log_target("coffer::http")
}
