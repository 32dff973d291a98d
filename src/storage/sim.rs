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
        let mut seed = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .expect("/dev/urandom is readable");
        SimStorage {
            layout: Layout::new(pool, mount_dir),
            state: Mutex::new(State {
                guid_base: u64::from_le_bytes(seed) & !0xffff_ffff,
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

impl Storage for SimStorage {
    fn pool_name(&self) -> &str {
        self.layout.pool()
    }

    fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.layout.mountpoint(fs_id)
    }

    fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(self.layout.mount_dir())
            .map_err(|e| failed("mkdir", &e.to_string()))
    }

    fn create(&self, ds: Ds<'_>, origin: Option<(&str, &str)>, props: Props<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        self.enter(&mut st, "create", rel.clone())?;
        if st.datasets.contains_key(&rel) {
            return Err(Error::AlreadyExists(rel));
        }
        let (live, origin) = match origin {
            Some((fs, snap)) => {
                let orel = Layout::rel(Ds::Branch(fs));
                let tree = snap_of(get(&st, &orel)?, &orel, snap)?.tree.clone();
                (tree, Some((orel, snap.to_string())))
            }
            None => (Tree::new(), None),
        };
        let fs = Fs {
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            origin,
            live,
            ..Fs::default()
        };
        st.datasets.insert(rel, fs);
        Ok(())
    }

    fn exists(&self, ds: Ds<'_>) -> Result<bool> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .datasets
            .contains_key(&Layout::rel(ds)))
    }

    fn destroy(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if fs.busy && fs.mounted {
            return Err(Error::Busy(rel));
        }
        if Self::has_clones(&st, &rel, None) {
            return Err(Error::HasDependents {
                target: rel,
                stderr: "filesystem has dependent clones".into(),
            });
        }
        self.enter(&mut st, "destroy", rel.clone())?;
        let fs = st.datasets.remove(&rel).expect("checked above");
        if let (true, Some(mp)) = (fs.mounted, Self::mountpoint_of(&fs)) {
            let _ = std::fs::remove_dir_all(mp);
        }
        Ok(())
    }

    fn rename(&self, from: Ds<'_>, to: Ds<'_>) -> Result<()> {
        let (from, to) = (Layout::rel(from), Layout::rel(to));
        let mut st = self.state.lock().unwrap();
        get(&st, &from)?;
        if st.datasets.contains_key(&to) {
            return Err(Error::AlreadyExists(to));
        }
        self.enter(&mut st, "rename", format!("{from} {to}"))?;
        let fs = st.datasets.remove(&from).expect("checked above");
        st.datasets.insert(to.clone(), fs);
        for f in st.datasets.values_mut() {
            if let Some((o, _)) = f.origin.as_mut()
                && *o == from
            {
                *o = to.clone();
            }
        }
        Ok(())
    }

    fn property(&self, ds: Ds<'_>, prop: &str) -> Result<Option<String>> {
        let st = self.state.lock().unwrap();
        let rel = Layout::rel(ds);
        let fs = get(&st, &rel)?;
        Ok(match prop {
            "mounted" => Some(if fs.mounted { "yes" } else { "no" }.into()),
            "origin" => fs
                .origin
                .as_ref()
                .map(|(o, s)| format!("{}/{o}@{s}", self.layout.pool())),
            "referenced" => Some(size(&Self::current(fs)).to_string()),
            _ => fs.props.get(prop).cloned(),
        })
    }

    fn set_properties(&self, ds: Ds<'_>, props: &[(String, String)]) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        get(&st, &rel)?;
        for (k, v) in props {
            self.enter(&mut st, "set_properties", format!("{rel} {k}={v}"))?;
            let fs = get_mut(&mut st, &rel)?;
            if k == "mountpoint" && fs.mounted {
                // ZFS remounts at the new place (or unmounts for `none`).
                let tree = Self::current(fs);
                if let Some(old) = Self::mountpoint_of(fs) {
                    let _ = std::fs::remove_dir_all(old);
                }
                fs.mounted = false;
                fs.live = tree;
                fs.props.insert(k.clone(), v.clone());
                if let Some(mp) = Self::mountpoint_of(fs) {
                    write_tree(&mp, &fs.live)?;
                    fs.mounted = true;
                }
                continue;
            }
            fs.props.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn origin(&self, ds: Ds<'_>) -> Result<Option<(String, String)>> {
        let st = self.state.lock().unwrap();
        let fs = get(&st, &Layout::rel(ds))?;
        Ok(fs.origin.as_ref().and_then(|(o, s)| {
            match super::layout::role_of(o.strip_prefix("dmfs/")?) {
                Role::Branch(fs) => Some((fs, s.clone())),
                _ => None,
            }
        }))
    }

    fn referenced(&self, ds: Ds<'_>) -> Result<u64> {
        let st = self.state.lock().unwrap();
        Ok(size(&Self::current(get(&st, &Layout::rel(ds))?)))
    }

    fn is_mounted(&self, ds: Ds<'_>) -> Result<bool> {
        let st = self.state.lock().unwrap();
        match st.datasets.get(&Layout::rel(ds)) {
            Some(fs) => Ok(fs.mounted),
            None if matches!(ds, Ds::Branch(_)) => Ok(false),
            None => Err(Error::NotFound(Layout::rel(ds))),
        }
    }

    fn mount(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        if get(&st, &rel)?.mounted {
            return Ok(());
        }
        self.enter(&mut st, "mount", rel.clone())?;
        let fs = get_mut(&mut st, &rel)?;
        let mp = Self::mountpoint_of(fs).ok_or_else(|| failed("mount", "no mountpoint set"))?;
        write_tree(&mp, &fs.live)?;
        fs.mounted = true;
        Ok(())
    }

    fn unmount(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if !fs.mounted {
            return Ok(());
        }
        if fs.busy {
            return Err(Error::Busy(rel));
        }
        self.enter(&mut st, "unmount", rel.clone())?;
        let fs = get_mut(&mut st, &rel)?;
        fs.live = Self::current(fs);
        if let Some(mp) = Self::mountpoint_of(fs) {
            let _ = std::fs::remove_dir_all(&mp);
            let _ = std::fs::create_dir_all(&mp);
        }
        fs.mounted = false;
        Ok(())
    }

    fn snapshot(&self, ds: Ds<'_>, name: &str, props: Props<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if fs.snaps.iter().any(|s| s.name == name) {
            return Err(Error::AlreadyExists(format!("{rel}@{name}")));
        }
        self.enter(&mut st, "snapshot", format!("{rel}@{name}"))?;
        let txg = Self::txg(&mut st);
        let guid = st.guid_base | txg;
        let fs = get_mut(&mut st, &rel)?;
        let tree = Self::current(fs);
        fs.snaps.push(Snap {
            name: name.to_string(),
            guid,
            txg,
            tree,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        Ok(())
    }

    fn snapshots(&self, ds: Ds<'_>) -> Result<Vec<String>> {
        let st = self.state.lock().unwrap();
        let fs = get(&st, &Layout::rel(ds))?;
        Ok(fs.snaps.iter().map(|s| s.name.clone()).collect())
    }

    fn has_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<bool> {
        let st = self.state.lock().unwrap();
        Ok(st
            .datasets
            .get(&Layout::rel(ds))
            .is_some_and(|fs| fs.snaps.iter().any(|s| s.name == name)))
    }

    fn destroy_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        snap_of(get(&st, &rel)?, &rel, name)?;
        if Self::has_clones(&st, &rel, Some(name)) {
            return Err(Error::HasDependents {
                target: format!("{rel}@{name}"),
                stderr: "snapshot has dependent clones".into(),
            });
        }
        self.enter(&mut st, "destroy_snapshot", format!("{rel}@{name}"))?;
        get_mut(&mut st, &rel)?.snaps.retain(|s| s.name != name);
        Ok(())
    }

    fn set_snapshot_properties(
        &self,
        ds: Ds<'_>,
        name: &str,
        props: &[(String, String)],
    ) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        snap_of(get(&st, &rel)?, &rel, name)?;
        self.enter(&mut st, "set_snapshot_properties", format!("{rel}@{name}"))?;
        let fs = get_mut(&mut st, &rel)?;
        let snap = fs
            .snaps
            .iter_mut()
            .find(|s| s.name == name)
            .expect("checked");
        snap.props.extend(props.iter().cloned());
        Ok(())
    }

    fn guid(&self, ds: Ds<'_>, name: &str) -> Result<String> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        Ok(snap_of(get(&st, &rel)?, &rel, name)?.guid.to_string())
    }

    fn snapshot_referenced(&self, ds: Ds<'_>, name: &str) -> Result<u64> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        Ok(size(&snap_of(get(&st, &rel)?, &rel, name)?.tree))
    }

    fn rollback(&self, ds: Ds<'_>, name: &str, how: Rollback) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        let at = fs
            .snaps
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::NotFound(format!("{rel}@{name}")))?;
        let later: Vec<String> = fs.snaps[at + 1..].iter().map(|s| s.name.clone()).collect();
        if how == Rollback::Newest && !later.is_empty() {
            return Err(failed(
                "rollback",
                "more recent snapshots exist; use '-r' to force deletion",
            ));
        }
        if let Some(l) = later.iter().find(|l| Self::has_clones(&st, &rel, Some(l))) {
            return Err(Error::HasDependents {
                target: format!("{rel}@{l}"),
                stderr: "snapshot has dependent clones".into(),
            });
        }
        self.enter(&mut st, "rollback", format!("{rel}@{name}"))?;
        let fs = get_mut(&mut st, &rel)?;
        fs.snaps.truncate(at + 1);
        let tree = fs.snaps[at].tree.clone();
        Self::put(fs, tree)
    }

    fn differs(&self, ds: Ds<'_>, newer: &str, older: &str) -> Result<bool> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        Ok(snap_of(fs, &rel, newer)?.tree != snap_of(fs, &rel, older)?.tree)
    }

    fn send(
        &self,
        ds: Ds<'_>,
        to: &str,
        from: Option<(Ds<'_>, &str)>,
        intermediates: bool,
    ) -> Result<Box<dyn Sending>> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        let end = fs
            .snaps
            .iter()
            .position(|s| s.name == to)
            .ok_or_else(|| Error::NotFound(format!("{rel}@{to}")))?;
        let (base, start) = match from {
            None => (None, end),
            Some((fds, fname)) => {
                let frel = Layout::rel(fds);
                let ffs = get(&st, &frel)?;
                let base = snap_of(ffs, &frel, fname)?.guid;
                let start = if frel == rel {
                    let at = fs
                        .snaps
                        .iter()
                        .position(|s| s.name == fname)
                        .expect("found");
                    if at >= end {
                        return Err(failed("send", "incremental source is not earlier"));
                    }
                    if intermediates { at + 1 } else { end }
                } else {
                    end
                };
                (Some(base), start)
            }
        };
        let stream = Stream {
            base,
            snaps: fs.snaps[start..=end].to_vec(),
        };
        let bytes = serde_json::to_vec(&stream).expect("stream serialises");
        Ok(Box::new(SimSending(std::io::Cursor::new(bytes))))
    }

    fn receive(&self, ds: Ds<'_>, existing: bool, input: Input<'_>) -> Result<u64> {
        let rel = Layout::rel(ds);
        let mut bytes = Vec::new();
        let read = match input {
            Input::Read(r) => r.read_to_end(&mut bytes),
            Input::Splice { from, progress } => from
                .try_clone_to_owned()
                .and_then(|fd| std::fs::File::from(fd).read_to_end(&mut bytes))
                .and_then(|n| progress(n as u64).map(|()| n)),
        };
        read.map_err(|e| failed("receive", &e.to_string()))?;
        let stream: Stream = serde_json::from_slice(&bytes)
            .map_err(|_| Error::BadStream("invalid or truncated stream".into()))?;
        if stream.snaps.is_empty() {
            return Err(Error::BadStream("a stream without snapshots".into()));
        }
        let mut st = self.state.lock().unwrap();
        self.enter(&mut st, "receive", rel.clone())?;
        let mut snaps = stream.snaps;
        for s in &mut snaps {
            s.txg = Self::txg(&mut st);
        }
        if existing {
            let fs = get(&st, &rel)?;
            let newest = fs.snaps.last().map(|s| s.guid);
            if stream.base.is_none() || stream.base != newest {
                return Err(failed(
                    "receive",
                    "most recent snapshot does not match incremental source",
                ));
            }
            if fs.busy {
                return Err(Error::Busy(rel));
            }
            let fs = get_mut(&mut st, &rel)?;
            let tree = snaps.last().expect("a stream has snapshots").tree.clone();
            fs.snaps.extend(snaps);
            Self::put(fs, tree)?;
        } else {
            if st.datasets.contains_key(&rel) {
                return Err(Error::AlreadyExists(rel));
            }
            let origin = match stream.base {
                None => None,
                Some(g) => Some(
                    st.datasets
                        .iter()
                        .find_map(|(k, f)| {
                            f.snaps
                                .iter()
                                .find(|s| s.guid == g)
                                .map(|s| (k.clone(), s.name.clone()))
                        })
                        .ok_or_else(|| {
                            failed("receive", "local origin for clone does not exist")
                        })?,
                ),
            };
            let live = snaps.last().expect("a stream has snapshots").tree.clone();
            st.datasets.insert(
                rel,
                Fs {
                    origin,
                    snaps,
                    live,
                    ..Fs::default()
                },
            );
        }
        Ok(bytes.len() as u64)
    }

    fn list(
        &self,
        fs_props: &[&str],
        snap_props: &[&str],
    ) -> Result<(Vec<Listed>, Vec<ListedSnapshot>)> {
        let st = self.state.lock().unwrap();
        let pick = |props: &BTreeMap<String, String>, want: &[&str]| {
            props
                .iter()
                .filter(|(k, _)| want.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut filesystems = Vec::new();
        let mut snapshots = Vec::new();
        for (rel, fs) in &st.datasets {
            let Some(role) = rel.strip_prefix("dmfs/").map(super::layout::role_of) else {
                continue;
            };
            let mut props = pick(&fs.props, fs_props);
            if fs_props.contains(&"readonly") && !props.contains_key("readonly") {
                props.insert("readonly".into(), "off".into());
            }
            filesystems.push(Listed {
                role: role.clone(),
                origin: fs.origin.as_ref().and_then(|(o, s)| {
                    match super::layout::role_of(o.strip_prefix("dmfs/")?) {
                        Role::Branch(f) => Some((f, s.clone())),
                        _ => None,
                    }
                }),
                props,
            });
            for s in &fs.snaps {
                snapshots.push((
                    s.txg,
                    ListedSnapshot {
                        role: role.clone(),
                        name: s.name.clone(),
                        props: pick(&s.props, snap_props),
                    },
                ));
            }
        }
        // Creation order across the pool, as ZFS lists them.
        snapshots.sort_by_key(|(g, _)| *g);
        Ok((filesystems, snapshots.into_iter().map(|(_, s)| s).collect()))
    }

    fn sizes(&self, fs_ids: Option<&[String]>) -> Result<Sizes> {
        let st = self.state.lock().unwrap();
        let mut out = Sizes::new();
        for (rel, fs) in &st.datasets {
            let Some(Role::Branch(id)) = rel.strip_prefix("dmfs/").map(super::layout::role_of)
            else {
                continue;
            };
            if fs_ids.is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let now = Self::current(fs);
            let used = size(&now) + fs.snaps.iter().map(|s| size(&s.tree)).sum::<u64>();
            let dirty = match fs.snaps.last() {
                Some(s) if s.tree == now => 0,
                _ => size(&now),
            };
            out.insert(id, (used, dirty));
        }
        Ok(out)
    }
}
