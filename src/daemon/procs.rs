//! Which processes use a path: what `fuser -m` reports, read from `/proc`.
//!
//! Deleting a dot whose files a process has open, or that is a process's working directory,
//! would fail half-way on ZFS ("dataset is busy") or pull data from under a running program, so
//! the daemon asks first and names the processes.

use std::path::Path;

/// Whether `pid` is a live process: a zombie, exited but not yet reaped, is not, unless other
/// threads of it are still exiting. A killed daemon's main thread turns zombie first, while a
/// thread blocked on a slow filesystem still holds its files and listening sockets.
pub fn is_running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
        };
        !field("State:").starts_with('Z') || field("Threads:").parse::<u32>().unwrap_or(1) > 1
    })
}

/// `pid (command)` for every process with its cwd, root or an open file under one of `paths`.
pub fn users_of(paths: &[&Path]) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut users = Vec::new();
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let base = entry.path();
        let under = |link: &Path| {
            std::fs::read_link(link)
                .map(|target| paths.iter().any(|p| target.starts_with(p)))
                .unwrap_or(false)
        };
        let mut hit = under(&base.join("cwd")) || under(&base.join("root"));
        if !hit && let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            hit = fds.flatten().any(|fd| under(&fd.path()));
        }
        if hit {
            let comm = std::fs::read_to_string(base.join("comm")).unwrap_or_default();
            users.push(format!("pid {pid} ({})", comm.trim()));
        }
    }
    users.sort();
    users
}

/// What keeps branch filesystem `fs_id`, mounted at `mountpoint`, busy: processes with files
/// there, `zfs` commands reading it (a send), and other mount namespaces holding a copy of the
/// mount (a container being set up, a service with a private /tmp).
pub fn holders(mountpoint: &Path, fs_id: &str) -> Vec<String> {
    let mut out = users_of(&[mountpoint]);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    let ns_of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    let mine = ns_of("self");
    let mut seen = std::collections::BTreeSet::new();
    let dataset = format!("dmfs/{fs_id}");
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if matches!(comm, "zfs" | "zpool") {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.iter().any(|a| a.contains(&dataset)) {
                out.push(format!("pid {pid} ({})", args.join(" ").trim()));
            }
        }
        let Some(ns) = ns_of(&pid) else { continue };
        if Some(&ns) == mine.as_ref() || !seen.insert(ns) {
            continue;
        }
        let info = std::fs::read_to_string(entry.path().join("mountinfo")).unwrap_or_default();
        let copies = crate::storage::propagation::parse(&info);
        if copies.iter().any(|m| m.point == mountpoint) {
            out.push(format!(
                "a copy of the mount in the mount namespace of pid {pid} ({comm})"
            ));
        }
    }
    out
}

/// Pids of `zfs` and `zpool` commands naming a dataset of `pool`: after a crash, those the old
/// daemon started still run to their end, and must finish before ZFS is read again.
pub fn zfs_commands_on(pool: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mine = format!("{pool}/");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if !matches!(comm.trim(), "zfs" | "zpool") {
                return false;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmd.split(|b| *b == 0).any(|arg| {
                let arg = String::from_utf8_lossy(arg);
                arg == pool || arg.starts_with(&mine)
            }) && is_running(*pid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_process_by_its_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let users = users_of(&[dir.path()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            users
                .iter()
                .any(|u| u == &format!("pid {} (sleep)", child.id())),
            "{users:?}"
        );
        assert!(users_of(&[Path::new("/nonexistent-dm-test")]).is_empty());
        assert!(is_running(std::process::id() as i32));
        assert!(!is_running(child.id() as i32), "reaped child is gone");
    }
}
