//! Bad input: each gets one error line that says what to do, a non-zero exit, and no change.

use std::fs;
use std::path::PathBuf;

use crate::common::TestNode;

fn dot_count(n: &TestNode) -> usize {
    n.json(&["list", "--json"]).as_array().unwrap().len()
}

#[test]
fn invalid_names_are_refused_with_a_hint() {
    let n = TestNode::new();
    let long = "a".repeat(101);
    let bad = [
        "",
        "..",
        "a/b/c",
        "with space",
        "tab\there",
        "ctl\u{7}",
        "_reserved",
        &long,
        "x.y.z",
    ];
    for name in bad {
        let err = n.fails(&["init", name]);
        assert!(
            err.contains("invalid") && err.contains("name"),
            "{name:?}: {err}"
        );
        assert!(err.contains("use 1-100 letters"), "{name:?}: {err}");
    }
    assert_eq!(dot_count(&n), 0);
    n.ok(&["init", &"a".repeat(100)]);
    n.ok(&["init", "ok"]);
    for name in ["", "..", "a/b", "has space", "_x", &long, "nl\nx"] {
        let err = n.fails(&["checkout", "-b", name]);
        assert!(err.contains("invalid branch name"), "{name:?}: {err}");
    }
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 1);
    let err = n.fails(&["init", "ok@branch"]);
    assert!(err.contains("no @branch"), "{err}");
    // Exit status: 1 for a refusal the message explains (here and from the daemon), 2 for
    // wrong usage.
    assert_eq!(n.dm(&["init", "with space"]).code, 1);
    assert_eq!(n.dm(&["log", "no-such-dot"]).code, 1);
    assert_eq!(n.dm(&["commit", "--no-such-flag"]).code, 2);
}

#[test]
fn commit_without_a_current_dot() {
    let n = TestNode::new();
    let err = n.fails(&["commit", "-m", "nothing"]);
    assert!(
        err.contains("no current dot") && err.contains("dm init"),
        "{err}"
    );
}

#[test]
fn commit_metadata_is_checked() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let err = n.fails(&["commit", "-m", "x", "-d", "NoEquals"]);
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = n.fails(&["commit", "-m", "x", "-d", "Upper=1"]);
    assert!(err.contains("lowercase"), "{err}");
    let err = n.fails(&["commit", "-m", "  "]);
    assert!(err.contains("-m MESSAGE"), "{err}");
    // Large metadata (over a ZFS property's size) is fine and comes back intact.
    let big = "v".repeat(8000);
    n.ok(&["commit", "-m", "big", "-d", &format!("big={big}")]);
    let log = n.json(&["log", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["metadata"]["big"].as_str().unwrap().len(), 8000);
}

#[test]
fn branch_errors() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let err = n.fails(&["checkout", "-b", "early"]);
    assert!(err.contains("no commits yet"), "{err}");
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "x").unwrap();
    n.ok(&["commit", "-m", "c"]);
    let err = n.fails(&["checkout", "missing"]);
    assert!(
        err.contains("does not exist") && err.contains("dm checkout -b missing"),
        "{err}"
    );
    n.ok(&["checkout", "-b", "dev"]);
    let err = n.fails(&["checkout", "-b", "dev"]);
    assert!(
        err.contains("already exists") && err.contains("dm checkout dev"),
        "{err}"
    );
    let err = n.fails(&["checkout", "-b", "master"]);
    assert!(err.contains("already exists"), "{err}");
    let err = n.fails(&["branch", "-d", "ghost"]);
    assert!(err.contains("does not exist"), "{err}");
    n.ok(&["checkout", "dev"]);
    n.ok(&["commit", "-m", "on dev"]);
    n.ok(&["checkout", "-b", "grandchild"]);
    n.ok(&["checkout", "master"]);
    // dev's commit stays with grandchild, which grew from it.
    n.ok(&["branch", "-d", "dev"]);
    let log = n.json(&["log", "d@grandchild", "--json"]);
    assert_eq!(log[0]["message"], "on dev", "{log}");
    let missing = n.path("no-such-config").display().to_string();
    let err = n.fails(&["--config", &missing, "branch"]);
    assert!(err.contains("no remote"), "{err}");
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 2);
    n.ok(&["branch", "-d", "grandchild"]);
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn reset_errors() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "1").unwrap();
    n.ok(&["commit", "-m", "one"]);
    let one = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    n.ok(&["checkout", "-b", "other"]);
    fs::write(PathBuf::from(n.ok(&["dot", "path"]).trim()).join("f"), "2").unwrap();
    n.ok(&["commit", "-m", "on other"]);
    let other = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    n.ok(&["checkout", "master"]);
    fs::write(dir.join("f"), "dirty").unwrap();

    let err = n.fails(&["reset", "--hard", &other]);
    assert!(
        err.contains("not on branch 'master'") && err.contains("dm log"),
        "{err}"
    );
    let err = n.fails(&["reset", &one]);
    assert!(err.contains("--hard"), "{err}");
    let err = n.fails(&["reset", "--hard", "zz"]);
    assert!(err.contains("not a commit id"), "{err}");
    let err = n.fails(&["reset", "--hard", "HEAD~5"]);
    assert!(
        err.contains("HEAD~5") && err.contains("only 0 come before it") && err.contains("dm log"),
        "{err}"
    );
    let err = n.fails(&["reset", "--hard", "HEAD~x"]);
    assert!(err.contains("REF~N"), "{err}");
    assert_eq!(
        fs::read_to_string(dir.join("f")).unwrap(),
        "dirty",
        "nothing changed"
    );
}

#[test]
fn delete_errors_and_in_use() {
    let n = TestNode::new();
    let err = n.fails(&["dot", "delete", "-y", "ghost"]);
    assert!(err.contains("does not exist"), "{err}");
    n.ok(&["init", "busy"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "x").unwrap();
    // Without a terminal and without --yes, nothing is deleted.
    let err = n.fails(&["dot", "delete", "busy"]);
    assert!(err.contains("--yes"), "{err}");
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let err = n.fails(&["dot", "delete", "-y", "busy"]);
    assert!(
        err.contains("in use by") && err.contains(&format!("pid {} (sleep)", child.id())),
        "{err}"
    );
    let show = n.json(&["dot", "show", "--json"]);
    assert!(
        show["in_use_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().contains("sleep"))
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("f")).unwrap(),
        "x",
        "nothing lost"
    );
    n.ok(&["dot", "delete", "--yes", "busy"]);
    assert_eq!(dot_count(&n), 0);
    // the name can be reused at once
    n.ok(&["init", "busy"]);
}

#[test]
fn duplicate_dot_is_refused() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let dir = PathBuf::from(n.ok(&["dot", "path"]).trim());
    fs::write(dir.join("f"), "keep").unwrap();
    let err = n.fails(&["init", "d"]);
    assert!(
        err.contains("already exists") && err.contains("dm switch d"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "keep");
}
