//! Replication: every node holds every commit of every branch.
//!
//! A node that is not a branch's master pulls the commits it lacks from the node that has them
//! (the master, else any live node that recorded them under `replicas/`), as `zfs send` streams
//! over HTTP on the API port: a full or clone stream for the first commit, then one `-I` stream
//! for the rest. The replicator thread wakes on etcd watch events for commits, masters and
//! tombstones, and sweeps everything every [`SWEEP`] to catch what a watch missed. Replicas are
//! `readonly=on` and never mounted; deleted branches (tombstones) are destroyed.

use super::sender::Outgoing;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::core::{Core, P_BRANCH, P_DOT, P_DOTID, encode_commit, zfs_err};
use super::{Daemon, DaemonError};
use crate::cluster::etcd::EtcdKv;
use crate::cluster::{self, BranchRecord, CommitId, CommitRecord, DotRecord, FsId, ServerRecord};
use crate::names::{self, Kind};
use crate::plan::Base;
use crate::routes::{Internal, Route};
use crate::storage::{Ds, Role, Rollback};
use crate::zfs::ZfsError;

type Result<T> = std::result::Result<T, DaemonError>;

const SWEEP: Duration = Duration::from_secs(10);

pub(super) use crate::storage::layout::HANDOFF_PREFIX;

/// The registry and local ZFS state the replicator works from, read once per batch.
pub(super) struct Catalog {
    pub(super) branches: HashMap<FsId, (DotRecord, BranchRecord)>,
    pub(super) commits: BTreeMap<FsId, Vec<CommitRecord>>,
    deleted: BTreeSet<FsId>,
    /// Local filesystem ids with their snapshot names, oldest first.
    pub(super) local: BTreeMap<FsId, Vec<String>>,
}

impl Catalog {
    /// The registry's view, plus local ZFS state when `with_local` (full sweeps only: event
    /// passes touch the named filesystems alone, and listing every snapshot costs time).
    pub(super) fn load(node: &Core, with_local: bool) -> Result<Catalog> {
        let dots: HashMap<String, DotRecord> = node
            .store
            .dots(None)?
            .into_iter()
            .map(|d| (d.id.to_string(), d))
            .collect();
        let mut branches = HashMap::new();
        for (dot_id, list) in node.store.all_branches()? {
            let Some(dot) = dots.get(dot_id.as_str()) else {
                continue;
            };
            for b in list {
                branches.insert(b.fs_id.clone(), (dot.clone(), b));
            }
        }
        let mut local: BTreeMap<FsId, Vec<String>> = BTreeMap::new();
        if !with_local {
            return Ok(Catalog {
                branches,
                commits: BTreeMap::new(),
                deleted: node.deleted()?,
                local,
            });
        }
        let (filesystems, snapshots) = node.storage.list(&[], &[]).map_err(zfs_err)?;
        for l in filesystems {
            if let Role::Branch(id) = l.role {
                local.insert(id, Vec::new());
            }
        }
        for s in snapshots {
            if let Role::Branch(fs) = s.role {
                local.entry(fs).or_default().push(s.name);
            }
        }
        Ok(Catalog {
            branches,
            commits: node.store.all_commits()?,
            deleted: node.deleted()?,
            local,
        })
    }

    /// Just what syncing the branches of one dot needs (no ZFS listing): cheap enough for
    /// every handoff and branch creation.
    pub(super) fn for_dot(node: &Core, dot: &DotRecord) -> Result<Catalog> {
        let branches = node
            .store
            .branches(&dot.id)?
            .into_iter()
            .map(|b| (b.fs_id.clone(), (dot.clone(), b)))
            .collect();
        Ok(Catalog {
            branches,
            commits: BTreeMap::new(),
            deleted: BTreeSet::new(),
            local: BTreeMap::new(),
        })
    }

