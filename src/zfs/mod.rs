//! A small typed, git2-style API over ZFS: [`Pool`], [`Filesystem`] and [`Snapshot`] handles.
//!
//! Everything here drives the `zfs`/`zpool` commands through [`cmd`]; nothing above this module
//! builds a command line. Only features that zfs-fuse (pool version 23) and OpenZFS share are used:
//! `-H` output, `zfs get -Hp` for exact numbers (zfs-fuse's `zfs list` has no `-p`), no bookmarks,
//! no resume tokens.

mod cmd;

use std::collections::BTreeMap;
use std::path::Path;

use cmd::{Tool, run};

/// Errors of the ZFS layer; each names what failed so the daemon can tell the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum ZfsError {
    #[error("`{tool}` could not be run ({source}); install ZFS (zfs-fuse or OpenZFS)")]
    ToolMissing {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("the ZFS daemon is not answering ({0}); start zfs-fuse or load the zfs module")]
    DaemonDown(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}: the pool is out of space")]
    NoSpace(String),
    #[error("{0} is busy (a process has files open in it)")]
    Busy(String),
    #[error("{target} has dependents: {stderr}")]
    HasDependents { target: String, stderr: String },
    /// `zfs receive` refused what it was given: not a stream, altered, or cut short.
    #[error("{0}")]
    BadStream(String),
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("unexpected output from zfs: {0}")]
    Parse(String),
}

pub type Result<T> = std::result::Result<T, ZfsError>;

/// A property to set when creating a dataset.
pub type Props<'a> = &'a [(&'a str, &'a str)];

fn prop_args(props: Props<'_>) -> Vec<String> {
    props
        .iter()
        .flat_map(|(k, v)| ["-o".to_string(), format!("{k}={v}")])
        .collect()
}

fn run_owned(tool: Tool, args: &[String]) -> Result<String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(tool, &refs)
}

/// Reads exact (`-p`) values of `props` for one dataset, in order. `-` means unset.
fn get_values(dataset: &str, props: &[&str]) -> Result<Vec<String>> {
    let joined = props.join(",");
    let out = run(
        Tool::Zfs,
        &["get", "-Hp", "-o", "property,value", &joined, dataset],
    )?;
    let mut map: BTreeMap<&str, &str> = BTreeMap::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('\t') {
            map.insert(k, v);
        }
    }
    Ok(props
        .iter()
        .map(|p| map.get(p).copied().unwrap_or("-").to_string())
        .collect())
}

fn parse_u64(dataset: &str, v: &str) -> Result<u64> {
    v.parse()
        .map_err(|_| ZfsError::Parse(format!("{dataset}: expected a number, got {v:?}")))
}

/// A ZFS pool.
#[derive(Clone, Debug)]
pub struct Pool {
    name: String,
}

