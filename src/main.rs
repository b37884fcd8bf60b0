//! The `coffer` binary: one program, roles as subcommands.

use clap::{Parser, Subcommand};
use coffer::app::{self, Role};
use coffer::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc for every allocation of the process (see Cargo.toml for why).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Database-as-a-Service control plane speaking Trove's v1.0 API"
)]
struct Cli {
    /// Configuration file (default: ./config.toml when it exists, else built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format: text or json (overrides [log] format).
    #[arg(long, global = true, value_enum)]
    log_format: Option<coffer::config::LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Every component in one process (the default).
    All,
    /// The REST API only (distributed mode).
    Api,
    /// The task manager only (distributed mode).
    Taskmanager,
    /// The conductor only (distributed mode).
    Conductor,
    /// A guest agent host (distributed mode): one instance's (`--instance-id`, started by the
    /// task manager), or a pool of `--simulated N` simulated guests.
    Guest {
        #[arg(long, conflicts_with = "simulated", required_unless_present = "simulated")]
        instance_id: Option<String>,
        #[arg(long)]
        simulated: Option<usize>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Projects of coffer's identity service.
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// Users of coffer's identity service.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Run a benchmark scenario against an in-process coffer and print figures.
    Bench {
        /// api: the read routes under load with a Keystone token (--concurrency connections);
        /// create: N simulated instances created concurrently until all are ACTIVE;
        /// datastores: real instances' create times; backup: PostgreSQL backup/restore of N MB;
        /// guests: N simulated guests heartbeating, held --hold-s while measured.
        scenario: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// conductor: the instances the heartbeats are spread over.
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        /// conductor: the RabbitMQ to measure on as well (e.g. scripts/rabbitmq-test-server.sh's).
        #[arg(long)]
        amqp_url: Option<String>,
        /// guests: seconds the guests are held heartbeating while measured.
        #[arg(long, default_value_t = 300)]
        hold_s: u64,
    },
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Creates a project (in domain `default`).
    Create { name: String },
}

#[derive(Subcommand)]
enum UserAction {
    /// Creates a user with a role on a project (created if missing); the password is read from
    /// standard input.
    Create {
        name: String,
        #[arg(long)]
        project: String,
        /// admin, member or reader.
        #[arg(long, default_value = "member")]
        role: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coffer: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    coffer::telemetry::init(config.log.format, &config.log.filter);
    for name in &config.unknown_env {
        tracing::warn!(env = %name, "{name} names no configuration key ([section] key); ignored");
    }
    let role = match cli.command.unwrap_or(Command::All) {
        Command::All => Role::All,
        Command::Api => Role::Api,
        Command::Taskmanager => Role::TaskManager,
        Command::Conductor => Role::Conductor,
        Command::Migrate => return migrate(&config),
        Command::Guest { instance_id, simulated } => {
            let system = actix_web::rt::System::new();
            return report(match (instance_id, simulated) {
                (Some(id), _) => system.block_on(app::run_instance_guest(config, &id)),
                (None, Some(n)) => system.block_on(app::run_simulated_pool(config, n)),
                (None, None) => Err(anyhow::anyhow!("coffer guest needs --instance-id ID or --simulated N")),
            });
        }
        Command::Project { action } => return report(manage_project(&config, action)),
        Command::User { action } => return report(manage_user(&config, action)),
        Command::Bench {
            scenario,
            count,
            concurrency,
            instances,
            amqp_url,
            hold_s,
        } => {
            let options = coffer::bench::Options {
                count,
                concurrency,
                instances,
                amqp_url,
                hold: std::time::Duration::from_secs(hold_s),
            };
            return report(actix_web::rt::System::new().block_on(coffer::bench::run(&scenario, options)));
        }
    };
    report(actix_web::rt::System::new().block_on(serve(config, role)))
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("coffer: {e:#}");
            eprintln!("coffer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(config: &Config) -> ExitCode {
    let result = coffer::db::DbUrl::parse(&config.database.url).and_then(|url| coffer::db::migrate(&url));
    report(result.map_err(anyhow::Error::from))
}

fn open_db(config: &Config) -> anyhow::Result<coffer::db::Db> {
    let timeout = config.database.acquire_timeout_ms;
    Ok(coffer::db::Db::connect(&config.database.url, 1, timeout)?)
}

fn manage_project(config: &Config, action: ProjectAction) -> anyhow::Result<()> {
    let ProjectAction::Create { name } = action;
    let db = open_db(config)?;
    let mut conn = db.get_connection()?;
    let project = coffer::db::models::identity::Project::create(&mut conn, &name, coffer::identity::DEFAULT_DOMAIN)?;
    println!("project {} created: id {}", project.name, project.id);
    Ok(())
}

fn manage_user(config: &Config, action: UserAction) -> anyhow::Result<()> {
    let UserAction::Create {
        name, project, role, ..
    } = action;
    anyhow::ensure!(
        coffer::identity::ROLES.contains(&role.as_str()),
        "role must be one of {:?}",
        coffer::identity::ROLES
    );
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    let db = open_db(config)?;
    let mut conn = db.get_connection()?;
    let (project, user) = coffer::identity::create_user(&mut conn, &project, &name, password, &role)?;
    println!(
        "user {} ({}) has role {role} on project {} ({})",
        user.name, user.id, project.name, project.id
    );
    Ok(())
}

/// Runs until SIGTERM or SIGINT, then drains HTTP and stops.
async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    let node = app::start(config, role).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining and stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining and stopping"),
    }
    node.stop().await;
    tracing::info!("coffer stopped; unfinished flows resume at the next start");
    Ok(())
}
