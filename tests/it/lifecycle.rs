//! The single-node dot lifecycle, verb by verb, as a user would run it.

use std::fs;
use std::path::PathBuf;

use crate::common::{TestNode, assert_consistent, field};

fn default_dir(n: &TestNode) -> PathBuf {
    PathBuf::from(n.ok(&["dot", "path"]).trim())
}

#[test]
fn init_commit_log_branch_checkout_reset_delete() {
    let n = TestNode::new();
    let out = n.ok(&["init", "mydot"]);
    assert!(out.contains("Created dot 'mydot'"), "{out}");

    let list = n.ok(&["list"]);
    let row = list.lines().find(|l| l.contains("mydot")).unwrap();
    assert!(row.starts_with('*'), "current dot not marked: {list}");
    assert!(row.contains("master"), "{list}");

    let dir = default_dir(&n);
    assert!(dir.ends_with("__default__"), "{}", dir.display());
    fs::write(dir.join("a.txt"), "one").unwrap();
    let out = n.ok(&[
        "commit",
        "-m",
        "first commit",
        "-d",
        "env=test",
        "--metadata",
        "k2=v2",
    ]);
    assert!(out.contains("first commit"), "{out}");
    fs::write(dir.join("a.txt"), "two").unwrap();
    fs::write(dir.join("b.txt"), "bee").unwrap();
    n.ok(&["commit", "-m", "second"]);

    // log: newest first, with author, metadata; the text form looks like git's.
    let log = n.json(&["log", "--json"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["message"], "second");
    assert_eq!(log[1]["message"], "first commit");
    assert_eq!(log[1]["author"], "admin");
    assert_eq!(log[1]["metadata"]["env"], "test");
    assert_eq!(log[1]["metadata"]["k2"], "v2");
    assert!(log[0]["time"].as_u64().unwrap() >= log[1]["time"].as_u64().unwrap());
    let first = log[1]["id"].as_str().unwrap().to_string();
    let text = n.ok(&["log"]);
    assert!(
        text.starts_with(&format!(
            "commit {} (HEAD -> master)",
            log[0]["id"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains("Author: admin") && text.contains("    first commit"),
        "{text}"
    );

    let listed = n.json(&["list", "--json"]);
    assert_eq!(listed[0]["commits"], 2);
    assert_eq!(listed[0]["current"], true);

    // checkout -b: a new branch from the newest commit, marked current.
    n.ok(&["checkout", "-b", "dev"]);
    let branches = n.ok(&["branch"]);
    assert!(
        branches.contains("* dev") && branches.contains("  master"),
        "{branches}"
    );
    let dev_dir = default_dir(&n);
    assert_ne!(dev_dir, dir);
    assert_eq!(fs::read_to_string(dev_dir.join("a.txt")).unwrap(), "two");
    fs::write(dev_dir.join("dev.txt"), "dev only").unwrap();
    n.ok(&["commit", "-m", "on dev"]);
    let dev_log = n.json(&["log", "--json"]);
    assert_eq!(
        dev_log.as_array().unwrap().len(),
        3,
        "dev log includes master's history"
    );
    assert_eq!(dev_log[1]["branch"], "master");

    // back on master, dev's file is not there
    n.ok(&["checkout", "master"]);
    assert_eq!(default_dir(&n), dir);
    assert!(!dir.join("dev.txt").exists());
    let list = n.json(&["list", "--json"]);
    assert_eq!(list[0]["branch"], "master");

    // reset --hard: back to the first commit, later commits and dirty changes gone. dev grew
    // from the second commit, which the reset would remove: as in git, dev keeps it.
    fs::write(dir.join("dirty.txt"), "uncommitted").unwrap();
    let err = n.fails(&["branch", "-d", "master"]);
    assert!(err.contains("checked-out"), "{err}");
    n.fails(&["reset", "--hard", "dev-not-a-commit"]);
    let short = &first[..8];
    let out = n.ok(&["reset", "--hard", short]);
    assert!(out.contains("0 later commit(s) removed"), "{out}");
    assert_eq!(fs::read_to_string(dir.join("a.txt")).unwrap(), "one");
    assert!(!dir.join("b.txt").exists() && !dir.join("dirty.txt").exists());
    let dev_log = n.json(&["log", "mydot@dev", "--json"]);
    let msgs: Vec<&str> = dev_log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["on dev", "second", "first commit"]);
    assert_eq!(fs::read_to_string(dev_dir.join("b.txt")).unwrap(), "bee");
    assert_eq!(
        fs::read_to_string(dev_dir.join("dev.txt")).unwrap(),
        "dev only"
    );
    n.ok(&["branch", "-d", "dev"]);
    assert_eq!(n.json(&["branch", "--json"]).as_array().unwrap().len(), 1);
    let log = n.json(&["log", "--json"]);
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["id"], first.as_str());

    // dot show: mountpoint of the current branch, branches
    let show = n.json(&["dot", "show", "--json"]);
    assert_eq!(show["name"], "mydot");
    let master = show["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "master")
        .unwrap();
    assert_eq!(
        PathBuf::from(master["mountpoint"].as_str().unwrap()).join("__default__"),
        dir
    );
    let text = n.ok(&["dot", "show"]);
    assert!(
        text.contains("Mountpoint: ") && text.contains("* master"),
        "{text}"
    );

    // delete (confirmation skipped with -y); the current dot is forgotten
    n.ok(&["dot", "delete", "-y", "mydot"]);
    assert!(n.json(&["list", "--json"]).as_array().unwrap().is_empty());
    assert!(!dir.exists());
    let err = n.fails(&["commit", "-m", "x"]);
    assert!(err.contains("no current dot"), "{err}");
}

#[test]
fn switch_between_dots_and_head_references() {
    let n = TestNode::new();
    n.ok(&["init", "a"]);
    n.ok(&["init", "b"]);
    let list = n.ok(&["list"]);
    assert!(list.lines().any(|l| l.starts_with("* b")), "{list}");
    n.ok(&["switch", "a"]);
    let list = n.ok(&["list"]);
    assert!(list.lines().any(|l| l.starts_with("* a")), "{list}");
    let dir = default_dir(&n);
    for i in 0..3 {
        fs::write(dir.join("n"), i.to_string()).unwrap();
        n.ok(&["commit", "-m", &format!("c{i}")]);
    }
    n.ok(&["reset", "--hard", "HEAD~1"]);
    assert_eq!(fs::read_to_string(dir.join("n")).unwrap(), "1");
    let log = n.json(&["log", "--json"]);
    assert_eq!(log[0]["message"], "c1");
    // b is untouched
    assert!(
        n.json(&["log", "b", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A reader that goes away (`dm log | head -1`) ends the verb quietly, as in git.
    for verb in ["log", "list", "log --json"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} {verb} | (exec true); echo \"$?\"",
                crate::common::dm_bin()
            ))
            .env("HOME", n.path("home"))
            .env_remove("DM_CONFIG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{verb}: {err}"
        );
    }
}

#[test]
fn reset_to_a_commit_from_before_the_branch_was_made() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let dir = default_dir(&n);
    fs::write(dir.join("f"), "m1").unwrap();
    n.ok(&["commit", "-m", "m1"]);
    let m1 = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(dir.join("f"), "m2").unwrap();
    n.ok(&["commit", "-m", "m2"]);
    n.ok(&["checkout", "-b", "dev"]);
    let dev = default_dir(&n);
    fs::write(dev.join("f"), "d1").unwrap();
    n.ok(&["commit", "-m", "d1"]);
    n.ok(&["reset", "--hard", &m1]);
    assert_eq!(fs::read_to_string(default_dir(&n).join("f")).unwrap(), "m1");
    let msgs = field(&n.json(&["log", "--json"]), "message");
    assert_eq!(msgs, ["m1"]);
    // master is untouched and dev still works
    n.ok(&["checkout", "master"]);
    assert_eq!(fs::read_to_string(default_dir(&n).join("f")).unwrap(), "m2");
    n.ok(&["checkout", "dev"]);
    fs::write(default_dir(&n).join("g"), "new").unwrap();
    n.ok(&["commit", "-m", "after reset"]);
}

#[test]
fn reset_and_delete_leave_other_branches_the_commits_they_grew_from() {
    let n = TestNode::new();
    n.ok(&["init", "d"]);
    let dir = default_dir(&n);
    fs::write(dir.join("f"), "1").unwrap();
    n.ok(&["commit", "-m", "one"]);
    let one = n.json(&["log", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(dir.join("f"), "2").unwrap();
    n.ok(&["commit", "-m", "two"]);
    n.ok(&["checkout", "-b", "feature"]);
    let fdir = default_dir(&n);
    fs::write(fdir.join("g"), "feature work").unwrap();
    n.ok(&["commit", "-m", "f1"]);
    n.ok(&["checkout", "-b", "sub"]);
    n.ok(&["checkout", "master"]);
    fs::write(dir.join("f"), "3").unwrap();
    n.ok(&["commit", "-m", "three"]);
    n.ok(&["tag", "v3"]);
    fs::write(dir.join("f"), "dirty").unwrap();

    // A tag on a commit that would really go stops the reset first, with nothing changed.
    let err = n.fails(&["reset", "--hard", &one]);
    assert!(err.contains("v3") && err.contains("dm tag -d"), "{err}");
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "dirty");
    n.ok(&["tag", "-d", "v3"]);
    let out = n.ok(&["reset", "--hard", &one]);
    assert!(out.contains("1 later commit(s) removed"), "{out}");
    let msgs = |b: &str| -> Vec<String> {
        n.json(&["log", &format!("d@{b}"), "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(msgs("master"), ["one"]);
    assert_eq!(msgs("feature"), ["f1", "two", "one"]);
    assert_eq!(msgs("sub"), ["f1", "two", "one"]);
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "1");
    assert_eq!(fs::read_to_string(fdir.join("f")).unwrap(), "2");
    assert_consistent(&n);

    // Deleting the branch the other grew from leaves it its commits too.
    n.ok(&["branch", "-d", "feature"]);
    assert_eq!(msgs("sub"), ["f1", "two", "one"]);
    n.ok(&["checkout", "sub"]);
    assert_eq!(
        fs::read_to_string(default_dir(&n).join("g")).unwrap(),
        "feature work"
    );
    assert_consistent(&n);

    // After a restart (the registry rebuilt from what etcd and ZFS hold) nothing moved.
    n.kill_daemon();
    assert_eq!(msgs("sub"), ["f1", "two", "one"]);
    assert_eq!(msgs("master"), ["one"]);
    assert_consistent(&n);
}

#[test]
fn pool_full_is_reported_and_nothing_is_lost() {
    let n = TestNode::with_pool_size("96M");
    n.ok(&["init", "small"]);
    n.ok(&["init", "big"]);
    let dir = default_dir(&n);
    fs::write(dir.join("keep.txt"), "precious").unwrap();
    n.ok(&["commit", "-m", "keep"]);
    // Fill the pool from the shell until ZFS says no.
    let status = std::process::Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", dir.join("fill").display()),
            "bs=1M",
            "count=200",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "dd should run out of space");
    let err = n.fails(&["init", "other"]);
    assert!(err.contains("pool is full"), "{err}");
    // A snapshot may still fit in ZFS's reserved slop space; if it does not, the user is told
    // why. (Committed on the other dot, so no commit ever holds the fill.)
    let r = n.dm(&["commit", "-m", "too much", "--dot", "small"]);
    assert!(
        r.code == 0 || r.stderr.contains("pool is full"),
        "{}",
        r.stderr
    );
    assert_eq!(n.json(&["list", "--json"]).as_array().unwrap().len(), 2);
    // Free the space: everything committed is intact and commits work again.
    fs::remove_file(dir.join("fill")).unwrap();
    assert!(crate::common::eventually(60, || n
        .dm(&["commit", "-m", "after"])
        .code
        == 0));
    assert_eq!(
        fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "precious"
    );
}

/// The case: commit c0, 150 MB more, commit c1, fill the pool, `reset --hard c0`. The
/// reset either completes or changes nothing, `dm log` always matches the snapshots, and it
/// works once there is room.
#[test]
fn reset_on_a_full_pool_completes_or_changes_nothing() {
    let n = TestNode::with_pool_size("256M");
    n.ok(&["init", "full"]);
    let dir = default_dir(&n);
    fs::write(dir.join("a"), "c0").unwrap();
    n.ok(&["commit", "-m", "c0"]);
    crate::common::write_random(&dir.join("big"), 150);
    n.ok(&["commit", "-m", "c1"]);
    let before = n.json(&["log", "--json"]);
    let fill = std::process::Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", "count=300"])
        .arg(format!("of={}", dir.join("fill").display()))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!fill.success(), "dd should run out of space");
    let c0 = before[1]["id"].as_str().unwrap().to_string();
    let r = n.dm(&["reset", "--hard", &c0]);
    crate::common::assert_consistent(&n);
    if r.code == 0 {
        assert_eq!(n.json(&["log", "--json"]).as_array().unwrap().len(), 1);
        assert!(!dir.join("big").exists());
    } else {
        assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
        assert_eq!(n.json(&["log", "--json"]), before);
        assert!(dir.join("fill").exists(), "uncommitted files kept");
        // As the message says: free space, run it again.
        fs::remove_file(dir.join("fill")).unwrap();
        assert!(
            crate::common::eventually(60, || n.dm(&["reset", "--hard", &c0]).code == 0),
            "the reset never went through after freeing space"
        );
    }
    crate::common::assert_consistent(&n);
    assert_eq!(n.json(&["log", "--json"]).as_array().unwrap().len(), 1);
    assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "c0");
    assert!(!dir.join("big").exists() && !dir.join("fill").exists());
}

#[test]
fn size_and_uncommitted_bytes_are_reported() {
    let n = TestNode::new();
    n.ok(&["init", "sized"]);
    let dir = default_dir(&n);
    let dirty = || {
        let show = n.json(&["dot", "show", "--json"]);
        (
            show["branches"][0]["dirty_bytes"].as_u64().unwrap(),
            show["branches"][0]["size_bytes"].as_u64().unwrap(),
        )
    };
    let data: Vec<u8> = (0..2u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("blob"), &data).unwrap();
    // ZFS accounts space when a transaction group syncs: up to 30 s later on zfs-fuse.
    assert!(
        crate::common::eventually(75, || dirty().0 >= 2 << 20),
        "dirty {:?}",
        dirty()
    );
    assert!(dirty().1 >= 2 << 20);
    n.ok(&["commit", "-m", "blob"]);
    assert!(
        crate::common::eventually(30, || dirty().0 < 256 << 10),
        "dirty after commit {:?}",
        dirty()
    );
    let list = n.json(&["list", "--json"]);
    assert!(list[0]["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(list[0]["commits"], 1);
    let text = n.ok(&["list"]);
    assert!(text.contains("MiB"), "{text}");
}

/// `dm dot delete` asks on a terminal (a pty from `script`), and only "y" deletes.
#[test]
fn delete_asks_for_confirmation_on_a_terminal() {
    use std::io::Write;
    let n = TestNode::new();
    n.ok(&["init", "asked"]);
    let answer = |reply: &str| {
        let mut script = n
            .on_pty("dot delete asked")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        script
            .stdin
            .take()
            .unwrap()
            .write_all(reply.as_bytes())
            .unwrap();
        let out = script.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = answer("n\n");
    assert!(
        out.contains("[y/N]") && out.contains("Nothing deleted"),
        "{out}"
    );
    assert_eq!(n.json(&["list", "--json"]).as_array().unwrap().len(), 1);
    let out = answer("y\n");
    assert!(out.contains("Deleted dot 'asked'"), "{out}");
    assert!(n.json(&["list", "--json"]).as_array().unwrap().is_empty());
}
