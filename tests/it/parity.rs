//! Behaviours Dotmesh users rely on, replayed from Dotmesh's own acceptance cases: the one dot
//! as the current one, clone names, read-only commits, API keys, replication in `dm dot show`,
//! pushing a branch with its base, and containers following a checkout.

use crate::common::{TestNode, field};

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

#[test]
fn clone_names_the_local_dot_exactly_and_pull_finds_the_far_one() {
    let (here, hub) = (TestNode::new(), TestNode::new());
    here.add_remote(&hub, "hub", "admin", &hub.api_key());
    hub.ok(&["init", "bob/apples"]);
    let hdir = std::path::PathBuf::from(hub.ok(&["dot", "path"]).trim());
    std::fs::write(hdir.join("kind"), "bramley").unwrap();
    hub.ok(&["commit", "-m", "one"]);

    here.ok(&["clone", "hub", "bob/apples", "--local-name", "bob-apples"]);
    // In this user's namespace under exactly that name: what `-v bob-apples` means.
    let list = here.json(&["list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dot"].as_str().unwrap())
        .collect();
    // Shown as the user's own dot: no namespace.
    assert_eq!(names, ["bob-apples"]);
    let mut docker = crate::docker::Docker::new(&here);
    let out = docker.run("read", "bob-apples", false, "cat /data/kind");
    assert_eq!(out.trim(), "bramley");

    // A later pull finds the far dot by the name it was cloned from.
    std::fs::write(hdir.join("kind"), "cox").unwrap();
    hub.ok(&["commit", "-m", "two"]);
    here.ok(&["pull", "hub", "bob-apples"]);
    assert_eq!(
        here.json(&["log", "--json", "bob-apples"])[0]["message"],
        "two"
    );

    // A namespace may be given; a branch or subdot may not.
    here.ok(&["clone", "hub", "bob/apples", "--local-name", "bob/apples2"]);
    assert!(
        here.json(&["log", "--json", "bob/apples2"])
            .as_array()
            .is_some_and(|l| l.len() == 2)
    );
    let err = here.fails(&["clone", "hub", "bob/apples", "--local-name", "x@feature"]);
    assert!(err.contains("without a branch"), "{err}");
}

#[test]
fn dot_show_says_which_node_holds_which_commit() {
    let a = TestNode::new();
    a.ok(&["init", "d"]);
    a.ok(&["commit", "-m", "one"]);
    let b = TestNode::join(&a);
    // A third node, so etcd keeps its majority while b is down.
    let _c = TestNode::join(&a);
    let newest = a.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let replicas = |n: &TestNode| {
        let v = n.json(&["dot", "show", "d", "--json"]);
        v["branches"][0]["replicas"].as_array().unwrap().clone()
    };
    let id = |n: &TestNode| n.json(&["cluster", "status", "--json"])["node"].clone();
    let (aid, bid) = (id(&a), id(&b));
    let of = |list: &[serde_json::Value], node: &serde_json::Value| {
        list.iter().find(|r| r["node"] == *node).unwrap().clone()
    };
    assert!(crate::common::eventually(30, || {
        replicas(&a).iter().all(|r| r["up_to_date"] == true)
    }));
    let list = replicas(&a);
    assert_eq!(list.len(), 3);
    let (ra, rb) = (of(&list, &aid), of(&list, &bid));
    assert_eq!(ra["master"], true);
    assert_eq!(rb["master"], false);
    assert_eq!(rb["newest_commit"], newest.as_str());
    assert_eq!(rb["alive"], true);

    // b goes down and a commits: b is shown down and one commit behind, in text too.
    b.kill_daemon();
    a.ok(&["commit", "-m", "two"]);
    assert!(crate::common::eventually(30, || {
        let r = of(&replicas(&a), &aid);
        r["up_to_date"] == true && r["newest_commit"] != newest.as_str()
    }));
    let list = replicas(&a);
    let rb = of(&list, &bid);
    assert_eq!(rb["behind"], 1);
    assert_eq!(rb["up_to_date"], false);
    assert!(crate::common::eventually(30, || {
        let text = a.ok(&["dot", "show", "d"]);
        text.contains(&format!(
            "node {} (DOWN): 1 commit(s) behind",
            bid.as_str().unwrap()
        ))
    }));
}

