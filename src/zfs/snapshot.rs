//! [`Snapshot`]: cloning, properties, GUIDs, sends ([`SendStream`]) and what a receive reads
//! from ([`Input`]).

use super::cmd::{self, Tool, run};
use super::*;

/// A snapshot (`pool/path@name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub(super) filesystem: String,
    pub(super) name: String,
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
    /// For the metrics: bytes read so far, and since when.
    sent: u64,
    started: std::time::Instant,
}

impl std::io::Read for SendStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.child.as_mut().and_then(|c| c.stdout.as_mut()) {
            Some(out) => {
                let n = out.read(buf)?;
                self.sent += n as u64;
                Ok(n)
            }
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
        let n = cmd::splice_all(out.as_fd(), to, progress)?;
        self.sent += n;
        Ok(n)
    }
    /// Waits for `zfs send` to exit; an error means the stream just read is not complete.
    pub fn finish(mut self) -> Result<()> {
        let child = self.child.take().expect("finish is called once");
        let done = cmd::finish_send(&self.args, child);
        self.count(done.is_ok());
        done
    }

    fn count(&self, ok: bool) {
        let seconds = self.started.elapsed().as_secs_f64();
        crate::metrics::zfs_command("zfs", "send", ok, seconds);
        crate::metrics::stream(crate::metrics::Direction::Sent, self.sent, seconds, ok);
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        // A reader that gave up (client gone) must not leave `zfs send` running.
        if let Some(mut c) = self.child.take() {
            self.count(false);
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

    /// Bytes only this snapshot holds: what destroying it alone frees.
    pub fn used(&self) -> Result<u64> {
        let name = self.full_name();
        let v = get_values(&name, &["used"])?;
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
            sent: 0,
            started: std::time::Instant::now(),
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
