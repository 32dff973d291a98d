//! The old master's side of a handoff, and fencing, on the simulator: what release, its
//! settling and a node leaving do to the branch and its state.

use super::{ADMIN, Sim, kind};
use crate::cluster::{FsId, ServerRecord};
use crate::daemon::handoff::{ReleaseRequest, Released};
use crate::storage::sim::Fault;
use crate::storage::{Ds, Storage};

/// A dot `d` with one commit and uncommitted changes, mastered here, and node `n2` registered.
fn dirty_branch() -> (Sim, FsId) {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "committed");
    s.commit("d", "master", "c1");
    s.write("d", "master", "f", "dirty");
    let n2 = ServerRecord {
        id: "n2".into(),
        addresses: vec!["127.0.0.1".into()],
        api_port: 1,
        version: "test".into(),
        tls_cert: None,
    };
    s.node.core.store().register_server(&n2, 60).unwrap();
    let fs = s.fs_id("d", "master");
    (s, fs)
}

fn release_to(
    s: &Sim,
    fs: &FsId,
    to: &str,
) -> Result<crate::daemon::handoff::Release, crate::daemon::DaemonError> {
    s.node.handoff.release(&ReleaseRequest {
        fs: fs.clone(),
        to: to.into(),
        namespace: ADMIN.into(),
        dot: "d".into(),
        branch: "master".into(),
    })
}

fn readonly(s: &Sim, fs: &FsId) -> bool {
    s.storage
        .property(Ds::Branch(fs), "readonly")
        .unwrap()
        .as_deref()
        == Some("on")
}

#[test]
fn a_release_fences_the_branch_and_snapshots_its_uncommitted_state() {
    let (s, fs) = dirty_branch();
    let rel = release_to(&s, &fs, "n2").unwrap();
    assert!(rel.snapshot.starts_with("dmh-"), "{}", rel.snapshot);
    let c1 = s.node.core.store().commits(&fs).unwrap()[0].id.clone();
    assert_eq!(rel.base, Some(format!("{fs}@{c1}")));
    assert!(readonly(&s, &fs));
    assert!(!s.storage.is_mounted(Ds::Branch(&fs)).unwrap());
    assert!(s.node.core.is_moving(&fs));
    let e = s.try_commit("d", "master", "too late").unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
}

#[test]
fn a_handoff_that_did_not_happen_leaves_the_branch_as_it_was() {
    let (s, fs) = dirty_branch();
    let rel = release_to(&s, &fs, "n2").unwrap();
    s.node
        .handoff
        .released(&Released {
            fs: fs.clone(),
            snapshot: rel.snapshot.clone(),
            moved: false,
        })
        .unwrap();
    assert!(!readonly(&s, &fs));
    assert!(!s.node.core.is_moving(&fs));
    assert_eq!(
        s.snaps("d", "master").len(),
        1,
        "the handoff snapshot is gone"
    );
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("dirty"));
    s.commit("d", "master", "c2");
}

#[test]
fn the_master_record_decides_how_a_handoff_ended() {
    let (s, fs) = dirty_branch();
    let rel = release_to(&s, &fs, "n2").unwrap();
    // The new node took the branch, but told us it had not.
    assert!(
        s.node
            .core
            .store()
            .move_master(&fs, Some(&"n1".into()), &"n2".into())
            .unwrap()
    );
    s.node
        .handoff
        .released(&Released {
            fs: fs.clone(),
            snapshot: rel.snapshot,
            moved: false,
        })
        .unwrap();
    assert!(readonly(&s, &fs), "our copy is a replica now");
    assert!(!s.node.core.is_moving(&fs));
}

#[test]
fn a_second_node_cannot_take_a_branch_already_moving() {
    let (s, fs) = dirty_branch();
    release_to(&s, &fs, "n2").unwrap();
    let n3 = ServerRecord {
        id: "n3".into(),
        addresses: vec![],
        api_port: 1,
        version: "test".into(),
        tls_cert: None,
    };
    s.node.core.store().register_server(&n3, 60).unwrap();
    let e = release_to(&s, &fs, "n3").unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("n2"), "{e}");
}

#[test]
fn the_same_node_asking_again_restarts_the_handoff() {
    let (s, fs) = dirty_branch();
    let first = release_to(&s, &fs, "n2").unwrap();
    let second = release_to(&s, &fs, "n2").unwrap();
    assert_ne!(first.snapshot, second.snapshot);
    let snaps = s.snaps("d", "master");
    assert!(!snaps.contains(&first.snapshot), "{snaps:?}");
    assert!(snaps.contains(&second.snapshot), "{snaps:?}");
}

#[test]
fn a_handoff_to_a_node_that_is_gone_is_settled_by_the_sweep() {
    let (s, fs) = dirty_branch();
    let rel = release_to(&s, &fs, "n9").unwrap();
    assert!(s.node.core.is_moving(&fs));
    // n9 is not registered (its lease is gone): the sweep ends the handoff at once.
    s.node.handoff.settle_moves();
    assert!(!s.node.core.is_moving(&fs));
    assert!(!readonly(&s, &fs));
    assert!(!s.snaps("d", "master").contains(&rel.snapshot));
}

#[test]
fn a_release_that_cannot_snapshot_leaves_the_branch_writable() {
    let (s, fs) = dirty_branch();
    s.storage.fail_next("snapshot", Fault::NoSpace);
    let e = release_to(&s, &fs, "n2").unwrap_err();
    assert_eq!(kind(&e), "PoolFull", "{e}");
    assert!(!readonly(&s, &fs));
    assert!(!s.node.core.is_moving(&fs));
}

#[test]
fn a_busy_branch_is_not_released() {
    let (s, fs) = dirty_branch();
    s.storage.set_busy(Ds::Branch(&fs), true);
    let e = release_to(&s, &fs, "n2").unwrap_err();
    assert_eq!(kind(&e), "InUse", "{e}");
    assert!(!readonly(&s, &fs));
    assert!(!s.node.core.is_moving(&fs));
}

#[test]
fn uncommitted_changes_are_seen_exactly() {
    let (s, fs) = dirty_branch();
    assert!(s.node.core.uncommitted(&fs).unwrap());
    s.commit("d", "master", "c2");
    assert!(!s.node.core.uncommitted(&fs).unwrap());
    assert!(
        !s.snaps("d", "master").iter().any(|n| n.starts_with("dmp-")),
        "probes are removed"
    );
}

#[test]
fn fencing_unmounts_and_freezes_and_unfencing_undoes_it() {
    let (s, fs) = dirty_branch();
    assert!(s.node.core.fence(&fs).unwrap(), "it was mounted");
    assert!(readonly(&s, &fs));
    assert!(!s.storage.is_mounted(Ds::Branch(&fs)).unwrap());
    s.node.core.unfence(&fs, true).unwrap();
    assert!(!readonly(&s, &fs));
    assert!(s.storage.is_mounted(Ds::Branch(&fs)).unwrap());
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("dirty"));
}
