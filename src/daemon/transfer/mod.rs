//! Moving commits between clusters (`dm push`, `dm pull`, `dm clone`): this node's side.
//!
//! A client asks this node to run a transfer with another cluster ([`Node::transfer`]): this node
//! sends a branch's commits ([`Node::send_commits`]) to the other daemon's receive, or reads the
//! other daemon's send into its own ([`Node::receive_commits`]). On plain HTTP the stream goes
//! raw over the API connection and never passes through either daemon ([`crate::wire`]); over
//! TLS it is copied through the request or response body. `zfs receive` checks the stream's own
//! checksum; the receiver registers the commits only when the client confirms them with the
//! sender's byte count ([`Node::confirm_commits`]). Until then they are invisible: an existing
//! branch is unmounted for the stream (`zfs receive` would move its files forward) and mounted
//! again on confirmation. A failed or unconfirmed receive is rolled back to the newest
//! registered commit before the next one, before anyone mounts the branch, or after
//! [`HIDDEN_FOR`] by the sweep.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DaemonError;
use super::node::{Node, check_name, encode_commit, new_id, now, zfs_err};
use super::principal::Principal;
use crate::api;
use crate::client::config::Remote;
use crate::client::{Client, ClientError, Upgraded};
use crate::cluster::{BranchRecord, CommitRecord, DotRecord};
use crate::names::Kind;
use crate::storage::{Ds, Input, Rollback, Sending, Storage};

type Result<T> = std::result::Result<T, DaemonError>;

/// A stream received and waiting for the client's confirmation, per filesystem id; and the
/// branches unmounted while they take a stream, to mount again once it is settled.
#[derive(Default)]
pub struct Pending {
    received: Mutex<HashMap<String, Received>>,
    hidden: Mutex<HashMap<String, Hidden>>,
}

/// A branch that was mounted when a stream came, unmounted until the stream is confirmed or
/// dropped.
#[derive(Clone)]
pub(super) struct Hidden {
    since: Instant,
    pub(super) dot: DotRecord,
}

/// How long a branch stays unmounted for a stream whose client went quiet, before the sweep
/// drops what arrived and mounts it again.
pub(super) const HIDDEN_FOR: Duration = Duration::from_secs(120);

impl Pending {
    fn hide(&self, fs: &str, dot: &DotRecord) {
        let h = Hidden {
            since: Instant::now(),
            dot: dot.clone(),
        };
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fs.to_string(), h);
    }

    /// Forgets that `fs` was hidden; whether it was.
    fn unhide(&self, fs: &str) -> bool {
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(fs)
            .is_some()
    }

    /// Branches hidden for longer than [`HIDDEN_FOR`].
    pub(super) fn overdue(&self) -> Vec<(String, Hidden)> {
        self.hidden
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, h)| h.since.elapsed() > HIDDEN_FOR)
            .map(|(fs, h)| (fs.clone(), h.clone()))
            .collect()
    }

    fn insert(&self, fs: String, r: Received) {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fs, r);
    }

    /// The unconfirmed receive into filesystem `fs`, taken out.
    fn take(&self, fs: &str) -> Option<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(fs)
    }

    /// Filesystems of unconfirmed receives that would create branch `branch` of dot `ns/name`
    /// (or the dot itself, with its master).
    fn fresh(&self, ns: &str, name: &str, branch: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r)| {
                r.fresh.as_ref().is_some_and(|f| {
                    f.dot.namespace == ns && f.dot.name == name && f.branch.name == branch
                })
            })
            .map(|(fs, _)| fs.clone())
            .collect()
    }
}

pub struct Received {
    bytes: u64,
    /// The commit the stream followed (`None` for a full stream).
    base: Option<String>,
    /// Snapshots the stream brought, oldest first.
    snapshots: Vec<String>,
    /// Set when the receive creates a dot or a branch, registered on confirmation.
    fresh: Option<Fresh>,
}

/// A dot, or a branch of an existing dot, that a receive creates.
struct Fresh {
    dot: DotRecord,
    branch: BranchRecord,
}

impl Fresh {
    /// Whether the dot is new too: its master has no origin, every other branch has one.
    fn new_dot(&self) -> bool {
        self.branch.origin.is_none()
    }
}

