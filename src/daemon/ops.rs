//! The operation log and `dm undo` (jj's operation log is the model), and hidden branches.
//!
//! Every verb that changes a namespace's refs records an [`OpRecord`] with what undoing it
//! means ([`Undo`]): a commit is removed with its files left as uncommitted changes, a made
//! branch or tag goes, a deleted tag comes back, and a deleted branch comes back — `dm branch
//! -d` hides it instead of destroying it: the branch is renamed to a reserved name
//! (`_<branch>~<op>`) and unmounted. A reset that removes commits keeps them the same way,
//! in a hidden branch made from the newest removed one (see `reset`); `dm dot delete` hides
//! the whole dot under a reserved name. A pull is undone by taking the branch back; a
//! checkout (the client's own) is recorded by the client, and undone by it too. Pushes are
//! recorded but cannot be undone.
//!
//! Hidden branches are replicated like any other and reclaimed (deleted for good, handing
//! down what others grew from) once `NodeConfig::undo_grace_secs` has passed, by the node
//! that is their master, in the sweep.

use super::DaemonError;
use super::core::{Loaded, now, zfs_err};
use super::dots::Dots;
use super::intent::Intent;
use super::principal::Principal;
use crate::api;
use crate::cluster::{BranchRecord, CommitId, OpRecord, Undo};
use crate::names;
use crate::storage::Ds;

type Result<T> = std::result::Result<T, DaemonError>;

/// A hidden branch's name: users cannot give names that start with `_`.
pub(super) fn hidden_name(branch: &str, op: &str) -> String {
    format!("_{branch}~{op}")
}

pub(super) fn is_hidden(name: &str) -> bool {
    name.starts_with('_')
}

/// The branch a hidden one came from, for `dm log`.
pub(super) fn shown_branch(name: &str) -> &str {
    name.strip_prefix('_')
        .and_then(|r| r.rsplit_once('~'))
        .map_or(name, |(b, _)| b)
}

fn info(op: &OpRecord) -> api::OpInfo {
    api::OpInfo {
        id: op.id.clone(),
        time: op.seq / 1_000_000_000,
        user: op.user.clone(),
        dot: op.dot.clone(),
        branch: op.branch.clone(),
        kind: op.kind.clone(),
        summary: op.summary.clone(),
        undoable: op.undo.is_some() && !op.undone,
        undone: op.undone,
        checked_out_from: match &op.undo {
            Some(Undo::Checkout { from, .. }) => Some(from.clone()),
            _ => None,
        },
    }
}

impl Dots {
    /// A new operation of `user` on dot `ns/dot`, to fill in and [`Dots::save_op`].
    pub(super) fn new_op(
        &self,
        user: &Principal,
        dot: &str,
        branch: Option<&str>,
        kind: &str,
    ) -> OpRecord {
        OpRecord {
            id: super::core::new_id()[..8].to_string(),
            seq: now().1,
            user: user.name().to_string(),
            dot: dot.to_string(),
            branch: branch.map(str::to_string),
            kind: kind.to_string(),
            summary: String::new(),
            undo: None,
            undone: false,
        }
    }

    /// Records an operation that happened; a failure to record is logged, never the verb's.
    pub(super) fn save_op(&self, ns: &str, op: OpRecord) {
        if let Err(e) = self.core.store.put_op(ns, &op) {
            tracing::warn!(%ns, op = %op.id, error = %e, "cannot record an operation in the log");
        }
    }

