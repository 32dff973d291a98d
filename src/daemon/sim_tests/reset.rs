//! `reset --hard` within a branch and past its branch point, on the simulator.

use super::{Sim, kind};
use crate::storage::sim::Fault;
use crate::storage::{Ds, Storage};

/// A dot with commits c1..c3 on master, file `f` holding each one's name.
fn three_commits() -> (Sim, Vec<crate::cluster::CommitId>) {
    three_commits_on(Sim::new())
}

/// [`three_commits`] on a node that keeps what deletes remove for an hour.
fn three_commits_kept() -> (Sim, Vec<crate::cluster::CommitId>) {
    three_commits_on(Sim::with_grace(
        "n1",
        super::SharedKv::default(),
        std::time::Duration::from_secs(3600),
    ))
}

fn three_commits_on(s: Sim) -> (Sim, Vec<crate::cluster::CommitId>) {
    s.dot("d");
    let ids = ["c1", "c2", "c3"]
        .iter()
        .map(|c| {
            s.write("d", "master", "f", c);
            s.commit("d", "master", c)
        })
        .collect();
    (s, ids)
}

#[test]
fn reset_removes_later_commits_and_restores_files() {
    let (s, ids) = three_commits();
    let done = s.reset("d", "master", &ids[0][..6]).unwrap();
    assert_eq!(done.commit, ids[0]);
    assert_eq!(done.removed, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c1"));
    s.assert_consistent("d");
}

#[test]
fn reset_to_the_head_discards_uncommitted_changes_only() {
    let (s, ids) = three_commits();
    s.write("d", "master", "f", "dirty");
    s.write("d", "master", "new", "dirty");
    let done = s.reset("d", "master", &ids[2]).unwrap();
    assert!(done.removed.is_empty());
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c3"));
    assert_eq!(s.read("d", "master", "new"), None);
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
}

#[test]
fn reset_discards_changes_before_it_destroys_commits() {
    let (s, ids) = three_commits();
    let fs = s.fs_id("d", "master");
    s.reset("d", "master", &ids[0]).unwrap();
    let rollbacks: Vec<String> = s
        .storage
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("rollback "))
        .collect();
    assert_eq!(
        rollbacks,
        [
            format!("rollback dmfs/{fs}@{}", ids[2]),
            format!("rollback dmfs/{fs}@{}", ids[0])
        ]
    );
}

#[test]
fn reset_on_a_full_pool_changes_nothing_and_says_so() {
    let (s, ids) = three_commits();
    s.write("d", "master", "f", "dirty");
    s.storage.fail_next("rollback", Fault::NoSpace);
    let e = s.reset("d", "master", &ids[0]).unwrap_err();
    assert_eq!(kind(&e), "PoolFull", "{e}");
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("dirty"));
    s.assert_consistent("d");
}

#[test]
fn a_reset_stopped_part_way_says_what_is_left_and_the_log_matches() {
    let (s, ids) = three_commits();
    // Uncommitted changes go; destroying the later commits then fails.
    s.storage.fail_nth("rollback", 2, Fault::NoSpace);
    let e = s.reset("d", "master", &ids[0]).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("part-way") && msg.contains("0 of 2"), "{msg}");
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    s.assert_consistent("d");
    // Running it again finishes.
    s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(s.log("d", "master"), ["c1"]);
}