/// Where a new dot is received before it is confirmed; [`Node::recover`] destroys leftovers.
/// Commits of a branch ready to be sent: `to` in full, or everything after `from` up to `to`.
pub struct Outgoing {
    storage: std::sync::Arc<dyn Storage>,
    /// (filesystem id, snapshot) of the newest commit sent.
    to: (String, String),
    /// (filesystem id, snapshot) the increment starts from: of the same filesystem, or of
    /// its origin for a clone stream.
    from: Option<(String, String)>,
    /// For the progress bar: exact enough for a full stream, a rough guess for an increment.
    pub estimate: Option<u64>,
}

impl Outgoing {
    /// The stream, through a pipe.
    pub fn stream(&self) -> Result<Box<dyn Sending>> {
        let from = self.from.as_ref().map(|(f, s)| (Ds::Branch(f), s.as_str()));
        self.storage
            .send(Ds::Branch(&self.to.0), &self.to.1, from, true)
            .map_err(zfs_err)
    }

    /// Moves the stream into `conn` (see [`splice_out`]).
    pub fn send_into(
        &self,
        conn: &std::net::TcpStream,
        idle: Duration,
        tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> Result<u64> {
        splice_out(self.stream()?, conn, idle, tell)
    }
}

/// Moves a `zfs send` stream into `conn` without it passing through this process; `tell` hears
/// the bytes sent so far and stops the send by failing. A receiver that takes nothing for
/// `idle` (a cut link without a reset) ends it. Returns the stream's size once `zfs send` has
/// exited cleanly.
pub fn splice_out(
    mut stream: Box<dyn Sending>,
    conn: &std::net::TcpStream,
    idle: Duration,
    tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
) -> Result<u64> {
    let _ = conn.set_write_timeout(Some(idle));
    match stream.splice_into(conn.as_fd(), tell) {
        Ok(n) => stream.finish().map(|_| n).map_err(zfs_err),
        Err(e) => Err(DaemonError::Far(format!("the stream was cut off: {e}"))),
    }
}

impl Node {
    /// A stream to splice from connection `conn` into `zfs receive`, given up on when nothing
    /// arrives for [`Node::stream_idle`]; `progress` hears the running count.
    pub(super) fn spliced_from<'a>(
        &self,
        conn: &'a std::net::TcpStream,
        progress: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> Input<'a> {
        let _ = conn.set_read_timeout(Some(self.stream_idle));
        Input::Splice {
            from: conn.as_fd(),
            progress,
        }
    }

    /// The commits of `branch` to send: `to` in full, or everything after `from` up to `to`.
    pub fn send_commits(
        &self,
        user: &Principal,
        (ns, name, branch): (&str, &str, &str),
        from: Option<&str>,
        to: &str,
    ) -> Result<Outgoing> {
        user.may_use(ns)?;
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        let ds = Ds::Branch(&b.fs_id);
        let snap = |id: &str| {
            check_name(Kind::Branch, id)?;
            match self.storage.has_snapshot(ds, id) {
                Ok(true) => Ok((b.fs_id.clone(), id.to_string())),
                _ => Err(DaemonError::NotFound(format!(
                    "commit {id} is not on branch '{branch}' on this node"
                ))),
            }
        };
        let to = snap(to)?;
        let from = match from {
            None => None,
            Some(id) => match snap(id) {
                Ok(s) => Some(s),
                // The commit the branch was made from, on the branch it came from: the first
                // stream of a branch the receiver lacks is a clone stream from it.
                Err(DaemonError::NotFound(_)) if b.origin.is_some() => {
                    let history = self.history(&l, b)?;
                    let (fs, _) = history
                        .iter()
                        .find(|(fs, c)| c.id == id && *fs != b.fs_id)
                        .ok_or_else(|| {
                            DaemonError::NotFound(format!(
                                "commit {id} is not in the history of branch '{branch}'"
                            ))
                        })?;
                    if !self
                        .storage
                        .has_snapshot(Ds::Branch(fs), id)
                        .map_err(zfs_err)?
                    {
                        return Err(DaemonError::NotFound(format!(
                            "commit {id} is not on this node; try again once it has replicated"
                        )));
                    }
                    Some((fs.clone(), id.to_string()))
                }
                Err(e) => return Err(e),
            },
        };
        // Growth between the two commits; rewritten data makes it low.
        let size =
            |(fs, snap): &(String, String)| self.storage.snapshot_referenced(Ds::Branch(fs), snap);
        let estimate = match &from {
            None => size(&to).ok(),
            Some(f) => match (size(&to), size(f)) {
                (Ok(t), Ok(f)) if t > f => Some(t - f),
                _ => None,
            },
        };
        Ok(Outgoing {
            storage: self.storage.clone(),
            to,
            from,
            estimate,
        })
    }

