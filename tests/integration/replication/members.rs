//! A member of a replication group as its clients see it: numbered rows written and read through
//! the datastore's own protocol, and a writer that keeps committing through a switchover.

use crate::datastores::{maria, pg, redis_conn};
use mysql_async::prelude::Queryable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Member {
    pub datastore: String,
    pub ip: String,
    password: String,
}

impl Member {
    pub fn new(datastore: &str, ip: &str, password: &str) -> Member {
        Member {
            datastore: datastore.into(),
            ip: ip.into(),
            password: password.into(),
        }
    }

    /// The same group's member at another address (users and passwords replicate).
    pub fn at(&self, ip: &str) -> Member {
        Member::new(&self.datastore, ip, &self.password)
    }

    /// The table the numbered rows go to.
    pub async fn prepare(&self) -> Result<(), String> {
        match self.datastore.as_str() {
            "postgresql" => pg(&self.ip, "app", &self.password, "shop")
                .await?
                .batch_execute("CREATE TABLE ledger (n bigint PRIMARY KEY)")
                .await
                .map_err(|e| e.to_string()),
            "mariadb" => maria(&self.ip, "app", &self.password, "shop")
                .await?
                .query_drop("CREATE TABLE ledger (n BIGINT PRIMARY KEY)")
                .await
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }

    /// Commits row `n`: Ok only once the member acknowledged the commit.
    pub async fn write(&self, n: i64) -> Result<(), String> {
        match self.datastore.as_str() {
            "postgresql" => pg(&self.ip, "app", &self.password, "shop")
                .await?
                .execute("INSERT INTO ledger VALUES ($1)", &[&n])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            "mariadb" => maria(&self.ip, "app", &self.password, "shop")
                .await?
                .exec_drop("INSERT INTO ledger VALUES (?)", (n,))
                .await
                .map_err(|e| e.to_string()),
            _ => {
                let mut conn = redis_conn(&self.ip, &self.password).await?;
                redis::cmd("SET")
                    .arg(format!("ledger:{n}"))
                    .arg(1)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub async fn has(&self, n: i64) -> Result<bool, String> {
        match self.datastore.as_str() {
            "postgresql" => pg(&self.ip, "app", &self.password, "shop")
                .await?
                .query_opt("SELECT n FROM ledger WHERE n = $1", &[&n])
                .await
                .map(|r| r.is_some())
                .map_err(|e| e.to_string()),
            "mariadb" => maria(&self.ip, "app", &self.password, "shop")
                .await?
                .exec_first::<i64, _, _>("SELECT n FROM ledger WHERE n = ?", (n,))
                .await
                .map(|r| r.is_some())
                .map_err(|e| e.to_string()),
            _ => {
                let mut conn = redis_conn(&self.ip, &self.password).await?;
                redis::cmd("EXISTS")
                    .arg(format!("ledger:{n}"))
                    .query_async::<i64>(&mut conn)
                    .await
                    .map(|c| c == 1)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Whether the member takes a write now (the probe row is its own, never a ledger number).
    pub async fn writable(&self) -> bool {
        self.write(-(1 << 40) - rand_key()).await.is_ok()
    }
}

fn rand_key() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_nanos() % 1_000_000_000) as i64)
        .unwrap_or(0)
}

/// Commits rows 1, 2, … to whichever member takes them, trying the members in turn when a
/// write fails (as a client does after a switchover), and remembers every committed row.
pub struct Writer {
    stop: Arc<AtomicBool>,
    committed: Arc<Mutex<Vec<i64>>>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Writer {
    pub fn start(members: Vec<Member>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(Mutex::new(Vec::new()));
        let (flag, rows) = (stop.clone(), committed.clone());
        let task = actix_web::rt::spawn(async move {
            let (mut n, mut at) = (1_i64, 0usize);
            while !flag.load(Ordering::Relaxed) {
                let member = &members[at % members.len()];
                match member.write(n).await {
                    Ok(()) => {
                        if let Ok(mut rows) = rows.lock() {
                            rows.push(n);
                        }
                        n += 1;
                    }
                    Err(_) => {
                        at += 1;
                        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
        Writer { stop, committed, task }
    }

    pub fn count(&self) -> usize {
        self.committed.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Stops writing: the rows that were acknowledged.
    pub async fn finish(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let rows = self.committed.lock().map(|r| r.clone()).unwrap_or_default();
        rows
    }
}

/// A Redis group member's clients may not re-grant themselves writes or turn a replica
/// writable.
pub async fn redis_clients_cannot_unfence(member: &Member) {
    let mut conn = redis_conn(&member.ip, &member.password).await.expect("connect");
    for args in [
        vec!["ACL", "SETUSER", "default", "+@all"],
        vec!["CONFIG", "SET", "replica-read-only", "no"],
        vec!["REPLICAOF", "NO", "ONE"],
    ] {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let refused = cmd.query_async::<redis::Value>(&mut conn).await;
        assert!(refused.is_err(), "{args:?} was allowed: {refused:?}");
    }
}
