//! [`ZfsStorage`]: the [`Storage`] trait on a real pool, through the typed `zfs` layer.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::layout::{DMFS, Layout, P_BASELINE};
use super::{Ds, Input, Listed, ListedSnapshot, Props, Result, Rollback, Sending, Sizes, Storage};
use crate::zfs::{self, Filesystem, Pool, SendStream, ZfsError};

/// A node's datasets on a ZFS pool.
pub struct ZfsStorage {
    pool: Pool,
    layout: Layout,
}

impl ZfsStorage {
    pub fn new(pool: Pool, mount_dir: &Path) -> ZfsStorage {
        let layout = Layout::new(pool.name(), mount_dir);
        ZfsStorage { pool, layout }
    }

    fn fs(&self, ds: Ds<'_>) -> Filesystem {
        self.pool.dataset(&Layout::rel(ds))
    }
}

impl Sending for SendStream {
    fn splice_into(
        &mut self,
        to: std::os::fd::BorrowedFd<'_>,
        progress: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        SendStream::splice_into(self, to, progress)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        SendStream::finish(*self)
    }
}

/// Whether `path` is a mountpoint right now (from /proc/mounts, no ZFS call).
pub fn mounted(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .any(|mp| Path::new(mp) == path)
}

impl Storage for ZfsStorage {
    fn pool_name(&self) -> &str {
        self.layout.pool()
    }

    fn mount_dir(&self) -> &std::path::Path {
        self.layout.mount_dir()
    }

    fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.layout.mountpoint(fs_id)
    }

    fn view_mountpoint(&self, id: &str) -> PathBuf {
        self.layout.view_mountpoint(id)
    }

    fn prepare(&self) -> Result<()> {
        // `dmfs` itself is never mounted: branch mountpoints then sit on the host filesystem, not
        // inside a FUSE mount, which deadlocks zfs-fuse when a `zfs create` stats its mountpoint
        // through a mount that zfs-fuse itself is busy serving.
        match self.pool.filesystem(DMFS) {
            Ok(top) => {
                if top.property("mountpoint")?.as_deref() != Some("none")
                    && let Err(e) = top.set_property("mountpoint", "none")
                {
                    // Branches mounted below it keep it busy; the next start will retry.
                    tracing::warn!(error = %e, "cannot unmount the dmfs parent; left as is");
                }
            }
            Err(ZfsError::NotFound(_)) => {
                self.pool
                    .create_filesystem(DMFS, &[("mountpoint", "none")])?;
            }
            Err(e) => return Err(e),
        }
        let dir = self.layout.mount_dir();
        std::fs::create_dir_all(dir).map_err(|e| ZfsError::Failed {
            command: format!("mkdir {}", dir.display()),
            stderr: e.to_string(),
        })?;
        // Not fatal: branches work on a private mount, only their unmounts may meet "busy"
        // while containers start (see `propagation`).
        match super::propagation::share(dir) {
            Ok(super::propagation::Sharing::LeftPrivate(why)) => {
                tracing::warn!(dir = %dir.display(), "mount directory left private: {why}")
            }
            Ok(how) => tracing::debug!(dir = %dir.display(), ?how, "mount directory sharing"),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot make the mount directory shared")
            }
        }
        Ok(())
    }

    fn create(
        &self,
        ds: Ds<'_>,
        origin: Option<(&super::FsId, &str)>,
        props: Props<'_>,
    ) -> Result<()> {
        let rel = Layout::rel(ds);
        match origin {
            Some((fs, snap)) => self
                .fs(Ds::Branch(fs))
                .at(snap)
                .clone_to(&self.pool, &rel, props),
            None => self.pool.create_filesystem(&rel, props),
        }
        .map(|_| ())
    }

    fn exists(&self, ds: Ds<'_>) -> Result<bool> {
        self.fs(ds).exists()
    }

    fn destroy(&self, ds: Ds<'_>) -> Result<()> {
        self.fs(ds).destroy()
    }

    fn promote(&self, ds: Ds<'_>) -> Result<()> {
        self.fs(ds).promote()
    }

    fn rename(&self, from: Ds<'_>, to: Ds<'_>) -> Result<()> {
        self.fs(from).rename(&self.layout.name(to))
    }

    fn property(&self, ds: Ds<'_>, prop: &str) -> Result<Option<String>> {
        self.fs(ds).property(prop)
    }

    fn set_properties(&self, ds: Ds<'_>, props: &[(String, String)]) -> Result<()> {
        match props {
            [(k, v)] => self.fs(ds).set_property(k, v),
            _ => self.fs(ds).set_properties(props),
        }
    }

    fn origin(&self, ds: Ds<'_>) -> Result<Option<(super::FsId, String)>> {
        Ok(self
            .fs(ds)
            .property("origin")?
            .and_then(|o| self.layout.origin(&o)))
    }

    fn referenced(&self, ds: Ds<'_>) -> Result<u64> {
        self.fs(ds).referenced()
    }

    fn is_mounted(&self, ds: Ds<'_>) -> Result<bool> {
        match ds {
            Ds::Branch(fs) => Ok(mounted(&self.layout.mountpoint(fs))),
            _ => self.fs(ds).is_mounted(),
        }
    }

    fn mount(&self, ds: Ds<'_>) -> Result<()> {
        self.fs(ds).ensure_mounted()
    }

    fn unmount(&self, ds: Ds<'_>) -> Result<bool> {
        // The check is /proc/mounts for a branch: no `zfs get` before the unmount itself.
        if !self.is_mounted(ds)? {
            return Ok(false);
        }
        self.fs(ds).unmount().map(|()| true)
    }

    fn snapshot(&self, ds: Ds<'_>, name: &str, props: Props<'_>) -> Result<()> {
        self.fs(ds).snapshot(name, props).map(|_| ())
    }

    fn snapshots(&self, ds: Ds<'_>) -> Result<Vec<String>> {
        Ok(self
            .fs(ds)
            .snapshots()?
            .into_iter()
            .map(|s| s.name().to_string())
            .collect())
    }

    fn has_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<bool> {
        match self.fs(ds).get_snapshot(name) {
            Ok(_) => Ok(true),
            Err(ZfsError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn destroy_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<()> {
        self.fs(ds).at(name).destroy()
    }

    fn set_snapshot_properties(
        &self,
        ds: Ds<'_>,
        name: &str,
        props: &[(String, String)],
    ) -> Result<()> {
        self.fs(ds).at(name).set_properties(props)
    }

    fn guid(&self, ds: Ds<'_>, name: &str) -> Result<String> {
        self.fs(ds).at(name).guid()
    }

    fn snapshot_referenced(&self, ds: Ds<'_>, name: &str) -> Result<u64> {
        self.fs(ds).at(name).referenced()
    }

    fn snapshot_used(&self, ds: Ds<'_>, name: &str) -> Result<u64> {
        self.fs(ds).at(name).used()
    }

    fn rollback(&self, ds: Ds<'_>, name: &str, how: Rollback) -> Result<()> {
        let fs = self.fs(ds);
        match how {
            Rollback::Newest => fs.rollback_to_newest(&fs.at(name)),
            Rollback::DestroyingLater => fs.rollback_to(&fs.at(name)),
        }
    }

    fn differs(&self, ds: Ds<'_>, newer: &str, older: (Ds<'_>, &str)) -> Result<bool> {
        self.fs(ds)
            .at(newer)
            .differs_from(&self.fs(older.0).at(older.1))
    }

    fn send(
        &self,
        ds: Ds<'_>,
        to: &str,
        from: Option<(Ds<'_>, &str)>,
        intermediates: bool,
    ) -> Result<Box<dyn Sending>> {
        let from = from.map(|(f, s)| self.fs(f).at(s));
        let stream = self.fs(ds).at(to).send(from.as_ref(), intermediates)?;
        Ok(Box::new(stream))
    }

    fn receive(&self, ds: Ds<'_>, existing: bool, input: Input<'_>) -> Result<u64> {
        self.pool.receive(&Layout::rel(ds), existing, input)
    }

    fn list(
        &self,
        fs_props: &[&str],
        snap_props: &[&str],
    ) -> Result<(Vec<Listed>, Vec<ListedSnapshot>)> {
        let filesystems = self
            .pool
            .children(DMFS, fs_props)?
            .into_iter()
            .filter_map(|l| {
                Some(Listed {
                    role: self.layout.role(l.filesystem.name())?,
                    origin: l.origin.as_deref().and_then(|o| self.layout.origin(o)),
                    props: l.props,
                })
            })
            .collect();
        let snapshots = self
            .pool
            .snapshots_under(DMFS, snap_props)?
            .into_iter()
            .filter_map(|s| {
                let (role, name) = self.layout.snapshot_role(&s.snapshot.full_name())?;
                Some(ListedSnapshot {
                    role,
                    name,
                    props: s.props,
                })
            })
            .collect();
        Ok((filesystems, snapshots))
    }

    fn space(&self) -> Result<(u64, u64)> {
        self.pool.space()
    }

    fn sizes(&self, fs_ids: Option<&[super::FsId]>) -> Result<Sizes> {
        let rels: Vec<String> = match fs_ids {
            Some(ids) => ids.iter().map(|id| Layout::rel(Ds::Branch(id))).collect(),
            None => vec![DMFS.to_string()],
        };
        let all = zfs::get_recursive(
            &self.pool,
            &rels,
            &["used", "referenced", "createtxg", P_BASELINE],
        )?;
        Ok(sizes_from(&all, |name| match self.layout.role(name)? {
            super::Role::Branch(fs) => Some(fs),
            _ => None,
        }))
    }
}

/// Sizes from `zfs get -r` values of filesystems and snapshots; `branch` names a filesystem's
/// branch id (snapshots are matched to filesystems by name).
fn sizes_from(
    all: &BTreeMap<String, BTreeMap<String, String>>,
    branch: impl Fn(&str) -> Option<super::FsId>,
) -> Sizes {
    let num = |m: &BTreeMap<String, String>, k: &str| {
        m.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    // Newest snapshot of each filesystem: (createtxg, referenced, used).
    let mut latest: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for (name, props) in all {
        if let Some((fs, _)) = name.split_once('@') {
            let txg = num(props, "createtxg");
            let entry = latest.entry(fs).or_insert((0, 0, 0));
            if txg >= entry.0 {
                *entry = (txg, num(props, "referenced"), num(props, "used"));
            }
        }
    }
    let mut out = HashMap::new();
    for (name, props) in all {
        let Some(fs_id) = branch(name) else {
            continue;
        };
        let referenced = num(props, "referenced");
        // Pool v23 has no `written` property: estimate dirty bytes as growth since the newest
        // commit plus what that commit holds that the live filesystem no longer shares.
        let dirty = match latest.get(name.as_str()) {
            Some(&(_, snap_ref, snap_used)) => referenced.saturating_sub(snap_ref) + snap_used,
            None => referenced.saturating_sub(num(props, P_BASELINE)),
        };
        out.insert(fs_id, (num(props, "used"), dirty));
    }
    out
}