#[test]
fn reset_past_a_branch_point_leaves_the_other_branch_its_commits() {
    let (s, ids) = three_commits();
    s.branch("d", "feature", "master", Some(&ids[1])).unwrap();
    s.write("d", "feature", "f", "f1");
    s.commit("d", "feature", "f1");
    s.write("d", "master", "f", "dirty");
    let done = s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(done.removed, [ids[2].clone()], "only c3 really goes");
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c1"));
    assert_eq!(s.log("d", "feature"), ["f1", "c2", "c1"]);
    assert_eq!(s.read("d", "feature", "f").as_deref(), Some("f1"));
    // The feature branch owns c1 and c2 now; master grows from it.
    assert_eq!(
        s.snaps("d", "feature"),
        [
            ids[0].as_str(),
            ids[1].as_str(),
            &s.log_ids("d", "feature")[0]
        ]
    );
    assert!(s.snaps("d", "master").is_empty());
    s.assert_consistent("d");
    // Both go on as branches do.
    s.write("d", "master", "f", "m2");
    s.commit("d", "master", "m2");
    assert_eq!(s.log("d", "master"), ["m2", "c1"]);
    s.reset("d", "feature", &ids[0]).unwrap();
    assert_eq!(s.log("d", "feature"), ["c1"]);
    assert_eq!(s.log("d", "master"), ["m2", "c1"]);
    s.assert_consistent("d");
}

#[test]
fn branches_made_from_the_same_branch_at_several_points_all_keep_theirs() {
    let (s, ids) = three_commits();
    s.branch("d", "early", "master", Some(&ids[0])).unwrap();
    s.branch("d", "mid", "master", Some(&ids[1])).unwrap();
    s.branch("d", "late", "master", Some(&ids[2])).unwrap();
    s.tag("v2", &ids[1]);
    s.write("d", "master", "f", "c4");
    s.commit("d", "master", "c4");
    let done = s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(done.removed.len(), 1, "{:?}", done.removed);
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.log("d", "early"), ["c1"]);
    assert_eq!(s.log("d", "mid"), ["c2", "c1"]);
    assert_eq!(s.log("d", "late"), ["c3", "c2", "c1"]);
    assert_eq!(s.read("d", "mid", "f").as_deref(), Some("c2"));
    // The tag still names c2, and resolves on the branch that has it.
    s.reset("d", "mid", "v2").unwrap();
    s.assert_consistent("d");
}

#[test]
fn a_tagged_commit_that_would_really_go_stops_the_reset_before_anything_moves() {
    let (s, ids) = three_commits();
    s.branch("d", "feature", "master", Some(&ids[1])).unwrap();
    s.tag("v3", &ids[2]);
    let e = s.reset("d", "master", &ids[0]).unwrap_err();
    assert!(e.to_string().contains("v3"), "{e}");
    let fs = s.fs_id("d", "master");
    assert_eq!(s.snaps("d", "master").len(), 3, "nothing was handed down");
    assert_eq!(s.node.core.store().commits(&fs).unwrap().len(), 3);
    s.assert_consistent("d");
}

#[test]
fn reset_may_remove_commits_after_a_branch_point() {
    let (s, ids) = three_commits();
    s.branch("d", "feature", "master", Some(&ids[0])).unwrap();
    s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "feature", "f").as_deref(), Some("c1"));
    s.assert_consistent("d");
}

#[test]
fn reset_to_an_unknown_commit_is_not_found_and_changes_nothing() {
    let (s, _) = three_commits();
    let e = s.reset("d", "master", "abcdef12").unwrap_err();
    assert_eq!(kind(&e), "NotFound", "{e}");
    assert!(e.to_string().contains("dm log"), "{e}");
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
}

#[test]
fn reset_past_the_branch_point_re_clones_the_branch() {
    let (s, ids) = three_commits();
    s.branch("d", "b", "master", Some(&ids[1])).unwrap();
    s.write("d", "b", "f", "b1");
    s.commit("d", "b", "b1");
    let fs = s.fs_id("d", "b");
    let done = s.reset("d", "b", &ids[0]).unwrap();
    assert_eq!(done.removed.len(), 1);
    assert_eq!(s.log("d", "b"), ["c1"]);
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("c1"));
    assert_eq!(s.fs_id("d", "b"), fs, "same filesystem id");
    assert_eq!(
        s.storage.origin(Ds::Branch(&fs)).unwrap(),
        Some((s.fs_id("d", "master"), ids[0].to_string()))
    );
    s.assert_consistent("d");
}

