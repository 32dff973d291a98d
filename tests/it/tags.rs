//! `dm tag` across a three-node cluster: tags made on one node are seen and used on the others.

use std::path::PathBuf;

use crate::common::*;

fn messages(n: &TestNode, dot_branch: &str) -> Vec<String> {
    n.json(&["log", dot_branch, "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tags_name_commits_on_every_node_of_a_cluster() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let c = TestNode::join(&a);
    a.ok(&["init", "site"]);
    let dir = PathBuf::from(a.ok(&["dot", "path"]).trim().to_string());
    std::fs::write(dir.join("page"), "first").unwrap();
    a.ok(&["commit", "-m", "one"]);
    let out = a.ok(&["tag", "v1"]);
    assert!(out.contains("as 'v1'"), "{out}");
    std::fs::write(dir.join("page"), "second").unwrap();
    a.ok(&["commit", "-m", "two"]);
    let err = a.fails(&["tag", "v1"]);
    assert!(err.contains("dm tag -d v1"), "{err}");

    // Every node sees the tag at once (it lives in the registry) and can use it.
    let c1 = a.json(&["log", "--json"])[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in [&b, &c] {
        let tags = n.json(&["tag", "--dot", "site", "--json"]);
        assert_eq!(tags[0]["name"], "v1", "{tags}");
        assert_eq!(tags[0]["commit"], c1.as_str(), "{tags}");
    }
    b.ok(&["switch", "site"]);
    b.ok(&["checkout", "-b", "hotfix", "v1"]);
    assert_eq!(messages(&b, "site@hotfix"), vec!["one"]);
    let fix = PathBuf::from(b.ok(&["dot", "path"]).trim().to_string());
    assert_eq!(std::fs::read_to_string(fix.join("page")).unwrap(), "first");

    // A reset to the tag, on the branch's node; the others follow.
    a.ok(&["reset", "--hard", "v1"]);
    assert_eq!(messages(&a, "site"), vec!["one"]);
    assert!(eventually(30, || messages(&c, "site") == vec!["one"]));

    // Deleted on one node, gone on all; the commit stays.
    c.ok(&["tag", "-d", "v1", "--dot", "site"]);
    assert!(a.json(&["tag", "--json"]).as_array().unwrap().is_empty());
    let err = a.fails(&["reset", "--hard", "v1"]);
    assert!(err.contains("not a commit id"), "{err}");
    assert_eq!(messages(&a, "site"), vec!["one"]);
}
