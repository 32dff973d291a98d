//! Recovery on the simulator: adopting what the pool holds, and settling intents a crash or a
//! failed step left.

use super::{ADMIN, AS_ADMIN, SharedKv, Sim, kind};
use crate::cluster::{CommitId, FsId};

fn id(s: &str) -> FsId {
    FsId::from(s)
}
use crate::daemon::intent::Intent;
use crate::storage::sim::Fault;
use crate::storage::{Ds, Storage};

fn dot_id(s: &Sim, dot: &str) -> crate::cluster::DotId {
    s.node
        .core
        .store()
        .dot(ADMIN, dot)
        .unwrap()
        .expect("the dot exists")
        .id
}

fn branch_rec(s: &Sim, dot: &str, name: &str) -> crate::cluster::BranchRecord {
    let id = dot_id(s, dot);
    s.node
        .core
        .store()
        .branches(&id)
        .unwrap()
        .into_iter()
        .find(|b| b.name == name)
        .expect("the branch exists")
}

#[test]
fn a_lost_registry_is_rebuilt_from_the_pool() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.commit("d", "master", "c2");
    s.branch("d", "b", "master", None).unwrap();
    s.commit("d", "b", "b1");
    let node = s.restart_on(SharedKv::default());
    node.recover().unwrap();
    let log = |b: &str| -> Vec<String> {
        node.dots
            .log(AS_ADMIN, ADMIN, "d", b)
            .unwrap()
            .into_iter()
            .map(|c| c.message)
            .collect()
    };
    assert_eq!(log("master"), ["c2", "c1"]);
    assert_eq!(log("b"), ["b1", "c2", "c1"]);
    let info = node.inventory.show(AS_ADMIN, ADMIN, "d").unwrap();
    assert!(info.branches.iter().all(|b| b.master_node == "n1"));
}

#[test]
fn recovery_adopts_a_read_only_copy_as_a_replica_without_a_master() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let fs = s.fs_id("d", "master");
    s.storage
        .set_property(Ds::Branch(&fs), "readonly", "on")
        .unwrap();
    let kv = SharedKv::default();
    let node = s.restart_on(kv.clone());
    node.recover().unwrap();
    assert_eq!(node.core.store().master(&fs).unwrap(), None);
    assert_eq!(node.core.store().commits(&fs).unwrap().len(), 1);
}

#[test]
fn recovery_never_deletes_data_the_registry_lacks() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let before = s.storage.tree();
    let node = s.restart_on(SharedKv::default());
    node.recover().unwrap();
    node.recover().unwrap();
    assert_eq!(s.storage.tree(), before);
}

#[test]
fn recovery_destroys_a_branch_deleted_while_the_node_was_away() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let b = branch_rec(&s, "d", "b");
    // Another node deleted it: only the registry knows.
    s.node
        .core
        .store()
        .delete_branch(&dot_id(&s, "d"), &b, &s.node.core.seal())
        .unwrap();
    s.node.recover().unwrap();
    assert!(!s.storage.exists(Ds::Branch(&b.fs_id)).unwrap());
}

#[test]
fn a_tombstone_without_the_cluster_seal_is_ignored() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let b = branch_rec(&s, "d", "b");
    let forged = |_: &str| "forged".to_string();
    s.node
        .core
        .store()
        .delete_branch(&dot_id(&s, "d"), &b, &forged)
        .unwrap();
    s.node.recover().unwrap();
    assert!(s.storage.exists(Ds::Branch(&b.fs_id)).unwrap());
}

#[test]
fn recovery_drops_unconfirmed_transfers_and_probe_snapshots() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    let fs = s.fs_id("d", "master");
    s.storage
        .create(Ds::Staging(&id("abc")), None, &[])
        .unwrap();
    s.storage
        .snapshot(Ds::Branch(&fs), "dmp-0123", &[])
        .unwrap();
    s.node.recover().unwrap();
    assert!(!s.storage.exists(Ds::Staging(&id("abc"))).unwrap());
    assert_eq!(s.snaps("d", "master").len(), 1);
    s.assert_consistent("d");
}

#[test]
fn recovery_keeps_a_set_aside_filesystem_for_inspection() {
    let s = Sim::new();
    s.storage.create(Ds::Aside(&id("abc")), None, &[]).unwrap();
    s.node.recover().unwrap();
    assert!(s.storage.exists(Ds::Aside(&id("abc"))).unwrap());
}

#[test]
fn a_commit_snapshot_never_registered_is_removed() {
    let s = Sim::new();
    s.dot("d");
    let fs = s.fs_id("d", "master");
    let commit = CommitId::from("0123456789abcdef0123456789abcdef");
    s.storage.snapshot(Ds::Branch(&fs), &commit, &[]).unwrap();
    s.node
        .core
        .settle(&Intent::Commit {
            fs_id: fs.clone(),
            commit,
        })
        .unwrap();
    assert!(s.snaps("d", "master").is_empty());
}