    /// Records `kind` on `dot` with `summary` and its `undo`, in one call.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn note(
        &self,
        user: &Principal,
        ns: &str,
        dot: &str,
        branch: Option<&str>,
        kind: &str,
        summary: String,
        undo: Option<Undo>,
    ) {
        let mut op = self.new_op(user, dot, branch, kind);
        op.summary = summary;
        op.undo = undo;
        self.save_op(ns, op);
    }

    /// `dm op log`: newest first.
    pub fn op_log(&self, user: &Principal, ns: &str) -> Result<Vec<api::OpInfo>> {
        user.may_use(ns)?;
        let mut ops = self.core.store.ops(ns)?;
        ops.reverse();
        Ok(ops.iter().map(info).collect())
    }

    /// Records a client's checkout (`dm checkout`), after checking both branches exist.
    pub fn record_checkout(&self, user: &Principal, ns: &str, req: &api::Checkout) -> Result<()> {
        user.may_use(ns)?;
        super::core::check_name(names::Kind::Dot, &req.dot)?;
        for b in [&req.branch, &req.from] {
            super::core::check_name(names::Kind::Branch, b)?;
        }
        let l = self.core.load(ns, &req.dot)?;
        l.branch(&req.branch)?;
        l.branch(&req.from)?;
        self.note(
            user,
            ns,
            &req.dot,
            Some(&req.branch),
            "checkout",
            format!("checked out '{}' (from '{}')", req.branch, req.from),
            Some(Undo::Checkout {
                from: req.from.clone(),
                to: req.branch.clone(),
            }),
        );
        Ok(())
    }

    /// `dm undo` (the newest operation that can be undone) or `dm op restore ID` (every one
    /// after `ID`, newest first).
    pub fn undo(&self, user: &Principal, ns: &str, req: &api::UndoRequest) -> Result<api::Undone> {
        user.may_use(ns)?;
        let mut ops = self.core.store.ops(ns)?;
        ops.reverse();
        let live: Vec<OpRecord> = ops
            .into_iter()
            .filter(|o| !o.undone && o.kind != "undo")
            .collect();
        let targets: Vec<OpRecord> = match &req.to {
            None => live
                .into_iter()
                .find(|o| o.undo.is_some())
                .into_iter()
                .collect(),
            Some(id) => {
                let Some(at) = live.iter().position(|o| &o.id == id) else {
                    return Err(DaemonError::NotFound(format!(
                        "no operation {id} that is not undone yet; see `dm op log`"
                    )));
                };
                let newer = live[..at].to_vec();
                if let Some(stuck) = newer.iter().find(|o| o.undo.is_none()) {
                    return Err(DaemonError::Conflict(format!(
                        "operation {} ({}) cannot be undone, so the state after {id} cannot be restored",
                        stuck.id, stuck.summary
                    )));
                }
                newer
            }
        };
        if targets.is_empty() && req.to.is_some() {
            // Nothing after it: the state after it is the state now.
            return Ok(api::Undone { undone: Vec::new() });
        }
        if targets.is_empty() {
            return Err(DaemonError::NotFound(
                "nothing to undo: no operation in the log can be undone (see `dm op log`)".into(),
            ));
        }
        let mut done = Vec::new();
        for mut op in targets {
            let undo = op.undo.clone().expect("chosen for its undo");
            self.apply(user, ns, &op, &undo)?;
            op.undone = true;
            self.save_op(ns, op.clone());
            self.note(
                user,
                ns,
                &op.dot,
                op.branch.as_deref(),
                "undo",
                format!("undid {}: {}", op.id, op.summary),
                None,
            );
            done.push(info(&op));
        }
        Ok(api::Undone { undone: done })
    }

    fn apply(&self, user: &Principal, ns: &str, op: &OpRecord, undo: &Undo) -> Result<()> {
        let dot = op.dot.as_str();
        match undo {
            Undo::DeleteTag { name } => {
                let l = self.core.load(ns, dot)?;
                self.core.store.delete_tag(&l.dot.id, name)?;
                Ok(())
            }
            Undo::CreateTag { name, tag } => {
                let l = self.core.load(ns, dot)?;
                if !self.core.store.create_tag(&l.dot.id, name, tag)? {
                    return Err(DaemonError::Conflict(format!(
                        "tag '{name}' exists again; delete it first (`dm tag -d {name}`)"
                    )));
                }
                Ok(())
            }
            Undo::DeleteBranch { branch } => {
                // A branch with commits of its own is hidden, as `dm branch -d` hides it; one
                // without (only uncommitted files) goes, so the commit it was made from is free
                // to be undone next.
                let lock = self.core.lock(&format!("name:{ns}/{dot}"));
                let g = lock.lock().unwrap_or_else(|p| p.into_inner());
                let l = self.core.load(ns, dot)?;
                let b = l.branch(branch)?;
                if self.core.store.commits(&b.fs_id)?.is_empty() {
                    self.check_deletable(ns, &l, b)?;
                    return self.destroy_branch(l, branch);
                }
                drop(g);
                self.hide(user, ns, dot, branch).map(|_| ())
            }
            Undo::Uncommit { branch, commit } => self.uncommit(ns, dot, branch, commit),
            Undo::Reset {
                branch,
                hidden,
                head,
                target,
            } => self.undo_reset(ns, dot, branch, hidden, head, target),
            Undo::Rewind { branch, to, from } => self.rewind(ns, dot, branch, to, from),
            Undo::Checkout { from, .. } => {
                // The client checks `from` out again; here it only has to exist still.
                let l = self.core.load(ns, dot)?;
                l.branch(from).map(|_| ()).map_err(|_| {
                    DaemonError::Conflict(format!(
                        "branch '{from}' is gone, so the checkout cannot be undone; check out a branch with `dm checkout`"
                    ))
                })
            }
            Undo::UnhideDot { dot, hidden } => {
                let lock = self.core.lock(&format!("name:{ns}/{dot}"));
                let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
                let Some(h) = self.core.store.dot(ns, hidden)? else {
                    return Err(reclaimed());
                };
                if !self.core.store.unhide_dot(&h, dot)? {
                    return Err(DaemonError::Conflict(format!(
                        "a dot named '{dot}' exists again; delete it (`dm dot delete {dot}`) or clone it under another name first"
                    )));
                }
                Ok(())
            }
            Undo::Unhide { branch, hidden } => {
                let lock = self.core.lock(&format!("name:{ns}/{dot}"));
                let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
                let l = self.core.load(ns, dot)?;
                let h = hidden_branch(&l, hidden)?;
                if !self.core.store.unhide_branch(&l.dot.id, h, branch)? {
                    return Err(DaemonError::Conflict(format!(
                        "a branch named '{branch}' exists again; delete or rename it first"
                    )));
                }
                self.label(&h.fs_id, branch);
                // Mounted again where it is written, as it was before the delete.
                if self.core.store.master(&h.fs_id)?.as_ref() == Some(&self.core.id) {
                    self.core
                        .storage
                        .mount(Ds::Branch(&h.fs_id))
                        .map_err(zfs_err)?;
                }
                Ok(())
            }
        }
    }

    /// Removes commit `commit`, the newest of `branch`; its files stay as uncommitted changes.
    fn uncommit(&self, ns: &str, dot: &str, branch: &str, commit: &CommitId) -> Result<()> {
        let lock = self.core.lock(&format!("name:{ns}/{dot}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, dot)?;
        let b = self.core.writable(&l, branch)?;
        let own = self.core.store.commits(&b.fs_id)?;
        if own.last().map(|c| &c.id) != Some(commit) {
            return Err(DaemonError::Conflict(format!(
                "commit {} is no longer the newest of branch '{branch}'; undo the newer operations first",
                names::short_id(commit)
            )));
        }
        if let Some(x) = l
            .branches
            .iter()
            .find(|x| x.origin.as_ref().is_some_and(|o| &o.commit == commit))
        {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' was made from commit {}; delete it first",
                shown_branch(&x.name),
                names::short_id(commit)
            )));
        }
        self.check_untagged(&l, std::slice::from_ref(commit), "undoing the commit")?;
        let intent = Intent::Prune {
            fs_id: b.fs_id.clone(),
            removed: vec![commit.clone()],
        };
        self.core.under(intent, || {
            // Destroying the snapshot leaves the files as they are: uncommitted changes.
            self.core
                .storage
                .destroy_snapshot(Ds::Branch(&b.fs_id), commit)
                .map_err(zfs_err)?;
            Ok(self
                .core
                .store
                .delete_commits(&b.fs_id, std::slice::from_ref(commit))?)
        })
    }

    /// `dm branch -d`: hides branch `branch` (see the module doc). Returns its hidden name.
    pub(super) fn hide(
        &self,
        user: &Principal,
        ns: &str,
        dot: &str,
        branch: &str,
    ) -> Result<String> {
        let _ = user;
        let lock = self.core.lock(&format!("name:{ns}/{dot}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, dot)?;
        let b = l.branch(branch)?;
        self.check_deletable(ns, &l, b)?;
        let op = super::core::new_id()[..8].to_string();
        let hidden = hidden_name(branch, &op);
        self.core.unmount_settling(&b.fs_id).map_err(|e| match e {
            crate::zfs::ZfsError::Busy(_) => DaemonError::InUse(format!(
                "branch '{branch}' is busy; close programs using it and try again"
            )),
            other => zfs_err(other),
        })?;
        let until = now().0 + self.core.undo_grace.as_secs();
        self.core.store.hide_branch(&l.dot.id, b, &hidden, until)?;
        self.label(&b.fs_id, &hidden);
        Ok(hidden)
    }

    /// The branch name in a filesystem's properties, kept current where this node has it.
    fn label(&self, fs: &crate::cluster::FsId, name: &str) {
        let set = self
            .core
            .storage
            .set_property(Ds::Branch(fs), super::core::P_BRANCH, name);
        if let Err(e) = set {
            tracing::warn!(%fs, error = %e, "cannot update the branch name on its filesystem");
        }
    }

    /// The sweep: deletes for good the hidden branches whose time is up — all of them, oldest
    /// first, while the pool has less than a tenth of its space free — where this node is
    /// their master. One that still cannot go (a tagged commit, busy) waits for the next sweep.
    pub(super) fn reclaim_hidden(&self) {
        let Ok(mut hidden) = self.core.store.hidden() else {
            return;
        };
        hidden.sort_by_key(|(_, _, h)| h.until);
        let (now, mut short) = (now().0, None);
        for (dot_id, fs, h) in hidden {
            // The pool's space is read once a sweep, and only if something waits.
            if h.until > now && !*short.get_or_insert_with(|| self.pool_short()) {
                continue;
            }
            match self.core.store.master(&fs) {
                Ok(Some(m)) if m == self.core.id => {}
                _ => continue,
            }
            if let Err(e) = self.reclaim(&dot_id, &fs, &h.branch) {
                tracing::warn!(%fs, branch = %h.branch, error = %e, "cannot reclaim a hidden branch yet");
            }
        }
    }

    /// The sweep, for hidden dots: each goes for good once its time is up (or the pool runs
    /// short), deleted by the node that masters its master branch; the others follow.
    pub(super) fn reclaim_hidden_dots(&self) {
        let Ok(hidden) = self.core.store.hidden_dots() else {
            return;
        };
        let (now, mut short) = (now().0, None);
        for (dot_id, h) in hidden {
            // The pool's space is read once a sweep, and only if something waits.
            if h.until > now && !*short.get_or_insert_with(|| self.pool_short()) {
                continue;
            }
            if let Err(e) = self.reclaim_dot(&dot_id, &h) {
                tracing::warn!(dot = %h.hidden, error = %e, "cannot reclaim a deleted dot yet");
            }
        }
    }

    fn reclaim_dot(
        &self,
        dot_id: &crate::cluster::DotId,
        h: &crate::cluster::HiddenDot,
    ) -> Result<()> {
        let lock = self
            .core
            .lock(&format!("name:{}/{}", h.namespace, h.hidden));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(dot) = self.core.store.dot(&h.namespace, &h.hidden)? else {
            return Ok(());
        };
        if &dot.id != dot_id {
            return Ok(());
        }
        let l = self.core.load_record(dot)?;
        let Some(master) = l.branches.iter().find(|b| b.name == names::MASTER) else {
            return Ok(());
        };
        if self.core.store.master(&master.fs_id)?.as_ref() != Some(&self.core.id) {
            return Ok(());
        }
        self.destroy_dot(&l)?;
        tracing::info!(dot = %h.hidden, "reclaimed a deleted dot");
        Ok(())
    }

    /// Less than a tenth of the pool is free: hidden branches give way before their time.
    pub(super) fn pool_short(&self) -> bool {
        match self.core.storage.space() {
            Ok((used, available)) => available.saturating_mul(10) < used.saturating_add(available),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the pool's free space");
                false
            }
        }
    }

    fn reclaim(
        &self,
        dot_id: &crate::cluster::DotId,
        fs: &crate::cluster::FsId,
        name: &str,
    ) -> Result<()> {
        let Some(dot) = self
            .core
            .store
            .dots(None)?
            .into_iter()
            .find(|d| &d.id == dot_id)
        else {
            // Its dot went, and the hidden record with it.
            return Ok(self.core.store.drop_hidden(dot_id, fs)?);
        };
        let lock = self
            .core
            .lock(&format!("name:{}/{}", dot.namespace, dot.name));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load_record(dot)?;
        if !l.branches.iter().any(|b| b.name == name) {
            return Ok(self.core.store.drop_hidden(dot_id, fs)?);
        }
        self.destroy_branch(l, name)?;
        self.core.store.drop_hidden(dot_id, fs)?;
        tracing::info!(%fs, branch = %name, "reclaimed a hidden branch");
        Ok(())
    }
}

pub(super) fn hidden_branch<'a>(l: &'a Loaded, hidden: &str) -> Result<&'a BranchRecord> {
    l.branches
        .iter()
        .find(|b| b.name == hidden)
        .ok_or_else(reclaimed)
}

fn reclaimed() -> DaemonError {
    DaemonError::NotFound(
        "what this operation removed has been reclaimed (its grace period ended); it cannot be undone any more"
            .into(),
    )
}
