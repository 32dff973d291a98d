//! Dots, branches and commits: creating and deleting them, committing, branching, and reading
//! a branch's history (its own commits, then those of the branches it grew from).

use super::inventory::Inventory;
use super::replicate::Replicator;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;

use super::DaemonError;
use super::core::{Core, Loaded, check_name, encode_commit, now, zfs_err};
use super::intent::Intent;
use super::inventory::Facts;
use super::principal::Principal;
use super::procs;
use crate::api::{self, BranchInfo, CommitInfo, DotInfo};
use crate::cluster::{BranchRecord, CommitId, CommitRecord, DotId, DotRecord, FsId, OriginRecord};
use crate::names::{self, Kind};
use crate::storage::Ds;

type Result<T> = std::result::Result<T, DaemonError>;

/// Newest commit `seq` per filesystem, read from the registry once and then kept, so a commit
/// does not re-read every commit of its branch. Only a branch's master commits to it.
#[derive(Default)]
pub struct Seqs(Mutex<HashMap<FsId, u64>>);

impl Seqs {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<FsId, u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Dots, branches and commits (and `reset`, in its own module).
pub struct Dots {
    pub(super) core: Arc<Core>,
    pub(super) inventory: Arc<Inventory>,
    pub(super) replicator: Arc<Replicator>,
    seqs: Seqs,
}

impl Dots {
    pub(super) fn new(
        core: Arc<Core>,
        inventory: Arc<Inventory>,
        replicator: Arc<Replicator>,
    ) -> Dots {
        Dots {
            core,
            inventory,
            replicator,
            seqs: Seqs::default(),
        }
    }

    /// What registering a new branch filesystem answered: a lost race is a conflict (the
    /// caller's intent then destroys the filesystem, so ZFS never holds a branch the registry
    /// does not know).
    pub(super) fn registered(
        created: crate::cluster::Result<bool>,
        lost_race: impl FnOnce() -> String,
    ) -> Result<()> {
        match created? {
            true => Ok(()),
            false => Err(DaemonError::Conflict(lost_race())),
        }
    }

