//! The core: what every service shares — the node's id, storage, registry, peers, intents,
//! per-dot locks and the branches on their way to another node — and the small helpers they all
//! use (loading a dot, making or destroying a branch's filesystem, checking who is master).
//! Settling intents (`recovery`) and the storage checks of fencing (`membership`) are core
//! methods too: every service relies on them. The services are built on top of it (`node`).
//!
//! Each branch is a filesystem (a clone of the commit it branched from) with a snapshot per
//! commit, reached through the [`Storage`] seam (`storage::layout` owns the names). Dot, branch
//! and commit metadata are also user properties, so [`super::Node::recover`] can rebuild the registry
//! from disk. Operations on one dot are serialised by a per-dot lock (the branch state machine
//! is "idle" or "one operation running"); different dots proceed in parallel.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::DaemonError;
use super::intent::Journal;
use super::mounts::MountTable;
use crate::cluster::{BranchRecord, DotId, DotRecord, FsId, NodeId, Store};
use crate::names::{self, Kind};
pub(super) use crate::storage::layout::{
    HANDOFF_PREFIX, P_BASELINE, P_BRANCH, P_DOT, P_DOTID, PROBE_PREFIX, commit_columns,
    decode_commit, encode_commit,
};
use crate::storage::{Ds, Input, Storage};
use crate::zfs::ZfsError;
use std::os::fd::AsFd;

type Result<T> = std::result::Result<T, DaemonError>;

/// Where Docker is, for naming the containers that hold our mounts.
pub struct DockerLink {
    pub driver: String,
    pub api_socket: PathBuf,
}

pub struct Core {
    pub id: NodeId,
    pub mounts: MountTable,
    pub(super) storage: Arc<dyn Storage>,
    pub(super) store: Store,
    pub(super) peers: super::peer::Peers,
    /// Branches on their way to another node (the branch state machine's "moving" state): the
    /// handoff service drives it; writes, resets and replication consult it.
    pub(super) moving: super::handoff::Moves,
    /// How long a receive waits for a sender gone quiet (`NodeConfig::stream_idle_secs`).
    pub(super) stream_idle: Duration,
    /// How long hidden branches (what `dm undo` can bring back) are kept.
    pub(super) undo_grace: Duration,
    /// How long a busy unmount is asked again when no process here uses the mount.
    pub(super) busy_grace: Duration,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Multi-step operations in flight or left unsettled (see `intent` and `recovery`).
    pub(super) intents: Journal,
}

/// A fresh random id (128 bits, hex), for secrets and names that are not typed ids.
pub fn new_id() -> String {
    crate::ids::random_hex()
}

/// A new API key (160 random bits, in hex): a user's, or admin's on a node.
pub fn new_api_key() -> String {
    format!("{}{}", new_id(), &new_id()[..8])
}

pub(super) fn now() -> (u64, u64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.as_nanos() as u64)
}

pub(super) fn zfs_err(e: ZfsError) -> DaemonError {
    match e {
        ZfsError::NoSpace(_) => DaemonError::PoolFull(
            "the ZFS pool is full; delete dots or commits you no longer need, or grow the pool"
                .into(),
        ),
        other => DaemonError::Zfs(other),
    }
}

pub(super) fn check_name(kind: Kind, name: &str) -> Result<()> {
    names::validate(kind, name).map_err(|e| DaemonError::BadRequest(e.to_string()))
}

/// Everything known about one dot while its lock is held.
pub(super) struct Loaded {
    pub(super) dot: DotRecord,
    pub(super) branches: Vec<BranchRecord>,
}

impl Loaded {
    pub(super) fn branch(&self, name: &str) -> Result<&BranchRecord> {
        self.branches
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "branch '{name}' does not exist in dot '{}'; list branches with `dm branch`",
                    self.dot.name
                ))
            })
    }

    pub(super) fn branch_of_fs(&self, fs_id: &str) -> String {
        self.branches
            .iter()
            .find(|b| b.fs_id == fs_id)
            .map(|b| b.name.clone())
            .unwrap_or_else(|| "(deleted)".into())
    }
}

impl Core {
    pub fn new(
        id: NodeId,
        storage: Arc<dyn Storage>,
        store: Store,
        mounts: MountTable,
        peers: super::peer::Peers,
        intents: Journal,
    ) -> Core {
        Core {
            id,
            mounts,
            storage,
            store,
            peers,
            moving: Default::default(),
            stream_idle: Duration::from_secs(super::config::DEFAULT_STREAM_IDLE_SECS),
            undo_grace: Duration::from_secs(super::config::DEFAULT_UNDO_GRACE_SECS),
            busy_grace: BUSY_GRACE,
            locks: Mutex::new(HashMap::new()),
            intents,
        }
    }