#[test]
fn a_re_clone_that_fails_puts_the_old_branch_back() {
    let (s, ids) = three_commits();
    s.branch("d", "b", "master", Some(&ids[1])).unwrap();
    s.write("d", "b", "f", "b1");
    s.commit("d", "b", "b1");
    s.storage.fail_next("create", Fault::NoSpace);
    let e = s.reset("d", "b", &ids[0]).unwrap_err();
    assert_eq!(kind(&e), "PoolFull", "{e}");
    assert_eq!(s.log("d", "b"), ["b1", "c2", "c1"]);
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("b1"));
    s.assert_consistent("d");
}

#[test]
fn a_busy_branch_is_not_re_cloned() {
    let (s, ids) = three_commits();
    s.branch("d", "b", "master", Some(&ids[1])).unwrap();
    s.commit("d", "b", "b1");
    let fs = s.fs_id("d", "b");
    s.path("d", "b");
    s.storage.fail_next("set_properties", Fault::Busy);
    let e = s.reset("d", "b", &ids[0]).unwrap_err();
    assert_eq!(kind(&e), "InUse", "{e}");
    assert!(
        e.to_string().contains(fs.as_str()),
        "names the mountpoint: {e}"
    );
    assert_eq!(s.log("d", "b"), ["b1", "c2", "c1"]);
    s.assert_consistent("d");
}

#[test]
fn reset_of_a_branch_to_its_branch_point_drops_its_own_commits() {
    let (s, ids) = three_commits();
    s.branch("d", "b", "master", Some(&ids[1])).unwrap();
    s.commit("d", "b", "b1");
    let creates_before = s
        .storage
        .calls()
        .iter()
        .filter(|c| c.starts_with("create"))
        .count();
    s.reset("d", "b", &ids[1]).unwrap();
    let creates_after = s
        .storage
        .calls()
        .iter()
        .filter(|c| c.starts_with("create"))
        .count();
    assert_eq!(
        creates_after,
        creates_before + 1,
        "a fresh clone: {:?}",
        s.storage.calls()
    );
    assert_eq!(s.log("d", "b"), ["c2", "c1"]);
    s.assert_consistent("d");
}

#[test]
fn a_hand_down_cut_off_after_the_promote_is_finished_by_settling() {
    let (s, ids) = three_commits();
    s.branch("d", "feature", "master", Some(&ids[1])).unwrap();
    s.kv.fail_puts("/commits/");
    let e = s.reset("d", "master", &ids[0]).unwrap_err();
    assert_eq!(kind(&e), "Unsettled", "{e}");
    // ZFS has promoted the feature branch; the registry has not heard yet.
    assert_eq!(s.snaps("d", "feature").len(), 2);
    s.kv.heal();
    s.node.core.settle_pending();
    assert_eq!(s.log("d", "feature"), ["c2", "c1"]);
    assert_eq!(
        s.log("d", "master"),
        ["c3", "c2", "c1"],
        "the reset itself never ran"
    );
    s.assert_consistent("d");
    s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.log("d", "feature"), ["c2", "c1"]);
    s.assert_consistent("d");
}

fn undo(s: &Sim) -> Result<crate::api::Undone, crate::daemon::DaemonError> {
    s.node
        .dots
        .undo(super::AS_ADMIN, super::ADMIN, &Default::default())
}

