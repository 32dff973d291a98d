//! The Docker volume plugin against a real dockerd (started by scripts/services.sh), with the
//! offline `local/busybox` image and `--network none`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{TestNode, eventually};

pub(crate) struct Docker<'a> {
    node: &'a TestNode,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl<'a> Docker<'a> {
    pub(crate) fn new(node: &'a TestNode) -> Self {
        Docker {
            node,
            containers: Vec::new(),
            volumes: Vec::new(),
        }
    }

    pub(crate) fn raw(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.raw(args);
        assert_eq!(code, 0, "docker {args:?}: {err}");
        out
    }

    /// `docker run` with our driver; `detach` keeps it running under `name`.
    pub(crate) fn run(&mut self, name: &str, volume: &str, detach: bool, script: &str) -> String {
        let cname = format!("{}-{name}", self.node.pool);
        let spec = format!("{volume}:/data");
        if !self.volumes.contains(&volume.to_string()) {
            self.volumes.push(volume.to_string());
        }
        self.containers.push(cname.clone());
        let mut args = vec![
            "run",
            "--network",
            "none",
            "--name",
            &cname,
            "--volume-driver",
            self.node.driver(),
            "-v",
            &spec,
        ];
        if detach {
            args.push("-d");
        }
        args.extend(["local/busybox", "sh", "-c", script]);
        let out = self.ok(&args);
        if !detach {
            self.ok(&["rm", &cname]);
        }
        out
    }

    pub(crate) fn cname(&self, name: &str) -> String {
        format!("{}-{name}", self.node.pool)
    }
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.raw(&["rm", "-f", c]);
        }
        for v in &self.volumes {
            let _ = self.raw(&["volume", "rm", "-f", v]);
        }
    }
}

fn path(n: &TestNode, r: &str) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path", r]).trim())
}

#[test]
fn container_writes_commit_reset_and_fresh_container_sees_committed_state() {
    let n = TestNode::new();
    let mut d = Docker::new(&n);
    d.run("w1", "mydot", false, "echo one > /data/f");
    // the dot was created on first use
    n.ok(&["switch", "mydot"]);
    assert_eq!(
        std::fs::read_to_string(path(&n, "mydot").join("f")).unwrap(),
        "one\n"
    );
    n.ok(&["commit", "-m", "from a container"]);
    d.run(
        "w2",
        "mydot",
        false,
        "echo two > /data/f; echo extra > /data/g",
    );
    n.ok(&["reset", "--hard", "HEAD"]);
    let out = d.run("r1", "mydot", false, "cat /data/f; ls /data");
    assert_eq!(out, "one\nf", "committed content only");
}

#[test]
fn two_containers_on_two_subdots_and_refusals_while_mounted() {
    let n = TestNode::new();
    let mut d = Docker::new(&n);
    d.run("a", "app.a", true, "echo a > /data/x; sleep 300");
    d.run("b", "app.b", true, "echo b > /data/x; sleep 300");
    n.ok(&["switch", "app"]);
    assert!(eventually(20, || std::fs::read_to_string(
        path(&n, "app.b").join("x")
    )
    .is_ok()));
    assert_eq!(
        std::fs::read_to_string(path(&n, "app.a").join("x")).unwrap(),
        "a\n"
    );
    n.ok(&["commit", "-m", "both running"]);

    let list = n.json(&["list", "--json"]);
    let held: Vec<String> = list[0]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(
        held.contains(&d.cname("a")) && held.contains(&d.cname("b")),
        "{held:?}"
    );

    let err = n.fails(&["reset", "--hard", "HEAD"]);
    assert!(
        err.contains("in use by container(s)")
            && err.contains(&d.cname("a"))
            && err.contains("--force"),
        "{err}"
    );
    let err = n.fails(&["dot", "delete", "-y", "app"]);
    assert!(err.contains(&d.cname("b")), "{err}");

    // Unmounting one container's subdot leaves the other working.
    d.ok(&["rm", "-f", &d.cname("a")]);
    d.ok(&["exec", &d.cname("b"), "sh", "-c", "echo b2 > /data/x"]);
    assert_eq!(
        std::fs::read_to_string(path(&n, "app.b").join("x")).unwrap(),
        "b2\n"
    );
    let show = n.json(&["dot", "show", "--json"]);
    let held = &show["branches"][0]["containers"];
    assert_eq!(held, &serde_json::json!([d.cname("b")]));

    // --force rolls back under the running container and says to restart it.
    let out = n.ok(&["reset", "--hard", "--force", "HEAD"]);
    assert!(
        out.contains("Restart the containers") && out.contains(&d.cname("b")),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(path(&n, "app.b").join("x")).unwrap(),
        "b\n"
    );
    // A file the container looked for while it was absent is readable there right after a
    // reset brings it back (zfs-fuse keeps failed lookups for an hour otherwise).
    std::fs::write(path(&n, "app.b").join("late"), "back").unwrap();
    n.ok(&["commit", "-m", "with late"]);
    let with_late = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(path(&n, "app.b").join("late")).unwrap();
    n.ok(&["commit", "-m", "without"]);
    d.ok(&["exec", &d.cname("b"), "sh", "-c", "test ! -e /data/late"]);
    n.ok(&["reset", "--hard", "--force", &with_late]);
    let seen = d.ok(&["exec", &d.cname("b"), "cat", "/data/late"]);
    assert_eq!(seen.trim(), "back");
    d.ok(&["rm", "-f", &d.cname("b")]);
    n.ok(&["dot", "delete", "-y", "app"]);
}

