//! The one owner of names on disk: which ZFS dataset holds what, where branches are mounted,
//! and how dot, branch and commit metadata are kept in ZFS user properties (so a node can
//! rebuild the registry from its pool alone).
//!
//! `<pool>/dmfs/<fs-id>` per branch, `<fs-id>-reset` while a reset re-clones it, `recv-<fs-id>`
//! while a dot from another cluster waits for confirmation; `@<commit-id>` per commit; mounted at
//! `<mount-dir>/<fs-id>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{Ds, FsId, Role};
use crate::cluster::CommitRecord;

/// The parent of every dataset dm keeps; never mounted (see [`super::Storage::prepare`]).
pub const DMFS: &str = "dmfs";
pub const P_DOT: &str = "io.dm:dot";
pub const P_DOTID: &str = "io.dm:dotid";
pub const P_BRANCH: &str = "io.dm:branch";
/// Bytes a branch referenced when created: uncommitted bytes before its first commit are
/// counted from here. Set last, so recovery takes a filesystem that has it as complete.
pub const P_BASELINE: &str = "io.dm:baseline";
/// Commit records are base64 JSON split over `io.dm:commit.N`: zfs-fuse aborts on values of a
/// few KiB, and tabs or newlines in a raw value would break `-H` parsing.
const P_COMMIT: &str = "io.dm:commit.";
const CHUNK: usize = 2000;
const MAX_CHUNKS: usize = 32;
/// Prefix of the snapshot a handoff moves a branch's uncommitted state with; never a commit.
pub const HANDOFF_PREFIX: &str = "dmh-";
/// Prefix of the short-lived snapshots that tell whether a branch has uncommitted changes.
pub const PROBE_PREFIX: &str = "dmp-";
/// Suffix of a branch filesystem set aside while a re-clone replaces it.
const ASIDE: &str = "-reset";
/// Prefix of a dot received from another cluster before it is confirmed.
const STAGING: &str = "recv-";
/// Prefix of a commit's read-only clone, and the directory (in the mount directory) they mount
/// under: a dot name, never a filesystem id.
const VIEW: &str = "view-";
const VIEWS_DIR: &str = ".views";

/// Dataset names and mountpoints for one pool and mount directory.
#[derive(Clone, Debug)]
pub struct Layout {
    pool: String,
    mount_dir: PathBuf,
}

impl Layout {
    pub fn new(pool: &str, mount_dir: &Path) -> Layout {
        Layout {
            pool: pool.to_string(),
            mount_dir: mount_dir.to_path_buf(),
        }
    }

    pub fn pool(&self) -> &str {
        &self.pool
    }

    pub fn mount_dir(&self) -> &Path {
        &self.mount_dir
    }

    /// `ds`'s name relative to the pool.
    pub fn rel(ds: Ds<'_>) -> String {
        match ds {
            Ds::Branch(fs) => format!("{DMFS}/{fs}"),
            Ds::Aside(fs) => format!("{DMFS}/{fs}{ASIDE}"),
            Ds::Staging(fs) => format!("{DMFS}/{STAGING}{fs}"),
            Ds::View(id) => format!("{DMFS}/{VIEW}{id}"),
        }
    }

    /// `ds`'s full ZFS name.
    pub fn name(&self, ds: Ds<'_>) -> String {
        format!("{}/{}", self.pool, Self::rel(ds))
    }

    /// Where branch `fs_id` is mounted.
    pub fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.mount_dir.join(fs_id)
    }

    /// Where view `id` is mounted.
    pub fn view_mountpoint(&self, id: &str) -> PathBuf {
        self.mount_dir.join(VIEWS_DIR).join(id)
    }

    /// What a full dataset name under `dmfs` is; `None` for anything else.
    pub fn role(&self, full: &str) -> Option<Role> {
        role_in_pool(full.strip_prefix(&self.pool)?.strip_prefix('/')?)
    }

    /// A full snapshot name under `dmfs` as (role, snapshot name).
    pub fn snapshot_role(&self, full: &str) -> Option<(Role, String)> {
        let (fs, snap) = full.split_once('@')?;
        Some((self.role(fs)?, snap.to_string()))
    }

    /// An `origin` property as (filesystem id, snapshot) when it is a branch's snapshot.
    pub fn origin(&self, origin: &str) -> Option<(FsId, String)> {
        match self.snapshot_role(origin)? {
            (Role::Branch(fs), snap) => Some((fs, snap)),
            _ => None,
        }
    }
}

