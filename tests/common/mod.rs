//! Shared fixtures: a [`TestNode`] is a real single-node dm cluster (own ZFS pool on a file in a
//! temp dir, own state dir, API and etcd ports, HOME and client config) driven through the real
//! `dm` binary. Dropping it kills the daemon (its etcd dies with it) and destroys the pool, so tests
//! run in parallel and leave nothing behind. `DM_TEST_KEEP=1` keeps everything for a post-mortem.

#![allow(dead_code)]

pub mod kube;
pub mod netns;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn dm_bin() -> &'static str {
    env!("CARGO_BIN_EXE_dm")
}

/// Fails the test early with a clear message when ZFS is not running.
fn require_zfs() {
    let ok = Command::new("zpool")
        .arg("list")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "ZFS is not available: run scripts/services.sh (starts zfs-fuse) first"
    );
}

pub struct TestNode {
    pub dir: tempfile::TempDir,
    /// Loopback address the node's API and etcd listen on (each node has its own).
    pub addr: String,
    pub pool: String,
    pub port: u16,
    pub etcd_client_port: u16,
    pub etcd_peer_port: u16,
}

/// Result of one `dm` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl TestNode {
    /// A node set up by `dm cluster init` with a 256 MiB pool.
    pub fn new() -> TestNode {
        Self::with_pool_size("256M")
    }

    pub fn with_pool_size(size: &str) -> TestNode {
        Self::with_args(size, &[])
    }

    /// A node set up by `dm cluster init` with extra options (e.g. `--tls`).
    pub fn with_args(size: &str, extra: &[&str]) -> TestNode {
        let node = Self::uninitialised();
        let mut args = node.init_args(size);
        if extra.contains(&"--flexvolume-dir") {
            args.retain(|a| a != "--no-flexvolume");
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = node.dm(&args);
        assert_eq!(
            out.code, 0,
            "cluster init failed: {}\n{}",
            out.stderr, out.stdout
        );
        node
    }

    /// Everything allocated, nothing created yet.
    pub fn uninitialised() -> TestNode {
        require_zfs();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new().prefix("dmtest").tempdir().unwrap();
        let addr = format!("127.0.{}.{}", 1 + n / 250, 2 + n % 250);
        // Held together so the three differ, and on the node's own address.
        let listeners: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind((addr.as_str(), 0)).unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        TestNode {
            dir,
            addr,
            pool: format!("dmt{}x{n}", std::process::id()),
            port: ports[0],
            etcd_client_port: ports[1],
            etcd_peer_port: ports[2],
        }
    }

    pub fn init_args(&self, size: &str) -> Vec<String> {
        let mut v = vec!["cluster".to_string(), "init".to_string()];
        v.extend(self.node_args(size));
        v
    }

    /// A join token made on this node (`dm cluster token create`).
    pub fn join_token(&self) -> String {
        self.ok(&["cluster", "token", "create", "--ttl", "10m"])
            .trim()
            .to_string()
    }

    /// `dm cluster join` of this node to `first`'s cluster, without the token.
    pub fn join_args(&self, first: &TestNode) -> Vec<String> {
        let mut args = vec![
            "cluster".to_string(),
            "join".to_string(),
            format!("{}:{}", first.addr, first.port),
        ];
        args.extend(self.node_args("256M"));
        args
    }

    /// A node that joined `first`'s cluster, with a join token in DM_JOIN_TOKEN.
    pub fn join(first: &TestNode) -> TestNode {
        Self::join_with(first, &[])
    }

    /// [`TestNode::join`] with extra options (e.g. `--flexvolume-dir`).
    pub fn join_with(first: &TestNode, extra: &[&str]) -> TestNode {
        let node = Self::uninitialised();
        let mut args = node.join_args(first);
        if extra.contains(&"--flexvolume-dir") {
            args.retain(|a| a != "--no-flexvolume");
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = Run::from(
            node.command()
                .args(&args)
                .env("DM_JOIN_TOKEN", first.join_token())
                .output()
                .unwrap(),
        );
        assert_eq!(
            out.code, 0,
            "cluster join failed: {}\n{}",
            out.stderr, out.stdout
        );
        node
    }

    /// Options shared by `cluster init` and `cluster join`.
    pub fn node_args(&self, size: &str) -> Vec<String> {
        [
            "--pool",
            &self.pool,
            "--pool-file",
            &self.path("pool.img").display().to_string(),
            "--pool-size",
            size,
            "--state-dir",
            &self.state_dir().display().to_string(),
            "--bind",
            &self.addr,
            "--port",
            &self.port.to_string(),
            "--etcd-client-port",
            &self.etcd_client_port.to_string(),
            "--etcd-peer-port",
            &self.etcd_peer_port.to_string(),
            "--docker-plugin-socket",
            &self.plugin_socket().display().to_string(),
            // Kubelet's plugin directory is the machine's: only tests of the driver use one.
            "--no-flexvolume",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// This node's Docker volume plugin socket; its name is the driver name.
    pub fn plugin_socket(&self) -> PathBuf {
        PathBuf::from(format!("/run/docker/plugins/{}.sock", self.pool))
    }

    /// The Docker volume driver name of this node.
    pub fn driver(&self) -> &str {
        &self.pool
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("home/.dotmesh/config")
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(dm_bin());
        c.env_remove("DM_CONFIG")
            .env_remove("DM_LOG")
            .env("HOME", self.path("home"))
            .stdin(Stdio::null());
        c
    }

    /// `dm ARGS` (a shell command line) on a terminal: a pty from `script`, with this node's
    /// HOME. The caller sets stdin and stdout.
    pub fn on_pty(&self, args: &str) -> Command {
        let mut c = Command::new("script");
        c.args(["-qec", &format!("{} {args}", dm_bin()), "/dev/null"])
            .env("HOME", self.path("home"))
            .env_remove("DM_CONFIG");
        c
    }

    /// Runs `dm ARGS` with this node's HOME (so `~/.dotmesh/config` is the node's own).
    pub fn dm<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        Run::from(self.command().args(&args).output().unwrap())
    }

    /// Runs `dm ARGS` and asserts success, returning stdout.
    pub fn ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        let r = self.dm(&args);
        assert_eq!(r.code, 0, "dm {args:?} failed:\n{}\n{}", r.stderr, r.stdout);
        r.stdout
    }

    /// Runs `dm ARGS`, asserts failure and a one-line error, returns stderr.
    pub fn fails<S: AsRef<str>>(&self, args: &[S]) -> String {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        let r = self.dm(&args);
        assert_ne!(r.code, 0, "dm {args:?} should fail:\n{}", r.stdout);
        let lines: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(lines.len(), 1, "want one error line, got:\n{}", r.stderr);
        r.stderr
    }

    pub fn json<S: AsRef<str>>(&self, args: &[S]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
    }

    /// The admin API key from the client config.
    pub fn api_key(&self) -> String {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        v["remotes"]["local"]["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.state_dir().join("dm.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        dm::is_running(pid).then_some(pid)
    }

    /// SIGKILLs the daemon and waits until it and its etcd are gone.
    pub fn kill_daemon(&self) {
        if let Some(pid) = self.daemon_pid() {
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
            wait_gone(pid);
            self.wait_etcd_gone();
        }
    }

    fn wait_etcd_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.addr.as_str(), self.etcd_client_port)).is_ok() {
            assert!(Instant::now() < deadline, "etcd outlived its daemon");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// This node gets a remote `name` for `user` (with `key`, in a file, as users add remotes)
    /// on node `to` of another cluster.
    pub fn add_remote(&self, to: &TestNode, name: &str, user: &str, key: &str) {
        let f = self.path(&format!("{name}.key"));
        std::fs::write(&f, key).unwrap();
        self.ok(&[
            "remote",
            "add",
            name,
            &format!("{user}@{}:{}", to.addr, to.port),
            "--api-key-file",
            &f.display().to_string(),
        ]);
    }

    /// Raw HTTP request to the API: returns (status, body).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: &[u8],
    ) -> (u16, String) {
        use base64::Engine as _;
        let mut s = TcpStream::connect((self.addr.as_str(), self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
            body.len()
        );
        if let Some((u, k)) = auth {
            let c = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{k}"));
            head.push_str(&format!("Authorization: Basic {c}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) before reading a large body; ignore a reset while sending.
        let _ = s.write_all(body);
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// Processes running `dm serve` for state directory `dir`.
pub fn serving(dir: &Path) -> Vec<i32> {
    let want = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.contains(&b"serve".as_slice())
                && args
                    .windows(2)
                    .any(|w| w[0] == b"--state-dir".as_slice() && w[1] == want.as_bytes())
        })
        .collect()
}

pub fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // A zombie whose other threads are still exiting (holding its sockets) still runs.
    while dm::is_running(pid) {
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if std::env::var_os("DM_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!(
                "DM_TEST_KEEP: kept {} (pool {})",
                dir.keep().display(),
                self.pool
            );
            return;
        }
        self.kill_daemon();
        // A daemon started again (by a verb that found it down) after dm.pid was read would
        // outlive the test: every `dm serve` of this state directory goes.
        for pid in serving(&self.state_dir()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            wait_gone(pid);
        }
        let _ = std::fs::remove_file(self.plugin_socket());
        // Destroying can be refused for a moment while FUSE mounts drain; never leave a pool
        // behind (its file goes with the temp dir, and zfs-fuse would keep a FAULTED pool).
        for attempt in 0..20 {
            let o = Command::new("zpool")
                .args(["destroy", "-f", &self.pool])
                .output()
                .unwrap();
            if o.status.success() {
                break;
            }
            if attempt == 19 {
                eprintln!(
                    "could not destroy pool {}: {}",
                    self.pool,
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        // The daemon binds its mount directory onto itself (to share it); the temp dir can go
        // only once that is undone.
        let _ = Command::new("umount")
            .args(["-l", &self.state_dir().join("mnt").display().to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs `f` until it returns true or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Snapshot names (commit ids) a pool holds, from ZFS itself.
/// Waits until the `dm` process whose arguments include `args` has turned its terminal's echo
/// off (a hidden prompt is reading): input typed before that would be flushed.
pub fn wait_echo_off(args: &str) {
    let ok = eventually(30, || {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if !cmd.starts_with(dm_bin()) || !cmd.contains(args) {
                return false;
            }
            let Ok(tty) = std::fs::read_link(e.path().join("fd/0")) else {
                return false;
            };
            Command::new("stty")
                .args(["-a", "-F"])
                .arg(&tty)
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" -echo "))
        })
    });
    assert!(ok, "no dm process with '{args}' turned echo off");
}

pub fn snapshots(pool: &str) -> Vec<String> {
    let o = Command::new("zfs")
        .args(["list", "-H", "-t", "snapshot", "-r", "-o", "name", pool])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('@').map(|(_, s)| s.to_string()))
        .collect()
}

/// The branch filesystems (and staging ones) under `pool`'s `dmfs`, as ids.
pub fn filesystems(pool: &str) -> Vec<String> {
    let o = Command::new("zfs")
        .args(["list", "-H", "-o", "name", "-r", &format!("{pool}/dmfs")])
        .output()
        .unwrap();
    let prefix = format!("{pool}/dmfs/");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Commit snapshots (not handoff or probe ones) of branch filesystem `fs` in `pool`.
pub fn snapshots_of(pool: &str, fs: &str) -> Vec<String> {
    let o = Command::new("zfs")
        .args(["list", "-H", "-t", "snapshot", "-r", "-o", "name"])
        .arg(format!("{pool}/dmfs/{fs}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('@').map(|(_, s)| s.to_string()))
        .filter(|s| !s.starts_with("dm"))
        .collect()
}

/// Checks that the registry and ZFS tell one story on `n`: every dot `dm list` shows opens
/// with `dm dot show`; the branch filesystems are exactly those in ZFS (no leftovers of
/// interrupted operations); the commits of every branch's log are exactly the snapshots
/// (handoff markers aside). Returns the commit ids, for "nothing reported done is lost".
pub fn assert_consistent(n: &TestNode) -> std::collections::BTreeSet<String> {
    use std::collections::BTreeSet;
    let mut fss = BTreeSet::new();
    let mut registered = BTreeSet::new();
    for row in n.json(&["list", "--json"]).as_array().unwrap() {
        let dot = row["dot"].as_str().unwrap();
        let show = n.dm(&["dot", "show", "--json", dot]);
        assert_eq!(show.code, 0, "dm dot show {dot}: {}", show.stderr);
        let show: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
        let mut by_name = std::collections::BTreeMap::new();
        for b in show["branches"].as_array().unwrap() {
            let fs = b["filesystem_id"].as_str().unwrap().to_string();
            by_name.insert(b["name"].as_str().unwrap().to_string(), fs.clone());
            fss.insert(fs);
        }
        for b in show["branches"].as_array().unwrap() {
            // A hidden branch (kept for `dm undo`) has no name the CLI takes: its snapshots
            // count as registered when there are as many as the registry says it has.
            if b["hidden"] == true {
                let fs = b["filesystem_id"].as_str().unwrap();
                let mine: Vec<String> = snapshots_of(&n.pool, fs);
                assert_eq!(
                    mine.len() as u64,
                    b["commits"].as_u64().unwrap(),
                    "hidden {fs}"
                );
                registered.extend(mine.into_iter().map(|s| format!("{fs}@{s}")));
            }
        }
        for branch in by_name.keys().filter(|b| !b.starts_with('_')) {
            let log = n.json(&["log", "--json", &format!("{dot}@{branch}")]);
            for c in log.as_array().unwrap() {
                let owner = &by_name[c["branch"].as_str().unwrap()];
                registered.insert(format!("{owner}@{}", c["id"].as_str().unwrap()));
            }
        }
    }
    let on_disk: BTreeSet<String> = filesystems(&n.pool)
        .into_iter()
        .filter(|f| !f.contains('/'))
        .collect();
    // A deleted dot kept for `dm undo` has no name the CLI takes: its filesystems are those
    // labelled with a dot whose delete the operation log can still undo, with every snapshot.
    let kept: BTreeSet<String> = n
        .json(&["op", "log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "dot-delete" && o["undoable"] == true)
        .map(|o| format!("admin/{}", o["dot"].as_str().unwrap()))
        .collect();
    for fs in on_disk.difference(&fss.clone()) {
        let o = Command::new("zfs")
            .args(["get", "-H", "-o", "value", "io.dm:dot"])
            .arg(format!("{}/dmfs/{fs}", n.pool))
            .output()
            .unwrap();
        if kept.contains(String::from_utf8_lossy(&o.stdout).trim()) {
            fss.insert(fs.clone());
            registered.extend(
                snapshots_of(&n.pool, fs)
                    .into_iter()
                    .map(|s| format!("{fs}@{s}")),
            );
        }
    }
    assert_eq!(on_disk, fss, "branch filesystems: ZFS vs registry");
    let o = Command::new("zfs")
        .args(["list", "-H", "-t", "snapshot", "-r", "-o", "name"])
        .arg(format!("{}/dmfs", n.pool))
        .output()
        .unwrap();
    let prefix = format!("{}/dmfs/", n.pool);
    let snaps: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| !l.contains("@dmh-"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        snaps, registered,
        "commits: ZFS snapshots vs the registry's logs"
    );
    registered
        .iter()
        .filter_map(|s| s.split_once('@').map(|(_, id)| id.to_string()))
        .collect()
}

/// `zfs list -t all -r` of `pool` with columns `cols`, for a failure's message.
pub fn zfs_tree(pool: &str, cols: &str) -> String {
    let o = Command::new("zfs")
        .args(["list", "-H", "-t", "all", "-r", "-o", cols, pool])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The last `k` lines of a node's daemon log, newest first, for a failure's message.
pub fn log_tail(n: &TestNode, k: usize) -> String {
    let log = std::fs::read_to_string(n.state_dir().join("dm.log")).unwrap_or_default();
    log.lines().rev().take(k).collect::<Vec<_>>().join("\n")
}

/// SIGKILLs the daemon of `n` (if one runs) and waits until it is gone; unlike
/// [`TestNode::kill_daemon`] it does not wait for etcd, since a client may start the daemon
/// again at once.
pub fn sigkill(n: &TestNode) {
    if let Some(pid) = n.daemon_pid() {
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        wait_gone(pid);
    }
}

/// Whether the copy of branch filesystem `fs` in `pool` is writable (`readonly=off`); false
/// when it does not exist.
pub fn writable(pool: &str, fs: &str) -> bool {
    let o = Command::new("zfs")
        .args(["get", "-H", "-o", "value", "readonly"])
        .arg(format!("{pool}/dmfs/{fs}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim() == "off"
}

/// Whether `path` is a mountpoint now.
pub fn mounted(path: &std::path::Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let p = path.display().to_string();
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(p.as_str()))
}

/// MD5 of a file, via md5sum.
pub fn md5(path: &std::path::Path) -> String {
    let o = Command::new("md5sum").arg(path).output().unwrap();
    assert!(o.status.success(), "md5sum {}", path.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Writes `mib` MiB of random bytes to `path`.
pub fn write_random(path: &std::path::Path, mib: usize) {
    let o = Command::new("dd")
        .args([
            "if=/dev/urandom",
            &format!("of={}", path.display()),
            "bs=1M",
            &format!("count={mib}"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "dd failed");
}

/// Advances `pool`'s transaction group past `txg` (each `zfs set` syncs one or two), so a test
/// sees what a pool that has run for hours looks like: `zfs list` then prints txgs as "1.20K".
pub fn age_pool(pool: &str, txg: u64) {
    let current = || {
        let probe = format!("{pool}@dm-age-probe");
        let ok = |args: &[&str]| Command::new("zfs").args(args).output().unwrap();
        ok(&["snapshot", &probe]);
        let o = ok(&["get", "-Hp", "-o", "value", "createtxg", &probe]);
        ok(&["destroy", &probe]);
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let mut i = 0;
    while current() <= txg {
        for _ in 0..100 {
            i += 1;
            let o = Command::new("zfs")
                .args(["set", &format!("io.dm:age={i}"), pool])
                .output()
                .unwrap();
            assert!(o.status.success(), "zfs set on {pool}");
        }
    }
}

/// Field `key` of every element of a JSON array (`dm … --json` answers), as strings.
pub fn field(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {v}"))
        .iter()
        .map(|e| {
            e[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {e}"))
                .to_string()
        })
        .collect()
}
