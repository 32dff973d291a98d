//! The one sender of commit streams: whatever asks for a branch's snapshots — another node
//! replicating or taking over a branch (`replicate`, `handoff`), or another cluster's push or pull
//! (`transfer`) — gets an [`Outgoing`], which the HTTP layer streams as a body or splices
//! straight into the connection ([`splice_out`]). Two receivers take them, by how far the sender
//! is trusted: a node of this cluster into a read-only replica (`Replicator::pull`), another
//! cluster into a staged, hidden branch that counts only once confirmed
//! (`Transfers::receive_commits`).

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use super::DaemonError;
use super::core::zfs_err;
use crate::cluster::FsId;
use crate::storage::{Ds, Sending, Storage};

type Result<T> = std::result::Result<T, DaemonError>;

/// Snapshots of a branch ready to be sent: `to` in full, or what follows `from` up to `to`.
pub struct Outgoing {
    pub(super) storage: Arc<dyn Storage>,
    /// (filesystem id, snapshot) of the newest commit sent.
    pub(super) to: (FsId, String),
    /// (filesystem id, snapshot) the increment starts from: of the same filesystem, or of
    /// its origin for a clone stream.
    pub(super) from: Option<(FsId, String)>,
    /// Every snapshot between `from` and `to` (`zfs send -I`), or `to` alone (`-i`).
    pub(super) intermediates: bool,
    /// For the progress bar: exact enough for a full stream, a rough guess for an increment.
    pub estimate: Option<u64>,
}

impl Outgoing {
    /// The stream, through a pipe.
    pub fn stream(&self) -> Result<Box<dyn Sending>> {
        let from = self.from.as_ref().map(|(f, s)| (Ds::Branch(f), s.as_str()));
        self.storage
            .send(Ds::Branch(&self.to.0), &self.to.1, from, self.intermediates)
            .map_err(zfs_err)
    }

    /// Moves the stream into `conn` (see [`splice_out`]).
    pub fn send_into(
        &self,
        conn: &std::net::TcpStream,
        idle: Duration,
        tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
    ) -> Result<u64> {
        splice_out(self.stream()?, conn, idle, tell)
    }
}

/// Moves a `zfs send` stream into `conn` without it passing through this process; `tell` hears
/// the bytes sent so far and stops the send by failing. A receiver that takes nothing for
/// `idle` (a cut link without a reset) ends it. Returns the stream's size once `zfs send` has
/// exited cleanly.
pub fn splice_out(
    mut stream: Box<dyn Sending>,
    conn: &std::net::TcpStream,
    idle: Duration,
    tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
) -> Result<u64> {
    let _ = conn.set_write_timeout(Some(idle));
    match stream.splice_into(conn.as_fd(), tell) {
        Ok(n) => stream.finish().map(|_| n).map_err(zfs_err),
        Err(e) => Err(DaemonError::Far(format!("the stream was cut off: {e}"))),
    }
}
