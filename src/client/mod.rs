//! HTTP client for the daemon's API: the only way the CLI reaches dots, local or remote.

pub mod config;
mod verbs;

pub use verbs::{receive_path, send_path};

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api;
pub use config::{ClientConfig, Remote};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no remote is configured; run `dm cluster init` on this machine or `dm remote add`")]
    NoRemote,
    #[error("cannot read or write {path}: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error(
        "cannot reach the dm daemon at {addr} ({detail}); is it running? (`dm cluster init` starts it)"
    )]
    Unreachable { addr: String, detail: String },
    /// The request may have reached the daemon, but no answer came back: it may or may not
    /// have happened, so it is never retried on its own.
    #[error(
        "the connection to the dm daemon at {addr} was lost before it answered ({detail}); the operation may or may not have happened: check with `dm log` or `dm list` before trying again"
    )]
    Lost { addr: String, detail: String },
    /// The daemon answered with an error; its message already says what to do.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    #[error(
        "refusing to send the API key or token in clear to {0}; use TLS (a remote or node that serves it, with --fingerprint), or pass --insecure if the network is trusted"
    )]
    Insecure(String),
    #[error(
        "{addr} presented a TLS certificate other than the one trusted for this remote ({detail}); if it was replaced on purpose, `dm remote rm` the remote and add it again, checking the new fingerprint"
    )]
    CertificateChanged { addr: String, detail: String },
}

impl ClientError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// Whether a request failed before any of it could reach the daemon (no connection was made),
/// so that trying again cannot do anything twice.
fn never_sent(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            K::ConnectionRefused
                | K::AddrNotAvailable
                | K::NotFound
                | K::HostUnreachable
                | K::NetworkUnreachable
        ),
        _ => false,
    }
}

/// Whether a connection was cut before any answer came.
fn dropped(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e, ureq::Error::Io(io) if matches!(
        io.kind(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe
    ))
}

/// The daemon's error answer as a [`ClientError::Api`] (its message already says what to do).
fn error_body(status: u16, text: &str) -> ClientError {
    match serde_json::from_str::<api::ErrorBody>(text) {
        Ok(b) => ClientError::Api {
            status,
            code: b.code,
            message: b.error,
        },
        Err(_) => ClientError::Api {
            status,
            code: "http".into(),
            message: format!("HTTP {status}: {text}"),
        },
    }
}

impl From<api::Failure> for ClientError {
    fn from(f: api::Failure) -> ClientError {
        ClientError::Api {
            status: f.status,
            code: f.code,
            message: f.error,
        }
    }
}

/// An API connection switched to a raw commit stream ([`crate::wire`]).
pub struct Upgraded {
    pub stream: std::net::TcpStream,
    /// The answer's headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Upgraded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A stream of commits being read from a daemon.
pub struct Incoming {
    pub body: Box<dyn std::io::Read + Send>,
    /// The sender's guess at the stream's size.
    pub estimate: Option<u64>,
    /// Where the sender keeps the stream's checksum once sent ([`Client::sent`]).
    pub send_id: Option<String>,
}

pub struct Client {
    /// Set when the key must not travel to this remote in clear: every call then fails.
    refuse: Option<String>,
    /// Age of the last answer when the daemon served it from cache (etcd unreachable).
    stale: std::cell::Cell<Option<u64>>,
    /// Small buffers: most calls carry a few KiB, and every buffer is allocated and zeroed
    /// per call, which a 1 MiB one makes a visible part of a command's time.
    agent: ureq::Agent,
    /// 1 MiB buffers, for the bulk data of stream uploads and downloads.
    bulk: std::cell::OnceCell<ureq::Agent>,
    /// Makes `bulk` on first use, so calls without bulk data do not pay for it.
    make_bulk: Box<dyn Fn() -> ureq::Agent + Send>,
    base: String,
    auth: String,
}

impl Client {
    pub fn new(remote: &Remote) -> Client {
        let tls_cert = remote.tls_cert.clone();
        let agent = move |buffer: usize| -> ureq::Agent {
            let mut config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(Duration::from_secs(3)))
                .timeout_recv_response(Some(Duration::from_secs(300)))
                .output_buffer_size(buffer)
                .input_buffer_size(buffer);
            if let Some(pem) = &tls_cert {
                // Trust-on-first-use: the certificate stored with the remote is the only root.
                config = config.tls_config(crate::tls::pinned(pem));
            }
            config.build().into()
        };
        let creds = B64.encode(format!("{}:{}", remote.user, remote.api_key));
        Client {
            refuse: (!remote.may_send_key()).then(|| remote.host.clone()),
            stale: std::cell::Cell::new(None),
            agent: agent(64 << 10),
            bulk: std::cell::OnceCell::new(),
            make_bulk: Box::new(move || agent(1 << 20)),
            base: format!("{}/v1", remote.base_url()),
            auth: format!("Basic {creds}"),
        }
    }

