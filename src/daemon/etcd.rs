//! Runs and supervises this node's own etcd (client port 42379, peer port 42380 by default), on
//! the node's advertised address so the other members of a multi-node cluster reach it.
//!
//! etcd is a child of `dm serve`; it gets SIGKILL when the daemon dies (even by `kill -9`), so a
//! restarted daemon never finds a stray etcd holding its ports. If etcd exits on its own it is
//! restarted with a back-off, and registry calls fail with a clear message in between.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Operations one etcd transaction may hold (etcd's `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 8192;

use super::config::NodeConfig;

pub struct EtcdProcess {
    stopping: Arc<AtomicBool>,
    pid: Arc<AtomicU32>,
}

pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("etcd.log")
}

fn spawn(cfg: &NodeConfig, state_dir: &Path) -> std::io::Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(state_dir))?;
    let (listen_peer, listen_client, advertise_client) = cfg.etcd_listen();
    let peer = cfg.etcd_peer_url();
    let pki = super::pki::Files::new(state_dir);
    // Flags about the initial cluster only matter on the very first start (empty data dir).
    let (initial, state) = match &cfg.etcd_initial_cluster {
        Some(members) => (members.clone(), "existing"),
        None => (format!("{}={peer}", cfg.node_id), "new"),
    };
    let mut cmd = Command::new("etcd");
    cmd.arg("--name")
        .arg(&cfg.node_id)
        .arg("--data-dir")
        .arg(state_dir.join("etcd"))
        .arg("--listen-client-urls")
        .arg(&listen_client)
        .arg("--advertise-client-urls")
        .arg(&advertise_client)
        .arg("--listen-peer-urls")
        .arg(&listen_peer)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer)
        .arg("--initial-cluster")
        .arg(initial)
        .arg("--initial-cluster-state")
        .arg(state)
        .arg("--log-level")
        .arg("warn")
        // A hand-down moves a branch's commit records in one transaction (see `handdown`);
        // etcd's default of 128 operations would cap a branch at about 120 commits.
        .arg("--max-txn-ops")
        .arg(MAX_TXN_OPS.to_string())
        .arg("--max-request-bytes")
        .arg((10u32 << 20).to_string())
        // Only holders of a certificate from the cluster's CA get in, as clients or as peers.
        .arg("--client-cert-auth")
        .arg("--trusted-ca-file")
        .arg(pki.ca())
        .arg("--cert-file")
        .arg(pki.cert())
        .arg("--key-file")
        .arg(pki.key())
        .arg("--peer-client-cert-auth")
        .arg("--peer-trusted-ca-file")
        .arg(pki.ca())
        .arg("--peer-cert-file")
        .arg(pki.cert())
        .arg("--peer-key-file")
        .arg(pki.key())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    crate::sys::die_with_parent_on_spawn(&mut cmd);
    cmd.spawn()
}

impl EtcdProcess {
    /// Starts etcd and a thread that restarts it when it exits unexpectedly. The thread lives as
    /// long as the process, which matters: PDEATHSIG fires when the spawning *thread* exits.
    pub fn start(cfg: &NodeConfig, state_dir: &Path) -> std::io::Result<EtcdProcess> {
        let stopping = Arc::new(AtomicBool::new(false));
        let pid = Arc::new(AtomicU32::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let (cfg, dir, stop) = (cfg.clone(), state_dir.to_path_buf(), stopping.clone());
        let current = pid.clone();
        std::thread::Builder::new()
            .name("etcd-supervisor".into())
            .spawn(move || {
                let mut child = match spawn(&cfg, &dir) {
                    Ok(c) => {
                        current.store(c.id(), Ordering::SeqCst);
                        let _ = tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let mut backoff = Duration::from_millis(500);
                loop {
                    let status = child.wait();
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    tracing::error!(?status, log = %log_path(&dir).display(), "etcd exited; restarting");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    // Restarted on purpose with other settings (see `reopen`) or not: the
                    // config on disk is the current one.
                    let cfg = NodeConfig::load(&dir).unwrap_or_else(|_| cfg.clone());
                    match spawn(&cfg, &dir) {
                        Ok(c) => {
                            current.store(c.id(), Ordering::SeqCst);
                            child = c;
                        }
                        Err(e) => tracing::error!(error = %e, "cannot restart etcd"),
                    }
                }
            })?;
        rx.recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("etcd supervisor died")))?;
        Ok(EtcdProcess { stopping, pid })
    }

    /// Restarts etcd on the settings now saved in the node's config (the supervisor reads them
    /// when it starts etcd again).
    pub fn restart(&self) {
        let pid = self.pid.load(Ordering::SeqCst) as i32;
        if pid > 0 {
            crate::sys::terminate(pid);
        }
    }

    /// Stops etcd cleanly (SIGTERM, up to 5 s) as the daemon goes down.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let pid = self.pid.load(Ordering::SeqCst) as i32;
        if pid <= 0 {
            return;
        }
        crate::sys::terminate(pid);
        for _ in 0..100 {
            if !super::procs::is_running(pid) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        crate::sys::kill(pid);
    }
}