/// What a dataset name relative to the pool (`dmfs/…`) is; `None` for anything else.
pub fn role_in_pool(rel: &str) -> Option<Role> {
    let rest = rel.strip_prefix(DMFS)?.strip_prefix('/')?;
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return None;
    }
    Some(role_of(rest))
}

/// The role of a dataset by its name below `dmfs`.
fn role_of(rel: &str) -> Role {
    if let Some(fs) = rel.strip_prefix(STAGING) {
        Role::Staging(fs.into())
    } else if let Some(id) = rel.strip_prefix(VIEW) {
        Role::View(id.into())
    } else if let Some(fs) = rel.strip_suffix(ASIDE) {
        Role::Aside(fs.into())
    } else {
        Role::Branch(rel.into())
    }
}

/// The user properties that carry a commit record.
pub fn encode_commit(c: &CommitRecord) -> Vec<(String, String)> {
    let b64 = B64.encode(serde_json::to_vec(c).expect("commit serialises"));
    b64.as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, ch)| {
            (
                format!("{P_COMMIT}{i}"),
                String::from_utf8_lossy(ch).into_owned(),
            )
        })
        .collect()
}

/// The commit record in a snapshot's user properties, if whole.
pub fn decode_commit(props: &BTreeMap<String, String>) -> Option<CommitRecord> {
    let mut b64 = String::new();
    for i in 0..MAX_CHUNKS {
        match props.get(&format!("{P_COMMIT}{i}")) {
            Some(part) => b64.push_str(part),
            None => break,
        }
    }
    serde_json::from_slice(&B64.decode(b64).ok()?).ok()
}

/// The property names [`decode_commit`] reads.
pub fn commit_columns() -> Vec<String> {
    (0..MAX_CHUNKS).map(|i| format!("{P_COMMIT}{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_roles() {
        let l = Layout::new("pool", Path::new("/m"));
        let ab = FsId::from("ab");
        for (ds, role) in [
            (Ds::Branch(&ab), Role::Branch(ab.clone())),
            (Ds::Aside(&ab), Role::Aside(ab.clone())),
            (Ds::Staging(&ab), Role::Staging(ab.clone())),
            (Ds::View(&ab), Role::View(ab.clone())),
        ] {
            assert_eq!(l.role(&l.name(ds)), Some(role));
        }
        assert_eq!(l.name(Ds::Aside(&FsId::from("x"))), "pool/dmfs/x-reset");
        assert_eq!(l.role("pool/dmfs"), None);
        assert_eq!(l.role("pool2/dmfs/x"), None);
        assert_eq!(l.role("pool/dmfs/x/y"), None);
        assert_eq!(
            l.origin("pool/dmfs/x@c1"),
            Some((FsId::from("x"), "c1".to_string()))
        );
        assert_eq!(l.origin("pool/dmfs/recv-x@c1"), None);
        assert_eq!(l.mountpoint("x"), PathBuf::from("/m/x"));
    }

    #[test]
    fn commit_metadata_round_trips_through_properties() {
        let mut metadata = BTreeMap::new();
        metadata.insert("big".to_string(), "x\ty\n".repeat(3000));
        let c = CommitRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            message: "tabs\tand\nnewlines".into(),
            author: "admin".into(),
            time: 7,
            seq: 9,
            metadata,
        };
        let props: BTreeMap<String, String> = encode_commit(&c).into_iter().collect();
        assert!(props.len() > 1 && props.len() <= MAX_CHUNKS);
        assert!(
            props
                .values()
                .all(|v| v.len() <= CHUNK && !v.contains('\t'))
        );
        assert_eq!(decode_commit(&props), Some(c));
    }

    #[test]
    fn largest_allowed_commit_fits_in_the_chunks() {
        // Tabs are the worst case allowed: each doubles when JSON-escaped.
        let c = CommitRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            message: "\t".repeat(crate::api::MAX_COMMIT_META),
            author: "a".into(),
            time: 0,
            seq: 0,
            metadata: BTreeMap::new(),
        };
        assert!(encode_commit(&c).len() <= MAX_CHUNKS);
    }
}