#[test]
fn a_branch_pushed_where_the_dot_is_missing_takes_its_base_along() {
    let (here, hub) = (TestNode::new(), TestNode::new());
    here.add_remote(&hub, "hub", "admin", &hub.api_key());
    here.ok(&["init", "d"]);
    let dir = std::path::PathBuf::from(here.ok(&["dot", "path"]).trim());
    for c in ["m1", "m2"] {
        std::fs::write(dir.join("f"), c).unwrap();
        here.ok(&["commit", "-m", c]);
    }
    here.ok(&["checkout", "-b", "feature"]);
    let fdir = std::path::PathBuf::from(here.ok(&["dot", "path"]).trim());
    std::fs::write(fdir.join("f"), "f1").unwrap();
    here.ok(&["commit", "-m", "f1"]);
    // master moves on after the branch point: that commit is not the branch's to carry.
    here.ok(&["checkout", "master"]);
    std::fs::write(dir.join("f"), "m3").unwrap();
    here.ok(&["commit", "-m", "m3"]);

    // PushCommitBranchNoExtantBase: one push makes the dot there with what the branch needs.
    let out = here.ok(&["push", "hub", "d", "--branch", "feature"]);
    assert!(out.contains("Pushed 3 commit(s)"), "{out}");
    let msgs = |n: &TestNode, b: &str| -> Vec<String> {
        crate::common::field(&n.json(&["log", "--json", &format!("d@{b}")]), "message")
    };
    assert_eq!(msgs(&hub, "feature"), ["f1", "m2", "m1"]);
    assert_eq!(msgs(&hub, "master"), ["m2", "m1"]);
    let head =
        |n: &TestNode, b: &str| n.json(&["log", "--json", &format!("d@{b}")])[0]["id"].clone();
    assert_eq!(head(&hub, "feature"), head(&here, "feature"));
    // The rest of master follows with a plain push, on top of what is there.
    let out = here.ok(&["push", "hub", "d"]);
    assert!(out.contains("Pushed 1 commit(s)"), "{out}");
    assert_eq!(msgs(&hub, "master"), ["m3", "m2", "m1"]);

    // Issue226: the dot is there, the commit the branch grew from is not yet: it goes first.
    std::fs::write(dir.join("f"), "m4").unwrap();
    here.ok(&["commit", "-m", "m4"]);
    here.ok(&["checkout", "-b", "hotfix"]);
    let hdir = std::path::PathBuf::from(here.ok(&["dot", "path"]).trim());
    std::fs::write(hdir.join("f"), "h1").unwrap();
    here.ok(&["commit", "-m", "h1"]);
    let out = here.ok(&["push", "hub", "d", "--branch", "hotfix"]);
    assert!(out.contains("Pushed 2 commit(s)"), "{out}");
    assert_eq!(msgs(&hub, "hotfix"), ["h1", "m4", "m3", "m2", "m1"]);
    assert_eq!(msgs(&hub, "master"), ["m4", "m3", "m2", "m1"]);
}

