//! Subdots: subdirectories of a branch, carried together by commit, checkout and reset.

use std::fs;
use std::path::PathBuf;

use crate::common::TestNode;

#[test]
fn subdots_travel_with_the_branch() {
    let n = TestNode::new();
    n.ok(&["init", "app"]);
    let default = PathBuf::from(n.ok(&["dot", "path"]).trim());
    let logs = PathBuf::from(n.ok(&["dot", "path", "app.logs"]).trim());
    let root = PathBuf::from(n.ok(&["dot", "path", "app.__root__"]).trim());
    assert!(logs.is_dir(), "subdot directory created on first use");
    assert_eq!(default.parent().unwrap(), root);
    assert_eq!(logs, root.join("logs"));

    fs::write(default.join("db"), "v1").unwrap();
    fs::write(logs.join("log"), "l1").unwrap();
    n.ok(&["commit", "-m", "both subdots"]);
    let first = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let show = n.json(&["dot", "show", "--json"]);
    let subdots = &show["branches"][0]["subdots"];
    assert_eq!(subdots, &serde_json::json!(["__default__", "logs"]));

    n.ok(&["checkout", "-b", "copy"]);
    let copy_logs = PathBuf::from(n.ok(&["dot", "path", "app@copy.logs"]).trim());
    assert_eq!(fs::read_to_string(copy_logs.join("log")).unwrap(), "l1");
    let copy_default = PathBuf::from(n.ok(&["dot", "path"]).trim());
    assert_eq!(fs::read_to_string(copy_default.join("db")).unwrap(), "v1");

    n.ok(&["checkout", "master"]);
    fs::write(default.join("db"), "v2").unwrap();
    fs::write(logs.join("log"), "l2").unwrap();
    fs::create_dir(root.join("extra")).unwrap();
    n.ok(&["commit", "-m", "second"]);
    n.ok(&["reset", "--hard", &first]);
    assert_eq!(fs::read_to_string(default.join("db")).unwrap(), "v1");
    assert_eq!(fs::read_to_string(logs.join("log")).unwrap(), "l1");
    assert!(!root.join("extra").exists());
}

#[test]
fn reserved_and_invalid_subdot_names_are_refused() {
    let n = TestNode::new();
    n.ok(&["init", "app"]);
    for bad in ["app._private", "app.__other__", "app.a b", "app."] {
        let err = n.fails(&["dot", "path", bad]);
        assert!(err.contains("invalid subdot name"), "{bad}: {err}");
    }
    let root = PathBuf::from(n.ok(&["dot", "path", "app.__root__"]).trim());
    let entries: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(entries.is_empty(), "nothing was created: {entries:?}");
}
