//! Recovery: rebuilding the registry from what the pool holds at start-up ([`Node::recover`];
//! the node's, since it also ends handoffs), and settling intents — how each multi-step
//! operation is finished or undone after a crash or a failed step, so that ZFS and the registry
//! agree (see `intent` for the journal). Settling is the core's: every service runs its
//! multi-step operations under an intent ([`Core::under`]).
//!
//! The rule for each: a step that destroyed data cannot be undone, so once one has happened the
//! operation is rolled forward; before that it is rolled back. Every settle is idempotent: it
//! may run again after another crash.

use super::node::Node;
use std::time::{Duration, Instant};

use super::DaemonError;
use super::core::{
    Core, HANDOFF_PREFIX, P_BASELINE, P_BRANCH, P_DOT, P_DOTID, PROBE_PREFIX, commit_columns,
    decode_commit, zfs_err,
};
use super::intent::Intent;
use super::procs;
use crate::cluster::{BranchRecord, CommitId, DotId, DotRecord, FsId, OriginRecord, Store};
use crate::names;
use crate::storage::{Ds, Role, gone_is_done};

type Result<T> = std::result::Result<T, DaemonError>;

impl Core {
    /// Runs `op` under `intent`: recorded before, forgotten after success. On failure the intent
    /// is settled at once; if that fails too, it stays for the sweep and both are reported.
    pub(super) fn under<T>(&self, intent: Intent, op: impl FnOnce() -> Result<T>) -> Result<T> {
        let rec = self.intents.begin(&intent).map_err(|e| {
            DaemonError::Internal(format!(
                "cannot record the operation before starting it ({e}); nothing was changed; check the state directory's disk"
            ))
        })?;
        match op() {
            Ok(v) => {
                rec.done();
                Ok(v)
            }
            Err(error) => match self.settle(&intent) {
                Ok(()) => {
                    rec.done();
                    Err(error)
                }
                Err(cleanup) => {
                    tracing::error!(?intent, %error, %cleanup, "cannot settle a failed operation; left for the sweep");
                    Err(DaemonError::Unsettled {
                        error: Box::new(error),
                        cleanup: cleanup.to_string(),
                    })
                }
            },
        }
    }

    /// Settles every intent left behind (at start-up, and on each full sweep).
    pub(super) fn settle_pending(&self) {
        for (rec, intent) in self.intents.pending() {
            match self.settle(&intent) {
                Ok(()) => {
                    tracing::info!(?intent, "settled an interrupted operation");
                    rec.done();
                }
                Err(e) => {
                    tracing::warn!(?intent, error = %e, "cannot settle an interrupted operation yet; retried later")
                }
            }
        }
    }

    /// Brings ZFS and the registry to agree on what `intent` touched.
    pub(super) fn settle(&self, intent: &Intent) -> Result<()> {
        match intent {
            Intent::CreateFs { dot_id, fs_id } => {
                if !self.registered_in(dot_id, fs_id)? {
                    self.destroy_branch_fs(fs_id, "a new branch that was never registered")?;
                }
                Ok(())
            }
            Intent::Commit { fs_id, commit } => {
                let registered = self.store.commits(fs_id)?.iter().any(|c| &c.id == commit);
                let fs = Ds::Branch(fs_id);
                if !registered {
                    gone_is_done(self.storage.destroy_snapshot(fs, commit)).map_err(zfs_err)?;
                }
                Ok(())
            }
            Intent::Reset { fs_id, removed, .. } | Intent::Prune { fs_id, removed } => {
                self.forget_gone_commits(fs_id, removed)
            }
            Intent::Reclone {
                dot_id,
                branch,
                removed,
            } => self.settle_reclone(dot_id, branch, removed),
            // Forward if the promote happened, else nothing did.
            Intent::HandDown { dot, from, heir } => self.hand_down_steps(dot, from, heir, false),
            Intent::DeleteBranch { dot_id, branch } => {
                // Destroying is the step that cannot be undone: until it has touched the
                // branch, nothing happened.
                if self.untouched(branch)? {
                    return Ok(());
                }
                let registered = self.registered_in(dot_id, &branch.fs_id)?;
                self.destroy_branch_fs(&branch.fs_id, &format!("branch '{}'", branch.name))?;
                if registered {
                    self.store.delete_branch(dot_id, branch, &self.seal())?;
                }
                Ok(())
            }
            Intent::Remount { fs_id } => {
                // Gone since (deleted, or re-cloned under the same id and mounted): done.
                crate::storage::gone_is_done(self.storage.mount(Ds::Branch(fs_id))).map_err(zfs_err)
            }
            Intent::DeleteDot { dot, branches } => {
                let mut untouched = !branches.is_empty();
                for b in branches {
                    untouched &= self.untouched(b)?;
                }
                if untouched {
                    return Ok(());
                }
                self.delete_dot_steps(dot, branches)
            }
        }
    }

