//! The Kubernetes FlexVolume driver as kubelet runs it: the copy the daemon installs into the
//! plugin directory, called with kubelet's arguments, against a real daemon, zfs-fuse and etcd.
//! (The same driver under a real kubelet: `kubernetes.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Runs the installed driver as kubelet does; its whole output is one JSON object.
fn call(driver: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(driver).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("driver output is not one JSON object ({e}): {text:?}"));
    (out.status.code().unwrap_or(-1), v)
}

fn kubelet_dir(n: &TestNode, pod: &str) -> PathBuf {
    let d = n.path(&format!("kubelet/pods/{pod}/volumes/dotmesh.io~dm/data"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_daemon_installs_the_driver_and_mounts_subdots_for_kubelet() {
    let plugins = tempfile::tempdir().unwrap();
    let dir = plugins.path().display().to_string();
    let n = TestNode::with_args("256M", &["--flexvolume-dir", &dir]);
    let driver = plugins.path().join("dotmesh.io~dm/dm");
    assert_eq!(
        std::fs::read(&driver).unwrap(),
        std::fs::read(dm_bin()).unwrap(),
        "the driver is the daemon's own binary"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let sock = plugins.path().join("dotmesh.io~dm/dm.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only root may ask the daemon for mounts");

    let (code, v) = call(&driver, &["init"]);
    assert_eq!(code, 0);
    assert_eq!(
        v,
        serde_json::json!({"status": "Success", "capabilities": {"attach": false}})
    );
    let (code, v) = call(&driver, &["getvolumename", "{}"]);
    assert_eq!((code, v["status"].as_str()), (0, Some("Not supported")));

    // A pod's volume: the dot is made on first use, the subdot shows at kubelet's directory.
    let target = kubelet_dir(&n, "pod1");
    let t = target.display().to_string();
    let opts = r#"{"kubernetes.io/fsType":"","kubernetes.io/pod.name":"web","kubernetes.io/pod.namespace":"default","kubernetes.io/readwrite":"rw","name":"apples","subdot":"site"}"#;
    let (code, v) = call(&driver, &["mount", &t, opts]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "Success", "{v}");
    assert!(mounted(&target), "kubelet's directory is a mount");
    std::fs::write(target.join("index.html"), "from a pod").unwrap();
    let in_dot = PathBuf::from(n.ok(&["dot", "path", "apples.site"]).trim());
    assert_eq!(
        std::fs::read_to_string(in_dot.join("index.html")).unwrap(),
        "from a pod"
    );
    n.ok(&["commit", "--dot", "apples", "-m", "written by a pod"]);
    assert!(n.ok(&["log", "apples"]).contains("written by a pod"));
    // The same call again (kubelet retried): nothing more is mounted.
    let (code, _) = call(&driver, &["mount", &t, opts]);
    assert_eq!(code, 0);
    // While the pod holds it, the dot is not deleted under it.
    let err = n.fails(&["dot", "delete", "-y", "apples"]);
    assert!(err.contains("Kubernetes pod"), "{err}");

    let (code, v) = call(&driver, &["unmount", &t]);
    assert_eq!((code, v["status"].as_str()), (0, Some("Success")), "{v}");
    assert!(!mounted(&target));
    assert!(!target.join("index.html").exists());
    let (code, _) = call(&driver, &["unmount", &t]);
    assert_eq!(code, 0, "unmounting again is fine");

    // Bad input fails with what to fix, and mounts nothing.
    let other = kubelet_dir(&n, "pod2");
    let o = other.display().to_string();
    for (opts, says) in [
        (r#"{"subdot":"x"}"#, "option 'name' is missing"),
        (r#"{"name":"apples","subdot":"../../etc"}"#, "subdot"),
        (r#"{"name":"no/such/dot"}"#, "name"),
        (r#"{"name":"apples","namespace":"bob"}"#, ""),
    ] {
        let (code, v) = call(&driver, &["mount", &o, opts]);
        if says.is_empty() {
            // Another namespace is fine for the admin-only socket: bob's own dot.
            assert_eq!(code, 0, "{v}");
            call(&driver, &["unmount", &o]);
            continue;
        }
        assert_eq!(code, 1, "{opts}: {v}");
        assert_eq!(v["status"], "Failure");
        assert!(v["message"].as_str().unwrap().contains(says), "{opts}: {v}");
        assert!(!mounted(&other));
    }
    let link = n.path("kubelet/link");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    let (code, v) = call(
        &driver,
        &["mount", &link.display().to_string(), r#"{"name":"apples"}"#],
    );
    assert_eq!(code, 1, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("symbolic link"),
        "{v}"
    );

    // An older driver left in place is replaced when the daemon starts again.
    std::fs::write(&driver, "#!/bin/sh\necho old\n").unwrap();
    n.ok(&[
        "cluster",
        "upgrade",
        "--state-dir",
        &n.state_dir().display().to_string(),
    ]);
    assert_eq!(
        std::fs::read(&driver).unwrap(),
        std::fs::read(dm_bin()).unwrap()
    );
    let (code, _) = call(&driver, &["init"]);
    assert_eq!(code, 0);
}

#[test]
fn a_pod_on_another_node_gets_the_branch_with_its_uncommitted_changes() {
    let a = TestNode::new();
    let plugins = tempfile::tempdir().unwrap();
    let b = TestNode::join_with(
        &a,
        &["--flexvolume-dir", &plugins.path().display().to_string()],
    );
    a.ok(&["init", "moving"]);
    let on_a = PathBuf::from(a.ok(&["dot", "path", "moving"]).trim().to_string());
    std::fs::write(on_a.join("committed"), "c").unwrap();
    a.ok(&["commit", "--dot", "moving", "-m", "on a"]);
    std::fs::write(on_a.join("dirty"), "not committed").unwrap();

    // Kubelet on B mounts it: the master moves to B with the uncommitted file.
    let driver = plugins.path().join("dotmesh.io~dm/dm");
    let target = kubelet_dir(&b, "pod-b");
    let (code, v) = call(
        &driver,
        &[
            "mount",
            &target.display().to_string(),
            r#"{"name":"moving"}"#,
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        std::fs::read_to_string(target.join("dirty")).unwrap(),
        "not committed"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("committed")).unwrap(),
        "c"
    );
    let show = b.json(&["dot", "show", "moving", "--json"]);
    let master = show["branches"][0]["master_node"]
        .as_str()
        .unwrap()
        .to_string();
    let b_id = b
        .json(&["cluster", "nodes", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"].as_str() == Some(b.addr.as_str()))
        .map(|n| n["id"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(master, b_id, "the branch's master is the pod's node");
    // What the pod wrote is committed on the pod's node.
    std::fs::write(target.join("from-pod"), "p").unwrap();
    b.ok(&["commit", "--dot", "moving", "-m", "from the pod's node"]);
    let (code, _) = call(&driver, &["unmount", &target.display().to_string()]);
    assert_eq!(code, 0);
    assert!(!mounted(&target));
}

#[test]
fn a_kubelet_root_reached_through_a_link_still_mounts_and_unmounts() {
    let plugins = tempfile::tempdir().unwrap();
    let n = TestNode::with_args(
        "256M",
        &["--flexvolume-dir", &plugins.path().display().to_string()],
    );
    let driver = plugins.path().join("dotmesh.io~dm/dm");
    // /var/lib/kubelet moved elsewhere and linked back, as some hosts have it.
    let real = n.path("data/kubelet");
    std::fs::create_dir_all(real.join("pods/p/volumes/dotmesh.io~dm/v")).unwrap();
    std::os::unix::fs::symlink(&real, n.path("kubelet")).unwrap();
    let via_link = n.path("kubelet/pods/p/volumes/dotmesh.io~dm/v");
    let t = via_link.display().to_string();
    let (code, v) = call(&driver, &["mount", &t, r#"{"name":"linked"}"#]);
    assert_eq!(code, 0, "{v}");
    std::fs::write(via_link.join("f"), "x").unwrap();
    let in_dot = PathBuf::from(n.ok(&["dot", "path", "linked"]).trim().to_string());
    assert_eq!(std::fs::read_to_string(in_dot.join("f")).unwrap(), "x");
    let (code, v) = call(&driver, &["unmount", &t]);
    assert_eq!(code, 0, "{v}");
    assert!(!mounted(&real.join("pods/p/volumes/dotmesh.io~dm/v")));
    n.ok(&["dot", "delete", "-y", "linked"]);
}
