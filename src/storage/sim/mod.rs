//! [`SimStorage`]: the [`Storage`] trait in memory, for unit tests of the node's logic without
//! root, zfs-fuse or etcd.
//!
//! It keeps ZFS's rules that the node relies on: clones pin their origin snapshot (destroying it,
//! its filesystem, or rolling back past it fails with `HasDependents`), a plain rollback only
//! goes to the newest snapshot, a receive into an existing filesystem must continue from its
//! newest snapshot, a received snapshot keeps its GUID, and user properties do not travel in a
//! stream. A mounted filesystem is a real directory under the scratch mount directory, so code
//! that opens subdots works unchanged; its files are what snapshots capture and rollbacks restore.
//! Tests can make the next call of an operation fail ([`SimStorage::fail_next`]), hold a
//! filesystem busy ([`SimStorage::set_busy`]) and read the operations done ([`SimStorage::calls`]).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

mod storage;

use super::layout::Layout;
use super::{
    Ds, Error, Input, Listed, ListedSnapshot, Props, Result, Role, Rollback, Sending, Sizes,
    Storage,
};

/// Files of a filesystem: relative path → contents (`None` for a directory).
type Tree = BTreeMap<String, Option<Vec<u8>>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Snap {
    name: String,
    guid: u64,
    tree: Tree,
    #[serde(skip)]
    props: BTreeMap<String, String>,
    /// Creation order in this pool (ZFS's createtxg).
    #[serde(skip)]
    txg: u64,
}

#[derive(Clone, Debug, Default)]
struct Fs {
    props: BTreeMap<String, String>,
    /// (dataset name relative to the pool, snapshot name).
    origin: Option<(String, String)>,
    snaps: Vec<Snap>,
    /// The files while unmounted; while mounted they are the directory's.
    live: Tree,
    mounted: bool,
    busy: bool,
}

/// What a simulated send stream carries.
#[derive(Serialize, Deserialize)]
struct Stream {
    /// GUID of the snapshot the increment starts from (`None`: a full stream).
    base: Option<u64>,
    snaps: Vec<Snap>,
}

/// A failure [`SimStorage::fail_next`] injects.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    NoSpace,
    Busy,
    /// Any other failure of the command.
    Failed,
}

#[derive(Default)]
struct State {
    datasets: BTreeMap<String, Fs>,
    /// Random per pool, so two simulated nodes never make equal GUIDs.
    guid_base: u64,
    txg: u64,
    /// (operation, calls of it still to let through, failure).
    faults: Vec<(&'static str, usize, Fault)>,
    calls: Vec<String>,
    /// What [`Storage::space`] answers (used, available); plenty unless a test says otherwise.
    space: Option<(u64, u64)>,
}

/// An in-memory pool whose mounted filesystems live under a scratch directory.
pub struct SimStorage {
    layout: Layout,
    state: Mutex<State>,
}

fn failed(what: &str, why: &str) -> Error {
    Error::Failed {
        command: format!("sim {what}"),
        stderr: why.to_string(),
    }
}

impl SimStorage {
    /// A simulated pool `pool` mounting branches under `mount_dir` (which should be scratch).
    pub fn new(pool: &str, mount_dir: &Path) -> SimStorage {
        let seed = &crate::ids::random_hex()[..16];
        let seed = u64::from_str_radix(seed, 16).expect("hex digits");
        SimStorage {
            layout: Layout::new(pool, mount_dir),
            state: Mutex::new(State {
                guid_base: seed & !0xffff_ffff,
                ..State::default()
            }),
        }
    }

    /// Makes the next call of operation `op` (a [`Storage`] method's name) fail with `fault`.
    pub fn fail_next(&self, op: &'static str, fault: Fault) {
        self.fail_nth(op, 1, fault);
    }

    /// Makes the `n`th call of operation `op` from now fail with `fault`.
    pub fn fail_nth(&self, op: &'static str, n: usize, fault: Fault) {
        assert!(n >= 1, "calls are counted from 1");
        self.state.lock().unwrap().faults.push((op, n - 1, fault));
    }

    /// Holds filesystem `ds` busy (a process has files open in it), or releases it.
    pub fn set_busy(&self, ds: Ds<'_>, busy: bool) {
        let rel = Layout::rel(ds);
        if let Some(fs) = self.state.lock().unwrap().datasets.get_mut(&rel) {
            fs.busy = busy;
        }
    }

