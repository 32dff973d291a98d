//! `dm diff` and `dm status`: which files changed between two commits of a dot, or between a
//! commit and a branch's uncommitted files.
//!
//! A commit's files are read from a view: a short-lived read-only clone of its snapshot
//! ([`Ds::View`]), since zfs-fuse has no `.zfs/snapshot` directory. The uncommitted files are
//! the branch itself, so that side runs on the branch's master (the HTTP layer forwards it
//! there). The comparison is [`super::tree`]'s.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::DaemonError;
use super::beneath::{self, BeneathError};
use super::core::{Core, Loaded, check_name, new_id, zfs_err};
use super::dots::Dots;
use super::principal::Principal;
use super::replicate::Catalog;
use super::transfer::Transfers;
use crate::api;
use crate::cluster::{CommitRecord, FsId};
use crate::names::{self, Kind};
use crate::routes::At;
use crate::storage::{Ds, Storage};

type Result<T> = std::result::Result<T, DaemonError>;

/// One side of a comparison.
enum Point {
    Commit(FsId, CommitRecord),
    /// The branch's files as they are now.
    Working,
    /// Before the first commit.
    Empty,
}

pub struct Diffs {
    core: Arc<Core>,
    dots: Arc<Dots>,
    transfers: Arc<Transfers>,
}

impl Diffs {
    pub(super) fn new(core: Arc<Core>, dots: Arc<Dots>, transfers: Arc<Transfers>) -> Diffs {
        Diffs {
            core,
            dots,
            transfers,
        }
    }

    pub fn diff(&self, user: &Principal, at: At<'_>, req: &api::DiffRequest) -> Result<api::Diff> {
        let (ns, name, branch) = at.triple();
        user.may_use(ns)?;
        let subdot = req.subdot.as_deref().unwrap_or(names::DEFAULT_SUBDOT);
        check_name(Kind::Subdot, subdot)?;
        let l = self.core.load(ns, name)?;
        let b = l.branch(branch)?;
        let history = self.dots.history(&l, b)?;
        let from = match &req.from {
            None => match history.first() {
                Some((fs, c)) => Point::Commit(fs.clone(), c.clone()),
                None => Point::Empty,
            },
            Some(r) => self.point(&l, &history, r, branch)?,
        };
        let to = match &req.to {
            None => Point::Working,
            Some(r) => self.point(&l, &history, r, branch)?,
        };
        if matches!(to, Point::Working) {
            self.core.check_not_moving(&b.fs_id, branch)?;
            self.core.check_master(b)?;
        }
        let trust = self.common_time(&l, &history, &from, &to)?;
        let mut views = Vec::new();
        let mut open = |p: &Point| -> Result<Option<OwnedFd>> {
            let root = match p {
                Point::Empty => return Ok(None),
                Point::Working => {
                    self.transfers.mount_branch(&l.dot, &b.fs_id)?;
                    self.core.mountpoint(&b.fs_id)
                }
                Point::Commit(fs, c) => {
                    let view = self.view(&l, fs, c)?;
                    let root = view.path.clone();
                    views.push(view);
                    root
                }
            };
            open_subdot(&root, subdot)
        };
        let started = std::time::Instant::now();
        let (old, new) = (open(&from)?, open(&to)?);
        let opened = started.elapsed();
        let changes = super::tree::diff(old.as_ref(), new.as_ref(), trust)
            .map_err(|e| DaemonError::Internal(format!("comparing the files: {e}")));
        let changes = changes?;
        let compared = started.elapsed();
        // The directories open in the views first: a view with open files cannot go.
        drop((old, new));
        drop(views);
        tracing::debug!(?opened, ?compared, closed = ?started.elapsed(), changes = changes.len(), "diff");
        Ok(api::Diff {
            branch: branch.to_string(),
            subdot: subdot.to_string(),
            from: side(&from),
            to: side(&to),
            changes,
        })
    }

    /// A ref as a side: a branch's name is its newest commit; anything else as `dm reset`
    /// takes it (id, tag, `HEAD~N`), searched in this branch's history and then in the others'.
    fn point(
        &self,
        l: &Loaded,
        history: &[(FsId, CommitRecord)],
        wanted: &str,
        branch: &str,
    ) -> Result<Point> {
        let (base, _) = super::tags::split_ancestry(wanted)?;
        if let Some(other) = l.branches.iter().find(|x| x.name == base) {
            let theirs = self.dots.history(l, other)?;
            let rel = wanted.replacen(base, "HEAD", 1);
            let (fs, c) = self.dots.resolve_ref(l, &theirs, &rel, base)?;
            return Ok(Point::Commit(fs.clone(), c.clone()));
        }
        match self.dots.resolve_ref(l, history, wanted, branch) {
            Ok((fs, c)) => Ok(Point::Commit(fs.clone(), c.clone())),
            Err(DaemonError::NotFound(here)) => {
                for other in l.branches.iter().filter(|x| x.name != branch) {
                    let theirs = self.dots.history(l, other)?;
                    if let Ok((fs, c)) = self.dots.resolve_ref(l, &theirs, wanted, &other.name) {
                        return Ok(Point::Commit(fs.clone(), c.clone()));
                    }
                }
                Err(DaemonError::NotFound(here))
            }
            Err(e) => Err(e),
        }
    }