    /// Receives a stream of commits into `branch`: creating the dot if it does not exist and
    /// `from` is `None`, or the branch, on top of commit `from`, if only the branch is missing.
    /// Answers with what arrived. Without a stream, only checks that it would take one.
    pub fn receive_commits(
        &self,
        user: &Principal,
        (ns, name, branch): (&str, &str, &str),
        from: Option<&str>,
        body: Option<Input<'_>>,
    ) -> Result<api::Receipt> {
        user.may_use(ns)?;
        check_name(Kind::Namespace, ns)?;
        check_name(Kind::Dot, name)?;
        check_name(Kind::Branch, branch)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let existing = self.store.dot(ns, name)?;
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
                    id: new_id(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    created: now().0,
                };
                let b = BranchRecord {
                    name: branch.to_string(),
                    fs_id: new_id(),
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
                let l = self.load_record(dot)?;
                match l.branch(branch) {
                    Ok(b) => {
                        // Another node holds the branch: the API sends the stream on to it,
                        // unread.
                        self.check_master(b)?;
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
            let was_mounted = self.unmount_branch(&fs, |mp| {
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
            .storage
            .receive(ds, fresh.is_none(), body)
            .map_err(zfs_err);
        // What arrived must be known exactly: a receive whose snapshots cannot be listed is
        // undone rather than confirmed with fewer commits than were sent. An existing branch
        // was at `from` (see `check_receivable`), so what came is what follows it; a staging
        // filesystem or a branch without commits holds only what came.
        let snapshots = received.and_then(|bytes| {
            self.storage.snapshots(ds).map_err(zfs_err).map(|after| {
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
            commits: snapshots,
            kept: Vec::new(),
        })
    }

    /// A branch may take a stream only if it is clean and its newest commit is `from`. Commits
    /// that arrived whole after `from` in an interrupted transfer are reported when `checking`,
    /// and rolled back before a stream.
    fn check_receivable(
        &self,
        ns: &str,
        name: &str,
        b: &BranchRecord,
        from: Option<&str>,
        checking: bool,
    ) -> Result<Vec<api::Arrived>> {
        let commits = self.store.commits(&b.fs_id)?;
        let newest = commits.last().map(|c| c.id.as_str());
        if newest != from {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' of dot '{name}' is at {} here, not at {}; fetch its state again and retry",
                b.name,
                newest.unwrap_or("no commit"),
                from.unwrap_or("no commit")
            )));
        }
        if let Some(held) = self.containers(ns, name).get(&b.name) {
            return Err(Node::in_use_error(
                &format!("branch '{}' of dot '{name}'", b.name),
                held,
                "stop them on that cluster first",
            ));
        }
        let ds = Ds::Branch(&b.fs_id);
        let arrived = match from {
            Some(id) => {
                let snaps = self.storage.snapshots(ds).map_err(zfs_err)?;
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
            Some(last) => self.changed_since(&b.fs_id, last)?,
            None => self.uncommitted(&b.fs_id)?,
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
                        id: s.clone(),
                        guid: self.storage.guid(ds, s).map_err(zfs_err)?,
                    })
                })
                .collect();
        }
        if let (Some(id), false) = (from, arrived.is_empty()) {
            self.storage
                .rollback(ds, id, Rollback::DestroyingLater)
                .map_err(zfs_err)?;
        }
        Ok(Vec::new())
    }

    /// The GUIDs of branch commits' snapshots, in the order of `ids`.
    pub fn commit_guids(
        &self,
        user: &Principal,
        (ns, name, branch): (&str, &str, &str),
        ids: &[String],
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let l = self.load(ns, name)?;
        let ds = Ds::Branch(&l.branch(branch)?.fs_id);
        ids.iter()
            .map(|id| {
                check_name(Kind::Branch, id)?;
                // A missing snapshot's GUID cannot be read: one call both checks and answers.
                self.storage.guid(ds, id).map_err(|_| {
                    DaemonError::NotFound(format!("commit {id} is not on branch '{branch}' here"))
                })
            })
            .collect()
    }

    /// Registers commits that arrived whole in an interrupted transfer, oldest first, if each
    /// snapshot here has the sender's GUID (so the same data); they must directly follow the
    /// branch's newest commit. Returns the ids registered.
    pub fn keep_received(
        &self,
        user: &Principal,
        (ns, name, branch): (&str, &str, &str),
        req: &api::KeepReceived,
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        self.check_master(b)?;
        if req.guids.len() != req.commits.len() {
            return Err(DaemonError::BadRequest(
                "one GUID per commit is needed".into(),
            ));
        }
        let arrived = self.check_receivable(
            ns,
            name,
            b,
            self.store.commits(&b.fs_id)?.last().map(|c| c.id.as_str()),
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
        let ids: Vec<String> = req.commits.iter().map(|c| c.id.clone()).collect();
        let done = self.register_received(&b.fs_id, &ids, &req.commits)?;
        self.show_again(&b.fs_id);
        tracing::info!(%ns, dot = %name, %branch, commits = done.len(), "kept commits that arrived whole");
        Ok(done)
    }

    /// The record of a branch new here, whose first stream is a clone stream from `from`: the
    /// commit it was made from, which must be here already (on another branch of the dot).
    fn new_branch_base(
        &self,
        l: &super::node::Loaded,
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
            if self.store.commits(&b.fs_id)?.iter().any(|c| c.id == base) {
                origin = Some(b.fs_id.clone());
                break;
            }
        }
        let Some(origin) = origin else {
            return Err(DaemonError::Conflict(format!(
                "dot '{name}' here lacks commit {base}, which branch '{branch}' was made from; transfer the branch it came from first"
            )));
        };
        let cat = super::replicate::Catalog::for_dot(self, &l.dot)?;
        self.ensure_commit(&origin, base, &cat)?;
        Ok(BranchRecord {
            name: branch.to_string(),
            fs_id: new_id(),
            origin: Some(crate::cluster::OriginRecord {
                fs_id: origin,
                commit: base.to_string(),
            }),
        })
    }

    /// Before branch filesystem `fs` is mounted: snapshots that arrived from another cluster
    /// and were never confirmed go, so its files are exactly its newest registered commit's
    /// (a branch takes a stream only when clean). They would otherwise have let a rerun keep
    /// them; it sends them again instead. Handoff snapshots carry uncommitted changes and stay.
    pub(super) fn drop_arrivals(&self, dot: &DotRecord, fs: &str) -> Result<()> {
        let lock = self.lock(&format!("name:{}/{}", dot.namespace, dot.name));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.pending.take(fs);
        self.pending.unhide(fs);
        let ds = Ds::Branch(fs);
        let snaps = self.storage.snapshots(ds).map_err(zfs_err)?;
        let registered = self.store.commits(fs)?;
        let known = |s: &String| {
            registered.iter().any(|c| &c.id == s) || s.starts_with(super::replicate::HANDOFF_PREFIX)
        };
        let Some(last) = snaps.iter().rposition(known) else {
            return Ok(());
        };
        if last + 1 < snaps.len() {
            tracing::info!(%fs, dropped = snaps.len() - last - 1, "dropping unconfirmed arrivals before a mount");
            self.storage
                .rollback(ds, &snaps[last], Rollback::DestroyingLater)
                .map_err(zfs_err)?;
        }
        Ok(())
    }

    /// Mounts a branch again that a stream found mounted, once the stream is settled.
    fn show_again(&self, fs: &str) {
        if self.pending.unhide(fs)
            && let Err(e) = self.storage.mount(Ds::Branch(fs))
        {
            tracing::warn!(%fs, error = %e, "cannot mount a branch again after a receive; it mounts on next use");
        }
    }

    /// Branches hidden for a stream whose client went quiet: what arrived is dropped and they
    /// are mounted again (called from the sweep).
    pub(super) fn show_overdue(&self) {
        for (fs, h) in self.pending.overdue() {
            let done = self
                .drop_arrivals(&h.dot, &fs)
                .and_then(|()| self.storage.mount(Ds::Branch(&fs)).map_err(zfs_err));
            if let Err(e) = done {
                tracing::warn!(%fs, error = %e, "cannot show a branch again after an unconfirmed receive");
            }
        }
    }

    /// Forgets an earlier unconfirmed receive that would create branch `branch` of `ns/name`
    /// (or the dot) (its client went away).
    fn drop_unconfirmed(&self, ns: &str, name: &str, branch: &str) {
        for fs in self.pending.fresh(ns, name, branch) {
            self.pending.take(&fs);
            self.destroy_staging(&fs);
        }
    }

    /// A staging filesystem goes; one that will not is destroyed at the next start (see
    /// `Node::recover`), and is invisible meanwhile.
    fn destroy_staging(&self, fs: &str) {
        match self.storage.destroy(Ds::Staging(fs)) {
            Ok(()) | Err(crate::storage::Error::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(%fs, error = %e, "cannot destroy a staging filesystem yet; it goes at the next start")
            }
        }
    }

    /// After a failed receive: a new dot's staging filesystem goes; an existing branch goes back
    /// to its newest registered commit.
    fn undo_receive(&self, fs: &str, created: bool, from: Option<&str>) -> Result<()> {
        if created {
            self.destroy_staging(fs);
        } else if let Some(id) = from {
            let ds = Ds::Branch(fs);
            if self.storage.has_snapshot(ds, id).unwrap_or(false) {
                self.storage
                    .rollback(ds, id, Rollback::DestroyingLater)
                    .map_err(zfs_err)?;
            }
        }
        Ok(())
    }

    /// A confirmed new dot or branch: its staging filesystem takes its real name and
    /// properties, and it is registered.
    fn publish_received(&self, fs: &str, f: &Fresh) -> Result<()> {
        let (dot, b) = (&f.dot, &f.branch);
        self.storage
            .rename(Ds::Staging(fs), Ds::Branch(fs))
            .map_err(zfs_err)?;
        self.label_branch(Ds::Branch(fs), fs, "off", dot, &b.name)?;
        let registered = if f.new_dot() {
            self.store.create_dot(dot, b, &self.id)?
        } else {
            self.store.create_branch(&dot.id, b, &self.id)?
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
        (ns, name, branch): (&str, &str, &str),
        req: &api::ConfirmReceive,
    ) -> Result<Vec<String>> {
        user.may_use(ns)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let existing = match self.store.dot(ns, name)? {
            Some(dot) => self.load_record(dot)?.branch(branch).ok().cloned(),
            None => None,
        };
        let fs = match existing {
            Some(b) => {
                // What was received waits on the node holding the branch.
                self.check_master(&b)?;
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
        if let Some(f) = &got.fresh {
            // Unregistered after all (a lost race, a failed step): the intent destroys it.
            let intent = super::intent::Intent::CreateFs {
                dot_id: f.dot.id.clone(),
                fs_id: fs.clone(),
            };
            self.under(intent, || self.publish_received(&fs, f))?;
        }
        let done = self.register_received(&fs, &got.snapshots, &req.commits)?;
        self.show_again(&fs);
        tracing::info!(%ns, dot = %name, %branch, commits = done.len(), "confirmed received commits");
        Ok(done)
    }

    /// Gives received snapshots `ids` of filesystem `fs` their commit records from `infos` and
    /// registers them, in order. Returns the ids registered.
    fn register_received(
        &self,
        fs: &str,
        ids: &[String],
        infos: &[api::CommitInfo],
    ) -> Result<Vec<String>> {
        let ds = Ds::Branch(fs);
        // One listing for all of them rather than a lookup per commit.
        let here = self.storage.snapshots(ds).map_err(zfs_err)?;
        let mut seq = self.store.commits(fs)?.last().map_or(0, |c| c.seq);
        let mut done = Vec::new();
        for id in ids {
            let Some(info) = infos.iter().find(|c| &c.id == id) else {
                continue;
            };
            seq = seq.max(now().1).max(seq + 1);
            let rec = CommitRecord {
                id: info.id.clone(),
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
            self.storage
                .set_snapshot_properties(ds, id, &encode_commit(&rec))
                .map_err(zfs_err)?;
            self.store.put_commit(fs, &rec)?;
            done.push(id.clone());
        }
        Ok(done)
    }
}

/// The latest streams this node sent, by send id: a receiver that got a stream straight from
/// here (`dm pull`, `dm clone`) learns from them whether all of it was sent.
#[derive(Default)]
pub struct SentLog(Mutex<VecDeque<(String, String, api::SentRecord)>>);

/// Sent streams remembered; a receiver asks right after its stream ends.
const SENT_KEPT: usize = 64;

impl SentLog {
    /// Keeps what became of stream `id`, which `user` asked for.
    pub fn record(&self, id: String, user: &Principal, r: api::SentRecord) {
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == SENT_KEPT {
            log.pop_front();
        }
        log.push_back((id, user.name().to_string(), r));
    }

    /// The record of stream `id`, for the user who asked for it (or admin) only.
    fn get(&self, user: &Principal, id: &str) -> Option<api::SentRecord> {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .find(|(i, owner, _)| i == id && (owner == user.name() || user.is_admin()))
            .map(|(_, _, r)| r.clone())
    }
}

/// How often a running transfer tells its client how far it got.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Passes a running byte count on to `report` at most every [`REPORT_EVERY`].
fn throttled<'a>(
    report: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
) -> impl FnMut(u64) -> std::io::Result<()> + 'a {
    let mut last = Instant::now();
    move |bytes| {
        if last.elapsed() < REPORT_EVERY {
            return Ok(());
        }
        last = Instant::now();
        report(bytes)
    }
}

/// Passes reads through, telling `tell` the running byte count; an error from `tell` (the
/// client went away) fails the read, which ends the transfer.
struct Counting<'a, R> {
    inner: R,
    bytes: u64,
    tell: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        (self.tell)(self.bytes)?;
        Ok(n)
    }
}

/// The other cluster's answer, as this daemon's error.
fn far_err(e: ClientError) -> DaemonError {
    match e {
        ClientError::Unreachable { addr, detail } => DaemonError::Far(format!(
            "this cluster cannot reach {addr} ({detail}); transfers run between the two clusters' daemons, so this node needs a route to the remote"
        )),
        other => DaemonError::Far(other.to_string()),
    }
}

impl Node {
    /// The node holding branch `here`, when that is not this one (and the branch exists).
    pub fn master_elsewhere(
        &self,
        user: &Principal,
        (ns, name, branch): &(String, String, String),
    ) -> Option<crate::cluster::ServerRecord> {
        user.may_use(ns).ok()?;
        let l = self.load(ns, name).ok()?;
        match self.check_master(l.branch(branch).ok()?) {
            Err(DaemonError::MasterElsewhere(s)) => Some(*s),
            _ => None,
        }
    }

