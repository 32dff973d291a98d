//! The daemon's side of the Kubernetes FlexVolume driver (`plugins::flexvolume`): a pod's
//! volume `namespace/name.subdot` procured on this node as a Docker mount is — the dot created
//! on first use, its master and uncommitted changes moved here — and the subdot, opened without
//! following links, bind-mounted onto kubelet's directory. The socket is root-only, like the
//! Docker plugin's, so its calls act as admin.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::mounts::MountRecord;
use super::{Daemon, DaemonError, Principal};
use crate::names::{self, Kind};
use crate::routes::At;

const KUBELET: &Principal = &Principal::Admin;

pub struct KubeletMounts(pub Arc<Daemon>);

/// What the mount table's keys for kubelet's directories start with.
pub const MOUNT_PREFIX: &str = "flexvolume:";

/// The mount table's key for a kubelet directory.
fn mount_id(target: &Path) -> String {
    format!("{MOUNT_PREFIX}{}", target.display())
}

fn msg(e: DaemonError) -> String {
    e.to_string()
}

/// Kubelet's directory, as it must be before anything is mounted on it: a directory reached
/// without any symbolic link on the way (kubelet made it with `MkdirAll`).
fn check_target(target: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::symlink_metadata(target)
        .map_err(|e| format!("mount directory {}: {e}", target.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "mount directory {} is a symbolic link; kubelet passes a plain directory",
            target.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "mount directory {} is not a directory",
            target.display()
        ));
    }
    // Its parents may be links (a kubelet root directory moved elsewhere): mounts and the
    // mount table use the real path.
    real_path(target)
}

fn real_path(target: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(target).map_err(|e| format!("mount directory {}: {e}", target.display()))
}

impl crate::plugins::flexvolume::Mounter for KubeletMounts {
    fn node_id(&self) -> String {
        self.0.node.core.id.to_string()
    }

    fn mount(&self, target: &Path, at: At<'_>, subdot: &str) -> Result<(), String> {
        let At {
            ns,
            dot: name,
            branch,
        } = at;
        for (kind, v) in [
            (Kind::Namespace, ns),
            (Kind::Dot, name),
            (Kind::Branch, branch),
            (Kind::Subdot, subdot),
        ] {
            names::validate(kind, v).map_err(|e| e.to_string())?;
        }
        let target = check_target(target)?;
        let node = &self.0.node;
        if crate::storage::mounted(&target) {
            // Kubelet skips mounting onto a mount point; a repeat means the first one stands.
            return Ok(());
        }
        node.dots.ensure_dot(KUBELET, ns, name).map_err(msg)?;
        let (path, dir) = node
            .subdots
            .open_subdot(KUBELET, at, subdot, true)
            .map_err(msg)?;
        let bound = match &dir {
            Some(dir) => super::beneath::bind(dir, &target),
            None => crate::sys::bind_mount(&path, &target),
        };
        bound.map_err(|e| {
            format!(
                "cannot bind {} onto {}: {e}",
                path.display(),
                target.display()
            )
        })?;
        node.core.mounts.add(
            &mount_id(&target),
            MountRecord {
                volume: format!("{ns}/{name}@{branch}.{subdot}"),
                namespace: ns.to_string(),
                dot: name.to_string(),
                branch: branch.to_string(),
                path: target.display().to_string(),
            },
        );
        tracing::info!(%ns, dot = name, subdot, target = %target.display(), "kubelet mount");
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<(), String> {
        // As it was recorded; a path that cannot be resolved (a dead mount on it) as given.
        let real = real_path(target).unwrap_or_else(|_| target.to_path_buf());
        let target = real.as_path();
        let id = mount_id(target);
        let node = &self.0.node;
        // Only what this driver mounted: the socket is root's, but a path is still outside input.
        let Some(rec) = node.core.mounts.get(&id) else {
            tracing::info!(target = %target.display(), "kubelet unmount of nothing we mounted");
            return Ok(());
        };
        if crate::storage::mounted(target) {
            super::beneath::unbind(target)
                .map_err(|e| format!("cannot unmount {}: {e}", target.display()))?;
        }
        node.core.mounts.remove(&id, &rec.volume);
        tracing::info!(target = %target.display(), "kubelet unmount");
        Ok(())
    }
}