    /// The time (seconds) of the newest commit both sides grew from: files older than it whose
    /// metadata match on both sides are the same file, unread.
    fn common_time(
        &self,
        l: &Loaded,
        history: &[(FsId, CommitRecord)],
        from: &Point,
        to: &Point,
    ) -> Result<Option<i64>> {
        let ancestry = |p: &Point| -> Result<Option<Vec<CommitRecord>>> {
            Ok(match p {
                Point::Empty => None,
                Point::Working => Some(history.iter().map(|(_, c)| c.clone()).collect()),
                Point::Commit(fs, c) => {
                    let Some(owner) = l.branches.iter().find(|b| &b.fs_id == fs) else {
                        return Ok(Some(vec![c.clone()]));
                    };
                    let theirs = self.dots.history(l, owner)?;
                    let at = theirs.iter().position(|(_, x)| x.id == c.id).unwrap_or(0);
                    Some(theirs[at..].iter().map(|(_, x)| x.clone()).collect())
                }
            })
        };
        let (Some(a), Some(b)) = (ancestry(from)?, ancestry(to)?) else {
            return Ok(None);
        };
        Ok(a.iter()
            .find(|c| b.iter().any(|x| x.id == c.id))
            .map(|c| c.time as i64))
    }

    /// A read-only clone of `fs@commit`, mounted, until dropped.
    fn view(&self, l: &Loaded, fs: &FsId, c: &CommitRecord) -> Result<View> {
        let catalog = Catalog::for_dot(&self.core, &l.dot)?;
        self.dots.replicator.ensure_commit(fs, &c.id, &catalog)?;
        let id = FsId::from(new_id());
        let path = self.core.make_view(&id, fs, &c.id)?;
        Ok(View {
            storage: self.core.storage.clone(),
            id,
            path,
        })
    }
}

impl Core {
    /// Makes view `id`, a read-only clone of `fs@commit` (which must be here), mounted where
    /// only root can reach it; returns its mountpoint.
    pub(super) fn make_view(&self, id: &FsId, fs: &FsId, commit: &str) -> Result<PathBuf> {
        let path = self.storage.view_mountpoint(id);
        let parent = path.parent().expect("views live in a directory");
        // Only root reads a commit's files this way: they may belong to another namespace.
        std::fs::create_dir_all(parent)
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| super::core::io_err(parent, e))?;
        let mp = path.display().to_string();
        let props = [
            ("mountpoint", mp.as_str()),
            ("canmount", "noauto"),
            ("readonly", "on"),
            ("atime", "off"),
        ];
        self.storage
            .create(Ds::View(id), Some((fs, commit)), &props)
            .map_err(zfs_err)?;
        if let Err(e) = self.storage.mount(Ds::View(id)) {
            self.close_view(id);
            return Err(zfs_err(e));
        }
        Ok(path)
    }

    /// Unmounts and destroys view `id` (one a stopped daemon left, or one done with).
    pub(super) fn close_view(&self, id: &FsId) {
        close_view(self.storage.as_ref(), id);
    }
}

fn close_view(storage: &dyn Storage, id: &FsId) {
    let ds = Ds::View(id);
    let mp = storage.view_mountpoint(id);
    let grace = super::core::BUSY_GRACE;
    let done = super::core::settle(&mp, grace, || storage.unmount(ds))
        .and_then(|_| super::core::settle(&mp, grace, || storage.destroy(ds)));
    if let Err(e) = crate::storage::gone_is_done(done) {
        tracing::warn!(view = %id, error = %e, "cannot remove a commit's view yet; removed at the next start");
    }
    let _ = std::fs::remove_dir(storage.view_mountpoint(id));
}

/// A mounted read-only clone of a commit, removed when dropped.
struct View {
    storage: Arc<dyn Storage>,
    id: FsId,
    path: PathBuf,
}

impl Drop for View {
    fn drop(&mut self) {
        close_view(self.storage.as_ref(), &self.id);
    }
}

/// The subdot's directory under a side's root; `None` when the side has no such subdot.
fn open_subdot(root: &Path, subdot: &str) -> Result<Option<OwnedFd>> {
    let rel = if subdot == names::ROOT_SUBDOT {
        Path::new("")
    } else {
        Path::new(subdot)
    };
    if rel.as_os_str().is_empty() {
        return crate::sys::open_directory(root)
            .map(Some)
            .map_err(|e| super::core::io_err(root, e));
    }
    match beneath::open_dir(root, rel, false) {
        Ok(fd) => Ok(Some(fd)),
        Err(BeneathError::Missing(_)) => Ok(None),
        Err(e @ (BeneathError::Escapes(_) | BeneathError::NotDirectory(_))) => {
            Err(DaemonError::Conflict(format!(
                "subdot {e}; remove or rename it in the dot (`dm dot path` shows where)"
            )))
        }
        Err(e) => Err(DaemonError::Internal(e.to_string())),
    }
}

fn side(p: &Point) -> api::DiffSide {
    match p {
        Point::Commit(_, c) => api::DiffSide {
            commit: Some(c.id.to_string()),
            message: Some(c.message.clone()),
        },
        Point::Working | Point::Empty => api::DiffSide {
            commit: None,
            message: None,
        },
    }
}
