//! Confirming a received stream: the client's byte count must match what arrived; then new
//! dots and branches get their real names and the commits are registered. Also keeping commits
//! that arrived whole in an interrupted transfer.

use super::Fresh;
use super::Transfers;
use crate::api;
use crate::cluster::{CommitRecord, FsId};
use crate::daemon::DaemonError;
use crate::daemon::core::{encode_commit, now, zfs_err};
use crate::daemon::principal::Principal;
use crate::routes::At;
use crate::storage::{Ds, Rollback};

type Result<T> = std::result::Result<T, DaemonError>;

impl Transfers {
    /// Registers commits that arrived whole in an interrupted transfer, oldest first, if each
    /// snapshot here has the sender's GUID (so the same data); they must directly follow the
    /// branch's newest commit. Returns the ids registered.
    pub fn keep_received(
        &self,
        user: &Principal,
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        req: &api::KeepReceived,
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        self.core.check_master(b)?;
        if req.guids.len() != req.commits.len() {
            return Err(DaemonError::BadRequest(
                "one GUID per commit is needed".into(),
            ));
        }
        let arrived = self.check_receivable(
            ns,
            name,
            b,
            self.core
                .store
                .commits(&b.fs_id)?
                .last()
                .map(|c| c.id.as_str()),
            true,
        )?;
        let matches = req
            .commits
            .iter()
            .zip(&req.guids)
            .zip(&arrived)
            .all(|((c, guid), a)| c.id == a.id && *guid == a.guid);
        if !matches || arrived.len() < req.commits.len() {
            return Err(DaemonError::Conflict(
                "the commits that arrived here are not the ones sent; send them again".into(),
            ));
        }
        // A whole stream whose confirmation never came is kept this way too.
        self.pending.take(&b.fs_id);
        let ids: Vec<String> = req.commits.iter().map(|c| c.id.to_string()).collect();
        let records = self.label_received(Ds::Branch(&b.fs_id), &b.fs_id, &ids, &req.commits)?;
        let done = self.register_received(&b.fs_id, &records)?;
        self.show_again(&b.fs_id);
        tracing::info!(%ns, dot = %name, %branch, commits = done.len(), "kept commits that arrived whole");
        Ok(done)
    }

    /// After a failed receive: a new dot's staging filesystem goes; an existing branch goes back
    /// to its newest registered commit.
    pub(super) fn undo_receive(&self, fs: &FsId, created: bool, from: Option<&str>) -> Result<()> {
        if created {
            self.destroy_staging(fs);
        } else if let Some(id) = from {
            let ds = Ds::Branch(fs);
            if self.core.storage.has_snapshot(ds, id).unwrap_or(false) {
                self.core
                    .storage
                    .rollback(ds, id, Rollback::DestroyingLater)
                    .map_err(zfs_err)?;
            }
        }
        Ok(())
    }

