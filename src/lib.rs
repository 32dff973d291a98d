//! `dm`, git for data volumes: the library behind the one binary. `cli` parses and prints,
//! `client` speaks HTTP to a daemon, `daemon` serves the API and runs the node, on top of `zfs`
//! (the typed ZFS layer), `cluster` (the registry) and `plugins` (Docker). `main.rs` only calls
//! [`cli::run`].

#![deny(unsafe_code)]

mod api;
pub mod cli;
mod client;
mod cluster;
mod daemon;
mod httpd;
mod ids;
mod metrics;
mod names;
mod plan;
mod plugins;
mod routes;
mod storage;
#[allow(unsafe_code)]
mod sys;
mod tls;
mod wire;
mod zfs;

/// For the integration tests' process checks (a killed daemon runs until its last thread ends).
#[doc(hidden)]
pub use daemon::procs::is_running;