    /// Makes dot `ns/name` unless it exists (a volume driver's first use of a name).
    pub fn ensure_dot(&self, user: &Principal, ns: &str, name: &str) -> Result<()> {
        check_name(Kind::Namespace, ns)?;
        check_name(Kind::Dot, name)?;
        user.may_use(ns)?;
        if self.core.store.dot(ns, name)?.is_some() {
            return Ok(());
        }
        let req = api::CreateDot {
            namespace: ns.to_string(),
            name: name.to_string(),
        };
        match self.create_dot(user, &req) {
            // Made meanwhile by another request: as good.
            Ok(_) | Err(DaemonError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn create_dot(&self, user: &Principal, req: &api::CreateDot) -> Result<DotInfo> {
        check_name(Kind::Namespace, &req.namespace)?;
        check_name(Kind::Dot, &req.name)?;
        user.may_use(&req.namespace)?;
        let lock = self
            .core
            .lock(&format!("name:{}/{}", req.namespace, req.name));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.core.store.dot(&req.namespace, &req.name)?.is_some() {
            return Err(DaemonError::Conflict(format!(
                "dot '{}' already exists; switch to it with `dm switch {}` or pick another name",
                req.name, req.name
            )));
        }
        let dot = DotRecord {
            id: DotId::random(),
            namespace: req.namespace.clone(),
            name: req.name.clone(),
            created: now().0,
        };
        let master = BranchRecord {
            name: names::MASTER.into(),
            fs_id: FsId::random(),
            origin: None,
        };
        let intent = Intent::CreateFs {
            dot_id: dot.id.clone(),
            fs_id: master.fs_id.clone(),
        };
        self.core.under(intent, || {
            self.core
                .make_branch_fs(&dot, names::MASTER, &master.fs_id, None)?;
            let created = self.core.store.create_dot(&dot, &master, &self.core.id);
            Self::registered(created, || {
                format!(
                    "dot '{}' was just created by someone else; pick another name",
                    req.name
                )
            })
        })?;
        tracing::info!(ns = %dot.namespace, dot = %dot.name, "created dot");
        self.note(
            user,
            &dot.namespace,
            &dot.name,
            None,
            "dot",
            format!("made dot '{}'", dot.name),
            None,
        );
        self.inventory.show(user, &dot.namespace, &dot.name)
    }

    pub fn delete(&self, user: &Principal, ns: &str, name: &str) -> Result<()> {
        user.may_use(ns)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, name)?;
        let mut held: Vec<String> = self
            .inventory
            .containers(ns, name)
            .into_values()
            .flatten()
            .collect();
        held.extend(self.inventory.held_elsewhere(&l, &l.branches)?);
        if !held.is_empty() {
            return Err(Core::in_use_error(
                &format!("dot '{name}'"),
                &held,
                "stop and remove them first (`docker rm -f NAME`)",
            ));
        }
        let users = self.inventory.dot_users(&l);
        if !users.is_empty() {
            return Err(DaemonError::InUse(format!(
                "dot '{name}' is in use by {}; stop those processes (or leave its directories) and try again",
                users.join(", ")
            )));
        }
        if self.core.undo_grace.is_zero() {
            self.destroy_dot(&l)?;
            tracing::info!(%ns, dot = %name, "deleted dot");
            let text = format!("deleted dot '{name}' (cannot be undone: --undo-grace is 0)");
            self.note(user, ns, name, None, "dot-delete", text, None);
            return Ok(());
        }
        // Kept for `dm undo`: hidden under a reserved name, its branches unmounted here.
        for b in &l.branches {
            self.core.unmount_branch(&b.fs_id, |mp| {
                format!(
                    "dot '{name}' is busy; close programs using {} and try again",
                    mp.display()
                )
            })?;
        }
        let hidden = super::ops::hidden_name(name, &super::core::new_id()[..8]);
        let until = super::core::now().0 + self.core.undo_grace.as_secs();
        let mut op = self.new_op(user, name, None, "dot-delete");
        op.summary = format!("deleted dot '{name}'");
        op.undo = Some(crate::cluster::Undo::UnhideDot {
            dot: name.to_string(),
            hidden: hidden.clone(),
        });
        self.core.store.hide_dot(&l.dot, &hidden, until, &op)?;
        tracing::info!(%ns, dot = %name, %hidden, "deleted dot (hidden until reclaimed)");
        Ok(())
    }

    /// Deletes dot `l` for good, every branch's filesystem here first (other nodes follow).
    pub(super) fn destroy_dot(&self, l: &Loaded) -> Result<()> {
        let intent = Intent::DeleteDot {
            dot: l.dot.clone(),
            branches: l.branches.clone(),
        };
        self.core
            .under(intent, || self.core.delete_dot_steps(&l.dot, &l.branches))
    }

    /// `dm branch -d`: the branch is hidden (see `ops`) so `dm undo` can bring it back; it is
    /// deleted for good when its grace period ends.
    pub fn delete_branch(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
    ) -> Result<()> {
        user.may_use(ns)?;
        if branch == names::MASTER {
            return Err(DaemonError::BadRequest(format!(
                "the master branch cannot be deleted; delete the whole dot with `dm dot delete {name}`"
            )));
        }
        check_name(Kind::Branch, branch)?;
        let hidden = self.hide(user, ns, name, branch)?;
        self.note(
            user,
            ns,
            name,
            Some(branch),
            "branch-delete",
            format!("deleted branch '{branch}'"),
            Some(crate::cluster::Undo::Unhide {
                branch: branch.to_string(),
                hidden,
            }),
        );
        tracing::info!(%ns, dot = %name, %branch, "deleted branch (hidden until reclaimed)");
        Ok(())
    }

    /// Branch `b`'s own commits, newest first, once it is sure that deleting it removes no
    /// tagged commit (those others grew from are handed down, not removed).
    fn own_untagged(&self, l: &Loaded, b: &BranchRecord) -> Result<Vec<CommitId>> {
        let mut own: Vec<CommitId> = self
            .core
            .store
            .commits(&b.fs_id)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        own.reverse();
        let what = format!("deleting branch '{}'", b.name);
        self.check_untagged(l, super::handdown::lost(l, b, &own), &what)?;
        Ok(own)
    }

    /// What stops a branch from being deleted: tagged commits that would go, containers or
    /// processes using it.
    pub(super) fn check_deletable(&self, ns: &str, l: &Loaded, b: &BranchRecord) -> Result<()> {
        let branch = b.name.as_str();
        self.own_untagged(l, b)?;
        let mut held = self
            .inventory
            .containers(ns, &l.dot.name)
            .remove(branch)
            .unwrap_or_default();
        held.extend(self.inventory.held_elsewhere(l, std::slice::from_ref(b))?);
        if !held.is_empty() {
            return Err(Core::in_use_error(
                &format!("branch '{branch}'"),
                &held,
                "stop and remove them first",
            ));
        }
        let mp = self.core.mountpoint(&b.fs_id);
        let users = procs::users_of(&[mp.as_path()]);
        if !users.is_empty() {
            return Err(DaemonError::InUse(format!(
                "branch '{branch}' is in use by {}; stop those processes and try again",
                users.join(", ")
            )));
        }
        Ok(())
    }

    /// Deletes branch `branch` for good (a hidden branch whose time is up), with the dot's
    /// lock held: commits other branches grew from stay theirs (see `handdown`).
    pub(super) fn destroy_branch(&self, l: Loaded, branch: &str) -> Result<()> {
        let (ns, name) = (l.dot.namespace.clone(), l.dot.name.clone());
        let own = self.own_untagged(&l, l.branch(branch)?)?;
        let mut l = l;
        while self.hand_down(&l, l.branch(branch)?, &own)? {
            l = self.core.load(&ns, &name)?;
        }
        let b = l.branch(branch)?;
        let intent = Intent::DeleteBranch {
            dot_id: l.dot.id.clone(),
            branch: b.clone(),
        };
        self.core.under(intent, || {
            self.core
                .destroy_branch_fs(&b.fs_id, &format!("branch '{branch}'"))?;
            Ok(self
                .core
                .store
                .delete_branch(&l.dot.id, b, &self.core.seal())?)
        })?;
        tracing::info!(%ns, dot = %name, %branch, "deleted branch");
        Ok(())
    }

    /// Commits reachable from a branch, newest first: its own, then its origin's up to the
    /// branch point, and so on (what `git log` shows).
    pub(super) fn history(
        &self,
        l: &Loaded,
        branch: &BranchRecord,
    ) -> Result<Vec<(FsId, CommitRecord)>> {
        let mut out = Vec::new();
        let mut own = self.core.store.commits(&branch.fs_id)?;
        own.reverse();
        out.extend(own.into_iter().map(|c| (branch.fs_id.clone(), c)));
        let mut origin = branch.origin.clone();
        let mut hops = 0;
        while let Some(o) = origin {
            hops += 1;
            if hops > 1000 {
                break;
            }
            let mut theirs = self.core.store.commits(&o.fs_id)?;
            if let Some(pos) = theirs.iter().position(|c| c.id == o.commit) {
                theirs.truncate(pos + 1);
            }
            theirs.reverse();
            out.extend(theirs.into_iter().map(|c| (o.fs_id.clone(), c)));
            origin = l
                .branches
                .iter()
                .find(|b| b.fs_id == o.fs_id)
                .and_then(|b| b.origin.clone());
        }
        Ok(out)
    }

    pub fn log(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
    ) -> Result<Vec<CommitInfo>> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        Ok(commit_infos(&l, &self.history(&l, b)?))
    }

    /// The history from `rev` (an id, tag or `HEAD~N`, as `dm reset` takes) back, newest
    /// first: `git log REV`.
    pub fn log_from(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
        rev: &str,
    ) -> Result<Vec<CommitInfo>> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        let history = self.history(&l, b)?;
        let (_, at) = self.resolve_ref(&l, &history, rev, branch)?;
        let pos = history
            .iter()
            .position(|(_, c)| c.id == at.id)
            .expect("found in this history");
        Ok(commit_infos(&l, &history[pos..]))
    }

