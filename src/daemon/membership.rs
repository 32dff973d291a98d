//! Cluster membership on the daemon side: adding a joining node to etcd, listing nodes, and a
//! node leaving (`dm cluster reset`) without stranding uncommitted data.

use std::collections::BTreeMap;

use super::core::{Core, PROBE_PREFIX, new_id, zfs_err};
use super::{Daemon, DaemonError};
use crate::api;
use crate::names::{self, Kind};
use crate::storage::{Ds, FsId};

type Result<T> = std::result::Result<T, DaemonError>;

/// The user name a join token authenticates as; it may only join (names starting with `_` are
/// reserved, so no user has it).
pub const JOIN_USER: &str = "_join";

const TOKEN_PREFIX: &str = "dmjoin";

/// Longest a join token may live.
pub const MAX_TOKEN_TTL: u64 = 7 * 24 * 3600;

/// `dmjoin.<id>.<secret>` → (id, secret), each of the expected length in hex.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let mut parts = token.trim().split('.');
    let (p, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (p == TOKEN_PREFIX && parts.next().is_none() && hex(id, 16) && hex(secret, 32))
        .then_some((id, secret))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Daemon {
    /// Whether `token` is a live join token of this cluster.
    pub fn check_join_token(&self, token: &str) -> Result<()> {
        let (id, secret) = parse_token(token).ok_or(DaemonError::Unauthorized)?;
        match self.node.core.store().join_token(id)? {
            Some(t)
                if t.expires > unix_now()
                    && super::same(&t.secret_sha256, &super::hash_key(secret)) =>
            {
                Ok(())
            }
            _ => Err(DaemonError::Unauthorized),
        }
    }

    /// Makes a join token valid for `ttl_secs`.
    pub fn create_token(&self, req: &api::CreateToken) -> Result<api::JoinToken> {
        if req.ttl_secs == 0 || req.ttl_secs > MAX_TOKEN_TTL {
            return Err(DaemonError::BadRequest(format!(
                "a join token lives between 1 second and {} days; pick a --ttl in that range",
                MAX_TOKEN_TTL / 86400
            )));
        }
        let (id, secret) = (new_id()[..16].to_string(), new_id());
        let created = unix_now();
        let rec = crate::cluster::JoinTokenRecord {
            id: id.clone(),
            secret_sha256: super::hash_key(&secret),
            created,
            expires: created + req.ttl_secs,
        };
        self.node.core.store().put_join_token(&rec)?;
        tracing::info!(token = %id, ttl = req.ttl_secs, "made a join token");
        Ok(api::JoinToken {
            id: id.clone(),
            created,
            expires: rec.expires,
            token: Some(format!("{TOKEN_PREFIX}.{id}.{secret}")),
        })
    }

    /// Live join tokens (expired ones are removed on the way).
    pub fn tokens(&self) -> Result<Vec<api::JoinToken>> {
        let store = self.node.core.store();
        let now = unix_now();
        let mut out = Vec::new();
        for t in store.join_tokens()? {
            if t.expires <= now {
                store.delete_join_token(&t.id)?;
                continue;
            }
            out.push(api::JoinToken {
                id: t.id,
                created: t.created,
                expires: t.expires,
                token: None,
            });
        }
        Ok(out)
    }

    pub fn revoke_token(&self, id: &str) -> Result<()> {
        let store = self.node.core.store();
        let valid = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid || store.join_token(id)?.is_none() {
            return Err(DaemonError::NotFound(format!(
                "no join token {id:?}; `dm cluster token list` shows them"
            )));
        }
        store.delete_join_token(id)?;
        tracing::info!(token = %id, "revoked a join token");
        Ok(())
    }

    /// Creates a user whose API key opens its own namespace (`NAME/dot`).
    pub fn create_user(&self, req: &api::CreateUser) -> Result<api::NewUser> {
        names::validate(Kind::Namespace, &req.name)
            .map_err(|e| DaemonError::BadRequest(format!("bad user name: {e}")))?;
        if req.name == super::ADMIN {
            return Err(DaemonError::Conflict(
                "user 'admin' already exists: its key is set by `dm cluster init`".into(),
            ));
        }
        let key = super::new_api_key();
        let rec = crate::cluster::UserRecord {
            name: req.name.clone(),
            api_key_sha256: super::hash_key(&key),
            password: None,
            sealed_key: None,
        };
        if !self.node.core.store().create_user(&rec)? {
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
        check_peer_url(&req.peer_url)?;
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
            None => {
                self.open_etcd()?;
                self.add_when_healthy(&req.peer_url)?
            }
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
        let (etcd_ca_cert, etcd_ca_key) = super::pki::Files::new(&self.state_dir)
            .read_ca()
            .map_err(|e| DaemonError::Internal(e.to_string()))?;
        Ok(api::JoinReply {
            initial_cluster: initial.join(","),
            cluster_secret: self.cfg.cluster_secret.clone(),
            etcd_ca_cert,
            etcd_ca_key,
            admin_key_sha256: self.admin_key_sha256.clone(),
        })
    }

    /// Makes this node's etcd listen on its advertised address, where a second member reaches
    /// it: a single node's etcd listens on loopback only. Restarts etcd once, the first time.
    fn open_etcd(&self) -> Result<()> {
        let mut cfg = super::config::NodeConfig::load(&self.state_dir)
            .map_err(|e| DaemonError::Internal(e.to_string()))?;
        if cfg.etcd_open {
            return Ok(());
        }
        cfg.etcd_open = true;
        cfg.save(&self.state_dir)
            .map_err(|e| DaemonError::Internal(e.to_string()))?;
        let slot = self.etcd.lock().unwrap_or_else(|p| p.into_inner());
        let Some(etcd) = slot.as_ref() else {
            return Ok(());
        };
        tracing::info!("etcd now also listens on the advertised address, for a joining node");
        etcd.restart();
        drop(slot);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // Until the restart has happened the old etcd may still answer; wait for it to go.
        std::thread::sleep(std::time::Duration::from_millis(300));
        loop {
            match self.kv.members() {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() > deadline => return Err(e.into()),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
            }
        }
    }

    /// etcd refuses new members until the last one added is up and in touch ("unhealthy
    /// cluster"), which takes a few seconds after a join; wait that out.
    fn add_when_healthy(&self, peer_url: &str) -> Result<Vec<crate::cluster::etcd::Member>> {
        when_healthy(|| self.kv.add_member(peer_url))
    }

    pub fn nodes(&self) -> Result<Vec<api::NodeInfo>> {
        let store = self.node.core.store();
        let mut masters: BTreeMap<String, usize> = BTreeMap::new();
        for node in store.all_masters()?.into_values() {
            *masters.entry(node.into()).or_default() += 1;
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
                    id: id.as_str().into(),
                    address,
                    api_port: 0,
                    version: String::new(),
                    alive: false,
                    etcd_member: true,
                },
            );
        }
        for s in store.servers()? {
            let e = out
                .entry(s.id.to_string())
                .or_insert_with(|| api::NodeInfo {
                    id: s.id.clone(),
                    address: String::new(),
                    api_port: 0,
                    version: String::new(),
                    alive: false,
                    etcd_member: false,
                    masters: masters.get(s.id.as_str()).copied().unwrap_or(0),
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
        let store = node.core.store();
        let mine: Vec<FsId> = store
            .all_masters()?
            .into_iter()
            .filter(|(_, n)| *n == node.core.id)
            .map(|(fs, _)| fs)
            .collect();
        let mut dirty = Vec::new();
        for fs in &mine {
            if node.core.uncommitted(fs)? {
                dirty.push(fs.clone());
            }
        }
        let names = node.core.branch_names(&dirty)?;
        if !dirty.is_empty() && !req.force {
            return Err(DaemonError::Conflict(format!(
                "this node holds the only copy of uncommitted changes in {}; commit them (`dm commit`, commits reach every node) or pass --force to discard them",
                names.join(", ")
            )));
        }
        // Fenced first, records after: until the master records are gone no other node takes
        // a branch, and by then this node can no longer write to it, so there is never a
        // second writable copy. Any failure puts everything back as it was.
        let mut fenced = Vec::new();
        let mut dropped = Vec::new();
        let steps = (|| -> Result<()> {
            for fs in &mine {
                let was_mounted = node.core.fence(fs)?;
                fenced.push((fs.clone(), was_mounted));
            }
            for fs in &mine {
                if store.drop_master(fs, &node.core.id)? {
                    dropped.push(fs.clone());
                }
            }
            Ok(())
        })();
        // Names now: once out of etcd's membership, this node's etcd stops answering.
        let released = steps.and_then(|()| node.core.branch_names(&mine));
        let left = released.and_then(|r| self.leave_etcd().map(|()| r));
        let released = match left {
            Ok(r) => r,
            Err(e) => {
                for fs in &dropped {
                    if let Err(u) = store.move_master(fs, None, &node.core.id) {
                        tracing::error!(%fs, error = %u, "cannot take a branch back after a failed leave; it is fenced here and free for another node");
                    }
                }
                for (fs, was_mounted) in &fenced {
                    if let Err(u) = node.core.unfence(fs, *was_mounted) {
                        tracing::error!(%fs, error = %u, "cannot make a branch writable again after a failed leave");
                    }
                }
                return Err(e);
            }
        };
        tracing::info!(released = mine.len(), "node left the cluster");
        Ok(api::LeaveReply {
            released,
            discarded: names,
        })
    }
}

impl Daemon {
    /// Takes this node out of etcd's membership, if it runs its own member and others remain.
    fn leave_etcd(&self) -> Result<()> {
        let node = &self.node;
        if self.cfg.etcd_endpoints.is_empty() {
            let members = self.kv.members()?;
            if members.len() > 1
                && let Some(me) = members.iter().find(|m| m.name == node.core.id)
            {
                // Through another member: a member that removes itself cuts its own connection
                // before the answer arrives.
                let other = members
                    .iter()
                    .find(|m| m.id != me.id && !m.client_urls.is_empty())
                    .and_then(|m| {
                        crate::cluster::etcd::EtcdKv::connect(
                            &m.client_urls,
                            self.etcd_tls.as_ref(),
                        )
                        .ok()
                    });
                // etcd also refuses to remove a member while another has been in touch for
                // under ~5 s (just restarted): wait that out as well.
                when_healthy(|| other.as_ref().unwrap_or(&self.kv).remove_member(me.id))?;
                tracing::info!("left etcd membership");
            }
        }
        Ok(())
    }
}

/// Runs a membership change, again while etcd answers "unhealthy cluster" (a member joined or
/// restarted seconds ago), for up to 30 s.
fn when_healthy<T>(mut change: impl FnMut() -> crate::cluster::Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match change() {
            Err(crate::cluster::RegistryError::Unavailable {
                kind: crate::cluster::Outage::Unhealthy,
                ..
            }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            other => return Ok(other?),
        }
    }
}

/// A joining node's etcd peer URL: `https://HOST:PORT`, a host of address characters only.
fn check_peer_url(url: &str) -> Result<()> {
    let bad = || {
        DaemonError::BadRequest(format!(
            "bad etcd peer URL {url:?}; expected https://HOST:PORT"
        ))
    };
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    // An IPv6 address stands in brackets in a URL.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    names::check_host(host).map_err(|_| bad())
}

impl Core {
    /// Makes this node's copy of `fs` unwritable: unmounted (refused while in use) and
    /// read-only, so it cannot change once another node may take the branch.
    /// Returns whether it was mounted.
    pub(super) fn fence(&self, fs: &FsId) -> Result<bool> {
        let was_mounted = self.unmount_branch(fs, |mp| {
            format!(
                "{} is in use on this node; stop the containers and programs using it first",
                mp.display()
            )
        })?;
        self.storage
            .set_property(Ds::Branch(fs), "readonly", "on")
            .map_err(zfs_err)?;
        Ok(was_mounted)
    }

    /// Undoes [`Core::fence`], mounting the branch again if it was.
    pub(super) fn unfence(&self, fs: &FsId, mount: bool) -> Result<()> {
        let ds = Ds::Branch(fs);
        self.storage
            .set_property(ds, "readonly", "off")
            .map_err(zfs_err)?;
        if mount {
            self.storage.mount(ds).map_err(zfs_err)?;
        }
        Ok(())
    }

    /// Whether branch `fs` has changes since its newest commit. Exact: a probe snapshot forces
    /// ZFS to sync, and the increment since the commit is checked for change records.
    pub(super) fn uncommitted(&self, fs: &FsId) -> Result<bool> {
        match self.store.commits(fs)?.last() {
            Some(c) => self.changed_since(fs, &c.id),
            // No commit yet: anything written counts (an empty new branch holds nothing).
            None => self.has_files(fs),
        }
    }

    /// Whether filesystem `fs` differs from its snapshot `last` (exactly, via a probe snapshot).
    pub(super) fn changed_since(&self, fs: &FsId, last: &str) -> Result<bool> {
        self.changed_since_in(fs, (fs, last))
    }

    /// Whether filesystem `fs` differs from snapshot `base` (of `fs`, or of its origin).
    pub(super) fn changed_since_in(&self, fs: &FsId, base: (&FsId, &str)) -> Result<bool> {
        let ds = Ds::Branch(fs);
        let probe = format!("{PROBE_PREFIX}{}", &new_id()[..16]);
        self.storage.snapshot(ds, &probe, &[]).map_err(zfs_err)?;
        let base = (Ds::Branch(base.0), base.1);
        let result = self.storage.differs(ds, &probe, base).map_err(zfs_err);
        if let Err(e) = self.storage.destroy_snapshot(ds, &probe) {
            // Harmless where it is; start-up removes probes left behind.
            tracing::warn!(%fs, error = %e, "cannot destroy a probe snapshot");
        }
        result
    }

    fn has_files(&self, fs: &FsId) -> Result<bool> {
        self.storage.mount(Ds::Branch(fs)).map_err(zfs_err)?;
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
    pub(super) fn branch_names(&self, fs_ids: &[FsId]) -> Result<Vec<String>> {
        if fs_ids.is_empty() {
            return Ok(Vec::new());
        }
        let dots: BTreeMap<String, String> = self
            .store
            .dots(None)?
            .into_iter()
            .map(|d| (d.id.to_string(), format!("{}/{}", d.namespace, d.name)))
            .collect();
        let mut out = Vec::new();
        for (dot_id, branches) in self.store.all_branches()? {
            for b in branches {
                if fs_ids.contains(&b.fs_id) {
                    let dot = dots.get(dot_id.as_str()).cloned().unwrap_or_default();
                    out.push(format!("{dot}@{}", b.name));
                }
            }
        }
        Ok(out)
    }
}