    /// A confirmed new dot or branch: its staging filesystem takes its real name and
    /// properties, and it is registered.
    pub(super) fn publish_received(&self, fs: &FsId, f: &Fresh) -> Result<()> {
        let (dot, b) = (&f.dot, &f.branch);
        self.core
            .storage
            .rename(Ds::Staging(fs), Ds::Branch(fs))
            .map_err(zfs_err)?;
        self.replicator
            .label_branch(Ds::Branch(fs), fs, "off", dot, &b.name)?;
        let registered = if f.new_dot() {
            self.core.store.create_dot(dot, b, &self.core.id)?
        } else {
            self.core.store.create_branch(&dot.id, b, &self.core.id)?
        };
        if !registered {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' of dot '{}' was created here meanwhile; pull or push again",
                b.name, dot.name
            )));
        }
        Ok(())
    }

    /// Registers received commits once the client's count of what was sent matches what
    /// arrived.
    pub fn confirm_commits(
        &self,
        user: &Principal,
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        req: &api::ConfirmReceive,
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let existing = match self.core.store.dot(ns, name)? {
            Some(dot) => self.core.load_record(dot)?.branch(branch).ok().cloned(),
            None => None,
        };
        let fs = match existing {
            Some(b) => {
                // What was received waits on the node holding the branch.
                self.core.check_master(&b)?;
                b.fs_id
            }
            None => self
                .pending
                .fresh(ns, name, branch)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    DaemonError::NotFound(format!(
                        "nothing received for branch '{branch}' of dot '{name}'"
                    ))
                })?,
        };
        let got = self.pending.take(&fs).ok_or_else(|| {
            DaemonError::Conflict("nothing received to confirm; send the stream again".into())
        })?;
        if got.bytes != req.bytes {
            tracing::warn!(%fs, got = got.bytes, sent = req.bytes, "size mismatch; received commits dropped");
            self.undo_receive(&fs, got.fresh.is_some(), got.base.as_deref())?;
            self.show_again(&fs);
            return Err(DaemonError::Conflict(format!(
                "{} bytes arrived but {} were sent; nothing was kept, try again",
                got.bytes, req.bytes
            )));
        }
        // The commit records go onto the snapshots before anything is registered: a crash
        // between registering a new dot and registering its commits then leaves snapshots that
        // recovery adopts as commits, never a dot whose data belongs to no commit.
        let ds = match got.fresh {
            Some(_) => Ds::Staging(&fs),
            None => Ds::Branch(&fs),
        };
        let records = match self.label_received(ds, &fs, &got.snapshots, &req.commits) {
            Ok(r) => r,
            Err(e) => {
                // Nothing was registered: a new dot or branch goes; an existing branch is
                // shown again by the sweep, without what arrived.
                if got.fresh.is_some() {
                    self.destroy_staging(&fs);
                }
                return Err(e);
            }
        };
        if let Some(f) = &got.fresh {
            // Unregistered after all (a lost race, a failed step): the intent destroys it.
            let intent = crate::daemon::intent::Intent::CreateFs {
                dot_id: f.dot.id.clone(),
                fs_id: fs.clone(),
            };
            self.core.under(intent, || self.publish_received(&fs, f))?;
        }
        let done = self.register_received(&fs, &records)?;
        self.show_again(&fs);
        tracing::info!(%ns, dot = %name, %branch, commits = done.len(), "confirmed received commits");
        Ok(done)
    }

    /// Gives received snapshots `ids` of dataset `ds` (branch `fs`, or its staging filesystem)
    /// their commit records from `infos`, in order, and returns the records.
    pub(super) fn label_received(
        &self,
        ds: Ds<'_>,
        fs: &FsId,
        ids: &[String],
        infos: &[api::CommitInfo],
    ) -> Result<Vec<CommitRecord>> {
        // One listing for all of them rather than a lookup per commit.
        let here = self.core.storage.snapshots(ds).map_err(zfs_err)?;
        let mut seq = self.core.store.commits(fs)?.last().map_or(0, |c| c.seq);
        let mut records = Vec::new();
        for id in ids {
            let Some(info) = infos.iter().find(|c| &c.id == id) else {
                continue;
            };
            seq = seq.max(now().1).max(seq + 1);
            let rec = CommitRecord {
                id: info.id.as_str().into(),
                message: info.message.clone(),
                author: info.author.clone(),
                time: info.time,
                seq,
                metadata: info.metadata.clone(),
            };
            if !here.contains(id) {
                return Err(DaemonError::Internal(format!(
                    "received snapshot {id} vanished before confirmation"
                )));
            }
            self.core
                .storage
                .set_snapshot_properties(ds, id, &encode_commit(&rec))
                .map_err(zfs_err)?;
            records.push(rec);
        }
        Ok(records)
    }

    /// Registers labelled commits of branch `fs`, in order. Returns their ids.
    pub(super) fn register_received(
        &self,
        fs: &FsId,
        records: &[CommitRecord],
    ) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for rec in records {
            self.core.store.put_commit(fs, rec)?;
            done.push(rec.id.to_string());
        }
        Ok(done)
    }
}