#[test]
fn branch_named_in_the_volume() {
    let n = TestNode::new();
    let mut d = Docker::new(&n);
    d.run("m", "bdot", false, "echo master > /data/f");
    n.ok(&["switch", "bdot"]);
    n.ok(&["commit", "-m", "m"]);
    n.ok(&["checkout", "-b", "dev"]);
    std::fs::write(path(&n, "bdot").join("f"), "dev\n").unwrap();
    n.ok(&["commit", "-m", "d"]);
    assert_eq!(d.run("rd", "bdot@dev", false, "cat /data/f"), "dev");
    assert_eq!(d.run("rm", "bdot", false, "cat /data/f"), "master");
    let (code, _, err) = d.raw(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volume-driver",
        n.driver(),
        "-v",
        "bdot@nope:/data",
        "local/busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("branch 'nope'") && err.contains("dm checkout -b"),
        "{err}"
    );
    // a namespace in the volume name
    d.run("ns", "alice/nsdot", false, "echo x > /data/f");
    let list = n.json(&["list", "--json"]);
    let rows = list.as_array().unwrap();
    assert!(rows.iter().any(|r| r["dot"] == "alice/nsdot"), "{list}");
    // `docker volume create` makes the dot; `docker volume rm` keeps its data
    d.volumes.push("made-by-docker".into());
    d.ok(&["volume", "create", "-d", n.driver(), "made-by-docker"]);
    n.ok(&["switch", "made-by-docker"]);
    d.ok(&["volume", "rm", "made-by-docker"]);
    // Gone from Docker now; removing an unknown name again makes dockerd ask every driver it has
    // ever seen, including other tests' vanished ones, with long retries.
    d.volumes.retain(|v| v != "made-by-docker");
    n.ok(&["dot", "show", "made-by-docker"]);
}

#[test]
fn daemon_killed_while_a_container_holds_a_mount() {
    let n = TestNode::new();
    let mut d = Docker::new(&n);
    d.run("hold", "kept", true, "echo before > /data/f; sleep 300");
    n.ok(&["switch", "kept"]);
    assert!(eventually(20, || std::fs::read_to_string(
        path(&n, "kept").join("f")
    )
    .is_ok()));
    n.kill_daemon();
    // the container's data stays readable and writable with the daemon gone
    d.ok(&[
        "exec",
        &d.cname("hold"),
        "sh",
        "-c",
        "echo during >> /data/f",
    ]);
    let r = n.dm(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&d.cname("hold")),
        "mount remembered across restart: {}",
        r.stdout
    );
    assert_eq!(
        d.ok(&["exec", &d.cname("hold"), "cat", "/data/f"]),
        "before\nduring"
    );
    d.ok(&["rm", "-f", &d.cname("hold")]);
    assert!(eventually(10, || {
        n.json(&["list", "--json"])[0]["containers"]
            .as_array()
            .unwrap()
            .is_empty()
    }));
    n.ok(&["dot", "delete", "-y", "kept"]);
}

#[test]
fn malformed_plugin_requests_get_err_replies() {
    let n = TestNode::new();
    let call = |url: &str, body: &str| -> String {
        let mut s = UnixStream::connect(n.plugin_socket()).unwrap();
        write!(s, "POST {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(call("/Plugin.Activate", "").contains("VolumeDriver"));
    assert!(call("/VolumeDriver.Mount", "{garbage").contains("\"Err\":\"malformed request"));
    let bad = call("/VolumeDriver.Mount", r#"{"Name":"../etc","ID":"x"}"#);
    assert!(
        bad.contains("invalid namespace name") && bad.contains("[NAMESPACE/]DOT"),
        "{bad}"
    );
    assert!(call("/VolumeDriver.Get", r#"{"Name":"ghost"}"#).contains("no such volume"));
    assert!(call("/VolumeDriver.Bogus", "{}").contains("unknown plugin call"));
    let list = call("/VolumeDriver.List", "");
    assert!(list.contains("\"Volumes\":[]"), "{list}");
    n.ok(&["list"]);
}
