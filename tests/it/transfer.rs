//! Push, pull and clone between two single-node clusters (own pools, state dirs, ports): full then
//! incremental streams, divergence, interrupted transfers, and who may push where.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::{TestNode, age_pool, eventually, field, filesystems, md5, write_random};

fn path(n: &TestNode, r: &str) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path", r]).trim())
}

/// `a` gets a remote `name` for `user` on `b`.
fn add_remote(a: &TestNode, b: &TestNode, name: &str, user: &str, key: &str) {
    a.add_remote(b, name, user, key);
}

fn ids(n: &TestNode, dot: &str) -> Vec<String> {
    field(&n.json(&["log", "--json", dot]), "id")
}

/// Asking for a raw commit stream on the API connection.
const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: dm-zfs-stream/1\r\n";

/// A dot `s` on `a` with one commit of `mib` MiB of random data: its id, and the raw stream
/// of it as `a` sends it.
fn one_commit_stream(a: &TestNode, mib: usize) -> (String, Vec<u8>) {
    a.ok(&["init", "s"]);
    write_random(&path(a, "s").join("f"), mib);
    a.ok(&["commit", "-m", "one"]);
    let id = ids(a, "s")[0].clone();
    let send = format!("/v1/dots/admin/s/branches/master/send?to={id}");
    let (head, stream) = by_hand(a, "GET", &send, UPGRADE, b"");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (id, stream)
}

/// Connects to `n`'s API and sends the head of `METHOD PATH` as admin, with extra `headers`
/// (each ending in CRLF; the body, if any, is the caller's to send).
fn request_by_hand(n: &TestNode, method: &str, path: &str, headers: &str) -> std::net::TcpStream {
    use std::io::Write;
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", n.api_key()))
    };
    let mut s = std::net::TcpStream::connect((n.addr.as_str(), n.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Authorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    s
}

/// Sends `METHOD PATH` without a body as admin with extra `headers` by hand, and reads the
/// answer's head (and nothing more) off the connection.
fn open_by_hand(
    n: &TestNode,
    method: &str,
    path: &str,
    headers: &str,
) -> (std::net::TcpStream, String) {
    use std::io::Read;
    let mut s = request_by_hand(n, method, path, &format!("{headers}Content-Length: 0\r\n"));
    let mut resp = Vec::new();
    let mut byte = [0u8; 1];
    while !resp.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed during the head");
        resp.push(byte[0]);
    }
    (s, String::from_utf8(resp).unwrap())
}

/// `METHOD PATH` as admin with extra `headers`, by hand on one connection: after a `101`,
/// `stream` follows and this end half-closes. Returns the answer's head and what came after
/// it until the daemon closed. Without `headers`, reads only the first answer (the connection
/// stays open).
fn by_hand(
    n: &TestNode,
    method: &str,
    path: &str,
    headers: &str,
    stream: &[u8],
) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let (mut s, head) = open_by_hand(n, method, path, headers);
    let mut rest = Vec::new();
    if headers.is_empty() {
        let mut buf = [0u8; 4096];
        let k = s.read(&mut buf).unwrap();
        rest.extend_from_slice(&buf[..k]);
        return (head, rest);
    }
    if head.starts_with("HTTP/1.1 101") && !stream.is_empty() {
        // The daemon may refuse part-way and close; what it answers is still read below.
        let _ = s.write_all(stream);
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let _ = s.read_to_end(&mut rest);
    if head.contains("Transfer-Encoding: chunked") {
        rest = dechunk(&rest);
    }
    (head, rest)
}

/// The data of a chunked HTTP body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || body.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[(eol + 4 + size).min(body.len())..];
    }
}

