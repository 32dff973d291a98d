//! Where and how dm logs: levels from `DM_LOG` (or `RUST_LOG`), `text` or `json` lines
//! (`--log-format`), on stderr. Under systemd (`JOURNAL_STREAM` set) journald stamps each line,
//! so the text format leaves the time out. A daemon started in the background writes its own
//! file (`--log-file`), rotated by size, with stdout and stderr pointed at it too so a panic or a
//! child's complaint lands next to the lines around it.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(clap::ValueEnum, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event
    #[default]
    Text,
    /// One JSON object per event (for log shippers)
    Json,
}

/// A log file larger than this is rotated: `dm.log` → `dm.log.1` → … → `dm.log.KEEP`.
const ROTATE_AT: u64 = 16 << 20;
const KEEP: usize = 3;

/// Sets up tracing for this process. `daemon`: info by default (a verb: warnings only).
pub fn init(daemon: bool, format: LogFormat, file: Option<&Path>) {
    let default = if daemon { "info" } else { "warn" };
    let filter = EnvFilter::try_from_env("DM_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let writer = match file.map(Rotating::open) {
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            eprintln!("dm: cannot write the log file: {e}; logging to stderr");
            None
        }
        None => None,
    };
    let journald = std::env::var_os("JOURNAL_STREAM").is_some() && writer.is_none();
    let ansi = daemon && writer.is_none() && !journald && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match (format, writer, journald) {
        (LogFormat::Json, Some(w), _) => builder.json().with_writer(w).try_init(),
        (LogFormat::Json, None, _) => builder.json().with_writer(std::io::stderr).try_init(),
        (LogFormat::Text, Some(w), _) => builder.with_writer(w).try_init(),
        (LogFormat::Text, None, true) => builder
            .without_time()
            .with_writer(std::io::stderr)
            .try_init(),
        (LogFormat::Text, None, false) => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// The daemon's log file: appended to, and rotated when it grows past [`ROTATE_AT`].
struct Rotating {
    path: PathBuf,
    file: Mutex<File>,
    size: AtomicU64,
    /// Whether stdout and stderr follow the file (the daemon; not a unit test).
    stdio: bool,
}

impl Rotating {
    fn open(path: &Path) -> std::io::Result<Rotating> {
        let file = append(path)?;
        crate::sys::redirect_stdio(&file)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            size: AtomicU64::new(size),
            stdio: true,
        })
    }

    /// Moves the full file aside (keeping [`KEEP`] old ones) and starts a new one.
    fn rotate(&self, file: &mut File) -> std::io::Result<()> {
        for i in (1..KEEP).rev() {
            let _ = std::fs::rename(numbered(&self.path, i), numbered(&self.path, i + 1));
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        let fresh = append(&self.path)?;
        if self.stdio {
            crate::sys::redirect_stdio(&fresh)?;
        }
        *file = fresh;
        self.size.store(0, Ordering::Relaxed);
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn numbered(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

/// One event's line, written whole under the lock.
struct Line<'a>(&'a Rotating);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = self.0.file.lock().unwrap_or_else(|p| p.into_inner());
        if self.0.size.load(Ordering::Relaxed) + buf.len() as u64 > ROTATE_AT
            && let Err(e) = self.0.rotate(&mut file)
        {
            // Keep logging to the full file rather than lose lines.
            let _ = writeln!(file, "dm: cannot rotate the log: {e}");
            self.0.size.store(0, Ordering::Relaxed);
        }
        file.write_all(buf)?;
        self.0.size.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Rotating {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_moves_aside_and_old_ones_shift() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dm.log");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::write(numbered(&path, 1), "older\n").unwrap();
        let r = Rotating {
            path: path.clone(),
            file: Mutex::new(append(&path).unwrap()),
            size: AtomicU64::new(ROTATE_AT - 2),
            stdio: false,
        };
        Line(&r).write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(
            std::fs::read_to_string(numbered(&path, 1)).unwrap(),
            "old\n"
        );
        assert_eq!(
            std::fs::read_to_string(numbered(&path, 2)).unwrap(),
            "older\n"
        );
    }
}
