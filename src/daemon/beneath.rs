//! Opening a directory inside a dot without ever leaving it. A dot's files are written by
//! containers and can arrive from other clusters, so any path component may be a symbolic link
//! planted to point at the host (`evil -> /etc`). Subdots are resolved here, with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or, on kernels without it, one component
//! at a time with `O_NOFOLLOW`: a symbolic link anywhere on the way is refused, not followed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use crate::sys;

/// What stops a path from being opened inside the root.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("'{0}' is a symbolic link or leaves the dot; subdots must be plain directories")]
    Escapes(String),
    #[error("'{0}' is not a directory")]
    NotDirectory(String),
    #[error("'{0}' does not exist")]
    Missing(String),
    #[error("cannot open '{path}': {source}")]
    Io { path: String, source: io::Error },
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    sys::open_directory(root)
}

/// The same, one component at a time with `O_NOFOLLOW`, for kernels before 5.6.
fn walk_beneath(dir: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let mut cur: Option<OwnedFd> = None;
    for part in rel.components() {
        let std::path::Component::Normal(name) = part else {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        };
        let at = cur.as_ref().unwrap_or(dir).as_fd();
        cur = Some(sys::openat_dir_nofollow(at, Path::new(name))?);
    }
    match cur {
        Some(fd) => Ok(fd),
        None => Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
}

/// Opens directory `rel` inside directory `root`, never following a symbolic link nor leaving
/// `root`; with `create`, makes a missing last component first (mode 0755).
pub fn open_dir(root: &Path, rel: &Path, create: bool) -> Result<OwnedFd, BeneathError> {
    let shown = rel.display().to_string();
    let io_err = |source: io::Error| BeneathError::Io {
        path: shown.clone(),
        source,
    };
    let dir = open_root(root).map_err(io_err)?;
    let open = || sys::openat2_beneath(dir.as_fd(), rel).unwrap_or_else(|| walk_beneath(&dir, rel));
    let mut opened = open();
    if create
        && matches!(&opened, Err(e) if e.kind() == io::ErrorKind::NotFound)
        && let (Some(parent), Some(name)) = (rel.parent(), rel.file_name())
    {
        let parent_fd = if parent.as_os_str().is_empty() {
            open_root(root).map_err(io_err)?
        } else {
            open_dir(root, parent, false)?
        };
        if let Err(e) = sys::mkdirat(parent_fd.as_fd(), Path::new(name), 0o755)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(io_err(e));
        }
        opened = open();
    }
    opened.map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP | libc::EXDEV) => BeneathError::Escapes(shown.clone()),
        Some(libc::ENOTDIR) => BeneathError::NotDirectory(shown.clone()),
        Some(libc::ENOENT) => BeneathError::Missing(shown.clone()),
        _ => io_err(e),
    })
}

/// Opens directory `rel` under the open directory `root` (itself when `rel` is empty), with
/// the same refusals as [`open_dir`]: for walking a tree whose parts may change meanwhile.
pub fn open_dir_at(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        return root.try_clone();
    }
    sys::openat2_beneath(root.as_fd(), rel).unwrap_or_else(|| walk_beneath(root, rel))
}

/// Bind-mounts the directory `dir` refers to onto `target`, by descriptor: no path to it is
/// looked up again, so nothing swapped in meanwhile is mounted instead.
pub fn bind(dir: &OwnedFd, target: &Path) -> io::Result<()> {
    let source = format!("/proc/self/fd/{}", dir.as_raw_fd());
    sys::bind_mount(Path::new(&source), target)
}

/// Detaches a mount made by [`bind`].
pub fn unbind(target: &Path) -> io::Result<()> {
    sys::unmount_detach(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_links_and_dot_dot_are_refused_anywhere_on_the_way() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("dot");
        let outside = t.path().join("host");
        std::fs::create_dir_all(root.join("ok/inner")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        std::os::unix::fs::symlink("ok", root.join("relative")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();

        assert!(open_dir(&root, Path::new("ok"), false).is_ok());
        assert!(open_dir(&root, Path::new("ok/inner"), false).is_ok());
        for bad in [
            "evil",
            "relative",
            "relative/inner",
            "../host",
            "ok/../../host",
        ] {
            assert!(
                matches!(
                    open_dir(&root, Path::new(bad), true),
                    Err(BeneathError::Escapes(_))
                ),
                "{bad}"
            );
        }
        // Creating never goes through a link either, and makes nothing outside.
        assert!(open_dir(&root, Path::new("evil/new"), true).is_err());
        assert!(!outside.join("new").exists());
        assert!(matches!(
            open_dir(&root, Path::new("file"), false),
            Err(BeneathError::NotDirectory(_))
        ));
        assert!(matches!(
            open_dir(&root, Path::new("absent"), false),
            Err(BeneathError::Missing(_))
        ));
        assert!(open_dir(&root, Path::new("made"), true).is_ok());
        assert!(root.join("made").is_dir());
        // The fallback walk refuses the same.
        let dir = open_root(&root).unwrap();
        for bad in ["evil", "relative/inner", "../host"] {
            assert!(walk_beneath(&dir, Path::new(bad)).is_err(), "{bad}");
        }
        assert!(walk_beneath(&dir, Path::new("ok/inner")).is_ok());
    }
}
