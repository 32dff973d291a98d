//! Subdots: the directories of a branch that containers mount, opened without following links
//! out of the dot, and pinned for Docker by a bind mount only root can reach.

use super::dots::Dots;
use super::handoff::Handoff;
use super::transfer::Transfers;
use crate::routes::At;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::DaemonError;
use super::core::{Core, check_name, io_err};
use super::principal::Principal;
use crate::api;
use crate::names::{self, Kind};
use crate::storage::mounted;

type Result<T> = std::result::Result<T, DaemonError>;

/// The directory under the mount dir where Docker's subdot mounts are pinned (see
/// [`Subdots::pin_subdot`]); no filesystem id starts with a dot.
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

/// What containers mount: subdots of a branch, procured on this node.
pub struct Subdots {
    pub(super) core: Arc<Core>,
    handoff: Arc<Handoff>,
    transfers: Arc<Transfers>,
    /// For commits' read-only views (`views`).
    pub(super) dots: Arc<Dots>,
    pub(super) asked: super::views::Asked,
}

impl Subdots {
    pub(super) fn new(
        core: Arc<Core>,
        handoff: Arc<Handoff>,
        transfers: Arc<Transfers>,
        dots: Arc<Dots>,
    ) -> Subdots {
        Subdots {
            core,
            handoff,
            transfers,
            dots,
            asked: super::views::Asked::default(),
        }
    }

    /// Host path of a subdot of a branch, created on request; of a commit of it, read-only,
    /// when `commit` names one.
    pub fn subdot_path(
        &self,
        user: &Principal,
        at: At<'_>,
        subdot: &str,
        create: bool,
        commit: Option<&str>,
    ) -> Result<api::SubdotPath> {
        let path = match commit {
            Some(c) => self.open_commit(user, at, c, subdot, true)?,
            None => self.open_subdot(user, at, subdot, create)?.0,
        };
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
        At {
            ns,
            dot: name,
            branch,
        }: At<'_>,
        subdot: &str,
        create: bool,
    ) -> Result<(PathBuf, Option<std::os::fd::OwnedFd>)> {
        user.may_use(ns)?;
        check_name(Kind::Subdot, subdot)?;
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        self.handoff.procure(&l.dot, b)?;
        let mp = self.core.mountpoint(&b.fs_id);
        self.transfers.mount_branch(&l.dot, &b.fs_id)?;
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
        let pins = self.core.storage.mount_dir().join(PINS);
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

    /// Undoes [`Subdots::pin_subdot`] for a mount's path (other paths are left alone).
    pub fn unpin_subdot(&self, path: &Path) {
        if path.parent() != Some(self.core.storage.mount_dir().join(PINS).as_path()) {
            return;
        }
        if let Err(e) = super::beneath::unbind(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot unmount a volume's subdot");
            return;
        }
        let _ = std::fs::remove_dir(path);
    }
}
