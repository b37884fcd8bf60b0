//! Regression tests of the holes an attack and a crash found (issue 11): authorization on the
//! matched route, tokens, links, login floods, pools, file modes, quotas, input, MariaDB's
//! accounts. Each test fails on the code before the fix.

mod access;
mod files;
mod input;
mod logins;
mod mariadb;
mod quotas;
mod token_cache;
pub mod tokens;
