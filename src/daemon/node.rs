//! What a node does to dots: every verb's daemon-side logic, on ZFS plus the registry.
//!
//! Layout on ZFS: `<pool>/dmfs/<fs-id>` per branch (a clone of the commit it branched from), a
//! snapshot `@<commit-id>` per commit, mounted at `<mount-dir>/<fs-id>`. Dot, branch and commit
//! metadata are also ZFS user properties, so [`Node::recover`] can rebuild the registry from disk.
//! Operations on one dot are serialised by a per-dot lock (the branch state machine is "idle" or
//! "one operation running"); different dots proceed in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::DaemonError;
use super::intent::{Intent, Journal};
use super::mounts::{MountRecord, MountTable};
use super::procs;
use crate::api::{self, BranchInfo, CommitInfo, DotInfo, Origin};
use crate::cluster::{BranchRecord, CommitRecord, DotRecord, OriginRecord, RegistryError, Store};
use crate::names::{self, Kind};
use crate::plugins::docker_api;
use crate::zfs::{self, Pool, ZfsError};

pub(super) const DMFS: &str = "dmfs";
pub(super) const P_DOT: &str = "io.dm:dot";
pub(super) const P_DOTID: &str = "io.dm:dotid";
pub(super) const P_BRANCH: &str = "io.dm:branch";
pub(super) const P_BASELINE: &str = "io.dm:baseline";
/// Commit records are base64 JSON split over `io.dm:commit.N`: zfs-fuse aborts on values of a
/// few KiB, and tabs or newlines in a raw value would break `-H` parsing.
const P_COMMIT: &str = "io.dm:commit.";
const CHUNK: usize = 2000;
/// Prefix of the short-lived snapshots that tell whether a branch has uncommitted changes.
pub(super) const PROBE_PREFIX: &str = "dmp-";
/// Suffix of a branch filesystem set aside while a re-clone replaces it.
pub(super) const ASIDE: &str = "-reset";
const MAX_CHUNKS: usize = 32;

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
    pub(super) pool: Pool,
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

pub(super) fn encode_commit(c: &CommitRecord) -> Vec<(String, String)> {
    let b64 = B64.encode(serde_json::to_vec(c).expect("commit serialises"));
    b64.as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, ch)| {
            (
                format!("{P_COMMIT}{i}"),
                String::from_utf8_lossy(ch).into_owned(),
            )
        })
        .collect()
}

fn decode_commit(props: &BTreeMap<String, String>) -> Option<CommitRecord> {
    let mut b64 = String::new();
    for i in 0..MAX_CHUNKS {
        match props.get(&format!("{P_COMMIT}{i}")) {
            Some(part) => b64.push_str(part),
            None => break,
        }
    }
    serde_json::from_slice(&B64.decode(b64).ok()?).ok()
}