    /// Filesystems worth a look in a full sweep.
    fn all_ids(&self) -> BTreeSet<FsId> {
        let mut ids: BTreeSet<FsId> = self.commits.keys().cloned().collect();
        ids.extend(
            self.local
                .keys()
                .filter(|id| self.deleted.contains(*id))
                .cloned(),
        );
        ids
    }
}

/// Starts the replicator thread for this daemon.
pub fn start(daemon: Arc<Daemon>, kv: &EtcdKv) {
    let (tx, rx) = mpsc::channel::<String>();
    kv.watch(cluster::WATCHED, tx);
    std::thread::Builder::new()
        .name("replicator".into())
        .spawn(move || {
            loop {
                let mut sweep = false;
                let mut wanted = BTreeSet::new();
                match rx.recv_timeout(SWEEP) {
                    Ok(key) => note(&key, &mut sweep, &mut wanted),
                    Err(RecvTimeoutError::Timeout) => sweep = true,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                while let Ok(key) = rx.try_recv() {
                    note(&key, &mut sweep, &mut wanted);
                }
                if sweep {
                    daemon.node.tidy();
                }
                daemon.node.replicator.replicate(sweep, &wanted);
            }
        })
        .expect("can spawn the replicator");
}

fn note(key: &str, sweep: &mut bool, wanted: &mut BTreeSet<String>) {
    match cluster::fs_of_key(key) {
        Some(fs) => {
            wanted.insert(fs.to_string());
        }
        None => *sweep = true,
    }
}

/// Keeps every commit of every branch on this node (see the module doc).
pub struct Replicator {
    core: Arc<Core>,
}

impl Replicator {
    pub(super) fn new(core: Arc<Core>) -> Replicator {
        Replicator { core }
    }

    /// One replicator pass over `wanted` filesystems, or all of them.
    pub(super) fn replicate(&self, sweep: bool, wanted: &BTreeSet<String>) {
        let cat = match Catalog::load(&self.core, sweep) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "replication paused");
                return;
            }
        };
        let ids = if sweep {
            cat.all_ids()
        } else {
            wanted.iter().map(|fs| FsId::from(fs.as_str())).collect()
        };
        // Deleted copies go last: one may still hold the commits a hand-down gave a branch this
        // node has no copy of yet (see `adopt_handed_down`).
        let (live, gone): (Vec<FsId>, Vec<FsId>) = ids
            .into_iter()
            .partition(|fs| cat.branches.contains_key(fs));
        let mut failed = Vec::new();
        for fs in live.into_iter().chain(gone) {
            if let Err(e) = self.sync_fs(&fs, &cat) {
                failed.push((fs, e));
            }
        }
        // One more round settles what waited on another filesystem of the batch: a deleted
        // origin goes after its deleted clones, an out-of-date copy after a hand-down's promote.
        for (fs, first) in failed {
            let retry = match first {
                DaemonError::Unavailable(_) => Err(first),
                _ => self.sync_fs(&fs, &cat),
            };
            if let Err(e) = retry {
                tracing::warn!(%fs, error = %e, "replication failed; will retry");
            }
        }
    }

    /// Brings this node's copy of `fs` up to the registry's newest commit (or destroys it if the
    /// branch was deleted). Does nothing where this node is the master.
    pub(super) fn sync_fs(&self, fs: &FsId, cat: &Catalog) -> Result<()> {
        let lock = self.core.lock(&format!("fs:{fs}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sync_locked(fs, cat, None, false)
    }

    /// [`Replicator::sync_fs`] with the filesystem's lock held; `source` overrides where to pull from.
    /// `taking_over`: this node is about to become the master, so sync even though it is not.
    pub(super) fn sync_locked(
        &self,
        fs: &FsId,
        cat: &Catalog,
        source: Option<&ServerRecord>,
        taking_over: bool,
    ) -> Result<()> {
        // A branch still registered is not deleted, whatever else the registry holds.
        let registered = cat.branches.contains_key(fs);
        if !registered && (cat.deleted.contains(fs) || self.core.is_deleted(fs)?) {
            return self.destroy_replica(fs);
        }
        let commits = self.core.store.commits(fs)?;
        // A hand-down elsewhere gave this branch commits this node's copy still has as its
        // origin's: here too, masters and replicas alike.
        // (Also what this copy is a clone of, `None` when there is no copy.)
        let have = match registered {
            true => self.core.follow_hand_down(fs, &commits)?,
            false => None,
        };
        let master = self.core.store.master(fs)?;
        // No master means nobody may write it, and our copy may be the best there is: keep it.
        let mine = master.is_none() || master.as_deref() == Some(self.core.id.as_str());
        if !taking_over && (mine || self.core.is_moving(fs)) {
            return Ok(());
        }
        let Some((dot, branch)) = cat.branches.get(fs) else {
            return Ok(());
        };
        let ds = Ds::Branch(fs);
        let want = branch
            .origin
            .as_ref()
            .map(|o| (&o.fs_id, o.commit.as_str()));
        let stale =
            |have: &Option<(FsId, String)>| have.as_ref().map(|(f, c)| (f, c.as_str())) != want;
        let Some(last) = commits.last() else {
            // No commits of its own: a copy here cloned from elsewhere than the registry says
            // (the branch was reset to before it was made) is out of date, and goes.
            if let Some(have) = have
                && stale(&have)
            {
                // A hand-down may have given this copy's commits to its new origin, which has
                // no copy here yet: that copy is made from this one first (no resend).
                if let Some((ofs, _)) = want
                    && have.as_ref().map(|(f, _)| f) != Some(ofs)
                    && let Err(e) = self.sync_fs(ofs, cat)
                {
                    tracing::debug!(%fs, origin = %ofs, error = %e, "origin not synced yet");
                }
                if self.core.storage.origin(ds).map_or(true, |h| stale(&h)) {
                    self.destroy_replica(fs)?;
                }
            }
            return Ok(());
        };
        let mut local = match self.core.storage.snapshots(ds) {
            Ok(v) => Some(v),
            Err(ZfsError::NotFound(_)) => None,
            Err(e) => return Err(zfs_err(e)),
        };
        // A copy made from elsewhere than the registry says (it saw a reset or an undo half
        // way, between registry writes) has the wrong shape: it goes, and is made again.
        if local.is_some() && have.as_ref().is_some_and(stale) {
            self.destroy_replica(fs)?;
            local = None;
        }
        if local.is_none()
            && branch.origin.is_none()
            && self.adopt_handed_down(fs, dot, branch, &last.id, cat)?
        {
            local = Some(self.core.storage.snapshots(ds).map_err(zfs_err)?);
        }
        let ids: Vec<&str> = commits.iter().map(|c| c.id.as_str()).collect();
        let local = match local {
            Some(l) => Some(self.drop_pruned(fs, dot, &ids, l)?),
            None => None,
        };
        let plan = crate::plan::plan(
            &ids,
            local.as_deref().unwrap_or_default(),
            branch.origin.is_some(),
        );
        if local.is_some() {
            if plan.common == 0 {
                // Nothing in common (the branch was reset to before it was made): start over.
                self.destroy_replica(fs)?;
            } else if plan.extra > 0 {
                // Commits that a reset removed, or a finished handoff's snapshot.
                self.core
                    .storage
                    .rollback(ds, ids[plan.common - 1], Rollback::DestroyingLater)
                    .map_err(zfs_err)?;
            }
        }
        if plan.steps.is_empty() {
            return self.note_replica(fs, &last.id);
        }
        let src = match source {
            Some(s) => s.clone(),
            None => self.source_for(fs, master.as_deref(), &last.id)?,
        };
        for step in &plan.steps {
            let base = match step.base {
                Base::Full => None,
                Base::Origin => {
                    let o = branch
                        .origin
                        .as_ref()
                        .expect("a branched plan has an origin");
                    self.ensure_commit(&o.fs_id, &o.commit, cat)?;
                    Some(format!("{}@{}", o.fs_id, o.commit))
                }
                Base::Commit(i) => Some(format!("{fs}@{}", ids[i])),
            };
            let increment = matches!(step.base, Base::Commit(_));
            self.pull(&src, fs, base.as_deref(), ids[step.last], increment)?;
            if step.first == 0 {
                self.init_replica(fs, dot, branch)?;
            }
        }
        let first_new = plan.common;
        let (now, _) = super::core::now();
        for c in &commits[first_new..] {
            self.label_commit(fs, c)?;
            crate::metrics::replicated(now.saturating_sub(c.time) as f64);
        }
        tracing::info!(%fs, commits = commits.len() - first_new, from = %src.id, "replicated");
        self.note_replica(fs, &last.id)
    }

    /// This node has no copy of `fs`, a branch made from nothing, whose newest commit `last`
    /// another copy of its dot here (a branch's, or a deleted one's) holds: a hand-down
    /// elsewhere gave `fs` those commits (undoing a reset, say).
    /// The copy is made here the same way, a clone promoted, instead of sending them again.
    /// Returns whether it was.
    fn adopt_handed_down(
        &self,
        fs: &FsId,
        dot: &DotRecord,
        branch: &BranchRecord,
        last: &CommitId,
        cat: &Catalog,
    ) -> Result<bool> {
        let same_dot = cat
            .branches
            .iter()
            .filter(|(id, (d, _))| *id != fs && d.id == dot.id)
            .map(|(id, _)| id);
        for other in same_dot.chain(cat.deleted.iter()) {
            let held = match cat.local.get(other) {
                Some(snaps) => snaps.iter().any(|s| s == last.as_str()),
                // Event passes have no listing: ask ZFS, about branches of the dot only.
                None if cat.local.is_empty() && cat.branches.contains_key(other) => self
                    .core
                    .storage
                    .has_snapshot(Ds::Branch(other), last)
                    .unwrap_or(false),
                None => false,
            };
            if !held {
                continue;
            }
            self.core.make_replica_clone(dot, branch, (other, last))?;
            self.core.storage.promote(Ds::Branch(fs)).map_err(zfs_err)?;
            tracing::info!(%fs, from = %other, "took over commits handed down to it");
            return Ok(true);
        }
        Ok(false)
    }

    /// Destroys this copy's commits that the master pruned (`dm prune`): snapshots of commits
    /// the registry no longer lists, older than one it does. A commit the registry lists on
    /// another branch of the dot (a hand-down on its way here) stays. Returns what is left.
    fn drop_pruned(
        &self,
        fs: &FsId,
        dot: &DotRecord,
        registered: &[&str],
        local: Vec<String>,
    ) -> Result<Vec<String>> {
        let Some(newest) = local.iter().rposition(|s| registered.contains(&s.as_str())) else {
            return Ok(local);
        };
        let gone: Vec<&String> = local[..newest]
            .iter()
            .filter(|s| names::is_commit_id(s) && !registered.contains(&s.as_str()))
            .collect();
        if gone.is_empty() {
            return Ok(local);
        }
        let mut elsewhere = BTreeSet::new();
        for b in self.core.store.branches(&dot.id)? {
            if &b.fs_id != fs {
                elsewhere.extend(self.core.store.commits(&b.fs_id)?.into_iter().map(|c| c.id));
            }
        }
        let ds = Ds::Branch(fs);
        for s in gone {
            if elsewhere.iter().any(|c| c == s.as_str()) {
                continue;
            }
            match self.core.storage.destroy_snapshot(ds, s) {
                Ok(()) => tracing::info!(%fs, commit = %s, "removed a commit pruned on the master"),
                Err(ZfsError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(%fs, commit = %s, error = %e, "cannot remove a pruned commit yet")
                }
            }
        }
        self.core.storage.snapshots(ds).map_err(zfs_err)
    }

    fn note_replica(&self, fs: &FsId, commit: &CommitId) -> Result<()> {
        let have = self.core.store.replicas(fs)?;
        if have.get(&self.core.id) != Some(commit) {
            self.core.store.set_replica(fs, &self.core.id, commit)?;
        }
        Ok(())
    }

    /// Makes sure `fs@commit` exists here (pulling `fs` first if needed), e.g. to branch from it.
    pub(super) fn ensure_commit(&self, fs: &FsId, commit: &str, cat: &Catalog) -> Result<()> {
        let ds = Ds::Branch(fs);
        if self
            .core
            .storage
            .has_snapshot(ds, commit)
            .map_err(zfs_err)?
        {
            return Ok(());
        }
        self.sync_fs(fs, cat)?;
        match self.core.storage.has_snapshot(ds, commit) {
            Ok(true) => Ok(()),
            _ => Err(DaemonError::Unavailable(format!(
                "commit {commit} has not reached this node yet and no live node could send it; try again shortly"
            ))),
        }
    }

    /// Who to pull `fs` from: its master if alive, else a live node that holds `commit`.
    fn source_for(&self, fs: &FsId, master: Option<&str>, commit: &str) -> Result<ServerRecord> {
        let servers: HashMap<String, ServerRecord> = self
            .core
            .store
            .servers()?
            .into_iter()
            .map(|s| (s.id.to_string(), s))
            .collect();
        if let Some(s) = master.and_then(|m| servers.get(m)) {
            return Ok(s.clone());
        }
        for (node, have) in self.core.store.replicas(fs)? {
            if have == commit
                && node != self.core.id
                && let Some(s) = servers.get(node.as_str())
            {
                return Ok(s.clone());
            }
        }
        Err(DaemonError::Unavailable(format!(
            "no live node holds commit {commit} of filesystem {fs}; it arrives when its node is back"
        )))
    }

    /// Receives `fs@to` (from `from`, or in full) from node `src`.
    pub(super) fn pull(
        &self,
        src: &ServerRecord,
        fs: &FsId,
        from: Option<&str>,
        to: &str,
        intermediates: bool,
    ) -> Result<u64> {
        let mut path = format!("{}?fs={fs}&to={to}", Route::Internal(Internal::Send).path());
        if let Some(f) = from {
            path.push_str(&format!("&from={f}&all={}", u8::from(intermediates)));
        }
        let ds = Ds::Branch(fs);
        let exists = match self.core.storage.snapshots(ds) {
            Ok(snaps) => {
                // What a failed handoff or receive left after the base (a `dmh-` snapshot, say)
                // would make the increment miss its base: this copy is a replica, so it goes.
                let base = from.and_then(|f| match f.split_once('@') {
                    Some((ffs, snap)) => (ffs == fs).then_some(snap),
                    None => Some(f),
                });
                if let Some(base) = base
                    && let Some(at) = snaps.iter().position(|s| s == base)
                    && at + 1 < snaps.len()
                {
                    self.core
                        .storage
                        .rollback(ds, base, Rollback::DestroyingLater)
                        .map_err(zfs_err)?;
                }
                true
            }
            Err(_) => false,
        };
        let mut stream = self.core.peers.stream(src, &path, self.core.stream_idle)?;
        let mut quiet = |_| Ok(());
        let input = match &mut stream {
            super::peer::PeerStream::Raw(conn) => self.core.spliced_from(conn, &mut quiet),
            super::peer::PeerStream::Body(b) => crate::storage::Input::Read(b),
        };
        // Only ever into replicas (or a branch about to be handed over), so rolling back local
        // changes first (`-F`) loses nothing.
        self.core
            .storage
            .receive(ds, exists, input)
            .map_err(zfs_err)
    }

    /// Properties of a freshly received replica: where it mounts once it is master, read-only
    /// until then, and what it belongs to (for recovery from ZFS).
    pub(super) fn init_replica(&self, fs: &FsId, dot: &DotRecord, b: &BranchRecord) -> Result<()> {
        self.label_branch(Ds::Branch(fs), fs, "on", dot, &b.name)
    }

    /// Properties of a received branch filesystem `ds` that becomes branch `fs_id`: where it
    /// mounts, `readonly`, and what it belongs to (for recovery from ZFS).
    pub(super) fn label_branch(
        &self,
        ds: Ds<'_>,
        fs_id: &FsId,
        readonly: &str,
        dot: &DotRecord,
        branch: &str,
    ) -> Result<()> {
        let mp = self.core.mountpoint(fs_id).display().to_string();
        let dot_prop = format!("{}/{}", dot.namespace, dot.name);
        // Before the mountpoint: with the default canmount=on, setting it would mount.
        self.core
            .storage
            .set_property(ds, "canmount", "noauto")
            .map_err(zfs_err)?;
        let props = crate::storage::owned(&[
            ("readonly", readonly),
            ("atime", "off"),
            ("mountpoint", mp.as_str()),
            (P_DOT, dot_prop.as_str()),
            (P_DOTID, dot.id.as_str()),
            (P_BRANCH, branch),
        ]);
        self.core
            .storage
            .set_properties(ds, &props)
            .map_err(zfs_err)
    }

    /// Copies a commit's record onto its replicated snapshot, as the master has it.
    fn label_commit(&self, fs: &FsId, c: &CommitRecord) -> Result<()> {
        self.core
            .storage
            .set_snapshot_properties(Ds::Branch(fs), &c.id, &encode_commit(c))
            .map_err(zfs_err)
    }

    /// Destroys this node's copy of a deleted (or superseded) branch, if it has one.
    fn destroy_replica(&self, fs: &FsId) -> Result<()> {
        match self
            .core
            .settling(fs, || self.core.storage.destroy(Ds::Branch(fs)))
        {
            Ok(()) => {
                tracing::info!(%fs, "destroyed local copy");
                Ok(())
            }
            Err(ZfsError::NotFound(_)) => Ok(()),
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Serves `zfs send` of `fs@to`, in full or from `from` (`FS@SNAP`) for another node.
    pub fn send_stream(
        &self,
        fs: &FsId,
        from: Option<&str>,
        to: &str,
        intermediates: bool,
    ) -> Result<Outgoing> {
        let check = |s: &str| {
            names::validate(Kind::Branch, s.trim_start_matches(HANDOFF_PREFIX))
                .map_err(|e| DaemonError::BadRequest(e.to_string()))
        };
        check(fs)?;
        check(to)?;
        let present =
            |ds: Ds<'_>, snap: &str, what: &str| match self.core.storage.has_snapshot(ds, snap) {
                Ok(true) => Ok(()),
                _ => Err(DaemonError::NotFound(format!(
                    "{what} does not exist on this node"
                ))),
            };
        let ds = Ds::Branch(fs);
        present(ds, to, &format!("{fs}@{to}"))?;
        let base = match from {
            Some(f) => {
                let (ffs, fsnap) = f
                    .split_once('@')
                    .ok_or_else(|| DaemonError::BadRequest(format!("bad base snapshot {f}")))?;
                check(ffs)?;
                check(fsnap)?;
                let ffs = FsId::from(ffs);
                present(Ds::Branch(&ffs), fsnap, f)?;
                Some((ffs, fsnap))
            }
            None => None,
        };
        let within = base.as_ref().is_some_and(|(ffs, _)| ffs == fs);
        Ok(Outgoing {
            storage: self.core.storage.clone(),
            to: (fs.clone(), to.to_string()),
            from: base.map(|(ffs, snap)| (ffs, snap.to_string())),
            intermediates: intermediates && within,
            estimate: None,
        })
    }
}
