//! The HTTP JSON API on port 32607: authentication, body limits, routing to [`Node`].
//!
//! Requests arrive through [`crate::httpd`] (hyper on tokio). Every request but `GET /v1/hello`
//! is authenticated (basic auth, user + API key) before its body is read: a refused request is
//! answered and its connection closed, body unread. JSON bodies over [`api::MAX_BODY`] get 413,
//! malformed JSON gets 400, and a panic in a handler becomes a 500 for that request only.
//! Handlers run on the blocking pool; a commit stream in a request body is read as it comes
//! (bounded by the stream idle limit), and streamed answers are fed through a
//! [`crate::httpd::Sink`].

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::principal::Principal;
use super::{Daemon, DaemonError, peer};
use crate::api;
use crate::httpd::{self, Body, BodyError};
use crate::names;

type Reply = (u16, Vec<u8>);

/// What a handler answers: JSON, JSON from a cache while etcd is down (with its age in
/// seconds), or a `zfs send` stream for another node.
enum Out {
    Json(Reply),
    Stale(Reply, u64),
    /// With an estimate of its size, for the receiver's progress bar, and who asked (only
    /// they may read its record).
    Stream(Box<dyn crate::storage::Sending>, Option<u64>, Principal),
    /// A transfer to or from another cluster, run while progress lines go back (for the user).
    Transfer(Box<api::TransferRequest>, Principal),
    /// A commit stream on the connection itself, after switching protocols ([`crate::wire`]).
    Raw(Raw),
}

/// The two ends of a raw stream this node can be.
enum Raw {
    /// With an estimate of its size, for the receiver's progress bar, and who asked.
    Send(Box<dyn crate::storage::Sending>, Option<u64>, Principal),
    Receive {
        user: Principal,
        at: (String, String, String),
        from: Option<String>,
    },
}

impl From<Reply> for Out {
    fn from(r: Reply) -> Out {
        Out::Json(r)
    }
}

/// A request as handlers see it: its head, and its body, whole or as a stream.
struct Req {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: ReqBody,
}

enum ReqBody {
    Whole(Bytes),
    /// A commit stream, read as it comes; taken by whoever reads it.
    Stream(Option<Box<dyn Read + Send>>),
}

impl Req {
    fn url(&self) -> &str {
        &self.url
    }

    fn method(&self) -> &Method {
        &self.method
    }

    /// The streamed body (once).
    fn stream(&mut self) -> Option<Box<dyn Read + Send>> {
        match &mut self.body {
            ReqBody::Stream(s) => s.take(),
            ReqBody::Whole(_) => None,
        }
    }
}

fn json<T: Serialize>(status: u16, v: &T) -> Reply {
    (status, serde_json::to_vec(v).expect("responses serialise"))
}

fn failure(e: &DaemonError) -> api::Failure {
    api::Failure {
        status: e.status(),
        error: e.to_string(),
        code: e.code().to_string(),
    }
}

fn error_reply(e: &DaemonError) -> Reply {
    json(
        e.status(),
        &api::ErrorBody {
            error: e.to_string(),
            code: e.code().to_string(),
        },
    )
}

fn json_response((status, body): Reply) -> Response<Body> {
    let mut r = httpd::full(status, "application/json", body);
    if status == 401 {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dm\""),
        );
    }
    r
}

