//! Dots, branches, commits, history and subdots on the simulator.

use super::{ADMIN, AS_ADMIN, Principal, Sim, kind};
use crate::api;
use crate::storage::sim::Fault;
use crate::storage::{Ds, Storage};

#[test]
fn a_new_dot_has_a_master_branch_filesystem_and_no_commits() {
    let s = Sim::new();
    let info = s.dot("apples");
    assert_eq!(info.branches.len(), 1);
    assert_eq!(info.branches[0].name, "master");
    let fs = crate::cluster::FsId::from(info.branches[0].filesystem_id.as_str());
    assert!(s.storage.exists(Ds::Branch(&fs)).unwrap());
    assert!(s.log("apples", "master").is_empty());
    s.assert_consistent("apples");
}

#[test]
fn a_dot_name_is_taken_once() {
    let s = Sim::new();
    s.dot("apples");
    let e = s
        .node
        .dots
        .create_dot(
            AS_ADMIN,
            &api::CreateDot {
                namespace: ADMIN.into(),
                name: "apples".into(),
            },
        )
        .unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert_eq!(
        s.storage.tree().len(),
        1,
        "one branch filesystem: {:?}",
        s.storage.tree()
    );
}

#[test]
fn bad_dot_names_are_refused_before_anything_is_made() {
    let s = Sim::new();
    for bad in ["", "_reserved", "a/b", "..", "with space"] {
        let e = s
            .node
            .dots
            .create_dot(
                AS_ADMIN,
                &api::CreateDot {
                    namespace: ADMIN.into(),
                    name: bad.into(),
                },
            )
            .unwrap_err();
        assert_eq!(kind(&e), "BadRequest", "{bad:?}: {e}");
    }
    assert!(s.storage.tree().keys().all(|k| !k.starts_with("dmfs/")));
}

#[test]
fn a_user_works_only_in_their_own_namespace() {
    let s = Sim::new();
    let e = s
        .node
        .dots
        .create_dot(
            &Principal::user("bob"),
            &api::CreateDot {
                namespace: "alice".into(),
                name: "x".into(),
            },
        )
        .unwrap_err();
    assert_eq!(kind(&e), "Forbidden", "{e}");
    s.node
        .dots
        .create_dot(
            &Principal::user("bob"),
            &api::CreateDot {
                namespace: "bob".into(),
                name: "x".into(),
            },
        )
        .unwrap();
    s.dot("admins");
    let (bobs, _) = s.node.inventory.list(&Principal::user("bob")).unwrap();
    let names: Vec<_> = bobs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["x"], "bob sees only his own dots");
    let e = s
        .node
        .inventory
        .show(&Principal::user("bob"), ADMIN, "admins")
        .unwrap_err();
    assert_eq!(kind(&e), "Forbidden", "{e}");
}

#[test]
fn commits_are_listed_newest_first_with_their_author() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "1");
    s.commit("d", "master", "one");
    s.write("d", "master", "f", "2");
    s.commit("d", "master", "two");
    assert_eq!(s.log("d", "master"), ["two", "one"]);
    let log = s.node.dots.log(AS_ADMIN, ADMIN, "d", "master").unwrap();
    assert!(log.iter().all(|c| c.author == ADMIN));
    s.assert_consistent("d");
}

#[test]
fn a_commit_keeps_its_record_in_the_snapshot_properties() {
    let s = Sim::new();
    s.dot("d");
    let id = s
        .node
        .dots
        .commit(
            AS_ADMIN,
            ADMIN,
            "d",
            "master",
            &api::CreateCommit {
                message: "with metadata".into(),
                metadata: [("k".to_string(), "v".to_string())].into(),
            },
        )
        .unwrap()
        .id;
    let cols = crate::storage::layout::commit_columns();
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let (_, snaps) = s.storage.list(&[], &cols).unwrap();
    let snap = snaps
        .iter()
        .find(|x| x.name == id)
        .expect("the snapshot is listed");
    let rec = crate::storage::layout::decode_commit(&snap.props).expect("decodes");
    assert_eq!(rec.message, "with metadata");
    assert_eq!(rec.metadata.get("k").map(String::as_str), Some("v"));
}

#[test]
fn a_commit_on_a_missing_branch_or_dot_is_not_found() {
    let s = Sim::new();
    s.dot("d");
    assert_eq!(
        kind(&s.try_commit("d", "nope", "m").unwrap_err()),
        "NotFound"
    );
    assert_eq!(
        kind(&s.try_commit("nope", "master", "m").unwrap_err()),
        "NotFound"
    );
}

