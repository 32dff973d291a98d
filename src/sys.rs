//! The only place with `unsafe`: thin, safe wrappers over the Linux calls dm needs that std
//! does not offer (signals, record locks, `splice`, `openat2`, bind mounts). Every other module
//! is compiled with `deny(unsafe_code)`. Each wrapper takes owned or borrowed descriptors and
//! checked paths, and turns -1 into `io::Error`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a descriptor a call just returned.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(fd)?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// --- signals and processes ---

/// Restores SIGPIPE's default action (end the process), which Rust's runtime replaces with
/// "ignore". Call before any thread exists.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition; called at start, single-threaded.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts from now on, and runs
/// `on_signal` on a thread of its own when one arrives. Call before any other thread exists.
pub fn on_termination(on_signal: impl FnOnce() + Send + 'static) {
    // SAFETY: signal-set calls on a zeroed sigset we own.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig = 0;
        // SAFETY: waits on the set blocked above.
        unsafe { libc::sigwait(&set, &mut sig) };
        on_signal();
    });
}

/// Asks process `pid` to end (SIGTERM).
pub fn terminate(pid: i32) {
    // SAFETY: kill takes any pid and signal number; a gone process is only an error code.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}

/// Ends process `pid` at once (SIGKILL).
pub fn kill(pid: i32) {
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// The child `cmd` starts runs in a session of its own (no terminal, not in our job).
pub fn detach_on_spawn(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// The child `cmd` starts is killed when the thread that started it ends.
pub fn die_with_parent_on_spawn(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
            Ok(())
        });
    }
}

// --- locks ---

/// Takes an exclusive `flock` on `f`, waiting for it.
pub fn flock_exclusive(f: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own; released when the file closes.
    check(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }).map(|_| ())
}

/// A whole-file POSIX record lock request of `kind`.
fn whole_file(kind: i32) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value that the fields below complete.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l
}

/// Takes a POSIX write lock on all of `f` without waiting; whether it did. It lasts while the
/// process keeps any descriptor of the file, and others can ask for its holder.
pub fn try_write_lock(f: &File) -> bool {
    let l = whole_file(libc::F_WRLCK);
    // SAFETY: F_SETLK reads the flock struct we own.
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &l) == 0 }
}

/// The pid of the process holding a write lock on `f`, if another does (F_GETLK).
pub fn write_lock_holder(f: &File) -> Option<i32> {
    let mut l = whole_file(libc::F_WRLCK);
    // SAFETY: F_GETLK fills the flock struct we own.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut l) } != 0 {
        return None;
    }
    (l.l_type != libc::F_UNLCK as libc::c_short && l.l_pid > 0).then_some(l.l_pid)
}

// --- pipes ---

/// Moves up to `len` bytes from `from` to `to` inside the kernel (one of them a pipe);
/// 0 at the end of `from`.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: splice between two descriptors the caller holds open, without offsets.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Asks for a pipe buffer of `bytes` (best effort: the kernel may cap it).
pub fn set_pipe_size(pipe: BorrowedFd<'_>, bytes: i32) {
    // SAFETY: fcntl on a pipe descriptor the caller holds; F_SETPIPE_SZ takes an int.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, bytes);
    }
}

// --- directories and mounts ---

/// Opens directory `path` (following links: the caller trusts it).
pub fn open_directory(path: &Path) -> io::Result<OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: a NUL-terminated path.
    owned(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })
}

/// `openat2` of directory `rel` under `dir`, refusing symbolic links and `..` out of it;
/// `None` when the kernel lacks `openat2`.
pub fn openat2_beneath(dir: BorrowedFd<'_>, rel: &Path) -> Option<io::Result<OwnedFd>> {
    let c = match c_path(rel) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    // SAFETY: `open_how` is plain data; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a live descriptor, a NUL-terminated path and a properly sized `open_how`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) => None,
            _ => Some(Err(e)),
        };
    }
    Some(owned(fd as libc::c_int))
}

