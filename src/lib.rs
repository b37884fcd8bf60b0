//! coffer: a Database-as-a-Service control plane speaking OpenStack Trove's v1.0 API, built from
//! supervised actix actors in one actix System.
//!
//! # Layout
//! - [`config`]: typed configuration (defaults → `config.toml` → `COFFER_*` environment).
//! - [`error`]: the API error enum and its one mapping to Trove's fault bodies.
//! - [`db`]: diesel over SQLite or PostgreSQL — pool, schema, migrations, models with queries.
//! - [`status`]: Trove's task and service statuses and the rules deriving the API's statuses.
//! - [`bus`]: `cast`/`call` on topics, the envelope, the in-process transport.
//! - [`actors`]: task manager, instance actors, compute, guest sessions, conductor, supervision.
//! - [`flows`]: create, delete, restart, resize, backup as persisted, resumable state machines.
//! - [`intents`]: what the API writes in one transaction before it casts.
//! - [`secrets`]: the master key and passwords sealed under it; [`files`]: modes of what
//!   coffer writes (umask 077, private directories, fixes at start).
//! - [`storage`]: the backup object store (local directory or S3).
//! - [`identity`]: users, projects, roles, tokens (coffer's Keystone v3 subset).
//! - [`guest`]: the datastore contract and its drivers; [`compute`]: compute drivers.
//! - [`web`]: the REST API, one resource per file.
//! - [`app`]: starting a node (pool, bus, actors, HTTP) — used by `main` and by the tests.
//! - [`bench`]: `coffer bench <scenario>`; [`testing`]: fault injection for tests.

pub mod actors;
pub mod app;
pub mod bench;
pub mod bus;
pub mod compute;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod flows;
pub mod guest;
pub mod guest_link;
pub mod identity;
pub mod ids;
pub mod intents;
pub mod manager;
pub mod parameters;
pub mod secrets;
pub mod services;
pub mod status;
pub mod storage;
pub mod telemetry;
pub mod testing;
pub mod web;