#[test]
fn an_empty_commit_message_is_refused() {
    let s = Sim::new();
    s.dot("d");
    let e = s.try_commit("d", "master", "").unwrap_err();
    assert_eq!(kind(&e), "BadRequest", "{e}");
    assert!(s.snaps("d", "master").is_empty());
}

#[test]
fn a_commit_on_a_full_pool_says_so_and_registers_nothing() {
    let s = Sim::new();
    s.dot("d");
    s.storage.fail_next("snapshot", Fault::NoSpace);
    let e = s.try_commit("d", "master", "m").unwrap_err();
    assert_eq!(kind(&e), "PoolFull", "{e}");
    assert!(e.to_string().contains("full"), "{e}");
    assert!(s.log("d", "master").is_empty());
    s.assert_consistent("d");
}

#[test]
fn commit_sequence_numbers_only_grow() {
    let s = Sim::new();
    s.dot("d");
    for i in 0..5 {
        s.commit("d", "master", &format!("c{i}"));
    }
    let fs = s.fs_id("d", "master");
    let seqs: Vec<u64> = s
        .node
        .core
        .store()
        .commits(&fs)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn a_branch_starts_with_the_files_of_the_commit_it_is_made_from() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "at c1");
    let c1 = s.commit("d", "master", "c1");
    s.write("d", "master", "f", "at c2");
    s.commit("d", "master", "c2");
    s.branch("d", "old", "master", Some(&c1[..8])).unwrap();
    assert_eq!(s.read("d", "old", "f").as_deref(), Some("at c1"));
    s.branch("d", "new", "master", None).unwrap();
    assert_eq!(s.read("d", "new", "f").as_deref(), Some("at c2"));
    let fs = s.fs_id("d", "old");
    let origin = s.storage.origin(Ds::Branch(&fs)).unwrap();
    assert_eq!(origin, Some((s.fs_id("d", "master"), c1.to_string())));
    s.assert_consistent("d");
}

#[test]
fn a_branch_log_includes_the_history_it_grew_from() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.commit("d", "master", "c2");
    s.branch("d", "b", "master", None).unwrap();
    s.commit("d", "b", "b1");
    s.commit("d", "master", "c3");
    assert_eq!(s.log("d", "b"), ["b1", "c2", "c1"]);
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
}

#[test]
fn a_branch_name_is_taken_once() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let e = s.branch("d", "b", "master", None).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("dm checkout b"), "{e}");
}

#[test]
fn a_branch_needs_a_commit_to_grow_from() {
    let s = Sim::new();
    s.dot("d");
    let e = s.branch("d", "b", "master", None).unwrap_err();
    assert_eq!(kind(&e), "BadRequest", "{e}");
    assert!(e.to_string().contains("dm commit"), "{e}");
}

#[test]
fn commit_ids_are_resolved_by_unique_prefix_only() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    for (wanted, expect) in [
        ("ab", "BadRequest"),
        ("zzzz", "BadRequest"),
        ("0000000000", "NotFound"),
    ] {
        let e = s.branch("d", "b", "master", Some(wanted)).unwrap_err();
        assert_eq!(kind(&e), expect, "{wanted}: {e}");
    }
}

#[test]
fn a_branch_whose_filesystem_cannot_be_made_leaves_nothing() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let before = s.storage.tree();
    s.storage.fail_next("create", Fault::NoSpace);
    let e = s.branch("d", "b", "master", None).unwrap_err();
    assert_eq!(kind(&e), "PoolFull", "{e}");
    assert_eq!(s.storage.tree(), before);
    assert_eq!(s.branch_count("d"), 1);
}

#[test]
fn a_half_made_branch_filesystem_is_destroyed_again() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let before = s.storage.tree();
    // The filesystem is made, but its baseline (set last) fails.
    s.storage.fail_next("set_properties", Fault::Failed);
    s.branch("d", "b", "master", None).unwrap_err();
    assert_eq!(
        s.storage.tree(),
        before,
        "the intent destroyed the new filesystem"
    );
    assert_eq!(s.branch_count("d"), 1);
}