#[test]
fn an_undone_reset_brings_back_the_commits_and_their_files() {
    let (s, ids) = three_commits_kept();
    let done = s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(done.removed, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c1"));
    assert_eq!(s.branch_count("d"), 1, "the keeper is hidden");
    assert_eq!(
        s.snaps("d", "master"),
        [ids[0].as_str()],
        "master keeps its own"
    );
    assert_eq!(s.node.core.store().hidden().unwrap().len(), 1);
    s.assert_consistent("d");
    let undone = undo(&s).unwrap();
    assert_eq!(undone.undone[0].kind, "reset");
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c3"));
    assert_eq!(s.snaps("d", "master"), ids);
    assert!(s.node.core.store().hidden().unwrap().is_empty());
    assert_eq!(s.storage.tree().len(), 1, "{:?}", s.storage.tree());
    s.assert_consistent("d");
    // It is a branch like before: reset it again, for good this time.
    s.reset("d", "master", &ids[1]).unwrap();
    assert_eq!(s.log("d", "master"), ["c2", "c1"]);
    s.assert_consistent("d");
}

#[test]
fn a_kept_reset_is_reclaimed_leaving_the_branch_its_remaining_commits() {
    let (s, ids) = three_commits_kept();
    s.reset("d", "master", &ids[0]).unwrap();
    s.storage.set_space(95, 5);
    s.node.dots.reclaim_hidden();
    assert!(s.node.core.store().hidden().unwrap().is_empty());
    assert_eq!(s.storage.tree().len(), 1, "{:?}", s.storage.tree());
    assert_eq!(s.snaps("d", "master"), [ids[0].as_str()]);
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c1"));
    s.assert_consistent("d");
    let e = undo(&s).unwrap_err();
    assert!(e.to_string().contains("reclaimed"), "{e}");
}

#[test]
fn undoing_a_reset_never_discards_uncommitted_changes() {
    let (s, ids) = three_commits_kept();
    s.reset("d", "master", &ids[0]).unwrap();
    // A commit since: undo takes it back first, its files staying uncommitted.
    s.write("d", "master", "f", "c4");
    s.commit("d", "master", "c4");
    assert_eq!(undo(&s).unwrap().undone[0].kind, "commit");
    let e = undo(&s).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("uncommitted changes"), "{e}");
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c4"));
    s.assert_consistent("d");
    // Discarded on purpose, the undo goes ahead.
    s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(undo(&s).unwrap().undone[0].kind, "reset");
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c3"));
    s.assert_consistent("d");
}

#[test]
fn an_undone_reset_past_a_branch_point_gives_both_branches_theirs() {
    let (s, ids) = three_commits_kept();
    s.branch("d", "feature", "master", Some(&ids[1])).unwrap();
    s.write("d", "feature", "f", "f1");
    s.commit("d", "feature", "f1");
    s.reset("d", "master", &ids[0]).unwrap();
    assert_eq!(s.log("d", "master"), ["c1"]);
    assert_eq!(s.log("d", "feature"), ["f1", "c2", "c1"]);
    s.assert_consistent("d");
    undo(&s).unwrap();
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c3"));
    assert_eq!(s.log("d", "feature"), ["f1", "c2", "c1"]);
    assert_eq!(s.read("d", "feature", "f").as_deref(), Some("f1"));
    s.assert_consistent("d");
    // Nothing is left hanging off a hidden branch: deleting feature for good works.
    s.node
        .dots
        .delete_branch(super::AS_ADMIN, super::ADMIN, "d", "feature")
        .unwrap();
    s.storage.set_space(95, 5);
    s.node.dots.reclaim_hidden();
    assert_eq!(s.storage.tree().len(), 1, "{:?}", s.storage.tree());
    assert_eq!(s.log("d", "master"), ["c3", "c2", "c1"]);
    s.assert_consistent("d");
}

#[test]
fn a_reset_kept_nothing_when_undo_is_turned_off_and_says_so() {
    let (s, ids) = three_commits();
    s.reset("d", "master", &ids[0]).unwrap();
    let log = s.node.dots.op_log(super::AS_ADMIN, super::ADMIN).unwrap();
    assert!(!log[0].undoable);
    assert!(
        log[0].summary.contains("undo-grace 0"),
        "{}",
        log[0].summary
    );
    assert_eq!(s.storage.tree().len(), 1);
}
