//! The simulator keeps the ZFS rules the node relies on (checked here so the node's tests
//! mean something); the same rules hold on real ZFS in the end-to-end suites.

use std::io::Read;

use crate::storage::sim::{Fault, SimStorage};
use crate::storage::{Ds, Error, FsId, Input, Rollback, Storage};

/// A filesystem id for tests.
fn id(s: &str) -> FsId {
    FsId::from(s)
}

fn pool() -> (SimStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SimStorage::new("p", &dir.path().join("mnt"));
    s.prepare().unwrap();
    (s, dir)
}

fn branch(s: &SimStorage, fs: &str) {
    let fs = &id(fs);
    let mp = s.mountpoint(fs).display().to_string();
    s.create(Ds::Branch(fs), None, &[("mountpoint", mp.as_str())])
        .unwrap();
    s.mount(Ds::Branch(fs)).unwrap();
}

fn write(s: &SimStorage, fs: &str, file: &str, content: &str) {
    std::fs::write(s.mountpoint(fs).join(file), content).unwrap();
}

fn read(s: &SimStorage, fs: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(s.mountpoint(fs).join(file)).ok()
}

#[test]
fn a_clone_pins_its_origin() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    s.create(Ds::Branch(&id("b")), Some((&id("a"), "c1")), &[])
        .unwrap();
    assert!(matches!(
        s.destroy_snapshot(Ds::Branch(&id("a")), "c1"),
        Err(Error::HasDependents { .. })
    ));
    assert!(matches!(
        s.destroy(Ds::Branch(&id("a"))),
        Err(Error::HasDependents { .. })
    ));
    s.destroy(Ds::Branch(&id("b"))).unwrap();
    s.destroy(Ds::Branch(&id("a"))).unwrap();
}

#[test]
fn a_plain_rollback_goes_only_to_the_newest_snapshot() {
    let (s, _d) = pool();
    branch(&s, "a");
    write(&s, "a", "f", "1");
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    write(&s, "a", "f", "2");
    s.snapshot(Ds::Branch(&id("a")), "c2", &[]).unwrap();
    write(&s, "a", "f", "dirty");
    assert!(
        s.rollback(Ds::Branch(&id("a")), "c1", Rollback::Newest)
            .is_err()
    );
    s.rollback(Ds::Branch(&id("a")), "c2", Rollback::Newest)
        .unwrap();
    assert_eq!(read(&s, "a", "f").as_deref(), Some("2"));
    s.rollback(Ds::Branch(&id("a")), "c1", Rollback::DestroyingLater)
        .unwrap();
    assert_eq!(read(&s, "a", "f").as_deref(), Some("1"));
    assert_eq!(s.snapshots(Ds::Branch(&id("a"))).unwrap(), ["c1"]);
}

#[test]
fn a_rollback_past_a_snapshot_with_clones_is_refused() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    s.snapshot(Ds::Branch(&id("a")), "c2", &[]).unwrap();
    s.create(Ds::Branch(&id("b")), Some((&id("a"), "c2")), &[])
        .unwrap();
    let e = s.rollback(Ds::Branch(&id("a")), "c1", Rollback::DestroyingLater);
    assert!(matches!(e, Err(Error::HasDependents { .. })), "{e:?}");
    assert_eq!(s.snapshots(Ds::Branch(&id("a"))).unwrap(), ["c1", "c2"]);
}

#[test]
fn snapshots_tell_whether_anything_changed() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    s.snapshot(Ds::Branch(&id("a")), "p1", &[]).unwrap();
    assert!(
        !s.differs(Ds::Branch(&id("a")), "p1", (Ds::Branch(&id("a")), "c1"))
            .unwrap()
    );
    write(&s, "a", "f", "x");
    s.snapshot(Ds::Branch(&id("a")), "p2", &[]).unwrap();
    assert!(
        s.differs(Ds::Branch(&id("a")), "p2", (Ds::Branch(&id("a")), "c1"))
            .unwrap()
    );
}

#[test]
fn unmounted_files_survive_and_come_back_on_mount() {
    let (s, _d) = pool();
    branch(&s, "a");
    write(&s, "a", "f", "kept");
    s.unmount(Ds::Branch(&id("a"))).unwrap();
    assert!(!s.is_mounted(Ds::Branch(&id("a"))).unwrap());
    assert_eq!(read(&s, "a", "f"), None);
    s.mount(Ds::Branch(&id("a"))).unwrap();
    assert_eq!(read(&s, "a", "f").as_deref(), Some("kept"));
}

#[test]
fn a_busy_filesystem_neither_unmounts_nor_is_destroyed() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.set_busy(Ds::Branch(&id("a")), true);
    assert!(matches!(
        s.unmount(Ds::Branch(&id("a"))),
        Err(Error::Busy(_))
    ));
    assert!(matches!(
        s.destroy(Ds::Branch(&id("a"))),
        Err(Error::Busy(_))
    ));
    s.set_busy(Ds::Branch(&id("a")), false);
    s.destroy(Ds::Branch(&id("a"))).unwrap();
}