    /// A stream to splice from connection `conn` into `zfs receive`, given up on when nothing
    /// arrives for [`Core::stream_idle`]; `progress` hears the running count.
    pub(super) fn spliced_from<'a>(
        &self,
        conn: &'a std::net::TcpStream,
        progress: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> Input<'a> {
        let _ = conn.set_read_timeout(Some(self.stream_idle));
        Input::Splice {
            from: conn.as_fd(),
            progress,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn lock(&self, key: &str) -> Arc<Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string()).or_default().clone()
    }

    /// Destroys a branch's filesystem (already gone is fine); busy becomes a message that says
    /// what to close.
    /// Unmounting first means a busy branch fails before anything is destroyed: `zfs destroy
    /// -r` removes snapshots before it finds the filesystem busy. Already gone is fine.
    pub(super) fn destroy_branch_fs(&self, fs_id: &FsId, what: &str) -> Result<()> {
        let fs = Ds::Branch(fs_id);
        match self
            .unmount_settling(fs_id)
            .and_then(|_| self.settling(fs_id, || self.storage.destroy(fs)))
        {
            Ok(()) | Err(ZfsError::NotFound(_)) => Ok(()),
            Err(ZfsError::Busy(_)) => {
                let mp = self.mountpoint(fs_id);
                let holders = super::procs::holders(&mp, fs_id.as_str());
                let by = if holders.is_empty() {
                    String::new()
                } else {
                    format!(" (held by {})", holders.join(", "))
                };
                Err(DaemonError::InUse(format!(
                    "{what} is busy{by}; close programs using {} and try again",
                    mp.display()
                )))
            }
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Unmounts branch filesystem `fs_id` if it is mounted (returns whether it was); busy is
    /// asked again for a moment (see [`Core::settling`]).
    pub(super) fn unmount_settling(&self, fs_id: &FsId) -> std::result::Result<bool, ZfsError> {
        self.settling(fs_id, || self.storage.unmount(Ds::Branch(fs_id)))
    }

    /// Runs ZFS step `step` on branch `fs_id`, asking again for a moment while it finds the
    /// filesystem busy and no process here uses it (see [`settle`]).
    pub(super) fn settling<T>(
        &self,
        fs_id: &FsId,
        step: impl FnMut() -> std::result::Result<T, ZfsError>,
    ) -> std::result::Result<T, ZfsError> {
        settle(&self.mountpoint(fs_id), self.busy_grace, step)
    }

    /// Unmounts branch filesystem `fs_id` if it is mounted here; busy becomes
    /// [`DaemonError::InUse`] with `busy`'s message for the mountpoint. Returns whether it was
    /// mounted.
    pub(super) fn unmount_branch(
        &self,
        fs_id: &FsId,
        busy: impl FnOnce(&Path) -> String,
    ) -> Result<bool> {
        match self.unmount_settling(fs_id) {
            Ok(was_mounted) => Ok(was_mounted),
            Err(ZfsError::Busy(_)) => Err(DaemonError::InUse(busy(&self.mountpoint(fs_id)))),
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Whether branch filesystem `fs_id` is registered in dot `dot_id`.
    pub(super) fn registered_in(&self, dot_id: &DotId, fs_id: &FsId) -> Result<bool> {
        Ok(self
            .store
            .branches(dot_id)?
            .iter()
            .any(|b| &b.fs_id == fs_id))
    }

    pub(super) fn in_use_error(what: &str, containers: &[String], hint: &str) -> DaemonError {
        DaemonError::InUse(format!(
            "{what} is in use by container(s) {}; {hint}",
            containers.join(", ")
        ))
    }

    pub(super) fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.storage.mountpoint(fs_id)
    }

    /// Branch `name` of `l`, when it may be written here now: this node is its master, and it
    /// is not on its way to another node.
    pub(super) fn writable<'l>(&self, l: &'l Loaded, name: &str) -> Result<&'l BranchRecord> {
        let b = l.branch(name)?;
        self.check_not_moving(&b.fs_id, name)?;
        self.check_master(b)?;
        Ok(b)
    }

    /// Writes to a branch happen on its master: elsewhere this names it, and the API forwards
    /// the request there.
    pub(super) fn check_master(&self, b: &BranchRecord) -> Result<()> {
        match self.store.master(&b.fs_id)? {
            Some(m) if m != self.id => match self.store.server(&m)? {
                Some(s) => Err(DaemonError::MasterElsewhere(Box::new(s))),
                None => Err(DaemonError::Unavailable(format!(
                    "branch '{}' lives on node {m}, which is down; writes to it wait until that node is back (its commits are readable on every node)",
                    b.name
                ))),
            },
            _ => Ok(()),
        }
    }

    /// Users may act in their own namespace; admin in all.
    /// Filesystem ids of deleted branches: those whose tombstone carries this cluster's seal.
    /// Any other is ignored: only a node carrying out an authorised delete writes one.
    pub(super) fn deleted(&self) -> Result<BTreeSet<FsId>> {
        let mut out = BTreeSet::new();
        for (fs, seal) in self.store.tombstones()? {
            if self.peers.sealer.is_tombstone(&fs, &seal) {
                out.insert(fs);
            } else {
                tracing::warn!(%fs, "ignoring a tombstone not sealed by a node of this cluster");
            }
        }
        Ok(out)
    }

    /// Whether branch `fs` was deleted (see [`Core::deleted`]).
    pub(super) fn is_deleted(&self, fs: &FsId) -> Result<bool> {
        Ok(self
            .store
            .tombstone(fs)?
            .is_some_and(|seal| self.peers.sealer.is_tombstone(fs, &seal)))
    }

    pub(super) fn seal(&self) -> impl Fn(&str) -> String + '_ {
        |fs| self.peers.sealer.tombstone(fs)
    }

    pub(super) fn load(&self, ns: &str, name: &str) -> Result<Loaded> {
        check_name(Kind::Namespace, ns)?;
        check_name(Kind::Dot, name)?;
        let dot = self.store.dot(ns, name)?.ok_or_else(|| {
            DaemonError::NotFound(format!(
                "dot '{name}' does not exist; create it with `dm init {name}` or list dots with `dm list`"
            ))
        })?;
        self.load_record(dot)
    }

    /// A dot already read from the registry, with its branches.
    pub(super) fn load_record(&self, dot: DotRecord) -> Result<Loaded> {
        let branches = self.store.branches(&dot.id)?;
        Ok(Loaded { dot, branches })
    }

    /// Creates the filesystem of a branch, from `origin` (filesystem id, commit: a clone) or
    /// empty.
    pub(super) fn make_branch_fs(
        &self,
        dot: &DotRecord,
        branch: &str,
        fs_id: &FsId,
        origin: Option<(&FsId, &str)>,
    ) -> Result<()> {
        let mp = self.mountpoint(fs_id).display().to_string();
        let dot_prop = format!("{}/{}", dot.namespace, dot.name);
        let props = [
            ("mountpoint", mp.as_str()),
            // Mounted on first use: zfs-fuse cannot hold more than ~1000 mounts, and a node
            // with thousands of dots should not mount them all at start.
            ("canmount", "noauto"),
            ("atime", "off"),
            (P_DOT, dot_prop.as_str()),
            (P_DOTID, dot.id.as_str()),
            (P_BRANCH, branch),
        ];
        let fs = Ds::Branch(fs_id);
        self.storage.create(fs, origin, &props).map_err(zfs_err)?;
        // Set last: recovery takes a filesystem with a baseline as complete (see `recovery`).
        // If this fails, the caller's intent destroys the filesystem again.
        let base = self.storage.referenced(fs).map_err(zfs_err)?;
        self.storage
            .set_property(fs, P_BASELINE, &base.to_string())
            .map_err(zfs_err)
    }
}

