//! `dm`: one binary for the CLI, the node daemon (`dm serve`) and, later, the volume drivers.

mod api;
mod cli;
mod client;
mod cluster;
mod daemon;
mod httpd;
mod names;
mod plugins;
mod tls;
mod wire;
mod zfs;

fn main() {
    std::process::exit(cli::run());
}