#[test]
fn api_keys_are_shown_for_the_password_reset_and_dead_at_once() {
    let n = TestNode::new();
    let add = n.ok(&["user", "add", "bob"]);
    let key1 = add.trim().to_string();
    n.add_remote(&n, "asbob", "bob", &key1);
    n.ok(&["remote", "switch", "asbob"]);
    let as_bob = |args: &[&str]| n.ok(args);
    // Signed in with the key: it is shown.
    assert_eq!(as_bob(&["user", "key"]).trim(), key1);

    // A password, then the key shown to it alone (on a machine that lost the key).
    let pw = n.path("pw");
    std::fs::write(&pw, "apple-tree-42\n").unwrap();
    let pwf = pw.display().to_string();
    as_bob(&["user", "passwd", "--password-file", &pwf]);
    assert_eq!(
        as_bob(&["user", "key", "--password-file", &pwf]).trim(),
        key1
    );
    let wrong = n.path("wrong");
    std::fs::write(&wrong, "pear-tree-42").unwrap();
    let r = n.dm(&[
        "user",
        "key",
        "--password-file",
        &wrong.display().to_string(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("credentials"), "{}", r.stderr);

    // A reset: the remote takes the new key, the old one is refused at once.
    let key2 = as_bob(&["user", "key", "reset", "--password-file", &pwf])
        .trim()
        .to_string();
    assert_ne!(key2, key1);
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key1)), b"").0, 401);
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key2)), b"").0, 200);
    as_bob(&["init", "mine"]);
    // Reset with the password: the password still shows the new key.
    assert_eq!(
        as_bob(&["user", "key", "--password-file", &pwf]).trim(),
        key2
    );

    // Admin resets bob's key: bob's old key dies; the password no longer shows a key (admin
    // never knew the password), and says how to get one.
    n.ok(&["remote", "switch", "local"]);
    let key3 = n
        .ok(&["user", "key", "reset", "--user", "bob"])
        .trim()
        .to_string();
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key2)), b"").0, 401);
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key3)), b"").0, 200);
    n.ok(&["remote", "switch", "asbob"]);
    let r = n.dm(&["user", "key", "--password-file", &pwf]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("dm user key reset"), "{}", r.stderr);

    // Only admin touches others; nobody touches admin's key here.
    n.ok(&["remote", "switch", "local"]);
    n.ok(&["user", "add", "eve"]);
    let short = n.path("short");
    std::fs::write(&short, "abc").unwrap();
    let r = n.dm(&[
        "user",
        "passwd",
        "--user",
        "eve",
        "--password-file",
        &short.display().to_string(),
    ]);
    assert!(r.stderr.contains("at least 8"), "{}", r.stderr);
    let r = n.dm(&["user", "key", "reset"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("node.toml"), "{}", r.stderr);
    let eve_key = {
        let (s, body) = n.http(
            "POST",
            "/v1/users/eve/key",
            Some(("admin", &n.api_key())),
            b"{}",
        );
        assert_eq!(s, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (s, _) = n.http("POST", "/v1/users/bob/key", Some(("eve", &eve_key)), b"{}");
    assert_eq!(s, 403, "eve may not reset bob's key");
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key3)), b"").0, 200);
    let (s, _) = n.http("GET", "/v1/users/bob/key", Some(("eve", &eve_key)), b"");
    assert_eq!(s, 401, "nor see it");

    // Admin lists and removes users: a removed user's key dies at once, its dots stay.
    let list = n.ok(&["user", "list"]);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        [
            "admin  (key kept by each node)",
            "bob  (password set)",
            "eve"
        ]
    );
    let (s, _) = n.http("GET", "/v1/users", Some(("eve", &eve_key)), b"");
    assert_eq!(s, 403, "eve may not list users");
    let (s, _) = n.http("DELETE", "/v1/users/bob", Some(("eve", &eve_key)), b"");
    assert_eq!(s, 403, "nor remove them");
    let out = n.ok(&["user", "rm", "bob"]);
    assert!(out.contains("namespace 'bob' stay"), "{out}");
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &key3)), b"").0, 401);
    let users = field(&n.json(&["user", "list", "--json"]), "name");
    assert_eq!(users, ["admin", "eve"]);
    let dots = n.json(&["list", "--json"]);
    assert!(dots.to_string().contains("\"bob/mine\""), "{dots}");
    let r = n.dm(&["user", "rm", "bob"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no user 'bob'"), "{}", r.stderr);
    let r = n.dm(&["user", "rm", "admin"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("admin cannot be removed"), "{}", r.stderr);
    // The name can be taken again, with a new key.
    let again = n.ok(&["user", "add", "bob"]).trim().to_string();
    assert_ne!(again, key3);
    assert_eq!(n.http("GET", "/v1/dots", Some(("bob", &again)), b"").0, 200);
}

#[test]
fn a_commit_mounts_read_only_on_any_node_that_has_it() {
    let a = TestNode::new();
    a.ok(&["init", "d"]);
    let live = std::path::PathBuf::from(a.ok(&["dot", "path"]).trim());
    std::fs::write(live.join("f"), "one").unwrap();
    a.ok(&["commit", "-m", "one"]);
    let c1 = a.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok(&["tag", "v1"]);
    std::fs::write(live.join("f"), "two").unwrap();
    a.ok(&["commit", "-m", "two"]);
    std::fs::write(live.join("f"), "uncommitted").unwrap();

    // MountCommit: by id prefix or tag, the same read-only view.
    let view = std::path::PathBuf::from(a.ok(&["dot", "path", "--commit", &c1[..10]]).trim());
    assert_eq!(std::fs::read_to_string(view.join("f")).unwrap(), "one");
    assert_eq!(
        a.ok(&["dot", "path", "--commit", "v1"]).trim(),
        view.display().to_string()
    );
    let err = std::fs::write(view.join("f"), "no").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(30), "EROFS: {err}");
    // The live branch is untouched, uncommitted changes and all.
    assert_eq!(
        std::fs::read_to_string(live.join("f")).unwrap(),
        "uncommitted"
    );

    // In a container: `-v DOT^COMMIT`.
    let mut docker = crate::docker::Docker::new(&a);
    let vol = format!("d^{c1}");
    let out = docker.run(
        "ro",
        &vol,
        false,
        "cat /data/f; echo; echo x > /data/f 2>/dev/null && echo WROTE || echo REFUSED",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["one", "REFUSED"]
    );
    // A name that is not a commit of the branch, or a dot that does not exist: refused, and
    // no empty dot is made.
    let try_volume = |volume: &str| {
        let spec = format!("{volume}:/data");
        docker.raw(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--volume-driver",
            a.driver(),
            "-v",
            &spec,
            "local/busybox",
            "true",
        ])
    };
    let (code, _, err) = try_volume("d^0123456789");
    assert_ne!(code, 0);
    assert!(err.contains("0123456789"), "{err}");
    let (code, _, _) = try_volume(&format!("nodot^{c1}"));
    assert_ne!(code, 0);
    assert!(a.dm(&["log", "nodot"]).code != 0, "no dot was made");
    // Elsewhere the CLI says where a commit can go.
    let err = a.fails(&["log", &format!("d^{c1}")]);
    assert!(err.contains("--commit"), "{err}");

    // On a node the branch does not live on: its copy of the commit, master left where it is.
    let b = TestNode::join(&a);
    b.ok(&["switch", "d"]);
    let bview = std::path::PathBuf::from(b.ok(&["dot", "path", "--commit", "v1"]).trim());
    assert_eq!(std::fs::read_to_string(bview.join("f")).unwrap(), "one");
    let show = a.json(&["dot", "show", "--json"]);
    let master = show["branches"][0]["master_node"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        a.json(&["cluster", "status", "--json"])["node"].as_str(),
        Some(master.as_str()),
        "the branch stayed on a"
    );
    assert_eq!(
        std::fs::read_to_string(live.join("f")).unwrap(),
        "uncommitted"
    );
}