fn commit_columns() -> Vec<String> {
    (0..MAX_CHUNKS).map(|i| format!("{P_COMMIT}{i}")).collect()
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

/// (size, dirty bytes) per filesystem id.
type Stats = HashMap<String, (u64, u64)>;

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

/// Reads sizes of `fs_ids` (or every branch) in one `zfs get`.
fn read_stats(pool: &Pool, fs_ids: Option<&[String]>) -> Result<Stats> {
    let rels: Vec<String> = match fs_ids {
        Some(ids) => ids.iter().map(|id| format!("{DMFS}/{id}")).collect(),
        None => vec![DMFS.to_string()],
    };
    let all = zfs::get_recursive(
        pool,
        &rels,
        &["used", "referenced", "createtxg", P_BASELINE],
    )
    .map_err(zfs_err)?;
    let prefix = format!("{}/{DMFS}/", pool.name());
    let num = |m: &BTreeMap<String, String>, k: &str| {
        m.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    // Newest snapshot of each filesystem: (createtxg, referenced, used).
    let mut latest: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for (name, props) in &all {
        if let Some((fs, _)) = name.split_once('@') {
            let txg = num(props, "createtxg");
            let entry = latest.entry(fs).or_insert((0, 0, 0));
            if txg >= entry.0 {
                *entry = (txg, num(props, "referenced"), num(props, "used"));
            }
        }
    }
    let mut out = HashMap::new();
    for (name, props) in &all {
        let Some(fs_id) = name.strip_prefix(&prefix) else {
            continue;
        };
        if fs_id.contains('@') || fs_id.contains('/') {
            continue;
        }
        let referenced = num(props, "referenced");
        // Pool v23 has no `written` property: estimate dirty bytes as growth since the newest
        // commit plus what that commit holds that the live filesystem no longer shares.
        let dirty = match latest.get(name.as_str()) {
            Some(&(_, snap_ref, snap_used)) => referenced.saturating_sub(snap_ref) + snap_used,
            None => referenced.saturating_sub(num(props, P_BASELINE)),
        };
        out.insert(fs_id.to_string(), (num(props, "used"), dirty));
    }
    Ok(out)
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
        pool: Pool,
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
            pool,
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
                let data = Arc::new(read_stats(&self.pool, None)?);
                c.data = data.clone();
                c.at = Some(Instant::now());
                Ok(data)
            }
            Some(at) => {
                if at.elapsed() > STATS_FRESH && !c.refreshing {
                    c.refreshing = true;
                    let (pool, cache) = (self.pool.clone(), self.stats.clone());
                    std::thread::spawn(move || {
                        let fresh = read_stats(&pool, None);
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
        let fs = self.pool.dataset(&Self::rel(fs_id));
        match fs.unmount().and_then(|()| fs.destroy()) {
            Ok(()) | Err(ZfsError::NotFound(_)) => Ok(()),
            Err(ZfsError::Busy(_)) => Err(DaemonError::InUse(format!(
                "{what} is busy; close programs using {} and try again",
                self.mountpoint(fs_id).display()
            ))),
            Err(e) => Err(zfs_err(e)),
        }
    }

    /// Unmounts branch filesystem `fs_id` if it is mounted here (read from /proc/mounts, no
    /// zfs call); busy becomes [`DaemonError::InUse`] with `busy`'s message for the
    /// mountpoint. Returns whether it was mounted.
    pub(super) fn unmount_branch(
        &self,
        fs_id: &str,
        busy: impl FnOnce(&Path) -> String,
    ) -> Result<bool> {
        let mp = self.mountpoint(fs_id);
        if !mounted(&mp) {
            return Ok(false);
        }
        match self.pool.dataset(&Self::rel(fs_id)).unmount() {
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
        self.mount_dir.join(fs_id)
    }

    pub(super) fn rel(fs_id: &str) -> String {
        format!("{DMFS}/{fs_id}")
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
    pub fn authorise(&self, user: &str, ns: &str) -> Result<()> {
        if user == super::ADMIN || user == ns {
            Ok(())
        } else {
            Err(DaemonError::Forbidden(format!(
                "user '{user}' may not use namespace '{ns}'"
            )))
        }
    }

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

    /// Creates the ZFS filesystem of a branch, from `origin` (a clone) or empty.
    fn make_branch_fs(
        &self,
        dot: &DotRecord,
        branch: &str,
        fs_id: &str,
        origin: Option<&zfs::Snapshot>,
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
        let fs = match origin {
            Some(snap) => snap.clone_to(&self.pool, &Self::rel(fs_id), &props),
            None => self.pool.create_filesystem(&Self::rel(fs_id), &props),
        }
        .map_err(zfs_err)?;
        // Set last: recovery takes a filesystem with a baseline as complete (see `recovery`).
        // If this fails, the caller's intent destroys the filesystem again.
        let base = fs.referenced().map_err(zfs_err)?;
        fs.set_property(P_BASELINE, &base.to_string())
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

    pub fn create_dot(&self, user: &str, req: &api::CreateDot) -> Result<DotInfo> {
        check_name(Kind::Namespace, &req.namespace)?;
        check_name(Kind::Dot, &req.name)?;
        self.authorise(user, &req.namespace)?;
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
    pub fn list(&self, user: &str) -> Result<(Vec<DotInfo>, Option<u64>)> {
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
            .filter(|d| self.authorise(user, &d.namespace).is_ok())
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

    pub fn show(&self, user: &str, ns: &str, name: &str) -> Result<DotInfo> {
        self.authorise(user, ns)?;
        let l = self.load(ns, name)?;
        let (masters, down) = self.masters_and_down()?;
        let ids: Vec<String> = l.branches.iter().map(|b| b.fs_id.clone()).collect();
        let stats = read_stats(&self.pool, Some(&ids))?;
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

    pub fn delete(&self, user: &str, ns: &str, name: &str) -> Result<()> {
        self.authorise(user, ns)?;
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

    pub fn branches(&self, user: &str, ns: &str, name: &str) -> Result<Vec<BranchInfo>> {
        Ok(self.show(user, ns, name)?.branches)
    }

    pub fn delete_branch(&self, user: &str, ns: &str, name: &str, branch: &str) -> Result<()> {
        self.authorise(user, ns)?;
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

    pub fn log(&self, user: &str, ns: &str, name: &str, branch: &str) -> Result<Vec<CommitInfo>> {
        self.authorise(user, ns)?;
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
        user: &str,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::CreateCommit,
    ) -> Result<CommitInfo> {
        self.authorise(user, ns)?;
        api::check_commit(req).map_err(DaemonError::BadRequest)?;
        let lock = self.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        self.check_not_moving(&b.fs_id, branch)?;
        self.check_master(b)?;
        let fs = self.pool.dataset(&Self::rel(&b.fs_id));
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
            fs.snapshot(&rec.id, &prop_refs).map_err(zfs_err)?;
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
        user: &str,
        ns: &str,
        name: &str,
        req: &api::CreateBranch,
    ) -> Result<BranchInfo> {
        self.authorise(user, ns)?;
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
        let snap = self
            .pool
            .filesystem(&Self::rel(fs_id))
            .and_then(|f| f.get_snapshot(&commit.id))
            .map_err(zfs_err)?;
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
            self.make_branch_fs(&l.dot, &rec.name, &rec.fs_id, Some(&snap))?;
            let created = self.store.create_branch(&l.dot.id, &rec, &self.id);
            Self::registered(created, || {
                format!("branch '{}' was just created by someone else", req.name)
            })
        })?;
        let masters = BTreeMap::from([(rec.fs_id.clone(), self.id.clone())]);
        let stats = read_stats(&self.pool, Some(std::slice::from_ref(&rec.fs_id)))?;
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
        user: &str,
        ns: &str,
        name: &str,
        branch: &str,
        req: &api::Reset,
    ) -> Result<api::ResetDone> {
        self.authorise(user, ns)?;
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
        let fs = self
            .pool
            .filesystem(&Self::rel(&b.fs_id))
            .map_err(zfs_err)?;
        let snap = fs.get_snapshot(target).map_err(zfs_err)?;
        if !removed.is_empty()
            && let Some(newest) = fs.snapshots().map_err(zfs_err)?.pop()
        {
            fs.rollback_to_newest(&newest).map_err(|e| match e {
                ZfsError::NoSpace(_) => DaemonError::PoolFull(
                    "the ZFS pool is full, so the reset could not start; nothing was changed. Free some space (delete files in this dot or another, or a dot you no longer need) and run the reset again".into(),
                ),
                other => self.busy_branch(DaemonError::Zfs(other), b),
            })?;
        }
        if let Err(e) = fs.rollback_to(&snap) {
            let left = fs
                .snapshots()
                .map(|s| {
                    s.iter()
                        .filter(|s| removed.iter().any(|r| r == s.name()))
                        .count()
                })
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
        let snap = self
            .pool
            .filesystem(&Self::rel(&origin.fs_id))
            .and_then(|f| f.get_snapshot(&origin.commit))
            .map_err(zfs_err)?;
        let mut old = self
            .pool
            .filesystem(&Self::rel(&new.fs_id))
            .map_err(zfs_err)?;
        old.set_property("mountpoint", "none")
            .map_err(DaemonError::Zfs)?;
        old.rename(&self.full_name(&Self::aside_rel(&new.fs_id)))
            .map_err(DaemonError::Zfs)?;
        self.make_branch_fs(dot, &new.name, &new.fs_id, Some(&snap))?;
        old.destroy().map_err(zfs_err)
    }

    /// A branch filesystem set aside during a re-clone, relative to the pool.
    pub(super) fn aside_rel(fs_id: &str) -> String {
        format!("{DMFS}/{fs_id}{ASIDE}")
    }

    /// Full name of branch filesystem `rel` (for a rename).
    pub(super) fn full_name(&self, rel: &str) -> String {
        format!("{}/{rel}", self.pool.name())
    }

    /// Host path of a subdot of a branch, created on request.
    pub fn subdot_path(
        &self,
        user: &str,
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
        user: &str,
        (ns, name, branch): (&str, &str, &str),
        subdot: &str,
        create: bool,
    ) -> Result<(PathBuf, Option<std::os::fd::OwnedFd>)> {
        self.authorise(user, ns)?;
        check_name(Kind::Subdot, subdot)?;
        let l = self.load(ns, name)?;
        let b = l.branch(branch)?;
        self.procure(&l.dot, b)?;
        let mp = self.mountpoint(&b.fs_id);
        if !mounted(&mp) {
            self.drop_arrivals(&l.dot, &b.fs_id)?;
            self.pool
                .dataset(&Self::rel(&b.fs_id))
                .ensure_mounted()
                .map_err(zfs_err)?;
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
            let left = procs::zfs_commands_on(self.pool.name());
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
        // `dmfs` itself is never mounted: branch mountpoints then sit on the host filesystem, not
        // inside a FUSE mount, which deadlocks zfs-fuse when a `zfs create` stats its mountpoint
        // through a mount that zfs-fuse itself is busy serving.
        match self.pool.filesystem(DMFS) {
            Ok(top) => {
                if top.property("mountpoint").map_err(zfs_err)?.as_deref() != Some("none")
                    && let Err(e) = top.set_property("mountpoint", "none")
                {
                    // Branches mounted below it keep it busy; the next start will retry.
                    tracing::warn!(error = %e, "cannot unmount the dmfs parent; left as is");
                }
            }
            Err(ZfsError::NotFound(_)) => {
                self.pool
                    .create_filesystem(DMFS, &[("mountpoint", "none")])
                    .map_err(zfs_err)?;
            }
            Err(e) => return Err(zfs_err(e)),
        }
        std::fs::create_dir_all(&self.mount_dir).map_err(|e| io_err(&self.mount_dir, e))?;
        // Operations a crash interrupted, before anything is adopted from what they left.
        self.settle_pending();
        let listed = self
            .pool
            .children(DMFS, &[P_DOT, P_DOTID, P_BRANCH, "readonly"])
            .map_err(zfs_err)?;
        let deleted = self.deleted()?;
        let cols = commit_columns();
        let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let snaps = self
            .pool
            .snapshots_under(DMFS, &col_refs)
            .map_err(zfs_err)?;
        let known = self.store.all_commits()?;
        let prefix = format!("{}/{DMFS}/", self.pool.name());
        let mut adopted = 0;
        for item in &listed {
            let Some(fs_id) = item.filesystem.name().strip_prefix(&prefix) else {
                continue;
            };
            if deleted.contains(fs_id) {
                // Deleted while this node was away.
                if let Err(e) = self.pool.dataset(&Self::rel(fs_id)).destroy() {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a deleted branch yet");
                }
                continue;
            }
            if fs_id.starts_with(super::transfer::STAGING_PREFIX) {
                // A transfer from another cluster that was never confirmed.
                if let Err(e) = self.pool.dataset(&Self::rel(fs_id)).destroy() {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy an unconfirmed transfer yet; retried at the next start");
                }
                continue;
            }
            if fs_id.ends_with(ASIDE) {
                tracing::warn!(fs = %item.filesystem.name(), "leftover from an interrupted reset; kept for inspection");
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
            let origin = item.origin.as_deref().and_then(|o| {
                let (fs, commit) = o.strip_prefix(&prefix)?.split_once('@')?;
                Some(OriginRecord {
                    fs_id: fs.to_string(),
                    commit: commit.to_string(),
                })
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
            let full = s.snapshot.full_name();
            let Some((fs_id, _)) = full.strip_prefix(&prefix).and_then(|r| r.split_once('@'))
            else {
                continue;
            };
            if s.snapshot
                .name()
                .starts_with(super::replicate::HANDOFF_PREFIX)
            {
                // A handoff was interrupted by a restart: the master record says how it ended.
                let moved = self.store.master(fs_id)?.as_deref() != Some(self.id.as_str());
                if let Err(e) = self.finish_move(fs_id, s.snapshot.name(), moved) {
                    tracing::warn!(%fs_id, error = %e, "cannot settle an interrupted handoff");
                }
                continue;
            }
            if s.snapshot.name().starts_with(PROBE_PREFIX) {
                // A probe (see `changed_since`) a crash left behind.
                if let Err(e) = s.snapshot.clone().destroy() {
                    tracing::warn!(%fs_id, error = %e, "cannot destroy a leftover probe snapshot");
                }
                continue;
            }
            if deleted.contains(fs_id) {
                continue;
            }
            let have = known
                .get(fs_id)
                .is_some_and(|v| v.iter().any(|c| c.id == s.snapshot.name()));
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
                && let Err(e) = self.pool.dataset(&Self::rel(&fs_id)).ensure_mounted()
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

/// Whether `path` is a mountpoint right now (from /proc/mounts, no ZFS call).
pub(super) fn mounted(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .any(|mp| Path::new(mp) == path)
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
    fn commit_metadata_round_trips_through_properties() {
        let mut metadata = BTreeMap::new();
        metadata.insert("big".to_string(), "x\ty\n".repeat(3000));
        let c = CommitRecord {
            id: new_id(),
            message: "tabs\tand\nnewlines".into(),
            author: "admin".into(),
            time: 7,
            seq: 9,
            metadata,
        };
        let props: BTreeMap<String, String> = encode_commit(&c).into_iter().collect();
        assert!(props.len() > 1 && props.len() <= MAX_CHUNKS);
        assert!(
            props
                .values()
                .all(|v| v.len() <= CHUNK && !v.contains('\t'))
        );
        assert_eq!(decode_commit(&props), Some(c));
    }

    #[test]
    fn largest_allowed_commit_fits_in_the_chunks() {
        // Tabs are the worst case allowed: each doubles when JSON-escaped.
        let c = CommitRecord {
            id: new_id(),
            message: "\t".repeat(api::MAX_COMMIT_META),
            author: "a".into(),
            time: 0,
            seq: 0,
            metadata: BTreeMap::new(),
        };
        assert!(encode_commit(&c).len() <= MAX_CHUNKS);
    }

    #[test]
    fn ids_are_unique_hex() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
