//! Handoff: moving a branch's master, with its uncommitted changes, to the node that mounts it.
//!
//! The new node first pulls the commits it lacks, then asks the master to release the branch.
//! The master refuses while containers or processes use it; otherwise it unmounts the branch,
//! makes it read-only and snapshots it (`dmh-…`, never a commit). The new node pulls only the
//! increment since the newest commit, moves `masters/<fs>` to itself with a compare-and-swap
//! (so of two nodes asking at once, one wins and the other gets a clear error), and tells the
//! old master, whose copy stays a read-only replica (its replicator rolls it back to the newest
//! commit).
//! A handoff whose end the old master never hears of is settled by its sweep from the registry:
//! at once when the master record names the new node or the new node's lease is gone, else after
//! [`STALE`].

use super::inventory::Inventory;
use super::replicate::Replicator;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::core::HANDOFF_PREFIX;
use super::core::{Core, new_id, zfs_err};
use super::replicate::Catalog;
use super::{DaemonError, procs};
use crate::cluster::{BranchRecord, DotRecord, FsId, NodeId, ServerRecord};
use crate::names::{self, Kind};
use crate::routes::{Internal, Route};
use crate::storage::{Ds, gone_is_done};

type Result<T> = std::result::Result<T, DaemonError>;

/// How long a release may wait for the new master before it is settled without it.
const STALE: Duration = Duration::from_secs(120);

/// Branches this node is handing off to another node, by filesystem id; only this module
/// reads or changes them.
#[derive(Default)]
pub struct Moves(Mutex<HashMap<FsId, Moving>>);

