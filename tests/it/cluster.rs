//! Multi-node clusters on one machine: three `dm serve` daemons, each with its own pool, state
//! dir, etcd member, loopback address and Docker plugin socket, driven through the real binary,
//! real etcd membership and a real dockerd.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{TestNode, eventually, field, md5, snapshots, write_random};
use crate::docker::Docker;

fn path(n: &TestNode, r: &str) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path", r]).trim())
}

fn cluster3() -> (TestNode, TestNode, TestNode) {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let c = TestNode::join(&a);
    (a, b, c)
}

/// Newest commit id of `dot` (master), as `dm log` shows it.
fn head(n: &TestNode, dot: &str) -> String {
    let log = n.json(&["log", "--json", dot]);
    log[0]["id"].as_str().unwrap().to_string()
}

/// Pid of the node's own etcd.
fn etcd_pid(n: &TestNode) -> String {
    let data = n.state_dir().join("etcd");
    let o = Command::new("pgrep")
        .args([
            "-f",
            &format!("etcd --name .* --data-dir {}", data.display()),
        ])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!pid.is_empty(), "the node's etcd is running");
    pid
}

fn has_commit(n: &TestNode, id: &str) -> bool {
    snapshots(&n.pool).iter().any(|s| s == id)
}

/// zfs-fuse remembers failed lookups for an hour: a file that arrives under a mount (a commit
/// replicated into a mounted copy, a reset, a handoff) must still be readable at once by
/// whoever looked for it before.
#[test]
fn files_that_arrive_under_a_mount_are_readable_by_those_who_looked_before() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    a.ok(&["init", "neg"]);
    std::fs::write(path(&a, "neg").join("first"), "1").unwrap();
    a.ok(&["commit", "-m", "one"]);
    let one = head(&a, "neg");
    // B takes the branch and hands it back; its copy stays as a replica. Mounted (as an
    // operator may, or as a reader would be shown it), it is where replication lands.
    let on_b = path(&b, "neg");
    let on_a = path(&a, "neg");
    let fs = b.json(&["dot", "show", "--json", "neg"])["branches"][0]["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    let replica = on_b.parent().unwrap().to_path_buf();
    if !crate::common::mounted(&replica) {
        let st = Command::new("zfs")
            .args(["mount", &format!("{}/dmfs/{fs}", b.pool)])
            .status()
            .unwrap();
        assert!(st.success());
    }
    // Once B's replicator has put its copy back at the newest commit (a rollback, which
    // zfs-fuse follows by itself), the next commit arrives by `zfs receive` alone.
    assert!(eventually(30, || !snapshots(&b.pool)
        .iter()
        .any(|s| s.starts_with("dmh-"))));
    assert!(!on_b.join("late.txt").exists());
    std::fs::write(on_a.join("late.txt"), "arrived").unwrap();
    a.ok(&["commit", "-m", "two"]);
    let two = head(&a, "neg");
    assert!(eventually(30, || has_commit(&b, &two)));
    assert!(
        eventually(20, || std::fs::read_to_string(on_b.join("late.txt"))
            .is_ok()),
        "a replicated file stays unreadable on B for whoever looked before"
    );
    // A reset brings back a file that was looked for while absent.
    std::fs::remove_file(on_a.join("first")).unwrap();
    a.ok(&["commit", "-m", "three"]);
    assert!(!on_a.join("first").exists());
    a.ok(&["reset", "--hard", &one]);
    assert_eq!(std::fs::read_to_string(on_a.join("first")).unwrap(), "1");
    assert!(!on_a.join("late.txt").exists());
    // B takes it back with uncommitted changes: the new file is readable there at once.
    std::fs::write(on_a.join("late.txt"), "dirty").unwrap();
    let on_b = path(&b, "neg");
    assert_eq!(
        std::fs::read_to_string(on_b.join("late.txt")).unwrap(),
        "dirty"
    );
}