impl Pool {
    /// Opens an existing pool; `Ok(None)` when there is no pool of that name.
    pub fn open(name: &str) -> Result<Option<Pool>> {
        match run(Tool::Zpool, &["list", "-H", "-o", "name", name]) {
            Ok(_) => Ok(Some(Pool {
                name: name.to_string(),
            })),
            Err(ZfsError::NotFound(_)) => Ok(None),
            Err(ZfsError::Failed { stderr, .. }) if stderr.contains("no such pool") => Ok(None),
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

struct Row {
    name: String,
    origin: Option<String>,
    props: BTreeMap<String, String>,
}

/// Rows of `zfs list -H -o name[,origin],USER_PROPS…`.
fn parse_listing(out: &str, with_origin: bool, user_props: &[&str]) -> Vec<Row> {
    out.lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next()?.to_string();
            let origin = if with_origin {
                cols.next().filter(|o| *o != "-").map(str::to_string)
            } else {
                None
            };
            let props = user_props
                .iter()
                .zip(cols)
                .filter(|(_, v)| *v != "-")
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(Row {
                name,
                origin,
                props,
            })
        })
        .collect()
}

fn list_snapshots(parent: &str, user_props: &[&str]) -> Result<Vec<ListedSnapshot>> {
    let mut cols = vec!["name"];
    cols.extend_from_slice(user_props);
    // zfs sorts by creation itself: `zfs list` prints numbers rounded ("1.20K") and pool v23
    // has no `-p`, so a createtxg column could not be parsed once the pool passed txg 999.
    let out = run(
        Tool::Zfs,
        &[
            "list",
            "-H",
            "-r",
            "-t",
            "snapshot",
            "-s",
            "createtxg",
            "-o",
            &cols.join(","),
            parent,
        ],
    )?;
    Ok(parse_snapshot_listing(&out, user_props))
}

fn parse_snapshot_listing(out: &str, user_props: &[&str]) -> Vec<ListedSnapshot> {
    parse_listing(out, false, user_props)
        .into_iter()
        .filter_map(|Row { name, props, .. }| {
            let (fs, snap) = name.split_once('@')?;
            Some(ListedSnapshot {
                snapshot: Snapshot {
                    filesystem: fs.to_string(),
                    name: snap.to_string(),
                },
                props,
            })
        })
        .collect()
}

/// A filesystem from a listing, with its origin snapshot (for clones) and user properties.
#[derive(Clone, Debug)]
pub struct Listed {
    pub filesystem: Filesystem,
    pub origin: Option<String>,
    pub props: BTreeMap<String, String>,
}

/// A snapshot from a listing, in creation order.
#[derive(Clone, Debug)]
pub struct ListedSnapshot {
    pub snapshot: Snapshot,
    pub props: BTreeMap<String, String>,
}

/// A ZFS filesystem (`pool/path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    name: String,
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

    /// Unmounts the filesystem if it is mounted. Busy is retried briefly, as in
    /// [`Filesystem::destroy`].
    pub fn unmount(&self) -> Result<()> {
        if !self.is_mounted()? {
            return Ok(());
        }
        let mut tries = 0;
        loop {
            match run(Tool::Zfs, &["unmount", &self.name]) {
                Ok(_) => return Ok(()),
                Err(ZfsError::Failed { stderr, .. })
                    if stderr.contains("not currently mounted") =>
                {
                    return Ok(());
                }
                Err(ZfsError::Failed { stderr, .. }) if stderr.contains("busy") => {
                    return Err(ZfsError::Busy(self.name.clone()));
                }
                Err(ZfsError::Busy(_)) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100 * tries));
                }
                Err(e) => return Err(e),
            }
        }
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
        match run(Tool::Zfs, &["mount", &self.name]) {
            Ok(_) => Ok(()),
            Err(ZfsError::Failed { stderr, .. }) if stderr.contains("already mounted") => Ok(()),
            Err(e) => Err(e),
        }
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

    pub fn rename(&mut self, new_name: &str) -> Result<()> {
        run(Tool::Zfs, &["rename", &self.name, new_name])?;
        self.name = new_name.to_string();
        Ok(())
    }

    /// Destroys the filesystem and its snapshots (not clones of them: those make it fail).
    /// Busy is retried briefly: a FUSE mount stays busy for a moment after its last user exits.
    pub fn destroy(self) -> Result<()> {
        let mut tries = 0;
        loop {
            match run(Tool::Zfs, &["destroy", "-r", &self.name]) {
                Err(ZfsError::Busy(_)) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100 * tries));
                }
                other => return other.map(|_| ()),
            }
        }
    }
}

/// A snapshot (`pool/path@name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    filesystem: String,
    name: String,
}

impl Snapshot {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn full_name(&self) -> String {
        format!("{}@{}", self.filesystem, self.name)
    }

    /// Creates a writable clone of this snapshot at `pool/rel`.
    pub fn clone_to(&self, pool: &Pool, rel: &str, props: Props<'_>) -> Result<Filesystem> {
        let name = format!("{}/{rel}", pool.name);
        let mut args = vec!["clone".to_string()];
        args.extend(prop_args(props));
        args.push(self.full_name());
        args.push(name.clone());
        run_owned(Tool::Zfs, &args)?;
        Ok(Filesystem { name })
    }
}

