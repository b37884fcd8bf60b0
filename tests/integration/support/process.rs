//! coffer as a child process, for the tests that kill it.

use super::{eventually, Api, TestDb};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// coffer as a child process (for SIGKILL and SIGTERM), killed by PID when dropped.
pub struct CofferProcess {
    child: std::process::Child,
    pub api: Api,
}

impl CofferProcess {
    /// Starts `coffer` with `env` (COFFER_* overrides) on `db`, and waits until it answers.
    pub async fn start(db: &TestDb, env: &[(&str, String)]) -> CofferProcess {
        Self::start_role(db, None, env).await
    }

    /// Starts `coffer <role>` (None: every role; words after the role are its arguments, as in
    /// `guest --simulated 200`); waits for its API when it serves one.
    pub async fn start_role(db: &TestDb, role: Option<&str>, env: &[(&str, String)]) -> CofferProcess {
        let process = Self::spawn(db, role, env);
        if !matches!(role, None | Some("api")) {
            return process;
        }
        eventually(Duration::from_secs(30), "coffer starts listening", || async {
            awc::Client::default()
                .get(format!("{}/", process.api.root))
                .send()
                .await
                .map(|_| ())
        })
        .await;
        process
    }

    /// Starts `coffer <role>` without waiting for anything (it may die before it listens).
    pub fn spawn(db: &TestDb, role: Option<&str>, env: &[(&str, String)]) -> CofferProcess {
        let port = free_port();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.current_dir(db.dir.path())
            .env("COFFER_API_BIND", format!("127.0.0.1:{port}"))
            .env("COFFER_DATABASE_URL", &db.url)
            .env("COFFER_COMPUTE_DATA_DIR", db.dir.path().join("instances"))
            .env("COFFER_COMPUTE_ADDRESS_POOL", &db.pool)
            .env("COFFER_BACKUP_LOCAL_DIR", db.dir.path().join("backups"))
            .env("COFFER_GUEST_HEARTBEAT_INTERVAL_S", "1")
            .env("COFFER_TASKMANAGER_SCAN_INTERVAL_S", "1")
            .env("COFFER_TASKMANAGER_POLL_INTERVAL_MS", "50")
            .env("COFFER_TASKMANAGER_NODE_ID", "test-node")
            .env("COFFER_AUTH_MODE", "noauth")
            .env(
                "COFFER_LOG_FILTER",
                std::env::var("COFFERTEST_LOG_FILTER").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(db.dir.path().join("coffer.log"))
                    .expect("log file"),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(role) = role {
            cmd.args(role.split_whitespace());
        }
        let child = cmd.spawn().expect("spawn coffer");
        let api = Api::new(&format!("http://127.0.0.1:{port}"));
        CofferProcess { child, api }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Waits up to `within` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for CofferProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