/// Opens directory `name` (one component) in `dir`, refusing a symbolic link.
pub fn openat_dir_nofollow(dir: BorrowedFd<'_>, name: &Path) -> io::Result<OwnedFd> {
    let c = c_path(name)?;
    // SAFETY: a live descriptor and a NUL-terminated single component.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })
}

/// Opens file `name` (one component) in `dir` for reading, refusing a symbolic link; never
/// blocks on a FIFO or device swapped in for the file that was listed.
pub fn openat_file_nofollow(dir: BorrowedFd<'_>, name: &Path) -> io::Result<File> {
    let c = c_path(name)?;
    // SAFETY: a live descriptor and a NUL-terminated single component.
    let fd = owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
        )
    })?;
    Ok(File::from(fd))
}

/// Makes directory `name` (one component) in `dir`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &Path, mode: u32) -> io::Result<()> {
    let c = c_path(name)?;
    // SAFETY: a live descriptor and a NUL-terminated single component.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

/// Bind-mounts `source` onto `target`.
pub fn bind_mount(source: &Path, target: &Path) -> io::Result<()> {
    let (source, target) = (c_path(source)?, c_path(target)?);
    // SAFETY: NUL-terminated paths; a bind mount takes no filesystem type or data.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    })
    .map(|_| ())
}

/// Makes the mount at `target`, and every mount below it, shared: mounts and unmounts under it
/// reach the copies other mount namespaces take of it.
pub fn make_shared(target: &Path) -> io::Result<()> {
    let target = c_path(target)?;
    // SAFETY: a NUL-terminated path; a propagation change takes no source, type or data.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_SHARED | libc::MS_REC,
            std::ptr::null(),
        )
    })
    .map(|_| ())
}

/// Detaches the mount at `target` (lazily: users of it keep it until they let go).
pub fn unmount_detach(target: &Path) -> io::Result<()> {
    let target = c_path(target)?;
    // SAFETY: a NUL-terminated path.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) }).map(|_| ())
}

/// Points this process' stdout and stderr at `file` (for the daemon's own log, so panics and
/// what child processes print land there too).
pub fn redirect_stdio(file: &File) -> io::Result<()> {
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 on descriptors we hold; the old ones are closed atomically.
        check(unsafe { libc::dup2(file.as_raw_fd(), fd) })?;
    }
    Ok(())
}

/// The listening unix socket systemd passed as descriptor `fd` (socket activation), if it is
/// one, set non-blocking; `None` when `fd` is not a unix stream socket.
pub fn inherited_unix_listener(fd: i32) -> Option<std::os::unix::net::UnixListener> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a c_int we own, with its size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 || kind != libc::SOCK_STREAM {
        return None;
    }
    // SAFETY: systemd handed this descriptor to us alone (LISTEN_PID is ours); from here on
    // the listener owns it.
    let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    // Inherited without close-on-exec: etcd and zfs must not hold Docker's socket open.
    // SAFETY: fcntl on the descriptor the listener now owns.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).ok()?;
    let unix = l.local_addr().ok()?.as_pathname().is_some();
    (unix && l.set_nonblocking(true).is_ok()).then_some(l)
}

#[cfg(test)]
mod tests {
    extern "C" fn linger(_: *mut libc::c_void) -> *mut libc::c_void {
        unsafe {
            libc::usleep(1_500_000);
            libc::_exit(0)
        }
    }

    #[test]
    fn a_zombie_main_thread_with_threads_still_exiting_runs() {
        // The child's main thread exits alone, as a killed daemon's does first; another thread
        // lingers, as one blocked on FUSE does.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe {
                let mut t: libc::pthread_t = std::mem::zeroed();
                libc::pthread_create(&mut t, std::ptr::null(), linger, std::ptr::null_mut());
                libc::syscall(libc::SYS_exit, 0);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.contains("State:\tZ"), "{status}");
        assert!(
            crate::daemon::procs::is_running(pid),
            "its other thread still runs"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while crate::daemon::procs::is_running(pid) {
            assert!(std::time::Instant::now() < deadline, "never seen to exit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "not reaped yet"
        );
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}
