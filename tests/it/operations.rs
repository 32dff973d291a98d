//! Operating dm: Prometheus metrics scraped from a real daemon and parsed with a parser of the
//! text format, `dm cluster status` / `dm doctor` and their exit codes, request logs, the
//! plugin socket across stops and kills, socket activation, and the systemd units.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use crate::common::{TestNode, eventually, write_random};

/// `GET /metrics` from `host:port` without credentials, parsed.
fn scrape_at(host: &str, port: u16) -> (u16, Option<prometheus_parse::Scrape>, String) {
    let mut s = TcpStream::connect((host, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let parsed = (status == 200).then(|| {
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
    });
    (status, parsed, body.to_string())
}

fn scrape(n: &TestNode) -> prometheus_parse::Scrape {
    let (status, parsed, body) = scrape_at(&n.addr, n.port);
    assert_eq!(status, 200, "{body}");
    parsed.unwrap()
}

/// The value of the first sample of `metric` whose labels include all of `labels`.
fn value(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[test]
fn metrics_are_served_without_a_key_and_name_only_the_dots_allowed() {
    let n = TestNode::with_args("256M", &["--metrics-dot-labels", "admin/shown"]);
    n.ok(&["init", "shown"]);
    n.ok(&["commit", "-m", "first"]);
    let dir = n.ok(&["dot", "path"]);
    write_random(&std::path::Path::new(dir.trim()).join("new.bin"), 2);
    n.ok(&["init", "secretname"]);
    n.ok(&["commit", "-m", "hidden's first"]);

    let s = scrape(&n);
    // Requests by route pattern, never by dot.
    let commits = "/v1/dots/:ns/:dot/branches/:branch/commits";
    assert!(
        value(
            &s,
            "dm_http_requests_total",
            &[("route", commits), ("method", "POST"), ("code", "201")]
        ) >= Some(2.0)
    );
    assert!(
        value(
            &s,
            "dm_http_request_duration_seconds",
            &[("route", commits), ("method", "POST")]
        ) >= Some(2.0)
    );
    // zfs commands by subcommand, with durations.
    assert!(
        value(
            &s,
            "dm_zfs_commands_total",
            &[("subcommand", "snapshot"), ("outcome", "ok")]
        ) >= Some(2.0)
    );
    assert!(
        value(
            &s,
            "dm_zfs_command_duration_seconds",
            &[("subcommand", "snapshot")]
        ) >= Some(2.0)
    );
    // etcd round trips, pool space, peers.
    assert!(value(&s, "dm_etcd_request_duration_seconds", &[]) > Some(0.0));
    assert_eq!(value(&s, "dm_etcd_up", &[]), Some(1.0));
    assert_eq!(value(&s, "dm_pool_up", &[]), Some(1.0));
    assert!(value(&s, "dm_pool_free_bytes", &[]) > Some(100e6));
    assert!(value(&s, "dm_pool_used_bytes", &[]) > Some(2e6));
    assert_eq!(value(&s, "dm_peer_up", &[]), Some(1.0));
    assert_eq!(value(&s, "dm_branches_master_down", &[]), Some(0.0));
    assert!(value(&s, "dm_mounted_branches", &[]) >= Some(1.0));
    // Uncommitted bytes: named for the allowed dot, by filesystem id only for the other.
    let uncommitted = value(
        &s,
        "dm_branch_uncommitted_bytes",
        &[("dot", "admin/shown"), ("branch", "master")],
    );
    assert!(uncommitted > Some(2e6), "{uncommitted:?}");
    let anonymous: Vec<_> = s
        .samples
        .iter()
        .filter(|x| x.metric == "dm_branch_uncommitted_bytes")
        .filter(|x| x.labels.get("dot").is_none_or(str::is_empty))
        .collect();
    assert_eq!(anonymous.len(), 1, "the other dot, by id only");
    assert_eq!(anonymous[0].labels.get("fs").map(str::len), Some(32));
    let (_, _, text) = scrape_at(&n.addr, n.port);
    assert!(!text.contains("secretname"), "{text}");
    // Everything else still needs a key.
    assert_eq!(n.http("GET", "/v1/dots", None, b"").0, 401);
    assert_eq!(n.http("GET", "/v1/cluster/status", None, b"").0, 401);
}

#[test]
fn metrics_on_their_own_address_leave_the_api_port_closed_to_them() {
    let n = TestNode::uninitialised();
    let port = std::net::TcpListener::bind((n.addr.as_str(), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = n.init_args("256M");
    args.extend(["--metrics-addr".into(), format!("{}:{port}", n.addr)]);
    let r = n.dm(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (status, parsed, _) = scrape_at(&n.addr, port);
    assert_eq!(status, 200);
    assert_eq!(value(&parsed.unwrap(), "dm_pool_up", &[]), Some(1.0));
    // The API port answers /metrics only with a key, and then as no route.
    assert_eq!(scrape_at(&n.addr, n.port).0, 401);
    // The metrics listener serves nothing else.
    let mut s = TcpStream::connect((n.addr.as_str(), port)).unwrap();
    s.write_all(b"GET /v1/dots HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    // Bad addresses are refused before anything is set up.
    let bad = TestNode::uninitialised();
    let mut args = bad.init_args("256M");
    args.extend(["--metrics-addr".into(), "nowhere".into()]);
    let r = bad.dm(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("HOST:PORT"), "{}", r.stderr);
    assert!(!bad.state_dir().join("node.toml").exists());
}

#[test]
fn status_checks_everything_and_exits_non_zero_when_action_is_needed() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let v = n.json(&["cluster", "status", "--json"]);
    let checks = v["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "zfs",
        "etcd",
        "nodes",
        "masters",
        "replication",
        "mounts",
        "certificates",
        "docker-plugin",
        "flexvolume",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(
        checks.iter().all(|c| c["state"] == "ok"),
        "{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    let r = n.dm(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("pool '{}' ONLINE", n.pool)),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 of 1 members answer"), "{}", r.stdout);

    // The plugin socket gone (someone removed it): the check says so, and how to fix it.
    std::fs::remove_file(n.plugin_socket()).unwrap();
    let r = n.dm(&["cluster", "status"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("docker-plugin"))
        .unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("dm cluster upgrade"),
        "{line}"
    );
    assert!(
        r.stderr.contains("needs attention: docker-plugin"),
        "{}",
        r.stderr
    );
    n.ok(&["cluster", "upgrade"]);
    assert_eq!(n.dm(&["doctor"]).code, 0);

    // The mount directory made private (as a host without systemd has its mounts): a warning
    // that explains; a restart shares it again.
    let mnt = n.state_dir().join("mnt");
    let made = Command::new("mount")
        .args(["--make-private"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(made.success());
    let r = n.dm(&["cluster", "status"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = r.stdout.lines().find(|l| l.contains("mounts")).unwrap();
    assert!(
        line.starts_with("WARN") && line.contains("not a shared mount") && line.contains("busy"),
        "{line}"
    );
    n.ok(&["cluster", "upgrade"]);
    assert_eq!(n.dm(&["doctor"]).code, 0);

    // The daemon down: said, exit 3, and the check does not start it.
    n.kill_daemon();
    let r = n.dm(&["cluster", "status", "--json"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["checks"][0]["name"], "daemon");
    assert_eq!(v["checks"][0]["state"], "fail");
    assert!(n.daemon_pid().is_none(), "status must not start the daemon");
}

#[test]
fn a_full_pool_warns() {
    let n = TestNode::with_pool_size("128M");
    n.ok(&["init", "d"]);
    let dir = n.ok(&["dot", "path"]);
    write_random(&std::path::Path::new(dir.trim()).join("big.bin"), 75);
    assert!(eventually(30, || {
        let r = n.dm(&["cluster", "status"]);
        r.code == 1
            && r.stdout
                .lines()
                .any(|l| l.starts_with("WARN") && l.contains("zfs") && l.contains("% full"))
    }));
}

#[test]
fn a_replica_reports_its_lag_and_a_dead_master_is_flagged() {
    let a = TestNode::new();
    a.ok(&["init", "d"]);
    a.ok(&["commit", "-m", "one"]);
    let b = TestNode::uninitialised();
    let joined = crate::common::Run::from(
        b.command()
            .args(b.join_args(&a))
            .env("DM_JOIN_TOKEN", a.join_token())
            .output()
            .unwrap(),
    );
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    // Each stage said, without a terminal as plain lines.
    for stage in [
        "Joining the cluster at",
        "Added to the cluster's etcd",
        "Starting the dm daemon",
        "Catching up on every dot",
        "Caught up: every commit of the 1 branch(es) other nodes master is here",
    ] {
        assert!(joined.stderr.contains(stage), "{stage}: {}", joined.stderr);
    }
    // The join waited until b held every commit.
    let r = b.json(&["cluster", "status", "--json"]);
    let repl = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "replication")
        .unwrap()
        .clone();
    assert_eq!(repl["state"], "ok", "{repl}");
    let s = scrape(&b);
    assert_eq!(value(&s, "dm_replication_lag_seconds", &[]), Some(0.0));
    assert!(value(&s, "dm_replication_delay_seconds", &[]) >= Some(1.0));
    assert!(value(&s, "dm_transfer_bytes_total", &[("direction", "received")]) > Some(0.0));
    let sa = scrape(&a);
    assert!(value(&sa, "dm_transfer_bytes_total", &[("direction", "sent")]) > Some(0.0));
    assert!(
        value(
            &sa,
            "dm_transfer_rate_bytes_per_second",
            &[("direction", "sent")]
        ) >= Some(1.0)
    );
    assert_eq!(
        value(&s, "dm_peer_up", &[]).map(|_| s
            .samples
            .iter()
            .filter(|x| x.metric == "dm_peer_up")
            .count()),
        Some(2)
    );

    // The master's node gone: b says which branch cannot be written, and fails.
    a.kill_daemon();
    assert!(eventually(60, || {
        let r = b.dm(&["cluster", "status"]);
        r.code == 1 && r.stdout.lines().any(|l| l.starts_with("FAIL"))
    }));
}

#[test]
fn request_logs_are_json_lines_without_keys() {
    let n = TestNode::with_args("256M", &["--log-format", "json"]);
    n.ok(&["init", "d"]);
    let _ = n.http("GET", "/v1/dots", Some(("admin", "wrong-key-123")), b"");
    let log = std::fs::read_to_string(n.state_dir().join("dm.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["target"] == "dm::api").collect();
    let created = requests
        .iter()
        .find(|l| l["fields"]["route"] == "/v1/dots" && l["fields"]["method"] == "POST")
        .expect("a line for the dot's creation");
    assert_eq!(created["fields"]["principal"], "admin");
    assert_eq!(created["fields"]["status"], 201);
    assert!(created["fields"]["ms"].is_u64());
    let refused = requests
        .iter()
        .find(|l| l["fields"]["status"] == 401)
        .expect("a line for the refused request");
    assert_eq!(refused["fields"]["principal"], "-");
    assert!(!log.contains("wrong-key-123"));
    assert!(!log.contains(&n.api_key()));

    // Levels from RUST_LOG (DM_LOG when both are set): warnings only, no request lines.
    let pid = n.daemon_pid().unwrap();
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    crate::common::wait_gone(pid);
    let before = std::fs::read_to_string(n.state_dir().join("dm.log"))
        .unwrap()
        .len();
    let r = crate::common::Run::from(
        n.command()
            .args(["list"])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    n.ok(&["list"]);
    let log = std::fs::read_to_string(n.state_dir().join("dm.log")).unwrap();
    assert!(!log[before..].contains("dm::api"), "{}", &log[before..]);
}

#[test]
fn a_clean_stop_removes_the_plugin_socket_and_a_start_replaces_a_stale_one() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let sock = n.plugin_socket();
    let pid = n.daemon_pid().unwrap();
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    crate::common::wait_gone(pid);
    assert!(!sock.exists(), "a clean stop removes the socket");
    // Started again, then killed: the socket stays behind, answering nobody.
    n.ok(&["list"]);
    n.kill_daemon();
    assert!(sock.exists());
    assert!(UnixStream::connect(&sock).is_err(), "nobody answers it");
    // The next start takes its place.
    n.ok(&["list"]);
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(b"POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.contains("VolumeDriver"), "{resp}");
}

#[test]
fn socket_activation_starts_the_daemon_on_dockers_first_call() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    n.ok(&["commit", "-m", "c"]);
    let pid = n.daemon_pid().unwrap();
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    crate::common::wait_gone(pid);
    // What systemd does with dm.socket: listen, and start the daemon with the socket on the
    // first connection.
    let sock = n.plugin_socket();
    let mut activator = Command::new("systemd-socket-activate")
        .args(["-l", &sock.display().to_string(), crate::common::dm_bin()])
        .args(["serve", "--state-dir", &n.state_dir().display().to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package)");
    assert!(eventually(10, || sock.exists()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        n.daemon_pid().is_none(),
        "nothing runs before the first call"
    );
    // Docker's first call: a volume of this driver.
    let docker = crate::docker::Docker::new(&n);
    let vol = "d";
    let out = docker.ok(&["volume", "create", "--driver", n.driver(), vol]);
    assert_eq!(out, vol);
    assert_eq!(n.daemon_pid(), Some(activator.id() as i32));
    let r = n.dm(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("starting it"), "{}", r.stderr);
    docker.ok(&["volume", "rm", vol]);
    // The socket is systemd's: a stop leaves it for the next activation.
    Command::new("kill")
        .arg(activator.id().to_string())
        .status()
        .unwrap();
    activator.wait().unwrap();
    assert!(sock.exists());
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn systemd_units_verify_and_init_without_systemd_changes_nothing() {
    let n = TestNode::new();
    let units = n.path("units");
    let out = n.ok(&["cluster", "systemd", "--dir", &units.display().to_string()]);
    assert!(
        out.contains("dm.service") && out.contains("dm.socket"),
        "{out}"
    );
    let service = std::fs::read_to_string(units.join("dm.service")).unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart={} serve --state-dir {}",
            crate::common::dm_bin(),
            n.state_dir().display()
        )),
        "{service}"
    );
    let socket = std::fs::read_to_string(units.join("dm.socket")).unwrap();
    assert!(
        socket.contains(&format!("ListenStream={}", n.plugin_socket().display())),
        "{socket}"
    );
    // The man pages the units point at are ours, in a MANPATH layout.
    let man = n.path("man");
    std::fs::create_dir_all(&man).unwrap();
    std::os::unix::fs::symlink(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man"),
        man.join("man1"),
    )
    .unwrap();
    let v = Command::new("systemd-analyze")
        .arg("verify")
        .args([units.join("dm.socket"), units.join("dm.service")])
        .env("MANPATH", &man)
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // On a machine without systemd, --systemd refuses before creating anything.
    let m = TestNode::uninitialised();
    let mut args = m.init_args("256M");
    args.push("--systemd".into());
    let r = m.dm(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("systemd is not running"), "{}", r.stderr);
    assert!(!m.state_dir().join("node.toml").exists());
    let pools = Command::new("zpool")
        .args(["list", "-H", "-o", "name"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&pools.stdout)
            .lines()
            .any(|p| p == m.pool)
    );
}

#[test]
fn a_certificate_near_expiry_warns_with_how_to_renew_it() {
    let n = TestNode::uninitialised();
    let (cert, key) = (n.path("cert.pem"), n.path("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-days", "20", "-subj"])
        .arg(format!("/CN={}", n.addr))
        .arg("-addext")
        .arg(format!("subjectAltName=IP:{}", n.addr))
        // A server's certificate, not a CA's (openssl's default for -x509).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut args = n.init_args("256M");
    args.extend([
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]);
    let r = n.dm(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = n.dm(&["cluster", "status"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("certificates"))
        .unwrap();
    assert!(line.starts_with("WARN"), "{line}");
    // 20 days from the second openssl ran: 20 if it is still that second, else 19 and some.
    assert!(
        line.contains("API")
            && (line.contains("expires in 19 days") || line.contains("expires in 20 days")),
        "{line}"
    );
    assert!(line.contains("dm cluster upgrade"), "{line}");
}
