//! The HTTP API: authentication and hostile requests.

use crate::common::TestNode;

#[test]
fn missing_or_wrong_credentials_get_401_and_change_nothing() {
    let n = TestNode::new();
    let key = n.api_key();
    let body = br#"{"namespace":"admin","name":"sneaky"}"#;
    let (status, text) = n.http("POST", "/v1/dots", None, body);
    assert_eq!(status, 401, "{text}");
    let (status, _) = n.http("POST", "/v1/dots", Some(("admin", "wrong-key")), body);
    assert_eq!(status, 401);
    let (status, _) = n.http("GET", "/v1/dots", Some(("nobody", &key)), b"");
    assert_eq!(status, 401);
    let (status, _) = n.http("GET", "/v1/ping", None, b"");
    assert_eq!(status, 401);
    let (status, text) = n.http("GET", "/v1/dots", Some(("admin", &key)), b"");
    assert_eq!(status, 200);
    assert_eq!(text.trim(), "[]", "no dot was created");
    // and the CLI with a wrong key says what to check
    let cfg = std::fs::read_to_string(n.config_path()).unwrap();
    std::fs::write(n.config_path(), cfg.replace(&key, "bad")).unwrap();
    let err = n.fails(&["list"]);
    assert!(
        err.contains("credentials") && err.contains("API key"),
        "{err}"
    );
}

#[test]
fn malformed_and_oversized_requests_are_refused_without_harm() {
    let n = TestNode::new();
    let key = n.api_key();
    let auth = Some(("admin", key.as_str()));
    let (status, text) = n.http("POST", "/v1/dots", auth, b"{not json");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("malformed JSON"), "{text}");
    let (status, _) = n.http("POST", "/v1/dots", auth, br#"{"namespace":"admin"}"#);
    assert_eq!(status, 400);
    let (status, _) = n.http(
        "POST",
        "/v1/dots",
        auth,
        br#"{"namespace":"admin","name":"../x"}"#,
    );
    assert_eq!(status, 400);
    let big = vec![b'x'; 2 << 20];
    let (status, _) = n.http("POST", "/v1/dots", auth, &big);
    assert_eq!(status, 413);
    let (status, _) = n.http("GET", "/v1/nope", auth, b"");
    assert_eq!(status, 404);
    let (status, _) = n.http("GET", "/v1/dots/admin/..", auth, b"");
    assert_eq!(status, 400);
    let (status, _) = n.http(
        "POST",
        "/v1/dots/admin/ghost/branches/master/commits",
        auth,
        br#"{"message":"m"}"#,
    );
    assert_eq!(status, 404);
    // still alive and unharmed
    let (status, text) = n.http("GET", "/v1/dots", auth, b"");
    assert_eq!((status, text.trim()), (200, "[]"));
    n.ok(&["init", "fine"]);
}
