//! What a node does to dots: every verb's daemon-side logic, on ZFS plus the registry.
//!
//! Each branch is a filesystem (a clone of the commit it branched from) with a snapshot per
//! commit, reached through the [`Storage`] seam (`storage::layout` owns the names). Dot, branch
//! and commit metadata are also user properties, so [`Node::recover`] can rebuild the registry
//! from disk.
//! Operations on one dot are serialised by a per-dot lock (the branch state machine is "idle" or
//! "one operation running"); different dots proceed in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DaemonError;
use super::intent::{Intent, Journal};
use super::mounts::{MountRecord, MountTable};
use super::principal::Principal;
use super::procs;
use crate::api::{self, BranchInfo, CommitInfo, DotInfo, Origin};
use crate::cluster::{BranchRecord, CommitRecord, DotRecord, OriginRecord, RegistryError, Store};
use crate::names::{self, Kind};
use crate::plugins::docker_api;
pub(super) use crate::storage::layout::{
    P_BASELINE, P_BRANCH, P_DOT, P_DOTID, commit_columns, decode_commit, encode_commit,
};
use crate::storage::{Ds, Role, Rollback, Sizes as Stats, Storage, mounted};
use crate::zfs::ZfsError;

/// Prefix of the short-lived snapshots that tell whether a branch has uncommitted changes.
pub(super) const PROBE_PREFIX: &str = "dmp-";

type Result<T> = std::result::Result<T, DaemonError>;

/// Where Docker is, for naming the containers that hold our mounts.
pub struct DockerLink {
    pub driver: String,
    pub api_socket: PathBuf,
}

pub struct Node {
    pub id: String,
    pub mounts: MountTable,
    docker: Option<DockerLink>,
    pub(super) storage: Arc<dyn Storage>,
    /// Where branches are mounted (as the storage's layout says) and Docker's pins live.
    mount_dir: PathBuf,
    pub(super) store: Store,
    pub(super) peers: super::peer::Peers,
    /// Branches this node is handing off to another node, by filesystem id.
    pub(super) moving: Mutex<HashMap<String, super::handoff::Moving>>,
    /// Streams from other clusters waiting for the client's confirmation.
    pub(super) pending: super::transfer::Pending,
    /// Streams this node sent, for the receiving side to ask whether they were whole.
    pub(super) sent: super::transfer::SentLog,
    /// How long a receive waits for a sender gone quiet (`NodeConfig::stream_idle_secs`).
    pub(super) stream_idle: Duration,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    stats: Arc<Mutex<StatsCache>>,
    /// The last full listing, served (marked stale) while etcd is unreachable.
    last_list: Mutex<Option<(Instant, Vec<DotInfo>)>>,
    /// Newest commit `seq` per filesystem, read from the registry once and then kept here, so a
    /// commit does not re-read every commit of its branch. Only a branch's master commits to it.
    last_seq: Mutex<HashMap<String, u64>>,
    /// Multi-step operations in flight or left unsettled (see `intent` and `recovery`).
    pub(super) intents: Journal,
}

/// The directory under the mount dir where Docker's subdot mounts are pinned (see
/// [`Node::pin_subdot`]); no filesystem id starts with a dot.
const PINS: &str = ".volumes";

/// A pin's file name for a Docker mount id: the id itself when it is plain (Docker's are 64
/// hex digits), else a hash of it.
fn pin_name(mount_id: &str) -> String {
    let plain = !mount_id.is_empty()
        && mount_id.len() <= 128
        && mount_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if plain {
        mount_id.to_string()
    } else {
        super::hash_key(mount_id)
    }
}

/// A fresh random id (128 bits, hex).
pub fn new_id() -> String {
    let mut buf = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom is readable");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn now() -> (u64, u64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.as_nanos() as u64)
}

pub(super) fn zfs_err(e: ZfsError) -> DaemonError {
    match e {
        ZfsError::NoSpace(_) => DaemonError::PoolFull(
            "the ZFS pool is full; delete dots or commits you no longer need, or grow the pool"
                .into(),
        ),
        other => DaemonError::Zfs(other),
    }
}

/// (namespace, dot name).
type DotKey = (String, String);
/// Container names by branch name.
type Held = BTreeMap<String, Vec<String>>;

/// How long `dm list` may show sizes without refreshing them in the background.
const STATS_FRESH: Duration = Duration::from_secs(2);

/// Sizes of every branch for `dm list`, served stale-while-revalidate: one `zfs get` over
/// thousands of filesystems costs far more than a listing should, and sizes a few seconds old
/// are fine there. `dm dot show` always reads fresh values for its one dot.
#[derive(Default)]
struct StatsCache {
    at: Option<Instant>,
    data: Arc<Stats>,
    refreshing: bool,
}

pub(super) fn check_name(kind: Kind, name: &str) -> Result<()> {
    names::validate(kind, name).map_err(|e| DaemonError::BadRequest(e.to_string()))
}

/// What [`Node::branch_info`] needs besides the branch itself, gathered once per request.
#[derive(Clone, Copy)]
struct Facts<'a> {
    stats: &'a Stats,
    masters: &'a BTreeMap<String, String>,
    /// Master nodes that are not registered (down): their branches' dirty state is unavailable.
    down: &'a std::collections::BTreeSet<String>,
    containers: &'a BTreeMap<String, Vec<String>>,
    with_subdots: bool,
}

/// Everything known about one dot while its lock is held.
pub(super) struct Loaded {
    pub(super) dot: DotRecord,
    pub(super) branches: Vec<BranchRecord>,
}

