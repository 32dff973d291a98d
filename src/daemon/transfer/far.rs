//! This node as the client of another cluster (`dm push`/`pull`/`clone` run by the daemon):
//! running a transfer, reporting progress, and the log of streams this node sent.

use super::Transfers;
use crate::routes::At;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api;
use crate::client::config::Remote;
use crate::client::{Client, ClientError, Upgraded};
use crate::daemon::DaemonError;
use crate::daemon::core::zfs_err;
use crate::daemon::principal::Principal;
use crate::daemon::sender::Outgoing;
use crate::storage::Input;

type Result<T> = std::result::Result<T, DaemonError>;

/// The latest streams this node sent, by send id: a receiver that got a stream straight from
/// here (`dm pull`, `dm clone`) learns from them whether all of it was sent.
#[derive(Default)]
pub struct SentLog(Mutex<VecDeque<(String, String, api::SentRecord)>>);

/// Sent streams remembered; a receiver asks right after its stream ends.
const SENT_KEPT: usize = 64;

/// How often a running transfer tells its client how far it got.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Passes a running byte count on to `report` at most every [`REPORT_EVERY`].
pub(super) fn throttled<'a>(
    report: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
) -> impl FnMut(u64) -> std::io::Result<()> + 'a {
    let mut last = Instant::now();
    move |bytes| {
        if last.elapsed() < REPORT_EVERY {
            return Ok(());
        }
        last = Instant::now();
        report(bytes)
    }
}

/// Passes reads through, telling `tell` the running byte count; an error from `tell` (the
/// client went away) fails the read, which ends the transfer.
struct Counting<'a, R> {
    inner: R,
    bytes: u64,
    tell: &'a mut dyn FnMut(u64) -> std::io::Result<()>,
}

/// The other cluster's answer, as this daemon's error.
pub(super) fn far_err(e: ClientError) -> DaemonError {
    match e {
        ClientError::Unreachable { addr, detail } => DaemonError::Far(format!(
            "this cluster cannot reach {addr} ({detail}); transfers run between the two clusters' daemons, so this node needs a route to the remote"
        )),
        other => DaemonError::Far(other.to_string()),
    }
}

/// A raw stream connection to the other cluster, or `None` to copy through a body instead:
/// over TLS, when the node asked does not hold the branch and can pass on only a body, or when
/// the upgrade did not get through to the other daemon (a proxy in between).
pub(super) fn raw(
    r: std::result::Result<Option<Upgraded>, ClientError>,
) -> Result<Option<Upgraded>> {
    match r {
        Err(ClientError::Api { code, .. }) if code == "master_elsewhere" || code == "no_stream" => {
            Ok(None)
        }
        other => other.map_err(far_err),
    }
}

/// Sends `out` raw into an upgraded receive; the far side answers with what arrived. Returns
/// the bytes sent and the far side's receipt.
pub(super) fn push_raw(
    out: &Outgoing,
    up: Upgraded,
    idle: Duration,
    tell: &mut dyn FnMut(u64) -> std::io::Result<()>,
) -> Result<(u64, api::Receipt)> {
    let sent = out.send_into(&up.stream, idle, tell);
    // Sent or not, the end of our side tells the far side to finish and answer.
    let _ = up.stream.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    let answer = std::io::BufReader::new(&up.stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<api::StreamOutcome>(&line).map_err(|e| e.to_string()));
    let broke = |why: String| {
        DaemonError::Far(format!(
            "the connection to the other cluster broke during the stream ({why}); it keeps nothing half-received, so run the same command again"
        ))
    };
    match (sent, answer) {
        (Ok(n), Ok(api::StreamOutcome::Received(r))) => Ok((n, r)),
        // The far side's reason says more than a broken connection here.
        (_, Ok(api::StreamOutcome::Error(f))) => Err(far_err(f.into())),
        (Err(DaemonError::Far(why)), Err(_)) | (Ok(_), Err(why)) => Err(broke(why)),
        (Err(e), _) => Err(e),
    }
}

impl SentLog {
    /// Keeps what became of stream `id`, which `user` asked for.
    pub fn record(&self, id: String, user: &Principal, r: api::SentRecord) {
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == SENT_KEPT {
            log.pop_front();
        }
        log.push_back((id, user.name().to_string(), r));
    }

    /// The record of stream `id`, for the user who asked for it (or admin) only.
    fn get(&self, user: &Principal, id: &str) -> Option<api::SentRecord> {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .find(|(i, owner, _)| i == id && (owner == user.name() || user.is_admin()))
            .map(|(_, _, r)| r.clone())
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        (self.tell)(self.bytes)?;
        Ok(n)
    }
}

