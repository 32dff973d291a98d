//! The one place that runs `zfs` and `zpool`.
//!
//! Arguments always go as a vector (never through a shell), every call is logged with its duration,
//! and known stderr patterns become typed [`ZfsError`]s so callers never match on text. The patterns
//! cover both zfs-fuse 0.7 and OpenZFS wording.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::ZfsError;
use crate::metrics::Direction;

/// Which of the two tools to run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tool {
    Zfs,
    Zpool,
}

impl Tool {
    fn program(self) -> &'static str {
        match self {
            Tool::Zfs => "zfs",
            Tool::Zpool => "zpool",
        }
    }
}

/// Subcommands that mount or unmount. zfs-fuse hangs its FUSE side for good when two of these
/// run at once (reproduced with four parallel `zfs create` + `mkdir` loops), so they are
/// serialised machine-wide, across every dm process, with `flock` on [`LOCK_FILE`].
const MOUNTING: &[&str] = &[
    "create", "clone", "destroy", "rename", "rollback", "mount", "unmount", "set", "receive",
    "recv", "promote", "import", "export",
];

/// Whether `zfs ARGS` may mount or unmount. `set` does only for the properties that decide
/// where and whether a filesystem mounts; user properties and the like run unserialised.
fn mounts(args: &[&str]) -> bool {
    match args {
        ["set", kv, ..] => kv.starts_with("mountpoint=") || kv.starts_with("canmount="),
        [first, ..] => MOUNTING.contains(first),
        [] => false,
    }
}

const LOCK_FILE: &str = "/run/lock/dm-zfs.lock";

/// Holds the machine-wide mount lock until dropped (closing the file releases the flock).
struct MountLock {
    _file: Option<std::fs::File>,
}

impl MountLock {
    fn take() -> MountLock {
        // The hang is zfs-fuse's. The kernel's ZFS (OpenZFS, with /dev/zfs) mounts concurrently,
        // and serialising there would make every mount wait behind a long `zfs receive`.
        if kernel_zfs() {
            return MountLock { _file: None };
        }
        let path = if std::path::Path::new("/run/lock").is_dir() {
            LOCK_FILE
        } else {
            "/tmp/dm-zfs.lock"
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path);
        match file {
            Ok(f) => {
                if crate::sys::flock_exclusive(&f).is_err() {
                    tracing::warn!(path, "cannot lock; running unserialised");
                }
                MountLock { _file: Some(f) }
            }
            Err(e) => {
                tracing::warn!(path, error = %e, "cannot open lock file; running unserialised");
                MountLock { _file: None }
            }
        }
    }
}

/// Whether ZFS is the kernel's (OpenZFS, with /dev/zfs) rather than zfs-fuse.
pub(crate) fn kernel_zfs() -> bool {
    std::path::Path::new("/dev/zfs").exists()
}

/// After a `zfs receive` into a mounted filesystem: zfs-fuse keeps negative lookups for
/// `fuse-entry-timeout` (an hour in Debian's zfsrc), so a file that arrived underneath a mount
/// would stay "No such file or directory" for whoever had looked for it before, on the host and
/// in containers. Only the kernel can forget those entries from outside the FUSE server:
/// dropping the reclaimable dentries and inodes does (`drop_caches` 2; page cache untouched).
/// Kernel ZFS invalidates them itself, so callers use this on zfs-fuse only. Measured in
/// `bench/lookups.sh`.
pub(crate) fn forget_cached_lookups() {
    if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "2") {
        tracing::warn!(error = %e, "cannot drop cached lookups; files that arrived under a mount may look absent for up to fuse-entry-timeout to processes that looked before");
    }
}

/// Runs `tool args…`, returning stdout on success and a typed error otherwise.
pub(crate) fn run(tool: Tool, args: &[&str]) -> Result<String, ZfsError> {
    let _lock = mounts(args).then(MountLock::take);
    let started = Instant::now();
    let done = run_unlocked(tool, args, started);
    crate::metrics::zfs_command(
        tool.program(),
        args.first().copied().unwrap_or_default(),
        done.is_ok(),
        started.elapsed().as_secs_f64(),
    );
    done
}

fn run_unlocked(tool: Tool, args: &[&str], started: Instant) -> Result<String, ZfsError> {
    let output = Command::new(tool.program())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ZfsError::ToolMissing {
            tool: tool.program(),
            source: e,
        })?;
    tracing::debug!(
        tool = tool.program(),
        ?args,
        ms = started.elapsed().as_millis() as u64,
        status = output.status.code(),
        "zfs command"
    );
    check(tool, args, output)
}

