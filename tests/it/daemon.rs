//! The node daemon: `dm cluster init`, start on demand, restart after kill -9, recovery from ZFS.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::{TestNode, field};

#[test]
fn cluster_init_sets_up_and_refuses_to_run_twice() {
    let n = TestNode::new();
    let mode = fs::metadata(n.config_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "client config holds the API key");
    let config = fs::read_to_string(n.config_path()).unwrap();
    assert!(
        config.contains("[remotes.local]") && config.contains("current_remote = \"local\""),
        "{config}"
    );
    assert!(n.path("pool.img").exists());
    assert!(n.state_dir().join("dm.log").exists());
    let pid = n.daemon_pid().expect("daemon running");
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.contains("serve"),
        "re-executed as dm serve: {cmdline}"
    );
    let node_toml = fs::read_to_string(n.state_dir().join("node.toml")).unwrap();
    assert!(
        !node_toml.contains(&n.api_key()),
        "node.toml must not hold the key"
    );

    let err = n.fails(&n.init_args("256M"));
    assert!(err.contains("already initialised"), "{err}");
    assert_eq!(
        fs::read_to_string(n.config_path()).unwrap(),
        config,
        "client config unchanged"
    );
    assert_eq!(
        fs::read_to_string(n.state_dir().join("node.toml")).unwrap(),
        node_toml
    );
    assert_eq!(n.daemon_pid(), Some(pid), "daemon untouched");
    let v = n.ok(&["version"]);
    assert!(v.contains("daemon: dm "), "{v}");
}

#[test]
fn survives_kill_9_with_commits_branches_and_dirty_files() {
    let n = TestNode::new();
    n.ok(&["init", "db"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("committed"), "c").unwrap();
    n.ok(&["commit", "-m", "one", "-d", "k=v"]);
    n.ok(&["checkout", "-b", "dev"]);
    n.ok(&["checkout", "master"]);
    fs::write(dir.join("dirty"), "uncommitted").unwrap();
    let before_log = n.json(&["log", "--json"]);
    let before_show = n.json(&["dot", "show", "--json"]);

    n.kill_daemon();
    assert!(n.daemon_pid().is_none());
    // Any verb starts the daemon again, says so on stderr, and carries on.
    let r = n.dm(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("not running; starting it"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("db"), "{}", r.stdout);
    assert!(n.daemon_pid().is_some());

    assert_eq!(n.json(&["log", "--json"]), before_log);
    let after_show = n.json(&["dot", "show", "--json"]);
    assert_eq!(after_show["branches"].as_array().unwrap().len(), 2);
    assert_eq!(after_show["id"], before_show["id"]);
    assert_eq!(
        fs::read_to_string(dir.join("dirty")).unwrap(),
        "uncommitted"
    );
    assert_eq!(fs::read_to_string(dir.join("committed")).unwrap(), "c");
    n.ok(&["commit", "-m", "after restart"]);
    assert_eq!(n.json(&["log", "--json"]).as_array().unwrap().len(), 2);
}

/// A pid file left by a killed daemon may name a process that reused the pid: dm neither
/// trusts nor signals it. A second daemon for the same state directory is refused.
#[test]
fn a_reused_pid_is_never_taken_for_the_daemon() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    n.kill_daemon();
    let mut other = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    fs::write(n.state_dir().join("dm.pid"), other.id().to_string()).unwrap();
    let r = n.dm(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("not running; starting it"),
        "{}",
        r.stderr
    );
    let pid = n.daemon_pid().unwrap();
    assert_ne!(pid, other.id() as i32);
    // Upgrading stops the real daemon, not the other process.
    fs::write(n.state_dir().join("dm.pid"), other.id().to_string()).unwrap();
    n.dm(&["cluster", "upgrade"]);
    assert!(
        other.try_wait().unwrap().is_none(),
        "the unrelated process was killed"
    );
    fs::write(n.state_dir().join("dm.pid"), pid.to_string()).unwrap();
    let out = n
        .command()
        .args(["serve", "--state-dir", &n.state_dir().display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("another dm daemon already runs"), "{err}");
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn sigterm_stops_cleanly_and_serve_starts_by_hand() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let pid = n.daemon_pid().unwrap();
    std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .unwrap();
    crate::common::wait_gone(pid);
    assert!(
        !n.state_dir().join("dm.pid").exists(),
        "pid file removed on clean stop"
    );
    let mut child = n
        .command()
        .args(["serve", "--state-dir", &n.state_dir().display().to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(crate::common::eventually(30, || n.daemon_pid() == Some(child.id() as i32)));
    let r = n.dm(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("starting it"),
        "already running: {}",
        r.stderr
    );
    assert!(r.stdout.contains("* d"), "{}", r.stdout);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn daemon_that_cannot_start_says_why_and_where_the_log_is() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    n.kill_daemon();
    let node_file = n.state_dir().join("node.toml");
    let text = fs::read_to_string(&node_file).unwrap();
    let broken = text.replace(
        &format!("pool = \"{}\"", n.pool),
        "pool = \"no-such-pool-dm\"",
    );
    assert_ne!(broken, text);
    fs::write(&node_file, broken).unwrap();
    let r = n.dm(&["list"]);
    assert_eq!(
        r.code, 3,
        "a daemon that cannot start is 'unavailable': {}",
        r.stderr
    );
    let err = n.fails(&["list"]);
    assert!(err.contains("cannot start the dm daemon"), "{err}");
    assert!(
        err.contains("no-such-pool-dm") && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        err.contains(&n.state_dir().join("dm.log").display().to_string()),
        "{err}"
    );
    assert!(err.contains("dm serve --state-dir"), "{err}");
    fs::write(&node_file, text).unwrap();
    n.ok(&["list"]);
}

#[test]
fn registry_is_rebuilt_from_zfs_when_etcd_data_is_lost() {
    let n = TestNode::new();
    n.ok(&["init", "keep"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "1").unwrap();
    n.ok(&["commit", "-m", "first", "-d", "who=test"]);
    n.ok(&["checkout", "-b", "side"]);
    n.ok(&["commit", "-m", "on side"]);
    let before = n.json(&["log", "--json"]);
    n.kill_daemon();
    fs::remove_dir_all(n.state_dir().join("etcd")).unwrap();
    n.ok(&["list"]);
    assert_eq!(n.json(&["log", "--json"]), before);
    let names = field(&n.json(&["branch", "--json"]), "name");
    assert_eq!(names, ["master", "side"]);
    // the restored admin key still works, and so does writing
    n.ok(&["commit", "-m", "after rebuild"]);
}
