//! Test fixtures: a coffer started in this process (`TestApp`) or as a child process
//! (`CofferProcess`), on a fresh SQLite file or a fresh PostgreSQL database, reached over real HTTP.

mod event_stream;
mod process;
mod reality;
mod test_db;

use coffer::app::{self, Node, Role};
use coffer::config::Config;
pub use event_stream::{instance_status, EventStream};
pub use process::{free_port, CofferProcess};
pub use reality::assert_usage_is_reality;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
pub use test_db::{Backend, TestDb};

/// Settings every test starts from: fast heartbeats and polls, a free port.
pub fn test_config(db: &TestDb) -> Config {
    let mut c = Config::default();
    c.api.bind = "127.0.0.1:0".into();
    c.api.workers = 1;
    c.database.url = db.url.clone();
    c.database.pool_size = 4;
    c.compute.data_dir = db.dir.path().join("instances").display().to_string();
    c.compute.address_pool = db.pool.clone();
    c.secrets.master_key_file = db.dir.path().join("master.key").display().to_string();
    c.backup.local_dir = db.dir.path().join("backups").display().to_string();
    c.backup.progress_interval_s = std::time::Duration::from_secs_f64(0.5);
    c.compute.simulated_prepare_ms = std::time::Duration::from_millis(200);
    c.guest.heartbeat_interval_s = std::time::Duration::from_secs_f64(1.0);
    c.guest.heartbeat_expiry_s = std::time::Duration::from_secs_f64(30.0);
    c.conductor.expiry_sweep_interval_s = std::time::Duration::from_secs_f64(0.5);
    c.taskmanager.scan_interval_s = std::time::Duration::from_secs_f64(1.0);
    c.taskmanager.poll_interval_ms = std::time::Duration::from_millis(50);
    c.taskmanager.retry_backoff_ms = std::time::Duration::from_millis(50);
    c.taskmanager.node_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    // Most tests act as the URL's project; the identity tests switch authentication on.
    c.auth.mode = coffer::config::AuthMode::Noauth;
    c.auth.admin_password_file = db.dir.path().join("admin-password").display().to_string();
    c
}

/// A coffer in this process, with its HTTP address and handles on its internals.
pub struct TestApp {
    pub node: Node,
    pub api: Api,
    /// Kept alive for the test: dropping it removes the SQLite file and instance dirs.
    pub _db: TestDb,
}

impl TestApp {
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::new(backend);
        let mut config = test_config(&db);
        tweak(&mut config);
        let node = app::start(config, Role::All).await.expect("coffer starts");
        let api = Api::new(&format!("http://{}", node.http_addr.expect("http address")));
        TestApp { node, api, _db: db }
    }

    /// The guest key of instance `id` (its server was provisioned).
    pub async fn guest_key(&self, id: &str) -> std::sync::Arc<coffer::bus::signing::GuestKey> {
        let services = &self.node.services;
        let key = services.guests.keys().find(&services.db, id).await.expect("db");
        key.unwrap_or_else(|| panic!("{id} has a guest key"))
    }

    /// The `sent` time of the last heartbeat of `id` the conductor applied.
    pub async fn last_heartbeat_sent(&self, id: &str) -> Option<f64> {
        let id = id.to_string();
        self.node
            .services
            .db
            .run(move |c| coffer::db::models::service_status::ServiceStatusRow::heartbeat_sent(c, &id))
            .await
            .expect("db")
    }
}

