//! `dm prune` on real zfs-fuse and etcd: a keep policy on one node, every replica of a
//! three-node cluster following, and the commit shared with another cluster kept so that the
//! next incremental push still works.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use crate::common::*;

fn messages(n: &TestNode, at: &str) -> Vec<String> {
    field(&n.json(&["log", "--json", at]), "message")
}

fn commits(n: &TestNode, dir: &std::path::Path, names: &[&str]) {
    for m in names {
        fs::write(dir.join("f"), m).unwrap();
        n.ok(&["commit", "-m", m]);
    }
}

/// Commit snapshots of a pool (no handoff or probe snapshots).
fn commit_snaps(pool: &str) -> BTreeSet<String> {
    snapshots(pool)
        .into_iter()
        .filter(|s| !s.starts_with("dm"))
        .collect()
}

#[test]
fn prune_keeps_what_it_must_and_every_node_follows() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let c = TestNode::join(&a);
    a.ok(&["init", "logs"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    commits(&a, &dir, &["c1", "c2", "c3", "c4", "c5"]);
    a.ok(&["tag", "v2", "HEAD~3"]);
    a.ok(&["checkout", "-b", "old", "HEAD~4"]);
    a.ok(&["checkout", "master"]);
    let all = commit_snaps(&a.pool);
    for n in [&b, &c] {
        assert!(eventually(30, || commit_snaps(&n.pool) == all));
    }

    let err = a.fails(&["prune"]);
    assert!(err.contains("--keep-last"), "{err}");
    let out = a.ok(&["prune", "--keep-last", "1", "--dry-run"]);
    assert!(
        out.contains("Would remove 2 of 5")
            && out.contains("tag v2")
            && out.contains("branch old grew from it"),
        "{out}"
    );
    assert_eq!(messages(&a, "logs").len(), 5);
    let p = a.json(&["prune", "--keep-last", "1", "--json"]);
    assert_eq!(p["removed"], 2, "{p}");
    assert_eq!(messages(&a, "logs"), ["c5", "c2", "c1"]);
    assert_eq!(messages(&a, "logs@old"), ["c1"]);
    let left = commit_snaps(&a.pool);
    assert_eq!(left.len(), 3);
    // Replicas drop the same snapshots, and the files of what is left are intact.
    for n in [&b, &c] {
        assert!(
            eventually(30, || commit_snaps(&n.pool) == left),
            "{}: {:?} vs {left:?}",
            n.pool,
            commit_snaps(&n.pool)
        );
    }
    a.ok(&["reset", "--hard", "v2"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "c2");
    assert_consistent(&a);
}

#[test]
fn the_commit_shared_with_a_remote_survives_and_the_next_push_is_incremental() {
    let (a, hub) = (TestNode::new(), TestNode::new());
    let key = a.path("hub.key");
    fs::write(&key, hub.api_key()).unwrap();
    a.ok(&[
        "remote",
        "add",
        "hub",
        &format!("admin@{}:{}", hub.addr, hub.port),
        "--api-key-file",
        &key.display().to_string(),
    ]);
    a.ok(&["init", "data"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim());
    write_random(&dir.join("big"), 4);
    commits(&a, &dir, &["p1", "p2"]);
    a.ok(&["push", "hub"]);
    commits(&a, &dir, &["l1", "l2", "l3"]);

    // keep-last 1 would take p2, the newest commit the hub has: it stays.
    let p = a.json(&["prune", "--keep-last", "1", "--json"]);
    let kept: Vec<(String, serde_json::Value)> = p["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["message"].as_str().unwrap().to_string(), c["why"].clone()))
        .collect();
    assert_eq!(messages(&a, "data"), ["l3", "p2"], "{kept:?}");
    // The next push starts from p2: one increment, not the whole dot again.
    let s = a.json(&["push", "hub", "--json"]);
    assert_eq!(s["commits"], 1, "{s}");
    assert!(s["bytes"].as_u64().unwrap() < 1 << 20, "{s}");
    assert_eq!(messages(&hub, "data"), ["l3", "p2", "p1"]);
    hub.ok(&["switch", "data"]);
    let there = PathBuf::from(hub.ok(&["dot", "path"]).trim());
    assert_eq!(fs::read_to_string(there.join("f")).unwrap(), "l3");
    assert_eq!(md5(&there.join("big")), md5(&dir.join("big")));

    // The hub prunes too, down to the newest commit; the next push still finds its base.
    hub.ok(&["prune", "--keep-last", "1"]);
    commits(&a, &dir, &["l4"]);
    a.ok(&["push", "hub"]);
    assert_eq!(messages(&hub, "data"), ["l4", "l3"]);
}
