//! The storage seam: what a node needs from its datasets, as a [`Storage`] trait with two
//! implementations — [`ZfsStorage`] (the real one, over the typed `zfs` layer) and
//! [`sim::SimStorage`] (in memory plus a scratch directory, for unit tests of the node's logic
//! without root, zfs-fuse or etcd; stratisd's engine trait and sim engine are the model).
//!
//! Callers name datasets by what they are for ([`Ds`]) and snapshots by commit or marker name;
//! only [`layout`] turns those into ZFS names, so no dataset name is formatted above this module.

pub mod layout;
pub mod propagation;
#[cfg(test)]
pub mod sim;
mod zfs;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

pub use self::zfs::{ZfsStorage, mounted};
pub use crate::ids::FsId;
pub use crate::zfs::{Input, Props, ZfsError as Error};

pub type Result<T> = std::result::Result<T, Error>;

/// A dataset the node keeps under `<pool>/dmfs`, named by its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ds<'a> {
    /// A branch's filesystem, by filesystem id (`dmfs/<fs-id>`).
    Branch(&'a FsId),
    /// A branch filesystem set aside while a reset re-clones it (`dmfs/<fs-id>-reset`).
    Aside(&'a FsId),
    /// A dot from another cluster received but not yet confirmed (`dmfs/recv-<fs-id>`).
    Staging(&'a FsId),
    /// A short-lived read-only clone of a commit, to read its files (`dmfs/view-<id>`):
    /// zfs-fuse has no `.zfs/snapshot` directory.
    View(&'a FsId),
}

/// What a listed dataset is, with the filesystem id it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Branch(FsId),
    Aside(FsId),
    Staging(FsId),
    View(FsId),
}

/// A filesystem from [`Storage::list`].
#[derive(Clone, Debug)]
pub struct Listed {
    pub role: Role,
    /// The snapshot it was cloned from, as (filesystem id, snapshot name), when that is a branch.
    pub origin: Option<(FsId, String)>,
    pub props: BTreeMap<String, String>,
}

/// A snapshot from [`Storage::list`], in creation order.
#[derive(Clone, Debug)]
pub struct ListedSnapshot {
    pub role: Role,
    pub name: String,
    pub props: BTreeMap<String, String>,
}

/// (used bytes, uncommitted bytes) per branch filesystem id.
pub type Sizes = HashMap<FsId, (u64, u64)>;

/// How a rollback treats later snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollback {
    /// The target is the newest snapshot: only uncommitted changes go (`zfs rollback`).
    Newest,
    /// Later snapshots are destroyed too (`zfs rollback -r`); refused when they have clones.
    DestroyingLater,
}

/// A running send: read it (or splice it), then [`Sending::finish`] to learn whether it was whole.
pub trait Sending: std::io::Read + Send {
    /// Moves the rest of the stream into `to` without it passing through this process where the
    /// implementation can; `progress` hears the running count and an error from it stops.
    fn splice_into(
        &mut self,
        to: std::os::fd::BorrowedFd<'_>,
        progress: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> std::io::Result<u64>;
    /// Waits for the sender; an error means what was read is not a complete stream.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Everything the node does to its datasets. Errors are the ZFS layer's ([`Error`]), which the
/// simulator produces for the same situations (missing, busy, has dependants, out of space).
pub trait Storage: Send + Sync {
    /// The pool's name (for logs and for finding `zfs` commands a killed daemon left).
    fn pool_name(&self) -> &str;
    /// The directory branches are mounted under.
    fn mount_dir(&self) -> &std::path::Path;
    /// Where branch `fs_id` is mounted.
    fn mountpoint(&self, fs_id: &str) -> PathBuf;
    /// Where view `id` ([`Ds::View`]) is mounted.
    fn view_mountpoint(&self, id: &str) -> PathBuf;
    /// Makes the parent of every dataset exist, unmounted, and the mount directory exist.
    fn prepare(&self) -> Result<()>;

    /// Creates `ds`, empty or as a clone of `origin` (filesystem id, snapshot name).
    fn create(&self, ds: Ds<'_>, origin: Option<(&FsId, &str)>, props: Props<'_>) -> Result<()>;
    fn exists(&self, ds: Ds<'_>) -> Result<bool>;
    /// Destroys `ds` with its snapshots; fails with `HasDependents` while clones of them exist.
    fn destroy(&self, ds: Ds<'_>) -> Result<()>;
    fn rename(&self, from: Ds<'_>, to: Ds<'_>) -> Result<()>;
    /// `zfs promote`: clone `ds` takes its origin's snapshots up to the one it was cloned from
    /// (and their other clones), and the origin becomes a clone of `ds`.
    fn promote(&self, ds: Ds<'_>) -> Result<()>;
    /// One property (`None` when unset).
    fn property(&self, ds: Ds<'_>, prop: &str) -> Result<Option<String>>;
    /// Sets independent properties (each may succeed alone).
    fn set_properties(&self, ds: Ds<'_>, props: &[(String, String)]) -> Result<()>;
    fn set_property(&self, ds: Ds<'_>, prop: &str, value: &str) -> Result<()> {
        self.set_properties(ds, &[(prop.to_string(), value.to_string())])
    }
    /// The snapshot `ds` was cloned from, when it is a branch's: (filesystem id, snapshot).
    fn origin(&self, ds: Ds<'_>) -> Result<Option<(FsId, String)>>;
    fn referenced(&self, ds: Ds<'_>) -> Result<u64>;
    /// Whether `ds` is mounted; for a branch, read without asking ZFS where possible.
    fn is_mounted(&self, ds: Ds<'_>) -> Result<bool>;
    fn mount(&self, ds: Ds<'_>) -> Result<()>;
    /// Unmounts if mounted, and says whether it was; `Busy` when a process holds it.
    fn unmount(&self, ds: Ds<'_>) -> Result<bool>;

    /// Takes snapshot `name`, with `props` set as it is created.
    fn snapshot(&self, ds: Ds<'_>, name: &str, props: Props<'_>) -> Result<()>;
    /// Snapshot names of `ds`, oldest first.
    fn snapshots(&self, ds: Ds<'_>) -> Result<Vec<String>>;
    fn has_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<bool>;
    /// Destroys one snapshot; `HasDependents` while a clone of it exists.
    fn destroy_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<()>;
    fn set_snapshot_properties(
        &self,
        ds: Ds<'_>,
        name: &str,
        props: &[(String, String)],
    ) -> Result<()>;
    /// The snapshot's GUID, which a receive keeps: equal GUIDs mean equal data.
    fn guid(&self, ds: Ds<'_>, name: &str) -> Result<String>;
    /// Bytes the snapshot references (about the size of a full stream of it).
    fn snapshot_referenced(&self, ds: Ds<'_>, name: &str) -> Result<u64>;
    /// Bytes only the snapshot holds (what destroying it alone frees).
    fn snapshot_used(&self, ds: Ds<'_>, name: &str) -> Result<u64>;
    fn rollback(&self, ds: Ds<'_>, name: &str, how: Rollback) -> Result<()>;
    /// Whether anything changed between snapshot `older` (of `ds`, or of its origin for a
    /// clone) and snapshot `newer` of `ds`.
    fn differs(&self, ds: Ds<'_>, newer: &str, older: (Ds<'_>, &str)) -> Result<bool>;

    /// Starts a send of `ds@to`: in full, or the increment since `from` (a snapshot of `ds`, or
    /// of its origin for a clone), with every snapshot between when `intermediates`.
    fn send(
        &self,
        ds: Ds<'_>,
        to: &str,
        from: Option<(Ds<'_>, &str)>,
        intermediates: bool,
    ) -> Result<Box<dyn Sending>>;
    /// Receives a stream into `ds`: into an `existing` one (rolled back to its newest snapshot
    /// first), or creating it. Returns the stream's size.
    fn receive(&self, ds: Ds<'_>, existing: bool, input: Input<'_>) -> Result<u64>;

    /// Every dataset and snapshot under the parent, with the requested user properties.
    fn list(
        &self,
        fs_props: &[&str],
        snap_props: &[&str],
    ) -> Result<(Vec<Listed>, Vec<ListedSnapshot>)>;
    /// Bytes used and still available in the pool.
    fn space(&self) -> Result<(u64, u64)>;
    /// Sizes of the given branches (every one when `None`); missing ones are left out.
    fn sizes(&self, fs_ids: Option<&[FsId]>) -> Result<Sizes>;
}

/// A step whose target may be gone already (settling after a crash, a retry): gone is done,
/// with no lookup before the step itself.
pub fn gone_is_done(r: Result<()>) -> Result<()> {
    match r {
        Err(Error::NotFound(_)) => Ok(()),
        other => other,
    }
}

/// Owned (key, value) pairs from borrowed ones, for [`Storage::set_properties`].
pub fn owned(props: &[(&str, &str)]) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
