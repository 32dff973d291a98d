//! Comparing two directory trees file by file, for `dm diff` and `dm status`.
//!
//! Metadata first: both sides come from one ZFS lineage (a commit's clone, the branch itself),
//! so a file untouched since their common commit has the same inode number, size, times and
//! mode on both sides, and is skipped unread. Times are trusted only when the file's ctime is
//! older than that commit (`trust_before`, in seconds): zfs-fuse shows whole seconds, so a file
//! rewritten at the same size within the commit's second would otherwise look unchanged. Every
//! other file of equal size is compared byte for byte. (Nodes whose clocks disagree by more
//! than the time between a commit and a same-size rewrite could defeat the ctime rule; the
//! rewrite must also land in the same second as the file's previous change.) Renames are found by inode number, then
//! by size and content where one file of a size went and one came.
//!
//! The trees may be live (a branch containers write to), so nothing here follows a symbolic
//! link: directories are opened beneath the root without links (see [`beneath`]), entries are
//! read with `lstat`, files opened with `O_NOFOLLOW`, and the walk keeps one relative path per
//! pending directory instead of a descriptor, so deep or wide trees cannot exhaust descriptors.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::beneath;
use crate::api::{Change, ChangeKind};
use crate::sys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Dir,
    File,
    Link,
    Other,
}

#[derive(Clone, Debug)]
struct Meta {
    ty: Type,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Meta {
        let ft = m.file_type();
        let ty = if ft.is_dir() {
            Type::Dir
        } else if ft.is_file() {
            Type::File
        } else if ft.is_symlink() {
            Type::Link
        } else {
            Type::Other
        };
        Meta {
            ty,
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
        }
    }
}

/// Compares the tree under `old` with the tree under `new` (`None`: an empty tree). Files
/// whose ctime is before `trust_before` (seconds) and whose metadata match are not read.
pub fn diff(
    old: Option<&OwnedFd>,
    new: Option<&OwnedFd>,
    trust_before: Option<i64>,
) -> io::Result<Vec<Change>> {
    let mut w = Walk {
        old,
        new,
        trust_before,
        changes: Vec::new(),
        deleted: Vec::new(),
        added: Vec::new(),
        read: 0,
        listed: 0,
    };
    let t = std::time::Instant::now();
    w.run()?;
    tracing::debug!(walked = ?t.elapsed(), read = w.read, listed = w.listed, "compared trees");
    w.pair_renames()?;
    let Walk {
        mut changes,
        deleted,
        added,
        ..
    } = w;
    changes.extend(deleted.into_iter().map(|(path, m)| Change {
        kind: ChangeKind::Deleted,
        path,
        old_path: None,
        size_before: Some(m.size),
        size_after: None,
    }));
    changes.extend(added.into_iter().map(|(path, m)| Change {
        kind: ChangeKind::Added,
        path,
        old_path: None,
        size_before: None,
        size_after: Some(m.size),
    }));
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    Ok(changes)
}

struct Walk<'a> {
    old: Option<&'a OwnedFd>,
    new: Option<&'a OwnedFd>,
    trust_before: Option<i64>,
    changes: Vec<Change>,
    /// Non-directories only on the old side, and only on the new one, until renames are paired.
    deleted: Vec<(String, Meta)>,
    added: Vec<(String, Meta)>,
    /// Files compared by content, and entries listed (for the debug log).
    read: usize,
    listed: usize,
}

/// A directory still to compare, with the sides it exists on.
struct Pending {
    rel: PathBuf,
    in_old: bool,
    in_new: bool,
}