/// Starts `zfs send ARGS` with its stream on stdout, for the caller to read.
pub(crate) fn spawn_send(args: &[String]) -> Result<std::process::Child, ZfsError> {
    tracing::debug!(?args, "zfs send");
    let child = Command::new("zfs")
        .arg("send")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ZfsError::ToolMissing {
            tool: "zfs",
            source: e,
        })?;
    if let Some(out) = &child.stdout {
        widen_pipe(out.as_fd());
    }
    Ok(child)
}

/// Streams pass through a pipe between zfs and us: at the default 64 KiB each side wakes the
/// other every few records; 1 MiB (the unprivileged maximum) cuts those switches sixteenfold.
/// Best effort: a smaller pipe only costs speed.
fn widen_pipe(fd: BorrowedFd<'_>) {
    crate::sys::set_pipe_size(fd, 1 << 20);
}

/// Waits for a `zfs send` child and turns a failure into a typed error.
pub(crate) fn finish_send(args: &[String], child: std::process::Child) -> Result<(), ZfsError> {
    let out = child.wait_with_output().map_err(|e| ZfsError::Failed {
        command: "zfs send".into(),
        stderr: e.to_string(),
    })?;
    let mut full: Vec<&str> = vec!["send"];
    full.extend(args.iter().map(String::as_str));
    check(Tool::Zfs, &full, out).map(|_| ())
}

/// Runs `zfs receive ARGS` fed from `input`; returns the bytes it was fed. Holds the mount lock
/// when `mounts`: the receive may mount or unmount its target.
pub(crate) fn receive(
    args: &[String],
    input: super::Input<'_>,
    mounts: bool,
) -> Result<u64, ZfsError> {
    let started = Instant::now();
    let done = receive_stream(args, input, mounts, started);
    let seconds = started.elapsed().as_secs_f64();
    crate::metrics::zfs_command("zfs", "receive", done.is_ok(), seconds);
    let bytes = *done.as_ref().unwrap_or(&0);
    crate::metrics::stream(Direction::Received, bytes, seconds, done.is_ok());
    done
}

fn receive_stream(
    args: &[String],
    input: super::Input<'_>,
    mounts: bool,
    started: Instant,
) -> Result<u64, ZfsError> {
    let _lock = mounts.then(MountLock::take);
    let mut child = Command::new("zfs")
        .arg("receive")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ZfsError::ToolMissing {
            tool: "zfs",
            source: e,
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    widen_pipe(stdin.as_fd());
    let copied = match input {
        super::Input::Read(r) => {
            // Large reads: the input is usually a network stream, and 8 KiB copies cost
            // throughput.
            let mut buffered = std::io::BufReader::with_capacity(1 << 20, r);
            std::io::copy(&mut buffered, &mut stdin)
        }
        super::Input::Splice { from, progress } => splice_all(from, stdin.as_fd(), progress),
    };
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| ZfsError::Failed {
        command: "zfs receive".into(),
        stderr: e.to_string(),
    })?;
    let mut full: Vec<&str> = vec!["receive"];
    full.extend(args.iter().map(String::as_str));
    tracing::debug!(
        ?args,
        ms = started.elapsed().as_millis() as u64,
        "zfs receive"
    );
    let bytes = match copied {
        Ok(n) => n,
        // The stream broke (sender died, connection dropped): whatever zfs says, it failed.
        Err(e) => {
            let said = check(Tool::Zfs, &full, out);
            // zfs stopped reading first (it refused the stream): its own words are the cause.
            if e.kind() == io::ErrorKind::BrokenPipe
                && let Err(refused) = said
            {
                return Err(refused);
            }
            // A read timeout on the input (see `Input`) ends a wait for a sender gone quiet.
            let why = match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    "nothing arrived for too long; the sender went quiet".to_string()
                }
                _ => format!("the stream was cut off: {e}"),
            };
            return Err(ZfsError::Failed {
                command: full.join(" "),
                stderr: why,
            });
        }
    };
    check(Tool::Zfs, &full, out).map(|_| bytes)
}

