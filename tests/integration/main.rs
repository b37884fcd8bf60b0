//! coffer's integration tests: one binary, real HTTP on free ports, the real bus and actors,
//! each test on SQLite and on PostgreSQL (a private server started by scripts/test.sh).

mod support;

mod accounts;
mod amqp;
mod backups;
mod bad_input;
mod bus;
mod chaos;
mod cluster;
mod configurations;
mod console;
mod crash_safety;
pub mod datastores;
mod distributed;
mod events;
mod hardening;
mod heartbeats;
pub mod identity;
mod layers;
mod lifecycle;
mod mgmt_flows;
mod openapi;
mod parity;
mod process;
mod quotas;
mod replication;
mod request_ids;
