//! Fault injection: the daemon is killed with SIGKILL at random points of each multi-step
//! operation, then started again. Afterwards the registry and ZFS must agree
//! ([`assert_consistent`]), nothing the client was told was done may be missing, and no
//! leftover dataset may remain. `bench/soak-faults.sh` runs the same with more kills.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestNode, assert_consistent, eventually};

/// Kills per operation; `DM_FAULT_KILLS` raises it (the soak script does).
fn kills() -> usize {
    std::env::var("DM_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// A small deterministic generator, seeded from the clock and printed, so a failure can be
/// replayed with `DM_FAULT_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("DM_FAULT_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("fault seed: DM_FAULT_SEED={seed}");
        Rng(seed | 1)
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn(n: &TestNode, args: &[&str]) -> Child {
    n.command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// How long `args` takes when nothing goes wrong (it is run for real).
fn timed(n: &TestNode, args: &[&str]) -> Duration {
    let t = Instant::now();
    n.ok(args);
    t.elapsed()
}

/// Runs `args`, kills the daemon after a random delay within `span`, waits for the client,
/// starts the daemon again and checks consistency. Returns whether the client reported success
/// (with its stdout).
fn kill_during(n: &TestNode, rng: &mut Rng, span: Duration, args: &[&str]) -> (bool, String) {
    let child = spawn(n, args);
    let delay = rng.below(span.as_millis() as u64 + 1);
    std::thread::sleep(Duration::from_millis(delay));
    // A client that finds the daemon gone before it connects starts a new one, as any verb
    // does.
    crate::common::sigkill(n);
    let out = child.wait_with_output().unwrap();
    let ok = out.status.success();
    // Any verb starts the daemon again; its start-up settles what the kill interrupted (after
    // the zfs commands the killed daemon left running have ended, which under load takes a
    // while).
    let mut last = String::new();
    let back = eventually(120, || {
        let r = n.dm(&["list"]);
        last = r.stderr;
        r.code == 0
    });
    assert!(
        back,
        "restart after a kill {delay} ms into {args:?}: {last}"
    );
    eprintln!("killed {delay} ms into {args:?} (client ok: {ok})");
    assert_consistent(n);
    (ok, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn dir(n: &TestNode, dot: &str) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path", dot]).trim())
}

fn branches(n: &TestNode) -> Vec<String> {
    crate::common::field(&n.json(&["branch", "--json"]), "name")
}

fn dots(n: &TestNode) -> Vec<String> {
    crate::common::field(&n.json(&["list", "--json"]), "dot")
}

fn log_ids(n: &TestNode, dot: &str) -> Vec<String> {
    crate::common::field(&n.json(&["log", "--json", dot]), "id")
}

#[test]
fn kill_9_during_commit_branch_and_delete_leaves_registry_and_zfs_agreeing() {
    let n = TestNode::new();
    let mut rng = Rng::new();
    n.ok(&["init", "f"]);
    let d = dir(&n, "f");
    std::fs::write(d.join("x"), "0").unwrap();
    let span = timed(&n, &["commit", "-m", "first"]) * 2;

    // Commits: one reported done is in the log after the restart.
    for i in 0..kills() {
        std::fs::write(d.join("x"), i.to_string()).unwrap();
        let (ok, out) = kill_during(&n, &mut rng, span, &["commit", "-m", &format!("c{i}")]);
        if ok {
            let short = out.split_whitespace().nth(1).unwrap().trim_end_matches(']');
            assert!(
                log_ids(&n, "f").iter().any(|id| id.starts_with(short)),
                "commit {short} was reported done and is gone"
            );
        }
    }

    // Branches: made from master's newest commit.
    let span = timed(&n, &["checkout", "-b", "probe"]) * 2;
    n.ok(&["checkout", "master"]);
    for i in 0..kills() {
        let name = format!("b{i}");
        let (ok, _) = kill_during(&n, &mut rng, span, &["checkout", "-b", &name]);
        if ok {
            assert!(
                branches(&n).contains(&name),
                "branch {name} was reported made"
            );
        }
        n.ok(&["checkout", "master"]);
    }

    // Branch deletes: each of those branches, and the probe.
    let span = timed(&n, &["branch", "-d", "probe"]) * 2;
    for i in 0..kills() {
        let name = format!("b{i}");
        if !branches(&n).contains(&name) {
            n.ok(&["checkout", "-b", &name]);
            n.ok(&["checkout", "master"]);
        }
        let (ok, _) = kill_during(&n, &mut rng, span, &["branch", "-d", &name]);
        if ok {
            assert!(
                !branches(&n).contains(&name),
                "branch {name} was reported deleted"
            );
        }
    }

    // Dot deletes: a dot with two branches and a commit each.
    let make = |name: &str| {
        n.ok(&["init", name]);
        std::fs::write(dir(&n, name).join("y"), name).unwrap();
        n.ok(&["commit", "--dot", name, "-m", "c"]);
        n.ok(&["checkout", "-b", "side"]);
        n.ok(&["commit", "--dot", &format!("{name}@side"), "-m", "s"]);
        n.ok(&["switch", "f"]);
    };
    make("probe");
    let span = timed(&n, &["dot", "delete", "-y", "probe"]) * 2;
    for i in 0..kills() {
        let name = format!("d{i}");
        make(&name);
        let (ok, _) = kill_during(&n, &mut rng, span, &["dot", "delete", "-y", &name]);
        if ok {
            assert!(!dots(&n).contains(&name), "dot {name} was reported deleted");
        }
    }
}

#[test]
fn kill_9_during_reset_and_reclone_leaves_registry_and_zfs_agreeing() {
    let n = TestNode::new();
    let mut rng = Rng::new();
    n.ok(&["init", "r"]);
    let d = dir(&n, "r");
    let commit = |i: usize| {
        std::fs::write(d.join("n"), i.to_string()).unwrap();
        n.ok(&["commit", "-m", &format!("c{i}")]);
    };
    commit(0);
    let base = log_ids(&n, "r")[0].clone();
    commit(1);
    commit(2);
    let span = timed(&n, &["reset", "--hard", &log_ids(&n, "r")[1]]) * 2;

    // Within the branch: back to `base` from two newer commits.
    for _ in 0..kills() {
        while log_ids(&n, "r").len() < 3 {
            commit(9);
        }
        let (ok, _) = kill_during(&n, &mut rng, span, &["reset", "--hard", &base]);
        let ids = log_ids(&n, "r");
        if ok {
            assert_eq!(
                ids,
                std::slice::from_ref(&base),
                "the reset was reported done"
            );
            assert_eq!(std::fs::read_to_string(d.join("n")).unwrap(), "0");
        }
        assert_eq!(
            ids.last(),
            Some(&base),
            "the reset removed the commit it went to"
        );
    }

    // Past the branch point: branch `dev` from the newest master commit, then reset it to
    // `base`, which was on master before dev was made (a re-clone).
    commit(1);
    let dev_span = {
        n.ok(&["checkout", "-b", "probe"]);
        commit(5);
        let t = timed(&n, &["reset", "--hard", &base]) * 2;
        n.ok(&["checkout", "master"]);
        n.ok(&["branch", "-d", "probe"]);
        t
    };
    for i in 0..kills() {
        let name = format!("dev{i}");
        n.ok(&["checkout", "-b", &name]);
        commit(100 + i);
        let (ok, _) = kill_during(&n, &mut rng, dev_span, &["reset", "--hard", &base]);
        let ids = log_ids(&n, &format!("r@{name}"));
        if ok {
            assert_eq!(
                ids,
                std::slice::from_ref(&base),
                "the re-clone of {name} was reported done"
            );
        }
        // Either way the branch works: it can commit and its files are there.
        let path = PathBuf::from(n.ok(&["dot", "path"]).trim());
        assert!(path.join("n").exists(), "branch {name} lost its files");
        commit(200 + i);
        n.ok(&["checkout", "master"]);
    }
    assert!(
        eventually(10, || crate::common::filesystems(&n.pool)
            .iter()
            .all(|f| !f.ends_with("-reset"))),
        "set-aside filesystems left behind"
    );
}

/// A receive from another cluster, killed on the receiving side: a push reported done is
/// there after the restart, a rerun completes any other, and ZFS and the registry agree.
#[test]
fn kill_9_during_receive_leaves_registry_and_zfs_agreeing() {
    let (a, b) = (TestNode::new(), TestNode::new());
    let mut rng = Rng::new();
    let key = b.api_key();
    let keyfile = a.path("b.key");
    std::fs::write(&keyfile, &key).unwrap();
    let addr = format!("admin@{}:{}", b.addr, b.port);
    a.ok(&[
        "remote",
        "add",
        "b",
        &addr,
        "--api-key-file",
        &keyfile.display().to_string(),
    ]);
    a.ok(&["init", "p"]);
    let d = dir(&a, "p");
    crate::common::write_random(&d.join("seed"), 8);
    a.ok(&["commit", "-m", "seed"]);
    let span = timed(&a, &["push", "b", "p"]) * 2;
    for i in 0..kills() {
        crate::common::write_random(&d.join(format!("f{i}")), 4);
        a.ok(&["commit", "-m", &format!("c{i}")]);
        let want = log_ids(&a, "p");
        // Every other round, into a dot B does not have yet (received under a hidden name).
        if i % 2 == 1 {
            b.ok(&["dot", "delete", "-y", "p"]);
        }
        let child = spawn(&a, &["push", "b", "p"]);
        let delay = rng.below(span.as_millis() as u64 + 1);
        std::thread::sleep(Duration::from_millis(delay));
        crate::common::sigkill(&b);
        let pushed = child.wait_with_output().unwrap().status.success();
        eprintln!("killed B {delay} ms into a push (client ok: {pushed})");
        assert!(
            eventually(120, || b.dm(&["list"]).code == 0),
            "B did not come back"
        );
        if pushed {
            assert_eq!(log_ids(&b, "p"), want, "a push reported done lost commits");
        }
        // A rerun completes (resuming what arrived whole) and leaves nothing behind.
        let rerun = a.dm(&["push", "b", "p"]);
        if rerun.code != 0 {
            panic!(
                "rerun after a kill {delay} ms in: {}\n{}\n{}",
                rerun.stderr,
                crate::common::zfs_tree(&b.pool, "name,mounted,readonly"),
                crate::common::log_tail(&b, 15)
            );
        }
        assert_eq!(log_ids(&b, "p"), want);
        assert_consistent(&b);
        assert!(
            crate::common::filesystems(&b.pool)
                .iter()
                .all(|f| !f.starts_with("recv-")),
            "staging filesystems left behind"
        );
    }
}

/// A handoff between two nodes of a cluster, with one of them killed at a random point: at
/// most one node ever holds a writable copy, commits are kept, and the branch can be taken
/// over again once the node is back.
#[test]
fn kill_9_during_handoff_never_leaves_two_writable_copies() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let mut rng = Rng::new();
    a.ok(&["init", "h"]);
    std::fs::write(dir(&a, "h").join("committed"), "c").unwrap();
    a.ok(&["commit", "-m", "c"]);
    let fs = a.json(&["dot", "show", "--json", "h"])["branches"][0]["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    let writable = |n: &TestNode| crate::common::writable(&n.pool, &fs);
    let nodes = [&a, &b];
    let span = {
        let t = Instant::now();
        dir(&b, "h");
        dir(&a, "h");
        t.elapsed()
    };
    for i in 0..kills() {
        let (to, from) = if i % 2 == 0 { (&b, &a) } else { (&a, &b) };
        std::fs::write(dir(from, "h").join("dirty"), format!("round {i}")).unwrap();
        let victim = nodes[rng.below(2) as usize];
        let child = spawn(to, &["dot", "path", "h"]);
        let delay = rng.below(span.as_millis() as u64 + 1);
        std::thread::sleep(Duration::from_millis(delay));
        crate::common::sigkill(victim);
        let moved = child.wait_with_output().unwrap().status.success();
        eprintln!(
            "killed {} {delay} ms into a handoff (client ok: {moved})",
            victim.pool
        );
        assert!(
            !(writable(&a) && writable(&b)),
            "two writable copies after a kill in round {i}"
        );
        // The killed node comes back; the branch can be had on the target again, with its
        // commit, and at most one copy is writable.
        assert!(
            eventually(60, || victim.dm(&["list"]).code == 0),
            "the killed node did not come back"
        );
        let mut last = String::new();
        assert!(
            eventually(120, || {
                let r = to.dm(&["dot", "path", "h"]);
                last = r.stderr;
                r.code == 0
            }),
            "the branch could not be taken over after the kill: {last}"
        );
        assert!(
            !(writable(&a) && writable(&b)),
            "two writable copies in round {i}"
        );
        assert!(dir(to, "h").join("committed").exists());
        if moved {
            // Reported done: the uncommitted change came along.
            assert_eq!(
                std::fs::read_to_string(dir(to, "h").join("dirty")).unwrap(),
                format!("round {i}")
            );
        }
        for n in nodes {
            assert_consistent(n);
        }
    }
}
