//! Commit streams over HTTP: streamed answers, switching a connection to a raw stream (and
//! splicing it), and running a transfer job with another cluster (one stream, or a whole push or
//! pull) while its event lines go back.

use std::io::{Read, Write};
use std::sync::Arc;

use super::*;
use crate::api;
use crate::daemon::principal::Principal;
use crate::daemon::{Daemon, DaemonError, peer};
use crate::httpd::{self, Body};

/// Streams `zfs send` output as the body. Its size, and whether `zfs send` finished cleanly,
/// are kept under the send id given in a header before the body ends: a cut stream looks like
/// a short one, and the receiver asks.
pub(super) fn send_stream(
    daemon: Arc<Daemon>,
    mut stream: Box<dyn crate::storage::Sending>,
    estimate: Option<u64>,
    user: Principal,
) -> Response<Body> {
    let id = crate::daemon::core::new_id();
    let (mut sink, body) = httpd::channel(daemon.node.core.stream_idle);
    let mut r = Response::new(body);
    set(&mut r, "Content-Type", "application/octet-stream");
    for (k, v) in stream_headers(&id, estimate) {
        set(&mut r, k, &v);
    }
    tokio::task::spawn_blocking(move || {
        let mut buffered = std::io::BufReader::with_capacity(1 << 20, &mut stream);
        let sent = std::io::copy(&mut buffered, &mut sink);
        let (bytes, complete) = match sent {
            Ok(n) => match stream.finish() {
                Ok(()) => (n, true),
                Err(e) => {
                    tracing::warn!(error = %e, bytes = n, "zfs send failed; the stream was cut short");
                    (n, false)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "send stream interrupted");
                (0, false)
            }
        };
        // Recorded before the body ends (when `sink` goes), so the receiver finds it.
        daemon
            .node
            .transfers
            .sent
            .record(id, &user, api::SentRecord { bytes, complete });
        drop(sink);
    });
    r
}

/// Headers of a commit stream: its send id and the estimate of its size.
pub(super) fn stream_headers(id: &str, estimate: Option<u64>) -> Vec<(&'static str, String)> {
    let mut h = vec![(api::SEND_ID_HEADER, id.to_string())];
    if let Some(n) = estimate {
        h.push((api::SIZE_ESTIMATE_HEADER, n.to_string()));
    }
    h
}

/// Whether a `zfs send` stream answers the request raw, after switching protocols; otherwise
/// it goes in a body that ends when the connection closes, which the request must ask for.
pub(super) fn raw_answer(daemon: &Daemon, req: &Req) -> Result<bool, DaemonError> {
    let raw = wants_raw(daemon, req)?;
    if !raw {
        streams_need_close(req)?;
    }
    Ok(raw)
}

/// Whether the request asks to switch to a raw commit stream ([`crate::wire`]), which only a
/// plain-HTTP connection can carry: `zfs` cannot speak TLS.
pub(super) fn wants_raw(daemon: &Daemon, req: &Req) -> Result<bool, DaemonError> {
    let asked =
        header(req, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case(crate::wire::PROTOCOL));
    if asked && daemon.cfg.tls_cert.is_some() {
        return Err(DaemonError::BadRequest(
            "this daemon serves TLS, which raw streams cannot use; send the stream in the request body".into(),
        ));
    }
    Ok(asked)
}

/// Switches the connection to a raw commit stream (`101`), then runs this node's end of it on
/// the socket itself, which hyper hands over.
pub(super) fn switch(
    daemon: Arc<Daemon>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    raw: Raw,
) -> Response<Body> {
    let id = crate::daemon::core::new_id();
    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    set(&mut r, "Connection", "Upgrade");
    set(&mut r, "Upgrade", crate::wire::PROTOCOL);
    if let Raw::Send(_, estimate, _) = &raw {
        for (k, v) in stream_headers(&id, *estimate) {
            set(&mut r, k, &v);
        }
    }
    tokio::spawn(async move {
        let conn = match on_upgrade
            .await
            .map(|u| u.downcast::<hyper_util::rt::TokioIo<tokio::net::TcpStream>>())
        {
            Ok(Ok(parts)) if parts.read_buf.is_empty() => parts.io.into_inner().into_std(),
            Ok(Ok(_)) => {
                tracing::warn!("a raw stream started before the switch was answered; dropped");
                return;
            }
            _ => {
                tracing::warn!("cannot take over a switched connection");
                return;
            }
        };
        let Ok(conn) = conn.and_then(|c| c.set_nonblocking(false).map(|_| c)) else {
            return;
        };
        tokio::task::spawn_blocking(move || raw_stream(&daemon, conn, raw, id));
    });
    r
}