    pub fn commit(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::CreateCommit,
    ) -> Result<CommitInfo> {
        user.may_use(ns)?;
        api::check_commit(req).map_err(DaemonError::BadRequest)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, name)?;
        let b = self.core.writable(&l, branch)?;
        let cached = self.seqs.map().get(&b.fs_id).copied();
        let last_seq = match cached {
            Some(seq) => seq,
            None => self
                .core
                .store
                .commits(&b.fs_id)?
                .last()
                .map_or(0, |c| c.seq),
        };
        let (secs, nanos) = now();
        let rec = CommitRecord {
            id: CommitId::random(),
            message: req.message.clone(),
            author: user.to_string(),
            time: secs,
            seq: nanos.max(last_seq + 1),
            metadata: req.metadata.clone(),
        };
        let props = encode_commit(&rec);
        let prop_refs: Vec<(&str, &str)> = props
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // A commit the user was told failed must not exist: the intent removes the snapshot
        // if registering it fails.
        let intent = Intent::Commit {
            fs_id: b.fs_id.clone(),
            commit: rec.id.clone(),
        };
        let mut op = self.new_op(user, name, Some(branch), "commit");
        op.summary = format!(
            "commit {} on '{branch}': {}",
            names::short_id(&rec.id),
            rec.message.lines().next().unwrap_or("")
        );
        op.undo = Some(crate::cluster::Undo::Uncommit {
            branch: branch.to_string(),
            commit: rec.id.clone(),
        });
        self.core.under(intent, || {
            self.core
                .storage
                .snapshot(Ds::Branch(&b.fs_id), &rec.id, &prop_refs)
                .map_err(zfs_err)?;
            Ok(self.core.store.put_commit_logged(&b.fs_id, &rec, ns, &op)?)
        })?;
        self.seqs.map().insert(b.fs_id.clone(), rec.seq);
        tracing::info!(%ns, dot = %name, %branch, commit = %rec.id, "committed");
        Ok(CommitInfo {
            id: rec.id,
            branch: branch.to_string(),
            message: rec.message,
            author: rec.author,
            time: rec.time,
            metadata: rec.metadata,
        })
    }

