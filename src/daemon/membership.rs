//! Cluster membership on the daemon side: adding a joining node to etcd, listing nodes, and a
//! node leaving (`dm cluster reset`) without stranding uncommitted data.

use std::collections::BTreeMap;

use super::node::{Node, new_id, zfs_err};
use super::{Daemon, DaemonError};
use crate::api;
use crate::names::{self, Kind};

type Result<T> = std::result::Result<T, DaemonError>;

impl Daemon {
    pub fn require_admin(&self, user: &str) -> Result<()> {
        if user == "admin" {
            Ok(())
        } else {
            Err(DaemonError::Forbidden(
                "only the admin user may manage the cluster and its users".into(),
            ))
        }
    }

    /// Creates a user whose API key opens its own namespace (`NAME/dot`).
    pub fn create_user(&self, req: &api::CreateUser) -> Result<api::NewUser> {
        names::validate(Kind::Namespace, &req.name)
            .map_err(|e| DaemonError::BadRequest(format!("bad user name: {e}")))?;
        let key = format!("{}{}", new_id(), &new_id()[..8]);
        let rec = crate::cluster::UserRecord {
            name: req.name.clone(),
            api_key_sha256: super::hash_key(&key),
        };
        if !self.node.store().create_user(&rec)? {
            return Err(DaemonError::Conflict(format!(
                "user '{}' already exists",
                req.name
            )));
        }
        tracing::info!(user = %req.name, "created user");
        Ok(api::NewUser {
            name: req.name.clone(),
            api_key: key,
        })
    }

    /// Adds a node to etcd; it then starts its own etcd with the returned `--initial-cluster`.
    pub fn add_member(&self, req: &api::JoinRequest) -> Result<api::JoinReply> {
        names::validate(Kind::Branch, &req.node_id)
            .map_err(|e| DaemonError::BadRequest(format!("bad node id: {e}")))?;
        if !req.peer_url.starts_with("http://") {
            return Err(DaemonError::BadRequest(format!(
                "bad etcd peer URL {:?}; expected http://HOST:PORT",
                req.peer_url
            )));
        }
        if !self.cfg.etcd_endpoints.is_empty() {
            return Err(DaemonError::BadRequest(
                "this cluster uses an external etcd; start the new node with `dm cluster init --etcd-endpoints` instead".into(),
            ));
        }
        let members = self.kv.members()?;
        if members.iter().any(|m| m.name == req.node_id) {
            return Err(DaemonError::Conflict(format!(
                "node {} is already a member",
                req.node_id
            )));
        }
        // A retry after a join that failed half-way: the member was added but never started.
        let members = match members.iter().find(|m| m.peer_urls.contains(&req.peer_url)) {
            Some(m) if m.name.is_empty() => members.clone(),
            Some(_) => {
                return Err(DaemonError::Conflict(format!(
                    "{} is already used by a running etcd member; pick other ports or addresses",
                    req.peer_url
                )));
            }
            None => self.add_when_healthy(&req.peer_url)?,
        };
        let initial: Vec<String> = members
            .iter()
            .filter_map(|m| {
                let url = m.peer_urls.first()?;
                let name = if url == &req.peer_url {
                    req.node_id.as_str()
                } else if m.name.is_empty() {
                    return None;
                } else {
                    m.name.as_str()
                };
                Some(format!("{name}={url}"))
            })
            .collect();
        tracing::info!(node = %req.node_id, peer = %req.peer_url, "node joining");
        Ok(api::JoinReply {
            initial_cluster: initial.join(","),
            cluster_secret: self.cfg.cluster_secret.clone(),
        })
    }

