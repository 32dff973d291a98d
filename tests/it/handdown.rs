//! Reset past branch points and deleting branches others grew from, across a three-node cluster
//! on real zfs-fuse and etcd: the other branches keep their commits (git's behaviour), every
//! node's ZFS tree follows, and the files are right wherever the branches are used.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use crate::common::*;
use crate::docker::Docker;

fn messages(n: &TestNode, at: &str) -> Vec<String> {
    n.json(&["log", at, "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap().to_string())
        .collect()
}

/// `fs-id@commit` of every commit the registry lists, by the branch that owns it.
fn registered(n: &TestNode, dot: &str) -> BTreeSet<String> {
    let show = n.json(&["dot", "show", "--json", dot]);
    let mut out = BTreeSet::new();
    for b in show["branches"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        if b["hidden"] == true {
            // Kept for `dm undo`: its snapshots are what the registry counts.
            let fs = b["filesystem_id"].as_str().unwrap();
            let mine = snapshots_of(&n.pool, fs);
            assert_eq!(mine.len() as u64, b["commits"].as_u64().unwrap());
            out.extend(mine.into_iter().map(|s| format!("{fs}@{s}")));
            continue;
        }
        for c in n
            .json(&["log", "--json", &format!("{dot}@{name}")])
            .as_array()
            .unwrap()
        {
            if c["branch"] == name {
                out.insert(format!(
                    "{}@{}",
                    b["filesystem_id"].as_str().unwrap(),
                    c["id"].as_str().unwrap()
                ));
            }
        }
    }
    out
}

/// `fs-id@commit` of every commit snapshot in `pool` (no handoff or probe snapshots).
fn on_disk(pool: &str) -> BTreeSet<String> {
    let o = std::process::Command::new("zfs")
        .args(["list", "-H", "-t", "snapshot", "-r", "-o", "name"])
        .arg(format!("{pool}/dmfs"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once("/dmfs/").map(|(_, r)| r.to_string()))
        .filter(|r| !r.contains("@dm"))
        .collect()
}

#[test]
fn every_node_follows_a_reset_past_a_branch_point() {
    // Undo is off on a, so its reset hands the commits to feature, mastered on b, itself.
    let a = TestNode::with_args("256M", &["--undo-grace", "0"]);
    let b = TestNode::join(&a);
    let c = TestNode::join(&a);
    a.ok(&["init", "site"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    for v in ["one", "two"] {
        fs::write(dir.join("page"), v).unwrap();
        a.ok(&["commit", "-m", v]);
    }
    let one = a.json(&["log", "--json"])[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok(&["checkout", "-b", "feature"]);
    a.ok(&["checkout", "master"]);
    fs::write(dir.join("page"), "three").unwrap();
    a.ok(&["commit", "-m", "three"]);

    // feature moves to b: a container there uses it and writes to it, and b commits.
    let mut db = Docker::new(&b);
    db.run(
        "writer",
        "site@feature",
        false,
        "echo feature-work > /data/extra && cat /data/page",
    );
    b.ok(&["commit", "--dot", "site@feature", "-m", "f1"]);
    let feature_fs = b.json(&["dot", "show", "--json", "site"])["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "feature")
        .unwrap()["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Everyone has every commit before the reset.
    for n in [&a, &b, &c] {
        assert!(
            eventually(30, || on_disk(&n.pool) == registered(&a, "site")),
            "before: {:?} vs {:?}",
            on_disk(&n.pool),
            registered(&a, "site")
        );
    }

    // On a, master goes back to one: feature (mastered on b) keeps two.
    fs::write(dir.join("page"), "dirty").unwrap();
    let out = a.ok(&["reset", "--hard", &one]);
    assert!(out.contains("1 later commit(s) removed"), "{out}");
    assert_eq!(fs::read_to_string(dir.join("page")).unwrap(), "one");
    for n in [&a, &b, &c] {
        assert_eq!(messages(n, "site@master"), ["one"]);
        assert_eq!(messages(n, "site@feature"), ["f1", "two", "one"]);
    }
    let want = registered(&a, "site");
    assert!(
        want.iter()
            .any(|s| s.starts_with(&format!("{feature_fs}@")) && s.ends_with(&one)),
        "feature owns the first commit now: {want:?}"
    );
    for n in [&a, &b, &c] {
        assert!(
            eventually(30, || on_disk(&n.pool) == want),
            "node {}: {:?} vs {want:?}\n{}",
            n.pool,
            on_disk(&n.pool),
            log_tail(n, 20)
        );
    }
    // The branch's files on b are whole: committed and uncommitted.
    let out = db.run(
        "reader",
        "site@feature",
        false,
        "cat /data/page /data/extra",
    );
    assert!(out.contains("two") && out.contains("feature-work"), "{out}");

    // Deleting feature on b leaves master (which grows from it now) its commit; then the
    // registry and every pool agree again, also after a restart of each daemon.
    db.ok(&["volume", "rm", "-f", "site@feature"]);
    b.ok(&["branch", "--dot", "site", "-d", "feature"]);
    assert_eq!(messages(&c, "site@master"), ["one"]);
    let want = registered(&a, "site");
    for n in [&a, &b, &c] {
        assert!(
            eventually(30, || on_disk(&n.pool) == want),
            "after delete, node {}: {:?} vs {want:?}",
            n.pool,
            on_disk(&n.pool)
        );
        n.kill_daemon();
        assert_eq!(messages(n, "site@master"), ["one"]);
    }
    assert_eq!(fs::read_to_string(dir.join("page")).unwrap(), "one");
}

/// Waits until every node's pool holds exactly the commits the registry lists.
fn all_agree(nodes: &[&TestNode], when: &str) {
    let want = registered(nodes[0], "site");
    for n in nodes {
        assert!(
            eventually(40, || on_disk(&n.pool) == want),
            "{when}, node {}: {:?} vs {want:?}\n{}",
            n.pool,
            on_disk(&n.pool),
            log_tail(n, 20)
        );
    }
}

fn hidden(n: &TestNode) -> usize {
    n.json(&["dot", "show", "--json", "site"])["branches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["hidden"] == true)
        .count()
}

#[test]
fn a_reset_is_kept_undone_and_reclaimed_on_every_node() {
    let a = TestNode::new();
    // b reclaims what its own resets keep after two seconds.
    let b = TestNode::join_with(&a, &["--undo-grace", "2"]);
    let c = TestNode::join(&a);
    let nodes = [&a, &b, &c];
    a.ok(&["init", "site"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    for v in ["one", "two", "three"] {
        fs::write(dir.join("page"), v).unwrap();
        a.ok(&["commit", "-m", v]);
    }
    let one = a.json(&["log", "--json"])[2]["id"]
        .as_str()
        .unwrap()
        .to_string();
    all_agree(&nodes, "before");

    // The reset keeps what it removes in a hidden branch, on every node, and says it can be
    // undone.
    let out = a.ok(&["reset", "--hard", &one]);
    assert!(out.contains("2 later commit(s) removed"), "{out}");
    assert_eq!(fs::read_to_string(dir.join("page")).unwrap(), "one");
    for n in nodes {
        assert_eq!(messages(n, "site@master"), ["one"]);
    }
    assert_eq!(hidden(&a), 1);
    all_agree(&nodes, "after the reset");
    let ops = a.json(&["op", "log", "--json"]);
    assert_eq!(ops[0]["kind"], "reset");
    assert_eq!(ops[0]["undoable"], true, "{ops}");

    // Undone: the commits and their files are back, byte for byte, everywhere.
    // Busy is possible for a moment: mounts are private on this machine, and a container
    // started meanwhile (tests run side by side) holds a copy of every mount while it lives.
    let mut out = String::new();
    assert!(
        eventually(60, || {
            let r = a.dm(&["undo"]);
            out = format!("{}{}", r.stdout, r.stderr);
            r.code == 0 || !out.contains("busy")
        }),
        "{out}"
    );
    assert!(out.contains("reset 'master'"), "{out}");
    assert_eq!(fs::read_to_string(dir.join("page")).unwrap(), "three");
    for n in nodes {
        assert_eq!(messages(n, "site@master"), ["three", "two", "one"]);
    }
    assert_eq!(hidden(&a), 0);
    all_agree(&nodes, "after the undo");

    // On b, a branch it masters: its reset is kept two seconds, then reclaimed by b, and every
    // node's pool follows.
    b.ok(&["switch", "site"]);
    b.ok(&["checkout", "-b", "fb"]);
    let bdir = PathBuf::from(b.ok(&["dot", "path"]).trim());
    for v in ["b1", "b2"] {
        fs::write(bdir.join("page"), v).unwrap();
        b.ok(&["commit", "-m", v]);
    }
    let b1 = b.json(&["log", "--json"])[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.ok(&["reset", "--hard", &b1]);
    assert_eq!(fs::read_to_string(bdir.join("page")).unwrap(), "b1");
    assert!(
        eventually(120, || hidden(&a) == 0),
        "b reclaims it: {}",
        log_tail(&b, 20)
    );
    all_agree(&nodes, "after the reclaim");
    let err = b.fails(&["undo"]);
    assert!(err.contains("reclaimed"), "{err}");
    for n in nodes {
        n.kill_daemon();
        assert_eq!(messages(n, "site@fb"), ["b1", "three", "two", "one"]);
        assert_eq!(messages(n, "site@master"), ["three", "two", "one"]);
    }
    assert_eq!(fs::read_to_string(bdir.join("page")).unwrap(), "b1");
}