impl Walk<'_> {
    fn run(&mut self) -> io::Result<()> {
        let mut stack = vec![Pending {
            rel: PathBuf::new(),
            in_old: true,
            in_new: true,
        }];
        while let Some(p) = stack.pop() {
            let a = if p.in_old {
                open(self.old, &p.rel)?
            } else {
                None
            };
            let b = if p.in_new {
                open(self.new, &p.rel)?
            } else {
                None
            };
            // One side after the other: listing both at once on two threads was twice as slow
            // on zfs-fuse (bench/diff.sh, 50,000 files: 18.7 s against 7.4-11.8 s).
            let la = a.as_ref().map(list).transpose()?.unwrap_or_default();
            let lb = b.as_ref().map(list).transpose()?.unwrap_or_default();
            self.listed += la.len() + lb.len();
            let mut names: Vec<&OsString> = la.keys().chain(lb.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let rel = p.rel.join(name);
                let shown = shown(&rel);
                let dir = |in_old, in_new| Pending {
                    rel: rel.clone(),
                    in_old,
                    in_new,
                };
                match (la.get(name), lb.get(name)) {
                    (Some(x), Some(y)) => match (x.ty, y.ty) {
                        (Type::Dir, Type::Dir) => stack.push(dir(true, true)),
                        (Type::Dir, _) => {
                            stack.push(dir(true, false));
                            self.added.push((shown, y.clone()));
                        }
                        (_, Type::Dir) => {
                            self.deleted.push((shown, x.clone()));
                            stack.push(dir(false, true));
                        }
                        (tx, ty) if tx != ty => self.changes.push(Change {
                            kind: ChangeKind::TypeChanged,
                            path: shown,
                            old_path: None,
                            size_before: Some(x.size),
                            size_after: Some(y.size),
                        }),
                        _ => {
                            let (a, b) = (a.as_ref(), b.as_ref());
                            let (a, b) = (a.expect("listed"), b.expect("listed"));
                            if !self.same(a, b, name, x, y)? {
                                self.changes.push(Change {
                                    kind: ChangeKind::Modified,
                                    path: shown,
                                    old_path: None,
                                    size_before: Some(x.size),
                                    size_after: Some(y.size),
                                });
                            }
                        }
                    },
                    (Some(x), None) if x.ty == Type::Dir => stack.push(dir(true, false)),
                    (Some(x), None) => self.deleted.push((shown, x.clone())),
                    (None, Some(y)) if y.ty == Type::Dir => stack.push(dir(false, true)),
                    (None, Some(y)) => self.added.push((shown, y.clone())),
                    (None, None) => {}
                }
            }
        }
        Ok(())
    }

    /// Whether entry `name` of the same type is unchanged between directories `a` and `b`.
    fn same(
        &mut self,
        a: &OwnedFd,
        b: &OwnedFd,
        name: &OsString,
        x: &Meta,
        y: &Meta,
    ) -> io::Result<bool> {
        if self.untouched(x, y) {
            return Ok(true);
        }
        let name = Path::new(name);
        match x.ty {
            Type::File if x.size != y.size => Ok(false),
            Type::File => {
                self.read += 1;
                same_content(
                    sys::openat_file_nofollow(a.as_fd(), name),
                    sys::openat_file_nofollow(b.as_fd(), name),
                )
            }
            Type::Link => Ok(read_link(a, name)? == read_link(b, name)?),
            _ => Ok(x.mode == y.mode),
        }
    }

    /// The same object, not changed since the common commit: no need to read it.
    fn untouched(&self, x: &Meta, y: &Meta) -> bool {
        x.ino == y.ino
            && x.size == y.size
            && x.mtime == y.mtime
            && x.ctime == y.ctime
            && x.mode == y.mode
            && self.trust_before.is_some_and(|t| x.ctime.0 < t)
    }

    /// Turns a deleted and an added file with the same content into one rename: the same
    /// inode first (what `mv` does), then the only deleted and added files of one size.
    fn pair_renames(&mut self) -> io::Result<()> {
        let mut by_ino: HashMap<u64, usize> = HashMap::new();
        for (i, (_, m)) in self.added.iter().enumerate() {
            if m.ty == Type::File {
                by_ino.insert(m.ino, i);
            }
        }
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (d, (dpath, dm)) in self.deleted.iter().enumerate() {
            if dm.ty != Type::File {
                continue;
            }
            if let Some(&a) = by_ino.get(&dm.ino) {
                let (apath, am) = &self.added[a];
                let trusted = am.size == dm.size
                    && am.mtime == dm.mtime
                    && self.trust_before.is_some_and(|t| am.mtime.0 < t);
                if trusted || (am.size == dm.size && self.same_files(dpath, apath)?) {
                    pairs.push((d, a));
                }
            }
        }
        let paired_d: Vec<usize> = pairs.iter().map(|p| p.0).collect();
        let paired_a: Vec<usize> = pairs.iter().map(|p| p.1).collect();
        let mut sizes: BTreeMap<u64, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (d, (_, m)) in self.deleted.iter().enumerate() {
            if m.ty == Type::File && m.size > 0 && !paired_d.contains(&d) {
                sizes.entry(m.size).or_default().0.push(d);
            }
        }
        for (a, (_, m)) in self.added.iter().enumerate() {
            if m.ty == Type::File && m.size > 0 && !paired_a.contains(&a) {
                sizes.entry(m.size).or_default().1.push(a);
            }
        }
        for (ds, adds) in sizes.values() {
            if let ([d], [a]) = (ds.as_slice(), adds.as_slice())
                && self.same_files(&self.deleted[*d].0, &self.added[*a].0)?
            {
                pairs.push((*d, *a));
            }
        }
        let mut gone_d = Vec::new();
        let mut gone_a = Vec::new();
        for (d, a) in pairs {
            let (old_path, m) = &self.deleted[d];
            self.changes.push(Change {
                kind: ChangeKind::Renamed,
                path: self.added[a].0.clone(),
                old_path: Some(old_path.clone()),
                size_before: Some(m.size),
                size_after: Some(self.added[a].1.size),
            });
            gone_d.push(d);
            gone_a.push(a);
        }
        let keep = |gone: &[usize], v: &mut Vec<(String, Meta)>| {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                !gone.contains(&(i - 1))
            });
        };
        keep(&gone_d, &mut self.deleted);
        keep(&gone_a, &mut self.added);
        Ok(())
    }

    /// Whether old file `old` and new file `new` (paths from the walk) hold the same bytes.
    fn same_files(&self, old: &str, new: &str) -> io::Result<bool> {
        let (Some(a), Some(b)) = (self.old, self.new) else {
            return Ok(false);
        };
        same_content(open_file(a, old), open_file(b, new))
    }
}