impl Moves {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<FsId, Moving>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handoff in progress on the old master.
pub struct Moving {
    pub to: NodeId,
    pub snapshot: String,
    pub since: Instant,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ReleaseRequest {
    pub fs: FsId,
    pub to: NodeId,
    /// The branch, for finding containers that hold it.
    pub namespace: String,
    pub dot: String,
    pub branch: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Release {
    /// The handoff snapshot holding the uncommitted state.
    pub snapshot: String,
    /// `FS@SNAP` the increment is taken from: the newest commit, or the origin of a branch
    /// without commits; none for a new dot without commits (sent in full).
    pub base: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Released {
    pub fs: FsId,
    pub snapshot: String,
    /// Whether the new node took over; if not, the old master carries on as before.
    pub moved: bool,
}

fn check_fs(fs: &str) -> Result<()> {
    names::validate(Kind::Branch, fs).map_err(|e| DaemonError::BadRequest(e.to_string()))
}

/// Moves a branch's master, with its uncommitted changes, between nodes (see the module doc).
pub struct Handoff {
    core: Arc<Core>,
    inventory: Arc<Inventory>,
    replicator: Arc<Replicator>,
}

impl Core {
    pub(super) fn is_moving(&self, fs: &str) -> bool {
        self.moving.map().contains_key(fs)
    }

    /// Refuses writes to a branch that is on its way to another node.
    pub(super) fn check_not_moving(&self, fs: &str, branch: &str) -> Result<()> {
        let moving = self.moving.map();
        match moving.get(fs) {
            Some(m) => Err(DaemonError::Conflict(format!(
                "branch '{branch}' is moving to node {}; try again in a moment",
                m.to
            ))),
            None => Ok(()),
        }
    }
}

impl Handoff {
    pub(super) fn new(
        core: Arc<Core>,
        inventory: Arc<Inventory>,
        replicator: Arc<Replicator>,
    ) -> Handoff {
        Handoff {
            core,
            inventory,
            replicator,
        }
    }

    /// Makes this node the master of branch `b`, bringing its uncommitted changes here, so it
    /// can be mounted writable here.
    pub(super) fn procure(&self, dot: &DotRecord, b: &BranchRecord) -> Result<()> {
        let fs = &b.fs_id;
        let lock = self.core.lock(&format!("fs:{fs}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let master = self.core.store.master(fs)?;
        match master.as_ref() {
            // Still ours on record, but on its way to another node: our copy is fenced
            // (read-only, unmounted) and must stay so, or two nodes would write to it.
            Some(m) if *m == self.core.id => self.core.check_not_moving(fs, &b.name)?,
            None => {
                // Its node left the cluster with everything committed: carry on from there.
                let cat = Catalog::for_dot(&self.core, dot)?;
                self.replicator.sync_locked(fs, &cat, None, true)?;
                if !self.core.store.move_master(fs, None, &self.core.id)? {
                    return Err(self.lost_race(b));
                }
            }
            Some(m) => {
                let server = self.core.store.server(m)?.ok_or_else(|| {
                    DaemonError::Unavailable(format!(
                        "branch '{}' of dot '{}' lives on node {m}, which is down; its uncommitted changes are unavailable until that node is back. Its commits are here: `dm checkout -b NEW` branches from the newest one",
                        b.name, dot.name
                    ))
                })?;
                let cat = Catalog::for_dot(&self.core, dot)?;
                let started = Instant::now();
                tracing::info!(%fs, from = %server.id, "moving branch here: catching up on its commits");
                // Commits first, so the handoff itself carries only uncommitted changes.
                self.replicator.sync_locked(fs, &cat, Some(&server), true)?;
                tracing::info!(%fs, from = %server.id, secs = started.elapsed().as_secs_f64(), "moving branch here: asking its master to release it");
                let rel: Release = self.core.peers.post(
                    &server,
                    &Route::Internal(Internal::Release).path(),
                    &ReleaseRequest {
                        fs: fs.clone(),
                        to: self.core.id.clone(),
                        namespace: dot.namespace.clone(),
                        dot: dot.name.clone(),
                        branch: b.name.clone(),
                    },
                )?;
                let moved = self.take_over(dot, b, &server, &rel, &cat);
                let done = Released {
                    fs: fs.clone(),
                    snapshot: rel.snapshot.clone(),
                    moved: moved.is_ok(),
                };
                // The old master's clean-up need not delay the mount here.
                let peers = self.core.peers.clone();
                std::thread::spawn(move || {
                    let told = peers.post::<_, serde_json::Value>(
                        &server,
                        &Route::Internal(Internal::Released).path(),
                        &done,
                    );
                    if let Err(e) = told {
                        // The old master settles by itself from the master record.
                        tracing::warn!(fs = %done.fs, error = %e, "could not tell the old master");
                    }
                });
                moved?;
                tracing::info!(%fs, secs = started.elapsed().as_secs_f64(), "moved branch here");
                // It arrived as a read-only replica.
                let writable = self
                    .core
                    .storage
                    .set_property(Ds::Branch(fs), "readonly", "off");
                return writable.map_err(zfs_err);
            }
        }
        let ds = Ds::Branch(fs);
        if self
            .core
            .storage
            .property(ds, "readonly")
            .map_err(zfs_err)?
            .as_deref()
            == Some("on")
        {
            self.core
                .storage
                .set_property(ds, "readonly", "off")
                .map_err(zfs_err)?;
        }
        Ok(())
    }

    fn lost_race(&self, b: &BranchRecord) -> DaemonError {
        DaemonError::Conflict(format!(
            "another node took branch '{}' at the same moment; only one node can have it mounted. Stop the containers there, or try again",
            b.name
        ))
    }

    /// Pulls the released state and claims the master record.
    fn take_over(
        &self,
        dot: &DotRecord,
        b: &BranchRecord,
        server: &ServerRecord,
        rel: &Release,
        cat: &Catalog,
    ) -> Result<()> {
        let fs = &b.fs_id;
        let ds = Ds::Branch(fs);
        // A commit may have landed between our pull and the release.
        if let Some((bfs, snap)) = rel.base.as_deref().and_then(|x| x.split_once('@')) {
            if bfs == fs {
                if !self.core.storage.has_snapshot(ds, snap).map_err(zfs_err)? {
                    self.replicator.sync_locked(fs, cat, Some(server), true)?;
                }
            } else {
                self.replicator.ensure_commit(&FsId::from(bfs), snap, cat)?;
            }
        }
        let existed = self.core.storage.exists(ds).map_err(zfs_err)?;
        let bytes = self
            .replicator
            .pull(server, fs, rel.base.as_deref(), &rel.snapshot, false)?;
        if !existed {
            self.replicator.init_replica(fs, dot, b)?;
        }
        let handoff = &rel.snapshot;
        let claimed = self.core.store.master(fs).and_then(|old| {
            Ok(old.as_deref() == Some(server.id.as_str())
                && self
                    .core
                    .store
                    .move_master(fs, Some(&server.id), &self.core.id)?)
        });
        if !matches!(claimed, Ok(true)) {
            // Not ours (lost the race, or etcd could not say): the copy stays a replica, and
            // the handoff snapshot must not linger after its newest commit.
            if let Err(e) = self.core.storage.destroy_snapshot(ds, handoff) {
                tracing::warn!(%fs, error = %e, "cannot drop a handoff snapshot; replication drops it");
            }
            claimed?;
            return Err(self.lost_race(b));
        }
        // An earlier handoff of ours away from this node whose end we never heard of is over
        // too: the branch is here again.
        self.core.moving.map().remove(fs);
        // The live filesystem now holds the same data; the snapshot was only the vehicle.
        if let Err(e) = self.core.storage.destroy_snapshot(ds, handoff) {
            tracing::warn!(%fs, error = %e, "could not drop the handoff snapshot");
        }
        tracing::info!(%fs, from = %server.id, bytes, "took over branch: its uncommitted changes arrived");
        Ok(())
    }

    /// The old master's side: stop serving the branch and snapshot its uncommitted state.
    pub fn release(&self, req: &ReleaseRequest) -> Result<Release> {
        check_fs(&req.fs)?;
        let fs = &req.fs;
        let lock = self.core.lock(&format!("fs:{fs}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.settle_move(fs)?;
        if self.core.store.master(fs)?.as_deref() != Some(self.core.id.as_str()) {
            return Err(DaemonError::Conflict(format!(
                "node {} is no longer the master of this branch; try again",
                self.core.id
            )));
        }
        let earlier = {
            let mut moving = self.core.moving.map();
            match moving.get(fs) {
                // The node it was moving to asks again: it gave up the first attempt (it
                // restarted, or its client did), and the master record still names us.
                Some(m) if m.to == req.to => moving.remove(fs),
                Some(m) => {
                    return Err(DaemonError::Conflict(format!(
                        "the branch is already moving to node {}; only one node can have it mounted",
                        m.to
                    )));
                }
                None => None,
            }
        };
        if let Some(m) = earlier {
            self.finish_move(fs, &m.snapshot, false)?;
        }
        let ds = Ds::Branch(fs);
        let (ns, name, branch) = (&req.namespace, &req.dot, &req.branch);
        let held: Vec<String> = self
            .inventory
            .containers_where(|r| &r.namespace == ns && &r.dot == name && &r.branch == branch)
            .into_values()
            .flat_map(|m| m.into_values().flatten())
            .collect();
        if !held.is_empty() {
            return Err(Core::in_use_error(
                &format!("branch '{branch}' of dot '{name}'"),
                &held,
                &format!(
                    "it is mounted on node {}, and a branch can be mounted on one node at a time; stop them there first",
                    self.core.id
                ),
            ));
        }
        let mp = self.core.mountpoint(fs);
        let users = procs::users_of(&[mp.as_path()]);
        if !users.is_empty() {
            return Err(DaemonError::InUse(format!(
                "branch '{branch}' of dot '{name}' is in use on node {} by {}; stop them there first",
                self.core.id,
                users.join(", ")
            )));
        }
        self.core.unmount_branch(fs, |mp| {
            format!(
                "branch '{branch}' is busy on node {}; close programs using {} there",
                self.core.id,
                mp.display()
            )
        })?;
        self.core
            .storage
            .set_property(ds, "readonly", "on")
            .map_err(zfs_err)?;
        let snapshot = format!("{HANDOFF_PREFIX}{}", &new_id()[..16]);
        if let Err(e) = self.core.storage.snapshot(ds, &snapshot, &[]) {
            if let Err(u) = self.core.storage.set_property(ds, "readonly", "off") {
                tracing::error!(%fs, error = %u, "cannot make a branch writable again after a failed release; its next mount here does");
            }
            return Err(zfs_err(e));
        }
        let base = match self.core.store.commits(fs)?.last() {
            Some(c) => Some(format!("{fs}@{}", c.id)),
            None => self
                .core
                .storage
                .origin(ds)
                .map_err(zfs_err)?
                .map(|(ofs, commit)| format!("{ofs}@{commit}")),
        };
        self.core.moving.map().insert(
            fs.clone(),
            Moving {
                to: req.to.clone(),
                snapshot: snapshot.clone(),
                since: Instant::now(),
            },
        );
        tracing::info!(%fs, to = %req.to, "releasing branch");
        Ok(Release { snapshot, base })
    }

    /// The old master's side, once the new node is done (or gave up).
    pub fn released(&self, req: &Released) -> Result<()> {
        check_fs(&req.fs)?;
        let lock = self.core.lock(&format!("fs:{}", req.fs));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let entry = self.core.moving.map().remove(&req.fs);
        let Some(m) = entry else {
            return Ok(());
        };
        let moved = self.core.store.master(&req.fs)?.as_deref() != Some(self.core.id.as_str());
        if moved != req.moved {
            tracing::warn!(fs = %req.fs, moved, "the master record decides the handoff");
        }
        self.finish_move(&req.fs, &m.snapshot, moved)
    }

    /// Settles every handoff whose end this node was not told of (the new master's "released"
    /// call was lost), so no branch stays "moving" for good. Called from the sweep.
    pub(super) fn settle_moves(&self) {
        let fss: Vec<FsId> = self.core.moving.map().keys().cloned().collect();
        for fs in fss {
            let lock = self.core.lock(&format!("fs:{fs}"));
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = self.settle_move(&fs) {
                tracing::warn!(%fs, error = %e, "cannot settle a handoff");
            }
        }
    }

    /// Settles the handoff of `fs`, with its `fs:` lock held, if its end is known from the
    /// registry: at once when the master record names another node, or when the node it was
    /// moving to is down (its lease is gone); after [`STALE`] in any case.
    fn settle_move(&self, fs: &FsId) -> Result<()> {
        let Some(to) = self.core.moving.map().get(fs).map(|m| m.to.clone()) else {
            return Ok(());
        };
        let moved = self.core.store.master(fs)?.as_deref() != Some(self.core.id.as_str());
        let gone = !moved && self.core.store.server(&to)?.is_none();
        let done = {
            let mut moving = self.core.moving.map();
            match moving.get(fs) {
                Some(m) if moved || gone || m.since.elapsed() > STALE => moving.remove(fs),
                _ => None,
            }
        };
        match done {
            Some(m) => self.finish_move(fs, &m.snapshot, moved),
            None => Ok(()),
        }
    }

    /// After a handoff: keep our copy as a replica at the newest commit (the uncommitted state
    /// now lives on the new master), or, if it did not happen, carry on as master.
    pub(super) fn finish_move(&self, fs: &FsId, snapshot: &str, moved: bool) -> Result<()> {
        let ds = Ds::Branch(fs);
        if moved {
            // Our copy is a read-only replica now. With commits, the replicator rolls it back to
            // the newest one on its next pass (a rollback here would only compete with the new
            // master's mount); without, it holds nothing worth keeping.
            if self.core.store.commits(fs)?.is_empty() {
                self.core
                    .settling(fs, || self.core.storage.destroy(ds))
                    .map_err(zfs_err)?;
            }
            tracing::info!(%fs, "handed off");
        } else {
            gone_is_done(self.core.storage.destroy_snapshot(ds, snapshot)).map_err(zfs_err)?;
            self.core
                .storage
                .set_property(ds, "readonly", "off")
                .map_err(zfs_err)?;
            tracing::info!(%fs, "handoff abandoned; still the master");
        }
        Ok(())
    }
}