pub(super) fn io_err(path: &Path, e: std::io::Error) -> DaemonError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        DaemonError::PoolFull(
            "the ZFS pool is full; delete dots or commits you no longer need, or grow the pool"
                .into(),
        )
    } else {
        DaemonError::Internal(format!("{}: {e}", path.display()))
    }
}

/// How long a busy filesystem is asked again (see [`settle`]).
pub(super) const BUSY_GRACE: Duration = Duration::from_secs(5);

/// Runs ZFS step `step` on a filesystem mounted at `mountpoint`, asking again for up to
/// `grace` while it finds the filesystem busy and no process here uses it: zfs-fuse lets go of
/// a filesystem a little after its unmount, and a container being set up anywhere on the
/// machine holds a copy of every mount (briefly, where the mount directory is shared). This
/// is the one place busy is asked again; the ZFS layer answers at once.
pub(super) fn settle<T>(
    mountpoint: &Path,
    grace: Duration,
    mut step: impl FnMut() -> std::result::Result<T, ZfsError>,
) -> std::result::Result<T, ZfsError> {
    let (mut wait, mut waited) = (Duration::from_millis(100), Duration::ZERO);
    loop {
        match step() {
            Err(ZfsError::Busy(e)) => {
                if waited >= grace || !super::procs::users_of(&[mountpoint]).is_empty() {
                    return Err(ZfsError::Busy(e));
                }
                std::thread::sleep(wait);
                waited += wait;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