impl Transfers {
    /// The node holding branch `here`, when that is not this one (and the branch exists).
    pub fn master_elsewhere(
        &self,
        user: &Principal,
        (ns, name, branch): &(String, String, String),
    ) -> Option<crate::cluster::ServerRecord> {
        user.may_use(ns).ok()?;
        let l = self.core.load(ns, name).ok()?;
        match self.core.check_master(l.branch(branch).ok()?) {
            Err(DaemonError::MasterElsewhere(s)) => Some(*s),
            _ => None,
        }
    }

    /// What this node knows of a stream it sent.
    pub fn sent_record(&self, user: &Principal, id: &str) -> Result<api::SentRecord> {
        self.sent.get(user, id).ok_or_else(|| {
            DaemonError::NotFound(format!("no stream {id} was sent recently from this node"))
        })
    }

    /// Streams commits between a branch here and one on another cluster, straight between the
    /// two daemons; `report` hears the byte count as it goes. The receiver keeps what arrived
    /// unconfirmed: the client confirms it with the sender's checksum this returns.
    pub fn transfer(
        &self,
        user: &Principal,
        t: &api::TransferRequest,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        let here = At::new((t.here.0.as_str(), t.here.1.as_str(), t.here.2.as_str()));
        let there = At::new((t.there.0.as_str(), t.there.1.as_str(), t.there.2.as_str()));
        let far = Client::new(&Remote::from_far(&t.far));
        // Nothing else, the key least of all, goes to an address that is not a dm daemon.
        far.hello().map_err(far_err)?;
        let from = t.from.as_deref();
        match t.direction {
            api::Direction::Push => {
                self.push_to_far(user, here, (&far, there), from, &t.to, report)
            }
            api::Direction::Pull => {
                self.pull_from_far(user, here, (&far, there), from, &t.to, report)
            }
        }
    }

    /// Sends `here`'s commits after `from` up to `to` to branch `there` of the far cluster.
    pub(super) fn push_to_far(
        &self,
        user: &Principal,
        here: At<'_>,
        (far, there): (&Client, At<'_>),
        from: Option<&str>,
        to: &str,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        let out = self.send_commits(user, here, from, to)?;
        let estimate = out.estimate;
        let mut report = |bytes| report(bytes, estimate);
        let mut tell = throttled(&mut report);
        let path = crate::client::receive_path(there, from);
        let (sent_bytes, receipt) = match raw(far.upgrade("POST", &path))? {
            Some(up) => push_raw(&out, up, self.core.stream_idle, &mut tell)?,
            None => {
                let mut body = Counting {
                    inner: out.stream()?,
                    bytes: 0,
                    tell: &mut tell,
                };
                let receipt = far.receive(there, from, &mut body).map_err(far_err)?;
                let sent = body.bytes;
                body.inner.finish().map_err(zfs_err)?;
                (sent, receipt)
            }
        };
        Ok(api::TransferDone {
            sent_bytes,
            receipt,
        })
    }

    /// Takes `there`'s commits after `from` up to `to` from the far cluster into branch `here`.
    pub(super) fn pull_from_far(
        &self,
        user: &Principal,
        here: At<'_>,
        (far, there): (&Client, At<'_>),
        from: Option<&str>,
        to: &str,
        report: &mut dyn FnMut(u64, Option<u64>) -> std::io::Result<()>,
    ) -> Result<api::TransferDone> {
        user.may_use(here.ns)?;
        let path = crate::client::send_path(there, from, to);
        let (receipt, send_id) = match raw(far.upgrade("GET", &path))? {
            Some(up) => {
                let estimate = up
                    .header(api::SIZE_ESTIMATE_HEADER)
                    .and_then(|v| v.parse().ok());
                let mut report = |bytes| report(bytes, estimate);
                let mut tell = throttled(&mut report);
                let input = self.core.spliced_from(&up.stream, &mut tell);
                let receipt = self.receive_commits(user, here, from, Some(input))?;
                (receipt, up.header(api::SEND_ID_HEADER).map(str::to_string))
            }
            None => {
                let incoming = far.send_stream(there, from, to).map_err(far_err)?;
                let estimate = incoming.estimate;
                let mut report = |bytes| report(bytes, estimate);
                let mut tell = throttled(&mut report);
                let mut body = Counting {
                    inner: incoming.body,
                    bytes: 0,
                    tell: &mut tell,
                };
                let input = Input::Read(&mut body);
                let receipt = self.receive_commits(user, here, from, Some(input))?;
                (receipt, incoming.send_id)
            }
        };
        let sent = send_id
            .ok_or_else(|| {
                DaemonError::Far(
                    "the remote did not say which stream it sent; upgrade dm there".into(),
                )
            })
            .and_then(|id| far.sent(&id).map_err(far_err))?;
        if !sent.complete {
            return Err(DaemonError::Far(
                "the remote's `zfs send` failed part-way; nothing was kept, see its log and try again".into(),
            ));
        }
        Ok(api::TransferDone {
            sent_bytes: sent.bytes,
            receipt,
        })
    }
}