/// Splices everything from `from` into `to` (one of them a pipe, the other a pipe or socket)
/// until `from` ends, telling `progress` the running count; the bytes stay in the kernel.
pub(crate) fn splice_all(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    progress: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match crate::sys::splice(from, to, 1 << 20) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                total += n as u64;
                progress(total)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One `zfs unmount` of `name`; not mounted is fine. Busy (a process holds the mount, or
/// zfs-fuse has not let go of it yet) is [`ZfsError::Busy`].
pub(crate) fn unmount(name: &str) -> Result<(), ZfsError> {
    match run(Tool::Zfs, &["unmount", name]) {
        Ok(_) => Ok(()),
        Err(ZfsError::Failed { stderr, .. }) if stderr.contains("not currently mounted") => Ok(()),
        Err(ZfsError::Failed { stderr, .. }) if stderr.contains("busy") => {
            Err(ZfsError::Busy(name.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// `zfs mount` of `name`; already mounted is fine.
pub(crate) fn mount(name: &str) -> Result<(), ZfsError> {
    match run(Tool::Zfs, &["mount", name]) {
        Ok(_) => Ok(()),
        Err(ZfsError::Failed { stderr, .. }) if stderr.contains("already mounted") => Ok(()),
        Err(e) => Err(e),
    }
}

fn check(tool: Tool, args: &[&str], output: Output) -> Result<String, ZfsError> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    Err(classify(tool, args, stderr))
}

/// Maps stderr text to a typed error; the last argument is usually the dataset acted on.
pub(crate) fn classify(tool: Tool, args: &[&str], stderr: String) -> ZfsError {
    let target = args.last().copied().unwrap_or_default().to_string();
    let lower = stderr.to_lowercase();
    if lower.contains("zfs-fuse daemon is running") || lower.contains("connect: no such file") {
        ZfsError::DaemonDown(stderr)
    } else if lower.contains("dataset does not exist")
        || lower.contains("no such pool")
        || lower.contains("could not find any snapshots")
    {
        ZfsError::NotFound(target)
    } else if lower.contains("already exists") {
        ZfsError::AlreadyExists(target)
    } else if lower.contains("out of space") || lower.contains("no space left") {
        ZfsError::NoSpace(target)
    } else if lower.contains("more recent snapshots exist")
        || lower.contains("has dependent clones")
        || lower.contains("has children")
    {
        ZfsError::HasDependents { target, stderr }
    } else if lower.contains("is busy") {
        ZfsError::Busy(target)
    } else if lower.contains("invalid stream")
        || lower.contains("invalid backup stream")
        || lower.contains("failed to read from stream")
    {
        // Only the message, which names no dataset: it goes back to whoever sent the stream.
        let why = stderr
            .lines()
            .find(|l| l.contains("stream"))
            .and_then(|l| l.rsplit_once(": "))
            .map_or("unreadable", |(_, w)| w.trim());
        ZfsError::BadStream(format!(
            "the commit stream was refused ({why}): it is not a whole, unaltered stream of commits (`dm push` sends them)"
        ))
    } else {
        ZfsError::Failed {
            command: format!("{} {}", tool.program(), args.join(" ")),
            stderr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mounting_commands_are_serialised() {
        assert!(mounts(&["create", "p/x"]));
        assert!(mounts(&["set", "mountpoint=/m", "p/x"]));
        assert!(mounts(&["set", "canmount=noauto", "p/x"]));
        assert!(!mounts(&["set", "io.dm:dot=a/b", "p/x"]));
        assert!(!mounts(&["set", "readonly=on", "p/x"]));
        assert!(!mounts(&["list", "-H"]));
        assert!(!mounts(&[]));
    }

    #[test]
    fn classifies_known_messages() {
        let c = |s: &str| classify(Tool::Zfs, &["destroy", "p/x"], s.to_string());
        assert!(matches!(
            c("cannot open 'p/x': dataset does not exist"),
            ZfsError::NotFound(t) if t == "p/x"
        ));
        assert!(matches!(
            c("cannot create 'p/x': dataset already exists"),
            ZfsError::AlreadyExists(_)
        ));
        assert!(matches!(
            c("cannot create 'p/x': out of space"),
            ZfsError::NoSpace(_)
        ));
        assert!(matches!(
            c("cannot rollback to 'p/x@a': more recent snapshots exist"),
            ZfsError::HasDependents { .. }
        ));
        assert!(matches!(
            c("cannot destroy 'p/x': dataset is busy"),
            ZfsError::Busy(_)
        ));
        assert!(matches!(
            c(
                "connect: No such file or directory\nPlease make sure that the zfs-fuse daemon is running."
            ),
            ZfsError::DaemonDown(_)
        ));
        let refused = |s: &str| match c(s) {
            ZfsError::BadStream(m) => m,
            other => panic!("{other:?}"),
        };
        let m = refused("cannot receive new filesystem stream: invalid stream (checksum mismatch)");
        assert!(m.contains("(invalid stream (checksum mismatch))"), "{m}");
        assert!(!m.contains("p/x"), "{m}");
        refused("cannot receive: failed to read from stream");
        refused("cannot receive new filesystem stream: invalid backup stream");
        assert!(matches!(c("something odd"), ZfsError::Failed { .. }));
    }
}
