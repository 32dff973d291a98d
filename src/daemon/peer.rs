//! Calls from this node to other nodes' APIs on port 32607: internal calls (replication streams,
//! handoff) authenticated with the cluster secret, and user requests forwarded to a branch's
//! master node. Forwarded requests, too, carry the cluster secret, with the name of the user
//! this node authenticated ([`ON_BEHALF`]): a user's key is never relayed, and a key only
//! this node knows (a node-local admin key) works for a branch mastered elsewhere.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DaemonError;
use super::principal::Principal;
use crate::api;
use crate::cluster::ServerRecord;

/// The user name nodes authenticate as with each other.
pub const NODE_USER: &str = "_node";

/// Header marking a request already forwarded once, so it is never forwarded again.
pub const FORWARDED: &str = "X-Dm-Forwarded";

/// Header of a forwarded request: the user it is for. Heeded only beside the cluster secret.
pub const ON_BEHALF: &str = "X-Dm-On-Behalf-Of";

#[derive(Clone)]
pub struct Peers {
    agent: ureq::Agent,
    /// Agents for nodes serving TLS, by certificate.
    tls_agents: Arc<Mutex<HashMap<String, ureq::Agent>>>,
    auth: String,
    /// Seals tombstones with the same secret.
    pub sealer: super::seal::Sealer,
}

/// Replication streams run as long as they need; connecting and the first byte of an answer are
/// bounded, so a node that hangs does not hold a handoff forever. A node serving TLS is trusted
/// by exactly the certificate it registered.
fn agent_for(tls_cert: Option<&str>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(3)))
        .timeout_recv_response(Some(Duration::from_secs(60)));
    if let Some(pem) = tls_cert {
        config = config.tls_config(crate::tls::pinned(pem));
    }
    config.build().into()
}

/// Base URL of a node's API.
pub fn base(s: &ServerRecord) -> String {
    let host = s
        .addresses
        .first()
        .map(String::as_str)
        .unwrap_or("127.0.0.1");
    let scheme = if s.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}:{}/v1", s.api_port)
}

fn unreachable(s: &ServerRecord, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Unavailable(format!(
        "node {} at {} does not answer ({e}); check that its dm daemon runs",
        s.id,
        base(s)
    ))
}

/// A stream from another node ([`Peers::stream`]).
pub enum PeerStream {
    /// The connection itself, after switching protocols: splice it.
    Raw(std::net::TcpStream),
    /// An answer's body (over TLS): read it.
    Body(Box<dyn Read + Send>),
}

impl Peers {
    pub fn new(secret: &str) -> Peers {
        Peers {
            agent: agent_for(None),
            tls_agents: Arc::default(),
            auth: format!("Basic {}", B64.encode(format!("{NODE_USER}:{secret}"))),
            sealer: super::seal::Sealer::new(secret),
        }
    }

    /// The agent for node `s` (one per certificate, reused).
    fn agent(&self, s: &ServerRecord) -> ureq::Agent {
        let Some(pem) = &s.tls_cert else {
            return self.agent.clone();
        };
        let mut agents = self.tls_agents.lock().unwrap_or_else(|p| p.into_inner());
        agents
            .entry(pem.clone())
            .or_insert_with(|| agent_for(Some(pem)))
            .clone()
    }

    fn decode<T: DeserializeOwned>(
        s: &ServerRecord,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T, DaemonError> {
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .into_with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| unreachable(s, e))?;
        if status >= 400 {
            return Err(remote_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| {
            DaemonError::Internal(format!("node {} sent an unreadable answer: {e}", s.id))
        })
    }

    /// POSTs an internal call to node `s`.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        s: &ServerRecord,
        path: &str,
        body: &B,
    ) -> Result<T, DaemonError> {
        let resp = self
            .agent(s)
            .post(format!("{}{path}", base(s)))
            .header("Authorization", &self.auth)
            .send_json(body)
            .map_err(|e| unreachable(s, e))?;
        Self::decode(s, resp)
    }