    /// Finds a commit by full id or unique prefix among `candidates`.
    pub(super) fn resolve<'a>(
        candidates: &'a [(FsId, CommitRecord)],
        wanted: &str,
        branch: &str,
    ) -> Result<&'a (FsId, CommitRecord)> {
        if wanted.len() < 4 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DaemonError::BadRequest(format!(
                "'{wanted}' names no tag of this dot and is not a commit id; give a tag (`dm tag` lists them), HEAD~N, or at least 4 hex digits of an id from `dm log`"
            )));
        }
        let hits: Vec<_> = candidates
            .iter()
            .filter(|(_, c)| c.id.starts_with(&wanted.to_lowercase()))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(DaemonError::NotFound(format!(
                "commit {wanted} is not on branch '{branch}'; see its commits with `dm log`"
            ))),
            _ => Err(DaemonError::BadRequest(format!(
                "commit id {wanted} is ambiguous; give more digits"
            ))),
        }
    }

    pub fn create_branch(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        req: &api::CreateBranch,
    ) -> Result<BranchInfo> {
        user.may_use(ns)?;
        check_name(Kind::Branch, &req.name)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, name)?;
        if l.branches.iter().any(|b| b.name == req.name) {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' already exists; switch to it with `dm checkout {}`",
                req.name, req.name
            )));
        }
        let src = l.branch(&req.from_branch)?;
        let history = self.history(&l, src)?;
        let (fs_id, commit) = match &req.from_commit {
            Some(c) => self.resolve_ref(&l, &history, c, &src.name)?,
            None => history.first().ok_or_else(|| {
                DaemonError::BadRequest(format!(
                    "branch '{}' has no commits yet; commit first with `dm commit -m MESSAGE`",
                    src.name
                ))
            })?,
        };
        let cat = super::replicate::Catalog::for_dot(&self.core, &l.dot)?;
        self.replicator.ensure_commit(fs_id, &commit.id, &cat)?;
        let rec = BranchRecord {
            name: req.name.clone(),
            fs_id: FsId::random(),
            origin: Some(OriginRecord {
                fs_id: fs_id.clone(),
                commit: commit.id.clone(),
            }),
        };
        let intent = Intent::CreateFs {
            dot_id: l.dot.id.clone(),
            fs_id: rec.fs_id.clone(),
        };
        self.core.under(intent, || {
            let origin = (fs_id, commit.id.as_str());
            self.core
                .make_branch_fs(&l.dot, &rec.name, &rec.fs_id, Some(origin))?;
            let created = self
                .core
                .store
                .create_branch(&l.dot.id, &rec, &self.core.id);
            Self::registered(created, || {
                format!("branch '{}' was just created by someone else", req.name)
            })
        })?;
        self.note(
            user,
            ns,
            name,
            Some(&rec.name),
            "branch",
            format!(
                "made branch '{}' from {}",
                rec.name,
                names::short_id(&commit.id)
            ),
            Some(crate::cluster::Undo::DeleteBranch {
                branch: rec.name.clone(),
            }),
        );
        let masters = BTreeMap::from([(rec.fs_id.clone(), self.core.id.clone())]);
        let stats = self
            .core
            .storage
            .sizes(Some(std::slice::from_ref(&rec.fs_id)))
            .map_err(zfs_err)?;
        let f = Facts {
            stats: &stats,
            masters: &masters,
            down: &Default::default(),
            containers: &BTreeMap::new(),
            with_subdots: true,
        };
        Ok(self.inventory.branch_info(&rec, &l, 0, &f))
    }
}

/// `dm log`'s entries for `history` (from [`Dots::history`]), named by the branch owning each.
fn commit_infos(l: &Loaded, history: &[(FsId, CommitRecord)]) -> Vec<CommitInfo> {
    history
        .iter()
        .map(|(fs, c)| CommitInfo {
            id: c.id.clone(),
            branch: l.branch_of_fs(fs),
            message: c.message.clone(),
            author: c.author.clone(),
            time: c.time,
            metadata: c.metadata.clone(),
        })
        .collect()
}