/// Directory `rel` of a side, or `None` when the side is empty or the directory went (or was
/// replaced by something that is not a plain directory) since it was listed.
fn open(root: Option<&OwnedFd>, rel: &Path) -> io::Result<Option<OwnedFd>> {
    let Some(root) = root else { return Ok(None) };
    match beneath::open_dir_at(root, rel) {
        Ok(fd) => Ok(Some(fd)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The entries of an open directory, by `lstat` relative to it.
/// One whole side's directory at a time: looking at both sides' entries in turn (as `diff -r`
/// does) was twice as slow on zfs-fuse (bench/diff.sh, 50,000 files: 23 s against 7-12 s).
fn list(dir: &OwnedFd) -> io::Result<BTreeMap<OsString, Meta>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        let e = e?;
        match e.metadata() {
            Ok(m) => {
                out.insert(e.file_name(), Meta::of(&m));
            }
            // Removed between the listing and the look: as if it was never there.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}

fn read_link(dir: &OwnedFd, name: &Path) -> io::Result<PathBuf> {
    // The descriptor's own path, then one component that readlink does not follow.
    std::fs::read_link(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name))
}

/// File `rel` (a walk path) under `root`, opened without following links.
fn open_file(root: &OwnedFd, rel: &str) -> io::Result<File> {
    let rel = Path::new(rel);
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().ok_or(io::ErrorKind::InvalidInput)?;
    let dir = beneath::open_dir_at(root, parent)?;
    sys::openat_file_nofollow(dir.as_fd(), Path::new(name))
}

/// Byte-for-byte equality; a file that is gone or no longer a regular file counts as changed.
fn same_content(a: io::Result<File>, b: io::Result<File>) -> io::Result<bool> {
    let usable = |f: io::Result<File>| -> io::Result<Option<File>> {
        match f {
            Ok(f) if f.metadata()?.is_file() => Ok(Some(f)),
            Ok(_) => Ok(None),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR | libc::ENXIO)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    };
    let (Some(mut a), Some(mut b)) = (usable(a)?, usable(b)?) else {
        return Ok(false);
    };
    let mut ba = vec![0u8; 64 << 10];
    let mut bb = vec![0u8; 64 << 10];
    loop {
        let n = read_full(&mut a, &mut ba)?;
        let m = read_full(&mut b, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A walk path as shown to users: `/`-separated, invalid UTF-8 replaced.
fn shown(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root(p: &Path) -> OwnedFd {
        sys::open_directory(p).unwrap()
    }

    fn summary(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match &c.old_path {
                Some(o) => format!("{} {o} -> {}", c.kind.letter(), c.path),
                None => format!("{} {}", c.kind.letter(), c.path),
            })
            .collect()
    }

    #[test]
    fn added_modified_deleted_renamed_and_type_changes_are_told_apart() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            fs::create_dir_all(d.join("sub/deep")).unwrap();
            fs::write(d.join("same.txt"), "same").unwrap();
            fs::write(d.join("sub/deep/edit.txt"), "before").unwrap();
        }
        fs::write(b.join("sub/deep/edit.txt"), "after!").unwrap();
        fs::write(a.join("gone.txt"), "bye").unwrap();
        fs::write(b.join("new.txt"), "hello").unwrap();
        fs::write(a.join("moved-from.bin"), "unique content").unwrap();
        fs::write(b.join("moved-to.bin"), "unique content").unwrap();
        fs::create_dir_all(a.join("olddir/x")).unwrap();
        fs::write(a.join("olddir/x/f"), "1").unwrap();
        fs::write(a.join("flip"), "file").unwrap();
        std::os::unix::fs::symlink("/etc", b.join("flip")).unwrap();
        let got = diff(Some(&root(&a)), Some(&root(&b)), None).unwrap();
        assert_eq!(
            summary(&got),
            [
                "T flip",
                "D gone.txt",
                "R moved-from.bin -> moved-to.bin",
                "A new.txt",
                "D olddir/x/f",
                "M sub/deep/edit.txt",
            ]
        );
        let edit = got.iter().find(|c| c.path == "sub/deep/edit.txt").unwrap();
        assert_eq!((edit.size_before, edit.size_after), (Some(6), Some(6)));
    }

    #[test]
    fn against_an_empty_tree_everything_is_added_and_links_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("d")).unwrap();
        fs::write(t.path().join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("escape")).unwrap();
        let got = diff(None, Some(&root(t.path())), None).unwrap();
        assert_eq!(summary(&got), ["A d/f", "A escape"]);
        let back = diff(Some(&root(t.path())), None, None).unwrap();
        assert_eq!(summary(&back), ["D d/f", "D escape"]);
    }

    #[test]
    fn metadata_is_trusted_only_for_files_older_than_the_common_commit() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("f"), "one").unwrap();
        let r = root(t.path());
        // The same file on both sides: identical metadata. Trusted, it is not read at all;
        // not trusted (changed within the commit's second), it is read and still the same.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(diff(Some(&r), Some(&r), Some(now + 10)).unwrap().is_empty());
        assert!(diff(Some(&r), Some(&r), Some(now - 10)).unwrap().is_empty());
        // Two copies with equal size and different bytes are found by reading.
        let u = tempfile::tempdir().unwrap();
        fs::write(u.path().join("f"), "two").unwrap();
        let got = diff(Some(&r), Some(&root(u.path())), Some(now + 10)).unwrap();
        assert_eq!(summary(&got), ["M f"]);
    }

    #[test]
    fn a_symlink_swapped_in_for_a_directory_is_not_walked() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir_all(a.join("d")).unwrap();
        fs::write(a.join("d/f"), "x").unwrap();
        fs::create_dir_all(&b).unwrap();
        std::os::unix::fs::symlink("/etc", b.join("d")).unwrap();
        let got = diff(Some(&root(&a)), Some(&root(&b)), None).unwrap();
        // Nothing from /etc appears: the link is one entry, not a tree.
        assert_eq!(summary(&got), ["A d", "D d/f"]);
    }
}
