//! The HTTP transport under the API and the Docker plugin: hyper on tokio. A connection costs a
//! task, not a thread, so clients that connect and stall hold nothing anyone else needs; every
//! wait on a client is bounded: the request head ([`HEAD_TIMEOUT`]), a JSON body
//! ([`BODY_TIMEOUT`]), and each read or write of a stream (the daemon's stream idle limit).
//! Handlers are blocking code (ZFS, etcd) and run on tokio's blocking pool; they read streamed
//! bodies through [`BodyReader`] and write streamed answers through [`Sink`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Longest a client may take to send a request's head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a client may take to send a (small, JSON) request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer's body: whole, or fed chunk by chunk from a blocking handler.
pub enum Body {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(b) => {
                hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::Channel(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// A whole answer.
pub fn full(status: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::Full(Some(Bytes::from(body))));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(content_type).expect("valid content type"),
    );
    r
}

/// The writing end of a streamed answer, for a blocking handler: each write waits until the
/// connection takes it, at most `idle` (a client that stops reading is given up on).
pub struct Sink {
    tx: mpsc::Sender<Bytes>,
    rt: Handle,
    idle: Duration,
}

/// A streamed answer's body and the [`Sink`] that feeds it.
pub fn channel(idle: Duration) -> (Sink, Body) {
    let (tx, rx) = mpsc::channel(4);
    let sink = Sink {
        tx,
        rt: Handle::current(),
        idle,
    };
    (sink, Body::Channel(rx))
}

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let chunk = Bytes::copy_from_slice(buf);
        match self
            .rt
            .block_on(tokio::time::timeout(self.idle, self.tx.send(chunk)))
        {
            Ok(Ok(())) => Ok(buf.len()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} s", self.idle.as_secs()),
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A request's body as a blocking reader, for handlers that stream it (into `zfs receive`); a
/// sender that goes quiet for `idle` ends it with an error.
pub struct BodyReader {
    body: Incoming,
    rt: Handle,
    idle: Duration,
    buf: Bytes,
}

impl BodyReader {
    pub fn new(body: Incoming, idle: Duration) -> BodyReader {
        BodyReader {
            body,
            rt: Handle::current(),
            idle,
            buf: Bytes::new(),
        }
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            let next = self
                .rt
                .block_on(tokio::time::timeout(self.idle, self.body.frame()));
            match next {
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the sender sent nothing for {} s", self.idle.as_secs()),
                    ));
                }
                Ok(None) => return Ok(0),
                Ok(Some(Err(e))) => return Err(io::Error::other(e)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf = data;
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// Why a JSON body could not be had.
pub enum BodyError {
    TooLarge,
    Unreadable(String),
}

/// A whole request body of at most `limit` bytes, within [`BODY_TIMEOUT`].
pub async fn collect(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Err(_) => Err(BodyError::Unreadable(format!(
            "the body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(e)) => Err(BodyError::Unreadable(e.to_string())),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

/// What answers one request: given the request and the peer's address.
pub type Handler = Arc<
    dyn Fn(
            Request<Incoming>,
            Option<SocketAddr>,
        ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
        + Send
        + Sync,
>;

fn builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        // Header names as clients of the old server read them (`X-Dm-Send-Id`).
        .title_case_headers(true);
    b
}

fn service(
    handler: Handler,
    peer: Option<SocketAddr>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response<Body>, std::convert::Infallible>> + Send,
> + use<> {
    hyper::service::service_fn(move |req| {
        let answer = handler(req, peer);
        async move { Ok(answer.await) }
    })
}

/// Serves `listener` (plain TCP, or TLS with `tls`) until the process exits.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let svc = service(handler.clone(), Some(peer));
        match &acceptor {
            None => {
                tokio::spawn(async move {
                    let conn = builder().serve_connection(TokioIo::new(tcp), svc);
                    if let Err(e) = conn.with_upgrades().await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
                    let conn = builder().serve_connection(TokioIo::new(tls), svc);
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
        }
    }
}

/// Serves a unix socket until the process exits.
pub async fn serve_unix(listener: tokio::net::UnixListener, handler: Handler) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let svc = service(handler.clone(), None);
        tokio::spawn(async move {
            if let Err(e) = builder().serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

/// A TLS server configuration from a PEM certificate (chain) and its PKCS#8 PEM key.
pub fn tls_config(cert: &[u8], key: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("bad private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}