    /// Opens a `zfs send` stream served by node `s` at `path`: raw on the connection when `s`
    /// serves plain HTTP ([`crate::wire`]), else in the answer's body. Either way a read that
    /// waits longer than `idle` fails (a cut link without a reset), so the receive ends.
    pub fn stream(
        &self,
        s: &ServerRecord,
        path: &str,
        idle: Duration,
    ) -> Result<PeerStream, DaemonError> {
        match crate::client::upgrade(&base(s), &self.auth, "GET", path) {
            Ok(Some(up)) => return Ok(PeerStream::Raw(up.stream)),
            Ok(None) => {}
            Err(crate::client::ClientError::Api {
                status, message, ..
            }) => return Err(remote_refusal(status, message)),
            Err(e) => return Err(unreachable(s, e)),
        }
        let resp = self
            .agent(s)
            .get(format!("{}{path}", base(s)))
            .config()
            .timeout_per_read(Some(idle))
            .build()
            .header("Authorization", &self.auth)
            // The stream ends when the server closes the connection.
            .header("Connection", "close")
            .call()
            .map_err(|e| unreachable(s, e))?;
        let status = resp.status().as_u16();
        let body = resp.into_body();
        if status >= 400 {
            let text = body
                .into_with_config()
                .limit(1 << 20)
                .read_to_string()
                .unwrap_or_default();
            return Err(remote_error(status, &text));
        }
        Ok(PeerStream::Body(Box::new(
            body.into_with_config().limit(u64::MAX).reader(),
        )))
    }

    /// Sends a user's request on to node `s` unchanged (same credentials); returns its answer.
    pub fn forward(
        &self,
        s: &ServerRecord,
        method: &str,
        path_and_query: &str,
        user: &Principal,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), DaemonError> {
        let uri = format!("{}{}", base(s).trim_end_matches("/v1"), path_and_query);
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("Authorization", &self.auth)
            .header(ON_BEHALF, user.name())
            .header("Content-Type", "application/json")
            .header(FORWARDED, "1");
        let req = builder
            .body(body)
            .map_err(|e| DaemonError::Internal(e.to_string()))?;
        let resp = self.agent(s).run(req).map_err(|e| unreachable(s, e))?;
        answer(s, resp)
    }

    /// Like [`Peers::forward`], for a stream of commits (`POST …/receive`): the body goes on as
    /// it arrives instead of being read whole first.
    pub fn forward_stream(
        &self,
        s: &ServerRecord,
        path_and_query: &str,
        user: &Principal,
        body: &mut dyn Read,
        idle: Duration,
    ) -> Result<(u16, Vec<u8>), DaemonError> {
        let uri = format!("{}{}", base(s).trim_end_matches("/v1"), path_and_query);
        let resp = self
            .agent(s)
            .post(uri)
            .config()
            .timeout_per_write(Some(idle))
            .timeout_per_read(Some(idle))
            .build()
            .header("Authorization", &self.auth)
            .header(ON_BEHALF, user.name())
            .header(FORWARDED, "1")
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| unreachable(s, e))?;
        answer(s, resp)
    }

    /// Has node `s` run a transfer for the user (`POST /v1/transfers`); returns its answer, one
    /// JSON line per event, to read as it comes.
    pub fn forward_job(
        &self,
        s: &ServerRecord,
        path: &str,
        user: &Principal,
        json: &[u8],
    ) -> Result<impl Read + use<>, DaemonError> {
        let path = path.strip_prefix("/v1").unwrap_or(path);
        let resp = self
            .agent(s)
            .post(format!("{}{path}", base(s)))
            .header("Authorization", &self.auth)
            .header(ON_BEHALF, user.name())
            .header("Connection", "close")
            .header(FORWARDED, "1")
            .header("Content-Type", "application/json")
            .send(json)
            .map_err(|e| unreachable(s, e))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        if status >= 400 {
            let mut text = String::new();
            let _ = body.take(1 << 20).read_to_string(&mut text);
            return Err(remote_error(status, &text));
        }
        Ok(body)
    }
}

/// A forwarded request's status and body, as the other node gave them.
fn answer(
    s: &ServerRecord,
    resp: ureq::http::Response<ureq::Body>,
) -> Result<(u16, Vec<u8>), DaemonError> {
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    resp.into_body()
        .into_with_config()
        .limit(64 << 20)
        .reader()
        .read_to_end(&mut out)
        .map_err(|e| unreachable(s, e))?;
    Ok((status, out))
}

/// Turns another node's error answer back into the error it was.
fn remote_error(status: u16, text: &str) -> DaemonError {
    let msg = serde_json::from_str::<api::ErrorBody>(text)
        .map(|b| b.error)
        .unwrap_or_else(|_| format!("HTTP {status}: {text}"));
    remote_refusal(status, msg)
}

/// Another node's refusal, with its status, as this node's error.
fn remote_refusal(status: u16, msg: String) -> DaemonError {
    match status {
        400 => DaemonError::BadRequest(msg),
        401 => DaemonError::Internal(format!(
            "another node refused this node's cluster secret ({msg}); rejoin it with `dm cluster reset` and `dm cluster join`"
        )),
        403 => DaemonError::Forbidden(msg),
        404 => DaemonError::NotFound(msg),
        409 => DaemonError::Conflict(msg),
        503 => DaemonError::Unavailable(msg),
        507 => DaemonError::PoolFull(msg),
        _ => DaemonError::Internal(msg),
    }
}
