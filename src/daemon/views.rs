//! Read-only views of commits that containers and people mount: `docker run -v
//! DOT@BRANCH^COMMIT` and `dm dot path --commit COMMIT`. A view is a read-only ZFS clone of
//! the commit (zfs-fuse has no `.zfs/snapshot`), one per commit however many mount it, on any
//! node that has the commit (it is fetched first when it has not arrived yet); the live branch
//! and its master are not touched. Docker's mounts are counted in the mount table, and the last
//! unmount removes the view; a view `dm dot path` made stays while anything uses it and goes at
//! a sweep once nothing has for [`IDLE`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::DaemonError;
use super::core::{Core, check_name};
use super::principal::Principal;
use super::replicate::Catalog;
use super::subdots::Subdots;
use crate::cluster::FsId;
use crate::names::{self, Kind};
use crate::routes::At;
use crate::storage::Role;

type Result<T> = std::result::Result<T, DaemonError>;

/// How long a view nobody mounts or uses is kept after it was last asked for.
const IDLE: Duration = Duration::from_secs(600);

/// View ids of commits start so (other views are a diff's, short-lived, with random ids).
const COMMIT_VIEW: &str = "commit-";

/// When each commit view was last asked for, on this node.
#[derive(Default)]
pub struct Asked(Mutex<HashMap<FsId, Instant>>);

fn view_id(commit: &str) -> FsId {
    FsId::from(format!("{COMMIT_VIEW}{commit}"))
}

impl Subdots {
    /// A subdot of `commit` (an id, a unique prefix or a tag) of a branch, read-only: its path.
    /// `linger`: asked by a person (`dm dot path`), so the view stays a while even unused;
    /// Docker's mounts are counted instead.
    pub fn open_commit(
        &self,
        user: &Principal,
        at: At<'_>,
        commit: &str,
        subdot: &str,
        linger: bool,
    ) -> Result<PathBuf> {
        user.may_use(at.ns)?;
        check_name(Kind::Subdot, subdot)?;
        let core = &self.core;
        let l = core.load(at.ns, at.dot)?;
        let b = l.branch(at.branch)?;
        let history = self.dots.history(&l, b)?;
        let (fs, c) = self
            .dots
            .resolve_ref(&l, &history, commit, at.branch)?
            .clone();
        let id = view_id(c.id.as_str());
        let lock = core.lock(&format!("view:{id}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        if linger {
            self.asked().insert(id.clone(), Instant::now());
        }
        let ds = crate::storage::Ds::View(&id);
        let root = if core.storage.exists(ds).map_err(super::core::zfs_err)? {
            if !core.storage.is_mounted(ds).map_err(super::core::zfs_err)? {
                core.storage.mount(ds).map_err(super::core::zfs_err)?;
            }
            core.storage.view_mountpoint(&id)
        } else {
            let catalog = Catalog::for_dot(core, &l.dot)?;
            self.dots.replicator.ensure_commit(&fs, &c.id, &catalog)?;
            core.make_view(&id, &fs, &c.id)?
        };
        if subdot == names::ROOT_SUBDOT {
            return Ok(root);
        }
        // As for a live subdot: a link named like the subdot must not lead out of the dot.
        use super::beneath::{BeneathError, open_dir};
        match open_dir(&root, Path::new(subdot), false) {
            Ok(_) => Ok(root.join(subdot)),
            Err(BeneathError::Missing(_)) => Err(DaemonError::NotFound(format!(
                "subdot '{subdot}' does not exist in commit {}",
                names::short_id(&c.id)
            ))),
            Err(e @ (BeneathError::Escapes(_) | BeneathError::NotDirectory(_))) => Err(
                DaemonError::Conflict(format!("subdot {e} in commit {}", names::short_id(&c.id))),
            ),
            Err(e) => Err(DaemonError::Internal(e.to_string())),
        }
    }

    /// The commit view under `path`, if it is one.
    fn view_of(&self, path: &Path) -> Option<FsId> {
        let views = self
            .core
            .storage
            .view_mountpoint(&FsId::from("x".to_string()));
        let rest = path.strip_prefix(views.parent()?).ok()?;
        let id = rest.components().next()?.as_os_str().to_str()?;
        id.starts_with(COMMIT_VIEW)
            .then(|| FsId::from(id.to_string()))
    }

    /// After Docker unmounted `path`: the commit view it was in goes when nothing else
    /// mounts or uses it, and nobody asked for it lately.
    pub fn release_commit(&self, path: &Path) {
        let Some(id) = self.view_of(path) else {
            return;
        };
        let lock = self.core.lock(&format!("view:{id}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.in_use(&id) && !self.asked_lately(&id) {
            self.core.close_view(&id);
        }
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, HashMap<FsId, Instant>> {
        self.asked.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn asked_lately(&self, id: &FsId) -> bool {
        self.asked().get(id).is_some_and(|t| t.elapsed() < IDLE)
    }

    /// Whether a container mounts view `id`, or a process here uses it.
    fn in_use(&self, id: &FsId) -> bool {
        let mp = self.core.storage.view_mountpoint(id);
        let mounted = !self
            .core
            .mounts
            .find(|r| Path::new(&r.path).starts_with(&mp))
            .is_empty();
        mounted || !super::procs::users_of(&[mp.as_path()]).is_empty()
    }

    /// Removes commit views nobody has mounted, used or asked for in [`IDLE`] (after a
    /// restart: nobody has asked since).
    pub(super) fn sweep_views(&self) {
        let listed = match self.core.storage.list(&[], &[]) {
            Ok((fs, _)) => fs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the views");
                return;
            }
        };
        for l in listed {
            let Role::View(id) = l.role else { continue };
            if !id.as_str().starts_with(COMMIT_VIEW) {
                continue;
            }
            let lock = self.core.lock(&format!("view:{id}"));
            let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
            if !self.asked_lately(&id) && !self.in_use(&id) {
                self.core.close_view(&id);
                self.asked().remove(&id);
            }
        }
    }
}

impl Core {
    /// Whether view `id` is a commit's that a container may still mount (kept at start-up).
    pub(super) fn is_commit_view(id: &FsId) -> bool {
        id.as_str().starts_with(COMMIT_VIEW)
    }
}