    /// Whether a branch's filesystem and every registered commit's snapshot are still there
    /// (`zfs destroy -r` removes snapshots first, so a destroy that stopped half-way shows).
    fn untouched(&self, b: &BranchRecord) -> Result<bool> {
        let fs = Ds::Branch(&b.fs_id);
        if !self.storage.exists(fs).map_err(zfs_err)? {
            return Ok(false);
        }
        let snaps = self.storage.snapshots(fs).map_err(zfs_err)?;
        Ok(self
            .store
            .commits(&b.fs_id)?
            .iter()
            .all(|c| snaps.iter().any(|s| *s == c.id)))
    }

    /// The registry keeps only those of `removed` whose snapshots still exist.
    fn forget_gone_commits(&self, fs_id: &FsId, removed: &[CommitId]) -> Result<()> {
        let fs = Ds::Branch(fs_id);
        if !self.storage.exists(fs).map_err(zfs_err)? {
            return Ok(());
        }
        let snaps = self.storage.snapshots(fs).map_err(zfs_err)?;
        let gone: Vec<CommitId> = removed
            .iter()
            .filter(|r| !snaps.iter().any(|s| s == *r))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.store.delete_commits(fs_id, &gone)?;
        }
        Ok(())
    }

    /// A re-clone moves the old filesystem aside, makes the new one (complete once it has a
    /// baseline), destroys the old one, then updates the registry.
    fn settle_reclone(
        &self,
        dot_id: &DotId,
        new: &BranchRecord,
        removed: &[CommitId],
    ) -> Result<()> {
        let st = &self.storage;
        let (fs, aside) = (Ds::Branch(&new.fs_id), Ds::Aside(&new.fs_id));
        let origin = new
            .origin
            .as_ref()
            .map(|o| (o.fs_id.clone(), o.commit.to_string()));
        match (
            st.exists(fs).map_err(zfs_err)?,
            st.exists(aside).map_err(zfs_err)?,
        ) {
            (true, true) => {
                if st.property(fs, P_BASELINE).map_err(zfs_err)?.is_some() {
                    st.destroy(aside).map_err(zfs_err)?;
                    self.reclone_registered(dot_id, new, removed)
                } else {
                    // The new clone is half made: back to the old filesystem.
                    st.destroy(fs).map_err(zfs_err)?;
                    self.put_back(&new.fs_id)
                }
            }
            (false, true) => self.put_back(&new.fs_id),
            (true, false) => {
                // Either nothing happened, or only the registry is behind: the new clone has
                // the new origin and none of the removed commits.
                let snaps = st.snapshots(fs).map_err(zfs_err)?;
                let fresh = st.origin(fs).map_err(zfs_err)? == origin
                    && !snaps.iter().any(|s| removed.iter().any(|r| r == s));
                if fresh {
                    return self.reclone_registered(dot_id, new, removed);
                }
                if st.property(fs, "mountpoint").map_err(zfs_err)?.as_deref() == Some("none") {
                    self.remount_where_it_was(&new.fs_id)?;
                }
                // Unmounted just before the crash: its files are where they were again.
                st.mount(fs).map_err(zfs_err)
            }
            (false, false) => {
                tracing::error!(fs = %new.fs_id, "a re-cloned branch has no filesystem left");
                Ok(())
            }
        }
    }

    /// The filesystem set aside by a re-clone becomes the branch again, where it was mounted.
    fn put_back(&self, fs_id: &FsId) -> Result<()> {
        self.storage
            .rename(Ds::Aside(fs_id), Ds::Branch(fs_id))
            .map_err(zfs_err)?;
        self.remount_where_it_was(fs_id)
    }

    /// Gives branch `fs_id` its mountpoint back (a re-clone set it to `none`).
    fn remount_where_it_was(&self, fs_id: &FsId) -> Result<()> {
        let mountpoint = self.mountpoint(fs_id).display().to_string();
        self.storage
            .set_property(Ds::Branch(fs_id), "mountpoint", &mountpoint)
            .map_err(zfs_err)
    }

    fn reclone_registered(
        &self,
        dot_id: &DotId,
        new: &BranchRecord,
        removed: &[CommitId],
    ) -> Result<()> {
        self.store.put_branch(dot_id, new)?;
        if !removed.is_empty() {
            self.store.delete_commits(&new.fs_id, removed)?;
        }
        Ok(())
    }

    /// Deleting a dot: its filesystems, clones before the branches they were cloned from, then
    /// its records. Filesystems already gone are fine, so this also finishes a deletion.
    pub(super) fn delete_dot_steps(
        &self,
        dot: &DotRecord,
        branches: &[BranchRecord],
    ) -> Result<()> {
        let depth = |b: &BranchRecord| {
            let mut d = 0;
            let mut cur = b.origin.clone();
            while let Some(o) = cur {
                d += 1;
                cur = branches
                    .iter()
                    .find(|x| x.fs_id == o.fs_id)
                    .and_then(|x| x.origin.clone());
                if d > branches.len() {
                    break;
                }
            }
            d
        };
        let mut order = branches.to_vec();
        order.sort_by_key(|b| std::cmp::Reverse(depth(b)));
        for b in &order {
            self.destroy_branch_fs(
                &b.fs_id,
                &format!("branch '{}' of dot '{}'", b.name, dot.name),
            )?;
        }
        Ok(self.store.delete_dot(dot, branches, &self.seal())?)
    }
}

