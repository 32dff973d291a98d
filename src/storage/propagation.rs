//! Makes the mount directory a shared mount, so that a container starting anywhere on the
//! machine lets go of a branch when it is unmounted here.
//!
//! Docker and containerd start each container in a copy of the host's mount table. Where the
//! host's mounts are private (no systemd, sandboxes, Docker-in-Docker), that copy holds every
//! branch's mount until runc has pivoted away from it, and ZFS refuses to mount, roll back or
//! destroy the branch meanwhile ("dataset is busy"); a long-lived namespace (a service's private
//! /tmp, `unshare -m`) holds it for as long as it lives. Under a shared mount those copies are
//! peers or slaves, and an unmount here reaches them. systemd makes `/` shared at boot, so there
//! this changes nothing.

use std::io;
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

/// What [`share`] found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Sharing {
    /// The mount holding the directory was shared already.
    AlreadyShared,
    /// The directory is now a shared mount (bound onto itself if it was not a mount).
    Shared,
    /// Left as it was, for the reason given.
    LeftPrivate(String),
}

/// One line of `/proc/PID/mountinfo`: where it is mounted, and whether it is shared.
#[derive(Debug, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub shared: bool,
}

/// The mounts of `mountinfo` (see proc(5)): field 5 is the mount point (octal-escaped), the
/// optional fields between field 7 and `-` carry `shared:N`.
pub fn parse(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = unescape(fields.get(4)?);
            let optional = fields.get(6..)?.iter().take_while(|f| **f != "-");
            let shared = optional.clone().any(|f| f.starts_with("shared:"));
            Some(Mount { point, shared })
        })
        .collect()
}

/// Undoes mountinfo's `\040`-style escapes of space, tab, newline and backslash.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// What to do for directory `dir` (absolute, no symlinks) given mount table `mounts`.
fn plan(dir: &Path, mounts: &[Mount]) -> Plan {
    // The topmost of the longest mount points holding `dir`: later lines are mounted later.
    let holder = mounts
        .iter()
        .filter(|m| dir.starts_with(&m.point))
        .max_by_key(|m| m.point.as_os_str().len());
    match holder {
        Some(m) if m.point == dir && m.shared => Plan::Nothing(Sharing::AlreadyShared),
        Some(m) if m.point == dir => Plan::MakeShared,
        Some(m) if m.shared => Plan::Nothing(Sharing::AlreadyShared),
        _ if mounts
            .iter()
            .any(|m| m.point != dir && m.point.starts_with(dir)) =>
        {
            Plan::Nothing(Sharing::LeftPrivate(format!(
                "filesystems are mounted below {} already; it becomes shared at the next start after they are unmounted",
                dir.display()
            )))
        }
        _ => Plan::BindAndShare,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Nothing(Sharing),
    MakeShared,
    BindAndShare,
}

/// Makes `dir` (which exists) sit on a shared mount, binding it onto itself if need be. Bound
/// only while nothing is mounted below it: a bind over mounts would hide them.
pub fn share(dir: &Path) -> io::Result<Sharing> {
    let dir = dir.canonicalize()?;
    let mounts = parse(&std::fs::read_to_string("/proc/self/mountinfo")?);
    match plan(&dir, &mounts) {
        Plan::Nothing(s) => Ok(s),
        Plan::MakeShared => crate::sys::make_shared(&dir).map(|()| Sharing::Shared),
        Plan::BindAndShare => {
            crate::sys::bind_mount(&dir, &dir)?;
            crate::sys::make_shared(&dir).map(|()| Sharing::Shared)
        }
    }
}

/// Whether `dir` sits on a shared mount now (what [`share`] arranges).
pub fn is_shared(dir: &Path) -> io::Result<bool> {
    let dir = dir.canonicalize()?;
    let mounts = parse(&std::fs::read_to_string("/proc/self/mountinfo")?);
    Ok(matches!(
        plan(&dir, &mounts),
        Plan::Nothing(Sharing::AlreadyShared)
    ))
}

/// Undoes [`share`]'s bind of `dir` when nothing is mounted below it any more; true when it
/// was bound.
pub fn unshare(dir: &Path) -> io::Result<bool> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(false);
    };
    let mounts = parse(&std::fs::read_to_string("/proc/self/mountinfo")?);
    let bound = mounts.iter().any(|m| m.point == dir);
    let below = mounts
        .iter()
        .any(|m| m.point != dir && m.point.starts_with(&dir));
    if !bound || below {
        return Ok(false);
    }
    crate::sys::unmount_detach(&dir).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw
27 22 0:25 / /var rw,relatime shared:7 - ext4 /dev/sda1 rw
30 22 0:27 / /srv/with\\040space rw,relatime - ext4 /dev/sda2 rw
44 22 0:40 / /data rw,relatime - tmpfs tmpfs rw
45 44 0:41 / /data/mnt/abc rw,relatime master:3 - fuse.zfs p/dmfs/abc rw
";

    fn m(point: &str, shared: bool) -> Mount {
        Mount {
            point: point.into(),
            shared,
        }
    }

    #[test]
    fn reads_mount_points_and_sharing() {
        let t = parse(TABLE);
        assert_eq!(t[0], m("/", false));
        assert_eq!(t[1], m("/var", true));
        assert_eq!(t[2], m("/srv/with space", false));
        assert_eq!(
            t[4],
            m("/data/mnt/abc", false),
            "master: is a slave, not shared"
        );
    }

    #[test]
    fn binds_only_where_needed_and_safe() {
        let t = parse(TABLE);
        let p = |d: &str| plan(Path::new(d), &t);
        assert_eq!(
            p("/var/lib/dotmesh/mnt"),
            Plan::Nothing(Sharing::AlreadyShared)
        );
        assert_eq!(p("/srv/mnt"), Plan::BindAndShare);
        assert_eq!(p("/data"), Plan::MakeShared);
        assert!(matches!(
            p("/data/mnt"),
            Plan::Nothing(Sharing::LeftPrivate(_))
        ));
        let mut t = t;
        t.push(m("/data/mnt", true));
        assert_eq!(
            plan(Path::new("/data/mnt"), &t),
            Plan::Nothing(Sharing::AlreadyShared)
        );
    }

    #[test]
    fn undoes_octal_escapes_only() {
        assert_eq!(unescape("/a\\040b\\134c\\9"), PathBuf::from("/a b\\c\\9"));
    }
}
