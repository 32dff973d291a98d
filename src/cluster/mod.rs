//! The cluster registry: a key-value [`Kv`] trait with the etcd implementation, and [`Store`],
//! the typed layer that knows the key layout (see `docs/design/registry.md`).
//!
//! Key layout under the `dm/` prefix, designed for many nodes:
//! - `servers/<node>`: [`ServerRecord`], attached to a lease so it vanishes when a node dies
//! - `users/<name>`: [`UserRecord`]
//! - `join-tokens/<id>`: [`JoinTokenRecord`]
//! - `dots/<ns>/<name>`: [`DotRecord`]
//! - `branches/<dot-id>/<branch>`: [`BranchRecord`]
//! - `commits/<fs-id>/<commit-id>`: [`CommitRecord`]
//! - `masters/<fs-id>`: the node id that holds the branch's writable filesystem
//! - `replicas/<fs-id>/<node>`: the newest commit that node holds of that filesystem
//! - `deleted/<fs-id>`: tombstone of a deleted branch, so nodes that were away destroy their copy
//!   instead of re-registering it
//! - `tags/<dot-id>/<name>`, `shared/<dot-id>/<pairing>`: tags; commits shared with other clusters
//! - `ops/<ns>/<seq>`: the operation log; `hidden/<dot-id>/<fs-id>`: hidden branches (see `ops`)

pub mod etcd;
#[cfg(test)]
pub mod memory;
mod ops;
mod settings;
mod tags;

pub use ops::{HiddenDot, OpRecord, Undo};
pub use settings::DotSettings;
pub use tags::TagRecord;

use std::collections::BTreeMap;

pub use crate::ids::{CommitId, DotId, FsId, NodeId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// etcd did not answer, or answered that it cannot serve now; `kind` says which.
    #[error("{}", .kind.explain(endpoints, detail))]
    Unavailable {
        endpoints: String,
        detail: String,
        kind: Outage,
    },
    #[error("etcd error: {0}")]
    Etcd(String),
    #[error("corrupt registry value at {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

pub type Result<T> = std::result::Result<T, RegistryError>;

/// Why etcd cannot serve a request: the fix differs, so the message does too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No connection: etcd is down or the address is wrong.
    Unreachable,
    /// etcd runs but a majority of its members cannot be reached.
    NoQuorum,
    /// etcd runs and is electing a leader: settles within seconds.
    Election,
    /// etcd runs and refused a membership change because a member joined or restarted
    /// seconds ago.
    Unhealthy,
}

impl Outage {
    /// From etcd's own words (gRPC status message or transport error).
    pub fn of(detail: &str) -> Outage {
        let d = detail.to_lowercase();
        if d.contains("unhealthy cluster") {
            Outage::Unhealthy
        } else if d.contains("leader changed") || d.contains("election") {
            Outage::Election
        } else if d.contains("no leader")
            || d.contains("request timed out")
            || d.contains("timed out due to")
        {
            Outage::NoQuorum
        } else {
            Outage::Unreachable
        }
    }

    fn explain(&self, endpoints: &str, detail: &str) -> String {
        match self {
            Outage::Unreachable => format!(
                "etcd is unreachable at {endpoints} ({detail}); check that it runs (its log is in the state dir)"
            ),
            Outage::NoQuorum => format!(
                "etcd at {endpoints} runs but has no quorum ({detail}): too few of the cluster's nodes are reachable from it; `dm cluster nodes` shows which are down — start them again or mend the network"
            ),
            Outage::Election => format!(
                "etcd at {endpoints} is electing a new leader ({detail}); this settles by itself within seconds — try again"
            ),
            Outage::Unhealthy => format!(
                "etcd at {endpoints} runs but refused the membership change ({detail}): a member joined or restarted seconds ago and etcd waits until it is in touch; try again in a few seconds"
            ),
        }
    }
}

impl RegistryError {
    pub fn unavailable(endpoints: &str, detail: &str) -> RegistryError {
        RegistryError::Unavailable {
            endpoints: endpoints.to_string(),
            detail: detail.to_string(),
            kind: Outage::of(detail),
        }
    }
}

