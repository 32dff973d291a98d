//! Unit tests of the node's logic on the storage simulator and an in-memory registry: no root,
//! zfs-fuse or etcd. The end-to-end suites under `tests/` run the same verbs on real ZFS.

mod dots;
mod handoff;
mod prune;
mod recovery;
mod reset;
mod storage;
mod tags;
mod transfer;
mod views;

use std::sync::Arc;

use super::DaemonError;
use super::core::Core;
use super::intent::Journal;
use super::mounts::MountTable;
use super::node::Node;
use super::peer::Peers;
use crate::api;
use crate::cluster::memory::MemoryKv;
use crate::cluster::{CommitId, FsId, Kv, Store};
use crate::storage::sim::SimStorage;
use crate::storage::{Ds, Storage};

pub const ADMIN: &str = super::ADMIN;
pub const AS_ADMIN: &Principal = &Principal::Admin;
pub use super::Principal;

/// One registry shared by the nodes of a simulated cluster. Writes to keys containing a chosen
/// text can be made to fail, as if the daemon died just before them.
#[derive(Clone, Default)]
pub struct SharedKv(Arc<MemoryKv>, Arc<std::sync::Mutex<Option<String>>>);

impl SharedKv {
    /// Makes every `put` of a key containing `text` fail until [`SharedKv::heal`].
    pub fn fail_puts(&self, text: &str) {
        *self.1.lock().unwrap() = Some(text.to_string());
    }

    pub fn heal(&self) {
        *self.1.lock().unwrap() = None;
    }
}

impl Kv for SharedKv {
    fn get(&self, key: &str) -> crate::cluster::Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn list(&self, prefix: &str) -> crate::cluster::Result<Vec<(String, Vec<u8>)>> {
        self.0.list(prefix)
    }
    fn list_keys(&self, prefix: &str) -> crate::cluster::Result<Vec<String>> {
        self.0.list_keys(prefix)
    }
    fn put(&self, key: &str, value: &[u8]) -> crate::cluster::Result<()> {
        if let Some(text) = self.1.lock().unwrap().as_deref()
            && key.contains(text)
        {
            return Err(crate::cluster::RegistryError::unavailable(
                "memory",
                "injected: the daemon died before this write",
            ));
        }
        self.0.put(key, value)
    }
    fn put_all_if_absent(
        &self,
        guard: &str,
        puts: &[(String, Vec<u8>)],
    ) -> crate::cluster::Result<bool> {
        self.0.put_all_if_absent(guard, puts)
    }
    fn write_all(
        &self,
        puts: &[(String, Vec<u8>)],
        keys: &[String],
        prefixes: &[String],
    ) -> crate::cluster::Result<()> {
        if let Some(text) = self.1.lock().unwrap().as_deref()
            && puts.iter().any(|(k, _)| k.contains(text))
        {
            return Err(crate::cluster::RegistryError::unavailable(
                "memory",
                "injected: the daemon died before this write",
            ));
        }
        self.0.write_all(puts, keys, prefixes)
    }
    fn swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> crate::cluster::Result<bool> {
        self.0.swap(key, expected, new)
    }
    fn put_ephemeral(&self, key: &str, value: &[u8], ttl: i64) -> crate::cluster::Result<()> {
        self.0.put_ephemeral(key, value, ttl)
    }
}

/// A node on simulated storage, with its scratch directory.
pub struct Sim {
    pub node: Node,
    pub storage: Arc<SimStorage>,
    pub kv: SharedKv,
    pub dir: tempfile::TempDir,
}

impl Sim {
    /// A node `id` with its own pool and registry.
    pub fn new() -> Sim {
        Sim::with("n1", SharedKv::default())
    }

    /// A node `id` on registry `kv` (shared with other nodes of the same cluster).
    pub fn with(id: &str, kv: SharedKv) -> Sim {
        Self::with_grace(id, kv, std::time::Duration::ZERO)
    }

    /// [`Sim::with`], keeping hidden branches for `grace` (the others reclaim at once).
    pub fn with_grace(id: &str, kv: SharedKv, grace: std::time::Duration) -> Sim {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let storage = Arc::new(SimStorage::new(
            &format!("pool-{id}"),
            &dir.path().join("mnt"),
        ));
        let node = Self::node_on(id, &storage, &kv, dir.path(), grace);
        node.recover().expect("a fresh node starts");
        Sim {
            node,
            storage,
            kv,
            dir,
        }
    }

    fn node_on(
        id: &str,
        storage: &Arc<SimStorage>,
        kv: &SharedKv,
        dir: &std::path::Path,
        grace: std::time::Duration,
    ) -> Node {
        let mut core = Core::new(
            id.into(),
            storage.clone(),
            Store::new(Box::new(kv.clone())),
            MountTable::load(dir.join("mounts.json")),
            Peers::new("cluster-secret-for-tests"),
            Journal::new(&dir.join("intents")),
        );
        core.undo_grace = grace;
        core.busy_grace = std::time::Duration::ZERO;
        Node::new(core, None)
    }

    /// The same pool and state directory, as after a restart, on registry `kv`.
    pub fn restart_on(&self, kv: SharedKv) -> Node {
        let grace = self.node.core.undo_grace;
        Self::node_on(
            &self.node.core.id,
            &self.storage,
            &kv,
            self.dir.path(),
            grace,
        )
    }

    pub fn dot(&self, name: &str) -> api::DotInfo {
        self.node
            .dots
            .create_dot(
                AS_ADMIN,
                &api::CreateDot {
                    namespace: ADMIN.into(),
                    name: name.into(),
                },
            )
            .expect("the dot is created")
    }