#[test]
fn a_deleted_branch_is_hidden_until_undone_or_reclaimed() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    s.write("d", "b", "f", "kept");
    s.commit("d", "b", "b1");
    let fs = s.fs_id("d", "b");
    let listed = |s: &Sim| -> Vec<String> {
        s.node
            .inventory
            .branches(AS_ADMIN, ADMIN, "d")
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect()
    };
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "b")
        .unwrap();
    assert_eq!(listed(&s), ["master"]);
    assert!(s.storage.exists(Ds::Branch(&fs)).unwrap(), "kept for undo");
    // Undo brings it back, commits and files.
    let done = s
        .node
        .dots
        .undo(AS_ADMIN, ADMIN, &api::UndoRequest::default())
        .unwrap();
    assert_eq!(done.undone[0].kind, "branch-delete");
    assert_eq!(listed(&s).len(), 2);
    assert_eq!(s.log("d", "b"), ["b1", "c1"]);
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("kept"));
    // Deleted again, it goes for good once its grace period (none here) ends.
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "b")
        .unwrap();
    s.node.dots.reclaim_hidden();
    assert!(!s.storage.exists(Ds::Branch(&fs)).unwrap());
    assert!(s.node.core.store().hidden().unwrap().is_empty());
    let e = s
        .node
        .dots
        .undo(AS_ADMIN, ADMIN, &api::UndoRequest::default())
        .unwrap_err();
    assert!(e.to_string().contains("reclaimed"), "{e}");
    s.assert_consistent("d");
}

#[test]
fn hidden_branches_wait_for_their_grace_period_unless_the_pool_runs_short() {
    let s = Sim::with_grace(
        "n1",
        super::SharedKv::default(),
        std::time::Duration::from_secs(3600),
    );
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    s.commit("d", "b", "b1");
    let fs = s.fs_id("d", "b");
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "b")
        .unwrap();
    s.node.dots.reclaim_hidden();
    assert!(s.storage.exists(Ds::Branch(&fs)).unwrap(), "an hour to go");
    // Less than a tenth free: it goes now.
    s.storage.set_space(95, 5);
    s.node.dots.reclaim_hidden();
    assert!(!s.storage.exists(Ds::Branch(&fs)).unwrap());
    s.assert_consistent("d");
}

#[test]
fn undo_takes_back_commits_tags_and_new_branches_newest_first() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "one");
    s.commit("d", "master", "c1");
    s.write("d", "master", "f", "two");
    let c2 = s.commit("d", "master", "c2");
    s.tag("v2", &c2);
    s.branch("d", "x", "master", None).unwrap();
    let undo = |s: &Sim| {
        s.node
            .dots
            .undo(AS_ADMIN, ADMIN, &api::UndoRequest::default())
            .unwrap()
            .undone[0]
            .kind
            .clone()
    };
    assert_eq!(undo(&s), "branch");
    assert_eq!(s.branch_count("d"), 1);
    assert_eq!(undo(&s), "tag");
    assert!(s.node.dots.tags(AS_ADMIN, ADMIN, "d").unwrap().is_empty());
    assert_eq!(undo(&s), "commit");
    // The commit is gone; its files stay as uncommitted changes.
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("two"));
    let log = s.node.dots.op_log(AS_ADMIN, ADMIN).unwrap();
    assert!(
        log.iter().filter(|o| o.kind == "undo").count() == 3,
        "{log:?}"
    );
    assert!(log.iter().any(|o| o.kind == "commit" && o.undone));
    s.assert_consistent("d");
    // Restore: back to right after c1's commit, undoing what came since.
    s.write("d", "master", "f", "three");
    s.commit("d", "master", "c3");
    s.tag("v3", &s.log_ids("d", "master")[0]);
    let c1_op = log
        .iter()
        .find(|o| o.kind == "commit" && !o.undone)
        .unwrap()
        .id
        .clone();
    let done = s
        .node
        .dots
        .undo(AS_ADMIN, ADMIN, &api::UndoRequest { to: Some(c1_op) })
        .unwrap();
    assert_eq!(done.undone.len(), 2, "{done:?}");
    assert_eq!(s.log("d", "master"), ["c1"]);
    s.assert_consistent("d");
}

#[test]
fn the_master_branch_cannot_be_deleted_alone() {
    let s = Sim::new();
    s.dot("d");
    let e = s
        .node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "master")
        .unwrap_err();
    assert_eq!(kind(&e), "BadRequest", "{e}");
    assert!(e.to_string().contains("dm dot delete"), "{e}");
}

