//! `dm prune` on the simulator: what a keep policy removes, what is always kept, and dry runs.

use super::*;

fn prune(s: &Sim, branch: &str, req: api::Prune) -> Result<api::Pruned, DaemonError> {
    s.node
        .dots
        .prune(AS_ADMIN, crate::routes::At::new((ADMIN, "d", branch)), &req)
}

fn keep_last(n: u32, dry_run: bool) -> api::Prune {
    api::Prune {
        keep_last: Some(n),
        dry_run,
        ..api::Prune::default()
    }
}

/// Dot `d` with commits c1..c6 on master, file `f` holding each one's name.
fn six() -> (Sim, Vec<CommitId>) {
    let s = Sim::new();
    s.dot("d");
    let ids = (1..=6)
        .map(|i| {
            s.write("d", "master", "f", &format!("c{i}"));
            s.commit("d", "master", &format!("c{i}"))
        })
        .collect();
    (s, ids)
}

#[test]
fn keep_last_removes_the_older_commits_and_a_dry_run_nothing() {
    let (s, ids) = six();
    let dry = prune(&s, "master", keep_last(2, true)).unwrap();
    assert_eq!(dry.removed, 4);
    assert!(dry.dry_run);
    assert_eq!(s.log("d", "master").len(), 6, "a dry run changes nothing");
    let done = prune(&s, "master", keep_last(2, false)).unwrap();
    assert_eq!(done.removed, 4);
    assert_eq!(s.log("d", "master"), ["c6", "c5"]);
    assert_eq!(s.snaps("d", "master"), [ids[4].as_str(), ids[5].as_str()]);
    // What is left still works: reset to the older kept commit.
    s.reset("d", "master", &ids[4]).unwrap();
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("c5"));
    s.assert_consistent("d");
}

#[test]
fn branch_points_tags_shared_commits_and_the_newest_are_always_kept() {
    let (s, ids) = six();
    s.branch("d", "feature", "master", Some(&ids[1])).unwrap();
    s.tag("v3", &ids[2]);
    let dot = s.node.core.load(ADMIN, "d").unwrap().dot;
    s.node
        .core
        .store()
        .set_shared(&dot.id, "hub", &ids[3])
        .unwrap();
    let done = prune(&s, "master", keep_last(0, false)).unwrap();
    let why: Vec<(String, Vec<String>)> = done
        .commits
        .iter()
        .map(|c| (c.message.clone(), c.why.clone()))
        .collect();
    assert_eq!(
        why,
        [
            ("c6".to_string(), vec!["newest".to_string()]),
            ("c5".into(), vec![]),
            ("c4".into(), vec!["shared with another cluster".into()]),
            ("c3".into(), vec!["tag v3".into()]),
            ("c2".into(), vec!["branch feature grew from it".into()]),
            ("c1".into(), vec![]),
        ]
    );
    assert_eq!(s.log("d", "master"), ["c6", "c4", "c3", "c2"]);
    assert_eq!(s.log("d", "feature"), ["c2"]);
    assert_eq!(s.read("d", "feature", "f").as_deref(), Some("c2"));
    s.assert_consistent("d");
}

#[test]
fn prune_without_a_policy_or_on_a_missing_branch_is_refused() {
    let (s, _) = six();
    let e = prune(&s, "master", api::Prune::default()).unwrap_err();
    assert_eq!(kind(&e), "BadRequest", "{e}");
    assert!(e.to_string().contains("--keep-last"), "{e}");
    let e = prune(&s, "nope", keep_last(1, false)).unwrap_err();
    assert_eq!(kind(&e), "NotFound", "{e}");
    assert_eq!(s.log("d", "master").len(), 6);
}