/// One `zfs set` per property, all at once: each waits for a transaction group to sync (pool v23
/// takes one property per call), and calls running together share one. The first error wins;
/// properties whose calls succeeded stay set.
fn set_all<K: AsRef<str> + Sync, V: AsRef<str> + Sync>(
    target: &str,
    props: &[(K, V)],
) -> Result<()> {
    std::thread::scope(|s| {
        let calls: Vec<_> = props
            .iter()
            .map(|(k, v)| {
                let kv = format!("{}={}", k.as_ref(), v.as_ref());
                s.spawn(move || run(Tool::Zfs, &["set", &kv, target]).map(|_| ()))
            })
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("zfs set threads do not panic"))
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    })
}

/// Checks that the ZFS tools run and the ZFS service answers.
pub fn check_available() -> Result<()> {
    run(Tool::Zpool, &["list", "-H", "-o", "name"]).map(|_| ())
}

/// Where `zfs receive` reads its stream from. A read timeout on the input (a socket's) ends the
/// receive when nothing arrives for that long.
pub enum Input<'a> {
    /// Copied through this process.
    Read(&'a mut dyn std::io::Read),
    /// Spliced from a socket or pipe: the bytes never enter this process. `progress` hears the
    /// running count; an error from it stops the receive.
    Splice {
        from: std::os::fd::BorrowedFd<'a>,
        progress: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
    },
}

/// A running `zfs send`: read the stream, then [`SendStream::finish`] to learn whether it was whole.
pub struct SendStream {
    /// `None` once finished.
    child: Option<std::process::Child>,
    args: Vec<String>,
}

impl std::io::Read for SendStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.child.as_mut().and_then(|c| c.stdout.as_mut()) {
            Some(out) => out.read(buf),
            None => Ok(0),
        }
    }
}

