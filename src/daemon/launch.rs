//! Starting `dm serve` in the background by re-executing this binary.
//!
//! Used by `dm cluster init` and by any verb that finds the local daemon down. The daemon runs in
//! its own session with output appended to `<state-dir>/dm.log`, and writes `dm.pid` once it is
//! listening, which is what "ready" means here.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::config::{self, NodeConfig};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "cannot start the dm daemon: {detail}; see its log {log}, or start it by hand with `dm serve --state-dir {state_dir}`"
    )]
    Failed {
        detail: String,
        log: PathBuf,
        state_dir: PathBuf,
    },
}

/// The daemon's pid for `state_dir`, if one runs: the process holding the daemon lock, asked
/// from the kernel. `dm.pid` is only a fallback for a daemon from before the lock (one being
/// upgraded): a pid file left by a killed daemon, whose pid another process may have reused,
/// is never trusted while the lock file exists.
pub fn running_pid(state_dir: &Path) -> Option<i32> {
    match std::fs::File::open(config::lock_file(state_dir)) {
        Ok(f) => crate::sys::write_lock_holder(&f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pid: i32 = std::fs::read_to_string(config::pid_file(state_dir))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            super::procs::is_running(pid).then_some(pid)
        }
        Err(_) => None,
    }
}

/// Takes the daemon lock of `state_dir` (a POSIX lock, so others can ask for its holder's pid)
/// for as long as the returned file is open; fails when another daemon holds it.
pub fn hold_lock(state_dir: &Path) -> std::io::Result<std::fs::File> {
    let path = config::lock_file(state_dir);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    if crate::sys::try_write_lock(&f) {
        return Ok(f);
    }
    let holder = crate::sys::write_lock_holder(&f).map_or(String::new(), |p| format!(" (pid {p})"));
    Err(std::io::Error::other(format!(
        "another dm daemon already runs for {}{holder}; stop it first, or restart it with `dm cluster upgrade`",
        state_dir.display()
    )))
}

fn listening(cfg: &NodeConfig) -> bool {
    let host = if cfg.bind == "0.0.0.0" {
        "127.0.0.1"
    } else {
        &cfg.bind
    };
    let Ok(addr) = format!("{host}:{}", cfg.api_port).parse::<SocketAddr>() else {
        return false;
    };
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Starts the daemon for `state_dir` and waits up to `timeout` until it listens.
pub fn start(state_dir: &Path, timeout: Duration) -> Result<i32, LaunchError> {
    let log = config::log_file(state_dir);
    let fail = |detail: String| LaunchError::Failed {
        detail,
        log: log.clone(),
        state_dir: state_dir.to_path_buf(),
    };
    let cfg = NodeConfig::load(state_dir).map_err(|e| fail(e.to_string()))?;
    if cfg.systemd {
        return start_unit(&cfg, state_dir, timeout).map_err(fail);
    }
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find own binary: {e}")))?;
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| fail(format!("cannot open {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| fail(format!("cannot open {}: {e}", log.display())))?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--log-file")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // Detached from our terminal and job.
    crate::sys::detach_on_spawn(&mut cmd);
    let _ = std::fs::remove_file(config::pid_file(state_dir));
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    let pid = child.id() as i32;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = log_tail(&log, 5);
            return Err(fail(format!("it exited ({status}): {tail}")));
        }
        if running_pid(state_dir) == Some(pid) && listening(&cfg) {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "it did not answer within {}s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the node's systemd unit and waits until the daemon listens.
fn start_unit(cfg: &NodeConfig, state_dir: &Path, timeout: Duration) -> Result<i32, String> {
    use super::systemd;
    systemd::systemctl(&["start", systemd::SERVICE_UNIT])
        .map_err(|e| format!("{e}; `journalctl -u {}` says more", systemd::SERVICE_UNIT))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(pid) = running_pid(state_dir)
            && listening(cfg)
        {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "it did not answer within {}s; `systemctl status {}` says why",
                timeout.as_secs(),
                systemd::SERVICE_UNIT
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of the log, joined, to show why the daemon failed.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Stops the daemon of `state_dir` (SIGTERM, then SIGKILL after `timeout`) and waits until it is
/// gone. Mounts stay: they belong to ZFS, not to the daemon.
pub fn stop(state_dir: &Path, timeout: Duration) -> Result<(), LaunchError> {
    let Some(pid) = running_pid(state_dir) else {
        return Ok(());
    };
    // Under systemd a signal would only make it restart the daemon (Restart=on-failure does
    // not, but a stop through systemctl is what systemd expects).
    if NodeConfig::load(state_dir).is_ok_and(|c| c.systemd) {
        use super::systemd;
        systemd::systemctl(&["stop", systemd::SERVICE_UNIT]).map_err(|e| LaunchError::Failed {
            detail: e.to_string(),
            log: config::log_file(state_dir),
            state_dir: state_dir.to_path_buf(),
        })?;
    }
    crate::sys::terminate(pid);
    let deadline = Instant::now() + timeout;
    while super::procs::is_running(pid) {
        if Instant::now() > deadline {
            crate::sys::kill(pid);
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(config::pid_file(state_dir));
    Ok(())
}
