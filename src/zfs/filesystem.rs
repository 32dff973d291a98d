//! [`Filesystem`]: one dataset's snapshots, properties, mounting, rollback and destruction.

use super::cmd::{self, Tool, run};
use super::*;

/// A ZFS filesystem (`pool/path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    pub(super) name: String,
}

impl Filesystem {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Handle for snapshot `snap` of this filesystem without asking ZFS; operations on a
    /// missing snapshot fail with [`ZfsError::NotFound`].
    pub fn at(&self, snap: &str) -> Snapshot {
        Snapshot {
            filesystem: self.name.clone(),
            name: snap.to_string(),
        }
    }

    /// Takes a snapshot, setting `props` atomically with its creation.
    pub fn snapshot(&self, snap: &str, props: Props<'_>) -> Result<Snapshot> {
        let full = format!("{}@{snap}", self.name);
        let mut args = vec!["snapshot".to_string()];
        args.extend(prop_args(props));
        args.push(full);
        run_owned(Tool::Zfs, &args)?;
        Ok(Snapshot {
            filesystem: self.name.clone(),
            name: snap.to_string(),
        })
    }

    /// This filesystem's snapshots, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        Ok(list_snapshots(&self.name, &[])?
            .into_iter()
            .map(|s| s.snapshot)
            .filter(|s| s.filesystem == self.name)
            .collect())
    }

    /// Unmounts the filesystem if it is mounted. Busy is [`ZfsError::Busy`] at once, as in
    /// [`Filesystem::destroy`].
    pub fn unmount(&self) -> Result<()> {
        // Not mounted counts as done (`cmd::unmount`), so no `zfs get mounted` first.
        cmd::unmount(&self.name)
    }

    pub fn get_snapshot(&self, snap: &str) -> Result<Snapshot> {
        let full = format!("{}@{snap}", self.name);
        run(
            Tool::Zfs,
            &["list", "-H", "-o", "name", "-t", "snapshot", &full],
        )?;
        Ok(Snapshot {
            filesystem: self.name.clone(),
            name: snap.to_string(),
        })
    }

    /// Bytes of data this filesystem references.
    pub fn referenced(&self) -> Result<u64> {
        let v = get_values(&self.name, &["referenced"])?;
        parse_u64(&self.name, &v[0])
    }

    /// Reads one property (`None` when unset).
    pub fn property(&self, prop: &str) -> Result<Option<String>> {
        let v = get_values(&self.name, &[prop])?.remove(0);
        Ok(if v == "-" { None } else { Some(v) })
    }

    pub fn set_property(&self, prop: &str, value: &str) -> Result<()> {
        let kv = format!("{prop}={value}");
        run(Tool::Zfs, &["set", &kv, &self.name]).map(|_| ())
    }

    /// Sets independent properties at once (see [`set_all`]). `canmount` belongs before
    /// `mountpoint`, so set it first with [`Filesystem::set_property`].
    pub fn set_properties<K: AsRef<str> + Sync, V: AsRef<str> + Sync>(
        &self,
        props: &[(K, V)],
    ) -> Result<()> {
        set_all(&self.name, props)
    }

    pub fn is_mounted(&self) -> Result<bool> {
        Ok(self.property("mounted")?.as_deref() == Some("yes"))
    }

    /// Mounts the filesystem if it is not mounted already.
    pub fn ensure_mounted(&self) -> Result<()> {
        if self.is_mounted()? {
            return Ok(());
        }
        cmd::mount(&self.name)
    }

    /// Rolls back to `snap`, destroying later snapshots (`zfs rollback -r`). Refuses when a later
    /// snapshot has clones, so no branch is ever destroyed as a side effect.
    pub fn rollback_to(&self, snap: &Snapshot) -> Result<()> {
        let full = snap.full_name();
        run(Tool::Zfs, &["rollback", "-r", &full]).map(|_| ())
    }

    /// Rolls back to `snap`, which must be the newest snapshot: discards changes made since,
    /// destroying nothing (`zfs rollback` without `-r`).
    pub fn rollback_to_newest(&self, snap: &Snapshot) -> Result<()> {
        let full = snap.full_name();
        run(Tool::Zfs, &["rollback", &full]).map(|_| ())
    }

    /// Whether this filesystem exists.
    pub fn exists(&self) -> Result<bool> {
        match get_values(&self.name, &["type"]) {
            Ok(_) => Ok(true),
            Err(ZfsError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes this clone independent of its origin (`zfs promote`): the origin's snapshots up
    /// to and including the one it was cloned from move here, with their clones, and the
    /// origin becomes a clone of this filesystem.
    pub fn promote(&self) -> Result<()> {
        run(Tool::Zfs, &["promote", &self.name]).map(|_| ())
    }

    pub fn rename(&mut self, new_name: &str) -> Result<()> {
        run(Tool::Zfs, &["rename", &self.name, new_name])?;
        self.name = new_name.to_string();
        Ok(())
    }

    /// Destroys the filesystem and its snapshots (not clones of them: those make it fail).
    /// Busy is [`ZfsError::Busy`] at once; whether to ask again is the caller's to decide.
    pub fn destroy(self) -> Result<()> {
        run(Tool::Zfs, &["destroy", "-r", &self.name]).map(|_| ())
    }
}
