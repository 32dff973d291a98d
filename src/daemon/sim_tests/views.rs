//! Read-only views of commits: shared per commit, kept while mounted or lately asked for,
//! removed after the last Docker unmount or by the sweep.

use super::*;
use crate::routes::At;

fn views(s: &Sim) -> usize {
    let (fs, _) = s.storage.list(&[], &[]).unwrap();
    fs.iter()
        .filter(|l| matches!(l.role, crate::storage::Role::View(_)))
        .count()
}

#[test]
fn a_commit_view_is_shared_and_goes_with_its_last_docker_mount() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "one");
    let c1 = s.commit("d", "master", "one");
    s.write("d", "master", "f", "two");
    let at = At::new((ADMIN, "d", "master"));
    let subdots = &s.node.subdots;
    let p1 = subdots
        .open_commit(AS_ADMIN, at, &c1[..8], "__default__", false)
        .unwrap();
    let p2 = subdots
        .open_commit(AS_ADMIN, at, c1.as_str(), "__default__", false)
        .unwrap();
    assert_eq!(p1, p2, "one view per commit");
    assert_eq!(std::fs::read_to_string(p1.join("f")).unwrap(), "one");
    assert_eq!(views(&s), 1);
    // Docker's mount of it is counted; its unmount (the last) removes the view.
    s.node.core.mounts.add(
        "m1",
        crate::daemon::mounts::MountRecord {
            volume: format!("d^{c1}"),
            namespace: ADMIN.into(),
            dot: "d".into(),
            branch: "master".into(),
            path: p1.display().to_string(),
        },
    );
    subdots.sweep_views();
    assert_eq!(views(&s), 1, "mounted: kept by the sweep");
    s.node.core.mounts.remove("m1", &format!("d^{c1}"));
    subdots.release_commit(&p1);
    assert_eq!(views(&s), 0);
    // Asked for by a person: kept after a Docker unmount, until it idles.
    subdots
        .open_commit(AS_ADMIN, at, c1.as_str(), "__default__", true)
        .unwrap();
    subdots.release_commit(&p1);
    subdots.sweep_views();
    assert_eq!(views(&s), 1);
    // Not a commit of the branch: not found.
    let e = subdots
        .open_commit(AS_ADMIN, at, "fedcba98", "__default__", false)
        .unwrap_err();
    assert_eq!(kind(&e), "NotFound", "{e}");
    // Another namespace's dot: refused.
    let bob = Principal::user("bob");
    let e = subdots
        .open_commit(&bob, at, c1.as_str(), "__default__", false)
        .unwrap_err();
    assert_eq!(kind(&e), "Forbidden", "{e}");
}
