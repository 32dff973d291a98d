//! Settling intents: how each multi-step operation is finished or undone after a crash or a
//! failed step, so that ZFS and the registry agree (see `intent` for the journal).
//!
//! The rule for each: a step that destroyed data cannot be undone, so once one has happened the
//! operation is rolled forward; before that it is rolled back. Every settle is idempotent: it
//! may run again after another crash.

use super::DaemonError;
use super::intent::Intent;
use super::node::{Node, P_BASELINE, zfs_err};
use crate::cluster::{BranchRecord, DotRecord};
use crate::storage::Ds;

type Result<T> = std::result::Result<T, DaemonError>;

impl Node {
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
                if !registered && self.storage.has_snapshot(fs, commit).map_err(zfs_err)? {
                    self.storage.destroy_snapshot(fs, commit).map_err(zfs_err)?;
                }
                Ok(())
            }
            Intent::Reset { fs_id, removed, .. } => self.forget_gone_commits(fs_id, removed),
            Intent::Reclone {
                dot_id,
                branch,
                removed,
            } => self.settle_reclone(dot_id, branch, removed),
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
            .all(|c| snaps.contains(&c.id)))
    }

    /// The registry keeps only those of `removed` whose snapshots still exist.
    fn forget_gone_commits(&self, fs_id: &str, removed: &[String]) -> Result<()> {
        let fs = Ds::Branch(fs_id);
        if !self.storage.exists(fs).map_err(zfs_err)? {
            return Ok(());
        }
        let snaps = self.storage.snapshots(fs).map_err(zfs_err)?;
        let gone: Vec<String> = removed
            .iter()
            .filter(|r| !snaps.contains(r))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.store.delete_commits(fs_id, &gone)?;
        }
        Ok(())
    }

    /// A re-clone moves the old filesystem aside, makes the new one (complete once it has a
    /// baseline), destroys the old one, then updates the registry.
    fn settle_reclone(&self, dot_id: &str, new: &BranchRecord, removed: &[String]) -> Result<()> {
        let st = &self.storage;
        let (fs, aside) = (Ds::Branch(&new.fs_id), Ds::Aside(&new.fs_id));
        let origin = new
            .origin
            .as_ref()
            .map(|o| (o.fs_id.clone(), o.commit.clone()));
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
                    && !snaps.iter().any(|s| removed.contains(s));
                if fresh {
                    return self.reclone_registered(dot_id, new, removed);
                }
                if st.property(fs, "mountpoint").map_err(zfs_err)?.as_deref() == Some("none") {
                    self.remount_where_it_was(&new.fs_id)?;
                }
                Ok(())
            }
            (false, false) => {
                tracing::error!(fs = %new.fs_id, "a re-cloned branch has no filesystem left");
                Ok(())
            }
        }
    }

    /// The filesystem set aside by a re-clone becomes the branch again, where it was mounted.
    fn put_back(&self, fs_id: &str) -> Result<()> {
        self.storage
            .rename(Ds::Aside(fs_id), Ds::Branch(fs_id))
            .map_err(zfs_err)?;
        self.remount_where_it_was(fs_id)
    }

    /// Gives branch `fs_id` its mountpoint back (a re-clone set it to `none`).
    fn remount_where_it_was(&self, fs_id: &str) -> Result<()> {
        let mountpoint = self.mountpoint(fs_id).display().to_string();
        self.storage
            .set_property(Ds::Branch(fs_id), "mountpoint", &mountpoint)
            .map_err(zfs_err)
    }

    fn reclone_registered(
        &self,
        dot_id: &str,
        new: &BranchRecord,
        removed: &[String],
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
