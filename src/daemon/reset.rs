//! `dm reset --hard`: within a branch (roll back, newest changes first) or to a commit from
//! before the branch was made (re-clone under the same filesystem id).

use super::DaemonError;
use super::core::Loaded;
use super::core::{Core, zfs_err};
use super::dots::Dots;
use super::intent::Intent;
use super::principal::Principal;
use crate::api;
use crate::cluster::{BranchRecord, CommitId, CommitRecord, DotRecord, OriginRecord};
use crate::storage::{Ds, Rollback};
use crate::zfs::ZfsError;

type Result<T> = std::result::Result<T, DaemonError>;

impl Dots {
    /// `git reset --hard`: the branch goes back to `commit`; later commits and uncommitted
    /// changes are gone, except those other branches grew from, which they keep.
    pub fn reset(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::Reset,
    ) -> Result<api::ResetDone> {
        user.may_use(ns)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        let history = self.history(&l, b)?;
        let target = self
            .resolve_ref(&l, &history, &req.commit, branch)?
            .1
            .id
            .clone();
        self.core.check_not_moving(&b.fs_id, branch)?;
        self.core.check_master(b)?;
        let held = self
            .inventory
            .containers(ns, name)
            .remove(branch)
            .unwrap_or_default();
        if !held.is_empty() && !req.force {
            return Err(Core::in_use_error(
                &format!("branch '{branch}'"),
                &held,
                "stop them first, or pass --force and restart them after the reset",
            ));
        }
        // Commits other branches grew from stay theirs (see `handdown`); then the reset goes
        // ahead on what is left of this branch.
        let removed = Self::removed_by_reset(&history, b, &target);
        let lost = super::handdown::lost(&l, b, &removed);
        self.check_untagged(&l, lost, &format!("resetting '{branch}'"))?;
        let (b, history, removed) = loop {
            let b = l.branch(branch)?.clone();
            let history = self.history(&l, &b)?;
            let removed = Self::removed_by_reset(&history, &b, &target);
            if !self.hand_down(&l, &b, &removed)? {
                break (b, history, removed);
            }
            l = self.core.load(ns, name)?;
        };
        let b = &b;
        let (fs_id, target) = history
            .iter()
            .find(|(_, c)| c.id == target)
            .ok_or_else(|| {
                DaemonError::Internal(format!("commit {target} left the branch's history"))
            })?;
        if fs_id == &b.fs_id {
            let intent = Intent::Reset {
                fs_id: b.fs_id.clone(),
                target: target.id.clone(),
                removed: removed.clone(),
            };
            self.core
                .under(intent, || self.roll_back(b, &target.id, &removed))?;
        } else {
            let new = BranchRecord {
                name: b.name.clone(),
                fs_id: b.fs_id.clone(),
                origin: Some(OriginRecord {
                    fs_id: fs_id.clone(),
                    commit: target.id.clone(),
                }),
            };
            self.reclone_branch(&l, b, new, removed.clone())?;
        }
        tracing::info!(%ns, dot = %name, %branch, commit = %target.id, removed = removed.len(), "reset");
        self.note(
            user,
            ns,
            name,
            Some(branch),
            "reset",
            format!(
                "reset '{branch}' to {}, removing {} commit(s) (a reset cannot be undone yet)",
                crate::names::short_id(&target.id),
                removed.len()
            ),
            None,
        );
        Ok(api::ResetDone {
            commit: target.id.to_string(),
            removed: removed.iter().map(CommitId::to_string).collect(),
            containers: held,
        })
    }

    /// Replaces branch `b`'s filesystem by a clone of `new.origin` (see [`Dots::reclone`]) and
    /// registers it, forgetting `removed` (commits of `b` that go with the old filesystem).
    pub(super) fn reclone_branch(
        &self,
        l: &Loaded,
        b: &BranchRecord,
        new: BranchRecord,
        removed: Vec<CommitId>,
    ) -> Result<()> {
        let intent = Intent::Reclone {
            dot_id: l.dot.id.clone(),
            branch: new.clone(),
            removed: removed.clone(),
        };
        self.core.under(intent, || {
            self.reclone(&l.dot, &new)
                .map_err(|e| self.busy_branch(e, b))?;
            self.core.store.put_branch(&l.dot.id, &new)?;
            Ok(self.core.store.delete_commits(&b.fs_id, &removed)?)
        })
    }

