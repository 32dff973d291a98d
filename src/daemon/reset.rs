//! `dm reset --hard`: within a branch (roll back, newest changes first) or to a commit from
//! before the branch was made (re-clone under the same filesystem id).
//!
//! A reset that removes commits keeps them for `dm undo` while the undo grace lasts: a hidden
//! branch is made from the newest removed commit, the hand-down gives it the branch's commits,
//! and the branch is re-cloned at the target. Undoing re-clones the branch at its old head and
//! deletes the hidden branch, handing everything back; reclaiming the hidden branch hands back
//! what the branch still has. Where a re-clone cannot happen (containers or programs using the
//! branch, `--undo-grace 0`), the reset rolls back in place and cannot be undone.

use super::DaemonError;
use super::core::Loaded;
use super::core::{Core, zfs_err};
use super::dots::Dots;
use super::intent::Intent;
use super::principal::Principal;
use crate::api;
use crate::cluster::{BranchRecord, CommitId, CommitRecord, DotRecord, OriginRecord, Undo};
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
        let (done, summary, undo) = self.reset_unrecorded(ns, name, branch, req)?;
        self.note(user, ns, name, Some(branch), "reset", summary, undo);
        Ok(done)
    }

    /// [`Dots::reset`] without its entry in the operation log: returns what to record.
    fn reset_unrecorded(
        &self,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::Reset,
    ) -> Result<(api::ResetDone, String, Option<Undo>)> {
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.reset_locked(ns, name, branch, req)
    }

    /// [`Dots::reset_unrecorded`] with the dot's lock held.
    fn reset_locked(
        &self,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::Reset,
    ) -> Result<(api::ResetDone, String, Option<Undo>)> {
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
        let lost = super::handdown::lost(&l, b, &removed).to_vec();
        self.check_untagged(&l, &lost, &format!("resetting '{branch}'"))?;
        // What the reset removes is kept for `dm undo`, in a hidden branch made from the newest
        // removed commit: the hand-down below gives it the commits.
        let kept = match removed.first() {
            None => Err("it removed no commit".to_string()),
            Some(newest) => match self.why_not_kept(b, &l, &held)? {
                Some(why) => Err(why),
                None => match self.keep_for_undo(&l, b, newest) {
                    Ok(hidden) => Ok((hidden, newest.clone())),
                    Err(DaemonError::PoolFull(_)) => Err("the pool was full".to_string()),
                    Err(e) => return Err(e),
                },
            },
        };
        if kept.is_ok() {
            l = self.core.load(ns, name)?;
        }
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
            if let Ok((hidden, _)) = &kept {
                self.give_back(ns, name, hidden, branch)?;
            }
        }
        let count = lost.len();
        tracing::info!(%ns, dot = %name, %branch, commit = %target.id, removed = count, "reset");
        let short = crate::names::short_id(&target.id);
        let (summary, undo) = match kept {
            Ok((hidden, head)) => (
                format!("reset '{branch}' to {short}, removing {count} commit(s)"),
                Some(Undo::Reset {
                    branch: branch.to_string(),
                    hidden,
                    head,
                    target: target.id.clone(),
                }),
            ),
            Err(why) => (
                format!(
                    "reset '{branch}' to {short}, removing {count} commit(s) (cannot be undone: {why})"
                ),
                None,
            ),
        };
        let done = api::ResetDone {
            commit: target.id.to_string(),
            removed: lost.iter().map(CommitId::to_string).collect(),
            containers: held,
        };
        Ok((done, summary, undo))
    }

    /// Undoes a pull that moved `branch` from `to` to `from`: the branch goes back to `to`,
    /// as a reset would take it (the pulled commits kept for the grace period where they can
    /// be), unless it has moved since or has uncommitted changes.
    pub(super) fn rewind(
        &self,
        ns: &str,
        dot: &str,
        branch: &str,
        to: &CommitId,
        from: &CommitId,
    ) -> Result<()> {
        let lock = self.core.lock(&format!("name:{ns}/{dot}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, dot)?;
        let b = self.core.writable(&l, branch)?;
        self.check_still_at(&l, b, from, "the pull")?;
        let req = api::Reset {
            commit: to.to_string(),
            force: false,
        };
        self.reset_locked(ns, dot, branch, &req).map(|_| ())
    }

    /// Before an undo moves branch `b`: it is still at `head`, where the operation left it,
    /// with no uncommitted changes (an undo never discards them).
    fn check_still_at(
        &self,
        l: &Loaded,
        b: &BranchRecord,
        head: &CommitId,
        what: &str,
    ) -> Result<()> {
        let history = self.history(l, b)?;
        let at = match history.first() {
            Some((fs, c)) if &c.id == head => fs,
            _ => {
                return Err(DaemonError::Conflict(format!(
                    "branch '{}' has moved since {what} (it was at {}); undo the newer operations first",
                    b.name,
                    crate::names::short_id(head)
                )));
            }
        };
        if self.core.changed_since_in(&b.fs_id, (at, head))? {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' has uncommitted changes that undoing {what} would discard; discard them with `dm reset --hard` (or commit them, and {what} stays) and run `dm undo` again",
                b.name
            )));
        }
        Ok(())
    }

    /// Why what a reset of `b` removes cannot be kept for `dm undo`, if it cannot: keeping it
    /// re-clones the branch, which cannot happen under containers or programs using it.
    fn why_not_kept(
        &self,
        b: &BranchRecord,
        l: &Loaded,
        held: &[String],
    ) -> Result<Option<String>> {
        if self.core.undo_grace.is_zero() {
            return Ok(Some("undo is turned off (--undo-grace 0)".into()));
        }
        if !held.is_empty() {
            return Ok(Some("containers were using the branch".into()));
        }
        if self.pool_short() {
            // It would be reclaimed at once anyway.
            return Ok(Some(
                "the pool has less than a tenth of its space free".into(),
            ));
        }
        let mp = self.core.mountpoint(&b.fs_id);
        if !super::procs::users_of(&[mp.as_path()]).is_empty() {
            return Ok(Some("programs were using the branch".into()));
        }
        // Whether it can be unmounted now (a container starting anywhere on the machine can
        // hold a copy of the mount); if not, a roll-back in place still works. Mounted again
        // at once, so that a crash before the re-clone leaves it where it was.
        // Recorded: a crash between the two leaves an intent that mounts it again.
        let remount = super::intent::Intent::Remount {
            fs_id: b.fs_id.clone(),
        };
        let probed = self
            .core
            .under(remount, || match self.core.unmount_settling(&b.fs_id) {
                Ok(true) => self
                    .core
                    .settling(&b.fs_id, || self.core.storage.mount(Ds::Branch(&b.fs_id)))
                    .map(|()| true)
                    .map_err(zfs_err),
                Ok(false) => Ok(true),
                Err(ZfsError::Busy(_)) => Ok(false),
                Err(e) => Err(zfs_err(e)),
            })?;
        if !probed {
            return Ok(Some("the branch was busy".into()));
        }
        // The hidden branch takes every commit of `b` in one registry write.
        let own = self.core.store.commits(&b.fs_id)?.len();
        let others = l
            .branches
            .iter()
            .filter(|x| x.origin.as_ref().is_some_and(|o| o.fs_id == b.fs_id))
            .count();
        if 2 + 2 * own + others + self.core.store.tags(&l.dot.id)?.len() > super::etcd::MAX_TXN_OPS
        {
            return Ok(Some(format!(
                "the branch has {own} commits, more than one registry write can move"
            )));
        }
        Ok(None)
    }

    /// Makes the hidden branch that keeps what resetting `b` removes: a clone of its newest
    /// removed commit `newest`, hidden for the grace period. Returns its name.
    fn keep_for_undo(&self, l: &Loaded, b: &BranchRecord, newest: &CommitId) -> Result<String> {
        let op = &super::core::new_id()[..8];
        let rec = BranchRecord {
            name: super::ops::hidden_name(&b.name, op),
            fs_id: crate::cluster::FsId::random(),
            origin: Some(OriginRecord {
                fs_id: b.fs_id.clone(),
                commit: newest.clone(),
            }),
        };
        let until = super::core::now().0 + self.core.undo_grace.as_secs();
        let intent = Intent::CreateFs {
            dot_id: l.dot.id.clone(),
            fs_id: rec.fs_id.clone(),
        };
        self.core.under(intent, || {
            self.core.make_branch_fs(
                &l.dot,
                &rec.name,
                &rec.fs_id,
                Some((&b.fs_id, newest.as_str())),
            )?;
            // Hidden branches are not mounted (zfs-fuse mounts a clone as it makes it).
            self.core.unmount_settling(&rec.fs_id).map_err(zfs_err)?;
            let created =
                self.core
                    .store
                    .create_hidden_branch(&l.dot.id, &rec, &self.core.id, until);
            Self::registered(created, || {
                format!("branch '{}' was just created by someone else", rec.name)
            })
        })?;
        Ok(rec.name)
    }

    /// Undoes a reset of `branch` from `head` to `target` whose removed commits hidden branch
    /// `hidden` kept: the branch is re-cloned at `head` and the hidden branch deleted, which
    /// hands every commit back to it.
    pub(super) fn undo_reset(
        &self,
        ns: &str,
        dot: &str,
        branch: &str,
        hidden: &str,
        head: &CommitId,
        target: &CommitId,
    ) -> Result<()> {
        let lock = self.core.lock(&format!("name:{ns}/{dot}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, dot)?;
        let b = self.core.writable(&l, branch)?;
        let h = super::ops::hidden_branch(&l, hidden)?;
        self.check_still_at(&l, b, target, "the reset")?;
        let held = self
            .inventory
            .containers(ns, dot)
            .remove(branch)
            .unwrap_or_default();
        if !held.is_empty() {
            return Err(Core::in_use_error(
                &format!("branch '{branch}'"),
                &held,
                "stop them first, and start them again after the undo",
            ));
        }
        // The hidden branch takes the commits up to the target back first, so that the
        // branch can be re-cloned at the old head (see the module doc).
        let l = if h.origin.as_ref().is_some_and(|o| o.fs_id == b.fs_id) {
            self.give_back(ns, dot, branch, hidden)?;
            self.core.load(ns, dot)?
        } else {
            l
        };
        let (b, h) = (l.branch(branch)?, l.branch(hidden)?);
        let kept = self.history(&l, h)?;
        let (head_fs, _) = kept.iter().find(|(_, c)| &c.id == head).ok_or_else(|| {
            DaemonError::NotFound(format!(
                "commit {} is no longer kept; the reset cannot be undone",
                crate::names::short_id(head)
            ))
        })?;
        let new = BranchRecord {
            name: b.name.clone(),
            fs_id: b.fs_id.clone(),
            origin: Some(OriginRecord {
                fs_id: head_fs.clone(),
                commit: head.clone(),
            }),
        };
        self.reclone_branch(&l, b, new, Vec::new())?;
        let (dot_id, hidden_fs) = (l.dot.id.clone(), h.fs_id.clone());
        let l = self.core.load(ns, dot)?;
        self.destroy_branch(l, hidden)?;
        self.core.store.drop_hidden(&dot_id, &hidden_fs)?;
        Ok(())
    }

    /// Hands the commits of branch `from` up to where branch `to` was made from it down to
    /// `to` (`zfs promote`), when `to` was made from `from`.
    fn give_back(&self, ns: &str, dot: &str, from: &str, to: &str) -> Result<()> {
        let l = self.core.load(ns, dot)?;
        let (f, t) = (l.branch(from)?, l.branch(to)?);
        if t.origin.as_ref().is_none_or(|o| o.fs_id != f.fs_id) {
            return Ok(());
        }
        self.hand_down_to(&l.dot, &f.fs_id, t)
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
            .unmount_settling(&new.fs_id)
            .map_err(DaemonError::Zfs)?;
        self.core
            .storage
            .set_property(old, "mountpoint", "none")
            .map_err(DaemonError::Zfs)?;
        self.core
            .settling(&new.fs_id, || self.core.storage.rename(old, aside))
            .map_err(DaemonError::Zfs)?;
        let origin = (&origin.fs_id, origin.commit.as_str());
        self.core
            .make_branch_fs(dot, &new.name, &new.fs_id, Some(origin))?;
        self.core
            .settling(&new.fs_id, || self.core.storage.destroy(aside))
            .map_err(zfs_err)?;
        // Where it was used, its files are there again at once (OpenZFS does not mount a
        // clone it makes with canmount=noauto; zfs-fuse does).
        if let Err(e) = self.core.storage.mount(Ds::Branch(&new.fs_id)) {
            tracing::warn!(fs = %new.fs_id, error = %e, "cannot mount a re-cloned branch yet");
        }
        Ok(())
    }
}
