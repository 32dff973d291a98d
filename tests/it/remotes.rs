//! `dm remote` and users: adding a remote checks its key (typed at a hidden prompt or read from
//! a file), `-v`, switch and rm; a user's key opens only its own namespace.

use std::io::{Read, Write};

use crate::common::{TestNode, field};

fn remote_names(n: &TestNode) -> String {
    n.ok(&["remote"])
}

#[test]
fn users_get_their_own_namespace_through_a_checked_remote() {
    let n = TestNode::new();
    n.ok(&["init", "secret"]);
    let key = n.ok(&["user", "add", "alice"]).trim().to_string();
    assert!(
        n.fails(&["user", "add", "alice"])
            .contains("already exists")
    );
    let addr = format!("alice@{}:{}", n.addr, n.port);
    let key_file = n.path("alice.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let bad_file = n.path("bad.key");
    std::fs::write(&bad_file, "wrong").unwrap();

    // A wrong key is refused and nothing is saved.
    let err = n.fails(&[
        "remote",
        "add",
        "hub",
        &addr,
        "--api-key-file",
        &bad_file.display().to_string(),
    ]);
    assert!(
        err.contains("refused the API key") && err.contains("nothing saved"),
        "{err}"
    );
    assert!(!remote_names(&n).contains("hub"));
    // No terminal and no key file: say how to give the key.
    let err = n.fails(&["remote", "add", "hub", &addr]);
    assert!(err.contains("--api-key-file"), "{err}");
    // Plain HTTP to another machine needs --insecure. 0.0.0.0 reaches this machine's loopback
    // without being a loopback address; a listener there answers like a plain HTTP server.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in plain.incoming().flatten() {
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let far = format!("alice@0.0.0.0:{plain_port}");
    let err = n.fails(&[
        "remote",
        "add",
        "far",
        &far,
        "--api-key-file",
        &key_file.display().to_string(),
    ]);
    assert!(
        err.contains("in clear") && err.contains("--insecure"),
        "{err}"
    );

    n.ok(&[
        "remote",
        "add",
        "hub",
        &addr,
        "--api-key-file",
        &key_file.display().to_string(),
    ]);
    let v = n.ok(&["remote", "-v"]);
    assert!(
        v.contains(&format!("* local\tadmin@{}:{}", n.addr, n.port)),
        "{v}"
    );
    assert!(v.contains(&format!("  hub\t{addr}")), "{v}");

    // As alice: her own namespace only.
    n.ok(&["remote", "switch", "hub"]);
    n.ok(&["init", "mine"]);
    let dots = field(&n.json(&["list", "--json"]), "dot");
    assert_eq!(dots, ["mine"]);
    let err = n.fails(&["log", "admin/secret"]);
    assert!(err.contains("may not use namespace 'admin'"), "{err}");
    let (status, body) = n.http(
        "POST",
        "/v1/dots",
        Some(("alice", &key)),
        br#"{"namespace":"admin","name":"x"}"#,
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        n.fails(&["user", "add", "bob"])
            .contains("only the admin user")
    );

    // Back as admin: alice's dot is in her namespace.
    n.ok(&["remote", "switch", "local"]);
    assert!(n.ok(&["list"]).contains("alice/mine"));
    n.ok(&["remote", "rm", "hub"]);
    assert!(!remote_names(&n).contains("hub"));
    assert!(
        n.fails(&["remote", "switch", "hub"])
            .contains("no remote 'hub'")
    );
}

/// The key is asked for at a hidden prompt on a terminal (a pty from `script`).
#[test]
fn remote_add_asks_for_the_key_without_echoing_it() {
    let n = TestNode::new();
    let key = n.ok(&["user", "add", "carol"]).trim().to_string();
    let mut script = n
        .on_pty(&format!("remote add team carol@{}:{}", n.addr, n.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Type only once the prompt is up: hiding the echo flushes input typed ahead.
    let mut stdout = script.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("API key for") {
        let k = stdout.read(&mut buf).unwrap();
        assert!(k > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..k]);
    }
    crate::common::wait_echo_off("remote add team");
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(format!("{key}\n").as_bytes()).unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    script.wait().unwrap();
    let out = seen;
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("API key for"), "{out}");
    assert!(out.contains("Added remote 'team'"), "{out}");
    assert!(!out.contains(&key), "the key was echoed: {out}");
    assert!(n.ok(&["remote", "-v"]).contains("team\tcarol@"));
}
