//! Receiving commits from another cluster: checking that a branch can take a stream, taking it
//! (hidden until confirmed), and dropping what was never confirmed before anyone mounts it.

use super::Transfers;
use super::{Fresh, Received};
use crate::api;
use crate::cluster::{BranchRecord, DotId, DotRecord, FsId};
use crate::daemon::DaemonError;
use crate::daemon::core::{Core, check_name, now, zfs_err};
use crate::daemon::principal::Principal;
use crate::names::Kind;
use crate::routes::At;
use crate::storage::{Ds, Input, Rollback};

type Result<T> = std::result::Result<T, DaemonError>;

impl Transfers {
    /// Receives a stream of commits into `branch`: creating the dot if it does not exist and
    /// `from` is `None`, or the branch, on top of commit `from`, if only the branch is missing.
    /// Answers with what arrived. Without a stream, only checks that it would take one.
    pub fn receive_commits(
        &self,
        user: &Principal,
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        from: Option<&str>,
        body: Option<Input<'_>>,
    ) -> Result<api::Receipt> {
        user.may_use(ns)?;
        check_name(Kind::Namespace, ns)?;
        check_name(Kind::Dot, name)?;
        check_name(Kind::Branch, branch)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let existing = self.core.store.dot(ns, name)?;
        let target_dot = existing.clone();
        let checking = body.is_none();
        let mut kept = Vec::new();
        let (fs, fresh) = match (existing, from) {
            (None, None) if branch != crate::names::MASTER => {
                return Err(DaemonError::NotFound(format!(
                    "dot '{name}' does not exist here; transfer its master branch first"
                )));
            }
            (None, None) => {
                let dot = DotRecord {
                    id: DotId::random(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    created: now().0,
                };
                let b = BranchRecord {
                    name: branch.to_string(),
                    fs_id: FsId::random(),
                    origin: None,
                };
                let fs = b.fs_id.clone();
                (fs, Some(Fresh { dot, branch: b }))
            }
            (None, Some(_)) => {
                return Err(DaemonError::NotFound(format!(
                    "dot '{name}' does not exist here; push it in full"
                )));
            }
            (Some(dot), _) => {
                let l = self.core.load_record(dot)?;
                match l.branch(branch) {
                    Ok(b) => {
                        // Another node holds the branch: the API sends the stream on to it,
                        // unread.
                        self.core.check_master(b)?;
                        kept = self.check_receivable(ns, name, b, from, checking)?;
                        (b.fs_id.clone(), None)
                    }
                    Err(_) => {
                        let b = self.new_branch_base(&l, branch, from)?;
                        let fs = b.fs_id.clone();
                        (
                            fs,
                            Some(Fresh {
                                dot: l.dot,
                                branch: b,
                            }),
                        )
                    }
                }
            }
        };
        // Without a body, only check: the client asks before it starts a stream, because a
        // refusal sent while it is still uploading reaches it as a broken pipe.
        let Some(body) = body else {
            return Ok(api::Receipt {
                bytes: 0,
                commits: Vec::new(),
                kept,
            });
        };
        // A new dot or branch is received under a hidden name and renamed when confirmed, so
        // neither a crash nor an unconfirmed stream can ever leave one that looks real.
        let ds = match fresh {
            Some(_) => Ds::Staging(&fs),
            None => Ds::Branch(&fs),
        };
        if fresh.is_some() {
            self.drop_unconfirmed(ns, name, branch);
        }
        if let (None, Some(dot)) = (&fresh, &target_dot) {
            // `zfs receive` moves a mounted branch's files forward at once, before the client
            // has confirmed anything: the branch stays unmounted until then, and whoever
            // mounts it first drops what was not confirmed (`drop_arrivals`).
            let was_mounted = self.core.unmount_branch(&fs, |mp| {
                format!(
                    "branch '{branch}' of dot '{name}' is in use on that cluster (programs have files open in {}); close them there first",
                    mp.display()
                )
            })?;
            if was_mounted {
                self.pending.hide(&fs, dot);
            }
        }
        // `zfs receive` checks the stream's own checksum and refuses a cut or altered stream.
        let received = self
            .core
            .storage
            .receive(ds, fresh.is_none(), body)
            .map_err(zfs_err);
        // What arrived must be known exactly: a receive whose snapshots cannot be listed is
        // undone rather than confirmed with fewer commits than were sent. An existing branch
        // was at `from` (see `check_receivable`), so what came is what follows it; a staging
        // filesystem or a branch without commits holds only what came.
        let snapshots = received.and_then(|bytes| {
            self.core
                .storage
                .snapshots(ds)
                .map_err(zfs_err)
                .map(|after| {
                    let names = after.into_iter();
                    let came = match (&fresh, from) {
                        (None, Some(id)) => names.skip_while(|s| s != id).skip(1).collect(),
                        _ => names.collect::<Vec<_>>(),
                    };
                    (bytes, came)
                })
        });
        let (bytes, snapshots) = match snapshots {
            Ok(s) => s,
            // A cut stream into an existing branch leaves the commits that arrived whole (each
            // checked by `zfs receive`): invisible until a rerun keeps them (`keep_received`),
            // so it need not send them again.
            Err(e @ DaemonError::Zfs(_)) if fresh.is_none() && from.is_some() => return Err(e),
            Err(e) => {
                self.undo_receive(&fs, fresh.is_some(), from)?;
                self.show_again(&fs);
                return Err(e);
            }
        };
        self.pending.insert(
            fs.clone(),
            Received {
                bytes,
                base: from.map(str::to_string),
                snapshots: snapshots.clone(),
                fresh,
            },
        );
        tracing::info!(%ns, dot = %name, %branch, bytes, commits = snapshots.len(), "received commits");
        Ok(api::Receipt {
            bytes,
            commits: snapshots.into_iter().map(Into::into).collect(),
            kept: Vec::new(),
        })
    }

    /// A branch may take a stream only if it is clean and its newest commit is `from`. Commits
    /// that arrived whole after `from` in an interrupted transfer are reported when `checking`,
    /// and rolled back before a stream.
    pub(super) fn check_receivable(
        &self,
        ns: &str,
        name: &str,
        b: &BranchRecord,
        from: Option<&str>,
        checking: bool,
    ) -> Result<Vec<api::Arrived>> {
        let commits = self.core.store.commits(&b.fs_id)?;
        let newest = commits.last().map(|c| c.id.as_str());
        if newest != from {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' of dot '{name}' is at {} here, not at {}; fetch its state again and retry",
                b.name,
                newest.unwrap_or("no commit"),
                from.unwrap_or("no commit")
            )));
        }
        if let Some(held) = self.inventory.containers(ns, name).get(&b.name) {
            return Err(Core::in_use_error(
                &format!("branch '{}' of dot '{name}'", b.name),
                held,
                "stop them on that cluster first",
            ));
        }
        let ds = Ds::Branch(&b.fs_id);
        let arrived = match from {
            Some(id) => {
                let snaps = self.core.storage.snapshots(ds).map_err(zfs_err)?;
                let at = snaps.iter().position(|s| s == id).ok_or_else(|| {
                    DaemonError::Internal(format!(
                        "commit {id} is registered but its snapshot is missing from branch '{}'",
                        b.name
                    ))
                })?;
                snaps[at + 1..].to_vec()
            }
            None => Vec::new(),
        };
        // Changes since the newest snapshot, registered or arrived.
        let dirty = match arrived.last() {
            Some(last) => self.core.changed_since(&b.fs_id, last)?,
            None => self.core.uncommitted(&b.fs_id)?,
        };
        if dirty {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' of dot '{name}' has uncommitted changes on that cluster; commit or reset them there first",
                b.name
            )));
        }
        if checking {
            return arrived
                .iter()
                .map(|s| {
                    Ok(api::Arrived {
                        id: s.as_str().into(),
                        guid: self.core.storage.guid(ds, s).map_err(zfs_err)?,
                    })
                })
                .collect();
        }
        if let (Some(id), false) = (from, arrived.is_empty()) {
            self.core
                .storage
                .rollback(ds, id, Rollback::DestroyingLater)
                .map_err(zfs_err)?;
        }
        Ok(Vec::new())
    }

    /// The record of a branch new here, whose first stream is a clone stream from `from`: the
    /// commit it was made from, which must be here already (on another branch of the dot).
    pub(super) fn new_branch_base(
        &self,
        l: &crate::daemon::core::Loaded,
        branch: &str,
        from: Option<&str>,
    ) -> Result<BranchRecord> {
        let name = &l.dot.name;
        let Some(base) = from else {
            return Err(DaemonError::Conflict(format!(
                "branch '{branch}' does not exist in dot '{name}' here, and a new branch can only be received on top of the commit it was made from"
            )));
        };
        let mut origin = None;
        for b in &l.branches {
            if self
                .core
                .store
                .commits(&b.fs_id)?
                .iter()
                .any(|c| c.id == base)
            {
                origin = Some(b.fs_id.clone());
                break;
            }
        }
        let Some(origin) = origin else {
            // Not found (404): a pushing cluster sends the base first when it hears this.
            return Err(DaemonError::NotFound(format!(
                "dot '{name}' here lacks commit {base}, which branch '{branch}' was made from; transfer the branch it came from first"
            )));
        };
        let cat = crate::daemon::replicate::Catalog::for_dot(&self.core, &l.dot)?;
        self.replicator.ensure_commit(&origin, base, &cat)?;
        Ok(BranchRecord {
            name: branch.to_string(),
            fs_id: FsId::random(),
            origin: Some(crate::cluster::OriginRecord {
                fs_id: origin,
                commit: base.into(),
            }),
        })
    }

    /// Before branch filesystem `fs` is mounted: snapshots that arrived from another cluster
    /// and were never confirmed go, so its files are exactly its newest registered commit's
    /// (a branch takes a stream only when clean). They would otherwise have let a rerun keep
    /// them; it sends them again instead. Handoff snapshots carry uncommitted changes and stay.
    pub(in crate::daemon) fn drop_arrivals(&self, dot: &DotRecord, fs: &FsId) -> Result<()> {
        let lock = self
            .core
            .lock(&format!("name:{}/{}", dot.namespace, dot.name));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.pending.take(fs);
        self.pending.unhide(fs);
        let ds = Ds::Branch(fs);
        let snaps = self.core.storage.snapshots(ds).map_err(zfs_err)?;
        let registered = self.core.store.commits(fs)?;
        let known = |s: &String| {
            registered.iter().any(|c| &c.id == s)
                || s.starts_with(crate::daemon::core::HANDOFF_PREFIX)
        };
        let Some(last) = snaps.iter().rposition(known) else {
            return Ok(());
        };
        if last + 1 < snaps.len() {
            tracing::info!(%fs, dropped = snaps.len() - last - 1, "dropping unconfirmed arrivals before a mount");
            self.core
                .storage
                .rollback(ds, &snaps[last], Rollback::DestroyingLater)
                .map_err(zfs_err)?;
        }
        Ok(())
    }

    /// Mounts branch filesystem `fs` here unless it is, first dropping what [`Self::drop_arrivals`]
    /// drops: its files are then its newest commit's plus its uncommitted changes.
    pub(in crate::daemon) fn mount_branch(&self, dot: &DotRecord, fs: &FsId) -> Result<()> {
        let ds = Ds::Branch(fs);
        if !self.core.storage.is_mounted(ds).map_err(zfs_err)? {
            self.drop_arrivals(dot, fs)?;
            self.core.storage.mount(ds).map_err(zfs_err)?;
        }
        Ok(())
    }

    /// Mounts a branch again that a stream found mounted, once the stream is settled.
    pub(super) fn show_again(&self, fs: &FsId) {
        if self.pending.unhide(fs)
            && let Err(e) = self.core.storage.mount(Ds::Branch(fs))
        {
            tracing::warn!(%fs, error = %e, "cannot mount a branch again after a receive; it mounts on next use");
        }
    }

    /// Branches hidden for a stream whose client went quiet: what arrived is dropped and they
    /// are mounted again (called from the sweep).
    pub(in crate::daemon) fn show_overdue(&self) {
        for (fs, h) in self.pending.overdue() {
            let done = self
                .drop_arrivals(&h.dot, &fs)
                .and_then(|()| self.core.storage.mount(Ds::Branch(&fs)).map_err(zfs_err));
            if let Err(e) = done {
                tracing::warn!(%fs, error = %e, "cannot show a branch again after an unconfirmed receive");
            }
        }
    }

    /// Forgets an earlier unconfirmed receive that would create branch `branch` of `ns/name`
    /// (or the dot) (its client went away).
    pub(super) fn drop_unconfirmed(&self, ns: &str, name: &str, branch: &str) {
        for fs in self.pending.fresh(ns, name, branch) {
            self.pending.take(&fs);
            self.destroy_staging(&fs);
        }
    }

    /// A staging filesystem goes; one that will not is destroyed at the next start (see
    /// `Node::recover`), and is invisible meanwhile.
    pub(super) fn destroy_staging(&self, fs: &FsId) {
        match self.core.storage.destroy(Ds::Staging(fs)) {
            Ok(()) | Err(crate::storage::Error::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(%fs, error = %e, "cannot destroy a staging filesystem yet; it goes at the next start")
            }
        }
    }
}
