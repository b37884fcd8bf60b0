//! What can go wrong with the host's own tools and files that a guest uses beside its
//! datastore: the account tools (`useradd`, `userdel`), `nft`, and the volume's ownership.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{program}: cannot run: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} {args} failed ({code}): {stderr}")]
    Failed {
        program: String,
        args: String,
        code: i32,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A value the tool would refuse (a malformed network), or a state it cannot be in.
    #[error("{0}")]
    Invalid(String),
    /// The blocking work was lost (its thread panicked or the runtime is stopping).
    #[error("blocking task: {0}")]
    Task(String),
}