    /// Where branch `branch` of admin's dot `dot` shows its default subdot (mounted here).
    pub fn path(&self, dot: &str, branch: &str) -> std::path::PathBuf {
        let p = self
            .node
            .subdots
            .subdot_path(
                AS_ADMIN,
                crate::routes::At::new((ADMIN, dot, branch)),
                "__default__",
                true,
                None,
            )
            .expect("the subdot opens");
        p.path.into()
    }

    pub fn write(&self, dot: &str, branch: &str, file: &str, content: &str) {
        std::fs::write(self.path(dot, branch).join(file), content).expect("writable");
    }

    pub fn read(&self, dot: &str, branch: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path(dot, branch).join(file)).ok()
    }

    pub fn commit(&self, dot: &str, branch: &str, msg: &str) -> CommitId {
        self.try_commit(dot, branch, msg).expect("committed")
    }

    pub fn try_commit(&self, dot: &str, branch: &str, msg: &str) -> Result<CommitId, DaemonError> {
        self.node
            .dots
            .commit(
                AS_ADMIN,
                ADMIN,
                dot,
                branch,
                &api::CreateCommit {
                    message: msg.into(),
                    metadata: Default::default(),
                },
            )
            .map(|c| c.id)
    }

    pub fn branch(
        &self,
        dot: &str,
        name: &str,
        from: &str,
        commit: Option<&str>,
    ) -> Result<api::BranchInfo, DaemonError> {
        self.node.dots.create_branch(
            AS_ADMIN,
            ADMIN,
            dot,
            &api::CreateBranch {
                name: name.into(),
                from_branch: from.into(),
                from_commit: commit.map(str::to_string),
            },
        )
    }

    pub fn reset(
        &self,
        dot: &str,
        branch: &str,
        commit: &str,
    ) -> Result<api::ResetDone, DaemonError> {
        self.node.dots.reset(
            AS_ADMIN,
            ADMIN,
            dot,
            branch,
            &api::Reset {
                commit: commit.into(),
                force: false,
            },
        )
    }

    /// Commit messages of a branch, newest first.
    pub fn log(&self, dot: &str, branch: &str) -> Vec<String> {
        self.node
            .dots
            .log(AS_ADMIN, ADMIN, dot, branch)
            .expect("the log reads")
            .into_iter()
            .map(|c| c.message)
            .collect()
    }

    /// Commit ids of a branch, newest first.
    pub fn log_ids(&self, dot: &str, branch: &str) -> Vec<String> {
        self.node
            .dots
            .log(AS_ADMIN, ADMIN, dot, branch)
            .expect("the log reads")
            .into_iter()
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Tags commit `commit` of master in dot `d` as `name`.
    pub fn tag(&self, name: &str, commit: &str) {
        self.node
            .dots
            .create_tag(
                AS_ADMIN,
                ADMIN,
                "d",
                &api::CreateTag {
                    name: name.into(),
                    branch: None,
                    commit: Some(commit.into()),
                },
            )
            .expect("tagged");
    }

    /// How many branches dot `dot` has.
    pub fn branch_count(&self, dot: &str) -> usize {
        self.node
            .inventory
            .branches(AS_ADMIN, ADMIN, dot)
            .expect("branches")
            .len()
    }

    pub fn fs_id(&self, dot: &str, branch: &str) -> FsId {
        self.node
            .inventory
            .branches(AS_ADMIN, ADMIN, dot)
            .expect("branches")
            .into_iter()
            .find(|b| b.name == branch)
            .expect("the branch exists")
            .filesystem_id
    }

    /// Snapshot names of branch `branch`'s filesystem.
    pub fn snaps(&self, dot: &str, branch: &str) -> Vec<String> {
        let fs = self.fs_id(dot, branch);
        self.storage.snapshots(Ds::Branch(&fs)).expect("listed")
    }

    /// Checks that the registry and the simulated pool agree for every branch of `dot`.
    pub fn assert_consistent(&self, dot: &str) {
        for b in self
            .node
            .inventory
            .branches(AS_ADMIN, ADMIN, dot)
            .expect("branches")
        {
            let id = FsId::from(b.filesystem_id.as_str());
            let fs = Ds::Branch(&id);
            assert!(
                self.storage.exists(fs).unwrap(),
                "branch {} has no filesystem",
                b.name
            );
            let snaps = self.storage.snapshots(fs).unwrap();
            let commits = self.node.core.store().commits(&b.filesystem_id).unwrap();
            let ids: Vec<&str> = commits.iter().map(|c| c.id.as_str()).collect();
            let commit_snaps: Vec<&str> = snaps
                .iter()
                .map(String::as_str)
                .filter(|s| !s.starts_with("dm"))
                .collect();
            assert_eq!(
                ids, commit_snaps,
                "registry and pool disagree on branch {}",
                b.name
            );
        }
        assert!(
            !self
                .storage
                .tree()
                .keys()
                .any(|k| k.ends_with("-reset") || k.contains("/recv-")),
            "leftovers: {:?}",
            self.storage.tree()
        );
    }
}

/// The error's variant name and message, for asserting on both.
pub fn kind(e: &DaemonError) -> &'static str {
    match e {
        DaemonError::BadRequest(_) => "BadRequest",
        DaemonError::Forbidden(_) => "Forbidden",
        DaemonError::NotFound(_) => "NotFound",
        DaemonError::Conflict(_) => "Conflict",
        DaemonError::InUse(_) => "InUse",
        DaemonError::PoolFull(_) => "PoolFull",
        DaemonError::Zfs(_) => "Zfs",
        DaemonError::Unsettled { .. } => "Unsettled",
        _ => "other",
    }
}
