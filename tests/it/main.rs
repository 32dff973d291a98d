//! Integration tests: the real `dm` binary against real zfs-fuse and etcd (see `tests/common`).

#[path = "../common/mod.rs"]
mod common;

mod api;
mod bad_input;
mod cluster;
mod daemon;
mod diff;
mod docker;
mod faults;
mod flexvolume;
mod generated;
mod handdown;
mod kubernetes;
mod lifecycle;
mod operations;
mod parity;
mod partition;
mod prune;
mod remotes;
mod security;
mod subdots;
mod tags;
mod transfer;
mod undo;
