//! Moving commits between clusters (`dm push`, `dm pull`, `dm clone`): this node's side.
//!
//! A client asks this node to run a transfer with another cluster ([`Transfers::transfer`]): this node
//! sends a branch's commits ([`Transfers::send_commits`]) to the other daemon's receive, or reads the
//! other daemon's send into its own ([`Transfers::receive_commits`]). On plain HTTP the stream goes
//! raw over the API connection and never passes through either daemon ([`crate::wire`]); over
//! TLS it is copied through the request or response body. `zfs receive` checks the stream's own
//! checksum; the receiver registers the commits only when the client confirms them with the
//! sender's byte count ([`Transfers::confirm_commits`]). Until then they are invisible: an existing
//! branch is unmounted for the stream (`zfs receive` would move its files forward) and mounted
//! again on confirmation. A failed or unconfirmed receive is rolled back to the newest
//! registered commit before the next one, before anyone mounts the branch, or after
//! [`HIDDEN_FOR`] by the sweep.

use super::dots::Dots;
use super::inventory::Inventory;
use super::replicate::Replicator;
use crate::daemon::sender::Outgoing;
use crate::routes::At;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DaemonError;
use super::core::{Core, check_name, zfs_err};
use super::principal::Principal;
use crate::cluster::{BranchRecord, DotRecord, FsId};
use crate::names::Kind;
use crate::storage::Ds;

mod confirm;
mod far;
mod receive;
mod run;

pub use far::SentLog;

type Result<T> = std::result::Result<T, DaemonError>;

/// A stream received and waiting for the client's confirmation, per filesystem id; and the
/// branches unmounted while they take a stream, to mount again once it is settled.
#[derive(Default)]
pub struct Pending {
    received: Mutex<HashMap<FsId, Received>>,
    hidden: Mutex<HashMap<FsId, Hidden>>,
}

/// A branch that was mounted when a stream came, unmounted until the stream is confirmed or
/// dropped.
#[derive(Clone)]
pub(super) struct Hidden {
    since: Instant,
    pub(super) dot: DotRecord,
}

/// How long a branch stays unmounted for a stream whose client went quiet, before the sweep
/// drops what arrived and mounts it again.
pub(super) const HIDDEN_FOR: Duration = Duration::from_secs(120);

impl Pending {
    fn hide(&self, fs: &str, dot: &DotRecord) {
        let h = Hidden {
            since: Instant::now(),
            dot: dot.clone(),
        };
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fs.into(), h);
    }

    /// Forgets that `fs` was hidden; whether it was.
    fn unhide(&self, fs: &str) -> bool {
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(fs)
            .is_some()
    }

    /// Branches hidden for longer than [`HIDDEN_FOR`].
    pub(super) fn overdue(&self) -> Vec<(FsId, Hidden)> {
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, h)| h.since.elapsed() > HIDDEN_FOR)
            .map(|(fs, h)| (fs.clone(), h.clone()))
            .collect()
    }

    fn insert(&self, fs: FsId, r: Received) {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fs, r);
    }

    /// The unconfirmed receive into filesystem `fs`, taken out.
    fn take(&self, fs: &str) -> Option<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(fs)
    }

    /// Filesystems of unconfirmed receives that would create branch `branch` of dot `ns/name`
    /// (or the dot itself, with its master).
    fn fresh(&self, ns: &str, name: &str, branch: &str) -> Vec<FsId> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r)| {
                r.fresh.as_ref().is_some_and(|f| {
                    f.dot.namespace == ns && f.dot.name == name && f.branch.name == branch
                })
            })
            .map(|(fs, _)| fs.clone())
            .collect()
    }
}

pub struct Received {
    bytes: u64,
    /// The commit the stream followed (`None` for a full stream).
    base: Option<String>,
    /// Snapshots the stream brought, oldest first.
    snapshots: Vec<String>,
    /// Set when the receive creates a dot or a branch, registered on confirmation.
    fresh: Option<Fresh>,
}

/// A dot, or a branch of an existing dot, that a receive creates.
struct Fresh {
    dot: DotRecord,
    branch: BranchRecord,
}

