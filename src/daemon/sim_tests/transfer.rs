//! Transfers between two clusters (`dm push`/`pull`/`clone`), daemon to daemon, on two
//! simulated pools: what the client's choreography asks of each side.

use crate::routes::At;
use std::io::Read;

use super::{ADMIN, AS_ADMIN, Principal, Sim, kind};
use crate::api;
use crate::storage::Input;

const DOT: At<'static> = At {
    ns: ADMIN,
    dot: "d",
    branch: "master",
};

/// The stream `src` sends for `from..to` of admin's dot `d` master.
fn stream(src: &Sim, from: Option<&str>, to: &str) -> Vec<u8> {
    let out = src
        .node
        .transfers
        .send_commits(AS_ADMIN, DOT, from, to)
        .unwrap();
    let mut s = out.stream().unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    s.finish().unwrap();
    bytes
}

/// Receives `bytes` on `dst` and confirms them with `src`'s commit records, as the client does.
fn deliver(
    src: &Sim,
    dst: &Sim,
    from: Option<&str>,
    bytes: &[u8],
) -> Result<Vec<String>, crate::daemon::DaemonError> {
    let got = dst.node.transfers.receive_commits(
        AS_ADMIN,
        DOT,
        from,
        Some(Input::Read(&mut &bytes[..])),
    )?;
    let commits = src.node.dots.log(AS_ADMIN, ADMIN, "d", "master").unwrap();
    dst.node.transfers.confirm_commits(
        AS_ADMIN,
        DOT,
        &api::ConfirmReceive {
            bytes: got.bytes,
            commits,
        },
    )
}

fn head(s: &Sim) -> String {
    s.node.dots.log(AS_ADMIN, ADMIN, "d", "master").unwrap()[0]
        .id
        .to_string()
}

fn first(s: &Sim) -> String {
    s.node
        .dots
        .log(AS_ADMIN, ADMIN, "d", "master")
        .unwrap()
        .last()
        .unwrap()
        .id
        .to_string()
}

/// A whole branch to a far side that lacks the dot, as the client does it: the first commit
/// in full, then the rest as one increment. Returns the commits registered.
fn push_all(src: &Sim, dst: &Sim) -> usize {
    let (c1, head) = (first(src), head(src));
    let mut done = deliver(src, dst, None, &stream(src, None, &c1))
        .unwrap()
        .len();
    if head != c1 {
        done += deliver(src, dst, Some(&c1), &stream(src, Some(&c1), &head))
            .unwrap()
            .len();
    }
    done
}

/// A source cluster with c1..c2 pushed in full to a far one; and the far side's head.
fn pushed() -> (Sim, Sim, String) {
    let src = source();
    let dst = Sim::with("far", Default::default());
    push_all(&src, &dst);
    let base = head(&src);
    (src, dst, base)
}

fn source() -> Sim {
    let src = Sim::new();
    src.dot("d");
    src.write("d", "master", "f", "one");
    src.commit("d", "master", "c1");
    src.write("d", "master", "f", "two");
    src.commit("d", "master", "c2");
    src
}

#[test]
fn a_dot_pushed_in_full_arrives_with_its_commits_and_files() {
    let src = source();
    let dst = Sim::with("far", Default::default());
    assert_eq!(push_all(&src, &dst), 2);
    assert_eq!(dst.log("d", "master"), ["c2", "c1"]);
    assert_eq!(dst.read("d", "master", "f").as_deref(), Some("two"));
    let ids: Vec<String> = src
        .node
        .dots
        .log(AS_ADMIN, ADMIN, "d", "master")
        .unwrap()
        .into_iter()
        .map(|c| c.id.into())
        .collect();
    assert_eq!(
        src.node
            .transfers
            .commit_guids(AS_ADMIN, DOT, &ids)
            .unwrap(),
        dst.node
            .transfers
            .commit_guids(AS_ADMIN, DOT, &ids)
            .unwrap(),
        "the same data on both sides"
    );
    dst.assert_consistent("d");
}

#[test]
fn an_increment_continues_from_the_newest_common_commit() {
    let (src, dst, base) = pushed();
    src.write("d", "master", "f", "three");
    src.commit("d", "master", "c3");
    let bytes = stream(&src, Some(&base), &head(&src));
    assert_eq!(deliver(&src, &dst, Some(&base), &bytes).unwrap().len(), 1);
    assert_eq!(dst.log("d", "master"), ["c3", "c2", "c1"]);
    assert_eq!(dst.read("d", "master", "f").as_deref(), Some("three"));
    dst.assert_consistent("d");
}

#[test]
fn a_wrong_byte_count_keeps_nothing() {
    let src = source();
    let dst = Sim::with("far", Default::default());
    let bytes = stream(&src, None, &head(&src));
    let got = dst
        .node
        .transfers
        .receive_commits(AS_ADMIN, DOT, None, Some(Input::Read(&mut &bytes[..])))
        .unwrap();
    let e = dst
        .node
        .transfers
        .confirm_commits(
            AS_ADMIN,
            DOT,
            &api::ConfirmReceive {
                bytes: got.bytes + 1,
                commits: src.node.dots.log(AS_ADMIN, ADMIN, "d", "master").unwrap(),
            },
        )
        .unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("nothing was kept"), "{e}");
    assert!(dst.storage.tree().is_empty(), "{:?}", dst.storage.tree());
    assert_eq!(
        kind(&dst.node.inventory.show(AS_ADMIN, ADMIN, "d").unwrap_err()),
        "NotFound"
    );
}

