//! What a node knows about its dots for listings: sizes (cached), masters and which are down,
//! containers and processes holding branches, and the `list`/`show` answers built from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DaemonError;
use super::core::{Core, DockerLink, Loaded, zfs_err};
use super::mounts::MountRecord;
use super::principal::Principal;
use super::procs;
use crate::api::{self, BranchInfo, DotInfo, Origin, ReplicaInfo};
use crate::cluster::{BranchRecord, FsId, NodeId, RegistryError};
use crate::names;
use crate::plugins::docker_api;
use crate::routes::{Internal, Route};
use crate::storage::{Sizes as Stats, mounted};

type Result<T> = std::result::Result<T, DaemonError>;

/// (namespace, dot name).
pub(super) type DotKey = (String, String);

/// Container names by branch name.
pub(super) type Held = BTreeMap<String, Vec<String>>;

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

/// What listings keep between requests; only this module reads or changes it.
pub struct Inventory {
    pub(super) core: Arc<Core>,
    /// Where Docker is, to name the containers holding mounts (and restart them, `follow`).
    pub(super) docker: Option<DockerLink>,
    stats: Arc<Mutex<StatsCache>>,
    /// The last full listing, served (marked stale) while etcd is unreachable.
    last_list: Mutex<Option<(Instant, Vec<DotInfo>)>>,
}

impl Inventory {
    pub(super) fn new(core: Arc<Core>, docker: Option<DockerLink>) -> Inventory {
        Inventory {
            core,
            docker,
            stats: Arc::default(),
            last_list: Mutex::default(),
        }
    }
}

/// What [`Inventory::branch_info`] needs besides the branch itself, gathered once per request.
#[derive(Clone, Copy)]
pub(super) struct Facts<'a> {
    pub(super) stats: &'a Stats,
    pub(super) masters: &'a BTreeMap<FsId, NodeId>,
    /// Master nodes that are not registered (down): their branches' dirty state is unavailable.
    pub(super) down: &'a std::collections::BTreeSet<NodeId>,
    pub(super) containers: &'a BTreeMap<String, Vec<String>>,
    pub(super) with_subdots: bool,
}