/// An error answered before the body was read: the connection closes rather than wait for
/// (or read) a body nobody will use.
fn refuse(e: &DaemonError) -> Response<Body> {
    let mut r = json_response(error_reply(e));
    r.headers_mut()
        .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn set(r: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// The API's request handler.
pub fn handler(daemon: Arc<Daemon>) -> httpd::Handler {
    Arc::new(move |req, _peer| Box::pin(answer(daemon.clone(), req)))
}

/// Whether a request's body is a commit stream to read as it comes, rather than JSON to read
/// whole: a receive that is neither a check, nor a switch of protocols, nor empty.
fn streams_body(method: &Method, url: &str, headers: &HeaderMap) -> bool {
    let path = url.split('?').next().unwrap_or_default();
    *method == Method::POST
        && path.starts_with("/v1/dots/")
        && path.ends_with("/receive")
        && query(url, "check").as_deref() != Some("1")
        && !headers.contains_key(hyper::header::UPGRADE)
        && content_length(headers) != Some(0)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn answer(daemon: Arc<Daemon>, mut req: hyper::Request<Incoming>) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, incoming) = req.into_parts();
    let url = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    // The one call without a key: it says only that this is a dm daemon.
    if parts.method == Method::GET && url.split('?').next() == Some("/v1/hello") {
        let hello = api::Hello {
            service: api::HELLO_SERVICE.into(),
        };
        return json_response(json(200, &hello));
    }
    let creds = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_auth);
    let Some((user, key)) = creds else {
        return refuse(&DaemonError::Unauthorized);
    };
    // The registry is blocking code: ask on the blocking pool.
    let d = daemon.clone();
    let checked = tokio::task::spawn_blocking(move || d.authenticate(&user, &key));
    let user = match checked.await {
        Ok(Ok(user)) => user,
        Ok(Err(e)) => return refuse(&e),
        Err(_) => return refuse(&DaemonError::Internal("authentication failed".into())),
    };
    let body = if streams_body(&parts.method, &url, &parts.headers) {
        let reader = httpd::BodyReader::new(incoming, daemon.node.stream_idle);
        ReqBody::Stream(Some(Box::new(reader)))
    } else if content_length(&parts.headers).is_some_and(|n| n > api::MAX_BODY as u64) {
        return refuse(&DaemonError::TooLarge);
    } else {
        match httpd::collect(incoming, api::MAX_BODY).await {
            Ok(b) => ReqBody::Whole(b),
            Err(BodyError::TooLarge) => return refuse(&DaemonError::TooLarge),
            Err(BodyError::Unreadable(why)) => {
                return refuse(&DaemonError::BadRequest(format!(
                    "cannot read the request body: {why}"
                )));
            }
        }
    };
    let mut req = Req {
        method: parts.method,
        url,
        headers: parts.headers,
        body,
    };
    let d = daemon.clone();
    let routed = tokio::task::spawn_blocking(move || {
        let out = catch_unwind(AssertUnwindSafe(|| route(&d, &mut req, user)));
        (out, req)
    })
    .await;
    let (outcome, req) = match routed {
        Ok((Ok(out), req)) => (out, req),
        _ => {
            return json_response(error_reply(&DaemonError::Internal(
                "the daemon hit a bug handling this request; see its log".into(),
            )));
        }
    };
    tracing::debug!(method = %req.method, url = %req.url, "request");
    match outcome {
        Ok(Out::Json(reply)) => json_response(reply),
        Ok(Out::Stale(reply, age)) => {
            let mut r = json_response(reply);
            set(&mut r, api::STALE_HEADER, &age.to_string());
            r
        }
        Ok(Out::Stream(stream, estimate, user)) => send_stream(daemon, stream, estimate, user),
        Ok(Out::Transfer(t, user)) => run_transfer(daemon, &req, user, *t),
        Ok(Out::Raw(raw)) => switch(daemon, on_upgrade, raw),
        Err(e) => json_response(error_reply(&e)),
    }
}

/// Streams `zfs send` output as the body. Its size, and whether `zfs send` finished cleanly,
/// are kept under the send id given in a header before the body ends: a cut stream looks like
/// a short one, and the receiver asks.
fn send_stream(
    daemon: Arc<Daemon>,
    mut stream: Box<dyn crate::storage::Sending>,
    estimate: Option<u64>,
    user: Principal,
) -> Response<Body> {
    let id = super::node::new_id();
    let (mut sink, body) = httpd::channel(daemon.node.stream_idle);
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
            .sent
            .record(id, &user, api::SentRecord { bytes, complete });
        drop(sink);
    });
    r
}

/// Headers of a commit stream: its send id and the estimate of its size.
fn stream_headers(id: &str, estimate: Option<u64>) -> Vec<(&'static str, String)> {
    let mut h = vec![(api::SEND_ID_HEADER, id.to_string())];
    if let Some(n) = estimate {
        h.push((api::SIZE_ESTIMATE_HEADER, n.to_string()));
    }
    h
}

/// Whether a `zfs send` stream answers the request raw, after switching protocols; otherwise
/// it goes in a body that ends when the connection closes, which the request must ask for.
fn raw_answer(daemon: &Daemon, req: &Req) -> Result<bool, DaemonError> {
    let raw = wants_raw(daemon, req)?;
    if !raw {
        streams_need_close(req)?;
    }
    Ok(raw)
}

