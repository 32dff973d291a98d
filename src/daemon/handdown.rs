//! Handing a branch's commits down to the branches made from them, as git keeps a branch's
//! commits when another branch that shares them is reset or deleted.
//!
//! Branch `B`'s commits up to the newest one another branch grew from go to that branch (the
//! heir) by `zfs promote`: the heir's filesystem takes those snapshots, the other branches made
//! from them now hang off the heir, and `B` becomes a clone of the heir. The registry follows
//! in one write: the commit records move to the heir, origins and tags are re-pointed. `B` can
//! then be reset past its branch points, or deleted, without touching what the others need.
//!
//! Every node does the same to its own copies when it sees the registry say so
//! ([`Core::follow_hand_down`]), so every node's ZFS tree has the same shape.

use super::DaemonError;
use super::core::{Core, Loaded, P_BRANCH, P_DOT, P_DOTID, zfs_err};
use super::dots::Dots;
use super::intent::Intent;
use crate::cluster::{BranchRecord, CommitId, CommitRecord, DotRecord, FsId, OriginRecord};
use crate::storage::Ds;

type Result<T> = std::result::Result<T, DaemonError>;

/// Of `removed` (commits of `b`, newest first), those that really go: the ones newer than
/// every commit another branch grew from. The rest are handed down.
pub(super) fn lost<'a>(l: &Loaded, b: &BranchRecord, removed: &'a [CommitId]) -> &'a [CommitId] {
    let first_kept = l
        .branches
        .iter()
        .filter_map(|x| x.origin.as_ref())
        .filter(|o| o.fs_id == b.fs_id)
        .filter_map(|o| removed.iter().position(|r| *r == o.commit))
        .min();
    &removed[..first_kept.unwrap_or(removed.len())]
}

impl Dots {
    /// Before branch `b` loses its commits `removed`: the branches made from them keep them.
    /// Returns whether anything was handed down (the caller then reloads the dot).
    pub(super) fn hand_down(
        &self,
        l: &Loaded,
        b: &BranchRecord,
        removed: &[CommitId],
    ) -> Result<bool> {
        let own = self.core.store.commits(&b.fs_id)?;
        let pos = |c: &CommitId| own.iter().position(|x| &x.id == c);
        let heir = l
            .branches
            .iter()
            .filter_map(|x| {
                let o = x.origin.as_ref()?;
                (o.fs_id == b.fs_id && removed.contains(&o.commit)).then_some((pos(&o.commit), x))
            })
            .max_by_key(|(at, _)| *at)
            .map(|(_, x)| x);
        let Some(heir) = heir else {
            return Ok(false);
        };
        self.hand_down_to(&l.dot, &b.fs_id, heir)?;
        tracing::info!(dot = %l.dot.name, from = %b.name, heir = %heir.name, "handed commits down");
        Ok(true)
    }

    /// Hands filesystem `from`'s commits up to where `heir` was made from it down to `heir`,
    /// under an intent that settles an interruption.
    pub(super) fn hand_down_to(
        &self,
        dot: &DotRecord,
        from: &FsId,
        heir: &BranchRecord,
    ) -> Result<()> {
        let intent = Intent::HandDown {
            dot: dot.clone(),
            from: from.clone(),
            heir: heir.clone(),
        };
        self.core
            .under(intent, || self.core.hand_down_steps(dot, from, heir, true))
    }
}