/// Bytes of the raw `zfs send -i` between two commits of the current branch of `dot` on `n`.
fn raw_increment(n: &TestNode, dot: &str, from: &str, to: &str) -> u64 {
    let show = n.json(&["dot", "show", "--json", dot]);
    let fs = format!(
        "{}/dmfs/{}",
        n.pool,
        show["branches"][0]["filesystem_id"].as_str().unwrap()
    );
    let o = Command::new("sh")
        .args(["-c", &format!("zfs send -i {fs}@{from} {fs}@{to} | wc -c")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

#[test]
fn push_pull_clone_incremental_and_diverged() {
    let (a, b) = (TestNode::new(), TestNode::new());
    add_remote(&a, &b, "b", "admin", &b.api_key());
    add_remote(&b, &a, "a", "admin", &a.api_key());
    a.ok(&["init", "data"]);
    let p = path(&a, "data");
    write_random(&p.join("big"), 8);
    a.ok(&["commit", "-m", "one"]);
    std::fs::write(p.join("small"), "v1").unwrap();
    a.ok(&["commit", "-m", "two"]);
    std::fs::write(p.join("dirty"), "never moves").unwrap();

    let s = a.json(&["push", "b", "--json"]);
    assert_eq!(s["commits"], 2, "{s}");
    assert!(s["bytes"].as_u64().unwrap() > 8 << 20);
    assert_eq!(ids(&b, "data"), ids(&a, "data"));
    b.ok(&["switch", "data"]);
    assert_eq!(md5(&path(&b, "data").join("big")), md5(&p.join("big")));
    assert!(
        !path(&b, "data").join("dirty").exists(),
        "only commits move"
    );

    // Incremental: only the increment travels (within 5 % of the raw zfs stream).
    std::fs::write(p.join("small"), "v2").unwrap();
    write_random(&p.join("more"), 1);
    a.ok(&["commit", "-m", "three"]);
    let s = a.json(&["push", "b", "--json"]);
    let list = ids(&a, "data");
    let raw = raw_increment(&a, "data", &list[1], &list[0]);
    let sent = s["bytes"].as_u64().unwrap();
    assert!(
        sent as f64 <= raw as f64 * 1.05 && sent > 0,
        "{sent} vs raw {raw}"
    );
    assert!(sent < 4 << 20, "{sent}");
    let s = a.json(&["push", "b", "--json"]);
    assert_eq!(s["up_to_date"], true);
    assert_eq!(s["bytes"], 0);

    // Diverged: B commits on its own, A too; push is refused, --force resets B.
    std::fs::write(path(&b, "data").join("b-only"), "b").unwrap();
    b.ok(&["commit", "-m", "on b"]);
    std::fs::write(p.join("a-only"), "a").unwrap();
    a.ok(&["commit", "-m", "on a"]);
    let err = a.fails(&["push", "b"]);
    assert!(err.contains("diverged") && err.contains("--force"), "{err}");
    let forced = a.dm(&["push", "b", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("Reset 'master' on remote 'b' to ")
            && forced.stderr.contains("(1 commit(s) dropped there)"),
        "{}",
        forced.stderr
    );
    assert_eq!(ids(&b, "data"), ids(&a, "data"));
    // B's branch was mounted while it received.
    let on_b = path(&b, "data");
    assert_eq!(std::fs::read_to_string(on_b.join("a-only")).unwrap(), "a");
    assert!(!on_b.join("b-only").exists());

    // Pull the other way, and clone under another name, then pull into the clone.
    std::fs::write(path(&b, "data").join("from-b"), "b2").unwrap();
    b.ok(&["commit", "-m", "from b"]);
    // Without a terminal: plain lines, no bar.
    let r = a.dm(&["pull", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 commit(s), ") && r.stderr.contains(" sent in "),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("ETA"), "{}", r.stderr);
    assert_eq!(ids(&a, "data"), ids(&b, "data"));
    b.ok(&["clone", "a", "data", "--local-name", "copy"]);
    assert_eq!(ids(&b, "copy"), ids(&a, "data"));
    assert!(
        b.fails(&["clone", "a", "data", "--local-name", "copy"])
            .contains("already exists")
    );
    std::fs::write(p.join("later"), "x").unwrap();
    a.ok(&["commit", "-m", "later"]);
    b.ok(&["switch", "copy"]);
    b.ok(&["pull", "a"]);
    assert_eq!(ids(&b, "copy"), ids(&a, "data"));
    assert_eq!(
        std::fs::read_to_string(path(&b, "copy").join("later")).unwrap(),
        "x"
    );
}

/// Pools that have run for hours number their transaction groups past 999, which `zfs list`
/// prints rounded ("1.20K"): commits, pushes and the rebuild from ZFS must not depend on it.
#[test]
fn pools_past_txg_999_commit_push_and_rebuild() {
    let (a, b) = (TestNode::new(), TestNode::new());
    std::thread::scope(|s| {
        s.spawn(|| age_pool(&a.pool, 1100));
        s.spawn(|| age_pool(&b.pool, 1100));
    });
    add_remote(&a, &b, "b", "admin", &b.api_key());
    a.ok(&["init", "old"]);
    std::fs::write(path(&a, "old").join("f"), "1").unwrap();
    a.ok(&["commit", "-m", "one"]);
    std::fs::write(path(&a, "old").join("f"), "2").unwrap();
    a.ok(&["commit", "-m", "two"]);
    let s = a.json(&["push", "b", "--json"]);
    assert_eq!(s["commits"], 2, "{s}");
    assert_eq!(ids(&b, "old"), ids(&a, "old"));
    let before = b.json(&["log", "--json", "old"]);
    b.kill_daemon();
    std::fs::remove_dir_all(b.state_dir().join("etcd")).unwrap();
    assert_eq!(
        b.json(&["log", "--json", "old"]),
        before,
        "rebuilt from ZFS"
    );
}

#[test]
fn interrupted_pushes_leave_nothing_visible_and_retry_completes() {
    let (a, b) = (
        TestNode::with_pool_size("1G"),
        TestNode::with_pool_size("1G"),
    );
    add_remote(&a, &b, "b", "admin", &b.api_key());
    a.ok(&["init", "big"]);
    let p = path(&a, "big");
    write_random(&p.join("blob"), 200);
    a.ok(&["commit", "-m", "big"]);
    let want = md5(&p.join("blob"));

    // A push interrupted by `kill` once B receives fails and leaves nothing on B.
    let receiving = || filesystems(&b.pool).iter().any(|f| f.starts_with("recv-"));
    let interrupted = |kill: &dyn Fn(&mut std::process::Child)| {
        let mut push = a
            .command()
            .args(["push", "b"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The event, not a delay: the stream has started arriving.
        while !receiving() && push.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        kill(&mut push);
        let status = push.wait().unwrap();
        assert!(
            !status.success(),
            "the push finished before it was interrupted"
        );
        b.ok(&["list"]);
        assert!(b.json(&["list", "--json"]).as_array().unwrap().is_empty());
    };
    // kill -9 of the client, of the receiving daemon, of the sending daemon (the next call
    // starts a killed daemon again).
    interrupted(&|p| p.kill().unwrap());
    interrupted(&|_| b.kill_daemon());
    interrupted(&|_| a.kill_daemon());

    // The rerun, on a terminal (a pty from `script`): a progress bar with an ETA.
    let out = a.on_pty("push b").stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Pushed 1 commit(s)"), "{text}");
    assert!(text.contains("ETA"), "no progress bar: {text}");
    b.ok(&["switch", "big"]);
    assert_eq!(md5(&path(&b, "big").join("blob")), want);
    assert_eq!(ids(&b, "big"), ids(&a, "big"));
    // Restarting B keeps exactly what was confirmed.
    b.kill_daemon();
    assert!(eventually(30, || b.dm(&["log", "big"]).code == 0));
    assert_eq!(ids(&b, "big"), ids(&a, "big"));
}

#[test]
fn keys_and_namespaces_decide_who_may_push_where() {
    let (a, b) = (TestNode::new(), TestNode::new());
    let alice = b.ok(&["user", "add", "alice"]).trim().to_string();
    add_remote(&a, &b, "alice", "alice", &alice);
    a.ok(&["init", "mine"]);
    std::fs::write(path(&a, "mine").join("f"), "x").unwrap();
    a.ok(&["commit", "-m", "c"]);
    // Into alice's own namespace: fine.
    a.ok(&["push", "alice"]);
    assert!(b.ok(&["list"]).contains("alice/mine"));
    // --remote-name takes [namespace/]name: her own namespace by name works, and is remembered
    // for the next push; another's is refused by the far side; a branch part is refused here.
    a.ok(&["push", "alice", "--remote-name", "alice/renamed"]);
    assert!(
        b.ok(&["list"]).contains("alice/renamed"),
        "{}",
        b.ok(&["list"])
    );
    std::fs::write(path(&a, "mine").join("g"), "more").unwrap();
    a.ok(&["commit", "-m", "c2"]);
    a.ok(&["push", "alice"]);
    assert_eq!(ids(&b, "alice/renamed").len(), 2);
    let err = a.fails(&["push", "alice", "--remote-name", "bob/x"]);
    assert!(err.contains("may not use namespace 'bob'"), "{err}");
    let err = a.fails(&["push", "alice", "--remote-name", "alice/x@dev"]);
    assert!(err.contains("--branch"), "{err}");
    // Into bob's namespace with alice's key: 403.
    a.ok(&["init", "bob/theirs"]);
    std::fs::write(path(&a, "bob/theirs").join("f"), "y").unwrap();
    a.ok(&["commit", "--dot", "bob/theirs", "-m", "c"]);
    let refused = a.dm(&["push", "alice", "bob/theirs"]);
    assert!(
        refused.stderr.contains("may not use namespace 'bob'")
            && refused.stderr.contains("remote 'alice'"),
        "{}",
        refused.stderr
    );
    // The far side's refusal is the user's to fix (1), not an outage (3).
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let (status, _) = b.http(
        "POST",
        "/v1/dots/bob/theirs/branches/master/receive",
        Some(("alice", &alice)),
        b"",
    );
    assert_eq!(status, 403);
    // A wrong key: 401.
    let (status, _) = b.http(
        "GET",
        "/v1/dots/alice/mine/branches/master/commits",
        Some(("alice", "wrong")),
        b"",
    );
    assert_eq!(status, 401);
    // A remote whose key went stale: the far side's 401 reaches the user as that remote's
    // refusal (exit 1), never as this cluster refusing the user's own key.
    let cfg = std::fs::read_to_string(a.config_path()).unwrap();
    assert!(cfg.contains(&alice));
    std::fs::write(a.config_path(), cfg.replace(&alice, "stale0key")).unwrap();
    let stale = a.dm(&["push", "alice"]);
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(
        stale.stderr.contains("remote 'alice'") && stale.stderr.contains("wrong credentials"),
        "{}",
        stale.stderr
    );
}

#[test]
fn tls_remote_is_trusted_by_fingerprint_only() {
    let a = TestNode::with_args("256M", &["--tls"]);
    let b = TestNode::new();
    let cert = std::fs::read_to_string(a.state_dir().join("tls/cert.pem")).unwrap();
    // The fingerprint as openssl computes it, independently of dm.
    let o = Command::new("sh")
        .args([
            "-c",
            &format!(
                "openssl x509 -in {} -outform der | sha256sum",
                a.state_dir().join("tls/cert.pem").display()
            ),
        ])
        .output()
        .unwrap();
    let fp = format!(
        "SHA256:{}",
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    );
    assert!(cert.contains("BEGIN CERTIFICATE"));
    // a's own client talks HTTPS to it; plain HTTP gets nowhere.
    a.ok(&["init", "secure"]);
    std::fs::write(path(&a, "secure").join("f"), "over tls").unwrap();
    a.ok(&["commit", "-m", "c"]);
    let plain = Command::new("curl")
        .args([
            "-s",
            "-m",
            "5",
            &format!("http://{}:{}/v1/ping", a.addr, a.port),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("version"));

    let key = a.path("a.key");
    std::fs::write(&key, a.api_key()).unwrap();
    let addr = format!("admin@{}:{}", a.addr, a.port);
    let key_arg = key.display().to_string();
    // No terminal to confirm on: the fingerprint must be given, and must match.
    let add = |extra: &[&str]| -> Vec<String> {
        ["remote", "add", "a", &addr, "--api-key-file", &key_arg]
            .iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect()
    };
    let err = b.fails(&add(&[]));
    assert!(err.contains(&fp) && err.contains("--fingerprint"), "{err}");
    let wrong = format!("SHA256:{}", "0".repeat(64));
    let err = b.fails(&add(&["--fingerprint", &wrong]));
    assert!(err.contains("nothing saved"), "{err}");
    b.ok(&add(&["--fingerprint", &fp]));
    let cfg = std::fs::read_to_string(b.config_path()).unwrap();
    assert!(
        cfg.contains("BEGIN CERTIFICATE"),
        "the certificate is pinned with the remote"
    );
    b.ok(&["clone", "a", "secure"]);
    b.ok(&["switch", "secure"]);
    assert_eq!(
        std::fs::read_to_string(path(&b, "secure").join("f")).unwrap(),
        "over tls"
    );
    // And back: B's daemon uploads to A over TLS, trusting only the pinned certificate.
    std::fs::write(path(&b, "secure").join("g"), "back over tls").unwrap();
    b.ok(&["commit", "-m", "from b"]);
    let s = b.json(&["push", "a", "--json"]);
    assert_eq!(s["commits"], 1, "{s}");
    assert_eq!(ids(&a, "secure"), ids(&b, "secure"));

    // A different certificate at the same address is refused.
    let other = TestNode::with_args("256M", &["--tls"]);
    let mut text = cfg.clone();
    text = text.replace(
        &format!("port = {}", a.port),
        &format!("port = {}", other.port),
    );
    text = text.replace(
        &format!("host = \"{}\"", a.addr),
        &format!("host = \"{}\"", other.addr),
    );
    std::fs::write(b.config_path(), text).unwrap();
    b.ok(&["remote", "switch", "a"]);
    let r = b.dm(&["list"]);
    assert_ne!(r.code, 0, "a different certificate must not be accepted");
    assert!(
        r.stderr.contains("other than the one trusted"),
        "{}",
        r.stderr
    );
}

#[test]
fn push_into_a_cluster_reaches_the_node_holding_the_branch() {
    let a = TestNode::new();
    let b = TestNode::join(&a);
    let c = TestNode::new();
    add_remote(&c, &a, "hub", "admin", &a.api_key());
    c.ok(&["init", "shared"]);
    std::fs::write(path(&c, "shared").join("f"), "1").unwrap();
    c.ok(&["commit", "-m", "one"]);
    c.ok(&["push", "hub"]);
    // The branch moves to B (mounted there); A passes the next push on to B unread.
    b.ok(&["switch", "shared"]);
    assert!(eventually(30, || b.dm(&["dot", "path"]).code == 0));
    write_random(&path(&c, "shared").join("g"), 4);
    c.ok(&["commit", "-m", "two"]);
    let s = c.json(&["push", "hub", "--json"]);
    assert_eq!(s["commits"], 1, "{s}");
    assert_eq!(ids(&b, "shared"), ids(&c, "shared"));
    assert_eq!(
        md5(&path(&b, "shared").join("g")),
        md5(&path(&c, "shared").join("g"))
    );
    // Replicated back to A, which never held the branch for this push.
    assert!(eventually(30, || ids(&a, "shared") == ids(&c, "shared")));
    // A pull asked of A runs on B, which holds the branch.
    add_remote(&a, &c, "c", "admin", &c.api_key());
    std::fs::write(path(&c, "shared").join("h"), "pulled").unwrap();
    c.ok(&["commit", "-m", "three"]);
    a.ok(&["pull", "c", "shared"]);
    assert_eq!(ids(&b, "shared"), ids(&c, "shared"));
    assert_eq!(
        std::fs::read_to_string(path(&b, "shared").join("h")).unwrap(),
        "pulled"
    );
    // A diverged push is still refused, by B, through A.
    std::fs::write(path(&b, "shared").join("b-only"), "b").unwrap();
    b.ok(&["commit", "-m", "on b"]);
    std::fs::write(path(&c, "shared").join("c-only"), "c").unwrap();
    c.ok(&["commit", "-m", "on c"]);
    assert!(c.fails(&["push", "hub"]).contains("diverged"));
}

/// A raw stream into a receive is checked by `zfs receive` (an altered or cut stream leaves
/// nothing), and what arrived stays invisible until confirmed with the size that was sent.
#[test]
fn raw_streams_are_checked_by_zfs_and_kept_only_when_confirmed() {
    let (a, b) = (TestNode::new(), TestNode::new());
    let (id, stream) = one_commit_stream(&a, 2);
    let receive = "/v1/dots/admin/s/branches/master/receive";
    let push = |bytes: &[u8]| -> serde_json::Value {
        let (head, answer) = by_hand(&b, "POST", receive, UPGRADE, bytes);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&answer)))
    };
    let nothing_visible = || {
        assert!(b.json(&["list", "--json"]).as_array().unwrap().is_empty());
    };
    let mut altered = stream.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x55;
    let cut = &stream[..stream.len() - 400];
    for (what, bad) in [("altered", &altered[..]), ("cut", cut)] {
        let answer = push(bad);
        // Bad input: refused as such, without naming any dataset.
        assert!(answer["error"]["code"] == "bad_stream", "{what}: {answer}");
        assert_eq!(answer["error"]["status"], 400, "{what}: {answer}");
        let message = answer["error"]["error"].as_str().unwrap();
        assert!(!message.contains(&b.pool), "{what}: {message}");
        nothing_visible();
    }

    let answer = push(&stream);
    let receipt = &answer["received"];
    assert_eq!(receipt["bytes"], stream.len() as u64, "{answer}");
    assert_eq!(receipt["commits"], serde_json::json!([id]), "{answer}");
    nothing_visible();
    let key = b.api_key();
    let log = a.http(
        "GET",
        "/v1/dots/admin/s/branches/master/commits",
        Some(("admin", &a.api_key())),
        b"",
    );
    let commits: serde_json::Value = serde_json::from_str(&log.1).unwrap();
    let confirm = |bytes: usize| {
        let body = serde_json::json!({ "bytes": bytes, "commits": commits });
        let confirm = "/v1/dots/admin/s/branches/master/confirm";
        b.http(
            "POST",
            confirm,
            Some(("admin", &key)),
            body.to_string().as_bytes(),
        )
    };
    // A size other than what arrived drops it.
    let (status, body) = confirm(stream.len() + 1);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("were sent; nothing was kept"), "{body}");
    nothing_visible();
    let (status, _) = confirm(stream.len());
    assert_eq!(status, 404, "nothing is left to confirm");

    push(&stream);
    let (status, body) = confirm(stream.len());
    assert_eq!(status, 200, "{body}");
    b.ok(&["switch", "s"]);
    assert_eq!(ids(&b, "s"), vec![id.clone()]);
    assert_eq!(md5(&path(&b, "s").join("f")), md5(&path(&a, "s").join("f")));

    // An increment into the existing branch whose client dies before confirming: B's files
    // and log stay exactly as they were, even for someone looking right then.
    let late = path(&b, "s").join("late.txt");
    assert!(!late.exists());
    std::fs::write(path(&a, "s").join("late.txt"), "arrived").unwrap();
    a.ok(&["commit", "-m", "two"]);
    let id2 = ids(&a, "s")[0].clone();
    let send = format!("/v1/dots/admin/s/branches/master/send?from={id}&to={id2}");
    let (head, increment) = by_hand(&a, "GET", &send, UPGRADE, b"");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let receive2 = format!("{receive}?from={id}");
    let (head, answer) = by_hand(&b, "POST", &receive2, UPGRADE, &increment);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "{head}: {}",
        String::from_utf8_lossy(&answer)
    );
    let before = b.json(&["log", "--json"]);
    assert_eq!(crate::common::field(&before, "id"), vec![id.clone()]);
    assert!(
        !late.exists(),
        "an unconfirmed increment shows in the branch's files"
    );
    assert!(!path(&b, "s").join("late.txt").exists());
    assert_eq!(md5(&path(&b, "s").join("f")), md5(&path(&a, "s").join("f")));
    let dirty = b.json(&["list", "--json"])[0]["dirty_bytes"].clone();
    assert_eq!(dirty, 0, "no uncommitted changes appear either");
    // A commit there holds only what was there; the next push still goes through and the
    // file that arrived can be read by whoever looked for it before.
    add_remote(&a, &b, "b", "admin", &key);
    a.ok(&["push", "b", "s"]);
    assert_eq!(ids(&b, "s"), vec![id2, id]);
    assert_eq!(std::fs::read_to_string(&late).unwrap(), "arrived");
}

/// A stream being received holds up nobody's mounts: on zfs-fuse mounts are serialised
/// machine-wide, and a receive that held that lock for its whole stream stopped every other
/// dot on the machine from being created or mounted until it ended.
#[test]
fn a_receive_in_progress_holds_up_no_other_dot() {
    use std::io::{Read, Write};
    let (a, b) = (TestNode::new(), TestNode::new());
    let (_, stream) = one_commit_stream(&a, 4);
    let receive = "/v1/dots/admin/s/branches/master/receive";
    let (mut conn, head) = open_by_hand(&b, "POST", receive, UPGRADE);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Half the stream: B's `zfs receive` is running and waits for the rest.
    let half = stream.len() / 2;
    conn.write_all(&stream[..half]).unwrap();
    let mut init = b.command().args(["init", "other"]).spawn().unwrap();
    let finished = eventually(60, || init.try_wait().unwrap().is_some());
    if !finished {
        let _ = init.kill();
    }
    assert!(finished, "dm init waited for the receive to end");
    assert!(init.wait().unwrap().success());
    std::fs::write(path(&b, "other").join("x"), "y").unwrap();
    // The rest of the stream: the receive completes as if nothing happened.
    conn.write_all(&stream[half..]).unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["received"]["bytes"], stream.len() as u64, "{answer}");
}

/// A sender that goes quiet mid-stream without closing (cut off by a network partition) is
/// given up on after the receiver's idle limit, raw or through the body: nothing is kept, and
/// the dot can be pushed again.
#[test]
fn a_sender_gone_quiet_is_given_up_on() {
    use std::io::{Read, Write};
    let a = TestNode::new();
    let b = TestNode::with_args("256M", &["--stream-idle-timeout", "2"]);
    let (id, stream) = one_commit_stream(&a, 4);
    let half = &stream[..stream.len() / 2];
    let receive = "/v1/dots/admin/s/branches/master/receive";

    let (mut conn, head) = open_by_hand(&b, "POST", receive, UPGRADE);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    conn.write_all(half).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("the sender went quiet"), "{answer}");
    assert!(b.json(&["list", "--json"]).as_array().unwrap().is_empty());

    // The same through the request body, the way a stream over TLS travels.
    let length = format!("Content-Length: {}\r\n", stream.len());
    let mut conn = request_by_hand(&b, "POST", receive, &length);
    conn.write_all(half).unwrap();
    let mut answer = [0u8; 4096];
    let n = conn.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.contains("the sender went quiet"), "{answer}");
    assert!(b.json(&["list", "--json"]).as_array().unwrap().is_empty());

    add_remote(&a, &b, "b", "admin", &b.api_key());
    a.ok(&["push", "b"]);
    assert_eq!(ids(&b, "s"), vec![id]);
}

/// Commits that arrived whole before a transfer was cut off are kept by the rerun instead of
/// sent again, but only when they are the sender's very snapshots (same GUID).
#[test]
fn a_rerun_keeps_the_commits_that_arrived_whole() {
    let (a, b) = (TestNode::new(), TestNode::new());
    add_remote(&a, &b, "b", "admin", &b.api_key());
    a.ok(&["init", "s"]);
    let p = path(&a, "s");
    std::fs::write(p.join("zero"), "0").unwrap();
    a.ok(&["commit", "-m", "zero"]);
    a.ok(&["push", "b"]);
    write_random(&p.join("one"), 2);
    a.ok(&["commit", "-m", "one"]);
    write_random(&p.join("two"), 8);
    a.ok(&["commit", "-m", "two"]);
    let list = ids(&a, "s");
    let (c2, c1, c0) = (&list[0], &list[1], &list[2]);

    // The stream of both commits, cut off inside the second: the first arrives whole.
    let send = format!("/v1/dots/admin/s/branches/master/send?to={c2}&from={c0}");
    let (_, stream) = by_hand(&a, "GET", &send, UPGRADE, b"");
    let cut = &stream[..stream.len() - (1 << 20)];
    let receive = format!("/v1/dots/admin/s/branches/master/receive?from={c0}");
    let (head, answer) = by_hand(&b, "POST", &receive, UPGRADE, cut);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(String::from_utf8_lossy(&answer).contains("\"error\""));
    assert_eq!(ids(&b, "s"), vec![c0.clone()], "nothing arrived is visible");
    // Keeping is refused for a GUID other than the snapshot's, or without one per commit.
    let commits: serde_json::Value = serde_json::from_str(
        &a.http(
            "GET",
            "/v1/dots/admin/s/branches/master/commits",
            Some(("admin", &a.api_key())),
            b"",
        )
        .1,
    )
    .unwrap();
    let one = serde_json::json!([commits[1]]);
    let keep = "/v1/dots/admin/s/branches/master/keep";
    let key = b.api_key();
    for (guids, status, says) in [
        (serde_json::json!(["1234"]), 409, "not the ones sent"),
        (serde_json::json!([]), 400, "one GUID per commit"),
    ] {
        let body = serde_json::json!({ "commits": one, "guids": guids }).to_string();
        let (code, text) = b.http("POST", keep, Some(("admin", &key)), body.as_bytes());
        assert_eq!(code, status, "{text}");
        assert!(text.contains(says), "{text}");
    }
    assert_eq!(ids(&b, "s"), vec![c0.clone()]);

    let s = a.json(&["push", "b", "--json"]);
    assert_eq!(s["commits"], 2, "{s}");
    assert_eq!(s["resumed"], 1, "{s}");
    let sent = s["bytes"].as_u64().unwrap();
    let rest = raw_increment(&a, "s", c1, c2);
    assert!(
        sent as f64 <= rest as f64 * 1.05 && sent < stream.len() as u64 - (1 << 20),
        "sent {sent}, the rest is {rest}"
    );
    assert_eq!(ids(&b, "s"), list);
    b.ok(&["switch", "s"]);
    for f in ["one", "two"] {
        assert_eq!(md5(&path(&b, "s").join(f)), md5(&p.join(f)));
    }

    // A snapshot under the next commit's name but with other data is not kept.
    write_random(&p.join("three"), 1);
    a.ok(&["commit", "-m", "three"]);
    let c3 = ids(&a, "s")[0].clone();
    let on_b = path(&b, "s");
    std::fs::write(on_b.join("impostor"), "not from a").unwrap();
    let fs = b.json(&["dot", "show", "--json", "s"])["branches"][0]["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    let snap = format!("{}/dmfs/{fs}@{c3}", b.pool);
    assert!(
        Command::new("zfs")
            .args(["snapshot", &snap])
            .status()
            .unwrap()
            .success()
    );
    let s = a.json(&["push", "b", "--json"]);
    assert_eq!(s["resumed"], 0, "{s}");
    assert_eq!(ids(&b, "s"), ids(&a, "s"));
    assert!(!on_b.join("impostor").exists());
    assert_eq!(md5(&on_b.join("three")), md5(&p.join("three")));

    // The same for a pull: B's next two commits, cut off into A inside the second.
    write_random(&on_b.join("four"), 1);
    b.ok(&["commit", "-m", "four"]);
    write_random(&on_b.join("five"), 8);
    b.ok(&["commit", "-m", "five"]);
    let c5 = ids(&b, "s")[0].clone();
    let send = format!("/v1/dots/admin/s/branches/master/send?to={c5}&from={c3}");
    let (_, stream) = by_hand(&b, "GET", &send, UPGRADE, b"");
    let cut = &stream[..stream.len() - (1 << 20)];
    let receive = format!("/v1/dots/admin/s/branches/master/receive?from={c3}");
    by_hand(&a, "POST", &receive, UPGRADE, cut);
    let s = a.json(&["pull", "b", "--json"]);
    assert_eq!(
        (&s["commits"], &s["resumed"]),
        (&2.into(), &1.into()),
        "{s}"
    );
    assert_eq!(ids(&a, "s"), ids(&b, "s"));
    assert_eq!(md5(&p.join("five")), md5(&on_b.join("five")));
}

/// A relay in front of `n`'s API that passes no protocol upgrade on, as a plain HTTP proxy
/// might: `Upgrade` headers are dropped and `Connection: Upgrade` becomes `Connection: close`.
/// Returns its port.
fn upgrade_stripping_relay(n: &TestNode) -> u16 {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind((n.addr.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = (n.addr.clone(), n.port);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head: String = String::from_utf8_lossy(&head)
                    .split("\r\n")
                    .filter(|l| !l.to_ascii_lowercase().starts_with("upgrade:"))
                    .map(|l| match l.eq_ignore_ascii_case("connection: upgrade") {
                        true => "Connection: close",
                        false => l,
                    })
                    .collect::<Vec<_>>()
                    .join("\r\n");
                let mut server = TcpStream::connect(upstream).unwrap();
                server.write_all(head.as_bytes()).unwrap();
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    port
}

/// Through something that passes no upgrade on, transfers fall back to copying the stream
/// through request and response bodies.
#[test]
fn transfers_go_through_a_proxy_that_drops_upgrades() {
    let (a, b) = (TestNode::new(), TestNode::new());
    let relay = upgrade_stripping_relay(&b);
    let f = a.path("b.key");
    std::fs::write(&f, b.api_key()).unwrap();
    let address = format!("admin@{}:{relay}", b.addr);
    a.ok(&[
        "remote",
        "add",
        "proxied",
        &address,
        "--api-key-file",
        &f.display().to_string(),
    ]);
    a.ok(&["init", "s"]);
    let p = path(&a, "s");
    write_random(&p.join("one"), 2);
    a.ok(&["commit", "-m", "one"]);
    write_random(&p.join("two"), 2);
    a.ok(&["commit", "-m", "two"]);
    a.ok(&["push", "proxied"]);
    assert_eq!(ids(&b, "s"), ids(&a, "s"));
    b.ok(&["switch", "s"]);
    write_random(&path(&b, "s").join("three"), 2);
    b.ok(&["commit", "-m", "three"]);
    a.ok(&["pull", "proxied"]);
    assert_eq!(ids(&a, "s"), ids(&b, "s"));
    assert_eq!(md5(&p.join("three")), md5(&path(&b, "s").join("three")));
}

/// A sender keeps each stream's byte count and whether `zfs send` finished, under the id in its
/// `X-Dm-Send-Id` header; a stream asked for without `Connection: close` is refused with a
/// message rather than left hanging (tiny_http would keep the connection open).
/// The same stream comes raw after switching protocols.
#[test]
fn streams_are_recorded_by_the_sender_and_need_connection_close() {
    let n = TestNode::new();
    n.ok(&["init", "s"]);
    std::fs::write(path(&n, "s").join("f"), "x").unwrap();
    n.ok(&["commit", "-m", "one"]);
    let id = ids(&n, "s")[0].clone();
    let url = format!("/v1/dots/admin/s/branches/master/send?to={id}");
    let (refused, why) = by_hand(&n, "GET", &url, "", b"");
    let why = String::from_utf8_lossy(&why);
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    assert!(why.contains("`Connection: close`"), "{why}");

    // The same stream in the body of a plain answer, and raw after switching protocols.
    let mut streams = Vec::new();
    for (headers, status) in [
        ("Connection: close\r\n", "HTTP/1.1 200"),
        (UPGRADE, "HTTP/1.1 101"),
    ] {
        let (head, stream) = by_hand(&n, "GET", &url, headers, b"");
        assert!(head.starts_with(status), "{head}");
        let send_id = head
            .lines()
            .find_map(|l| l.strip_prefix("X-Dm-Send-Id: "))
            .unwrap_or_else(|| panic!("no send id: {head}"))
            .trim()
            .to_string();
        assert!(!stream.is_empty());
        // Recorded before the connection closed.
        let (code, body) = n.http(
            "GET",
            &format!("/v1/sends/{send_id}"),
            Some(("admin", &n.api_key())),
            b"",
        );
        assert_eq!(code, 200, "{body}");
        let record: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(record["bytes"], stream.len() as u64, "{record}");
        assert_eq!(record["complete"], true, "{record}");
        streams.push(stream);
    }
    assert!(
        streams[0] == streams[1],
        "the raw stream differs from the copied one"
    );
    let (status, _) = n.http(
        "GET",
        "/v1/sends/nosuchstream",
        Some(("admin", &n.api_key())),
        b"",
    );
    assert_eq!(status, 404);

    // The head alone, which is what an up-to-date push asks of the far side.
    std::fs::write(path(&n, "s").join("f"), "y").unwrap();
    n.ok(&["commit", "-m", "two"]);
    let key = n.api_key();
    let log = "/v1/dots/admin/s/branches/master/commits";
    let (status, body) = n.http("GET", &format!("{log}?limit=1"), Some(("admin", &key)), b"");
    let head: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(head.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(head[0]["id"], ids(&n, "s")[0]);
    let (status, body) = n.http("GET", &format!("{log}?limit=x"), Some(("admin", &key)), b"");
    assert_eq!(status, 400, "{body}");
}

/// A branch the other side lacks travels as a clone of the commit it was made from (which must
/// be there), then incrementally; clone of a branch brings master first.
#[test]
fn branches_travel_on_top_of_the_commit_they_were_made_from() {
    let (a, b) = (TestNode::new(), TestNode::new());
    add_remote(&a, &b, "b", "admin", &b.api_key());
    add_remote(&b, &a, "a", "admin", &a.api_key());
    a.ok(&["init", "d"]);
    std::fs::write(path(&a, "d@master").join("m"), "master 1").unwrap();
    a.ok(&["commit", "-m", "m1"]);
    a.ok(&["checkout", "-b", "dev"]);
    write_random(&path(&a, "d@dev").join("big"), 2);
    a.ok(&["commit", "-m", "d1"]);
    std::fs::write(path(&a, "d@dev").join("n"), "dev 2").unwrap();
    a.ok(&["commit", "-m", "d2"]);

    // B lacks the base, and its master went its own way: the base cannot go first, and the
    // refusal says why.
    b.ok(&["init", "d"]);
    std::fs::write(path(&b, "d@master").join("other"), "b").unwrap();
    b.ok(&["commit", "-m", "b's own"]);
    let err = a.fails(&["push", "b", "--branch", "dev", "--remote-name", "d"]);
    assert!(
        err.contains("grew from commit") && err.contains("diverged"),
        "{err}"
    );
    b.ok(&["dot", "delete", "-y", "d"]);

    a.ok(&["push", "b", "--branch", "master"]);
    let s = a.json(&["push", "b", "--branch", "dev", "--json"]);
    assert_eq!(s["commits"], 2, "{s}");
    assert_eq!(ids(&b, "d@dev"), ids(&a, "d@dev"));
    assert_eq!(
        md5(&path(&b, "d@dev").join("big")),
        md5(&path(&a, "d@dev").join("big"))
    );
    assert_eq!(
        std::fs::read_to_string(path(&b, "d@dev").join("m")).unwrap(),
        "master 1"
    );
    // Incremental from there, and the branch is a real one on B.
    std::fs::write(path(&a, "d@dev").join("n"), "dev 3").unwrap();
    a.ok(&["commit", "-m", "d3"]);
    let s = a.json(&["push", "b", "--branch", "dev", "--json"]);
    assert_eq!(s["commits"], 1, "{s}");
    assert_eq!(ids(&b, "d@dev"), ids(&a, "d@dev"));
    let branches = b.ok(&["branch", "--dot", "d"]);
    assert!(branches.contains("dev"), "{branches}");

    // Clone of the branch elsewhere brings master first; pull brings the branch's news.
    let c = TestNode::new();
    add_remote(&c, &a, "a", "admin", &a.api_key());
    c.ok(&["clone", "a", "d", "dev"]);
    assert_eq!(ids(&c, "d@dev"), ids(&a, "d@dev"));
    assert_eq!(ids(&c, "d@master"), ids(&a, "d@master"));
    std::fs::write(path(&a, "d@dev").join("n"), "dev 4").unwrap();
    a.ok(&["commit", "-m", "d4"]);
    c.ok(&["pull", "a", "d", "dev"]);
    assert_eq!(
        std::fs::read_to_string(path(&c, "d@dev").join("n")).unwrap(),
        "dev 4"
    );
}

/// Tags travel with the commits they name: `dm push --tags`, and every pull and clone.
#[test]
fn tags_travel_with_push_tags_pull_and_clone() {
    let (a, b) = (TestNode::new(), TestNode::new());
    add_remote(&a, &b, "b", "admin", &b.api_key());
    add_remote(&b, &a, "a", "admin", &a.api_key());
    a.ok(&["init", "t"]);
    std::fs::write(path(&a, "t").join("f"), "1").unwrap();
    a.ok(&["commit", "-m", "one"]);
    a.ok(&["tag", "v1"]);
    // A plain push leaves tags behind, as git does; --tags takes them.
    a.ok(&["push", "b"]);
    let names = |n: &TestNode| field(&n.json(&["tag", "--dot", "t", "--json"]), "name");
    assert!(names(&b).is_empty());
    let out = a.ok(&["push", "b", "--tags"]);
    assert!(out.contains("Tags made on remote 'b': v1."), "{out}");
    assert_eq!(names(&b), vec!["v1"]);
    let v1 = |n: &TestNode| n.json(&["tag", "--dot", "t", "--json"])[0]["commit"].clone();
    assert_eq!(v1(&a), v1(&b));
    // The other way: a pull brings the tags of what it brings.
    b.ok(&["switch", "t"]);
    std::fs::write(path(&b, "t").join("f"), "2").unwrap();
    b.ok(&["commit", "-m", "two"]);
    b.ok(&["tag", "v2"]);
    // A tag of the same name for another commit on each side is left alone, and said so.
    b.ok(&["tag", "clash"]);
    a.ok(&["tag", "clash", "v1"]);
    let r = a.dm(&["pull", "b", "t"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Tags made on this cluster: v2."),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("clash"), "{}", r.stderr);
    assert_eq!(names(&a), vec!["clash", "v1", "v2"]);
    let clash = |n: &TestNode| {
        n.json(&["tag", "--dot", "t", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "clash")
            .unwrap()["commit"]
            .clone()
    };
    assert_eq!(clash(&a), v1(&a), "a's own tag kept");
    // A clone brings them all.
    let c = TestNode::new();
    add_remote(&c, &b, "b", "admin", &b.api_key());
    c.ok(&["clone", "b", "t"]);
    assert_eq!(names(&c), vec!["clash", "v1", "v2"]);
}
