//! `dm op log`, `dm undo` and `dm op restore` on real zfs-fuse and etcd: what each operation
//! records, undoing commits, tags and branches (a deleted branch comes back with its files),
//! and hidden branches reclaimed after their grace period.

use std::fs;
use std::path::PathBuf;

use crate::common::*;

fn kinds(n: &TestNode) -> Vec<String> {
    field(&n.json(&["op", "log", "--json"]), "kind")
}

/// Dot `app`, current, whose file `f` was committed as "one" (c1), then "two" (c2); its
/// subdot's path.
fn app_with_two_commits(n: &TestNode) -> PathBuf {
    n.ok(&["init", "app"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "one").unwrap();
    n.ok(&["commit", "-m", "c1"]);
    fs::write(dir.join("f"), "two").unwrap();
    n.ok(&["commit", "-m", "c2"]);
    dir
}

fn messages(n: &TestNode, at: &str) -> Vec<String> {
    field(&n.json(&["log", "--json", at]), "message")
}

#[test]
fn undo_walks_back_through_the_operation_log() {
    let n = TestNode::new();
    let dir = app_with_two_commits(&n);
    n.ok(&["tag", "v2"]);
    n.ok(&["checkout", "-b", "x"]);
    let xdir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(xdir.join("g"), "on x").unwrap();
    n.ok(&["commit", "-m", "x1"]);
    n.ok(&["checkout", "master"]);
    n.ok(&["reset", "--hard", "HEAD"]);
    assert_eq!(
        kinds(&n),
        [
            "reset", "checkout", "commit", "checkout", "branch", "tag", "commit", "commit", "dot"
        ]
    );
    let text = n.ok(&["op", "log"]);
    assert!(
        text.contains("(cannot be undone)") && text.contains("commit"),
        "{text}"
    );

    // A deleted branch is hidden: gone from the listings, back with `dm undo`.
    n.ok(&["branch", "-d", "x"]);
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 1);
    assert_consistent(&n);
    let out = n.ok(&["undo"]);
    assert!(out.contains("deleted branch 'x'"), "{out}");
    assert_eq!(messages(&n, "app@x"), ["x1", "c2", "c1"]);
    let xdir = PathBuf::from(n.ok(&["dot", "path", "app@x"]).trim());
    assert_eq!(fs::read_to_string(xdir.join("g")).unwrap(), "on x");

    // Next (the reset before them cannot be undone, so it is skipped): the checkout of master
    // (x is checked out again), x1 is uncommitted, the checkout of x, the branch goes, then
    // the tag, then c2 — its files stay, uncommitted.
    let current = |n: &TestNode| n.json(&["status", "--json"])["branch"].clone();
    n.ok(&["undo"]);
    assert_eq!(current(&n), "x");
    n.ok(&["undo"]);
    assert_eq!(messages(&n, "app@x"), ["c2", "c1"]);
    n.ok(&["undo"]);
    assert_eq!(current(&n), "master");
    n.ok(&["undo"]);
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 1);
    n.ok(&["undo"]);
    assert!(n.json(&["tag", "--json"]).as_array().unwrap().is_empty());
    n.ok(&["undo"]);
    assert_eq!(messages(&n, "app"), ["c1"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "two");
    let s = n.json(&["status", "--json"]);
    assert_eq!(s["changes"][0]["path"], "f", "{s}");
    assert_consistent(&n);

    // Restore: back to right after the reset, though something came since.
    let log = n.json(&["op", "log", "--json"]);
    let id_of = |kind: &str| -> String {
        log.as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind && o["undone"] == false)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (reset_op, c1_op) = (id_of("reset"), id_of("commit"));
    n.ok(&["commit", "-m", "c2 again"]);
    n.ok(&["tag", "again"]);
    let out = n.ok(&["op", "restore", &reset_op]);
    assert!(out.contains("Restored"), "{out}");
    assert_eq!(messages(&n, "app"), ["c1"]);
    assert!(n.json(&["tag", "--json"]).as_array().unwrap().is_empty());
    // Further back, the reset is in the way: it says so, and nothing changes.
    let err = n.fails(&["op", "restore", &c1_op]);
    assert!(
        err.contains("cannot be undone") && err.contains(&reset_op),
        "{err}"
    );
    assert_eq!(messages(&n, "app"), ["c1"]);
    let err = n.fails(&["op", "restore", "nosuchop"]);
    assert!(err.contains("dm op log"), "{err}");
    assert_consistent(&n);

    // Another user sees neither admin's log nor undoes admin's work.
    let bob = n.ok(&["user", "add", "bob"]).trim().to_string();
    let (code, _) = n.http("GET", "/v1/ops/admin", Some(("bob", &bob)), b"");
    assert_eq!(code, 403);
    let (code, _) = n.http("POST", "/v1/ops/admin/undo", Some(("bob", &bob)), b"{}");
    assert_eq!(code, 403);
}