    /// What this node knows of a stream it sent.
    pub fn sent_record(&self, user: &Principal, id: &str) -> Result<api::SentRecord> {
        self.sent.get(user, id).ok_or_else(|| {
            DaemonError::NotFound(format!("no stream {id} was sent recently from this node"))
        })
    }

    /// Streams commits between a branch here and one on another cluster, straight between the
    /// two daemons; `report` hears the byte count as it goes. The receiver keeps what arrived
    /// unconfirmed: the client confirms it with the sender's checksum this returns.
    pub fn transfer(
        &self,
        user: &Principal,
        t: &api::TransferRequest,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        let here = (t.here.0.as_str(), t.here.1.as_str(), t.here.2.as_str());
        let there = (t.there.0.as_str(), t.there.1.as_str(), t.there.2.as_str());
        let far = Client::new(&Remote::from_far(&t.far));
        // Nothing else, the key least of all, goes to an address that is not a dm daemon.
        far.hello().map_err(far_err)?;
        let from = t.from.as_deref();
        match t.direction {
            api::Direction::Push => {
                self.push_to_far(user, here, (&far, there), from, &t.to, report)
            }
            api::Direction::Pull => {
                self.pull_from_far(user, here, (&far, there), from, &t.to, report)
            }
        }
    }

    /// Sends `here`'s commits after `from` up to `to` to branch `there` of the far cluster.
    fn push_to_far(
        &self,
        user: &Principal,
        here: (&str, &str, &str),
        (far, there): (&Client, (&str, &str, &str)),
        from: Option<&str>,
        to: &str,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        let out = self.send_commits(user, here, from, to)?;
        let estimate = out.estimate;
        let mut report = |bytes| report(bytes, estimate);
        let mut tell = throttled(&mut report);
        let path = crate::client::receive_path(there, from);
        let (sent_bytes, receipt) = match raw(far.upgrade("POST", &path))? {
            Some(up) => push_raw(&out, up, self.stream_idle, &mut tell)?,
            None => {
                let mut body = Counting {
                    inner: out.stream()?,
                    bytes: 0,
                    tell: &mut tell,
                };
                let receipt = far.receive(there, from, &mut body).map_err(far_err)?;
                let sent = body.bytes;
                body.inner.finish().map_err(zfs_err)?;
                (sent, receipt)
            }
        };
        Ok(api::TransferDone {
            sent_bytes,
            receipt,
        })
    }

