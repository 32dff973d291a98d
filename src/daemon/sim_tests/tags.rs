//! Tags on the simulator: naming commits, using them where commits go, refusals, and their end.

use super::*;
use crate::api::CreateTag;

fn tag(
    s: &Sim,
    name: &str,
    branch: &str,
    commit: Option<&str>,
) -> Result<api::TagInfo, DaemonError> {
    s.node.dots.create_tag(
        AS_ADMIN,
        ADMIN,
        "d",
        &CreateTag {
            name: name.into(),
            branch: Some(branch.into()),
            commit: commit.map(str::to_string),
        },
    )
}

fn tag_names(s: &Sim) -> Vec<(String, String)> {
    s.node
        .dots
        .tags(AS_ADMIN, ADMIN, "d")
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.commit.to_string()))
        .collect()
}

#[test]
fn a_tag_names_the_newest_commit_or_the_one_given() {
    let s = Sim::new();
    s.dot("d");
    let c1 = s.commit("d", "master", "one");
    let c2 = s.commit("d", "master", "two");
    let t = tag(&s, "v2", "master", None).unwrap();
    assert_eq!(
        (t.commit.as_str(), t.branch.as_str()),
        (c2.as_str(), "master")
    );
    tag(&s, "v1", "master", Some(&c1[..8])).unwrap();
    // A tag names a commit too.
    tag(&s, "first", "master", Some("v1")).unwrap();
    assert_eq!(
        tag_names(&s),
        vec![
            ("first".to_string(), c1.to_string()),
            ("v1".to_string(), c1.to_string()),
            ("v2".to_string(), c2.to_string()),
        ]
    );
}

#[test]
fn tags_work_where_commits_do() {
    let s = Sim::new();
    s.dot("d");
    s.write("d", "master", "f", "one");
    let c1 = s.commit("d", "master", "one");
    tag(&s, "v1", "master", None).unwrap();
    s.write("d", "master", "f", "two");
    s.commit("d", "master", "two");
    // A branch from a tag, then a reset to it.
    let b = s.branch("d", "fix", "master", Some("v1")).unwrap();
    assert_eq!(b.origin.unwrap().commit.as_str(), c1.as_str());
    s.reset("d", "master", "v1").unwrap();
    assert_eq!(s.log("d", "master"), vec!["one"]);
    assert_eq!(s.read("d", "master", "f").as_deref(), Some("one"));
    s.assert_consistent("d");
}

#[test]
fn tags_are_refused_with_what_to_do() {
    let s = Sim::new();
    s.dot("d");
    let e = tag(&s, "v1", "master", None).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("no commits"), "{e}");
    s.commit("d", "master", "one");
    tag(&s, "v1", "master", None).unwrap();
    let e = tag(&s, "v1", "master", None).unwrap_err();
    assert!(e.to_string().contains("dm tag -d v1"), "{e}");
    for bad in ["_hidden", "a/b", "0123456789abcdef0123456789abcdef", ""] {
        let e = tag(&s, bad, "master", None).unwrap_err();
        assert_eq!(kind(&e), "BadRequest", "{bad}: {e}");
    }
    let e = tag(&s, "v2", "master", Some("nosuch")).unwrap_err();
    assert_eq!(kind(&e), "BadRequest", "{e}");
    // A tag of another branch's commit is not in this branch's history.
    s.branch("d", "side", "master", None).unwrap();
    s.commit("d", "side", "on side");
    tag(&s, "side-only", "side", None).unwrap();
    let e = s.reset("d", "master", "side-only").unwrap_err();
    assert!(
        e.to_string()
            .contains("not in the history of branch 'master'"),
        "{e}"
    );
    // Someone else's namespace.
    let e = s
        .node
        .dots
        .tags(&Principal::user("mallory"), ADMIN, "d")
        .unwrap_err();
    assert_eq!(kind(&e), "Forbidden");
}

#[test]
fn tags_go_when_deleted_and_with_their_dot() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "one");
    tag(&s, "v1", "master", None).unwrap();
    s.node.dots.delete_tag(AS_ADMIN, ADMIN, "d", "v1").unwrap();
    assert!(tag_names(&s).is_empty());
    let e = s
        .node
        .dots
        .delete_tag(AS_ADMIN, ADMIN, "d", "v1")
        .unwrap_err();
    assert_eq!(kind(&e), "NotFound");
    tag(&s, "v1", "master", None).unwrap();
    s.node.dots.delete(AS_ADMIN, ADMIN, "d").unwrap();
    s.dot("d");
    assert!(
        tag_names(&s).is_empty(),
        "a new dot of the same name has no old tags"
    );
}

#[test]
fn a_tag_keeps_its_commit_from_resets_and_branch_deletes() {
    let s = Sim::new();
    s.dot("d");
    s.commit("d", "master", "one");
    let c1 = s.node.dots.log(AS_ADMIN, ADMIN, "d", "master").unwrap()[0]
        .id
        .clone();
    s.commit("d", "master", "two");
    tag(&s, "v2", "master", None).unwrap();
    let e = s.reset("d", "master", &c1).unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("tagged v2"), "{e}");
    assert_eq!(
        s.log("d", "master"),
        vec!["two", "one"],
        "nothing was removed"
    );
    s.branch("d", "side", "master", None).unwrap();
    s.commit("d", "side", "on side");
    tag(&s, "s1", "side", None).unwrap();
    let e = s
        .node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "side")
        .unwrap_err();
    assert!(e.to_string().contains("tagged s1"), "{e}");
    // Once the tags go, so may the commits.
    s.node.dots.delete_tag(AS_ADMIN, ADMIN, "d", "s1").unwrap();
    s.node
        .dots
        .delete_branch(AS_ADMIN, ADMIN, "d", "side")
        .unwrap();
    s.node.dots.delete_tag(AS_ADMIN, ADMIN, "d", "v2").unwrap();
    s.reset("d", "master", &c1).unwrap();
    assert_eq!(s.log("d", "master"), vec!["one"]);
    s.assert_consistent("d");
}
