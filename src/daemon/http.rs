//! The HTTP JSON API on port 32607: authentication, body limits, routing to [`Node`].
//!
//! A fixed pool of worker threads pulls requests from tiny_http. Every request is
//! authenticated (basic auth, user + API key). Bodies over [`api::MAX_BODY`] get 413, malformed
//! JSON gets 400, and a panic in a handler becomes a 500 for that request only.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tiny_http::{Header, Method, Request, Response, Server};

use super::{Daemon, DaemonError};
use crate::api;

const WORKERS: usize = 8;

type Reply = (u16, Vec<u8>);

fn json<T: Serialize>(status: u16, v: &T) -> Reply {
    (status, serde_json::to_vec(v).expect("responses serialise"))
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

/// Serves until the process exits.
pub fn serve(server: Arc<Server>, daemon: Arc<Daemon>) {
    let mut handles = Vec::new();
    for i in 0..WORKERS {
        let (server, daemon) = (server.clone(), daemon.clone());
        let h = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                while let Ok(req) = server.recv() {
                    handle(&daemon, req);
                }
            })
            .expect("can spawn HTTP workers");
        handles.push(h);
    }
    for h in handles {
        let _ = h.join();
    }
}

fn handle(daemon: &Daemon, mut req: Request) {
    let method = req.method().clone();
    let url = req.url().to_string();
    let outcome = catch_unwind(AssertUnwindSafe(|| route(daemon, &mut req)));
    let (status, body) = match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => error_reply(&e),
        Err(_) => error_reply(&DaemonError::Internal(
            "the daemon hit a bug handling this request; see its log".into(),
        )),
    };
    tracing::debug!(%method, %url, status, "request");
    let mut resp = Response::from_data(body).with_status_code(status);
    resp.add_header(Header::from_bytes("Content-Type", "application/json").expect("valid header"));
    if status == 401 {
        resp.add_header(
            Header::from_bytes("WWW-Authenticate", "Basic realm=\"dm\"").expect("valid header"),
        );
    }
    let _ = req.respond(resp);
}

fn credentials(req: &Request) -> Option<(String, String)> {
    let h = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))?;
    let encoded = h.value.as_str().strip_prefix("Basic ")?;
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, key) = decoded.split_once(':')?;
    Some((user.to_string(), key.to_string()))
}

fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, DaemonError> {
    if req.body_length().is_some_and(|n| n > api::MAX_BODY) {
        return Err(DaemonError::TooLarge);
    }
    let mut buf = Vec::new();
    req.as_reader()
        .take(api::MAX_BODY as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| DaemonError::BadRequest(format!("cannot read the request body: {e}")))?;
    if buf.len() > api::MAX_BODY {
        return Err(DaemonError::TooLarge);
    }
    serde_json::from_slice(&buf)
        .map_err(|e| DaemonError::BadRequest(format!("malformed JSON request: {e}")))
}

fn route(daemon: &Daemon, req: &mut Request) -> Result<Reply, DaemonError> {
    let (user, key) = credentials(req).ok_or(DaemonError::Unauthorized)?;
    daemon.authenticate(&user, &key)?;
    let path = req.url().split('?').next().unwrap_or_default().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let node = &daemon.node;
    let method = req.method().clone();
    let u = user.as_str();
    match (&method, parts.as_slice()) {
        (Method::Get, ["v1", "ping"]) => Ok(json(
            200,
            &api::Ping {
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: node.id.clone(),
                user,
            },
        )),
        (Method::Get, ["v1", "dots"]) => Ok(json(200, &node.list(u)?)),
        (Method::Post, ["v1", "dots"]) => {
            let b: api::CreateDot = body(req)?;
            Ok(json(201, &node.create_dot(u, &b)?))
        }
        (Method::Get, ["v1", "dots", ns, dot]) => Ok(json(200, &node.show(u, ns, dot)?)),
        (Method::Delete, ["v1", "dots", ns, dot]) => {
            node.delete(u, ns, dot)?;
            Ok(json(200, &serde_json::json!({ "deleted": dot })))
        }
        (Method::Get, ["v1", "dots", ns, dot, "branches"]) => {
            Ok(json(200, &node.branches(u, ns, dot)?))
        }
        (Method::Post, ["v1", "dots", ns, dot, "branches"]) => {
            let b: api::CreateBranch = body(req)?;
            Ok(json(201, &node.create_branch(u, ns, dot, &b)?))
        }
        (Method::Delete, ["v1", "dots", ns, dot, "branches", br]) => {
            node.delete_branch(u, ns, dot, br)?;
            Ok(json(200, &serde_json::json!({ "deleted": br })))
        }
        (Method::Get, ["v1", "dots", ns, dot, "branches", br, "commits"]) => {
            Ok(json(200, &node.log(u, ns, dot, br)?))
        }
        (Method::Post, ["v1", "dots", ns, dot, "branches", br, "commits"]) => {
            let b: api::CreateCommit = body(req)?;
            Ok(json(201, &node.commit(u, ns, dot, br, &b)?))
        }
        (Method::Post, ["v1", "dots", ns, dot, "branches", br, "reset"]) => {
            let b: api::Reset = body(req)?;
            Ok(json(200, &node.reset(u, ns, dot, br, &b)?))
        }
        (Method::Post, ["v1", "dots", ns, dot, "branches", br, "subdots"]) => {
            let b: api::SubdotRequest = body(req)?;
            Ok(json(
                200,
                &node.subdot_path(u, ns, dot, br, &b.subdot, b.create)?,
            ))
        }
        _ => Err(DaemonError::NoRoute(format!("{method} {path}"))),
    }
}
