//! The HTTP JSON API on port 32607: authentication, body limits, routing to the node's services ([`super::Node`]).
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
use super::{Daemon, DaemonError};
use crate::api;
use crate::httpd::{self, Body, BodyError};

mod routes;
mod streams;

use routes::route;
use streams::{run_transfer, send_stream, switch};

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
    Transfer(Box<streams::Job>, Principal),
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

/// The API's request handler; `metrics` says whether it also answers `GET /metrics`.
pub fn handler(daemon: Arc<Daemon>, metrics: bool) -> httpd::Handler {
    Arc::new(move |req, _peer| Box::pin(logged(daemon.clone(), req, metrics)))
}

/// Only `GET /metrics`, for a listener of its own (`metrics_addr`).
pub fn metrics_handler(daemon: Arc<Daemon>) -> httpd::Handler {
    Arc::new(move |req, _peer| {
        let daemon = daemon.clone();
        Box::pin(async move {
            if req.method() == Method::GET && req.uri().path() == METRICS_PATH {
                scrape(daemon).await
            } else {
                json_response(error_reply(&DaemonError::NoRoute(format!(
                    "{} {}; this listener serves only GET {METRICS_PATH}",
                    req.method(),
                    req.uri().path()
                ))))
            }
        })
    })
}

/// Where Prometheus scrapes: no key, and no dot names beyond those the node's config allows.
const METRICS_PATH: &str = "/metrics";

async fn scrape(daemon: Arc<Daemon>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || daemon.scrape()).await {
        Ok(text) => httpd::full(200, crate::metrics::CONTENT_TYPE, text.into_bytes()),
        Err(_) => json_response(error_reply(&DaemonError::Internal(
            "the metrics could not be gathered; see the daemon's log".into(),
        ))),
    }
}

/// Answers a request, then counts it and logs one line: route (a pattern, naming no dot),
/// principal, status and duration; never credentials or bodies.
async fn logged(
    daemon: Arc<Daemon>,
    req: hyper::Request<Incoming>,
    metrics: bool,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = if path == METRICS_PATH {
        path.clone()
    } else {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        crate::routes::Route::parse(&parts).map_or_else(
            || "(no route)".to_string(),
            |r| format!("/v1{}", r.pattern()),
        )
    };
    let mut principal = None;
    let response = if metrics && method == Method::GET && path == METRICS_PATH {
        scrape(daemon).await
    } else {
        answer(daemon, req, &mut principal).await
    };
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    crate::metrics::http_request(&route, method.as_str(), status, seconds);
    tracing::info!(
        target: "dm::api",
        method = %method,
        route = %route,
        principal = %principal.as_ref().map_or("-", Principal::name),
        status,
        ms = (seconds * 1000.0).round() as u64,
        "request"
    );
    response
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

async fn answer(
    daemon: Arc<Daemon>,
    mut req: hyper::Request<Incoming>,
    principal: &mut Option<Principal>,
) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, incoming) = req.into_parts();
    let url = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    // The one call without a key: it says only that this is a dm daemon.
    let hello = format!("/v1{}", crate::routes::Route::Hello.path());
    if parts.method == Method::GET && url.split('?').next() == Some(hello.as_str()) {
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
    // Showing a user's key takes their password in place of the key (`dm user key`).
    let path = url.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts.method == Method::GET
        && let Some(crate::routes::Route::UserKey(name)) = crate::routes::Route::parse(&segments)
    {
        let (d, name) = (daemon.clone(), name.to_string());
        let shown = tokio::task::spawn_blocking(move || d.show_key(&name, &user, &key)).await;
        return match shown {
            Ok(Ok(k)) => {
                *principal = Some(Principal::user(&k.name));
                json_response(json(200, &k))
            }
            Ok(Err(e)) => refuse(&e),
            Err(_) => refuse(&DaemonError::Internal("showing the key failed".into())),
        };
    }
    // The registry is blocking code: ask on the blocking pool.
    let d = daemon.clone();
    let checked = tokio::task::spawn_blocking(move || d.authenticate(&user, &key));
    let user = match checked.await {
        Ok(Ok(user)) => user,
        Ok(Err(e)) => return refuse(&e),
        Err(_) => return refuse(&DaemonError::Internal("authentication failed".into())),
    };
    let user = match on_behalf(&user, &parts.headers) {
        Ok(u) => u,
        Err(e) => return refuse(&e),
    };
    *principal = Some(user.clone());
    let body = if streams_body(&parts.method, &url, &parts.headers) {
        let reader = httpd::BodyReader::new(incoming, daemon.node.core.stream_idle);
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

/// A request another node forwarded (the cluster secret, [`crate::daemon::peer::FORWARDED`]) acts for the
/// user that node authenticated ([`crate::daemon::peer::ON_BEHALF`]); the header means nothing from anyone
/// else.
fn on_behalf(user: &Principal, headers: &hyper::HeaderMap) -> Result<Principal, DaemonError> {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    match (
        user,
        get(crate::daemon::peer::FORWARDED),
        get(crate::daemon::peer::ON_BEHALF),
    ) {
        (Principal::Node, Some(_), Some(name)) => {
            if name != crate::names::ADMIN {
                crate::names::validate(crate::names::Kind::Namespace, name)
                    .map_err(|e| DaemonError::BadRequest(e.to_string()))?;
            }
            Ok(Principal::user(name))
        }
        _ => Ok(user.clone()),
    }
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

#[cfg(test)]
mod properties {
    use super::routes::{check_path, commit_query};
    use super::*;
    use crate::names;
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
            one::<api::KeyReset>(bytes),
            one::<api::SetPassword>(bytes),
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

#[cfg(test)]
mod forwarded {
    use super::*;
    use crate::daemon::peer::{FORWARDED, ON_BEHALF};

    fn headers(pairs: &[(&'static str, &str)]) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_node_may_speak_for_a_user() {
        let both = headers(&[(FORWARDED, "1"), (ON_BEHALF, "admin")]);
        // A user who sets the headers stays themself.
        let bob = Principal::user("bob");
        assert_eq!(on_behalf(&bob, &both).unwrap(), bob);
        // A node forwarding for admin or for a user acts as them.
        assert_eq!(
            on_behalf(&Principal::Node, &both).unwrap(),
            Principal::Admin
        );
        let for_bob = headers(&[(FORWARDED, "1"), (ON_BEHALF, "bob")]);
        assert_eq!(on_behalf(&Principal::Node, &for_bob).unwrap(), bob);
        // Without the forwarded mark it is an internal call; reserved names are refused.
        let bare = headers(&[(ON_BEHALF, "bob")]);
        assert_eq!(on_behalf(&Principal::Node, &bare).unwrap(), Principal::Node);
        let reserved = headers(&[(FORWARDED, "1"), (ON_BEHALF, "_node")]);
        assert!(on_behalf(&Principal::Node, &reserved).is_err());
    }
}
