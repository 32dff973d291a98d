//! Attacks on a node started with the documented commands: the registry, transfers, subdots,
//! files on the host and join tokens. Each failed against the code before issue #12.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use crate::common::{Run, TestNode, eventually, filesystems};
use crate::docker::Docker;

/// `etcdctl` against the node's etcd, with `certs` (file paths: ca, cert, key) or without.
fn etcdctl(n: &TestNode, certs: Option<[String; 3]>, args: &[&str]) -> Run {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3")
        .arg(format!(
            "--endpoints=https://{}:{}",
            n.addr, n.etcd_client_port
        ))
        .arg("--dial-timeout=3s")
        .arg("--command-timeout=5s");
    match certs {
        Some([ca, cert, key]) => {
            c.arg(format!("--cacert={ca}"))
                .arg(format!("--cert={cert}"))
                .arg(format!("--key={key}"));
        }
        // What someone on the network has: no certificate of the cluster's.
        None => {
            c.arg("--insecure-transport=false")
                .arg("--insecure-skip-tls-verify");
        }
    }
    Run::from(c.args(args).output().expect("etcdctl"))
}

/// The node's own etcd certificates: registry access, as a node has it.
fn node_certs(n: &TestNode) -> [String; 3] {
    let pki = n.state_dir().join("pki");
    ["ca.pem", "etcd.pem", "etcd-key.pem"].map(|f| pki.join(f).display().to_string())
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn etcd_takes_only_the_clusters_certificates() {
    let n = TestNode::new();
    // No certificate, or plain HTTP: nothing.
    let r = etcdctl(&n, None, &["put", "dm/users/mallory", "{}"]);
    assert_ne!(r.code, 0, "etcd took a write without a certificate");
    let plain = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!(
            "--endpoints=http://{}:{}",
            n.addr, n.etcd_client_port
        ))
        .args([
            "--dial-timeout=3s",
            "--command-timeout=5s",
            "get",
            "--prefix",
            "dm/",
        ])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "etcd answered plain HTTP");
    // A certificate from another CA (another cluster's node): nothing either.
    let other = TestNode::new();
    let [_, cert, key] = node_certs(&other);
    let [ca, _, _] = node_certs(&n);
    let r = etcdctl(&n, Some([ca, cert, key]), &["get", "--prefix", "dm/"]);
    assert_ne!(r.code, 0, "etcd took another cluster's certificate");
    // A certificate from the cluster's own CA, but not a node's: etcd's authentication takes
    // its name (CN) as the user, and there is no such user.
    let [ca, _, _] = node_certs(&n);
    let pki = n.state_dir().join("pki");
    let (key, csr, cert) = (n.path("m.key"), n.path("m.csr"), n.path("m.pem"));
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl").args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let p = |x: &std::path::Path| x.display().to_string();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&key),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        &p(&key),
        "-subj",
        "/CN=mallory",
        "-out",
        &p(&csr),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &ca,
        "-CAkey",
        &p(&pki.join("ca-key.pem")),
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        &p(&cert),
    ]);
    let r = etcdctl(
        &n,
        Some([ca.clone(), p(&cert), p(&key)]),
        &["get", "--prefix", "dm/"],
    );
    assert_ne!(r.code, 0, "etcd took a certificate with an unknown name");
    let r = etcdctl(
        &n,
        Some([ca, p(&cert), p(&key)]),
        &["put", "dm/users/mallory", "{}"],
    );
    assert_ne!(r.code, 0, "etcd took a write from an unknown name");
    // The node's own certificate gets in (so the refusals above are about certificates).
    let r = etcdctl(
        &n,
        Some(node_certs(&n)),
        &["get", "--prefix", "dm/servers/"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Keys are the owner's alone.
    for f in ["ca-key.pem", "etcd-key.pem"] {
        let mode = std::fs::metadata(n.state_dir().join("pki").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

/// Defence in depth: even with write access to the registry, no record makes anyone admin or
/// makes a node destroy a branch.
#[test]
fn a_registry_record_alone_makes_nobody_admin_and_destroys_nothing() {
    let n = TestNode::new();
    n.ok(&["init", "precious"]);
    let file = std::path::PathBuf::from(n.ok(&["dot", "path"]).trim()).join("data.txt");
    std::fs::write(&file, "keep me").unwrap();
    n.ok(&["commit", "-m", "one"]);
    let certs = node_certs(&n);

    let key = "mallory-key-0123456789";
    let record = format!(
        r#"{{"name":"admin","api_key_sha256":"{}"}}"#,
        sha256_hex(key)
    );
    let r = etcdctl(&n, Some(certs.clone()), &["put", "dm/users/admin", &record]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (status, _) = n.http("GET", "/v1/dots", Some(("admin", key)), b"");
    assert_eq!(status, 401, "a registry record made someone admin");

    // A tombstone for the branch, as the replicator used to obey within a second.
    let fs_ids = filesystems(&n.pool);
    assert_eq!(fs_ids.len(), 1, "{fs_ids:?}");
    let r = etcdctl(
        &n,
        Some(certs),
        &["put", &format!("dm/deleted/{}", fs_ids[0]), "master"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The replicator reacts to the watch at once and sweeps every 10 s: give it both.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let log = n.json(&["log", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    // A real delete still reaches every copy.
    n.ok(&["dot", "delete", "-y", "precious"]);
    assert!(n.json(&["list", "--json"]).as_array().unwrap().is_empty());
}

/// What a fake "far cluster" listening on loopback received, once the daemon is done with it.
fn listen_fake_far() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut got = Vec::new();
        l.set_nonblocking(false).unwrap();
        // Every connection within a few seconds: answer each like a service that is not dm.
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        l.set_nonblocking(true).unwrap();
        while std::time::Instant::now() < deadline {
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    while let Ok(k) = s.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..k]);
                        if got.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        got
    });
    (port, h)
}

/// Posts `body` to `path` by hand (raw HTTP/1.1) as `user`, and returns the whole answer.
fn post_as(n: &TestNode, (user, key): (&str, &str), path: &str, body: &str) -> String {
    let mut s = TcpStream::connect((n.addr.as_str(), n.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Asserts the fake far cluster heard one plain hello and nothing else: no key.
fn only_hello_reached(far: std::thread::JoinHandle<Vec<u8>>) {
    let got = String::from_utf8_lossy(&far.join().unwrap()).into_owned();
    assert!(got.starts_with("GET /v1/hello HTTP/1.1\r\n"), "{got:?}");
    assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got:?}");
    assert!(!got.to_lowercase().contains("authorization"), "{got:?}");
}

#[test]
fn transfers_refuse_smuggled_requests_and_talk_only_to_dm_daemons() {
    let n = TestNode::new();
    let alice = n.ok(&["user", "add", "alice"]).trim().to_string();
    let (port, far) = listen_fake_far();
    let transfer = |to: &str, host: &str| {
        serde_json::json!({
            "direction": "pull",
            "here": ["alice", "x", "master"],
            "there": ["admin", "y", "master"],
            "far": {"user": "admin", "host": host, "port": port, "api_key": "k"},
            "from": null,
            "to": to,
        })
        .to_string()
    };
    let post = |body: String| post_as(&n, ("alice", &alice), "/v1/transfers", &body);
    // A commit id carrying a second request; a host carrying a line break: 400, before any
    // connection.
    let smuggle =
        "0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\r\nPUT /v3/kv/put HTTP/1.1\r\n";
    let answer = post(transfer(smuggle, "127.0.0.1"));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not a commit id"), "{answer}");
    let answer = post(transfer(
        "0123456789abcdef0123456789abcdef",
        "127.0.0.1\r\nX: y",
    ));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Well-formed, but the address is not a dm daemon: it gets a plain hello, and no key.
    let answer = post(transfer("0123456789abcdef0123456789abcdef", "127.0.0.1"));
    assert!(answer.contains("is not a dm daemon"), "{answer}");
    only_hello_reached(far);
}

#[test]
fn transfer_runs_check_what_they_are_told_and_talk_only_to_dm_daemons() {
    let n = TestNode::new();
    let alice = n.ok(&["user", "add", "alice"]).trim().to_string();
    let (port, far) = listen_fake_far();
    let run = |here_ns: &str, dot: &str, host: &str, remote: &str| {
        serde_json::json!({
            "direction": "pull",
            "here": [here_ns, dot, "master"],
            "there": ["admin", "y", "master"],
            "far": {"user": "admin", "host": host, "port": port, "api_key": "k"},
            "force": false,
            "remote": remote,
        })
        .to_string()
    };
    let post = |body: String| post_as(&n, ("alice", &alice), "/v1/transfers/runs", &body);
    // Names, hosts and the remote's name (which goes into messages) are checked first: 400.
    for body in [
        run("alice", "../x", "127.0.0.1", "hub"),
        run("alice", "x", "127.0.0.1\r\nX: y", "hub"),
        run("alice", "x", "127.0.0.1", "hub\r\nInjected: 1"),
    ] {
        let answer = post(body);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    // Into a namespace alice may not use: refused before the far side hears anything.
    let answer = post(run("admin", "x", "127.0.0.1", "hub"));
    assert!(answer.contains("may not use namespace 'admin'"), "{answer}");
    // Well-formed, but the address is not a dm daemon: it gets a plain hello, and no key.
    let answer = post(run("alice", "x", "127.0.0.1", "hub"));
    assert!(answer.contains("is not a dm daemon"), "{answer}");
    only_hello_reached(far);
}

#[test]
fn symlinked_subdots_never_reach_the_host() {
    let n = TestNode::new();
    let host_dir = n.path("host-only");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "host data").unwrap();
    // Docker's volume names are machine-wide: one of this node's own.
    let dot = format!("trap{}", n.pool);
    n.ok(&["init", &dot]);
    let root = std::path::PathBuf::from(n.ok(&["dot", "path", &format!("{dot}.__root__")]).trim());
    std::os::unix::fs::symlink(&host_dir, root.join("evil")).unwrap();
    let evil = format!("{dot}.evil");
    let err = n.fails(&["dot", "path", &evil]);
    assert!(err.contains("symbolic link"), "{err}");
    // Through Docker, as a container would mount it.
    let mut d = Docker::new(&n);
    let spec = format!("{evil}:/data");
    let (code, _, stderr) = d.raw(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volume-driver",
        n.driver(),
        "-v",
        &spec,
        "local/busybox",
        "sh",
        "-c",
        "cat /data/secret; echo pwned > /data/written",
    ]);
    assert_ne!(code, 0, "the container ran with the host directory");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(!host_dir.join("written").exists());
    let _ = d.raw(&["volume", "rm", "-f", &evil]);
    // A plain subdot still works.
    d.run("ok", &format!("{dot}.fine"), false, "echo ok > /data/f");
    assert!(root.join("fine/f").exists());
}

#[test]
fn files_that_hold_data_are_private() {
    let n = TestNode::new();
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(n.path("pool.img")), 0o600);
    assert_eq!(mode(n.state_dir()), 0o700);
    assert_eq!(mode(n.state_dir().join("mnt")), 0o700);
    assert_eq!(mode(n.state_dir().join("node.toml")), 0o600);
}

#[test]
fn join_tokens_only_join_expire_and_stay_out_of_argv() {
    let n = TestNode::new();
    // The init hint names no secret on the command line it prints.
    let cfg = std::fs::read_to_string(n.config_path()).unwrap();
    assert!(!cfg.is_empty());
    let token = n.join_token();
    assert!(token.starts_with("dmjoin."), "{token}");
    assert!(!token.contains(&n.api_key()));
    // A token is no API key: it may join, nothing else.
    let (status, body) = n.http("GET", "/v1/dots", Some(("_join", &token)), b"");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("can only add a node"), "{body}");
    let (status, _) = n.http("GET", "/v1/dots", Some(("admin", &token)), b"");
    assert_eq!(status, 401);
    let (status, _) = n.http("GET", "/v1/dots", Some(("_join", "dmjoin.0.0")), b"");
    assert_eq!(status, 401);
    // Listed and revoked.
    let list = n.json(&["cluster", "token", "list", "--json"]);
    let id = token.split('.').nth(1).unwrap();
    assert!(
        list.as_array().unwrap().iter().any(|t| t["id"] == id),
        "{list}"
    );
    assert!(!list.to_string().contains(token.split('.').nth(2).unwrap()));
    n.ok(&["cluster", "token", "revoke", id]);
    let (status, _) = n.http("GET", "/v1/dots", Some(("_join", &token)), b"");
    assert_eq!(status, 401);
    // Expiry.
    let short = n
        .ok(&["cluster", "token", "create", "--ttl", "1s"])
        .trim()
        .to_string();
    assert!(eventually(20, || {
        n.http("GET", "/v1/dots", Some(("_join", &short)), b"").0 == 401
    }));
    // The old way, the admin key in argv, is gone.
    let r = n.dm(&["cluster", "join", "127.0.0.1:1", "--token", "x"]);
    assert_ne!(r.code, 0);
    // Without a terminal, DM_JOIN_TOKEN or a file, join says where the token goes.
    let other = TestNode::uninitialised();
    let err = other.dm(&other.join_args(&n)).stderr;
    assert!(
        err.contains("DM_JOIN_TOKEN") && err.contains("--token-file"),
        "{err}"
    );
}

#[test]
fn stream_records_belong_to_whoever_asked() {
    let n = TestNode::new();
    n.ok(&["init", "s"]);
    let dir = std::path::PathBuf::from(n.ok(&["dot", "path"]).trim());
    std::fs::write(dir.join("f"), "1").unwrap();
    n.ok(&["commit", "-m", "one"]);
    let log = n.json(&["log", "--json"]);
    let id = log[0]["id"].as_str().unwrap().to_string();
    let key = n.api_key();
    let alice = n.ok(&["user", "add", "alice"]).trim().to_string();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{key}"));
    let mut s = TcpStream::connect((n.addr.as_str(), n.port)).unwrap();
    let head = format!(
        "GET /v1/dots/admin/s/branches/master/send?to={id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic {auth}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let send_id = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-dm-send-id:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no send id in {text:.300}"));
    let path = format!("/v1/sends/{send_id}");
    let (status, _) = n.http("GET", &path, Some(("alice", &alice)), b"");
    assert_eq!(status, 404, "another user read admin's stream record");
    let (status, body) = n.http("GET", &path, Some(("admin", &key)), b"");
    assert_eq!(status, 200, "{body}");
}

/// Connects to `n`'s API and sends `head`, then stalls (the connection is returned, open).
fn stall(n: &TestNode, head: &str) -> TcpStream {
    let mut s = TcpStream::connect((n.addr.as_str(), n.port)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// `dm ARGS` bounded by `timeout(1)`: a daemon that hangs fails it instead of the whole suite.
fn dm_bounded(n: &TestNode, args: &[&str]) -> Run {
    let c = n.command();
    let program = c.get_program().to_owned();
    let mut bounded = Command::new("timeout");
    bounded.arg("20").arg(program).args(args);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => bounded.env(k, v),
            None => bounded.env_remove(k),
        };
    }
    Run::from(bounded.output().unwrap())
}

/// Clients that connect and stall, or send a head and a byte of a large body, hold nothing
/// others need: the API and the Docker plugin keep answering, and unauthenticated requests are
/// answered and closed without their bodies being read.
#[test]
fn slow_clients_stop_nobody() {
    let n = TestNode::new();
    n.ok(&["init", "busy"]);
    let mut held = Vec::new();
    // 200 connections with half a request head.
    for _ in 0..200 {
        held.push(stall(&n, "GET /v1/dots HTTP/1.1\r\nHost: x\r\n"));
    }
    // 8 that announce a large body, send one byte and stop, without credentials: each is
    // answered 401 and closed at once.
    let big = "POST /v1/dots HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n{";
    let mut refused = Vec::new();
    for _ in 0..8 {
        let s = stall(&n, big);
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        refused.push(s);
    }
    for mut s in refused {
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 401"), "{text:?}");
    }
    // 8 more with credentials, stalled inside the body.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", n.api_key()));
    for _ in 0..8 {
        held.push(stall(
            &n,
            &format!("POST /v1/dots HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: 500000\r\n\r\n{{"),
        ));
    }
    // 4 on the Docker plugin's socket, stalled inside a body.
    let mut plugin_held = Vec::new();
    for _ in 0..4 {
        let mut s = std::os::unix::net::UnixStream::connect(n.plugin_socket()).unwrap();
        s.write_all(
            b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{",
        )
        .unwrap();
        plugin_held.push(s);
    }
    // Everyone else is still served.
    for _ in 0..3 {
        let r = dm_bounded(&n, &["list", "--json"]);
        assert_eq!(r.code, 0, "dm list did not answer: {}", r.stderr);
        assert!(r.stdout.contains("busy"), "{}", r.stdout);
    }
    let mut s = std::os::unix::net::UnixStream::connect(n.plugin_socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.contains("\"Volumes\""),
        "the plugin did not answer: {answer:?}"
    );
    // And the daemon lets go of a half-sent head on its own (after its head timeout).
    let mut first = held.remove(0);
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let closed = first.read_to_end(&mut Vec::new());
    let reset = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset;
    assert!(
        closed.is_ok() || closed.as_ref().is_err_and(reset),
        "a stalled connection was kept open: {closed:?}"
    );
    drop(held);
    drop(plugin_held);
}

/// One call to the node's Docker plugin, as dockerd makes it.
fn plugin_call(n: &TestNode, call: &str, body: &serde_json::Value) -> serde_json::Value {
    let mut s = std::os::unix::net::UnixStream::connect(n.plugin_socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.to_string();
    write!(
        s,
        "POST /VolumeDriver.{call} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// What Docker mounts is the directory that was checked, not a path looked up again: a subdot
/// swapped for a symbolic link after the check (the race a container could run against
/// Docker's own mount) changes nothing in it.
#[test]
fn a_mounted_subdot_stays_the_directory_that_was_checked() {
    let n = TestNode::new();
    let host_dir = n.path("host-only");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "host data").unwrap();
    let dot = format!("race{}", n.pool);
    n.ok(&["init", &dot]);
    let root = std::path::PathBuf::from(n.ok(&["dot", "path", &format!("{dot}.__root__")]).trim());
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/mine"), "dot data").unwrap();
    let volume = serde_json::json!({"Name": format!("{dot}.sub"), "ID": "m1"});
    let answer = plugin_call(&n, "Mount", &volume);
    assert_eq!(answer["Err"], "", "{answer}");
    let mountpoint = std::path::PathBuf::from(answer["Mountpoint"].as_str().unwrap());
    // The swap.
    std::fs::rename(root.join("sub"), root.join("sub-old")).unwrap();
    std::os::unix::fs::symlink(&host_dir, root.join("sub")).unwrap();
    assert!(
        !mountpoint.join("secret").exists(),
        "the host directory showed through"
    );
    assert_eq!(
        std::fs::read_to_string(mountpoint.join("mine")).unwrap(),
        "dot data"
    );
    // Unmounting undoes it; a new mount of the swapped subdot is refused.
    let answer = plugin_call(&n, "Unmount", &volume);
    assert_eq!(answer["Err"], "", "{answer}");
    assert!(!mountpoint.exists(), "{} left behind", mountpoint.display());
    let again = serde_json::json!({"Name": format!("{dot}.sub"), "ID": "m2"});
    let answer = plugin_call(&n, "Mount", &again);
    assert!(
        answer["Err"].as_str().unwrap().contains("symbolic link"),
        "{answer}"
    );
}