/// A key-value store with prefix reads and guarded multi-key writes; etcd in production.
pub trait Kv: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// All keys under `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Keys under `prefix`, sorted, without values.
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>>;
    fn put(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Writes all `puts` at once if `guard` does not exist; returns whether it did.
    fn put_all_if_absent(&self, guard: &str, puts: &[(String, Vec<u8>)]) -> Result<bool>;
    /// Writes `puts`, then deletes the given keys and every key under the given prefixes, at once.
    fn write_all(
        &self,
        puts: &[(String, Vec<u8>)],
        keys: &[String],
        prefixes: &[String],
    ) -> Result<()>;
    /// Sets `key` to `new` (`None` deletes it) only if it now holds `expected` (`None`: absent).
    fn swap(&self, key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool>;
    /// Keeps `key` = `value` alive while this process runs, re-creating it if its lease is lost.
    fn put_ephemeral(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<()>;
}

const PREFIX: &str = "dm/";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServerRecord {
    pub id: NodeId,
    pub addresses: Vec<String>,
    pub api_port: u16,
    pub version: String,
    /// The API's TLS certificate (PEM) when it serves HTTPS; other nodes trust exactly this one.
    #[serde(default)]
    pub tls_cert: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub name: String,
    pub api_key_sha256: String,
    /// The user's password, as a PBKDF2 hash (`dm user passwd`); none until one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The API key sealed with a key derived from the password, so `dm user key` can show it
    /// to whoever knows the password; the key itself is never stored in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
}

/// A join token (`dm cluster token create`): it lets a new node join, nothing else, until it
/// expires. Only its secret's hash is stored.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct JoinTokenRecord {
    pub id: String,
    pub secret_sha256: String,
    /// Unix seconds.
    pub created: u64,
    pub expires: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DotRecord {
    pub id: DotId,
    pub namespace: String,
    pub name: String,
    pub created: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BranchRecord {
    pub name: String,
    pub fs_id: FsId,
    /// The branch and commit this branch was cloned from (`None` for master).
    pub origin: Option<OriginRecord>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OriginRecord {
    pub fs_id: FsId,
    pub commit: CommitId,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CommitRecord {
    pub id: CommitId,
    pub message: String,
    pub author: String,
    pub time: u64,
    /// Orders commits of one filesystem (ZFS createtxg at snapshot time).
    pub seq: u64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("registry records always serialise")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

/// Typed access to the registry.
pub struct Store {
    kv: Box<dyn Kv>,
}

pub fn dot_key(ns: &str, name: &str) -> String {
    format!("{PREFIX}dots/{ns}/{name}")
}
fn branch_key(dot_id: &str, branch: &str) -> String {
    format!("{PREFIX}branches/{dot_id}/{branch}")
}
fn commit_key(fs_id: &str, commit: &str) -> String {
    format!("{PREFIX}commits/{fs_id}/{commit}")
}
fn shared_prefix(dot_id: &str) -> String {
    format!("{PREFIX}shared/{dot_id}/")
}

fn user_key(name: &str) -> String {
    format!("{PREFIX}users/{name}")
}

fn master_key(fs_id: &str) -> String {
    format!("{PREFIX}masters/{fs_id}")
}
fn deleted_key(fs_id: &str) -> String {
    format!("{PREFIX}deleted/{fs_id}")
}

/// Key prefixes other nodes watch to replicate: commits, branches, masters and tombstones.
pub const WATCHED: &[&str] = &["dm/commits/", "dm/masters/", "dm/deleted/"];

/// The filesystem id a watched key is about.
pub fn fs_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (kind, rest) = rest.split_once('/')?;
    match kind {
        "commits" | "masters" | "deleted" | "replicas" => rest.split('/').next(),
        _ => None,
    }
}

/// Tombstones of `branches`, each holding its seal (see `daemon::seal`): nodes destroy their
/// copy only for a tombstone sealed with the cluster's secret.
fn tombstones(branches: &[BranchRecord], seal: &dyn Fn(&str) -> String) -> Vec<(String, Vec<u8>)> {
    branches
        .iter()
        .map(|b| (deleted_key(&b.fs_id), seal(&b.fs_id).into_bytes()))
        .collect()
}

impl Store {
    pub fn new(kv: Box<dyn Kv>) -> Store {
        Store { kv }
    }

    fn list_decoded<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        self.kv
            .list(prefix)?
            .iter()
            .map(|(k, v)| decode(k, v))
            .collect()
    }

    pub fn register_server(&self, s: &ServerRecord, ttl_secs: i64) -> Result<()> {
        let key = format!("{PREFIX}servers/{}", s.id);
        self.kv.put_ephemeral(&key, &encode(s), ttl_secs)
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let key = user_key(name);
        self.kv.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Registers a new user unless the name is taken; returns whether it did.
    pub fn create_user(&self, u: &UserRecord) -> Result<bool> {
        let key = user_key(&u.name);
        self.kv.put_all_if_absent(&key, &[(key.clone(), encode(u))])
    }

    /// Every user but admin (whose key is each node's), by name.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        self.list_decoded(&format!("{PREFIX}users/"))
    }

    /// Removes user record `old`, unless it changed in between (then false).
    pub fn delete_user(&self, old: &UserRecord) -> Result<bool> {
        let key = user_key(&old.name);
        self.kv.swap(&key, Some(&encode(old)), None)
    }

    /// Replaces user record `old` with `new`, unless it changed in between (then false).
    pub fn update_user(&self, old: &UserRecord, new: &UserRecord) -> Result<bool> {
        let key = user_key(&old.name);
        self.kv.swap(&key, Some(&encode(old)), Some(&encode(new)))
    }

    pub fn put_join_token(&self, t: &JoinTokenRecord) -> Result<()> {
        self.kv
            .put(&format!("{PREFIX}join-tokens/{}", t.id), &encode(t))
    }

    pub fn join_token(&self, id: &str) -> Result<Option<JoinTokenRecord>> {
        let key = format!("{PREFIX}join-tokens/{id}");
        self.kv.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    pub fn join_tokens(&self) -> Result<Vec<JoinTokenRecord>> {
        self.list_decoded(&format!("{PREFIX}join-tokens/"))
    }

    pub fn delete_join_token(&self, id: &str) -> Result<()> {
        self.kv
            .write_all(&[], &[format!("{PREFIX}join-tokens/{id}")], &[])
    }

    pub fn dot(&self, ns: &str, name: &str) -> Result<Option<DotRecord>> {
        let key = dot_key(ns, name);
        self.kv.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Dots in `namespace`, or in all namespaces.
    pub fn dots(&self, namespace: Option<&str>) -> Result<Vec<DotRecord>> {
        match namespace {
            Some(ns) => self.list_decoded(&format!("{PREFIX}dots/{ns}/")),
            None => self.list_decoded(&format!("{PREFIX}dots/")),
        }
    }

    /// Registers a new dot with its master branch, unless the name is taken; returns whether it did.
    pub fn create_dot(
        &self,
        dot: &DotRecord,
        master: &BranchRecord,
        node: &NodeId,
    ) -> Result<bool> {
        let key = dot_key(&dot.namespace, &dot.name);
        let puts = vec![
            (key.clone(), encode(dot)),
            (branch_key(&dot.id, &master.name), encode(master)),
            (master_key(&master.fs_id), node.as_bytes().to_vec()),
        ];
        self.kv.put_all_if_absent(&key, &puts)
    }

    /// Re-creates records found on disk but missing from the registry (never overwrites).
    pub fn adopt_dot(&self, dot: &DotRecord) -> Result<bool> {
        let key = dot_key(&dot.namespace, &dot.name);
        self.kv
            .put_all_if_absent(&key, &[(key.clone(), encode(dot))])
    }

    /// Re-registers a branch found on disk; `node` claims its master record if nobody holds it.
    pub fn adopt_branch(
        &self,
        dot_id: &DotId,
        b: &BranchRecord,
        node: Option<&NodeId>,
    ) -> Result<bool> {
        let key = branch_key(dot_id, &b.name);
        let done = self
            .kv
            .put_all_if_absent(&key, &[(key.clone(), encode(b))])?;
        if let Some(node) = node {
            let mkey = master_key(&b.fs_id);
            self.kv
                .put_all_if_absent(&mkey, &[(mkey.clone(), node.as_bytes().to_vec())])?;
        }
        Ok(done)
    }

    pub fn adopt_commit(&self, fs_id: &FsId, c: &CommitRecord) -> Result<bool> {
        let key = commit_key(fs_id, &c.id);
        self.kv.put_all_if_absent(&key, &[(key.clone(), encode(c))])
    }

    pub fn delete_dot(
        &self,
        dot: &DotRecord,
        branches: &[BranchRecord],
        seal: &dyn Fn(&str) -> String,
    ) -> Result<()> {
        let mut keys = vec![
            dot_key(&dot.namespace, &dot.name),
            ops::hidden_dot_key(&dot.id),
            settings::key(&dot.id),
        ];
        let mut prefixes = vec![
            format!("{PREFIX}branches/{}/", dot.id),
            tags::tags_prefix(&dot.id),
            shared_prefix(&dot.id),
            ops::hidden_prefix(&dot.id),
        ];
        for b in branches {
            keys.push(master_key(&b.fs_id));
            prefixes.push(format!("{PREFIX}commits/{}/", b.fs_id));
            prefixes.push(format!("{PREFIX}replicas/{}/", b.fs_id));
        }
        self.kv
            .write_all(&tombstones(branches, seal), &keys, &prefixes)
    }

    /// Records that `commit` is the newest commit a branch of dot `dot_id` has in common with
    /// a branch of another cluster (`key` names that pairing): pruning keeps it, so the next
    /// push or pull there still has a base.
    pub fn set_shared(&self, dot_id: &DotId, key: &str, commit: &CommitId) -> Result<()> {
        self.kv.put(
            &format!("{}{key}", shared_prefix(dot_id)),
            commit.as_bytes(),
        )
    }

    /// The commits dot `dot_id` shares with other clusters (see [`Store::set_shared`]).
    pub fn shared(&self, dot_id: &DotId) -> Result<Vec<CommitId>> {
        Ok(self
            .kv
            .list(&shared_prefix(dot_id))?
            .into_iter()
            .map(|(_, v)| CommitId::from(String::from_utf8_lossy(&v).into_owned()))
            .collect())
    }

    pub fn branches(&self, dot_id: &DotId) -> Result<Vec<BranchRecord>> {
        self.list_decoded(&format!("{PREFIX}branches/{dot_id}/"))
    }

    /// Every branch of every dot, keyed by dot id (one range read, for `dm list`).
    pub fn all_branches(&self) -> Result<BTreeMap<DotId, Vec<BranchRecord>>> {
        let prefix = format!("{PREFIX}branches/");
        let mut out: BTreeMap<DotId, Vec<BranchRecord>> = BTreeMap::new();
        for (k, v) in self.kv.list(&prefix)? {
            let dot_id = k[prefix.len()..].split('/').next().unwrap_or_default();
            out.entry(dot_id.into()).or_default().push(decode(&k, &v)?);
        }
        Ok(out)
    }

    pub fn create_branch(&self, dot_id: &DotId, b: &BranchRecord, node: &NodeId) -> Result<bool> {
        let key = branch_key(dot_id, &b.name);
        let puts = vec![
            (key.clone(), encode(b)),
            (master_key(&b.fs_id), node.as_bytes().to_vec()),
        ];
        self.kv.put_all_if_absent(&key, &puts)
    }

    /// Removes a branch with its commits and master record.
    pub fn delete_branch(
        &self,
        dot_id: &DotId,
        b: &BranchRecord,
        seal: &dyn Fn(&str) -> String,
    ) -> Result<()> {
        self.kv.write_all(
            &tombstones(std::slice::from_ref(b), seal),
            &[branch_key(dot_id, &b.name), master_key(&b.fs_id)],
            &[
                format!("{PREFIX}commits/{}/", b.fs_id),
                format!("{PREFIX}replicas/{}/", b.fs_id),
            ],
        )
    }

    pub fn put_branch(&self, dot_id: &DotId, b: &BranchRecord) -> Result<()> {
        self.kv.put(&branch_key(dot_id, &b.name), &encode(b))
    }

    pub fn put_commit(&self, fs_id: &FsId, c: &CommitRecord) -> Result<()> {
        self.kv.put(&commit_key(fs_id, &c.id), &encode(c))
    }

    /// A hand-down (see the daemon's `handdown`), in one write: `moved` commits go from
    /// filesystem `from` to branch `heir` (written with its new origin), the branches in
    /// `rehomed` and the tags in `tags` are written as given.
    pub fn hand_down(
        &self,
        dot_id: &DotId,
        from: &FsId,
        heir: &BranchRecord,
        moved: &[CommitRecord],
        rehomed: &[BranchRecord],
        tags: &[(String, tags::TagRecord)],
    ) -> Result<()> {
        let mut puts = vec![(branch_key(dot_id, &heir.name), encode(heir))];
        puts.extend(
            rehomed
                .iter()
                .map(|b| (branch_key(dot_id, &b.name), encode(b))),
        );
        puts.extend(
            moved
                .iter()
                .map(|c| (commit_key(&heir.fs_id, &c.id), encode(c))),
        );
        puts.extend(
            tags.iter()
                .map(|(n, t)| (tags::tag_key(dot_id, n), encode(t))),
        );
        let gone: Vec<String> = moved.iter().map(|c| commit_key(from, &c.id)).collect();
        self.kv.write_all(&puts, &gone, &[])
    }

    /// Commits of one filesystem, oldest first.
    pub fn commits(&self, fs_id: &FsId) -> Result<Vec<CommitRecord>> {
        let mut v: Vec<CommitRecord> = self.list_decoded(&format!("{PREFIX}commits/{fs_id}/"))?;
        v.sort_by_key(|c| (c.seq, c.time));
        Ok(v)
    }

    /// Number of commits per filesystem id (keys only: cheap even with many commits).
    pub fn commit_counts(&self) -> Result<BTreeMap<FsId, usize>> {
        let prefix = format!("{PREFIX}commits/");
        let mut out: BTreeMap<FsId, usize> = BTreeMap::new();
        for k in self.kv.list_keys(&prefix)? {
            let fs = k[prefix.len()..].split('/').next().unwrap_or_default();
            *out.entry(fs.into()).or_default() += 1;
        }
        Ok(out)
    }

    /// Commits of every filesystem, keyed by filesystem id, oldest first.
    pub fn all_commits(&self) -> Result<BTreeMap<FsId, Vec<CommitRecord>>> {
        let prefix = format!("{PREFIX}commits/");
        let mut out: BTreeMap<FsId, Vec<CommitRecord>> = BTreeMap::new();
        for (k, v) in self.kv.list(&prefix)? {
            let fs = k[prefix.len()..].split('/').next().unwrap_or_default();
            out.entry(fs.into()).or_default().push(decode(&k, &v)?);
        }
        for list in out.values_mut() {
            list.sort_by_key(|c| (c.seq, c.time));
        }
        Ok(out)
    }

    pub fn delete_commits(&self, fs_id: &FsId, ids: &[CommitId]) -> Result<()> {
        let keys: Vec<String> = ids.iter().map(|c| commit_key(fs_id, c)).collect();
        self.kv.write_all(&[], &keys, &[])
    }

    /// Live servers (their records vanish with their lease).
    pub fn servers(&self) -> Result<Vec<ServerRecord>> {
        self.list_decoded(&format!("{PREFIX}servers/"))
    }

    pub fn server(&self, id: &NodeId) -> Result<Option<ServerRecord>> {
        let key = format!("{PREFIX}servers/{id}");
        self.kv.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    pub fn master(&self, fs_id: &FsId) -> Result<Option<NodeId>> {
        Ok(self
            .kv
            .get(&master_key(fs_id))?
            .map(|v| String::from_utf8_lossy(&v).into_owned().into()))
    }

    /// Moves the master of `fs_id` from `from` (`None`: no master) to `to`; false if it was not
    /// `from` any more (another node won).
    pub fn move_master(&self, fs_id: &FsId, from: Option<&NodeId>, to: &NodeId) -> Result<bool> {
        self.kv.swap(
            &master_key(fs_id),
            from.map(|n| n.as_bytes()),
            Some(to.as_bytes()),
        )
    }

    /// Gives up mastership of `fs_id` if `node` holds it (a node leaving the cluster).
    pub fn drop_master(&self, fs_id: &FsId, node: &NodeId) -> Result<bool> {
        self.kv
            .swap(&master_key(fs_id), Some(node.as_bytes()), None)
    }

    /// The tombstone of `fs_id`, if any (its seal, still to be checked).
    pub fn tombstone(&self, fs_id: &FsId) -> Result<Option<Vec<u8>>> {
        self.kv.get(&deleted_key(fs_id))
    }

    /// Every tombstone: filesystem id and seal, still to be checked.
    pub fn tombstones(&self) -> Result<BTreeMap<FsId, Vec<u8>>> {
        let prefix = format!("{PREFIX}deleted/");
        Ok(self
            .kv
            .list(&prefix)?
            .into_iter()
            .map(|(k, v)| (k[prefix.len()..].into(), v))
            .collect())
    }

    /// Records that `node` holds `fs_id` up to `commit`.
    pub fn set_replica(&self, fs_id: &FsId, node: &NodeId, commit: &CommitId) -> Result<()> {
        self.kv.put(
            &format!("{PREFIX}replicas/{fs_id}/{node}"),
            commit.as_bytes(),
        )
    }

    /// Newest commit held per node, for one filesystem.
    pub fn replicas(&self, fs_id: &FsId) -> Result<BTreeMap<NodeId, CommitId>> {
        self.list_text(&format!("{PREFIX}replicas/{fs_id}/"))
    }

    /// Master node per filesystem id.
    pub fn all_masters(&self) -> Result<BTreeMap<FsId, NodeId>> {
        self.list_text(&format!("{PREFIX}masters/"))
    }

    /// Plain-text values under `prefix`, keyed by the rest of their key.
    fn list_text<K: From<String> + Ord, V: From<String>>(
        &self,
        prefix: &str,
    ) -> Result<BTreeMap<K, V>> {
        Ok(self
            .kv
            .list(prefix)?
            .into_iter()
            .map(|(k, v)| {
                (
                    k[prefix.len()..].to_string().into(),
                    String::from_utf8_lossy(&v).into_owned().into(),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_outages_are_told_apart_by_etcds_own_words() {
        assert_eq!(
            Outage::of("etcdserver: unhealthy cluster"),
            Outage::Unhealthy
        );
        assert_eq!(Outage::of("etcdserver: leader changed"), Outage::Election);
        assert_eq!(Outage::of("etcdserver: no leader"), Outage::NoQuorum);
        assert_eq!(
            Outage::of("etcdserver: request timed out"),
            Outage::NoQuorum
        );
        assert_eq!(Outage::of("transport error"), Outage::Unreachable);
        let e = RegistryError::unavailable("https://x:1", "etcdserver: no leader");
        assert!(e.to_string().contains("no quorum"), "{e}");
        assert!(e.to_string().contains("dm cluster nodes"), "{e}");
    }

    fn store() -> Store {
        Store::new(Box::new(memory::MemoryKv::default()))
    }

    fn dot(name: &str) -> DotRecord {
        DotRecord {
            id: format!("id-{name}").into(),
            namespace: "admin".into(),
            name: name.into(),
            created: 1,
        }
    }

    fn master(fs: &str) -> BranchRecord {
        BranchRecord {
            name: "master".into(),
            fs_id: fs.into(),
            origin: None,
        }
    }

    #[test]
    fn create_dot_claims_the_name_once() {
        let s = store();
        assert!(
            s.create_dot(&dot("a"), &master("fs1"), &"n1".into())
                .unwrap()
        );
        assert!(
            !s.create_dot(&dot("a"), &master("fs2"), &"n1".into())
                .unwrap()
        );
        assert_eq!(s.branches(&"id-a".into()).unwrap(), vec![master("fs1")]);
        let masters = s.all_masters().unwrap();
        assert_eq!(masters.get("fs1").map(|m| m.as_str()), Some("n1"));
        assert!(!masters.contains_key("fs2"));
    }

    #[test]
    fn delete_dot_removes_branches_commits_masters_and_settings_only_of_that_dot() {
        let s = store();
        s.create_dot(&dot("a"), &master("fs1"), &"n1".into())
            .unwrap();
        s.create_dot(&dot("ab"), &master("fs10"), &"n1".into())
            .unwrap();
        let c = CommitRecord {
            id: "c1".into(),
            message: "m".into(),
            author: "admin".into(),
            time: 1,
            seq: 1,
            metadata: BTreeMap::new(),
        };
        s.put_commit(&"fs1".into(), &c).unwrap();
        s.put_commit(&"fs10".into(), &c).unwrap();
        let moving = DotSettings {
            move_containers: true,
            containers_branch: None,
        };
        s.put_dot_settings(&dot("a").id, &moving).unwrap();
        s.put_dot_settings(&dot("ab").id, &moving).unwrap();
        s.delete_dot(&dot("a"), &[master("fs1")], &|fs| format!("seal-{fs}"))
            .unwrap();
        assert_eq!(
            s.dot_settings(&dot("a").id).unwrap(),
            DotSettings::default()
        );
        assert_eq!(s.dot_settings(&dot("ab").id).unwrap(), moving);
        assert!(s.dot("admin", "a").unwrap().is_none());
        assert!(s.commits(&"fs1".into()).unwrap().is_empty());
        assert_eq!(s.commits(&"fs10".into()).unwrap().len(), 1);
        assert!(s.dot("admin", "ab").unwrap().is_some());
        assert_eq!(s.all_masters().unwrap().len(), 1);
        assert_eq!(
            s.tombstone(&"fs1".into()).unwrap(),
            Some(b"seal-fs1".to_vec())
        );
        assert!(s.tombstone(&"fs10".into()).unwrap().is_none());
    }

    #[test]
    fn master_moves_only_from_the_expected_node() {
        let s = store();
        s.create_dot(&dot("a"), &master("fs1"), &"n1".into())
            .unwrap();
        assert!(
            !s.move_master(&"fs1".into(), Some(&"n2".into()), &"n3".into())
                .unwrap()
        );
        assert!(
            s.move_master(&"fs1".into(), Some(&"n1".into()), &"n2".into())
                .unwrap()
        );
        assert_eq!(s.master(&"fs1".into()).unwrap().as_deref(), Some("n2"));
        assert!(!s.drop_master(&"fs1".into(), &"n1".into()).unwrap());
        assert!(s.drop_master(&"fs1".into(), &"n2".into()).unwrap());
        assert!(s.move_master(&"fs1".into(), None, &"n3".into()).unwrap());
        assert_eq!(fs_of_key("dm/commits/fs1/c1"), Some("fs1"));
        assert_eq!(fs_of_key("dm/masters/fs1"), Some("fs1"));
        assert_eq!(fs_of_key("dm/dots/a/b"), None);
    }

    #[test]
    fn commits_come_back_in_order() {
        let s = store();
        for (id, seq) in [("b", 20), ("a", 10), ("c", 30)] {
            let c = CommitRecord {
                id: id.into(),
                message: id.into(),
                author: "u".into(),
                time: 5,
                seq,
                metadata: BTreeMap::new(),
            };
            s.put_commit(&"fs".into(), &c).unwrap();
        }
        let ids: Vec<_> = s
            .commits(&"fs".into())
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(s.commit_counts().unwrap().get("fs"), Some(&3));
    }
}
