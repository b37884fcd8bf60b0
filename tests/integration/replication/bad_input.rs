//! The refusals of replication's API, with Trove's fault bodies.