#[test]
fn a_cut_stream_is_refused_and_leaves_nothing() {
    let src = source();
    let dst = Sim::with("far", Default::default());
    let bytes = stream(&src, None, &head(&src));
    let cut = &bytes[..bytes.len() / 2];
    let e = dst
        .node
        .transfers
        .receive_commits(AS_ADMIN, DOT, None, Some(Input::Read(&mut &cut[..])))
        .unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(dst.storage.tree().is_empty(), "{:?}", dst.storage.tree());
}

#[test]
fn an_unconfirmed_increment_stays_invisible_and_goes_before_a_mount() {
    let (src, dst, base) = pushed();
    src.write("d", "master", "f", "three");
    src.commit("d", "master", "c3");
    let bytes = stream(&src, Some(&base), &head(&src));
    dst.node
        .transfers
        .receive_commits(
            AS_ADMIN,
            DOT,
            Some(&base),
            Some(Input::Read(&mut &bytes[..])),
        )
        .unwrap();
    // Never confirmed: the log is as before, and whoever mounts it sees the old files.
    assert_eq!(dst.log("d", "master"), ["c2", "c1"]);
    assert_eq!(dst.read("d", "master", "f").as_deref(), Some("two"));
    dst.assert_consistent("d");
}

#[test]
fn a_branch_with_uncommitted_changes_takes_no_stream() {
    let (src, dst, base) = pushed();
    dst.write("d", "master", "f", "local edit");
    src.commit("d", "master", "c3");
    let e = dst
        .node
        .transfers
        .receive_commits(AS_ADMIN, DOT, Some(&base), None)
        .unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert!(e.to_string().contains("uncommitted"), "{e}");
    assert_eq!(dst.read("d", "master", "f").as_deref(), Some("local edit"));
}

#[test]
fn a_branch_that_moved_on_takes_no_increment_from_an_older_base() {
    let (_src, dst, base) = pushed();
    dst.commit("d", "master", "diverged");
    let e = dst
        .node
        .transfers
        .receive_commits(AS_ADMIN, DOT, Some(&base), None)
        .unwrap_err();
    assert_eq!(kind(&e), "Conflict", "{e}");
    assert_eq!(dst.log("d", "master"), ["diverged", "c2", "c1"]);
}

#[test]
fn an_increment_for_a_dot_the_far_side_lacks_asks_for_a_full_push() {
    let dst = Sim::with("far", Default::default());
    let e = dst
        .node
        .transfers
        .receive_commits(AS_ADMIN, DOT, Some("0123456789abcdef"), None)
        .unwrap_err();
    assert_eq!(kind(&e), "NotFound", "{e}");
    assert!(e.to_string().contains("push it in full"), "{e}");
}

#[test]
fn sending_a_commit_the_branch_lacks_is_not_found() {
    let src = source();
    let e = src
        .node
        .transfers
        .send_commits(AS_ADMIN, DOT, None, "0123456789abcdef")
        .err()
        .unwrap();
    assert_eq!(kind(&e), "NotFound", "{e}");
}

#[test]
fn another_users_dot_is_neither_sent_nor_received() {
    let src = source();
    let e = src
        .node
        .transfers
        .send_commits(&Principal::user("mallory"), DOT, None, &head(&src))
        .err()
        .unwrap();
    assert_eq!(kind(&e), "Forbidden", "{e}");
    let e = src
        .node
        .transfers
        .receive_commits(&Principal::user("mallory"), DOT, None, None)
        .unwrap_err();
    assert_eq!(kind(&e), "Forbidden", "{e}");
}

#[test]
fn a_new_dot_whose_commits_were_not_registered_gets_them_back_at_restart() {
    let src = source();
    let dst = Sim::with("far", Default::default());
    let c1 = first(&src);
    let bytes = stream(&src, None, &c1);
    // The dot is registered, then the daemon dies before its commit is.
    dst.kv.fail_puts("/commits/");
    deliver(&src, &dst, None, &bytes).unwrap_err();
    dst.kv.heal();
    let node = dst.restart_on(dst.kv.clone());
    node.recover().unwrap();
    let log: Vec<String> = node
        .dots
        .log(AS_ADMIN, ADMIN, "d", "master")
        .unwrap()
        .into_iter()
        .map(|c| c.message)
        .collect();
    assert_eq!(
        log,
        ["c1"],
        "the received data belongs to its commit, not to uncommitted changes"
    );
    assert!(!node.core.uncommitted(&dst.fs_id("d", "master")).unwrap());
}

#[test]
fn a_new_dot_is_never_left_with_data_but_no_commit() {
    let src = source();
    let dst = Sim::with("far", Default::default());
    let c1 = first(&src);
    let bytes = stream(&src, None, &c1);
    // The daemon dies while giving the received snapshot its commit record.
    dst.storage.fail_next(
        "set_snapshot_properties",
        crate::storage::sim::Fault::Failed,
    );
    deliver(&src, &dst, None, &bytes).unwrap_err();
    assert!(dst.storage.tree().is_empty(), "{:?}", dst.storage.tree());
    let node = dst.restart_on(dst.kv.clone());
    node.recover().unwrap();
    // Either the dot is not there (the push was never confirmed) or it has its commit; in
    // both cases the same push, run again, is taken.
    match node.dots.log(AS_ADMIN, ADMIN, "d", "master") {
        Ok(log) => assert_eq!(log.len(), 1, "a registered dot has its commit"),
        Err(e) => assert_eq!(kind(&e), "NotFound", "{e}"),
    }
    node.transfers
        .receive_commits(AS_ADMIN, DOT, None, None)
        .expect("the push can be run again");
}