    fn bulk(&self) -> &ureq::Agent {
        self.bulk.get_or_init(&self.make_bulk)
    }

    fn unreachable(&self, e: ureq::Error) -> ClientError {
        let addr = self.base.trim_end_matches("/v1").to_string();
        let detail = e.to_string();
        if self.base.starts_with("https") && detail.to_lowercase().contains("certificate") {
            return ClientError::CertificateChanged { addr, detail };
        }
        if never_sent(&e) {
            ClientError::Unreachable { addr, detail }
        } else {
            ClientError::Lost { addr, detail }
        }
    }

    fn api_error(&self, resp: ureq::http::Response<ureq::Body>) -> ClientError {
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .into_with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        error_body(status, &text)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut resp = result.map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        self.stale.set(
            resp.headers()
                .get(api::STALE_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        );
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if status >= 400 {
            return Err(error_body(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Protocol(format!("{e}: {text}")))
    }

    /// Asks whether the address is a dm daemon (`GET /v1/hello`), without the key: a daemon
    /// sends nothing else to an address it is told to transfer with until it has answered so.
    pub fn hello(&self) -> Result<(), ClientError> {
        let addr = self.base.trim_end_matches("/v1").to_string();
        let not_dm = |detail: String| {
            ClientError::Protocol(format!(
                "{addr} is not a dm daemon ({detail}); check the remote's address and port (`dm remote -v`)"
            ))
        };
        let mut resp = self
            .agent
            .get(format!(
                "{}{}",
                self.base,
                crate::routes::Route::Hello.path()
            ))
            .call()
            .map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() != 200 {
            return Err(not_dm(format!(
                "it answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .map_err(|e| not_dm(e.to_string()))?;
        match serde_json::from_str::<api::Hello>(&text) {
            Ok(h) if h.service == api::HELLO_SERVICE => Ok(()),
            _ => Err(not_dm("its answer is not dm's".into())),
        }
    }

    fn guard(&self) -> Result<(), ClientError> {
        match &self.refuse {
            Some(host) => Err(ClientError::Insecure(host.clone())),
            None => Ok(()),
        }
    }

    /// A read: asked once more when the connection dropped before the answer (a daemon that
    /// was restarting, a pooled connection it had closed), since asking twice changes nothing.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.guard()?;
        let call = || {
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Authorization", &self.auth)
                .call()
        };
        let r = match call() {
            Err(e) if dropped(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                call()
            }
            other => other,
        };
        self.finish(r)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.guard()?;
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .send_json(body);
        self.finish(r)
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.guard()?;
        let r = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .call();
        self.finish(r)
    }

    /// Seconds old the last answer was, if the daemon could only serve it from cache.
    pub fn stale_secs(&self) -> Option<u64> {
        self.stale.get()
    }
}

/// The head of an upgrade request. It is built from `http`'s types, which refuse CR, LF and
/// every other byte that could end a line or a request early, so no part of it can smuggle a
/// second request.
fn upgrade_head(
    method: &str,
    target: &str,
    host: &str,
    auth: &str,
) -> Result<Vec<u8>, ClientError> {
    use ureq::http::header;
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, crate::wire::PROTOCOL)
        .header(header::CONTENT_LENGTH, "0")
        .body(())
        .map_err(|e| ClientError::Protocol(format!("refusing to send a malformed request: {e}")))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method(), req.uri()).into_bytes();
    for (name, value) in req.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// Asks the daemon at `base` (`http://HOST:PORT/v1`) for `METHOD /v1PATH` as a raw commit
/// stream, with `auth` as the Authorization header; `None` for an `https` base, or when the
/// upgrade did not get through (see [`crate::wire`]).
pub fn upgrade(
    base: &str,
    auth: &str,
    method: &str,
    path: &str,
) -> Result<Option<Upgraded>, ClientError> {
    use std::io::{Read, Write};
    let Some(addr) = base
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix("/v1"))
    else {
        return Ok(None);
    };
    let unreachable = |detail: String| ClientError::Unreachable {
        addr: addr.to_string(),
        detail,
    };
    let target = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3))
        .map_err(|e| unreachable(e.to_string()))?;
    // As long as any other answer may take (`timeout_recv_response`); the caller may set
    // its own for the stream.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let head = upgrade_head(method, &format!("/v1{path}"), addr, auth)?;
    let cut = |e: std::io::Error| ClientError::Lost {
        addr: addr.to_string(),
        detail: e.to_string(),
    };
    stream.write_all(&head).map_err(cut)?;
    let answer = crate::wire::read_head(&mut stream).map_err(cut)?;
    let (status, headers) = crate::wire::parse_response(&answer)
        .ok_or_else(|| ClientError::Protocol("malformed HTTP answer".into()))?;
    match status {
        101 => return Ok(Some(Upgraded { stream, headers })),
        // Answered as a plain request: something in between (a proxy) dropped the upgrade.
        // The caller sends the stream through a body instead.
        200..=299 => return Ok(None),
        _ => {}
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    // An error's text only: a long answer here is not one.
    let mut text = String::new();
    let _ = stream
        .take(length.unwrap_or(u64::MAX).min(64 << 10))
        .read_to_string(&mut text);
    Err(error_body(status, &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_heads_refuse_anything_that_ends_a_line() {
        let head = upgrade_head(
            "GET",
            "/v1/dots/a/b/branches/c/send?to=ab",
            "h:1",
            "Basic x",
        )
        .unwrap();
        let text = String::from_utf8(head).unwrap();
        assert!(text.starts_with("GET /v1/dots/a/b/branches/c/send?to=ab HTTP/1.1\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(text.matches("\r\n").count(), 7, "{text}");
        let smuggled = "/v1/x?to=1\r\n\r\nPUT /v3/kv/put HTTP/1.1\r\n";
        assert!(upgrade_head("GET", smuggled, "h:1", "Basic x").is_err());
        assert!(upgrade_head("GET", "/v1/x", "h:1\r\nX: y", "Basic x").is_err());
        assert!(upgrade_head("GET", "/v1/x", "h:1", "Basic x\ny").is_err());
        assert!(upgrade_head("GET /x HTTP/1.1\r\n", "/v1/x", "h", "a").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn part() -> impl Strategy<Value = String> {
            prop_oneof![any::<String>(), "[ -~\r\n]{0,40}", "/v1/[a-z/?=&]{0,30}"]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(100_000))]

            /// Whatever the parts, a head built is one request: its only line breaks end its
            /// seven lines.
            #[test]
            fn a_head_is_one_request_or_refused(m in "[A-Z]{1,7}|.{0,8}", path in part(), host in part(), auth in part()) {
                if let Ok(head) = upgrade_head(&m, &path, &host, &auth) {
                    let text = String::from_utf8_lossy(&head);
                    prop_assert_eq!(text.matches("\r\n").count(), 7);
                    prop_assert_eq!(text.matches('\n').count(), 7);
                    prop_assert_eq!(text.matches('\r').count(), 7);
                    prop_assert!(text.ends_with("\r\n\r\n"));
                }
            }
        }
    }
}