    /// Takes `there`'s commits after `from` up to `to` from the far cluster into branch `here`.
    fn pull_from_far(
        &self,
        user: &Principal,
        here: (&str, &str, &str),
        (far, there): (&Client, (&str, &str, &str)),
        from: Option<&str>,
        to: &str,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        user.may_use(here.0)?;
        let path = crate::client::send_path(there, from, to);
        let (receipt, send_id) = match raw(far.upgrade("GET", &path))? {
            Some(up) => {
                let estimate = up
                    .header(api::SIZE_ESTIMATE_HEADER)
                    .and_then(|v| v.parse().ok());
                let mut report = |bytes| report(bytes, estimate);
                let mut tell = throttled(&mut report);
                let input = self.spliced_from(&up.stream, &mut tell);
                let receipt = self.receive_commits(user, here, from, Some(input))?;
                (receipt, up.header(api::SEND_ID_HEADER).map(str::to_string))
            }
            None => {
                let incoming = far.send_stream(there, from, to).map_err(far_err)?;
                let estimate = incoming.estimate;
                let mut report = |bytes| report(bytes, estimate);
                let mut tell = throttled(&mut report);
                let mut body = Counting {
                    inner: incoming.body,
                    bytes: 0,
                    tell: &mut tell,
                };
                let input = Input::Read(&mut body);
                let receipt = self.receive_commits(user, here, from, Some(input))?;
                (receipt, incoming.send_id)
            }
        };
        let sent = send_id
            .ok_or_else(|| {
                DaemonError::Far(
                    "the remote did not say which stream it sent; upgrade dm there".into(),
                )
            })
            .and_then(|id| far.sent(&id).map_err(far_err))?;
        if !sent.complete {
            return Err(DaemonError::Far(
                "the remote's `zfs send` failed part-way; nothing was kept, see its log and try again".into(),
            ));
        }
        Ok(api::TransferDone {
            sent_bytes: sent.bytes,
            receipt,
        })
    }
}

/// A raw stream connection to the other cluster, or `None` to copy through a body instead:
/// over TLS, when the node asked does not hold the branch and can pass on only a body, or when
/// the upgrade did not get through to the other daemon (a proxy in between).
fn raw(r: std::result::Result<Option<Upgraded>, ClientError>) -> Result<Option<Upgraded>> {
    match r {
        Err(ClientError::Api { code, .. }) if code == "master_elsewhere" || code == "no_stream" => {
            Ok(None)
        }
        other => other.map_err(far_err),
    }
}

/// Sends `out` raw into an upgraded receive; the far side answers with what arrived. Returns
/// the bytes sent and the far side's receipt.
fn push_raw(
    out: &Outgoing,
    up: Upgraded,
    idle: Duration,
    tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
) -> Result<(u64, api::Receipt)> {
    let sent = out.send_into(&up.stream, idle, tell);
    // Sent or not, the end of our side tells the far side to finish and answer.
    let _ = up.stream.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    let answer = std::io::BufReader::new(&up.stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<api::StreamOutcome>(&line).map_err(|e| e.to_string()));
    let broke = |why: String| {
        DaemonError::Far(format!(
            "the connection to the other cluster broke during the stream ({why}); it keeps nothing half-received, so run the same command again"
        ))
    };
    match (sent, answer) {
        (Ok(n), Ok(api::StreamOutcome::Received(r))) => Ok((n, r)),
        // The far side's reason says more than a broken connection here.
        (_, Ok(api::StreamOutcome::Error(f))) => Err(far_err(f.into())),
        (Err(DaemonError::Far(why)), Err(_)) | (Ok(_), Err(why)) => Err(broke(why)),
        (Err(e), _) => Err(e),
    }
}