    /// The changing operations done so far, as `op dataset[@snapshot]`.
    /// Makes the pool look this full to [`Storage::space`].
    pub fn set_space(&self, used: u64, available: u64) {
        self.state.lock().unwrap().space = Some((used, available));
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Every dataset's name relative to the pool, with its snapshots.
    pub fn tree(&self) -> BTreeMap<String, Vec<String>> {
        let st = self.state.lock().unwrap();
        st.datasets
            .iter()
            .map(|(k, f)| (k.clone(), f.snaps.iter().map(|s| s.name.clone()).collect()))
            .collect()
    }

    /// Records a changing call and returns an injected failure for it, if one is due.
    fn enter(&self, st: &mut State, op: &'static str, target: String) -> Result<()> {
        let due = st.faults.iter_mut().position(|(o, skip, _)| {
            if *o != op {
                return false;
            }
            if *skip == 0 {
                return true;
            }
            *skip -= 1;
            false
        });
        if let Some(i) = due {
            let (_, _, fault) = st.faults.remove(i);
            return Err(match fault {
                Fault::NoSpace => Error::NoSpace(target),
                Fault::Busy => Error::Busy(target),
                Fault::Failed => failed(op, "injected failure"),
            });
        }
        st.calls.push(format!("{op} {target}"));
        Ok(())
    }

    fn mountpoint_of(fs: &Fs) -> Option<PathBuf> {
        match fs.props.get("mountpoint").map(String::as_str) {
            None | Some("none") | Some("legacy") => None,
            Some(p) => Some(PathBuf::from(p)),
        }
    }

    /// The files of `fs` now.
    fn current(fs: &Fs) -> Tree {
        match (fs.mounted, Self::mountpoint_of(fs)) {
            (true, Some(mp)) => read_tree(&mp),
            _ => fs.live.clone(),
        }
    }

    /// Replaces the files of `fs`.
    fn put(fs: &mut Fs, tree: Tree) -> Result<()> {
        match (fs.mounted, Self::mountpoint_of(fs)) {
            (true, Some(mp)) => write_tree(&mp, &tree),
            _ => {
                fs.live = tree;
                Ok(())
            }
        }
    }

    /// Whether a dataset was cloned from `rel@snap`.
    fn has_clones(st: &State, rel: &str, snap: Option<&str>) -> bool {
        st.datasets.values().any(|f| {
            f.origin
                .as_ref()
                .is_some_and(|(o, s)| o == rel && snap.is_none_or(|want| want == s))
        })
    }

    /// The next creation order number.
    fn txg(st: &mut State) -> u64 {
        st.txg += 1;
        st.txg
    }
}

fn get<'a>(st: &'a State, rel: &str) -> Result<&'a Fs> {
    st.datasets
        .get(rel)
        .ok_or_else(|| Error::NotFound(rel.to_string()))
}

fn get_mut<'a>(st: &'a mut State, rel: &str) -> Result<&'a mut Fs> {
    st.datasets
        .get_mut(rel)
        .ok_or_else(|| Error::NotFound(rel.to_string()))
}

fn snap_of<'a>(fs: &'a Fs, rel: &str, name: &str) -> Result<&'a Snap> {
    fs.snaps
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::NotFound(format!("{rel}@{name}")))
}

fn read_tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .expect("below the root")
                .display()
                .to_string();
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    out.insert(rel, None);
                    walk(root, &path, out);
                }
                Ok(_) => {
                    out.insert(rel, Some(std::fs::read(&path).unwrap_or_default()));
                }
                Err(_) => {}
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

fn write_tree(root: &Path, tree: &Tree) -> Result<()> {
    let io = |e: std::io::Error| failed("write", &e.to_string());
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(io)?;
    }
    std::fs::create_dir_all(root).map_err(io)?;
    for (rel, content) in tree {
        let path = root.join(rel);
        match content {
            None => std::fs::create_dir_all(&path).map_err(io)?,
            Some(bytes) => std::fs::write(&path, bytes).map_err(io)?,
        }
    }
    Ok(())
}

fn size(tree: &Tree) -> u64 {
    tree.values().flatten().map(|b| b.len() as u64).sum()
}

/// A stream being read or spliced.
struct SimSending(std::io::Cursor<Vec<u8>>);

impl Read for SimSending {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Sending for SimSending {
    fn splice_into(
        &mut self,
        to: std::os::fd::BorrowedFd<'_>,
        progress: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        let mut out = std::fs::File::from(to.try_clone_to_owned()?);
        let mut rest = Vec::new();
        self.0.read_to_end(&mut rest)?;
        out.write_all(&rest)?;
        progress(rest.len() as u64)?;
        Ok(rest.len() as u64)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
