//! [`Pool`]: opening, creating and destroying a pool, and what is done across its datasets
//! (creating filesystems, listing, receiving streams).

use super::cmd::{self, Tool, run};
use super::*;

/// A ZFS pool.
#[derive(Clone, Debug)]
pub struct Pool {
    pub(super) name: String,
}

impl Pool {
    /// Opens an existing pool; `Ok(None)` when there is no pool of that name.
    pub fn open(name: &str) -> Result<Option<Pool>> {
        match run(Tool::Zpool, &["list", "-H", "-o", "name", name]) {
            Ok(_) => Ok(Some(Pool {
                name: name.to_string(),
            })),
            // `cmd` reads "no such pool" as not found.
            Err(ZfsError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a pool on a sparse file of `size` bytes (made if missing). The pool's root
    /// filesystem is mounted at `mountpoint`, or not at all when `None`.
    pub fn create_on_file(
        name: &str,
        file: &Path,
        size: u64,
        mountpoint: Option<&Path>,
    ) -> Result<Pool> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ZfsError::Failed {
                command: format!("mkdir {}", dir.display()),
                stderr: e.to_string(),
            })?;
        }
        if !file.exists() {
            // Every dot's data is in this file: readable by root alone.
            use std::os::unix::fs::OpenOptionsExt as _;
            let f = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(file)
                .and_then(|f| f.set_len(size).map(|_| f));
            f.map_err(|e| ZfsError::Failed {
                command: format!("create sparse file {}", file.display()),
                stderr: e.to_string(),
            })?;
        }
        let mnt = mountpoint.map_or("none".to_string(), |m| m.display().to_string());
        let path = file.display().to_string();
        run(Tool::Zpool, &["create", "-m", &mnt, name, &path])?;
        Ok(Pool {
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes used and still available to the pool's datasets (`zfs get used,available`).
    pub fn space(&self) -> Result<(u64, u64)> {
        let v = get_values(&self.name, &["used", "available"])?;
        Ok((parse_u64(&self.name, &v[0])?, parse_u64(&self.name, &v[1])?))
    }

    /// The pool's health as `zpool` reports it (`ONLINE`, `DEGRADED`, `FAULTED`, …).
    pub fn health(&self) -> Result<String> {
        let out = run(Tool::Zpool, &["list", "-H", "-o", "health", &self.name])?;
        Ok(out.trim().to_string())
    }

    /// Destroys the pool and everything in it.
    pub fn destroy(self) -> Result<()> {
        run(Tool::Zpool, &["destroy", "-f", &self.name]).map(|_| ())
    }

    /// Handle for `pool/rel`, checking that it exists.
    pub fn filesystem(&self, rel: &str) -> Result<Filesystem> {
        let name = format!("{}/{rel}", self.name);
        run(Tool::Zfs, &["list", "-H", "-o", "name", &name])?;
        Ok(Filesystem { name })
    }

    /// Handle for `pool/rel` without asking ZFS (saves a call on hot paths); operations on a
    /// missing filesystem fail with [`ZfsError::NotFound`].
    pub fn dataset(&self, rel: &str) -> Filesystem {
        Filesystem {
            name: format!("{}/{rel}", self.name),
        }
    }

    /// Creates `pool/rel` (and missing parents) with the given properties.
    pub fn create_filesystem(&self, rel: &str, props: Props<'_>) -> Result<Filesystem> {
        let name = format!("{}/{rel}", self.name);
        let mut args = vec!["create".to_string(), "-p".to_string()];
        args.extend(prop_args(props));
        args.push(name.clone());
        run_owned(Tool::Zfs, &args)?;
        Ok(Filesystem { name })
    }

    /// Filesystems directly below `pool/rel`, with the requested user properties.
    pub fn children(&self, rel: &str, user_props: &[&str]) -> Result<Vec<Listed>> {
        let parent = format!("{}/{rel}", self.name);
        let mut cols = vec!["name", "origin"];
        cols.extend_from_slice(user_props);
        let out = run(
            Tool::Zfs,
            &[
                "list",
                "-H",
                "-r",
                "-d",
                "1",
                "-t",
                "filesystem",
                "-o",
                &cols.join(","),
                &parent,
            ],
        )?;
        Ok(parse_listing(&out, true, user_props)
            .into_iter()
            .filter(|l| l.name != parent)
            .map(|l| Listed {
                filesystem: Filesystem { name: l.name },
                origin: l.origin,
                props: l.props,
            })
            .collect())
    }

    /// Receives a `zfs send` stream from `input` into `pool/rel`. Into an `existing` filesystem,
    /// rolled back to its newest snapshot first (`-F`), which discards changes since: only for
    /// replicas and branches checked clean. Otherwise the stream (full or clone) creates it.
    /// Returns the stream's size in bytes.
    ///
    /// A new filesystem under a parent without a mountpoint mounts nothing, and is received
    /// without the machine-wide mount lock (see `cmd::MOUNTING`): a long first stream then holds
    /// up no other mount on the machine. A receive into an existing filesystem keeps the lock:
    /// run beside other mounts, zfs-fuse failed some with an I/O error.
    pub fn receive(&self, rel: &str, existing: bool, input: Input<'_>) -> Result<u64> {
        let target = format!("{}/{rel}", self.name);
        let mounts = existing || {
            let parent = target
                .rsplit_once('/')
                .map_or(self.name.as_str(), |(p, _)| p);
            let mp = get_values(parent, &["mountpoint"])?.remove(0);
            !matches!(mp.as_str(), "none" | "legacy")
        };
        // zfs-fuse only (see `cmd::forget_cached_lookups`): no extra zfs call elsewhere.
        let was_mounted = existing && !cmd::kernel_zfs() && self.dataset(rel).is_mounted()?;
        let mut args = Vec::new();
        if existing {
            args.push("-F".to_string());
        }
        args.push(target);
        let got = cmd::receive(&args, input, mounts);
        if was_mounted {
            // Whatever came, even part of a cut stream, is under the mount now.
            cmd::forget_cached_lookups();
        }
        got
    }

    /// All snapshots under `pool/rel`, with their createtxg and requested user properties.
    pub fn snapshots_under(&self, rel: &str, user_props: &[&str]) -> Result<Vec<ListedSnapshot>> {
        let parent = format!("{}/{rel}", self.name);
        list_snapshots(&parent, user_props)
    }
}