#[test]
fn three_nodes_replicate_commits_and_move_dirty_state_to_the_mounting_node() {
    let (a, b, c) = cluster3();
    let nodes = c.json(&["cluster", "nodes", "--json"]);
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(
        nodes
            .iter()
            .all(|n| n["alive"] == true && n["etcd_member"] == true)
    );

    // A commit on A reaches B and C as a ZFS snapshot.
    a.ok(&["init", "shared"]);
    std::fs::write(path(&a, "shared").join("committed"), "v1\n").unwrap();
    a.ok(&["commit", "-m", "one"]);
    let first = head(&a, "shared");
    assert!(eventually(30, || has_commit(&b, &first) && has_commit(&c, &first)));
    // Every node sees the same dots.
    assert_eq!(b.json(&["list", "--json"])[0]["dot"], "shared");

    // Uncommitted changes on A move to B when a container on B mounts the branch.
    let dirty = path(&a, "shared").join("dirty.bin");
    write_random(&dirty, 1);
    let want = md5(&dirty);
    let mut db = Docker::new(&b);
    let out = db.run(
        "r",
        "shared",
        false,
        "md5sum /data/dirty.bin; cat /data/committed",
    );
    assert!(out.starts_with(&want), "{out} vs {want}");
    assert!(out.ends_with("v1"), "{out}");
    let info = b.json(&["dot", "show", "--json", "shared"]);
    let b_id = info["branches"][0]["master_node"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(b.ok(&["version"]).contains(&b_id), "B is the master now");

    // A commit asked of A runs on the master (B) and comes back to A.
    std::fs::write(path(&b, "shared").join("after"), "b\n").unwrap();
    a.ok(&["switch", "shared"]);
    a.ok(&["commit", "-m", "asked on A"]);
    let second = head(&a, "shared");
    assert!(eventually(30, || has_commit(&a, &second) && has_commit(&c, &second)));

    // Two nodes want the branch: B has it in use, so C gets a clear error. (Docker volume names
    // are unique across drivers, so C names the same branch differently.)
    db.run("hold", "shared", true, "sleep 300");
    let dc = Docker::new(&c);
    let (code, _, err) = dc.raw(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volume-driver",
        c.driver(),
        "-v",
        "shared@master:/data",
        "local/busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("in use by container"), "{err}");
    assert!(err.contains(&db.cname("hold")), "{err}");
    dc.ok(&["volume", "rm", "-f", "shared@master"]);
    db.ok(&["rm", "-f", &db.cname("hold")]);

    // Concurrent commits to different dots from different nodes.
    let threads: Vec<_> = [&a, &b, &c]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (home, bin) = (n.path("home"), crate::common::dm_bin().to_string());
            std::thread::spawn(move || {
                let dm = |args: &[&str]| {
                    let o = Command::new(&bin)
                        .args(args)
                        .env("HOME", &home)
                        .output()
                        .unwrap();
                    assert!(
                        o.status.success(),
                        "{args:?}: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    String::from_utf8_lossy(&o.stdout).trim().to_string()
                };
                let name = format!("par{i}");
                dm(&["init", &name]);
                let p = dm(&["dot", "path", &name]);
                for k in 0..4 {
                    std::fs::write(format!("{p}/f{k}"), format!("{i}-{k}")).unwrap();
                    dm(&["commit", "-m", &format!("{i}-{k}")]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut ids = Vec::new();
    for i in 0..3 {
        let log = a.json(&["log", "--json", &format!("par{i}")]);
        assert_eq!(log.as_array().unwrap().len(), 4);
        ids.extend(field(&log, "id"));
    }
    assert!(eventually(60, || [&a, &b, &c]
        .iter()
        .all(|n| ids.iter().all(|id| has_commit(n, id)))));

    // C leaves: refused while it holds uncommitted changes, fine once they are committed.
    c.ok(&["switch", "par2"]);
    std::fs::write(path(&c, "par2").join("unsaved"), "x").unwrap();
    let err = c.fails(&[
        "cluster",
        "reset",
        "--state-dir",
        &c.state_dir().display().to_string(),
    ]);
    assert!(
        err.contains("uncommitted changes in admin/par2@master"),
        "{err}"
    );
    c.ok(&["commit", "-m", "saved"]);
    let saved = head(&c, "par2");
    assert!(eventually(30, || has_commit(&a, &saved)));
    c.ok(&[
        "cluster",
        "reset",
        "--state-dir",
        &c.state_dir().display().to_string(),
    ]);
    assert!(c.daemon_pid().is_none());
    let nodes = a.json(&["cluster", "nodes", "--json"]);
    assert!(
        eventually(30, || a
            .json(&["cluster", "nodes", "--json"])
            .as_array()
            .unwrap()
            .len()
            == 2),
        "{nodes}"
    );
    // What C mastered can now be taken over by another node, from its last commit.
    a.ok(&["switch", "par2"]);
    assert_eq!(
        std::fs::read_to_string(path(&a, "par2").join("unsaved")).unwrap(),
        "x"
    );
}

#[test]
fn committed_data_survives_a_dead_node_and_etcd_members_restart() {
    let (a, b, c) = cluster3();

    // One member's etcd dies; its supervisor restarts it and the node carries on.
    let etcd = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "etcd --name .* --data-dir {}",
                c.state_dir().join("etcd").display()
            ),
        ])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&etcd.stdout).trim().to_string();
    assert!(!pid.is_empty(), "C's etcd is running");
    Command::new("kill").args(["-9", &pid]).status().unwrap();
    // Registry calls fail with a clear message until etcd is back, then work again.
    assert!(eventually(30, || c.dm(&["init", "onc"]).code == 0));
    std::fs::write(path(&c, "onc").join("f"), "c").unwrap();
    assert!(eventually(30, || c
        .dm(&["commit", "-m", "after etcd restart"])
        .code
        == 0));

    // A holds committed and uncommitted data, then dies.
    a.ok(&["init", "ona"]);
    let pa = path(&a, "ona");
    write_random(&pa.join("committed.bin"), 2);
    let want = md5(&pa.join("committed.bin"));
    a.ok(&["commit", "-m", "safe"]);
    let id = head(&a, "ona");
    std::fs::write(pa.join("unsaved"), "only on A").unwrap();
    assert!(eventually(30, || has_commit(&b, &id) && has_commit(&c, &id)));
    a.kill_daemon();
    // (zfs-fuse serves every pool on this machine, so A's pool stays readable by ZFS; what
    // matters is that no node asks A for anything.)

    // (etcd elects a new leader meanwhile; calls may fail for a moment.)
    assert!(eventually(30, || {
        let r = b.dm(&["cluster", "nodes", "--json"]);
        let n: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        n.as_array()
            .is_some_and(|v| v.iter().filter(|x| x["alive"] == true).count() == 2)
    }));
    b.ok(&["switch", "ona"]);
    let list = b.json(&["list", "--json"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dot"] == "ona")
        .unwrap();
    assert_eq!(row["dirty_unavailable"], true, "{row}");
    assert!(b.ok(&["list"]).contains("node down"));
    let err = b.fails(&["dot", "path"]);
    assert!(err.contains("which is down"), "{err}");
    assert!(err.contains("uncommitted changes are unavailable"), "{err}");
    // Committed data is readable on the others: branch from the newest commit.
    b.ok(&["checkout", "-b", "rescue"]);
    assert_eq!(md5(&path(&b, "ona@rescue").join("committed.bin")), want);
    assert!(!path(&b, "ona@rescue").join("unsaved").exists());

    // A comes back with its uncommitted data intact, and it can move again.
    a.ok(&["list"]);
    c.ok(&["switch", "ona"]);
    assert!(eventually(30, || c.dm(&["dot", "path"]).code == 0));
    assert_eq!(
        std::fs::read_to_string(path(&c, "ona").join("unsaved")).unwrap(),
        "only on A"
    );
}

/// `dm cluster reset` completes or changes nothing: right after another node restarted (etcd
/// refuses membership changes for a few seconds) it waits and completes; without quorum it
/// fails, says why, and the node keeps its branches writable.
#[test]
fn cluster_reset_completes_or_changes_nothing() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let c = TestNode::join(&a);
    let state = |n: &TestNode| n.state_dir().display().to_string();
    b.ok(&["init", "onb"]);
    std::fs::write(path(&b, "onb").join("f"), "b's").unwrap();
    b.ok(&["commit", "-m", "c"]);
    let id = head(&b, "onb");
    assert!(eventually(30, || has_commit(&a, &id) && has_commit(&c, &id)));

    // No quorum (two of three members down): refused, nothing changed.
    let dir = path(&b, "onb");
    c.kill_daemon();
    a.kill_daemon();
    let err = b.fails(&["cluster", "reset", "--state-dir", &state(&b)]);
    assert!(err.contains("no quorum"), "{err}");
    assert!(b.daemon_pid().is_some(), "the node was stopped");
    assert!(b.state_dir().join("node.toml").exists());
    // Still the master, still mounted and writable.
    std::fs::write(dir.join("g"), "still mine").unwrap();
    a.ok(&["list"]);
    c.ok(&["list"]);
    assert!(eventually(30, || b.dm(&["commit", "-m", "after"]).code == 0));
    let nodes = b.json(&["cluster", "nodes", "--json"]);
    let on_b = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"] == b.addr.as_str())
        .unwrap_or_else(|| panic!("{nodes}"));
    assert_eq!(on_b["masters"], 1, "{nodes}");

    // Right after A restarts: etcd refuses for a few seconds; the reset waits it out.
    a.ok(&["cluster", "upgrade", "--state-dir", &state(&a)]);
    b.ok(&["cluster", "reset", "--state-dir", &state(&b)]);
    assert!(b.daemon_pid().is_none());
    // What B mastered is free for another node, with everything committed.
    assert_eq!(
        std::fs::read_to_string(path(&a, "onb").join("g")).unwrap(),
        "still mine"
    );
}

/// The join command `dm cluster init --tls` prints works as printed (with the token it prints),
/// without a terminal to confirm the certificate on.
#[test]
fn the_join_command_init_prints_works_as_printed() {
    let a = TestNode::uninitialised();
    let mut args = a.init_args("256M");
    args.push("--tls".into());
    let out = a.ok(&args);
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("dm cluster join"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("--fingerprint SHA256:"), "{line}");
    let token = out
        .lines()
        .skip_while(|l| !l.contains("join token"))
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"))
        .trim()
        .to_string();
    let b = TestNode::uninitialised();
    let mut join: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    join.extend(b.node_args("256M"));
    let r = crate::common::Run::from(
        b.command()
            .args(&join)
            .env("DM_JOIN_TOKEN", &token)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{line}: {}", r.stderr);
    let nodes = a.json(&["cluster", "nodes", "--json"]);
    assert_eq!(nodes.as_array().unwrap().len(), 2, "{nodes}");
}

/// A replication stream between TLS nodes whose sender stops answering without closing the
/// connection (frozen here with SIGSTOP, as a cut link looks) is given up after the idle limit:
/// the receiving node's `zfs receive` ends and it mounts other dots again meanwhile.
#[test]
fn a_peer_stream_gone_quiet_is_given_up_on_over_tls() {
    let a = TestNode::with_args("512M", &["--tls", "--stream-idle-timeout", "3"]);
    let b = TestNode::uninitialised();
    let mut args = b.join_args(&a);
    let cert = a.state_dir().join("tls/cert.pem");
    let der = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in {} -outform DER | sha256sum",
            cert.display()
        ))
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&der.stdout);
    let hex = hex.split_whitespace().next().unwrap();
    args.extend(["--fingerprint".to_string(), format!("SHA256:{hex}")]);
    args.extend(["--stream-idle-timeout".to_string(), "3".to_string()]);
    let r = crate::common::Run::from(
        b.command()
            .args(&args)
            .env("DM_JOIN_TOKEN", a.join_token())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    a.ok(&["init", "big"]);
    write_random(&path(&a, "big").join("data"), 200);
    let a_pid = a.daemon_pid().unwrap();
    let receiving = || {
        let o = Command::new("pgrep")
            .args(["-f", &format!("zfs receive.*{}/dmfs", b.pool)])
            .output()
            .unwrap();
        !o.stdout.is_empty()
    };
    a.ok(&["commit", "-m", "big"]);
    assert!(eventually(30, receiving), "B never started receiving");
    Command::new("kill")
        .args(["-STOP", &a_pid.to_string()])
        .status()
        .unwrap();
    let ended = eventually(30, || !receiving());
    let other = b.dm(&["init", "meanwhile"]);
    Command::new("kill")
        .args(["-CONT", &a_pid.to_string()])
        .status()
        .unwrap();
    assert!(ended, "B's receive hung on a sender that went quiet");
    assert_eq!(other.code, 0, "{}", other.stderr);
    // Once the sender is back, replication completes.
    let id = head(&a, "big");
    assert!(eventually(60, || has_commit(&b, &id)));
}

/// At most one writable copy of a branch, even while it moves: asking the old master for the
/// branch during a handoff is refused, and afterwards its copy is read-only and unmounted.
#[test]
fn a_branch_on_its_way_to_another_node_is_never_writable_on_the_old_one() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    a.ok(&["init", "moving"]);
    std::fs::write(path(&a, "moving").join("f"), "c").unwrap();
    a.ok(&["commit", "-m", "c"]);
    let on_a = path(&a, "moving");
    write_random(&on_a.join("dirty.bin"), 150);
    let want = md5(&on_a.join("dirty.bin"));
    let fs = a.json(&["dot", "show", "--json", "moving"])["branches"][0]["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    let readonly_on_a = || !crate::common::writable(&a.pool, &fs);
    let mut take = b.command().args(["dot", "path", "moving"]).spawn().unwrap();
    assert!(eventually(60, readonly_on_a), "A never released the branch");
    let during = a.dm(&["dot", "path", "moving"]);
    let status = take.wait().unwrap();
    assert!(status.success());
    assert_ne!(
        during.code, 0,
        "A handed out a writable copy while the branch moved: {}",
        during.stdout
    );
    assert!(during.stderr.contains("moving"), "{}", during.stderr);
    assert!(readonly_on_a(), "A's copy is writable after the move");
    assert!(!crate::common::mounted(on_a.parent().unwrap()));
    assert_eq!(md5(&path(&b, "moving").join("dirty.bin")), want);
}

#[test]
fn upgrade_restarts_the_daemon_and_keeps_state_and_mounts() {
    let n = TestNode::new();
    let mut d = Docker::new(&n);
    d.run("w", "up", true, "echo before > /data/f; sleep 300");
    n.ok(&["switch", "up"]);
    assert!(eventually(20, || path(&n, "up").join("f").exists()));
    n.ok(&["commit", "-m", "c"]);
    let old = n.daemon_pid().unwrap();
    let out = n.ok(&[
        "cluster",
        "upgrade",
        "--state-dir",
        &n.state_dir().display().to_string(),
    ]);
    assert!(out.contains("mounts kept"), "{out}");
    let new = n.daemon_pid().unwrap();
    assert_ne!(old, new);
    // The container still writes to the same mount, and dm still knows it holds the dot.
    d.ok(&["exec", &d.cname("w"), "sh", "-c", "echo after > /data/g"]);
    assert_eq!(
        std::fs::read_to_string(path(&n, "up").join("g")).unwrap(),
        "after\n"
    );
    let list = n.json(&["list", "--json"]);
    assert_eq!(list[0]["containers"][0], d.cname("w"));
    assert_eq!(n.json(&["log", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn etcd_outage_serves_cached_listings_refuses_writes_and_recovers() {
    let n = TestNode::new();
    n.ok(&["init", "kept"]);
    std::fs::write(path(&n, "kept").join("f"), "x").unwrap();
    n.ok(&["list"]);
    let pid = etcd_pid(&n);
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let listed = n.dm(&["list"]);
    let commit = n.dm(&["commit", "-m", "while etcd is frozen"]);
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("kept"), "{}", listed.stdout);
    assert!(
        listed.stderr.contains("etcd is unreachable"),
        "{}",
        listed.stderr
    );
    assert_ne!(commit.code, 0);
    assert!(
        commit.stderr.contains("etcd is unreachable"),
        "{}",
        commit.stderr
    );
    // Back to normal once etcd answers; the failed commit left nothing behind.
    assert!(eventually(30, || n.dm(&["commit", "-m", "after"]).code == 0));
    assert_eq!(n.json(&["log", "--json"]).as_array().unwrap().len(), 1);
    assert!(!n.dm(&["list"]).stderr.contains("unreachable"));
}