    /// etcd refuses new members until the last one added is up and in touch ("unhealthy
    /// cluster"), which takes a few seconds after a join; wait that out.
    fn add_when_healthy(&self, peer_url: &str) -> Result<Vec<crate::cluster::etcd::Member>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match self.kv.add_member(peer_url) {
                Err(e)
                    if e.to_string().contains("unhealthy cluster")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                other => return Ok(other?),
            }
        }
    }

    pub fn nodes(&self) -> Result<Vec<api::NodeInfo>> {
        let store = self.node.store();
        let mut masters: BTreeMap<String, usize> = BTreeMap::new();
        for node in store.all_masters()?.into_values() {
            *masters.entry(node).or_default() += 1;
        }
        let members = if self.cfg.etcd_endpoints.is_empty() {
            self.kv.members()?
        } else {
            Vec::new()
        };
        let mut out: BTreeMap<String, api::NodeInfo> = BTreeMap::new();
        for m in &members {
            let id = if m.name.is_empty() {
                format!("(starting: {})", m.peer_urls.join(","))
            } else {
                m.name.clone()
            };
            let address = m
                .peer_urls
                .first()
                .and_then(|u| u.strip_prefix("http://"))
                .and_then(|u| u.rsplit_once(':'))
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            out.insert(
                id.clone(),
                api::NodeInfo {
                    masters: masters.get(&id).copied().unwrap_or(0),
                    id,
                    address,
                    api_port: 0,
                    version: String::new(),
                    alive: false,
                    etcd_member: true,
                },
            );
        }
        for s in store.servers()? {
            let e = out.entry(s.id.clone()).or_insert_with(|| api::NodeInfo {
                id: s.id.clone(),
                address: String::new(),
                api_port: 0,
                version: String::new(),
                alive: false,
                etcd_member: false,
                masters: masters.get(&s.id).copied().unwrap_or(0),
            });
            e.alive = true;
            e.api_port = s.api_port;
            e.version = s.version.clone();
            if let Some(a) = s.addresses.first() {
                e.address = a.clone();
            }
        }
        Ok(out.into_values().collect())
    }

    /// This node leaves: gives up the branches it masters (refusing while any holds uncommitted
    /// changes, unless forced) and leaves etcd's membership if others remain.
    pub fn leave(&self, req: &api::LeaveRequest) -> Result<api::LeaveReply> {
        let node = &self.node;
        let store = node.store();
        let mine: Vec<String> = store
            .all_masters()?
            .into_iter()
            .filter(|(_, n)| n == &node.id)
            .map(|(fs, _)| fs)
            .collect();
        let mut dirty = Vec::new();
        for fs in &mine {
            if node.uncommitted(fs)? {
                dirty.push(fs.clone());
            }
        }
        let names = node.branch_names(&dirty)?;
        if !dirty.is_empty() && !req.force {
            return Err(DaemonError::Conflict(format!(
                "this node holds the only copy of uncommitted changes in {}; commit them (`dm commit`, commits reach every node) or pass --force to discard them",
                names.join(", ")
            )));
        }
        for fs in &mine {
            store.drop_master(fs, &node.id)?;
        }
        // Names now: once out of etcd's membership, this node's etcd stops answering.
        let released = node.branch_names(&mine)?;
        if self.cfg.etcd_endpoints.is_empty() {
            let members = self.kv.members()?;
            if members.len() > 1
                && let Some(me) = members.iter().find(|m| m.name == node.id)
            {
                // Through another member: a member that removes itself cuts its own connection
                // before the answer arrives.
                let other = members
                    .iter()
                    .find(|m| m.id != me.id && !m.client_urls.is_empty())
                    .and_then(|m| crate::cluster::etcd::EtcdKv::connect(&m.client_urls).ok());
                other.as_ref().unwrap_or(&self.kv).remove_member(me.id)?;
                tracing::info!("left etcd membership");
            }
        }
        tracing::info!(released = mine.len(), "node left the cluster");
        Ok(api::LeaveReply {
            released,
            discarded: names,
        })
    }
}

impl Node {
    /// Whether branch `fs` has changes since its newest commit. Exact: a probe snapshot forces
    /// ZFS to sync, and the increment since the commit is checked for change records.
    pub(super) fn uncommitted(&self, fs: &str) -> Result<bool> {
        let ds = self.pool.dataset(&Node::rel(fs));
        match self.store.commits(fs)?.last() {
            Some(c) => {
                let last = ds.get_snapshot(&c.id).map_err(zfs_err)?;
                self.changed_since(fs, &last)
            }
            // No commit yet: anything written counts (an empty new branch holds nothing).
            None => self.has_files(fs),
        }
    }

    /// Whether filesystem `fs` differs from its snapshot `last` (exactly, via a probe snapshot).
    pub(super) fn changed_since(&self, fs: &str, last: &crate::zfs::Snapshot) -> Result<bool> {
        let ds = self.pool.dataset(&Node::rel(fs));
        let probe_name = format!("dmp-{}", &new_id()[..16]);
        let probe = ds.snapshot(&probe_name, &[]).map_err(zfs_err)?;
        let result = probe.differs_from(last).map_err(zfs_err);
        let _ = probe.destroy();
        result
    }

    fn has_files(&self, fs: &str) -> Result<bool> {
        let ds = self.pool.dataset(&Node::rel(fs));
        ds.ensure_mounted().map_err(zfs_err)?;
        let mp = self.mountpoint(fs);
        let mut stack = vec![mp];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                } else {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// `ns/dot@branch` names for filesystem ids, for messages.
    pub(super) fn branch_names(&self, fs_ids: &[String]) -> Result<Vec<String>> {
        if fs_ids.is_empty() {
            return Ok(Vec::new());
        }
        let dots: BTreeMap<String, String> = self
            .store
            .dots(None)?
            .into_iter()
            .map(|d| (d.id.clone(), format!("{}/{}", d.namespace, d.name)))
            .collect();
        let mut out = Vec::new();
        for (dot_id, branches) in self.store.all_branches()? {
            for b in branches {
                if fs_ids.contains(&b.fs_id) {
                    let dot = dots.get(&dot_id).cloned().unwrap_or_default();
                    out.push(format!("{dot}@{}", b.name));
                }
            }
        }
        Ok(out)
    }
}
