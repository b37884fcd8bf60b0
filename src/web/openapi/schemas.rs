//! The bodies of requests and responses whose views are built as maps, as schema types (one
//! file a resource); views that are typed structs derive `ToSchema` where they are.

// The schema types are read by utoipa's derive only: their fields are never read in Rust.
#![allow(dead_code)]

pub mod accounts;
pub mod backups;
pub mod catalog;
pub mod common;
pub mod compute;
pub mod configurations;
pub mod guest_logs;
pub mod identity;
pub mod instances;
pub mod mgmt;
pub mod operations;
pub mod quotas;
