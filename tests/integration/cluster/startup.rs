//! Starting a cluster: the README's start line run as written (every process at once: one
//! migrates, the others wait on its lock; one creates the master key, the pool waits for it;
//! two task managers on one host get two node ids), and a node id that a live process holds.

use super::*;
use crate::amqp::BROKER;
use crate::support::{free_port, Backend, TestDb};

/// The README's shell block that starts the distributed processes (the one with
/// `coffer api &`), as written.
fn readme_start_line() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    blocks
        .into_iter()
        .find(|b| b.contains("coffer api &"))
        .expect("the README has a start line with `coffer api &`")
        .to_string()
}

#[actix_web::test]
async fn the_readmes_start_line_brings_a_cluster_up_as_written() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let bin = db.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_coffer"), bin.join("coffer")).expect("link coffer");
    let port = free_port();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let log = std::fs::File::create(db.dir.path().join("coffer.log")).expect("log");
    let script = format!("{}\nwait\n", readme_start_line());
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-c", &script])
        .current_dir(db.dir.path())
        .env("PATH", path)
        // What the README asks the reader to set (where RabbitMQ and PostgreSQL are)...
        .env("COFFER_BUS_AMQP_URL", amqp_url())
        .env("COFFER_DATABASE_URL", &db.url)
        // ...and what keeps a test to itself: its own port, addresses and directories.
        .env("COFFER_API_BIND", format!("127.0.0.1:{port}"))
        .env("COFFER_AUTH_MODE", "noauth")
        .env("COFFER_COMPUTE_DATA_DIR", db.dir.path().join("instances"))
        .env("COFFER_COMPUTE_ADDRESS_POOL", &db.pool)
        .env("COFFER_CLUSTER_REPORT_INTERVAL_S", "0.5")
        .env("COFFER_GUEST_HEARTBEAT_INTERVAL_S", "1")
        .env("COFFER_TASKMANAGER_SCAN_INTERVAL_S", "1")
        .env("COFFER_COMPUTE_SIMULATED_PREPARE_MS", "200")
        .env("COFFER_LOG_FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut shell = cmd.spawn().expect("run the README's start line");
    let group = shell.id() as i32;
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let outcome = async {
        eventually(Duration::from_secs(60), "the api answers", || async {
            api.try_send("GET", "/instances", None)
                .await
                .map(|_| ())
                .ok_or("no answer")
        })
        .await;
        let list = wait_services(
            &api,
            Duration::from_secs(60),
            "every process of the start line up",
            |l| {
                up(l, "api").len() == 1
                    && up(l, "conductor").len() == 2
                    && up(l, "taskmanager").len() == 2
                    && up(l, "guest_pool").len() == 1
            },
        )
        .await;
        let managers = up(&list, "taskmanager");
        assert_ne!(
            managers[0]["node_id"], managers[1]["node_id"],
            "two task managers on one host have two node ids: {managers:#?}"
        );
        let ids = create_many(&api, "from-the-readme", 5).await;
        wait_all_active(&api, &ids, Duration::from_secs(60)).await;
    };
    // Whatever happens, the start line's processes go (by process group).
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    // SAFETY: kill(2) on the process group of the shell we started.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = shell.wait();
    let fatal = log_lines(&db, "coffer: ");
    if let Err(panic) = result {
        eprintln!("start line log: {:#?}", log_lines(&db, ""));
        std::panic::resume_unwind(panic);
    }
    assert!(fatal.is_empty(), "a process of the start line exited: {fatal:#?}");
    assert!(log_lines(&db, "duplicate key").is_empty(), "no migration race");
}

#[actix_web::test]
async fn a_node_id_held_by_a_live_task_manager_is_refused() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let api = start(&db, "api", &env).await;
    let _first = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-same")).await;
    wait_services(&api.api, Duration::from_secs(10), "the first task manager", |l| {
        up(l, "taskmanager").len() == 1
    })
    .await;
    let mut second = start(&db, "taskmanager", &with(&env, "COFFER_TASKMANAGER_NODE_ID", "tm-same")).await;
    let code = second.wait_exit(Duration::from_secs(20)).await;
    assert!(
        matches!(code, Some(c) if c != 0),
        "the second one refuses to start: {code:?}"
    );
    let said = log_lines(&db, "is in use by a live taskmanager");
    assert!(!said.is_empty(), "with a clear message");
    // Two task managers without a configured id, from one directory, get two ids.
    let unnamed = with(&env, "COFFER_TASKMANAGER_NODE_ID", "");
    let _a = start(&db, "taskmanager", &unnamed).await;
    let _b = start(&db, "taskmanager", &unnamed).await;
    let list = wait_services(&api.api, Duration::from_secs(15), "three task managers", |l| {
        up(l, "taskmanager").len() == 3
    })
    .await;
    let mut ids: Vec<String> = up(&list, "taskmanager")
        .iter()
        .map(|s| s["node_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct node ids: {ids:?}");
}

#[actix_web::test]
async fn a_process_with_another_master_key_is_refused() {
    let _turn = BROKER.lock().await;
    let db = TestDb::new(Backend::Postgres);
    let env = cluster_env(&db, 200);
    let api = start(&db, "api", &env).await;
    // A host the key was not copied to: the process does not make a key of its own.
    let elsewhere = db.dir.path().join("elsewhere.key");
    let path = elsewhere.display().to_string();
    let mut stray = start(&db, "conductor", &with(&env, "COFFER_SECRETS_MASTER_KEY_FILE", &path)).await;
    let code = stray.wait_exit(Duration::from_secs(20)).await;
    assert!(matches!(code, Some(c) if c != 0), "it refuses to start: {code:?}");
    assert!(
        !log_lines(&db, "this deployment has one").is_empty(),
        "with a clear message"
    );
    assert!(!elsewhere.exists(), "and leaves no key of its own behind");
    // A host with another key: refused too.
    let other = coffer::secrets::MasterKey::load_or_create(&elsewhere).map(|_| ());
    assert!(other.is_ok(), "a key of another deployment");
    let mut stray = start(&db, "conductor", &with(&env, "COFFER_SECRETS_MASTER_KEY_FILE", &path)).await;
    let code = stray.wait_exit(Duration::from_secs(20)).await;
    assert!(matches!(code, Some(c) if c != 0), "it refuses to start: {code:?}");
    assert!(
        !log_lines(&db, "is not the deployment's").is_empty(),
        "with a clear message"
    );
    let (status, _) = api.api.get("/flavors").await;
    assert_eq!(status, 200, "the deployment goes on");
}
