//! Containers following a checkout, as in Dotmesh: a dot's settings say which branch a bare
//! `-v DOT` mounts (master unless moved), and `dm checkout BRANCH --move-containers` (or the
//! dot's `move_containers` setting) moves it there and restarts the containers that mount the
//! dot by its bare name, on every live node, so Docker unmounts the old branch and mounts the
//! new one (moving the branch to that node if it lives elsewhere).
//! Containers that name a branch (`DOT@BRANCH`) or a commit stay as they are.

use super::DaemonError;
use super::inventory::Inventory;
use super::principal::Principal;
use crate::api;
use crate::cluster::DotSettings;
use crate::names::{self, DotRef, Kind};
use crate::plugins::docker_api;
use crate::routes::{Internal, Route};

type Result<T> = std::result::Result<T, DaemonError>;

impl Inventory {
    pub fn dot_settings(&self, user: &Principal, ns: &str, dot: &str) -> Result<DotSettings> {
        user.may_use(ns)?;
        let l = self.core.load(ns, dot)?;
        Ok(self.core.store.dot_settings(&l.dot.id)?)
    }

    pub fn change_settings(
        &self,
        user: &Principal,
        ns: &str,
        dot: &str,
        req: &api::SettingsChange,
    ) -> Result<DotSettings> {
        user.may_use(ns)?;
        let l = self.core.load(ns, dot)?;
        let mut s = self.core.store.dot_settings(&l.dot.id)?;
        if let Some(m) = req.move_containers {
            s.move_containers = m;
        }
        self.core.store.put_dot_settings(&l.dot.id, &s)?;
        Ok(s)
    }

    /// The branch a bare `-v DOT` mounts: the one containers were moved to, while it exists.
    pub(super) fn containers_branch(&self, ns: &str, dot: &str) -> Result<String> {
        let Some(d) = self.core.store.dot(ns, dot)? else {
            return Ok(names::MASTER.to_string());
        };
        let moved = self.core.store.dot_settings(&d.id)?.containers_branch;
        Ok(match moved {
            Some(b) if self.core.load_record(d)?.branch(&b).is_ok() => b,
            _ => names::MASTER.to_string(),
        })
    }

    /// Makes `branch` what a bare `-v DOT` mounts, and restarts the containers that mount the
    /// dot so: this node's, then every other live node's (each through its own Docker).
    pub fn move_containers(
        &self,
        user: &Principal,
        ns: &str,
        dot: &str,
        req: &api::MoveContainers,
    ) -> Result<api::MovedContainers> {
        user.may_use(ns)?;
        super::core::check_name(Kind::Branch, &req.branch)?;
        let l = self.core.load(ns, dot)?;
        l.branch(&req.branch)?;
        let mut s = self.core.store.dot_settings(&l.dot.id)?;
        s.containers_branch = (req.branch != names::MASTER).then(|| req.branch.clone());
        self.core.store.put_dot_settings(&l.dot.id, &s)?;
        let here = api::MoveHere {
            namespace: ns.to_string(),
            dot: dot.to_string(),
            branch: req.branch.clone(),
        };
        // Settings are saved: whatever fails from here is reported, and the containers left
        // get the branch when they next start.
        let mut out = self
            .move_here(&here)
            .unwrap_or_else(|e| api::MovedContainers {
                branch: req.branch.clone(),
                failed: vec![format!("the containers on node {}: {e}", self.core.id)],
                ..Default::default()
            });
        let path = Route::Internal(Internal::Move).path();
        for server in self.core.store.servers()? {
            if server.id == self.core.id {
                continue;
            }
            match self
                .core
                .peers
                .post::<_, api::MovedContainers>(&server, &path, &here)
            {
                Ok(m) => {
                    let on = |c: String| format!("{c} (on node {})", server.id);
                    out.moved.extend(m.moved.into_iter().map(on));
                    out.failed.extend(m.failed.into_iter().map(on));
                }
                Err(e) => out
                    .failed
                    .push(format!("the containers on node {}: {e}", server.id)),
            }
        }
        Ok(out)
    }

    /// Restarts this node's containers that mount dot `req` by its bare name, so Docker mounts
    /// the containers' branch (already recorded) in place of the old one.
    pub fn move_here(&self, req: &api::MoveHere) -> Result<api::MovedContainers> {
        let (ns, dot) = (req.namespace.as_str(), req.dot.as_str());
        let mut out = api::MovedContainers {
            branch: req.branch.clone(),
            ..Default::default()
        };
        let Some(docker) = &self.docker else {
            return Ok(out);
        };
        let using = docker_api::containers_using(&docker.api_socket, &docker.driver)
            .map_err(|e| {
                DaemonError::Unavailable(format!(
                    "cannot ask Docker on node {} which containers use the dot ({e}); new containers get branch '{}', running ones keep theirs until restarted",
                    self.core.id, req.branch
                ))
            })?;
        let bare = |v: &str| {
            DotRef::parse(v).is_ok_and(|r| {
                r.namespace.as_deref().unwrap_or(super::ADMIN) == ns
                    && r.dot == dot
                    && r.branch.is_none()
                    && r.commit.is_none()
            })
        };
        for c in using.iter().filter(|c| c.volumes.iter().any(|v| bare(v))) {
            match docker_api::restart(&docker.api_socket, &c.id) {
                Ok(()) => out.moved.push(c.name.clone()),
                Err(e) => out.failed.push(format!("container {}: {e}", c.name)),
            }
        }
        tracing::info!(%ns, %dot, branch = %req.branch, moved = ?out.moved, failed = ?out.failed, "moved containers");
        Ok(out)
    }
}
