//! Rows and the queries on them, one file per table (or per small family of tables).

pub mod backup;
pub mod backup_schedule;
pub mod cache_generation;
pub mod catalog;
pub mod cluster;
pub mod configuration;
pub mod event;
pub mod fault;
pub mod flow;
pub mod flow_listing;
pub mod guest_key;
pub mod identity;
pub mod instance;
pub mod quota;
pub mod service_status;