/// Polls `check` every 50 ms until it gives `Ok`, and returns that; panics naming `what` and
/// what the last check saw (its `Err`) when `within` passes first.
pub async fn eventually<T, E, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; last seen: {seen:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A thin HTTP client for the Trove API of one coffer, tenant `t1`.
#[derive(Clone)]
pub struct Api {
    pub root: String,
    pub base: String,
    pub token: Option<String>,
    client: awc::Client,
}

impl Api {
    pub fn new(root: &str) -> Api {
        Api {
            root: root.to_string(),
            base: format!("{root}/v1.0/t1"),
            token: None,
            client: awc::Client::builder().timeout(Duration::from_secs(30)).finish(),
        }
    }

    /// The API as `project` with `token`.
    pub fn as_project(&self, project: &str, token: &str) -> Api {
        Api {
            base: format!("{}/v1.0/{project}", self.root),
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// Sends a request; returns the status and the body as JSON (Null when empty or not JSON).
    /// A path starting with `/` is under the tenant's base, any other under the root.
    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.try_send(method, path, body).await.expect("HTTP request")
    }

    /// Like [`Api::send`], but a connection that fails (coffer was killed) is `None`.
    pub async fn try_send(&self, method: &str, path: &str, body: Option<&str>) -> Option<(u16, Value)> {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.root)
        };
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, url)
            .insert_header(("Content-Type", "application/json"));
        if let Some(token) = &self.token {
            req = req.insert_header(("X-Auth-Token", token.as_str()));
        }
        let mut resp = match body {
            Some(b) => req.send_body(b.to_string()).await,
            None => req.send().await,
        }
        .ok()?;
        let bytes = resp.body().limit(16 << 20).await.ok()?;
        Some((
            resp.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Sends a request to a full URL with extra headers; returns the status, the headers and the
    /// body as JSON (Null when empty or not JSON).
    pub async fn send_raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, awc::http::header::HeaderMap, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, url);
        if let Some(token) = &self.token {
            req = req.insert_header(("X-Auth-Token", token.as_str()));
        }
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut resp = match body {
            Some(b) => req.send_body(b.to_string()).await,
            None => req.send().await,
        }
        .expect("HTTP request");
        let bytes = resp.body().limit(16 << 20).await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (resp.status().as_u16(), resp.headers().clone(), value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    pub async fn create(&self, name: &str) -> String {
        let body = json!({"instance": {"name": name, "flavorRef": "1", "volume": {"size": 1},
            "datastore": {"type": "simulated", "version": "1"}}});
        let (status, resp) = self.send("POST", "/instances", Some(&body.to_string())).await;
        assert_eq!(status, 200, "create: {resp}");
        assert_eq!(resp["instance"]["status"], "BUILD", "{resp}");
        resp["instance"]["id"].as_str().expect("id").to_string()
    }

    /// The instance view, or None when it is 404.
    pub async fn instance(&self, id: &str) -> Option<Value> {
        let (status, body) = self.get(&format!("/instances/{id}")).await;
        match status {
            200 => Some(body["instance"].clone()),
            404 => None,
            other => panic!("GET instance answered {other}: {body}"),
        }
    }

    /// Polls until `check` holds for the instance (None = 404), or panics after `within`.
    pub async fn wait_for(
        &self,
        id: &str,
        within: Duration,
        what: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let what = format!("instance {id} becomes {what}");
        eventually(within, &what, || async {
            let view = self.instance(id).await;
            if check(view.as_ref()) {
                Ok(view)
            } else {
                Err(view)
            }
        })
        .await
    }

    pub async fn wait_active(&self, id: &str) -> Value {
        self.wait_active_within(id, Duration::from_secs(30)).await
    }

    pub async fn wait_active_within(&self, id: &str, within: Duration) -> Value {
        self.wait_for(id, within, "ACTIVE/HEALTHY", |v| {
            v.is_some_and(|v| v["status"] == "ACTIVE" && v["operating_status"] == "HEALTHY")
        })
        .await
        .expect("instance exists")
    }

    pub async fn wait_gone(&self, id: &str) {
        self.wait_for(id, Duration::from_secs(30), "gone (404)", |v| v.is_none())
            .await;
    }

    /// Ids of live actors of `kind`.
    pub async fn actors(&self, kind: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/mgmt/actors?kind={kind}")).await;
        assert_eq!(status, 200, "{body}");
        body["actors"]
            .as_array()
            .expect("actors")
            .iter()
            .map(|a| a["id"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Every supervision event (all pages).
    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut marker: Option<u64> = None;
        loop {
            let path = match marker {
                Some(m) => format!("/mgmt/supervision-events?limit=500&marker={m}"),
                None => "/mgmt/supervision-events?limit=500".to_string(),
            };
            let (status, body) = self.get(&path).await;
            assert_eq!(status, 200, "{body}");
            let page = body["events"].as_array().cloned().unwrap_or_default();
            marker = page.last().and_then(|e| e["id"].as_u64());
            all.extend(page);
            if body.get("links").is_none() {
                return all;
            }
        }
    }

    /// Waits until a supervision event satisfies `check` (processes store theirs every
    /// `[cluster] report_interval_s`); returns it.
    pub async fn wait_event(&self, within: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let what = format!("a supervision event {what}");
        eventually(within, &what, || async {
            let events = self.events().await;
            let seen = events.len();
            events
                .into_iter()
                .find(|e| check(e))
                .ok_or_else(|| format!("none of {seen} events"))
        })
        .await
    }

    /// Waits until one flow of the instance, as (kind, step, status), satisfies `check`.
    pub async fn wait_flow(&self, id: &str, within: Duration, what: &str, check: impl Fn(&str, i64, &str) -> bool) {
        eventually(within, what, || async {
            let flows = self.flows(id).await;
            match flows.iter().any(|(kind, step, status)| check(kind, *step, status)) {
                true => Ok(()),
                false => Err(flows),
            }
        })
        .await
    }

    /// The flows of an instance as (kind, step, status).
    pub async fn flows(&self, id: &str) -> Vec<(String, i64, String)> {
        let (status, body) = self.get(&format!("/mgmt/flows?instance_id={id}")).await;
        assert_eq!(status, 200, "{body}");
        body["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap_or("").into(),
                    f["step"].as_i64().unwrap_or(-1),
                    f["status"].as_str().unwrap_or("").into(),
                )
            })
            .collect()
    }
}

/// Runs a test body once per backend: `both_backends!(name);` over `async fn name(b: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    };
}