/// The filesystem id of a branch, if the dot and branch exist.
fn branch_fs_id(store: &Store, ns: &str, dot: &str, branch: &str) -> Result<Option<FsId>> {
    let Some(d) = store.dot(ns, dot)? else {
        return Ok(None);
    };
    Ok(store
        .branches(&d.id)?
        .into_iter()
        .find(|b| b.name == branch)
        .map(|b| b.fs_id))
}

impl Node {
    /// Re-registers what ZFS has but the registry lacks (e.g. after etcd's data was lost).
    /// Never deletes: ZFS is the ground truth for data. Branches are mounted on first use.
    pub fn recover(&self) -> Result<()> {
        // A daemon killed mid-operation leaves its zfs commands running; let them end first,
        // or this would read ZFS half-way through one.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = procs::zfs_commands_on(self.core.storage.pool_name());
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(pids = ?left, "zfs commands from before the restart still run; going on");
                break;
            }
            tracing::info!(pids = ?left, "waiting for zfs commands from before the restart");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.core.storage.prepare().map_err(zfs_err)?;
        // Operations a crash interrupted, before anything is adopted from what they left.
        self.core.settle_pending();
        let cols = commit_columns();
        let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let (listed, snaps) = self
            .core
            .storage
            .list(&[P_DOT, P_DOTID, P_BRANCH, "readonly"], &col_refs)
            .map_err(zfs_err)?;
        let deleted = self.core.deleted()?;
        let known = self.core.store.all_commits()?;
        let registered_fs: std::collections::BTreeSet<FsId> = self
            .core
            .store
            .all_branches()?
            .into_values()
            .flatten()
            .map(|b| b.fs_id)
            .collect();
        let mut adopted = 0;
        for item in &listed {
            let fs_id = match &item.role {
                Role::Branch(fs_id) => fs_id,
                Role::Staging(fs_id) => {
                    // A transfer from another cluster that was never confirmed.
                    if let Err(e) = self.core.storage.destroy(Ds::Staging(fs_id)) {
                        tracing::warn!(%fs_id, error = %e, "cannot destroy an unconfirmed transfer yet; retried at the next start");
                    }
                    continue;
                }
                Role::Aside(fs_id) => {
                    tracing::warn!(%fs_id, "leftover from an interrupted reset; kept for inspection");
                    continue;
                }
                Role::View(id) => {
                    // A commit's clone that a diff read when the daemon stopped; a commit
                    // mounted read-only is the sweep's (`views`): containers may hold it.
                    if !Core::is_commit_view(id) {
                        self.core.close_view(id);
                    }
                    continue;
                }
            };
            if deleted.contains(fs_id.as_str()) {
                // Deleted while this node was away.
                if let Err(e) = self
                    .core
                    .settling(fs_id, || self.core.storage.destroy(Ds::Branch(fs_id)))
                {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a deleted branch yet");
                }
                continue;
            }
            let (Some(dot), Some(dot_id), Some(branch)) = (
                item.props.get(P_DOT),
                item.props.get(P_DOTID),
                item.props.get(P_BRANCH),
            ) else {
                continue;
            };
            let Some((ns, name)) = dot.split_once('/') else {
                continue;
            };
            let dot_id = DotId::from(dot_id.as_str());
            let rec = DotRecord {
                id: dot_id.clone(),
                namespace: ns.to_string(),
                name: name.to_string(),
                created: 0,
            };
            // Registered already, maybe under another name (a hidden branch or dot, see
            // `ops`): the names in the filesystem's properties may be out of date.
            if registered_fs.contains(fs_id) {
                continue;
            }
            if branch == names::MASTER && self.core.store.adopt_dot(&rec)? {
                adopted += 1;
            }
            let origin = item.origin.as_ref().map(|(fs, commit)| OriginRecord {
                fs_id: fs.as_str().into(),
                commit: commit.as_str().into(),
            });
            let b = BranchRecord {
                name: branch.clone(),
                fs_id: fs_id.clone(),
                origin,
            };
            // A read-only copy is a replica: it never claims to be the master.
            let replica = item.props.get("readonly").map(String::as_str) == Some("on");
            let master = (!replica).then_some(&self.core.id);
            if self.core.store.adopt_branch(&dot_id, &b, master)? {
                adopted += 1;
            }
        }
        for s in &snaps {
            let Role::Branch(fs_id) = &s.role else {
                continue;
            };
            if s.name.starts_with(HANDOFF_PREFIX) {
                // A handoff was interrupted by a restart: the master record says how it ended.
                let moved =
                    self.core.store.master(fs_id)?.as_deref() != Some(self.core.id.as_str());
                if let Err(e) = self.handoff.finish_move(fs_id, &s.name, moved) {
                    tracing::warn!(%fs_id, error = %e, "cannot settle an interrupted handoff");
                }
                continue;
            }
            if s.name.starts_with(PROBE_PREFIX) {
                // A probe (see `changed_since`) a crash left behind.
                if let Err(e) = self
                    .core
                    .storage
                    .destroy_snapshot(Ds::Branch(fs_id), &s.name)
                {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a leftover probe snapshot");
                }
                continue;
            }
            if deleted.contains(fs_id.as_str()) {
                continue;
            }
            let have = known
                .get(fs_id.as_str())
                .is_some_and(|v| v.iter().any(|c| c.id == s.name));
            if have {
                continue;
            }
            if let Some(c) = decode_commit(&s.props)
                && self.core.store.adopt_commit(fs_id, &c)?
            {
                adopted += 1;
            }
        }
        // Containers may still hold mounts from before a restart; keep their branches mounted.
        for (_, r) in self.core.mounts.find(|_| true) {
            let fs = branch_fs_id(&self.core.store, &r.namespace, &r.dot, &r.branch)?;
            if let Some(fs_id) = fs
                && let Err(e) = self.core.storage.mount(Ds::Branch(&fs_id))
            {
                tracing::error!(volume = %r.volume, error = %e, "cannot remount for a container");
            }
        }
        tracing::info!(
            filesystems = listed.len(),
            snapshots = snaps.len(),
            adopted,
            "recovered state from ZFS"
        );
        Ok(())
    }
}
