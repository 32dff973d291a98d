//! Behaviours Dotmesh users rely on, replayed from Dotmesh's own acceptance cases: the one dot
//! as the current one, clone names, read-only commits, API keys, replication in `dm dot show`,
//! pushing a branch with its base, and containers following a checkout.

use crate::common::TestNode;

/// A dot made through the API alone, so the client has no current dot.
fn dot_behind_the_clients_back(n: &TestNode, name: &str) {
    let body = format!(r#"{{"namespace":"admin","name":"{name}"}}"#);
    let (status, text) = n.http(
        "POST",
        "/v1/dots",
        Some(("admin", &n.api_key())),
        body.as_bytes(),
    );
    assert_eq!(status, 201, "{text}");
}

#[test]
fn the_only_dot_is_the_current_one() {
    let n = TestNode::new();
    dot_behind_the_clients_back(&n, "only");
    // TestDefaultDot: no `dm switch`, one dot: verbs act on it.
    n.ok(&["commit", "-m", "first"]);
    let log = n.json(&["log", "--json"]);
    assert_eq!(log[0]["message"], "first");
    assert_eq!(n.json(&["log", "only", "--json"])[0]["message"], "first");
    // With two, the choice is the user's.
    dot_behind_the_clients_back(&n, "other");
    let err = n.fails(&["commit", "-m", "which?"]);
    assert!(
        err.contains("no current dot, and there are 2") && err.contains("dm switch"),
        "{err}"
    );
}