#[test]
fn deleting_a_branch_others_grew_from_leaves_them_its_commits() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "a", "master", None).unwrap();
    s.write("d", "a", "f", "a1");
    s.commit("d", "a", "a1");
    s.branch("d", "b", "a", None).unwrap();
    s.write("d", "a", "f", "a2");
    s.commit("d", "a", "a2");
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "a")
        .unwrap();
    // Hidden first; reclaimed for good, it leaves b the commits b grew from.
    s.node.dots.reclaim_hidden();
    assert!(s.node.core.store().hidden().unwrap().is_empty());
    assert_eq!(s.branch_count("d"), 2);
    assert_eq!(s.storage.tree().len(), 2, "{:?}", s.storage.tree());
    assert_eq!(s.log("d", "b"), ["a1", "c1"]);
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("a1"));
    assert_eq!(s.log("d", "master"), ["c1"]);
    s.assert_consistent("d");
}

#[test]
fn a_busy_branch_is_not_deleted_and_keeps_its_commits() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    s.write("d", "b", "f", "x");
    s.commit("d", "b", "b1");
    let fs = s.fs_id("d", "b");
    s.storage.set_busy(Ds::Branch(&fs), true);
    let e = s
        .node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "b")
        .unwrap_err();
    assert_eq!(kind(&e), "InUse", "{e}");
    assert_eq!(s.log("d", "b"), ["b1", "c1"]);
    s.assert_consistent("d");
    s.storage.set_busy(Ds::Branch(&fs), false);
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "b")
        .unwrap();
}

#[test]
fn deleting_a_dot_destroys_clones_before_their_origins() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "a", "master", None).unwrap();
    s.commit("d", "a", "a1");
    s.branch("d", "b", "a", None).unwrap();
    let order = [s.fs_id("d", "b"), s.fs_id("d", "a"), s.fs_id("d", "master")];
    s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap();
    let destroyed: Vec<String> = s
        .storage
        .calls()
        .into_iter()
        .filter_map(|c| c.strip_prefix("destroy dmfs/").map(str::to_string))
        .collect();
    assert_eq!(destroyed, order);
    assert!(s.storage.tree().keys().all(|k| !k.starts_with("dmfs/")));
    assert_eq!(
        kind(&s.node.inventory.show(AS_ADMIN, ADMIN, "d").unwrap_err()),
        "NotFound"
    );
}

#[test]
fn a_busy_dot_is_not_deleted() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let fs = s.fs_id("d", "master");
    s.path("d", "master");
    s.storage.set_busy(Ds::Branch(&fs), true);
    let e = s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap_err();
    assert_eq!(kind(&e), "InUse", "{e}");
    assert_eq!(s.log("d", "master"), ["c1"]);
    s.assert_consistent("d");
}

#[test]
fn the_default_subdot_is_made_on_first_use_inside_the_mountpoint() {
    let s = Sim::new();
    let info = s.dot("d");
    let p = s.path("d", "master");
    assert_eq!(
        p,
        std::path::Path::new(&info.branches[0].mountpoint).join("__default__")
    );
    assert!(p.is_dir());
}

#[test]
fn the_root_subdot_is_the_whole_filesystem() {
    let s = Sim::new();
    let info = s.dot("d");
    let p = s
        .node
        .subdots
        .subdot_path(
            AS_ADMIN,
            crate::routes::At::new((ADMIN, "d", "master")),
            "__root__",
            false,
            None,
        )
        .unwrap();
    assert_eq!(p.path, info.branches[0].mountpoint);
}

#[test]
fn a_missing_subdot_is_not_made_unless_asked() {
    let s = Sim::new();
    s.dot("d");
    let e = s
        .node
        .subdots
        .subdot_path(
            AS_ADMIN,
            crate::routes::At::new((ADMIN, "d", "master")),
            "data",
            false,
            None,
        )
        .unwrap_err();
    assert_eq!(kind(&e), "NotFound", "{e}");
    s.node
        .subdots
        .subdot_path(
            AS_ADMIN,
            crate::routes::At::new((ADMIN, "d", "master")),
            "data",
            true,
            None,
        )
        .unwrap();
}

#[test]
fn a_subdot_that_is_a_link_out_of_the_dot_is_refused() {
    let s = Sim::new();
    let info = s.dot("d");
    s.path("d", "master");
    let mp = std::path::PathBuf::from(&info.branches[0].mountpoint);
    std::os::unix::fs::symlink("/etc", mp.join("evil")).unwrap();
    let e = s
        .node
        .subdots
        .subdot_path(
            AS_ADMIN,
            crate::routes::At::new((ADMIN, "d", "master")),
            "evil",
            false,
            None,
        )
        .unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
}