#[test]
fn a_deleted_branch_is_reclaimed_after_its_grace_period() {
    let n = TestNode::with_args("256M", &["--undo-grace", "2"]);
    n.ok(&["init", "d"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "1").unwrap();
    n.ok(&["commit", "-m", "c1"]);
    n.ok(&["checkout", "-b", "tmp"]);
    fs::write(PathBuf::from(n.ok(&["dot", "path"]).trim()).join("f"), "2").unwrap();
    n.ok(&["commit", "-m", "t1"]);
    n.ok(&["checkout", "master"]);
    let before = filesystems(&n.pool).len();
    n.ok(&["branch", "-d", "tmp"]);
    assert_eq!(filesystems(&n.pool).len(), before, "kept for undo at first");
    assert!(
        eventually(40, || filesystems(&n.pool).len() == before - 1),
        "the sweep reclaims it: {:?}",
        filesystems(&n.pool)
    );
    let err = n.fails(&["undo"]);
    assert!(err.contains("reclaimed"), "{err}");
    assert_consistent(&n);
}

/// `a` knows `b` as remote `b` (admin's key in a file, as users add remotes).
fn add_remote(a: &TestNode, b: &TestNode) {
    a.add_remote(b, "b", "admin", &b.api_key());
}

#[test]
fn a_pull_is_undone_and_pulls_again() {
    let (a, hub) = (TestNode::new(), TestNode::new());
    add_remote(&a, &hub);
    hub.ok(&["init", "d"]);
    let hdir = PathBuf::from(hub.ok(&["dot", "path"]).trim());
    fs::write(hdir.join("f"), "one").unwrap();
    hub.ok(&["commit", "-m", "one"]);
    a.ok(&["clone", "b", "d"]);
    a.ok(&["switch", "d"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    fs::write(hdir.join("f"), "two").unwrap();
    hub.ok(&["commit", "-m", "two"]);

    // A fast-forward pull goes back with `dm undo`, and comes again with the next pull.
    a.ok(&["pull", "b"]);
    assert_eq!(messages(&a, "d"), ["two", "one"]);
    let ops = a.json(&["op", "log", "--json"]);
    assert_eq!(ops[0]["kind"], "pull");
    assert_eq!(ops[0]["undoable"], true, "{ops}");
    let out = a.ok(&["undo"]);
    assert!(out.contains("pulled 1 commit(s)"), "{out}");
    assert_eq!(messages(&a, "d"), ["one"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "one");
    assert_consistent(&a);
    a.ok(&["pull", "b"]);
    assert_eq!(messages(&a, "d"), ["two", "one"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "two");

    // Not over uncommitted changes: they are never discarded by an undo.
    a.ok(&["reset", "--hard", "HEAD"]);
    fs::write(dir.join("f"), "mine").unwrap();
    let err = a.fails(&["undo"]);
    assert!(err.contains("uncommitted changes"), "{err}");
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "mine");
    a.ok(&["reset", "--hard", "HEAD"]);

    // A pulled new branch goes with `dm undo`.
    hub.ok(&["checkout", "-b", "extra"]);
    hub.ok(&["commit", "-m", "on extra"]);
    a.ok(&["pull", "b", "d", "extra"]);
    assert_eq!(messages(&a, "d@extra"), ["on extra", "two", "one"]);
    a.ok(&["undo"]);
    let branches = field(&a.json(&["branch", "--json"]), "name");
    assert_eq!(branches, ["master"]);
    assert_consistent(&a);
}

#[test]
fn a_deleted_dot_comes_back_on_every_node_or_goes_for_good_after_its_grace() {
    let a = TestNode::new();
    // b reclaims what is deleted on it after two seconds.
    let b = TestNode::join_with(&a, &["--undo-grace", "2"]);
    a.ok(&["init", "kept"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "precious").unwrap();
    a.ok(&["commit", "-m", "c1"]);
    let fs_count = filesystems(&a.pool).len();
    assert!(eventually(30, || filesystems(&b.pool).len() == fs_count));

    a.ok(&["dot", "delete", "-y", "kept"]);
    for n in [&a, &b] {
        assert!(n.json(&["list", "--json"]).as_array().unwrap().is_empty());
    }
    let err = a.fails(&["dot", "show", "kept"]);
    assert!(err.contains("kept"), "{err}");
    assert_eq!(filesystems(&a.pool).len(), fs_count, "kept for undo");
    let out = a.ok(&["undo"]);
    assert!(out.contains("deleted dot 'kept'"), "{out}");
    for n in [&a, &b] {
        assert_eq!(messages(n, "kept"), ["c1"]);
    }
    a.ok(&["switch", "kept"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "precious");
    assert_consistent(&a);

    // Deleted on b, whose grace is two seconds: gone from every pool soon after, for good.
    b.ok(&["init", "brief"]);
    b.ok(&["commit", "-m", "b1"]);
    assert!(eventually(30, || filesystems(&a.pool).len() == fs_count + 1));
    b.ok(&["dot", "delete", "-y", "brief"]);
    for n in [&a, &b] {
        assert!(
            eventually(40, || filesystems(&n.pool).len() == fs_count),
            "{}: {:?}\n{}",
            n.pool,
            filesystems(&n.pool),
            log_tail(n, 10)
        );
    }
    let err = b.fails(&["undo"]);
    assert!(err.contains("reclaimed"), "{err}");
    // A new dot may take a deleted one's name at once.
    a.ok(&["dot", "delete", "-y", "kept"]);
    a.ok(&["init", "kept"]);
    let err = a.fails(&["undo"]);
    assert!(err.contains("exists again"), "{err}");
}

#[test]
fn a_copy_of_the_mounts_in_another_namespace_does_not_hold_a_branch() {
    let n = TestNode::new();
    let dir = app_with_two_commits(&n);
    let mnt = n.state_dir().join("mnt").canonicalize().unwrap();
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let own = |p: &std::path::Path| {
        info.lines()
            .find(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
            .unwrap_or_else(|| panic!("{} is not a mount:\n{info}", p.display()))
            .to_string()
    };
    assert!(own(&mnt).contains(" shared:"), "{}", own(&mnt));
    let branch = dir.parent().unwrap();
    assert!(own(branch).contains(" shared:"), "{}", own(branch));

    // What runc's init holds while a container starts anywhere on the machine (and a service
    // with a private /tmp for as long as it runs): a copy of every mount.
    let mut copy = copy_of_every_mount();

    // A reset that unmounts the branch to keep what it removes, and its undo.
    let out = n.ok(&["reset", "--hard", "HEAD^"]);
    assert!(!out.contains("cannot be undone"), "{out}");
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "one");
    n.ok(&["undo"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "two");
    // Deleting the dot unmounts its filesystem (kept for `dm undo`), and the reclaim after the
    // grace period can destroy it.
    n.ok(&["dot", "delete", "-y", "app"]);
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!info.contains(branch.to_str().unwrap()), "{info}");
    for fs_id in filesystems(&n.pool) {
        let ds = format!("{}/dmfs/{fs_id}", n.pool);
        let o = std::process::Command::new("zfs")
            .args(["destroy", "-r", &ds])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    copy.kill().unwrap();
    copy.wait().unwrap();
}

#[test]
fn a_branch_held_elsewhere_is_named_in_the_busy_error() {
    let n = TestNode::with_args("256M", &["--undo-grace", "0"]);
    n.ok(&["init", "app"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    // Mounts private, as a host without systemd has them and the daemon finds them when
    // branches were mounted before it shared its directory.
    let mnt = n.state_dir().join("mnt");
    let private = std::process::Command::new("mount")
        .arg("--make-rprivate")
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(private.success());
    let mut copy = copy_of_every_mount();

    let err = n.fails(&["dot", "delete", "-y", "app"]);
    assert!(
        err.contains("is busy")
            && err.contains(&format!(
                "a copy of the mount in the mount namespace of pid {} (sleep)",
                copy.id()
            ))
            && err.contains(&dir.parent().unwrap().display().to_string()),
        "{err}"
    );
    copy.kill().unwrap();
    copy.wait().unwrap();
    // Let go, the delete goes through (finished by the daemon, or asked again).
    assert!(eventually(60, || {
        let _ = n.dm(&["dot", "delete", "-y", "app"]);
        filesystems(&n.pool).is_empty()
    }));
}

/// A process in a mount namespace of its own holding a copy of every mount, as runc's init
/// does while a container starts (and a service with a private /tmp as long as it runs).
fn copy_of_every_mount() -> std::process::Child {
    let copy = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "unchanged", "sleep", "120"])
        .spawn()
        .unwrap();
    let me = fs::read_link("/proc/self/ns/mnt").unwrap();
    let ns = format!("/proc/{}/ns/mnt", copy.id());
    assert!(eventually(10, || fs::read_link(&ns).is_ok_and(|ns| ns != me)));
    copy
}