/// A container's script that exits on SIGTERM at once, so a restart takes no stop timeout.
const IDLE: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

#[test]
fn checkout_can_move_the_containers_that_mount_the_dot() {
    let n = TestNode::new();
    n.ok(&["init", "app"]);
    let dir = |n: &TestNode| std::path::PathBuf::from(n.ok(&["dot", "path"]).trim());
    std::fs::write(dir(&n).join("f"), "master").unwrap();
    n.ok(&["commit", "-m", "m"]);
    n.ok(&["checkout", "-b", "feature"]);
    std::fs::write(dir(&n).join("f"), "feature").unwrap();
    n.ok(&["commit", "-m", "f"]);
    n.ok(&["checkout", "master"]);

    let mut docker = crate::docker::Docker::new(&n);
    // (Docker takes a one-letter `-v d` for an anonymous volume: the dot has a longer name.)
    docker.run("web", "app", true, IDLE);
    docker.run("pinned", "app@master", true, IDLE);
    let sees = |c: &str| docker.ok(&["exec", &docker.cname(c), "cat", "/data/f"]);
    assert_eq!(sees("web"), "master");

    // Branch, SubdotSwitch: the bare-named container follows the checkout; the pinned stays.
    let out = n.ok(&["checkout", "feature", "--move-containers"]);
    assert!(
        out.contains(&format!(
            "Moved container(s) {} to branch 'feature'",
            docker.cname("web")
        )),
        "{out}"
    );
    assert!(!out.contains(&docker.cname("pinned")), "{out}");
    assert_eq!(sees("web"), "feature");
    assert_eq!(sees("pinned"), "master");

    // As the dot's default.
    let out = n.ok(&["dot", "settings", "--move-containers", "on"]);
    assert!(
        out.contains("move-containers: on") && out.contains("containers' branch: feature"),
        "{out}"
    );
    let out = n.ok(&["checkout", "master"]);
    assert!(out.contains("Moved container(s)"), "{out}");
    assert_eq!(sees("web"), "master");
    // Asked not to, this once.
    let out = n.ok(&["checkout", "feature", "--no-move-containers"]);
    assert!(!out.contains("Moved"), "{out}");
    assert_eq!(sees("web"), "master");
    // New bare-named containers get the containers' branch.
    assert_eq!(
        n.json(&["dot", "settings", "--json"])["containers_branch"],
        serde_json::Value::Null,
        "master is the default"
    );
    let bad = n.dm(&["dot", "settings", "--move-containers", "maybe"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    // Docker not answering: the branch is still recorded, and the warning says what was left.
    let node_toml = n.state_dir().join("node.toml");
    let text = std::fs::read_to_string(&node_toml).unwrap();
    let mut cfg: toml::Table = toml::from_str(&text).unwrap();
    cfg.insert(
        "docker_api_socket".into(),
        n.path("no-docker.sock").display().to_string().into(),
    );
    std::fs::write(&node_toml, toml::to_string(&cfg).unwrap()).unwrap();
    n.ok(&["cluster", "upgrade"]);
    let r = n.dm(&["checkout", "feature", "--move-containers"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("could not move the containers on node")
            && r.stderr.contains("cannot ask Docker"),
        "{}",
        r.stderr
    );
    assert_eq!(
        n.json(&["dot", "settings", "--json"])["containers_branch"],
        "feature"
    );
    assert_eq!(sees("web"), "master", "left where it was");
}

#[test]
fn checkout_moves_the_containers_on_every_node() {
    let a = TestNode::new();
    a.ok(&["init", "shop"]);
    let dir = |n: &TestNode| std::path::PathBuf::from(n.ok(&["dot", "path"]).trim());
    std::fs::write(dir(&a).join("f"), "master").unwrap();
    a.ok(&["commit", "-m", "m"]);
    a.ok(&["checkout", "-b", "feature"]);
    std::fs::write(dir(&a).join("f"), "feature").unwrap();
    a.ok(&["commit", "-m", "f"]);
    a.ok(&["checkout", "master"]);
    let b = TestNode::join(&a);
    let b_id = b.json(&["cluster", "status", "--json"])["node"]
        .as_str()
        .unwrap()
        .to_string();

    // A container on node b mounts the dot by its bare name; the checkout is run on a.
    let mut docker = crate::docker::Docker::new(&b);
    docker.run("web", "shop", true, IDLE);
    let sees = |c: &str| docker.ok(&["exec", &docker.cname(c), "cat", "/data/f"]);
    assert_eq!(sees("web"), "master");
    let out = a.ok(&["checkout", "feature", "--move-containers"]);
    assert!(
        out.contains(&format!(
            "Moved container(s) {} (on node {b_id}) to branch 'feature'",
            docker.cname("web")
        )),
        "{out}"
    );
    assert_eq!(sees("web"), "feature");
}