#[test]
fn a_registered_commit_is_kept_when_its_intent_is_settled() {
    let s = Sim::new();
    s.dot("d");
    let commit = s.commit("d", "master", "c1");
    let fs = s.fs_id("d", "master");
    s.node
        .core
        .settle(&Intent::Commit { fs_id: fs, commit })
        .unwrap();
    assert_eq!(s.log("d", "master"), ["c1"]);
}

#[test]
fn a_crash_between_snapshot_and_registration_is_settled_at_start() {
    let s = Sim::new();
    s.dot("d");
    let fs = s.fs_id("d", "master");
    let commit = CommitId::from("00112233445566778899aabbccddeeff");
    let intent = Intent::Commit {
        fs_id: fs.clone(),
        commit: commit.clone(),
    };
    // The intent is recorded and the snapshot taken; then the process dies.
    std::mem::forget(s.node.core.intents.begin(&intent).unwrap());
    s.storage.snapshot(Ds::Branch(&fs), &commit, &[]).unwrap();
    let node = s.restart_on(s.kv.clone());
    node.recover().unwrap();
    assert!(s.snaps("d", "master").is_empty());
    assert!(node.core.intents.pending().is_empty());
}

#[test]
fn a_crash_while_a_reset_probes_the_mount_mounts_the_branch_again() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "x");
    let fs = s.fs_id("d", "master");
    // The probe's intent is recorded and the branch unmounted; then the process dies.
    std::mem::forget(
        s.node
            .core
            .intents
            .begin(&Intent::Remount { fs_id: fs.clone() })
            .unwrap(),
    );
    s.storage.unmount(Ds::Branch(&fs)).unwrap();
    let node = s.restart_on(s.kv.clone());
    node.recover().unwrap();
    assert!(s.storage.is_mounted(Ds::Branch(&fs)).unwrap());
    assert!(node.core.intents.pending().is_empty());
    // A branch gone since: nothing to mount, and settled all the same.
    node.core
        .settle(&Intent::Remount { fs_id: id("gone") })
        .unwrap();
}

#[test]
fn a_branch_filesystem_never_registered_is_destroyed() {
    let s = Sim::new();
    s.dot("d");
    s.storage
        .create(Ds::Branch(&id("feed")), None, &[])
        .unwrap();
    s.node
        .core
        .settle(&Intent::CreateFs {
            dot_id: dot_id(&s, "d"),
            fs_id: "feed".into(),
        })
        .unwrap();
    assert!(!s.storage.exists(Ds::Branch(&id("feed"))).unwrap());
}

#[test]
fn a_registered_branch_filesystem_is_kept() {
    let s = Sim::new();
    s.dot("d");
    let fs = s.fs_id("d", "master");
    s.node
        .core
        .settle(&Intent::CreateFs {
            dot_id: dot_id(&s, "d"),
            fs_id: fs.clone(),
        })
        .unwrap();
    assert!(s.storage.exists(Ds::Branch(&fs)).unwrap());
}

#[test]
fn an_interrupted_reset_forgets_only_commits_whose_snapshots_went() {
    let s = Sim::new();
    s.dot("d");
    let ids: Vec<CommitId> = ["c1", "c2", "c3"]
        .iter()
        .map(|c| s.commit("d", "master", c))
        .collect();
    let fs = s.fs_id("d", "master");
    // The crash came after c3 went, before c2 did.
    s.storage
        .destroy_snapshot(Ds::Branch(&fs), &ids[2])
        .unwrap();
    s.node
        .core
        .settle(&Intent::Reset {
            fs_id: fs,
            target: ids[0].clone(),
            removed: vec![ids[2].clone(), ids[1].clone()],
        })
        .unwrap();
    assert_eq!(s.log("d", "master"), ["c2", "c1"]);
    s.assert_consistent("d");
}

/// A dot whose branch `b` (made at c2, with commit b1) is to be re-cloned from c1.
fn recloning() -> (Sim, Intent, FsId) {
    let s = Sim::new();
    s.dot("d");
    let c1 = s.commit("d", "master", "c1");
    s.commit("d", "master", "c2");
    s.branch("d", "b", "master", None).unwrap();
    s.write("d", "b", "f", "b1");
    let b1 = s.commit("d", "b", "b1");
    let mut new = branch_rec(&s, "d", "b");
    new.origin = Some(crate::cluster::OriginRecord {
        fs_id: s.fs_id("d", "master"),
        commit: c1,
    });
    let intent = Intent::Reclone {
        dot_id: dot_id(&s, "d"),
        branch: new.clone(),
        removed: vec![b1],
    };
    (s, intent, new.fs_id)
}

/// The re-clone's first step: the old filesystem unmounted and set aside.
fn set_aside(s: &Sim, fs: &FsId) {
    let st = &s.storage;
    st.set_property(Ds::Branch(fs), "mountpoint", "none")
        .unwrap();
    st.rename(Ds::Branch(fs), Ds::Aside(fs)).unwrap();
}