#[test]
fn reserved_and_malformed_subdot_names_are_refused() {
    let s = Sim::new();
    s.dot("d");
    for bad in ["_x", "../up", "a/b", ""] {
        let e = s
            .node
            .subdots
            .subdot_path(
                AS_ADMIN,
                crate::routes::At::new((ADMIN, "d", "master")),
                bad,
                true,
                None,
            )
            .unwrap_err();
        assert_eq!(kind(&e), "BadRequest", "{bad:?}: {e}");
    }
}

#[test]
fn sizes_show_uncommitted_bytes_until_a_commit() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", &"x".repeat(1000));
    let dirty = |s: &Sim| {
        s.node
            .inventory
            .show(AS_ADMIN, ADMIN, "d")
            .unwrap()
            .branches[0]
            .dirty_bytes
    };
    assert!(dirty(&s) >= 1000, "{}", dirty(&s));
    s.commit("d", "master", "c1");
    assert_eq!(dirty(&s), 0);
}

#[test]
fn showing_a_dot_does_not_mount_its_branches() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let fs = s.fs_id("d", "b");
    let mounts_before = s
        .storage
        .calls()
        .iter()
        .filter(|c| c.starts_with("mount "))
        .count();
    let info = s.node.inventory.show(AS_ADMIN, ADMIN, "d").unwrap();
    assert!(
        !info
            .branches
            .iter()
            .find(|b| b.name == "b")
            .unwrap()
            .mounted
    );
    assert!(!s.storage.is_mounted(Ds::Branch(&fs)).unwrap());
    let mounts_after = s
        .storage
        .calls()
        .iter()
        .filter(|c| c.starts_with("mount "))
        .count();
    assert_eq!(mounts_before, mounts_after);
}

fn kept_an_hour() -> Sim {
    Sim::with_grace(
        "n1",
        super::SharedKv::default(),
        std::time::Duration::from_secs(3600),
    )
}

fn undo(s: &Sim) -> Result<api::Undone, crate::daemon::DaemonError> {
    s.node
        .dots
        .undo(AS_ADMIN, ADMIN, &api::UndoRequest::default())
}

fn listed(s: &Sim) -> Vec<String> {
    let (dots, _) = s.node.inventory.list(AS_ADMIN).unwrap();
    dots.into_iter().map(|d| d.name).collect()
}

#[test]
fn a_deleted_dot_is_hidden_and_comes_back_with_undo() {
    let s = kept_an_hour();
    s.dot("d");
    s.write("d", "master", "f", "one");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    s.write("d", "b", "f", "on b");
    s.commit("d", "b", "b1");
    let trees = s.storage.tree().len();
    s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap();
    assert!(listed(&s).is_empty(), "{:?}", listed(&s));
    assert!(s.node.core.store().dot(ADMIN, "d").unwrap().is_none());
    assert_eq!(s.storage.tree().len(), trees, "nothing destroyed yet");
    let done = undo(&s).unwrap();
    assert_eq!(done.undone[0].kind, "dot-delete");
    assert_eq!(listed(&s), ["d"]);
    assert_eq!(s.log("d", "b"), ["b1", "c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("one"));
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("on b"));
    s.assert_consistent("d");
}

#[test]
fn a_deleted_dot_whose_name_was_taken_again_is_not_undone_over_it() {
    let s = kept_an_hour();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap();
    s.dot("d");
    let e = undo(&s).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("exists again"), "{e}");
    assert!(s.log("d", "master").is_empty(), "the new dot is untouched");
}

#[test]
fn a_deleted_dot_is_reclaimed_when_its_time_is_up_or_space_runs_short() {
    let s = kept_an_hour();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap();
    s.node.dots.reclaim_hidden_dots();
    assert!(!s.storage.tree().is_empty(), "an hour to go");
    s.storage.set_space(95, 5);
    s.node.dots.reclaim_hidden_dots();
    assert!(s.storage.tree().is_empty(), "{:?}", s.storage.tree());
    assert!(s.node.core.store().hidden_dots().unwrap().is_empty());
    let e = undo(&s).unwrap_err();
    assert!(e.to_string().contains("reclaimed"), "{e}");
}