impl Core {
    /// The steps of a hand-down from filesystem `from` to branch `heir` (as registered before
    /// it). With `promote` false (settling after a crash) only a promote that happened is
    /// completed in the registry; otherwise nothing happened.
    pub(super) fn hand_down_steps(
        &self,
        dot: &DotRecord,
        from: &FsId,
        heir: &BranchRecord,
        promote: bool,
    ) -> Result<()> {
        let ds = Ds::Branch(&heir.fs_id);
        if promote {
            self.check_hand_down_size(dot, from, heir)?;
            if !self.storage.exists(ds).map_err(zfs_err)? {
                // The heir lives on another node and has no copy here yet: its copy here is
                // what it was made from, a replica like any other.
                let o = heir.origin.as_ref().ok_or_else(|| {
                    DaemonError::Internal("a branch to hand down to has no origin".into())
                })?;
                self.make_replica_clone(dot, heir, (&o.fs_id, &o.commit))?;
            }
            if matches!(self.storage.origin(ds).map_err(zfs_err)?, Some((f, _)) if &f == from) {
                self.storage.promote(ds).map_err(zfs_err)?;
            }
        }
        if !self.storage.exists(ds).map_err(zfs_err)? {
            return Ok(());
        }
        let snaps = self.storage.snapshots(ds).map_err(zfs_err)?;
        let moved: Vec<CommitRecord> = self
            .store
            .commits(from)?
            .into_iter()
            .filter(|c| snaps.iter().any(|s| *s == c.id))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let is_moved = |c: &CommitId| moved.iter().any(|m| &m.id == c);
        let new_heir = BranchRecord {
            origin: self
                .storage
                .origin(ds)
                .map_err(zfs_err)?
                .map(|(fs_id, commit)| OriginRecord {
                    fs_id,
                    commit: commit.into(),
                }),
            ..heir.clone()
        };
        let branch_point = heir
            .origin
            .as_ref()
            .map(|o| o.commit.clone())
            .ok_or_else(|| {
                DaemonError::Internal("a branch to hand down to has no origin".into())
            })?;
        let rehomed: Vec<BranchRecord> = self
            .store
            .branches(&dot.id)?
            .into_iter()
            .filter(|x| x.name != heir.name)
            .filter_map(|mut x| {
                if &x.fs_id == from {
                    // It grows from the heir now, at the commit the heir was made from.
                    x.origin = Some(OriginRecord {
                        fs_id: heir.fs_id.clone(),
                        commit: branch_point.clone(),
                    });
                    return Some(x);
                }
                let o = x.origin.as_mut()?;
                if &o.fs_id == from && is_moved(&o.commit) {
                    o.fs_id = heir.fs_id.clone();
                    Some(x)
                } else {
                    None
                }
            })
            .collect();
        let tags: Vec<_> = self
            .store
            .tags(&dot.id)?
            .into_iter()
            .filter(|(_, t)| &t.fs_id == from && is_moved(&t.commit))
            .map(|(n, mut t)| {
                t.fs_id = heir.fs_id.clone();
                (n, t)
            })
            .collect();
        self.store
            .hand_down(&dot.id, from, &new_heir, &moved, &rehomed, &tags)?;
        Ok(())
    }

    /// Refuses a hand-down whose registry write would not fit in one etcd transaction (each
    /// commit moved is a write and a delete), before anything changes.
    fn check_hand_down_size(
        &self,
        dot: &DotRecord,
        from: &FsId,
        heir: &BranchRecord,
    ) -> Result<()> {
        let own = self.store.commits(from)?;
        let others = self
            .store
            .branches(&dot.id)?
            .iter()
            .filter(|b| b.origin.as_ref().is_some_and(|o| &o.fs_id == from))
            .count();
        let tags = self
            .store
            .tags(&dot.id)?
            .iter()
            .filter(|(_, t)| &t.fs_id == from)
            .count();
        let upto = heir.origin.as_ref().map(|o| &o.commit);
        let moved = own
            .iter()
            .position(|c| Some(&c.id) == upto)
            .map_or(0, |i| i + 1);
        if 1 + 2 * moved + others + tags > super::etcd::MAX_TXN_OPS {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' would take over {moved} commits at once, more than one registry transaction holds; delete branch '{}' first, or remove old commits",
                heir.name, heir.name
            )));
        }
        Ok(())
    }

    /// This node's copy of branch `b`, as a read-only replica cloned from `origin`.
    pub(super) fn make_replica_clone(
        &self,
        dot: &DotRecord,
        b: &BranchRecord,
        origin: (&FsId, &str),
    ) -> Result<()> {
        let mp = self.mountpoint(&b.fs_id).display().to_string();
        let dot_prop = format!("{}/{}", dot.namespace, dot.name);
        let props = [
            ("mountpoint", mp.as_str()),
            ("canmount", "noauto"),
            ("readonly", "on"),
            ("atime", "off"),
            (P_DOT, dot_prop.as_str()),
            (P_DOTID, dot.id.as_str()),
            (P_BRANCH, b.name.as_str()),
        ];
        self.storage
            .create(Ds::Branch(&b.fs_id), Some(origin), &props)
            .map_err(zfs_err)
    }

    /// Does here what a hand-down on another node did there: this node's copy of `fs` is still
    /// a clone of a snapshot that the registry now lists among `fs`'s own commits, so it is
    /// promoted. Returns the copy's origin after that (`None`: no copy here), which the
    /// caller needs anyway: one `zfs get` per filesystem and sync.
    pub(super) fn follow_hand_down(
        &self,
        fs: &FsId,
        commits: &[CommitRecord],
    ) -> Result<Option<Option<(FsId, String)>>> {
        let ds = Ds::Branch(fs);
        let origin = match self.storage.origin(ds) {
            Ok(o) => o,
            Err(crate::zfs::ZfsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(zfs_err(e)),
        };
        match origin {
            Some((_, snap)) if commits.iter().any(|c| c.id == snap) => {
                self.storage.promote(ds).map_err(zfs_err)?;
                tracing::info!(%fs, "promoted: its commits were handed down to it");
                Ok(Some(self.storage.origin(ds).map_err(zfs_err)?))
            }
            other => Ok(Some(other)),
        }
    }
}