/// Whether the request asks to switch to a raw commit stream ([`crate::wire`]), which only a
/// plain-HTTP connection can carry: `zfs` cannot speak TLS.
fn wants_raw(daemon: &Daemon, req: &Req) -> Result<bool, DaemonError> {
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
fn switch(daemon: Arc<Daemon>, on_upgrade: hyper::upgrade::OnUpgrade, raw: Raw) -> Response<Body> {
    let id = super::node::new_id();
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
fn raw_stream(daemon: &Daemon, conn: std::net::TcpStream, raw: Raw, id: String) {
    use std::io::Write as _;
    match raw {
        Raw::Send(stream, _, user) => {
            let idle = daemon.node.stream_idle;
            let sent = super::transfer::splice_out(stream, &conn, idle, &mut |_| Ok(()));
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
            daemon.node.sent.record(id, &user, record);
            let _ = conn.shutdown(std::net::Shutdown::Write);
        }
        Raw::Receive { user, at, from } => {
            let at = (at.0.as_str(), at.1.as_str(), at.2.as_str());
            let mut quiet = |_| Ok(());
            let input = daemon.node.spliced_from(&conn, &mut quiet);
            let answer = match daemon
                .node
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
fn drain(conn: &std::net::TcpStream) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let mut buf = [0u8; 64 * 1024];
    while matches!((&*conn).read(&mut buf), Ok(n) if n > 0) {}
}

/// Runs a transfer, answering with one JSON line per progress report and a last one with the
/// outcome.
fn run_transfer(
    daemon: Arc<Daemon>,
    req: &Req,
    user: Principal,
    t: api::TransferRequest,
) -> Response<Body> {
    let forwarded = header(req, peer::FORWARDED).is_some();
    let auth = header(req, "Authorization").unwrap_or_default();
    let (mut w, body) = httpd::channel(daemon.node.stream_idle);
    let mut r = Response::new(body);
    set(&mut r, "Content-Type", "application/x-ndjson");
    tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let line = |w: &mut dyn Write, ev: &api::TransferEvent| -> std::io::Result<()> {
            let mut bytes = serde_json::to_vec(ev)?;
            bytes.push(b'\n');
            w.write_all(&bytes)
        };
        // A pull feeds `zfs receive`, which runs on the branch's master: another node gets
        // the whole transfer, and its answer lines are relayed as they come.
        let elsewhere = match (t.direction, forwarded) {
            (api::Direction::Pull, false) => daemon.node.master_elsewhere(&user, &t.here),
            _ => None,
        };
        let outcome = match elsewhere {
            Some(server) => {
                tracing::debug!(to = %server.id, "forwarding a pull to the branch's master");
                match daemon.node.peers.forward_transfer(&server, &auth, &t) {
                    Ok(answer) => {
                        for l in std::io::BufReader::new(answer).lines() {
                            let Ok(l) = l else { break };
                            if writeln!(w, "{l}").is_err() {
                                break;
                            }
                        }
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                let mut report = |bytes, estimate| {
                    line(&mut w, &api::TransferEvent::Progress { bytes, estimate })
                };
                daemon.node.transfer(&user, &t, &mut report)
            }
        };
        let ev = match outcome {
            Ok(done) => api::TransferEvent::Done(done),
            Err(e) => {
                tracing::warn!(error = %e, "transfer failed");
                api::TransferEvent::Error(failure(&e))
            }
        };
        let _ = line(&mut w, &ev);
    });
    r
}

/// User and key from an `Authorization: Basic …` value.
fn basic_auth(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, key) = decoded.split_once(':')?;
    Some((user.to_string(), key.to_string()))
}

/// The whole JSON body.
fn raw_body(req: &mut Req) -> Result<Vec<u8>, DaemonError> {
    match &req.body {
        ReqBody::Whole(b) => Ok(b.to_vec()),
        ReqBody::Stream(_) => Err(DaemonError::BadRequest(
            "this call takes a JSON body, not a stream".into(),
        )),
    }
}

fn parse<T: DeserializeOwned>(buf: &[u8]) -> Result<T, DaemonError> {
    serde_json::from_slice(buf)
        .map_err(|e| DaemonError::BadRequest(format!("malformed JSON request: {e}")))
}

fn body<T: DeserializeOwned>(req: &mut Req) -> Result<T, DaemonError> {
    parse(&raw_body(req)?)
}

fn header(req: &Req, name: &'static str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Streamed answers end when the connection closes, for callers that read them that way; a
/// request must ask for it.
fn streams_need_close(req: &Req) -> Result<(), DaemonError> {
    match header(req, "Connection") {
        Some(v) if v.to_ascii_lowercase().contains("close") => Ok(()),
        _ => Err(DaemonError::BadRequest(
            "this answer is a stream that ends when the connection closes: send the request with `Connection: close`".into(),
        )),
    }
}

fn query(url: &str, key: &str) -> Option<String> {
    url.split_once('?')?
        .1
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Commit, reset and confirming a received stream: run here, or, when this node is not the
/// branch's master, sent on to it with the user's own credentials (unless the request already
/// came from another node).
fn branch_write(
    daemon: &Daemon,
    req: &mut Req,
    user: &Principal,
    (ns, dot, br, verb): (&str, &str, &str, &str),
) -> Result<Reply, DaemonError> {
    let raw = raw_body(req)?;
    let node = &daemon.node;
    let done = match verb {
        "commits" => {
            parse(&raw).and_then(|b| node.commit(user, ns, dot, br, &b).map(|c| json(201, &c)))
        }
        "reset" => {
            parse(&raw).and_then(|b| node.reset(user, ns, dot, br, &b).map(|r| json(200, &r)))
        }
        "keep" => parse(&raw).and_then(|b| {
            node.keep_received(user, (ns, dot, br), &b)
                .map(|r| json(200, &r))
        }),
        _ => parse(&raw).and_then(|b| {
            node.confirm_commits(user, (ns, dot, br), &b)
                .map(|r| json(200, &r))
        }),
    };
    match done {
        Err(DaemonError::MasterElsewhere(server)) if header(req, peer::FORWARDED).is_none() => {
            let auth = header(req, "Authorization").unwrap_or_default();
            let method = req.method().to_string();
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding to the branch's master");
            node.peers.forward(&server, &method, &url, &auth, raw)
        }
        other => other,
    }
}

/// Node-to-node calls, authenticated with the cluster secret.
fn internal(daemon: &Daemon, req: &mut Req, parts: &[&str]) -> Result<Out, DaemonError> {
    let node = &daemon.node;
    let url = req.url().to_string();
    match (req.method(), parts) {
        (&Method::GET, ["v1", "internal", "send"]) => {
            let raw = raw_answer(daemon, req)?;
            let need = |k: &str| {
                query(&url, k).ok_or_else(|| DaemonError::BadRequest(format!("missing {k}")))
            };
            let stream = node.send_stream(
                &need("fs")?,
                query(&url, "from").as_deref(),
                &need("to")?,
                query(&url, "all").as_deref() == Some("1"),
            )?;
            let me = Principal::Node;
            if raw {
                return Ok(Out::Raw(Raw::Send(stream, None, me)));
            }
            Ok(Out::Stream(stream, None, me))
        }
        (&Method::POST, ["v1", "internal", "release"]) => {
            let b = body(req)?;
            Ok(json(200, &node.release(&b)?).into())
        }
        (&Method::POST, ["v1", "internal", "released"]) => {
            let b = body(req)?;
            node.released(&b)?;
            Ok(json(200, &serde_json::json!({})).into())
        }
        (&Method::POST, ["v1", "internal", "held"]) => {
            let b: api::HeldRequest = body(req)?;
            Ok(json(200, &node.held_here(&b)).into())
        }
        _ => Err(DaemonError::NoRoute(url)),
    }
}

/// A commit id from the query, checked.
fn commit_query(url: &str, key: &str) -> Result<Option<String>, DaemonError> {
    let v = query(url, key);
    if let Some(id) = &v {
        names::check_commit_id(key, id).map_err(DaemonError::BadRequest)?;
    }
    Ok(v)
}

/// Checks the names in a `/v1/dots/NS/DOT[/branches/BRANCH…]` path before any handler sees
/// them.
fn check_path(parts: &[&str]) -> Result<(), DaemonError> {
    let bad = |e: names::NameError| DaemonError::BadRequest(e.to_string());
    if let ["v1", "dots", ns, dot, rest @ ..] = parts {
        names::validate(names::Kind::Namespace, ns).map_err(bad)?;
        names::validate(names::Kind::Dot, dot).map_err(bad)?;
        if let ["branches", br, ..] = rest {
            names::validate(names::Kind::Branch, br).map_err(bad)?;
        }
    }
    Ok(())
}

fn route(daemon: &Daemon, req: &mut Req, user: Principal) -> Result<Out, DaemonError> {
    let path = req.url().split('?').next().unwrap_or_default().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    check_path(&parts)?;
    if user == Principal::Node {
        return internal(daemon, req, &parts);
    }
    if user == Principal::Joiner {
        return match (req.method(), parts.as_slice()) {
            (&Method::POST, ["v1", "cluster", "members"]) => {
                let b: api::JoinRequest = body(req)?;
                Ok(json(200, &daemon.add_member(&b)?).into())
            }
            _ => Err(DaemonError::Forbidden(
                "a join token can only add a node to the cluster (`dm cluster join`)".into(),
            )),
        };
    }
    if parts.get(1) == Some(&"internal") {
        return Err(DaemonError::Forbidden(
            "internal calls are for the cluster's nodes only".into(),
        ));
    }
    if let (
        &Method::POST,
        [
            "v1",
            "dots",
            ns,
            dot,
            "branches",
            br,
            verb @ ("commits" | "reset" | "confirm" | "keep"),
        ],
    ) = (req.method(), parts.as_slice())
    {
        let at = (*ns, *dot, *br, *verb);
        return branch_write(daemon, req, &user, at).map(Out::from);
    }
    match (req.method(), parts.as_slice()) {
        (&Method::GET, ["v1", "dots", ns, dot, "branches", br, "send"]) => {
            let raw = raw_answer(daemon, req)?;
            let url = req.url().to_string();
            let to = query(&url, "to")
                .ok_or_else(|| DaemonError::BadRequest("missing to=COMMIT".into()))?;
            names::check_commit_id("to", &to).map_err(DaemonError::BadRequest)?;
            let from = commit_query(&url, "from")?;
            let out = daemon
                .node
                .send_commits(&user, (ns, dot, br), from.as_deref(), &to)?;
            if raw {
                return Ok(Out::Raw(Raw::Send(out.stream()?, out.estimate, user)));
            }
            return Ok(Out::Stream(out.stream()?, out.estimate, user));
        }
        (&Method::POST, ["v1", "transfers"]) => {
            streams_need_close(req)?;
            let t: api::TransferRequest = body(req)?;
            t.check().map_err(DaemonError::BadRequest)?;
            return Ok(Out::Transfer(Box::new(t), user));
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "guids"]) => {
            let b: api::GuidsRequest = body(req)?;
            let guids = daemon.node.commit_guids(&user, (ns, dot, br), &b.commits)?;
            return Ok(json(200, &guids).into());
        }
        (&Method::GET, ["v1", "sends", id]) => {
            return Ok(json(200, &daemon.node.sent_record(&user, id)?).into());
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "receive"]) => {
            let at = (ns.to_string(), dot.to_string(), br.to_string());
            return receive(daemon, req, user, at);
        }
        _ => {}
    }
    if matches!(
        (req.method(), parts.as_slice()),
        (&Method::GET, ["v1", "dots"])
    ) {
        return match daemon.node.list(&user)? {
            (list, None) => Ok(json(200, &list).into()),
            (list, Some(age)) => Ok(Out::Stale(json(200, &list), age)),
        };
    }
    user_route(daemon, req, user, &parts).map(Out::from)
}

/// `POST …/receive`: a check (`check=1`), a raw stream after switching protocols, or a stream
/// in the body. Refusals come before any of the stream is read, and a node that does not hold
/// the branch passes a check or a body on to the node that does.
fn receive(
    daemon: &Daemon,
    req: &mut Req,
    user: Principal,
    (ns, dot, br): (String, String, String),
) -> Result<Out, DaemonError> {
    let node = &daemon.node;
    let from = commit_query(req.url(), "from")?;
    let raw = wants_raw(daemon, req)?;
    let check_only = query(req.url(), "check").as_deref() == Some("1");
    // No stream (an empty body) is what an upgrade dropped on the way by a proxy looks like.
    let mut stream = req.stream();
    let body = match &mut stream {
        Some(s) if !raw && !check_only => Some(crate::storage::Input::Read(s.as_mut())),
        _ => None,
    };
    let reading = body.is_some();
    let at = (ns.as_str(), dot.as_str(), br.as_str());
    match node.receive_commits(&user, at, from.as_deref(), body) {
        // Checked: the stream follows the switch.
        Ok(_) if raw => Ok(Out::Raw(Raw::Receive {
            user,
            at: (ns, dot, br),
            from,
        })),
        Ok(r) if reading || check_only => Ok(json(200, &r).into()),
        Ok(_) => Err(DaemonError::NoStream),
        // Refused before a byte of the body was read: it goes on to the master whole.
        Err(DaemonError::MasterElsewhere(server))
            if !raw && (reading || check_only) && header(req, peer::FORWARDED).is_none() =>
        {
            let auth = header(req, "Authorization").unwrap_or_default();
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding a stream to the branch's master");
            let reply = if check_only {
                node.peers
                    .forward(&server, "POST", &url, &auth, b"{}".to_vec())
            } else {
                let Some(s) = stream.as_mut() else {
                    return Err(DaemonError::NoStream);
                };
                node.peers
                    .forward_stream(&server, &url, &auth, s.as_mut(), node.stream_idle)
            };
            reply.map(Out::from)
        }
        Err(e) => Err(e),
    }
}

fn user_route(
    daemon: &Daemon,
    req: &mut Req,
    user: Principal,
    parts: &[&str],
) -> Result<Reply, DaemonError> {
    let path = parts.join("/");
    let node = &daemon.node;
    let method = req.method().clone();
    let u = &user;
    match (&method, parts) {
        (&Method::GET, ["v1", "cluster", "nodes"]) => Ok(json(200, &daemon.nodes()?)),
        (&Method::POST, ["v1", "cluster", "members"]) => {
            u.require_admin()?;
            let b: api::JoinRequest = body(req)?;
            Ok(json(200, &daemon.add_member(&b)?))
        }
        (&Method::POST, ["v1", "cluster", "tokens"]) => {
            u.require_admin()?;
            let b: api::CreateToken = body(req)?;
            Ok(json(201, &daemon.create_token(&b)?))
        }
        (&Method::GET, ["v1", "cluster", "tokens"]) => {
            u.require_admin()?;
            Ok(json(200, &daemon.tokens()?))
        }
        (&Method::DELETE, ["v1", "cluster", "tokens", id]) => {
            u.require_admin()?;
            daemon.revoke_token(id)?;
            Ok(json(200, &serde_json::json!({ "revoked": id })))
        }
        (&Method::POST, ["v1", "users"]) => {
            u.require_admin()?;
            let b: api::CreateUser = body(req)?;
            Ok(json(201, &daemon.create_user(&b)?))
        }
        (&Method::POST, ["v1", "cluster", "leave"]) => {
            u.require_admin()?;
            let b: api::LeaveRequest = body(req)?;
            Ok(json(200, &daemon.leave(&b)?))
        }
        (&Method::GET, ["v1", "ping"]) => Ok(json(
            200,
            &api::Ping {
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: node.id.clone(),
                user: user.name().to_string(),
            },
        )),
        (&Method::POST, ["v1", "dots"]) => {
            let b: api::CreateDot = body(req)?;
            Ok(json(201, &node.create_dot(u, &b)?))
        }
        (&Method::GET, ["v1", "dots", ns, dot]) => Ok(json(200, &node.show(u, ns, dot)?)),
        (&Method::DELETE, ["v1", "dots", ns, dot]) => {
            node.delete(u, ns, dot)?;
            Ok(json(200, &serde_json::json!({ "deleted": dot })))
        }
        (&Method::GET, ["v1", "dots", ns, dot, "branches"]) => {
            Ok(json(200, &node.branches(u, ns, dot)?))
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches"]) => {
            let b: api::CreateBranch = body(req)?;
            Ok(json(201, &node.create_branch(u, ns, dot, &b)?))
        }
        (&Method::DELETE, ["v1", "dots", ns, dot, "branches", br]) => {
            node.delete_branch(u, ns, dot, br)?;
            Ok(json(200, &serde_json::json!({ "deleted": br })))
        }
        (&Method::GET, ["v1", "dots", ns, dot, "branches", br, "commits"]) => {
            let mut log = node.log(u, ns, dot, br)?;
            // Newest first: `limit=1` is the branch's head, all a push that may be up to date
            // needs to ask of the far side.
            if let Some(n) = query(req.url(), "limit") {
                let n = n.parse().map_err(|_| {
                    DaemonError::BadRequest(format!("limit must be a number, not '{n}'"))
                })?;
                log.truncate(n);
            }
            Ok(json(200, &log))
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "subdots"]) => {
            let b: api::SubdotRequest = body(req)?;
            Ok(json(
                200,
                &node.subdot_path(u, ns, dot, br, &b.subdot, b.create)?,
            ))
        }
        _ => Err(DaemonError::NoRoute(format!("{method} {path}"))),
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "(/v1/dots/[a-zA-Z0-9_.@-]{0,10}/[a-zA-Z0-9_.%-]{0,10}(/branches/[a-z_.@-]{0,8}(/[a-z]{0,8})?)?)(\\?[a-z]{0,4}=[0-9a-fA-F\r\n ]{0,40})?",
            "[ -~\r\n]{0,60}",
        ]
    }

    /// Every JSON body a route takes, parsed from `bytes`: Ok, or refused with a 400.
    fn parse_all(bytes: &[u8]) -> Vec<Result<(), DaemonError>> {
        fn one<T: DeserializeOwned>(b: &[u8]) -> Result<(), DaemonError> {
            parse::<T>(b).map(|_| ())
        }
        let transfer = parse::<api::TransferRequest>(bytes)
            .and_then(|t| t.check().map_err(DaemonError::BadRequest));
        vec![
            one::<api::CreateDot>(bytes),
            one::<api::CreateBranch>(bytes),
            one::<api::CreateCommit>(bytes),
            one::<api::Reset>(bytes),
            one::<api::SubdotRequest>(bytes),
            one::<api::JoinRequest>(bytes),
            one::<api::CreateToken>(bytes),
            one::<api::LeaveRequest>(bytes),
            one::<api::CreateUser>(bytes),
            one::<api::KeepReceived>(bytes),
            one::<api::GuidsRequest>(bytes),
            one::<api::ConfirmReceive>(bytes),
            one::<api::HeldRequest>(bytes),
            transfer,
        ]
    }

    fn json_bodies() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<Vec<u8>>(),
            "[{}\\[\\]\":,a-z0-9 ]{0,80}".prop_map(String::into_bytes),
            (
                "[a-z\r\n/@.]{0,12}",
                "[0-9a-f\r\n]{0,40}",
                "[a-z0-9.:\r\n]{0,20}",
                any::<u16>()
            )
                .prop_map(|(name, id, host, port)| {
                    serde_json::json!({
                        "direction": "pull",
                        "here": ["admin", name, "master"],
                        "there": ["admin", "d", name],
                        "far": {"user": "admin", "host": host, "port": port, "api_key": id},
                        "from": null,
                        "to": id,
                    })
                    .to_string()
                    .into_bytes()
                },),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        /// Paths and queries from anyone: accepted, or refused as bad input (400).
        #[test]
        fn routes_accept_or_refuse_with_400(url in tricky()) {
            let path = url.split('?').next().unwrap_or_default();
            let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
            if let Err(e) = check_path(&parts) {
                prop_assert_eq!(e.status(), 400);
            }
            for key in ["from", "to"] {
                match commit_query(&url, key) {
                    Ok(Some(id)) => prop_assert!(names::is_commit_id(&id)),
                    Ok(None) => {}
                    Err(e) => prop_assert_eq!(e.status(), 400),
                }
            }
        }

        #[test]
        fn credentials_parse_or_are_missing(v in "(Basic )?[A-Za-z0-9+/=:\r\n ]{0,40}|.{0,40}") {
            if let Some((user, _)) = basic_auth(&v) {
                prop_assert!(!user.contains(':'));
            }
        }

        #[test]
        fn json_bodies_parse_or_are_refused_with_400(bytes in json_bodies()) {
            for r in parse_all(&bytes) {
                if let Err(e) = r {
                    prop_assert_eq!(e.status(), 400);
                }
            }
        }
    }
}
