//! `dm status` and `dm diff` on real zfs-fuse: what changed since a commit and between commits,
//! across branches and tags, per subdot, with links never followed, on any node of a cluster.

use std::fs;
use std::path::PathBuf;

use crate::common::*;

fn dot_dir(n: &TestNode) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path"]).trim())
}

/// `(letter, path)` per change, from `--json`.
fn changes(v: &serde_json::Value) -> Vec<String> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let kind = c["kind"].as_str().unwrap();
            match c["old_path"].as_str() {
                Some(old) => format!("{kind} {old} -> {}", c["path"].as_str().unwrap()),
                None => format!("{kind} {}", c["path"].as_str().unwrap()),
            }
        })
        .collect()
}

fn no_views_left(n: &TestNode) {
    let pool = n.pool.clone();
    assert!(
        eventually(10, || !filesystems(&pool)
            .iter()
            .any(|f| f.contains("/view-"))),
        "a commit's view was left behind: {:?}",
        filesystems(&pool)
    );
}

#[test]
fn status_and_diff_show_files_added_modified_deleted_and_renamed() {
    let n = TestNode::new();
    n.ok(&["init", "web"]);
    let dir = dot_dir(&n);

    // Before the first commit every file is new.
    fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
    fs::create_dir_all(dir.join("img/icons")).unwrap();
    fs::write(dir.join("img/icons/a.png"), vec![7u8; 3000]).unwrap();
    let s = n.json(&["status", "--json"]);
    assert_eq!(s["dot"], "web");
    assert_eq!(s["branch"], "master");
    assert!(s["from"]["commit"].is_null(), "{s}");
    assert_eq!(changes(&s), ["added img/icons/a.png", "added index.html"]);
    let text = n.ok(&["status"]);
    assert!(
        text.contains("No commits yet") && text.contains("A  index.html"),
        "{text}"
    );

    n.ok(&["commit", "-m", "first"]);
    let text = n.ok(&["status"]);
    assert!(
        text.contains("Nothing to commit") && text.contains("first"),
        "{text}"
    );
    assert!(
        n.json(&["diff", "--json"])["changes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Same size, same second as the commit: found by reading, not by times.
    fs::write(dir.join("index.html"), "<h1>yo</h1>").unwrap();
    fs::write(dir.join("new.txt"), "fresh").unwrap();
    fs::rename(dir.join("img/icons/a.png"), dir.join("img/logo.png")).unwrap();
    let text = n.ok(&["status"]);
    assert!(
        text.contains("M  index.html")
            && text.contains("A  new.txt")
            && text.contains("R  img/icons/a.png -> img/logo.png"),
        "{text}"
    );
    let d = n.json(&["diff", "--json"]);
    assert_eq!(
        changes(&d),
        [
            "renamed img/icons/a.png -> img/logo.png",
            "modified index.html",
            "added new.txt"
        ]
    );
    let stat = n.ok(&["diff", "--stat"]);
    assert!(
        stat.contains("3 files changed: 1 added, 1 modified, 1 renamed"),
        "{stat}"
    );
    n.ok(&["commit", "-m", "second"]);
    fs::remove_file(dir.join("new.txt")).unwrap();
    n.ok(&["commit", "-m", "third"]);
    n.ok(&["tag", "v3"]);

    // `dm log -r REV` starts where REV is (git log REV).
    assert_eq!(
        field(&n.json(&["log", "-r", "HEAD~1", "--json"]), "message"),
        ["second", "first"]
    );
    assert_eq!(
        field(&n.json(&["log", "-r", "v3^", "--json"]), "message"),
        ["second", "first"]
    );
    let err = n.fails(&["log", "-r", "v3; rm"]);
    assert!(err.contains("not a commit reference"), "{err}");
    let err = n.fails(&["log", "-r", "HEAD~7"]);
    assert!(err.contains("dm log"), "{err}");

    // Between commits: ids, HEAD~N, tags; the older side first.
    let first = n.json(&["log", "--json"])[2]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = n.json(&["diff", &first[..8], "v3", "--json"]);
    assert_eq!(
        changes(&d),
        [
            "renamed img/icons/a.png -> img/logo.png",
            "modified index.html"
        ]
    );
    assert_eq!(d["from"]["commit"], first.as_str());
    let d = n.json(&["diff", "HEAD~1", "HEAD", "--json"]);
    assert_eq!(changes(&d), ["deleted new.txt"]);
    let d = n.json(&["diff", "HEAD", "HEAD~1", "--json"]);
    assert_eq!(changes(&d), ["added new.txt"]);
    // A ref alone compares with the uncommitted files.
    fs::write(dir.join("wip"), "x").unwrap();
    let d = n.json(&["diff", "HEAD~2", "--json"]);
    assert_eq!(
        changes(&d),
        [
            "renamed img/icons/a.png -> img/logo.png",
            "modified index.html",
            "added wip"
        ]
    );
    no_views_left(&n);
}

#[test]
fn diff_across_branches_subdots_and_links() {
    let n = TestNode::new();
    n.ok(&["init", "app"]);
    let dir = dot_dir(&n);
    fs::write(dir.join("shared"), "base").unwrap();
    n.ok(&["commit", "-m", "base"]);
    n.ok(&["checkout", "-b", "feature"]);
    let fdir = dot_dir(&n);
    fs::write(fdir.join("feature.txt"), "new feature").unwrap();
    fs::write(fdir.join("shared"), "changed on feature").unwrap();
    n.ok(&["commit", "-m", "feature work"]);
    n.ok(&["checkout", "master"]);
    let d = n.json(&["diff", "master", "feature", "--json"]);
    assert_eq!(changes(&d), ["added feature.txt", "modified shared"]);
    let d = n.json(&["diff", "feature~1", "feature", "--json"]);
    assert_eq!(changes(&d), ["added feature.txt", "modified shared"]);

    // Subdots: the default one, another, and the whole dot.
    let logs = PathBuf::from(n.ok(&["dot", "path", "app.logs"]).trim());
    fs::write(logs.join("today.log"), "line").unwrap();
    let d = n.json(&["diff", "--json"]);
    assert!(changes(&d).is_empty(), "{d}");
    let d = n.json(&["diff", "--subdot", "logs", "--json"]);
    assert_eq!(changes(&d), ["added today.log"]);
    let d = n.json(&["status", "--dot", "app.logs", "--json"]);
    assert_eq!(d["subdot"], "logs");
    assert_eq!(changes(&d), ["added today.log"]);
    let d = n.json(&["diff", "--subdot", "__root__", "--json"]);
    assert_eq!(changes(&d), ["added logs/today.log"]);

    // A link in the dot is one entry; where it points is never read.
    std::os::unix::fs::symlink("/etc", dir.join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", dir.join("shadow")).unwrap();
    let d = n.json(&["diff", "--json"]);
    assert_eq!(changes(&d), ["added etc", "added shadow"]);
    let sizes: Vec<u64> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size_after"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [4, 11], "the link's own size, not its target's");
    no_views_left(&n);
}

#[test]
fn diff_refuses_bad_refs_and_foreign_dots_clearly() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    fs::write(dot_dir(&n).join("f"), "1").unwrap();
    let err = n.fails(&["diff", "HEAD~1"]);
    assert!(err.contains("no commits yet"), "{err}");
    n.ok(&["commit", "-m", "one"]);
    let err = n.fails(&["diff", "HEAD~3"]);
    assert!(err.contains("only 0 come before it"), "{err}");
    let err = n.fails(&["diff", "nosuchtag"]);
    assert!(err.contains("not a commit id"), "{err}");
    let err = n.fails(&["diff", "HEAD^x"]);
    assert!(err.contains("REF~N"), "{err}");
    let err = n.fails(&["diff", "--subdot", "../../etc"]);
    assert!(err.contains("invalid subdot name"), "{err}");
    // A subdot that does not exist has no files on either side.
    let d = n.json(&["diff", "--subdot", "missing", "--json"]);
    assert!(changes(&d).is_empty(), "{d}");

    // Another user may not look into admin's dot, nor guess at it with a wrong key.
    let bob = n.ok(&["user", "add", "bob"]).trim().to_string();
    let path = "/v1/dots/admin/d/branches/master/diff";
    let (code, body) = n.http("POST", path, Some(("bob", &bob)), b"{}");
    assert_eq!(code, 403, "{body}");
    let (code, body) = n.http("POST", path, Some(("bob", "wrong")), b"{}");
    assert_eq!(code, 401, "{body}");
    no_views_left(&n);
}

#[test]
fn any_node_answers_status_and_diff() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    a.ok(&["init", "shared"]);
    let dir = dot_dir(&a);
    fs::write(dir.join("one"), "1").unwrap();
    a.ok(&["commit", "-m", "one"]);
    fs::write(dir.join("two"), "2").unwrap();
    a.ok(&["commit", "-m", "two"]);
    fs::write(dir.join("dirty"), "uncommitted").unwrap();

    // On b, commits come from its replicas and the uncommitted files from the master, a.
    assert!(eventually(20, || {
        b.dm(&["diff", "--dot", "shared", "HEAD~1", "HEAD", "--json"])
            .code
            == 0
    }));
    let d = b.json(&["diff", "--dot", "shared", "HEAD~1", "HEAD", "--json"]);
    assert_eq!(changes(&d), ["added two"]);
    let s = b.json(&["status", "--dot", "shared", "--json"]);
    assert_eq!(changes(&s), ["added dirty"]);
    // Asking did not move the branch: a still has it.
    fs::write(dir.join("still-here"), "yes").unwrap();
    assert_eq!(
        changes(&a.json(&["status", "--json"])),
        ["added dirty", "added still-here"]
    );
    // b's CLI holds b's own admin key, which a does not know: forwarded writes still work,
    // as b speaks for the user it checked.
    b.ok(&["commit", "--dot", "shared", "-m", "asked on b"]);
    assert_eq!(a.json(&["log", "--json"])[0]["message"], "asked on b");
    assert!(changes(&a.json(&["status", "--json"])).is_empty());
    no_views_left(&a);
    no_views_left(&b);
}
