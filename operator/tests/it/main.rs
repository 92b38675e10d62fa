//! The operator's integration tests, one binary: the webhook over real TLS, the binary in
//! `--dev` mode, the bundled examples, upstream's leftovers, and (ignored unless a cluster is
//! given) the webhook and controller against a real API server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster;
mod dev_mode;
mod examples;
mod support;
mod upstream_leftovers;
mod webhook;