impl Fresh {
    /// Whether the dot is new too: its master has no origin, every other branch has one.
    fn new_dot(&self) -> bool {
        self.branch.origin.is_none()
    }
}

/// Where a new dot is received before it is confirmed; [`Node::recover`] destroys leftovers.
/// Transfers with other clusters: sending, receiving, confirming, and running them as a client.
pub struct Transfers {
    core: Arc<Core>,
    dots: Arc<Dots>,
    inventory: Arc<Inventory>,
    replicator: Arc<Replicator>,
    /// Streams from other clusters waiting for the client's confirmation.
    pending: Pending,
    /// Streams this node sent, for the receiving side to ask whether they were whole.
    pub(super) sent: SentLog,
}

impl Transfers {
    pub(super) fn new(
        core: Arc<Core>,
        dots: Arc<Dots>,
        inventory: Arc<Inventory>,
        replicator: Arc<Replicator>,
    ) -> Transfers {
        Transfers {
            core,
            dots,
            inventory,
            replicator,
            pending: Pending::default(),
            sent: SentLog::default(),
        }
    }

    /// The commits of `branch` to send: `to` in full, or everything after `from` up to `to`.
    pub fn send_commits(
        &self,
        user: &Principal,
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        from: Option<&str>,
        to: &str,
    ) -> Result<Outgoing> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        // One `zfs get` per commit both checks that its snapshot is here and sizes it for the
        // progress estimate: (filesystem, snapshot, bytes referenced).
        let sized =
            |fs: &FsId, id: &str| match self.core.storage.snapshot_referenced(Ds::Branch(fs), id) {
                Ok(n) => Ok(Some((fs.clone(), id.to_string(), n))),
                Err(crate::storage::Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            };
        let on_branch = |id: &str| {
            check_name(Kind::Branch, id)?;
            match sized(&b.fs_id, id) {
                Ok(Some(s)) => Ok(s),
                _ => Err(DaemonError::NotFound(format!(
                    "commit {id} is not on branch '{branch}' on this node"
                ))),
            }
        };
        let to = on_branch(to)?;
        let from = match from {
            None => None,
            Some(id) => match on_branch(id) {
                Ok(s) => Some(s),
                // The commit the branch was made from, on the branch it came from: the first
                // stream of a branch the receiver lacks is a clone stream from it.
                Err(DaemonError::NotFound(_)) if b.origin.is_some() => {
                    let history = self.dots.history(&l, b)?;
                    let (fs, _) = history
                        .iter()
                        .find(|(fs, c)| c.id == id && *fs != b.fs_id)
                        .ok_or_else(|| {
                            DaemonError::NotFound(format!(
                                "commit {id} is not in the history of branch '{branch}'"
                            ))
                        })?;
                    let Some(s) = sized(fs, id).map_err(zfs_err)? else {
                        return Err(DaemonError::NotFound(format!(
                            "commit {id} is not on this node; try again once it has replicated"
                        )));
                    };
                    Some(s)
                }
                Err(e) => return Err(e),
            },
        };
        // Growth between the two commits; rewritten data makes it low.
        let estimate = match &from {
            None => Some(to.2),
            Some(f) => (to.2 > f.2).then(|| to.2 - f.2),
        };
        let (to, from) = ((to.0, to.1), from.map(|(fs, id, _)| (fs, id)));
        Ok(Outgoing {
            storage: self.core.storage.clone(),
            to,
            from,
            intermediates: true,
            estimate,
        })
    }

    /// The GUIDs of branch commits' snapshots, in the order of `ids`.
    pub fn commit_guids(
        &self,
        user: &Principal,
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        ids: &[String],
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        let ds = Ds::Branch(&l.branch(branch)?.fs_id);
        ids.iter()
            .map(|id| {
                check_name(Kind::Branch, id)?;
                // A missing snapshot's GUID cannot be read: one call both checks and answers.
                self.core.storage.guid(ds, id).map_err(|e| match e {
                    crate::storage::Error::NotFound(_) => DaemonError::NotFound(format!(
                        "commit {id} is not on branch '{branch}' here"
                    )),
                    other => zfs_err(other),
                })
            })
            .collect()
    }
}