/// Runs this node's end of a raw commit stream: `zfs send`'s pipe is spliced into the socket,
/// or the socket into `zfs receive`'s, and the receive then answers with one JSON line. The
/// stream never passes through this process.
pub(super) fn raw_stream(daemon: &Daemon, conn: std::net::TcpStream, raw: Raw, id: String) {
    use std::io::Write as _;
    match raw {
        Raw::Send(stream, _, user) => {
            let idle = daemon.node.core.stream_idle;
            let sent = crate::daemon::sender::splice_out(stream, &conn, idle, &mut |_| Ok(()));
            if let Err(e) = &sent {
                tracing::warn!(error = %e, "raw send failed");
            }
            let record = api::SentRecord {
                bytes: *sent.as_ref().unwrap_or(&0),
                complete: sent.is_ok(),
            };
            tracing::debug!(
                bytes = record.bytes,
                complete = record.complete,
                "spliced a send"
            );
            // Recorded before the receiver sees the end, so it finds the record when it asks.
            daemon.node.transfers.sent.record(id, &user, record);
            let _ = conn.shutdown(std::net::Shutdown::Write);
        }
        Raw::Receive { user, at, from } => {
            let at = crate::routes::At::new((at.0.as_str(), at.1.as_str(), at.2.as_str()));
            let mut quiet = |_| Ok(());
            let input = daemon.node.core.spliced_from(&conn, &mut quiet);
            let answer =
                match daemon
                    .node
                    .transfers
                    .receive_commits(&user, at, from.as_deref(), Some(input))
                {
                    Ok(r) => api::StreamOutcome::Received(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "raw receive failed");
                        api::StreamOutcome::Error(failure(&e))
                    }
                };
            let mut line = serde_json::to_vec(&answer).expect("answers serialise");
            line.push(b'\n');
            let _ = (&conn).write_all(&line);
            let _ = conn.shutdown(std::net::Shutdown::Write);
            drain(&conn);
        }
    }
}

/// Reads and drops what the peer still sends, for a while: closing a socket with unread data
/// resets the connection, and the reset could overtake the answer just written.
pub(super) fn drain(conn: &std::net::TcpStream) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let mut buf = [0u8; 64 * 1024];
    while matches!((&*conn).read(&mut buf), Ok(n) if n > 0) {}
}

/// A transfer asked of this node: one stream, or a whole push or pull.
pub(crate) enum Job {
    Step(api::TransferRequest),
    Run(api::TransferRun),
}

impl Job {
    fn direction(&self) -> api::Direction {
        match self {
            Job::Step(t) => t.direction,
            Job::Run(r) => r.direction,
        }
    }

    fn here(&self) -> &(String, String, String) {
        match self {
            Job::Step(t) => &t.here,
            Job::Run(r) => &r.here,
        }
    }

    /// Runs it here, one JSON line per event (the last one the outcome) into `w`.
    fn run(&self, daemon: &Daemon, user: &Principal, w: &mut dyn Write) {
        let transfers = &daemon.node.transfers;
        let _ = match self {
            Job::Step(t) => {
                let mut report = |bytes, estimate| {
                    line(&mut *w, &api::TransferEvent::Progress { bytes, estimate })
                };
                let end = match transfers.transfer(user, t, &mut report) {
                    Ok(done) => api::TransferEvent::Done(done),
                    Err(e) => api::TransferEvent::Error(failed(&e)),
                };
                line(w, &end)
            }
            Job::Run(r) => {
                let mut event = |ev: api::RunEvent| line(&mut *w, &ev);
                let end = match transfers.run(user, r, &mut event) {
                    Ok(done) => api::RunEvent::Done(done),
                    Err(e) => api::RunEvent::Error(failed(&e)),
                };
                line(w, &end)
            }
        };
    }

    /// Answers with `e` as the job's outcome line.
    fn fail(&self, w: &mut dyn Write, e: &DaemonError) -> std::io::Result<()> {
        let f = failure(e);
        match self {
            Job::Step(_) => line(w, &api::TransferEvent::Error(f)),
            Job::Run(_) => line(w, &api::RunEvent::Error(f)),
        }
    }

    /// The request, as forwarded to another node.
    fn body(&self) -> Vec<u8> {
        match self {
            Job::Step(t) => serde_json::to_vec(t),
            Job::Run(r) => serde_json::to_vec(r),
        }
        .expect("jobs serialise")
    }
}

fn failed(e: &DaemonError) -> api::Failure {
    tracing::warn!(error = %e, "transfer failed");
    failure(e)
}

fn line<T: serde::Serialize>(w: &mut dyn Write, ev: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(ev)?;
    bytes.push(b'\n');
    w.write_all(&bytes)
}

/// Runs a transfer job, answering with one JSON line per event and a last one with the outcome.
pub(super) fn run_transfer(
    daemon: Arc<Daemon>,
    req: &Req,
    user: Principal,
    job: Job,
) -> Response<Body> {
    let forwarded = header(req, peer::FORWARDED).is_some();
    let path = req.url().to_string();
    let (mut w, body) = httpd::channel(daemon.node.core.stream_idle);
    let mut r = Response::new(body);
    set(&mut r, "Content-Type", "application/x-ndjson");
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        // A pull feeds `zfs receive`, which runs on the branch's master: another node gets
        // the whole job, and its answer lines are relayed as they come.
        let elsewhere = match (job.direction(), forwarded) {
            (api::Direction::Pull, false) => {
                daemon.node.transfers.master_elsewhere(&user, job.here())
            }
            _ => None,
        };
        let Some(server) = elsewhere else {
            return job.run(&daemon, &user, &mut w);
        };
        tracing::debug!(to = %server.id, "forwarding a pull to the branch's master");
        let sent = daemon
            .node
            .core
            .peers
            .forward_job(&server, &path, &user, &job.body());
        match sent {
            Ok(answer) => {
                for l in std::io::BufReader::new(answer).lines() {
                    let Ok(l) = l else { break };
                    if writeln!(w, "{l}").is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                let _ = job.fail(&mut w, &e);
            }
        }
    });
    r
}