impl Inventory {
    /// Sizes of every branch: fresh on first use, then at most [`STATS_FRESH`] stale plus one
    /// background refresh.
    fn cached_stats(&self) -> Result<Arc<Stats>> {
        let mut c = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        match c.at {
            None => {
                let data = Arc::new(self.core.storage.sizes(None).map_err(zfs_err)?);
                c.data = data.clone();
                c.at = Some(Instant::now());
                Ok(data)
            }
            Some(at) => {
                if at.elapsed() > STATS_FRESH && !c.refreshing {
                    c.refreshing = true;
                    let (storage, cache) = (self.core.storage.clone(), self.stats.clone());
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
        let held = self.core.mounts.find(filter);
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
            let who = match (
                id.strip_prefix(super::kubelet::MOUNT_PREFIX),
                names.get(&r.volume),
            ) {
                (Some(target), _) => vec![format!("a Kubernetes pod (volume at {target})")],
                (None, Some(n)) if !n.is_empty() => n.clone(),
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

    /// Containers on other nodes holding any of `branches` (asked of each branch's master).
    pub(super) fn held_elsewhere(
        &self,
        l: &Loaded,
        branches: &[BranchRecord],
    ) -> Result<Vec<String>> {
        let mut by_node: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
        for b in branches {
            if let Some(m) = self.core.store.master(&b.fs_id)?
                && m != self.core.id
            {
                by_node.entry(m).or_default().push(b.name.clone());
            }
        }
        let mut out = Vec::new();
        for (node, names) in by_node {
            let Some(server) = self.core.store.server(&node)? else {
                continue;
            };
            let req = api::HeldRequest {
                namespace: l.dot.namespace.clone(),
                dot: l.dot.name.clone(),
                branches: names,
            };
            let held: Vec<String> =
                self.core
                    .peers
                    .post(&server, &Route::Internal(Internal::Held).path(), &req)?;
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

    pub(super) fn branch_info(
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
        let mp = self.core.mountpoint(&b.fs_id);
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
            master_down: masters
                .get(b.fs_id.as_str())
                .is_some_and(|m| down.contains(m)),
            mountpoint: mp.display().to_string(),
            commits,
            size_bytes: size,
            dirty_bytes: dirty,
            origin: b.origin.as_ref().map(|o| Origin {
                branch: l.branch_of_fs(&o.fs_id),
                commit: o.commit.to_string(),
            }),
            subdots,
            containers: containers.get(&b.name).cloned().unwrap_or_default(),
            mounted: is_mounted,
            hidden: super::ops::is_hidden(&b.name),
            replicas: Vec::new(),
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

    /// The nodes registered as up now.
    fn alive(&self) -> Result<BTreeSet<NodeId>> {
        Ok(self
            .core
            .store
            .servers()?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }

    /// Each branch's master, and the masters not in `alive`.
    fn masters_and_down(
        &self,
        alive: &BTreeSet<NodeId>,
    ) -> Result<(BTreeMap<FsId, NodeId>, BTreeSet<NodeId>)> {
        let masters = self.core.store.all_masters()?;
        let down = masters
            .values()
            .filter(|m| !alive.contains(*m))
            .cloned()
            .collect();
        Ok((masters, down))
    }

    fn list_all(&self) -> Result<Vec<DotInfo>> {
        let mut dots = self.core.store.dots(None)?;
        // Deleted dots kept for `dm undo` are nobody's to list.
        dots.retain(|d| !super::ops::is_hidden(&d.name));
        let all_branches = self.core.store.all_branches()?;
        let counts = self.core.store.commit_counts()?;
        let (masters, down) = self.masters_and_down(&self.alive()?)?;
        let stats = self.cached_stats()?;
        let mut held = self.containers_where(|_| true);
        let mut out = Vec::new();
        for dot in dots {
            let branches = all_branches
                .get(dot.id.as_str())
                .cloned()
                .unwrap_or_default();
            let containers = held
                .remove(&(dot.namespace.clone(), dot.name.clone()))
                .unwrap_or_default();
            let l = Loaded { dot, branches };
            let infos = l
                .branches
                .iter()
                .filter(|b| !super::ops::is_hidden(&b.name))
                .map(|b| {
                    let n = counts.get(b.fs_id.as_str()).copied().unwrap_or(0);
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

    /// A dot, with every node's copy of each branch (`dm dot show`).
    pub fn show(&self, user: &Principal, ns: &str, name: &str) -> Result<DotInfo> {
        self.describe(user, ns, name, true)
    }

    /// A dot; `with_replicas` also reads which node holds what (a registry read per branch,
    /// which the Docker plugin's calls, through [`Inventory::branches`], do without).
    fn describe(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        with_replicas: bool,
    ) -> Result<DotInfo> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        let alive = self.alive()?;
        let (masters, down) = self.masters_and_down(&alive)?;
        let ids: Vec<FsId> = l.branches.iter().map(|b| b.fs_id.clone()).collect();
        let stats = self.core.storage.sizes(Some(&ids)).map_err(zfs_err)?;
        let containers = self.containers(ns, name);
        let mut infos = Vec::new();
        for b in &l.branches {
            let commits = self.core.store.commits(&b.fs_id)?;
            let f = Facts {
                stats: &stats,
                masters: &masters,
                down: &down,
                containers: &containers,
                with_subdots: true,
            };
            let mut info = self.branch_info(b, &l, commits.len(), &f);
            if with_replicas {
                info.replicas = self.replicas(b, &commits, masters.get(&b.fs_id), &alive)?;
            }
            infos.push(info);
        }
        Ok(DotInfo {
            namespace: l.dot.namespace.clone(),
            name: l.dot.name.clone(),
            id: l.dot.id.clone(),
            branches: infos,
            in_use_by: self.dot_users(&l),
        })
    }

    /// Every node's copy of branch `b` whose commits are `commits`: the master's, those the
    /// registry records (`replicas/`), and live nodes without one yet.
    fn replicas(
        &self,
        b: &BranchRecord,
        commits: &[crate::cluster::CommitRecord],
        master: Option<&NodeId>,
        alive: &BTreeSet<NodeId>,
    ) -> Result<Vec<ReplicaInfo>> {
        let held = self.core.store.replicas(&b.fs_id)?;
        let mut nodes: BTreeSet<NodeId> = alive.clone();
        nodes.extend(held.keys().cloned());
        nodes.extend(master.cloned());
        let newest = commits.last().map(|c| c.id.to_string());
        Ok(nodes
            .into_iter()
            .map(|node| {
                let is_master = master == Some(&node);
                // The master made the commits: it has them all.
                let have = if is_master {
                    newest.clone()
                } else {
                    held.get(&node).map(|c| c.to_string())
                };
                let behind = match &have {
                    Some(h) => commits
                        .iter()
                        .position(|c| c.id.as_str() == h)
                        .map_or(commits.len(), |i| commits.len() - 1 - i),
                    None => commits.len(),
                };
                ReplicaInfo {
                    alive: alive.contains(&node),
                    master: is_master,
                    newest_commit: have,
                    behind,
                    up_to_date: behind == 0,
                    node,
                }
            })
            .collect())
    }

    /// Processes (pid and command) using any branch of a loaded dot on this node.
    pub(super) fn dot_users(&self, l: &Loaded) -> Vec<String> {
        let mps: Vec<PathBuf> = l
            .branches
            .iter()
            .map(|b| self.core.mountpoint(&b.fs_id))
            .collect();
        let refs: Vec<&Path> = mps.iter().map(PathBuf::as_path).collect();
        procs::users_of(&refs)
    }

    pub fn branches(&self, user: &Principal, ns: &str, name: &str) -> Result<Vec<BranchInfo>> {
        let mut v = self.describe(user, ns, name, false)?.branches;
        v.retain(|b| !b.hidden);
        Ok(v)
    }
}
