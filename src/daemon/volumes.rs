//! The daemon's side of the Docker volume plugin: volume names mapped onto dots, branches and
//! subdots. The plugin socket is trusted like the Docker socket itself, so it acts as admin.

use std::sync::Arc;

use super::mounts::MountRecord;
use super::{ADMIN, Daemon, DaemonError, Principal};
use crate::names::{self, DotRef};

/// Docker's requests come through the plugin socket, which only root can reach: they act
/// as the admin, in the namespace a volume name gives (admin's by default).
const DOCKER: &Principal = &Principal::Admin;

pub struct DockerVolumes(pub Arc<Daemon>);

struct Parsed {
    ns: String,
    dot: String,
    branch: String,
    subdot: String,
    /// A commit to mount read-only (`^COMMIT`).
    commit: Option<String>,
}

fn msg(e: DaemonError) -> String {
    e.to_string()
}

impl DockerVolumes {
    /// A volume name's parts; a bare `DOT` mounts the branch its containers were moved to
    /// (`follow`), master unless they were.
    fn parse(&self, name: &str) -> Result<Parsed, String> {
        let r = DotRef::parse(name).map_err(|e| {
            format!("{e} (volume names are [NAMESPACE/]DOT[@BRANCH][^COMMIT][.SUBDOT])")
        })?;
        let ns = r.namespace.unwrap_or_else(|| ADMIN.to_string());
        let branch = match r.branch {
            Some(b) => b,
            None => self
                .0
                .node
                .inventory
                .containers_branch(&ns, &r.dot)
                .map_err(msg)?,
        };
        Ok(Parsed {
            ns,
            dot: r.dot,
            branch,
            subdot: r
                .subdot
                .unwrap_or_else(|| names::DEFAULT_SUBDOT.to_string()),
            commit: r.commit,
        })
    }

    fn ensure(&self, p: &Parsed) -> Result<(), String> {
        let node = &self.0.node;
        if p.commit.is_some() {
            // A commit's view is of a dot that exists: no empty dot is made for it.
            let found = node.core.store().dot(&p.ns, &p.dot);
            if found.map_err(|e| e.to_string())?.is_none() {
                return Err(format!(
                    "dot '{}' does not exist, so it has no commit {}",
                    p.dot,
                    p.commit.as_deref().unwrap_or_default()
                ));
            }
        } else {
            node.dots.ensure_dot(DOCKER, &p.ns, &p.dot).map_err(msg)?;
        }
        let branches = node
            .inventory
            .branches(DOCKER, &p.ns, &p.dot)
            .map_err(msg)?;
        if !branches.iter().any(|b| b.name == p.branch) {
            return Err(format!(
                "branch '{}' of dot '{}' does not exist; create it with `dm checkout -b {}`",
                p.branch, p.dot, p.branch
            ));
        }
        Ok(())
    }
}

impl crate::plugins::docker::Volumes for DockerVolumes {
    fn create(&self, name: &str) -> Result<(), String> {
        self.ensure(&self.parse(name)?)
    }

    fn mount(&self, name: &str, id: &str) -> Result<String, String> {
        let p = self.parse(name)?;
        self.ensure(&p)?;
        let node = &self.0.node;
        let at = crate::routes::At::new((p.ns.as_str(), p.dot.as_str(), p.branch.as_str()));
        let path = match &p.commit {
            // Read-only, and in a directory only root reaches: nothing there can be swapped
            // under Docker, so it needs no pin.
            Some(c) => node
                .subdots
                .open_commit(DOCKER, at, c, &p.subdot, false)
                .map_err(msg)?,
            None => {
                let (path, dir) = node
                    .subdots
                    .open_subdot(DOCKER, at, &p.subdot, true)
                    .map_err(msg)?;
                match dir {
                    Some(dir) => node.subdots.pin_subdot(dir, id).map_err(msg)?,
                    None => path,
                }
            }
        };
        let path = path.display().to_string();
        node.core.mounts.add(
            id,
            MountRecord {
                volume: name.to_string(),
                namespace: p.ns,
                dot: p.dot,
                branch: p.branch,
                path: path.clone(),
            },
        );
        tracing::info!(volume = name, id, %path, "docker mount");
        Ok(path)
    }

    fn unmount(&self, name: &str, id: &str) -> Result<(), String> {
        let removed = self.0.node.core.mounts.remove(id, name);
        if let Some(r) = &removed {
            let subdots = &self.0.node.subdots;
            subdots.unpin_subdot(std::path::Path::new(&r.path));
            subdots.release_commit(std::path::Path::new(&r.path));
        }
        tracing::info!(
            volume = name,
            id,
            known = removed.is_some(),
            "docker unmount"
        );
        Ok(())
    }

    fn path(&self, name: &str) -> Result<String, String> {
        let held = self.0.node.core.mounts.find(|r| r.volume == name);
        Ok(held
            .first()
            .map(|(_, r)| r.path.clone())
            .unwrap_or_default())
    }

    fn get(&self, name: &str) -> Result<Option<String>, String> {
        let p = self.parse(name)?;
        let node = &self.0.node;
        if node
            .core
            .store()
            .dot(&p.ns, &p.dot)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(None);
        }
        let branches = node
            .inventory
            .branches(DOCKER, &p.ns, &p.dot)
            .map_err(msg)?;
        if !branches.iter().any(|b| b.name == p.branch) {
            return Ok(None);
        }
        self.path(name).map(Some)
    }

    fn list(&self) -> Result<Vec<(String, String)>, String> {
        let (dots, _) = self.0.node.inventory.list(DOCKER).map_err(msg)?;
        let mut out = Vec::new();
        for d in dots {
            let name = names::short(&d.namespace, &d.name, ADMIN);
            let path = self.path(&name)?;
            out.push((name, path));
        }
        Ok(out)
    }

    fn remove(&self, name: &str) -> Result<(), String> {
        // `docker volume rm` only drops Docker's record; the dot and its commits stay.
        tracing::info!(volume = name, "docker forgot volume; dot kept");
        Ok(())
    }
}