#[test]
fn a_received_snapshot_keeps_its_guid_but_not_its_user_properties() {
    let (a, _d1) = pool();
    let (b, _d2) = pool();
    branch(&a, "x");
    write(&a, "x", "f", "data");
    a.snapshot(Ds::Branch(&id("x")), "c1", &[("io.dm:k", "v")])
        .unwrap();
    let mut bytes = Vec::new();
    a.send(Ds::Branch(&id("x")), "c1", None, false)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    b.receive(Ds::Branch(&id("y")), false, Input::Read(&mut &bytes[..]))
        .unwrap();
    assert_eq!(
        a.guid(Ds::Branch(&id("x")), "c1").unwrap(),
        b.guid(Ds::Branch(&id("y")), "c1").unwrap()
    );
    let (_, snaps) = b.list(&[], &["io.dm:k"]).unwrap();
    assert!(snaps[0].props.is_empty());
}

#[test]
fn an_increment_must_start_at_the_receivers_newest_snapshot() {
    let (a, _d1) = pool();
    let (b, _d2) = pool();
    branch(&a, "x");
    a.snapshot(Ds::Branch(&id("x")), "c1", &[]).unwrap();
    a.snapshot(Ds::Branch(&id("x")), "c2", &[]).unwrap();
    a.snapshot(Ds::Branch(&id("x")), "c3", &[]).unwrap();
    let x = id("x");
    let send = |to: &str, from: Option<&str>| {
        let mut bytes = Vec::new();
        a.send(Ds::Branch(&x), to, from.map(|f| (Ds::Branch(&x), f)), true)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    b.receive(
        Ds::Branch(&id("x")),
        false,
        Input::Read(&mut &send("c1", None)[..]),
    )
    .unwrap();
    assert!(
        b.receive(
            Ds::Branch(&id("x")),
            true,
            Input::Read(&mut &send("c3", Some("c2"))[..])
        )
        .is_err()
    );
    b.receive(
        Ds::Branch(&id("x")),
        true,
        Input::Read(&mut &send("c3", Some("c1"))[..]),
    )
    .unwrap();
    assert_eq!(
        b.snapshots(Ds::Branch(&id("x"))).unwrap(),
        ["c1", "c2", "c3"]
    );
}

#[test]
fn a_clone_stream_needs_its_origin_on_the_receiver() {
    let (a, _d1) = pool();
    let (b, _d2) = pool();
    branch(&a, "x");
    a.snapshot(Ds::Branch(&id("x")), "c1", &[]).unwrap();
    a.create(Ds::Branch(&id("y")), Some((&id("x"), "c1")), &[])
        .unwrap();
    a.snapshot(Ds::Branch(&id("y")), "b1", &[]).unwrap();
    let mut clone = Vec::new();
    a.send(
        Ds::Branch(&id("y")),
        "b1",
        Some((Ds::Branch(&id("x")), "c1")),
        true,
    )
    .unwrap()
    .read_to_end(&mut clone)
    .unwrap();
    assert!(
        b.receive(Ds::Branch(&id("y")), false, Input::Read(&mut &clone[..]))
            .is_err()
    );
    let mut full = Vec::new();
    a.send(Ds::Branch(&id("x")), "c1", None, false)
        .unwrap()
        .read_to_end(&mut full)
        .unwrap();
    b.receive(Ds::Branch(&id("x")), false, Input::Read(&mut &full[..]))
        .unwrap();
    b.receive(Ds::Branch(&id("y")), false, Input::Read(&mut &clone[..]))
        .unwrap();
    assert_eq!(
        b.origin(Ds::Branch(&id("y"))).unwrap(),
        Some(("x".into(), "c1".into()))
    );
}

#[test]
fn renaming_keeps_clones_pointing_at_their_origin() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    s.create(Ds::Aside(&id("b")), Some((&id("a"), "c1")), &[])
        .unwrap();
    s.rename(Ds::Aside(&id("b")), Ds::Branch(&id("b"))).unwrap();
    assert_eq!(
        s.origin(Ds::Branch(&id("b"))).unwrap(),
        Some(("a".into(), "c1".into()))
    );
    assert!(matches!(
        s.rename(Ds::Branch(&id("b")), Ds::Branch(&id("a"))),
        Err(Error::AlreadyExists(_))
    ));
}

#[test]
fn injected_faults_fire_once_on_the_chosen_call() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.fail_nth("snapshot", 2, Fault::NoSpace);
    s.snapshot(Ds::Branch(&id("a")), "c1", &[]).unwrap();
    assert!(matches!(
        s.snapshot(Ds::Branch(&id("a")), "c2", &[]),
        Err(Error::NoSpace(_))
    ));
    s.snapshot(Ds::Branch(&id("a")), "c2", &[]).unwrap();
    assert_eq!(s.snapshots(Ds::Branch(&id("a"))).unwrap(), ["c1", "c2"]);
}

#[test]
fn listing_names_each_dataset_by_its_role() {
    let (s, _d) = pool();
    branch(&s, "a");
    s.create(Ds::Aside(&id("a")), None, &[]).unwrap();
    s.create(Ds::Staging(&id("z")), None, &[]).unwrap();
    let (fss, _) = s.list(&[], &[]).unwrap();
    let roles: Vec<_> = fss.into_iter().map(|l| l.role).collect();
    use crate::storage::Role;
    assert_eq!(
        roles,
        [
            Role::Branch("a".into()),
            Role::Aside("a".into()),
            Role::Staging("z".into())
        ]
    );
}