    /// The commits of `b` itself that resetting it to `target` removes, newest first.
    fn removed_by_reset(
        history: &[(crate::cluster::FsId, CommitRecord)],
        b: &BranchRecord,
        target: &CommitId,
    ) -> Vec<CommitId> {
        let own = history
            .iter()
            .filter(|(f, _)| f == &b.fs_id)
            .map(|(_, c)| c);
        let within = history
            .iter()
            .any(|(f, c)| f == &b.fs_id && &c.id == target);
        if within {
            own.take_while(|c| &c.id != target)
                .map(|c| c.id.clone())
                .collect()
        } else {
            own.map(|c| c.id.clone()).collect()
        }
    }

    /// ZFS's "busy" in a verb on branch `b`, as what to close.
    fn busy_branch(&self, e: DaemonError, b: &BranchRecord) -> DaemonError {
        match e {
            DaemonError::Zfs(ZfsError::Busy(_)) => DaemonError::InUse(format!(
                "branch '{}' is busy; stop containers and close programs using {} and try again",
                b.name,
                self.core.mountpoint(&b.fs_id).display()
            )),
            other => other,
        }
    }

    /// `reset --hard` within branch `b`: first the uncommitted changes go (destroying nothing,
    /// so a full pool fails here with nothing changed), then the commits after `target`.
    fn roll_back(&self, b: &BranchRecord, target: &str, removed: &[CommitId]) -> Result<()> {
        let fs = Ds::Branch(&b.fs_id);
        if !self
            .core
            .storage
            .has_snapshot(fs, target)
            .map_err(zfs_err)?
        {
            return Err(zfs_err(ZfsError::NotFound(format!(
                "commit {target} of branch '{}'",
                b.name
            ))));
        }
        if !removed.is_empty()
            && let Some(newest) = self.core.storage.snapshots(fs).map_err(zfs_err)?.pop()
        {
            let newest_only = self.core.storage.rollback(fs, &newest, Rollback::Newest);
            newest_only.map_err(|e| match e {
                ZfsError::NoSpace(_) => DaemonError::PoolFull(
                    "the ZFS pool is full, so the reset could not start; nothing was changed. Free some space (delete files in this dot or another, or a dot you no longer need) and run the reset again".into(),
                ),
                other => self.busy_branch(DaemonError::Zfs(other), b),
            })?;
        }
        if let Err(e) = self
            .core
            .storage
            .rollback(fs, target, Rollback::DestroyingLater)
        {
            let left = self
                .core
                .storage
                .snapshots(fs)
                .map(|s| s.iter().filter(|s| removed.iter().any(|r| r == *s)).count())
                .unwrap_or(removed.len());
            let cause = match e {
                ZfsError::NoSpace(_) => "the pool is full".to_string(),
                ZfsError::Busy(_) => format!(
                    "the branch is busy; close programs using {}",
                    self.core.mountpoint(&b.fs_id).display()
                ),
                other => other.to_string(),
            };
            return Err(DaemonError::Conflict(format!(
                "the reset stopped part-way ({cause}): uncommitted changes were discarded and {} of {} later commits removed; `dm log` shows what is left; run the reset again to finish",
                removed.len() - left,
                removed.len()
            )));
        }
        Ok(self.core.store.delete_commits(&b.fs_id, removed)?)
    }

    /// Resets a branch to a commit from before it was made: its filesystem is replaced by a
    /// fresh clone of `new.origin`, under the same id and mountpoint. The old one is set aside
    /// as `<id>-reset` until the new one is complete; the intent settles an interruption.
    fn reclone(&self, dot: &DotRecord, new: &BranchRecord) -> Result<()> {
        let origin = new.origin.as_ref().expect("a re-clone has an origin");
        let from = Ds::Branch(&origin.fs_id);
        if !self
            .core
            .storage
            .has_snapshot(from, &origin.commit)
            .map_err(zfs_err)?
        {
            return Err(zfs_err(ZfsError::NotFound(format!(
                "commit {} to reset to",
                origin.commit
            ))));
        }
        let (old, aside) = (Ds::Branch(&new.fs_id), Ds::Aside(&new.fs_id));
        self.core
            .storage
            .set_property(old, "mountpoint", "none")
            .map_err(DaemonError::Zfs)?;
        self.core
            .storage
            .rename(old, aside)
            .map_err(DaemonError::Zfs)?;
        let origin = (&origin.fs_id, origin.commit.as_str());
        self.core
            .make_branch_fs(dot, &new.name, &new.fs_id, Some(origin))?;
        self.core.storage.destroy(aside).map_err(zfs_err)
    }
}