/// The re-clone's second step: the new clone of the intent's origin, complete (with its
/// mountpoint and baseline) or half made.
fn make_clone(s: &Sim, intent: &Intent, fs: &FsId, complete: bool) {
    let Intent::Reclone { branch, .. } = intent else {
        unreachable!("a re-clone intent")
    };
    let o = branch.origin.clone().expect("a re-clone has an origin");
    let mp = s.node.core.mountpoint(fs).display().to_string();
    let full = [
        ("mountpoint", mp.as_str()),
        (crate::storage::layout::P_BASELINE, "0"),
    ];
    let props: &[(&str, &str)] = if complete { &full } else { &[] };
    s.storage
        .create(Ds::Branch(fs), Some((&o.fs_id, &o.commit)), props)
        .unwrap();
}

/// What the branch shows after a re-clone went back: everything as before it.
fn as_before(s: &Sim) {
    assert_eq!(s.log("d", "b"), ["b1", "c2", "c1"]);
    assert_eq!(s.read("d", "b", "f").as_deref(), Some("b1"));
    s.assert_consistent("d");
}

#[test]
fn a_re_clone_interrupted_after_setting_aside_puts_the_branch_back() {
    let (s, intent, fs) = recloning();
    set_aside(&s, &fs);
    s.node.core.settle(&intent).unwrap();
    as_before(&s);
}

#[test]
fn a_re_clone_interrupted_with_a_half_made_clone_goes_back() {
    let (s, intent, fs) = recloning();
    set_aside(&s, &fs);
    make_clone(&s, &intent, &fs, false);
    s.node.core.settle(&intent).unwrap();
    as_before(&s);
}

#[test]
fn a_re_clone_interrupted_after_the_clone_was_complete_goes_forward() {
    let (s, intent, fs) = recloning();
    set_aside(&s, &fs);
    make_clone(&s, &intent, &fs, true);
    s.node.core.settle(&intent).unwrap();
    assert_eq!(s.log("d", "b"), ["c1"]);
    assert!(!s.storage.exists(Ds::Aside(&fs)).unwrap());
    s.assert_consistent("d");
}

#[test]
fn a_re_clone_whose_registry_update_was_lost_is_registered() {
    let (s, intent, fs) = recloning();
    s.storage.destroy(Ds::Branch(&fs)).unwrap();
    make_clone(&s, &intent, &fs, true);
    s.node.core.settle(&intent).unwrap();
    assert_eq!(s.log("d", "b"), ["c1"]);
    s.assert_consistent("d");
}

#[test]
fn a_delete_that_never_started_is_not_finished_by_recovery() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let intent = Intent::DeleteBranch {
        dot_id: dot_id(&s, "d"),
        branch: branch_rec(&s, "d", "b"),
    };
    s.node.core.settle(&intent).unwrap();
    assert_eq!(s.log("d", "b"), ["c1"]);
}

#[test]
fn a_delete_that_destroyed_anything_is_finished() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let b1 = s.commit("d", "b", "b1");
    let b = branch_rec(&s, "d", "b");
    s.storage
        .destroy_snapshot(Ds::Branch(&b.fs_id), &b1)
        .unwrap();
    let intent = Intent::DeleteBranch {
        dot_id: dot_id(&s, "d"),
        branch: b.clone(),
    };
    s.node.core.settle(&intent).unwrap();
    assert!(!s.storage.exists(Ds::Branch(&b.fs_id)).unwrap());
    assert!(
        s.node
            .inventory
            .branches(AS_ADMIN, ADMIN, "d")
            .unwrap()
            .iter()
            .all(|x| x.name != "b")
    );
}

#[test]
fn a_dot_delete_that_destroyed_one_branch_is_finished() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    s.branch("d", "b", "master", None).unwrap();
    let id = dot_id(&s, "d");
    let dot = s.node.core.store().dot(ADMIN, "d").unwrap().unwrap();
    let branches = s.node.core.store().branches(&id).unwrap();
    let b = branch_rec(&s, "d", "b");
    s.storage.destroy(Ds::Branch(&b.fs_id)).unwrap();
    s.node
        .core
        .settle(&Intent::DeleteDot { dot, branches })
        .unwrap();
    assert!(s.storage.tree().keys().all(|k| !k.starts_with("dmfs/")));
    assert_eq!(
        kind(&s.node.inventory.show(AS_ADMIN, ADMIN, "d").unwrap_err()),
        "NotFound"
    );
}

#[test]
fn a_failure_whose_undo_fails_too_is_reported_and_settled_later() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "c1");
    // The baseline fails, and so does destroying the half-made branch.
    s.storage.fail_next("set_properties", Fault::Failed);
    s.storage.fail_next("destroy", Fault::Failed);
    let e = s.branch("d", "b", "master", None).unwrap_err();
    assert_eq!(kind(&e), "Unsettled", "{e}");
    assert!(e.to_string().contains("finishes that by itself"), "{e}");
    assert_eq!(s.node.core.intents.pending().len(), 1);
    s.node.core.settle_pending();
    assert!(s.node.core.intents.pending().is_empty());
    assert_eq!(s.storage.tree().len(), 1, "{:?}", s.storage.tree());
    s.assert_consistent("d");
}