impl Loaded {
    pub(super) fn branch(&self, name: &str) -> Result<&BranchRecord> {
        self.branches
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "branch '{name}' does not exist in dot '{}'; list branches with `dm branch`",
                    self.dot.name
                ))
            })
    }

    fn branch_of_fs(&self, fs_id: &str) -> String {
        self.branches
            .iter()
            .find(|b| b.fs_id == fs_id)
            .map(|b| b.name.clone())
            .unwrap_or_else(|| "(deleted)".into())
    }
}

impl Node {
    // Everything a node owns, wired once in `serve`; the core/services split (#14) divides it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        storage: Arc<dyn Storage>,
        mount_dir: PathBuf,
        store: Store,
        mounts: MountTable,
        docker: Option<DockerLink>,
        peers: super::peer::Peers,
        intents: Journal,
    ) -> Node {
        Node {
            id,
            mounts,
            docker,
            storage,
            mount_dir,
            store,
            peers,
            moving: Mutex::default(),
            pending: Default::default(),
            sent: Default::default(),
            stream_idle: Duration::from_secs(super::config::DEFAULT_STREAM_IDLE_SECS),
            locks: Mutex::new(HashMap::new()),
            stats: Arc::default(),
            last_list: Mutex::default(),
            last_seq: Mutex::default(),
            intents,
        }
    }

    /// Sizes of every branch: fresh on first use, then at most [`STATS_FRESH`] stale plus one
    /// background refresh.
    fn cached_stats(&self) -> Result<Arc<Stats>> {
        let mut c = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        match c.at {
            None => {
                let data = Arc::new(self.storage.sizes(None).map_err(zfs_err)?);
                c.data = data.clone();
                c.at = Some(Instant::now());
                Ok(data)
            }
            Some(at) => {
                if at.elapsed() > STATS_FRESH && !c.refreshing {
                    c.refreshing = true;
                    let (storage, cache) = (self.storage.clone(), self.stats.clone());
                    std::thread::spawn(move || {
                        let fresh = storage.sizes(None);
                        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
                        c.refreshing = false;
                        match fresh {
                            Ok(data) => {
                                c.data = Arc::new(data);
                                c.at = Some(Instant::now());
                            }
                            Err(e) => tracing::warn!(error = %e, "refreshing sizes failed"),
                        }
                    });
                }
                Ok(c.data.clone())
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn lock(&self, key: &str) -> Arc<Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string()).or_default().clone()
    }

    /// Containers holding mounts of `dot`, by branch name.
    pub fn containers(&self, ns: &str, dot: &str) -> BTreeMap<String, Vec<String>> {
        self.containers_where(|r| r.namespace == ns && r.dot == dot)
            .remove(&(ns.to_string(), dot.to_string()))
            .unwrap_or_default()
    }

    /// Containers holding the mounts that match `filter`, by (namespace, dot) then branch.
    /// Docker is asked for names once, and only if something is mounted; where it does not
    /// answer, the mount id stands in.
    pub(super) fn containers_where(
        &self,
        filter: impl Fn(&MountRecord) -> bool,
    ) -> BTreeMap<DotKey, Held> {
        let held = self.mounts.find(filter);
        let mut out: BTreeMap<DotKey, Held> = BTreeMap::new();
        if held.is_empty() {
            return out;
        }
        let names = self
            .docker
            .as_ref()
            .map(|d| docker_api::containers_by_volume(&d.api_socket, &d.driver))
            .unwrap_or_default();
        for (id, r) in held {
            let who = match names.get(&r.volume) {
                Some(n) if !n.is_empty() => n.clone(),
                _ => vec![format!("container with mount {}", names::short_id(&id))],
            };
            let list = out
                .entry((r.namespace.clone(), r.dot.clone()))
                .or_default()
                .entry(r.branch.clone())
                .or_default();
            for w in who {
                if !list.contains(&w) {
                    list.push(w);
                }
            }
        }
        out
    }

    /// Destroys a branch's filesystem (already gone is fine); busy becomes a message that says
    /// what to close.
    /// Unmounting first means a busy branch fails before anything is destroyed: `zfs destroy
    /// -r` removes snapshots before it finds the filesystem busy. Already gone is fine.
    pub(super) fn destroy_branch_fs(&self, fs_id: &str, what: &str) -> Result<()> {
        let fs = Ds::Branch(fs_id);
        match self
            .storage
            .unmount(fs)
            .and_then(|()| self.storage.destroy(fs))
        {
            Ok(()) | Err(ZfsError::NotFound(_)) => Ok(()),
            Err(ZfsError::Busy(_)) => Err(DaemonError::InUse(format!(
                "{what} is busy; close programs using {} and try again",
                self.mountpoint(fs_id).display()
            ))),
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Unmounts branch filesystem `fs_id` if it is mounted here; busy becomes
    /// [`DaemonError::InUse`] with `busy`'s message for the mountpoint. Returns whether it was
    /// mounted.
    pub(super) fn unmount_branch(
        &self,
        fs_id: &str,
        busy: impl FnOnce(&Path) -> String,
    ) -> Result<bool> {
        let mp = self.mountpoint(fs_id);
        if !self
            .storage
            .is_mounted(Ds::Branch(fs_id))
            .map_err(zfs_err)?
        {
            return Ok(false);
        }
        match self.storage.unmount(Ds::Branch(fs_id)) {
            Ok(()) => Ok(true),
            Err(ZfsError::Busy(_)) => Err(DaemonError::InUse(busy(&mp))),
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Whether branch filesystem `fs_id` is registered in dot `dot_id`.
    pub(super) fn registered_in(&self, dot_id: &str, fs_id: &str) -> Result<bool> {
        Ok(self
            .store
            .branches(dot_id)?
            .iter()
            .any(|b| b.fs_id == fs_id))
    }

    pub(super) fn in_use_error(what: &str, containers: &[String], hint: &str) -> DaemonError {
        DaemonError::InUse(format!(
            "{what} is in use by container(s) {}; {hint}",
            containers.join(", ")
        ))
    }

    pub(super) fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.storage.mountpoint(fs_id)
    }

    /// Writes to a branch happen on its master: elsewhere this names it, and the API forwards
    /// the request there.
    pub(super) fn check_master(&self, b: &BranchRecord) -> Result<()> {
        match self.store.master(&b.fs_id)? {
            Some(m) if m != self.id => match self.store.server(&m)? {
                Some(s) => Err(DaemonError::MasterElsewhere(Box::new(s))),
                None => Err(DaemonError::Unavailable(format!(
                    "branch '{}' lives on node {m}, which is down; writes to it wait until that node is back (its commits are readable on every node)",
                    b.name
                ))),
            },
            _ => Ok(()),
        }
    }

    /// Containers on other nodes holding any of `branches` (asked of each branch's master).
    fn held_elsewhere(&self, l: &Loaded, branches: &[BranchRecord]) -> Result<Vec<String>> {
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for b in branches {
            if let Some(m) = self.store.master(&b.fs_id)?
                && m != self.id
            {
                by_node.entry(m).or_default().push(b.name.clone());
            }
        }
        let mut out = Vec::new();
        for (node, names) in by_node {
            let Some(server) = self.store.server(&node)? else {
                continue;
            };
            let req = api::HeldRequest {
                namespace: l.dot.namespace.clone(),
                dot: l.dot.name.clone(),
                branches: names,
            };
            let held: Vec<String> = self.peers.post(&server, "/internal/held", &req)?;
            out.extend(held.into_iter().map(|c| format!("{c} (on node {node})")));
        }
        Ok(out)
    }

    /// Containers on this node holding the named branches (for another node's check).
    pub fn held_here(&self, req: &api::HeldRequest) -> Vec<String> {
        self.containers(&req.namespace, &req.dot)
            .into_iter()
            .filter(|(b, _)| req.branches.contains(b))
            .flat_map(|(_, c)| c)
            .collect()
    }

    /// Users may act in their own namespace; admin in all.
    /// Filesystem ids of deleted branches: those whose tombstone carries this cluster's seal.
    /// Any other is ignored: only a node carrying out an authorised delete writes one.
    pub(super) fn deleted(&self) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for (fs, seal) in self.store.tombstones()? {
            if self.peers.sealer.is_tombstone(&fs, &seal) {
                out.insert(fs);
            } else {
                tracing::warn!(%fs, "ignoring a tombstone not sealed by a node of this cluster");
            }
        }
        Ok(out)
    }

    /// Whether branch `fs` was deleted (see [`Node::deleted`]).
    pub(super) fn is_deleted(&self, fs: &str) -> Result<bool> {
        Ok(self
            .store
            .tombstone(fs)?
            .is_some_and(|seal| self.peers.sealer.is_tombstone(fs, &seal)))
    }

    pub(super) fn seal(&self) -> impl Fn(&str) -> String + '_ {
        |fs| self.peers.sealer.tombstone(fs)
    }

    pub(super) fn load(&self, ns: &str, name: &str) -> Result<Loaded> {
        check_name(Kind::Namespace, ns)?;
        check_name(Kind::Dot, name)?;
        let dot = self.store.dot(ns, name)?.ok_or_else(|| {
            DaemonError::NotFound(format!(
                "dot '{name}' does not exist; create it with `dm init {name}` or list dots with `dm list`"
            ))
        })?;
        self.load_record(dot)
    }

    /// A dot already read from the registry, with its branches.
    pub(super) fn load_record(&self, dot: DotRecord) -> Result<Loaded> {
        let branches = self.store.branches(&dot.id)?;
        Ok(Loaded { dot, branches })
    }

    /// Creates the filesystem of a branch, from `origin` (filesystem id, commit: a clone) or
    /// empty.
    pub(super) fn make_branch_fs(
        &self,
        dot: &DotRecord,
        branch: &str,
        fs_id: &str,
        origin: Option<(&str, &str)>,
    ) -> Result<()> {
        let mp = self.mountpoint(fs_id).display().to_string();
        let dot_prop = format!("{}/{}", dot.namespace, dot.name);
        let props = [
            ("mountpoint", mp.as_str()),
            // Mounted on first use: zfs-fuse cannot hold more than ~1000 mounts, and a node
            // with thousands of dots should not mount them all at start.
            ("canmount", "noauto"),
            ("atime", "off"),
            (P_DOT, dot_prop.as_str()),
            (P_DOTID, dot.id.as_str()),
            (P_BRANCH, branch),
        ];
        let fs = Ds::Branch(fs_id);
        self.storage.create(fs, origin, &props).map_err(zfs_err)?;
        // Set last: recovery takes a filesystem with a baseline as complete (see `recovery`).
        // If this fails, the caller's intent destroys the filesystem again.
        let base = self.storage.referenced(fs).map_err(zfs_err)?;
        self.storage
            .set_property(fs, P_BASELINE, &base.to_string())
            .map_err(zfs_err)
    }

    /// What registering a new branch filesystem answered: a lost race is a conflict (the
    /// caller's intent then destroys the filesystem, so ZFS never holds a branch the registry
    /// does not know).
    fn registered(
        created: crate::cluster::Result<bool>,
        lost_race: impl FnOnce() -> String,
    ) -> Result<()> {
        match created? {
            true => Ok(()),
            false => Err(DaemonError::Conflict(lost_race())),
        }
    }

    pub fn create_dot(&self, user: &Principal, req: &api::CreateDot) -> Result<DotInfo> {
        check_name(Kind::Namespace, &req.namespace)?;
        check_name(Kind::Dot, &req.name)?;
        user.may_use(&req.namespace)?;
        let lock = self.lock(&format!("name:{}/{}", req.namespace, req.name));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.dot(&req.namespace, &req.name)?.is_some() {
            return Err(DaemonError::Conflict(format!(
                "dot '{}' already exists; switch to it with `dm switch {}` or pick another name",
                req.name, req.name
            )));
        }
        let dot = DotRecord {
            id: new_id(),
            namespace: req.namespace.clone(),
            name: req.name.clone(),
            created: now().0,
        };
        let master = BranchRecord {
            name: names::MASTER.into(),
            fs_id: new_id(),
            origin: None,
        };
        let intent = Intent::CreateFs {
            dot_id: dot.id.clone(),
            fs_id: master.fs_id.clone(),
        };
        self.under(intent, || {
            self.make_branch_fs(&dot, names::MASTER, &master.fs_id, None)?;
            let created = self.store.create_dot(&dot, &master, &self.id);
            Self::registered(created, || {
                format!(
                    "dot '{}' was just created by someone else; pick another name",
                    req.name
                )
            })
        })?;
        tracing::info!(ns = %dot.namespace, dot = %dot.name, "created dot");
        self.show(user, &dot.namespace, &dot.name)
    }

    fn branch_info(
        &self,
        b: &BranchRecord,
        l: &Loaded,
        commits: usize,
        f: &Facts<'_>,
    ) -> BranchInfo {
        let Facts {
            stats,
            masters,
            down,
            containers,
            with_subdots,
        } = *f;
        let mp = self.mountpoint(&b.fs_id);
        let (size, dirty) = stats.get(&b.fs_id).copied().unwrap_or_default();
        let is_mounted = mounted(&mp);
        let subdots = if with_subdots && is_mounted {
            let mut v: Vec<String> = std::fs::read_dir(&mp)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n == names::DEFAULT_SUBDOT || !n.starts_with('_'))
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        } else {
            Vec::new()
        };
        BranchInfo {
            name: b.name.clone(),
            filesystem_id: b.fs_id.clone(),
            master_node: masters.get(&b.fs_id).cloned().unwrap_or_default(),
            master_down: masters.get(&b.fs_id).is_some_and(|m| down.contains(m)),
            mountpoint: mp.display().to_string(),
            commits,
            size_bytes: size,
            dirty_bytes: dirty,
            origin: b.origin.as_ref().map(|o| Origin {
                branch: l.branch_of_fs(&o.fs_id),
                commit: o.commit.clone(),
            }),
            subdots,
            containers: containers.get(&b.name).cloned().unwrap_or_default(),
            mounted: is_mounted,
        }
    }

    /// Every dot `user` may see. While etcd is unreachable, the last listing this node made,
    /// with its age in seconds, so the caller can say it is stale.
    pub fn list(&self, user: &Principal) -> Result<(Vec<DotInfo>, Option<u64>)> {
        let (all, age) = match self.list_all() {
            Ok(all) => {
                *self.last_list.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), all.clone()));
                (all, None)
            }
            Err(e @ DaemonError::Registry(RegistryError::Unavailable { .. })) => {
                let last = self.last_list.lock().unwrap_or_else(|p| p.into_inner());
                match last.as_ref() {
                    Some((at, all)) => (all.clone(), Some(at.elapsed().as_secs())),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let mine = all
            .into_iter()
            .filter(|d| user.may_use(&d.namespace).is_ok())
            .collect();
        Ok((mine, age))
    }

    /// Master node per filesystem, and which of those nodes are down (not registered).
    fn masters_and_down(
        &self,
    ) -> Result<(BTreeMap<String, String>, std::collections::BTreeSet<String>)> {
        let masters = self.store.all_masters()?;
        let alive: std::collections::BTreeSet<String> =
            self.store.servers()?.into_iter().map(|s| s.id).collect();
        let down = masters
            .values()
            .filter(|m| !alive.contains(*m))
            .cloned()
            .collect();
        Ok((masters, down))
    }

    fn list_all(&self) -> Result<Vec<DotInfo>> {
        let dots = self.store.dots(None)?;
        let all_branches = self.store.all_branches()?;
        let counts = self.store.commit_counts()?;
        let (masters, down) = self.masters_and_down()?;
        let stats = self.cached_stats()?;
        let mut held = self.containers_where(|_| true);
        let mut out = Vec::new();
        for dot in dots {
            let branches = all_branches.get(&dot.id).cloned().unwrap_or_default();
            let containers = held
                .remove(&(dot.namespace.clone(), dot.name.clone()))
                .unwrap_or_default();
            let l = Loaded { dot, branches };
            let infos = l
                .branches
                .iter()
                .map(|b| {
                    let n = counts.get(&b.fs_id).copied().unwrap_or(0);
                    let f = Facts {
                        stats: &stats,
                        masters: &masters,
                        down: &down,
                        containers: &containers,
                        with_subdots: false,
                    };
                    self.branch_info(b, &l, n, &f)
                })
                .collect();
            out.push(DotInfo {
                namespace: l.dot.namespace.clone(),
                name: l.dot.name.clone(),
                id: l.dot.id.clone(),
                branches: infos,
                in_use_by: Vec::new(),
            });
        }
        Ok(out)
    }

    pub fn show(&self, user: &Principal, ns: &str, name: &str) -> Result<DotInfo> {
        user.may_use(ns)?;
        let l = self.load(ns, name)?;
        let (masters, down) = self.masters_and_down()?;
        let ids: Vec<String> = l.branches.iter().map(|b| b.fs_id.clone()).collect();
        let stats = self.storage.sizes(Some(&ids)).map_err(zfs_err)?;
        let containers = self.containers(ns, name);
        let mut infos = Vec::new();
        for b in &l.branches {
            let n = self.store.commits(&b.fs_id)?.len();
            let f = Facts {
                stats: &stats,
                masters: &masters,
                down: &down,
                containers: &containers,
                with_subdots: true,
            };
            infos.push(self.branch_info(b, &l, n, &f));
        }
        let mps: Vec<PathBuf> = l
            .branches
            .iter()
            .map(|b| self.mountpoint(&b.fs_id))
            .collect();
        let refs: Vec<&Path> = mps.iter().map(PathBuf::as_path).collect();
        Ok(DotInfo {
            namespace: l.dot.namespace.clone(),
            name: l.dot.name.clone(),
            id: l.dot.id.clone(),
            branches: infos,
            in_use_by: procs::users_of(&refs),
        })
    }

    pub fn delete(&self, user: &Principal, ns: &str, name: &str) -> Result<()> {
        user.may_use(ns)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        let mut held: Vec<String> = self.containers(ns, name).into_values().flatten().collect();
        held.extend(self.held_elsewhere(&l, &l.branches)?);
        if !held.is_empty() {
            return Err(Self::in_use_error(
                &format!("dot '{name}'"),
                &held,
                "stop and remove them first (`docker rm -f NAME`)",
            ));
        }
        let mps: Vec<PathBuf> = l
            .branches
            .iter()
            .map(|b| self.mountpoint(&b.fs_id))
            .collect();
        let refs: Vec<&Path> = mps.iter().map(PathBuf::as_path).collect();
        let users = procs::users_of(&refs);
        if !users.is_empty() {
            return Err(DaemonError::InUse(format!(
                "dot '{name}' is in use by {}; stop those processes (or leave its directories) and try again",
                users.join(", ")
            )));
        }
        let intent = Intent::DeleteDot {
            dot: l.dot.clone(),
            branches: l.branches.clone(),
        };
        self.under(intent, || self.delete_dot_steps(&l.dot, &l.branches))?;
        tracing::info!(%ns, dot = %name, "deleted dot");
        Ok(())
    }

    pub fn branches(&self, user: &Principal, ns: &str, name: &str) -> Result<Vec<BranchInfo>> {
        Ok(self.show(user, ns, name)?.branches)
    }

    pub fn delete_branch(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
    ) -> Result<()> {
        user.may_use(ns)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        if branch == names::MASTER {
            return Err(DaemonError::BadRequest(format!(
                "the master branch cannot be deleted; delete the whole dot with `dm dot delete {name}`"
            )));
        }
        let b = l.branch(branch)?;
        let children: Vec<&str> = l
            .branches
            .iter()
            .filter(|x| x.origin.as_ref().is_some_and(|o| o.fs_id == b.fs_id))
            .map(|x| x.name.as_str())
            .collect();
        if !children.is_empty() {
            return Err(DaemonError::Conflict(format!(
                "branch(es) {} were made from commits of '{branch}'; delete them first",
                children.join(", ")
            )));
        }
        let mut held = self.containers(ns, name).remove(branch).unwrap_or_default();
        held.extend(self.held_elsewhere(&l, std::slice::from_ref(b))?);
        if !held.is_empty() {
            return Err(Self::in_use_error(
                &format!("branch '{branch}'"),
                &held,
                "stop and remove them first",
            ));
        }
        let mp = self.mountpoint(&b.fs_id);
        let users = procs::users_of(&[mp.as_path()]);
        if !users.is_empty() {
            return Err(DaemonError::InUse(format!(
                "branch '{branch}' is in use by {}; stop those processes and try again",
                users.join(", ")
            )));
        }
        let intent = Intent::DeleteBranch {
            dot_id: l.dot.id.clone(),
            branch: b.clone(),
        };
        self.under(intent, || {
            self.destroy_branch_fs(&b.fs_id, &format!("branch '{branch}'"))?;
            Ok(self.store.delete_branch(&l.dot.id, b, &self.seal())?)
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
    ) -> Result<Vec<(String, CommitRecord)>> {
        let mut out = Vec::new();
        let mut own = self.store.commits(&branch.fs_id)?;
        own.reverse();
        out.extend(own.into_iter().map(|c| (branch.fs_id.clone(), c)));
        let mut origin = branch.origin.clone();
        let mut hops = 0;
        while let Some(o) = origin {
            hops += 1;
            if hops > 1000 {
                break;
            }
            let mut theirs = self.store.commits(&o.fs_id)?;
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
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        Ok(self
            .history(&l, b)?
            .into_iter()
            .map(|(fs, c)| CommitInfo {
                id: c.id,
                branch: l.branch_of_fs(&fs),
                message: c.message,
                author: c.author,
                time: c.time,
                metadata: c.metadata,
            })
            .collect())
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
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        self.check_not_moving(&b.fs_id, branch)?;
        self.check_master(b)?;
        let cached = self
            .last_seq
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&b.fs_id)
            .copied();
        let last_seq = match cached {
            Some(seq) => seq,
            None => self.store.commits(&b.fs_id)?.last().map_or(0, |c| c.seq),
        };
        let (secs, nanos) = now();
        let rec = CommitRecord {
            id: new_id(),
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
        self.under(intent, || {
            self.storage
                .snapshot(Ds::Branch(&b.fs_id), &rec.id, &prop_refs)
                .map_err(zfs_err)?;
            Ok(self.store.put_commit(&b.fs_id, &rec)?)
        })?;
        self.last_seq
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(b.fs_id.clone(), rec.seq);
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
    fn resolve<'a>(
        candidates: &'a [(String, CommitRecord)],
        wanted: &str,
        branch: &str,
    ) -> Result<&'a (String, CommitRecord)> {
        if wanted.len() < 4 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DaemonError::BadRequest(format!(
                "'{wanted}' is not a commit id; give at least 4 hex digits of an id from `dm log`"
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
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        if l.branches.iter().any(|b| b.name == req.name) {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' already exists; switch to it with `dm checkout {}`",
                req.name, req.name
            )));
        }
        let src = l.branch(&req.from_branch)?;
        let history = self.history(&l, src)?;
        let (fs_id, commit) = match &req.from_commit {
            Some(c) => Self::resolve(&history, c, &src.name)?,
            None => history.first().ok_or_else(|| {
                DaemonError::BadRequest(format!(
                    "branch '{}' has no commits yet; commit first with `dm commit -m MESSAGE`",
                    src.name
                ))
            })?,
        };
        let cat = super::replicate::Catalog::for_dot(self, &l.dot)?;
        self.ensure_commit(fs_id, &commit.id, &cat)?;
        let rec = BranchRecord {
            name: req.name.clone(),
            fs_id: new_id(),
            origin: Some(OriginRecord {
                fs_id: fs_id.clone(),
                commit: commit.id.clone(),
            }),
        };
        let intent = Intent::CreateFs {
            dot_id: l.dot.id.clone(),
            fs_id: rec.fs_id.clone(),
        };
        self.under(intent, || {
            let origin = (fs_id.as_str(), commit.id.as_str());
            self.make_branch_fs(&l.dot, &rec.name, &rec.fs_id, Some(origin))?;
            let created = self.store.create_branch(&l.dot.id, &rec, &self.id);
            Self::registered(created, || {
                format!("branch '{}' was just created by someone else", req.name)
            })
        })?;
        let masters = BTreeMap::from([(rec.fs_id.clone(), self.id.clone())]);
        let stats = self
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
        Ok(self.branch_info(&rec, &l, 0, &f))
    }

    /// `git reset --hard`: the branch goes back to `commit`; later commits and uncommitted
    /// changes are gone. Refuses when a later commit has branches made from it.
    pub fn reset(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::Reset,
    ) -> Result<api::ResetDone> {
        user.may_use(ns)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        let history = self.history(&l, b)?;
        let (fs_id, target) = Self::resolve(&history, &req.commit, branch)?;
        self.check_not_moving(&b.fs_id, branch)?;
        self.check_master(b)?;
        let held = self.containers(ns, name).remove(branch).unwrap_or_default();
        if !held.is_empty() && !req.force {
            return Err(Self::in_use_error(
                &format!("branch '{branch}'"),
                &held,
                "stop them first, or pass --force and restart them after the reset",
            ));
        }
        let own: Vec<&CommitRecord> = history
            .iter()
            .filter(|(f, _)| f == &b.fs_id)
            .map(|(_, c)| c)
            .collect();
        let removed: Vec<String> = if fs_id == &b.fs_id {
            own.iter()
                .take_while(|c| c.id != target.id)
                .map(|c| c.id.clone())
                .collect()
        } else {
            own.iter().map(|c| c.id.clone()).collect()
        };
        let dependants: Vec<&str> = l
            .branches
            .iter()
            .filter(|x| {
                x.origin
                    .as_ref()
                    .is_some_and(|o| o.fs_id == b.fs_id && removed.contains(&o.commit))
            })
            .map(|x| x.name.as_str())
            .collect();
        if !dependants.is_empty() {
            return Err(DaemonError::Conflict(format!(
                "cannot reset '{branch}': branch(es) {} were made from commits the reset would remove; delete them first",
                dependants.join(", ")
            )));
        }
        if fs_id == &b.fs_id {
            let intent = Intent::Reset {
                fs_id: b.fs_id.clone(),
                target: target.id.clone(),
                removed: removed.clone(),
            };
            self.under(intent, || self.roll_back(b, &target.id, &removed))?;
        } else {
            let new = BranchRecord {
                name: b.name.clone(),
                fs_id: b.fs_id.clone(),
                origin: Some(OriginRecord {
                    fs_id: fs_id.clone(),
                    commit: target.id.clone(),
                }),
            };
            let intent = Intent::Reclone {
                dot_id: l.dot.id.clone(),
                branch: new.clone(),
                removed: removed.clone(),
            };
            self.under(intent, || {
                self.reclone(&l.dot, &new)
                    .map_err(|e| self.busy_branch(e, b))?;
                self.store.put_branch(&l.dot.id, &new)?;
                Ok(self.store.delete_commits(&b.fs_id, &removed)?)
            })?;
        }
        tracing::info!(%ns, dot = %name, %branch, commit = %target.id, removed = removed.len(), "reset");
        Ok(api::ResetDone {
            commit: target.id.clone(),
            removed,
            containers: held,
        })
    }

    /// ZFS's "busy" in a verb on branch `b`, as what to close.
    fn busy_branch(&self, e: DaemonError, b: &BranchRecord) -> DaemonError {
        match e {
            DaemonError::Zfs(ZfsError::Busy(_)) => DaemonError::InUse(format!(
                "branch '{}' is busy; stop containers and close programs using {} and try again",
                b.name,
                self.mountpoint(&b.fs_id).display()
            )),
            other => other,
        }
    }

    /// `reset --hard` within branch `b`: first the uncommitted changes go (destroying nothing,
    /// so a full pool fails here with nothing changed), then the commits after `target`.
    fn roll_back(&self, b: &BranchRecord, target: &str, removed: &[String]) -> Result<()> {
        let fs = Ds::Branch(&b.fs_id);
        if !self.storage.has_snapshot(fs, target).map_err(zfs_err)? {
            return Err(zfs_err(ZfsError::NotFound(format!(
                "commit {target} of branch '{}'",
                b.name
            ))));
        }
        if !removed.is_empty()
            && let Some(newest) = self.storage.snapshots(fs).map_err(zfs_err)?.pop()
        {
            let newest_only = self.storage.rollback(fs, &newest, Rollback::Newest);
            newest_only.map_err(|e| match e {
                ZfsError::NoSpace(_) => DaemonError::PoolFull(
                    "the ZFS pool is full, so the reset could not start; nothing was changed. Free some space (delete files in this dot or another, or a dot you no longer need) and run the reset again".into(),
                ),
                other => self.busy_branch(DaemonError::Zfs(other), b),
            })?;
        }
        if let Err(e) = self.storage.rollback(fs, target, Rollback::DestroyingLater) {
            let left = self
                .storage
                .snapshots(fs)
                .map(|s| s.iter().filter(|s| removed.contains(s)).count())
                .unwrap_or(removed.len());
            let cause = match e {
                ZfsError::NoSpace(_) => "the pool is full".to_string(),
                ZfsError::Busy(_) => format!(
                    "the branch is busy; close programs using {}",
                    self.mountpoint(&b.fs_id).display()
                ),
                other => other.to_string(),
            };
            return Err(DaemonError::Conflict(format!(
                "the reset stopped part-way ({cause}): uncommitted changes were discarded and {} of {} later commits removed; `dm log` shows what is left; run the reset again to finish",
                removed.len() - left,
                removed.len()
            )));
        }
        Ok(self.store.delete_commits(&b.fs_id, removed)?)
    }

    /// Resets a branch to a commit from before it was made: its filesystem is replaced by a
    /// fresh clone of `new.origin`, under the same id and mountpoint. The old one is set aside
    /// as `<id>-reset` until the new one is complete; the intent settles an interruption.
    fn reclone(&self, dot: &DotRecord, new: &BranchRecord) -> Result<()> {
        let origin = new.origin.as_ref().expect("a re-clone has an origin");
        let from = Ds::Branch(&origin.fs_id);
        if !self
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
        self.storage
            .set_property(old, "mountpoint", "none")
            .map_err(DaemonError::Zfs)?;
        self.storage.rename(old, aside).map_err(DaemonError::Zfs)?;
        let origin = (origin.fs_id.as_str(), origin.commit.as_str());
        self.make_branch_fs(dot, &new.name, &new.fs_id, Some(origin))?;
        self.storage.destroy(aside).map_err(zfs_err)
    }

    /// Host path of a subdot of a branch, created on request.
    pub fn subdot_path(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        branch: &str,
        subdot: &str,
        create: bool,
    ) -> Result<api::SubdotPath> {
        let (path, _) = self.open_subdot(user, (ns, name, branch), subdot, create)?;
        Ok(api::SubdotPath {
            subdot: subdot.to_string(),
            path: path.display().to_string(),
        })
    }

    /// A subdot of a branch, mounted here: its host path and, unless it is `__root__` (the
    /// mountpoint itself), the directory opened without following any link.
    pub fn open_subdot(
        &self,
        user: &Principal,
        (ns, name, branch): (&str, &str, &str),
        subdot: &str,
        create: bool,
    ) -> Result<(PathBuf, Option<std::os::fd::OwnedFd>)> {
        user.may_use(ns)?;
        check_name(Kind::Subdot, subdot)?;
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        self.procure(&l.dot, b)?;
        let mp = self.mountpoint(&b.fs_id);
        let fs = Ds::Branch(&b.fs_id);
        if !self.storage.is_mounted(fs).map_err(zfs_err)? {
            self.drop_arrivals(&l.dot, &b.fs_id)?;
            self.storage.mount(fs).map_err(zfs_err)?;
        }
        if subdot == names::ROOT_SUBDOT {
            return Ok((mp, None));
        }
        // The dot's files are anyone's: a symbolic link named like the subdot must not hand
        // its target (the host) to a container.
        use super::beneath::{BeneathError, open_dir};
        let dir = match open_dir(&mp, Path::new(subdot), create) {
            Ok(dir) => dir,
            Err(BeneathError::Missing(_)) => {
                return Err(DaemonError::NotFound(format!(
                    "subdot '{subdot}' does not exist on branch '{branch}'"
                )));
            }
            Err(e @ (BeneathError::Escapes(_) | BeneathError::NotDirectory(_))) => {
                return Err(DaemonError::Conflict(format!(
                    "subdot {e}; remove or rename it in the dot (`dm dot path` shows where)"
                )));
            }
            Err(e) => return Err(DaemonError::Internal(e.to_string())),
        };
        Ok((mp.join(subdot), Some(dir)))
    }

    /// Where Docker gets subdot `dir` for its mount `mount_id`: a bind mount of exactly the
    /// directory that was opened, in a directory only root can reach. What Docker mounts can
    /// then not be swapped for a symbolic link between the check and Docker's own mount.
    pub fn pin_subdot(&self, dir: std::os::fd::OwnedFd, mount_id: &str) -> Result<PathBuf> {
        let pins = self.mount_dir.join(PINS);
        let target = pins.join(pin_name(mount_id));
        let io = |p: &Path, e| io_err(p, e);
        std::fs::create_dir_all(&pins).map_err(|e| io(&pins, e))?;
        if mounted(&target) {
            // Docker asked again for the same mount: mount afresh.
            super::beneath::unbind(&target).map_err(|e| io(&target, e))?;
        }
        match std::fs::create_dir(&target) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&target, e)),
            _ => {}
        }
        super::beneath::bind(&dir, &target).map_err(|e| io(&target, e))?;
        Ok(target)
    }

    /// Undoes [`Node::pin_subdot`] for a mount's path (other paths are left alone).
    pub fn unpin_subdot(&self, path: &Path) {
        if path.parent() != Some(self.mount_dir.join(PINS).as_path()) {
            return;
        }
        if let Err(e) = super::beneath::unbind(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot unmount a volume's subdot");
            return;
        }
        let _ = std::fs::remove_dir(path);
    }

    /// Re-registers what ZFS has but the registry lacks (e.g. after etcd's data was lost).
    /// Never deletes: ZFS is the ground truth for data. Branches are mounted on first use.
    pub fn recover(&self) -> Result<()> {
        // A daemon killed mid-operation leaves its zfs commands running; let them end first,
        // or this would read ZFS half-way through one.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = procs::zfs_commands_on(self.storage.pool_name());
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(pids = ?left, "zfs commands from before the restart still run; going on");
                break;
            }
            tracing::info!(pids = ?left, "waiting for zfs commands from before the restart");
            std::thread::sleep(Duration::from_millis(100));
        }
        self.storage.prepare().map_err(zfs_err)?;
        std::fs::create_dir_all(&self.mount_dir).map_err(|e| io_err(&self.mount_dir, e))?;
        // Operations a crash interrupted, before anything is adopted from what they left.
        self.settle_pending();
        let cols = commit_columns();
        let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let (listed, snaps) = self
            .storage
            .list(&[P_DOT, P_DOTID, P_BRANCH, "readonly"], &col_refs)
            .map_err(zfs_err)?;
        let deleted = self.deleted()?;
        let known = self.store.all_commits()?;
        let mut adopted = 0;
        for item in &listed {
            let fs_id = match &item.role {
                Role::Branch(fs_id) => fs_id.as_str(),
                Role::Staging(fs_id) => {
                    // A transfer from another cluster that was never confirmed.
                    if let Err(e) = self.storage.destroy(Ds::Staging(fs_id)) {
                        tracing::warn!(%fs_id, error = %e, "cannot destroy an unconfirmed transfer yet; retried at the next start");
                    }
                    continue;
                }
                Role::Aside(fs_id) => {
                    tracing::warn!(%fs_id, "leftover from an interrupted reset; kept for inspection");
                    continue;
                }
            };
            if deleted.contains(fs_id) {
                // Deleted while this node was away.
                if let Err(e) = self.storage.destroy(Ds::Branch(fs_id)) {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a deleted branch yet");
                }
                continue;
            }
            let (Some(dot), Some(dot_id), Some(branch)) = (
                item.props.get(P_DOT),
                item.props.get(P_DOTID),
                item.props.get(P_BRANCH),
            ) else {
                continue;
            };
            let Some((ns, name)) = dot.split_once('/') else {
                continue;
            };
            let rec = DotRecord {
                id: dot_id.clone(),
                namespace: ns.to_string(),
                name: name.to_string(),
                created: 0,
            };
            if branch == names::MASTER && self.store.adopt_dot(&rec)? {
                adopted += 1;
            }
            let origin = item.origin.as_ref().map(|(fs, commit)| OriginRecord {
                fs_id: fs.clone(),
                commit: commit.clone(),
            });
            let b = BranchRecord {
                name: branch.clone(),
                fs_id: fs_id.to_string(),
                origin,
            };
            // A read-only copy is a replica: it never claims to be the master.
            let replica = item.props.get("readonly").map(String::as_str) == Some("on");
            let master = (!replica).then_some(self.id.as_str());
            if self.store.adopt_branch(dot_id, &b, master)? {
                adopted += 1;
            }
        }
        for s in &snaps {
            let Role::Branch(fs_id) = &s.role else {
                continue;
            };
            let fs_id = fs_id.as_str();
            if s.name.starts_with(super::replicate::HANDOFF_PREFIX) {
                // A handoff was interrupted by a restart: the master record says how it ended.
                let moved = self.store.master(fs_id)?.as_deref() != Some(self.id.as_str());
                if let Err(e) = self.finish_move(fs_id, &s.name, moved) {
                    tracing::warn!(%fs_id, error = %e, "cannot settle an interrupted handoff");
                }
                continue;
            }
            if s.name.starts_with(PROBE_PREFIX) {
                // A probe (see `changed_since`) a crash left behind.
                if let Err(e) = self.storage.destroy_snapshot(Ds::Branch(fs_id), &s.name) {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a leftover probe snapshot");
                }
                continue;
            }
            if deleted.contains(fs_id) {
                continue;
            }
            let have = known
                .get(fs_id)
                .is_some_and(|v| v.iter().any(|c| c.id == s.name));
            if have {
                continue;
            }
            if let Some(c) = decode_commit(&s.props)
                && self.store.adopt_commit(fs_id, &c)?
            {
                adopted += 1;
            }
        }
        // Containers may still hold mounts from before a restart; keep their branches mounted.
        for (_, r) in self.mounts.find(|_| true) {
            let fs = branch_fs_id(&self.store, &r.namespace, &r.dot, &r.branch)?;
            if let Some(fs_id) = fs
                && let Err(e) = self.storage.mount(Ds::Branch(&fs_id))
            {
                tracing::error!(volume = %r.volume, error = %e, "cannot remount for a container");
            }
        }
        tracing::info!(
            filesystems = listed.len(),
            snapshots = snaps.len(),
            adopted,
            "recovered state from ZFS"
        );
        Ok(())
    }
}

/// The filesystem id of a branch, if the dot and branch exist.
fn branch_fs_id(store: &Store, ns: &str, dot: &str, branch: &str) -> Result<Option<String>> {
    let Some(d) = store.dot(ns, dot)? else {
        return Ok(None);
    };
    Ok(store
        .branches(&d.id)?
        .into_iter()
        .find(|b| b.name == branch)
        .map(|b| b.fs_id))
}

fn io_err(path: &Path, e: std::io::Error) -> DaemonError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        DaemonError::PoolFull(
            "the ZFS pool is full; delete dots or commits you no longer need, or grow the pool"
                .into(),
        )
    } else {
        DaemonError::Internal(format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