impl SendStream {
    /// Moves the stream into `to` (a socket, say) without it passing through this process;
    /// `progress` hears the running count, and an error from it stops the send. Then
    /// [`SendStream::finish`].
    pub fn splice_into(
        &mut self,
        to: std::os::fd::BorrowedFd<'_>,
        progress: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        use std::os::fd::AsFd;
        let out = self.child.as_ref().and_then(|c| c.stdout.as_ref());
        let out = out.expect("the stream is read before it is finished");
        cmd::splice_all(out.as_fd(), to, progress)
    }
    /// Waits for `zfs send` to exit; an error means the stream just read is not complete.
    pub fn finish(mut self) -> Result<()> {
        let child = self.child.take().expect("finish is called once");
        cmd::finish_send(&self.args, child)
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        // A reader that gave up (client gone) must not leave `zfs send` running.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Snapshot {
    /// Sets independent properties at once (see [`set_all`]).
    pub fn set_properties<K: AsRef<str> + Sync, V: AsRef<str> + Sync>(
        &self,
        props: &[(K, V)],
    ) -> Result<()> {
        set_all(&self.full_name(), props)
    }

    /// The snapshot's GUID: `zfs receive` keeps it, so a received snapshot with the sender's
    /// GUID holds exactly the sender's data.
    pub fn guid(&self) -> Result<String> {
        Ok(get_values(&self.full_name(), &["guid"])?.remove(0))
    }

    /// Bytes of data the snapshot references (about the size of a full stream of it).
    pub fn referenced(&self) -> Result<u64> {
        let name = self.full_name();
        let v = get_values(&name, &["referenced"])?;
        parse_u64(&name, &v[0])
    }

    /// Starts `zfs send` of this snapshot: in full, or the increment since `from` (a snapshot of
    /// the same filesystem, or of the origin for a clone). `intermediates` includes every
    /// snapshot in between (`-I`), not just this one.
    pub fn send(&self, from: Option<&Snapshot>, intermediates: bool) -> Result<SendStream> {
        let mut args = Vec::new();
        if let Some(f) = from {
            // From a clone's origin (another filesystem) the stream is a clone stream of one
            // snapshot: pool v23 takes `-I` only within one filesystem.
            let within = f.filesystem == self.filesystem;
            args.push(if intermediates && within { "-I" } else { "-i" }.to_string());
            args.push(f.full_name());
        }
        args.push(self.full_name());
        let child = cmd::spawn_send(&args)?;
        Ok(SendStream {
            child: Some(child),
            args,
        })
    }

    /// Whether anything changed between `older` and this snapshot: the increment between them
    /// holds more than its begin and end records. Exact, unlike space accounting, and cheap: only
    /// the first two records of the stream are read.
    pub fn differs_from(&self, older: &Snapshot) -> Result<bool> {
        /// Size of one record header in a send stream (`dmu_replay_record_t`).
        const RECORD: usize = 312;
        const DRR_END: u32 = 5;
        let mut stream = self.send(Some(older), false)?;
        let mut buf = vec![0u8; 2 * RECORD];
        let mut got = 0;
        while got < buf.len() {
            match std::io::Read::read(&mut stream, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => {
                    return Err(ZfsError::Failed {
                        command: "zfs send".into(),
                        stderr: e.to_string(),
                    });
                }
            }
        }
        if got < buf.len() {
            stream.finish()?;
            return Err(ZfsError::Parse(
                "send stream shorter than two records".into(),
            ));
        }
        let kind = u32::from_le_bytes(buf[RECORD..RECORD + 4].try_into().expect("4 bytes"));
        Ok(kind != DRR_END && kind.swap_bytes() != DRR_END)
    }

    /// Destroys this snapshot (fails if a clone depends on it).
    pub fn destroy(self) -> Result<()> {
        run(Tool::Zfs, &["destroy", &self.full_name()]).map(|_| ())
    }
}

/// Exact values of `props` for the datasets `pool/rel…` and everything below them (filesystems
/// and snapshots), in one `zfs get -Hp -r` call: dataset name → property → value (unset values
/// left out). Datasets that do not exist are skipped rather than failing the whole call.
pub fn get_recursive(
    pool: &Pool,
    rels: &[String],
    props: &[&str],
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    if rels.is_empty() {
        return Ok(BTreeMap::new());
    }
    let joined = props.join(",");
    let mut args = vec![
        "get",
        "-Hp",
        "-r",
        "-o",
        "name,property,value",
        joined.as_str(),
    ];
    let names: Vec<String> = rels.iter().map(|r| format!("{}/{r}", pool.name)).collect();
    args.extend(names.iter().map(String::as_str));
    let out = match run(Tool::Zfs, &args) {
        Ok(out) => out,
        Err(ZfsError::NotFound(_)) if names.len() > 1 => {
            // One vanished (deleted meanwhile); ask again for the survivors.
            let alive: Vec<String> = rels
                .iter()
                .filter(|r| pool.filesystem(r).is_ok())
                .cloned()
                .collect();
            return if alive.len() < rels.len() {
                get_recursive(pool, &alive, props)
            } else {
                Err(ZfsError::NotFound(names.join(" ")))
            };
        }
        Err(ZfsError::NotFound(_)) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.splitn(3, '\t');
        let (Some(name), Some(prop), Some(value)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if value != "-" {
            map.entry(name.to_string())
                .or_default()
                .insert(prop.to_string(), value.to_string());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_listing_keeps_zfs_order_and_user_properties() {
        let out = "p/dmfs/a@c1\t-\np/dmfs/b@c2\tx\np/dmfs/a@c3\ty\n";
        let snaps = parse_snapshot_listing(out, &["io.dm:commit.0"]);
        let names: Vec<_> = snaps.iter().map(|s| s.snapshot.full_name()).collect();
        assert_eq!(names, ["p/dmfs/a@c1", "p/dmfs/b@c2", "p/dmfs/a@c3"]);
        assert!(snaps[0].props.is_empty());
        assert_eq!(snaps[2].props["io.dm:commit.0"], "y");
    }

    #[test]
    fn filesystem_listing_reads_origin_then_user_properties() {
        let out = "p/dmfs/a\t-\tv1\np/dmfs/b\tp/dmfs/a@c1\t-\n";
        let rows = parse_listing(out, true, &["io.dm:dot"]);
        assert_eq!(rows[0].origin, None);
        assert_eq!(rows[0].props["io.dm:dot"], "v1");
        assert_eq!(rows[1].origin.as_deref(), Some("p/dmfs/a@c1"));
        assert!(rows[1].props.is_empty());
    }
}
