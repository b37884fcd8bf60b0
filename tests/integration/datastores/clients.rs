//! Real clients of the datastores, and where a test instance's server lives.

use crate::support::TestApp;
use std::path::PathBuf;
use std::time::Duration;

pub async fn pg(ip: &str, user: &str, password: &str, db: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::Config::new()
        .host(ip)
        .port(5432)
        .user(user)
        .password(password)
        .dbname(db)
        .connect_timeout(Duration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        })?;
    actix_web::rt::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub async fn maria(ip: &str, user: &str, password: &str, db: &str) -> Result<mysql_async::Conn, String> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ip)
        .tcp_port(3306)
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some(db))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.map_err(|e| e.to_string())
}

pub async fn redis_conn(ip: &str, password: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let url = format!("redis://:{password}@{ip}:6379/0");
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

/// The volume of an instance of `app`.
pub fn volume(app: &TestApp, id: &str) -> PathBuf {
    app.node.services.config.instances_dir().join(id)
}

fn first_pid(path: PathBuf) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.lines().next()?.trim().parse().ok()
}

pub fn server_pid(dir: &std::path::Path) -> Option<i32> {
    ["data/postmaster.pid", "run/mysqld.pid", "run/redis.pid"]
        .iter()
        .find_map(|f| first_pid(dir.join(f)))
}

pub fn alive(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}
