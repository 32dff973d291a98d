//! TLS for the API: self-signed certificates for `dm cluster init --tls`, certificate
//! fingerprints, and the first-contact probe behind trust-on-first-use (like ssh): the client
//! fetches a server's certificate once, the user confirms its fingerprint, and from then on the
//! client trusts that certificate alone.

use std::io::Write as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("not a PEM certificate: {0}")]
    BadCertificate(String),
    #[error("cannot reach {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
}

/// A self-signed certificate (PEM) and its private key (PKCS#8 PEM) for `hosts` (names or IPs).
pub fn self_signed(hosts: &[String]) -> Result<(String, String), TlsError> {
    let ck = rcgen::generate_simple_self_signed(hosts.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((ck.cert.pem(), ck.key_pair.serialize_pem()))
}

/// A ureq TLS configuration that trusts exactly the certificate(s) in `pem`: a pinned,
/// possibly self-signed, certificate instead of the public roots.
pub fn pinned(pem: &str) -> ureq::tls::TlsConfig {
    let certs: Vec<ureq::tls::Certificate<'static>> =
        ureq::tls::Certificate::from_pem(pem.as_bytes())
            .into_iter()
            .collect();
    ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
        .build()
}

/// The DER bytes of the first certificate in `pem`.
fn der_of(pem: &str) -> Result<Vec<u8>, TlsError> {
    let cert = ureq::tls::Certificate::from_pem(pem.as_bytes())
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    Ok(cert.der().to_vec())
}

/// `SHA256:<hex>` of a certificate's DER form, as users compare it.
pub fn fingerprint(pem: &str) -> Result<String, TlsError> {
    Ok(fingerprint_der(&der_of(pem)?))
}

fn fingerprint_der(der: &[u8]) -> String {
    format!("SHA256:{}", crate::ids::hex(&Sha256::digest(der)))
}

/// Normalises a fingerprint the user typed (with or without `SHA256:`, any case, `:` separators).
pub fn normalise_fingerprint(s: &str) -> String {
    let hex: String = s
        .trim()
        .trim_start_matches("SHA256:")
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_lowercase();
    format!("SHA256:{hex}")
}

/// Accepts any certificate and keeps it: only for reading a server's certificate once, which the
/// user then confirms by fingerprint.
#[derive(Debug)]
struct Capture {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether `host:port` speaks TLS, and if so its certificate (PEM). First a plain request
/// without credentials: an HTTP server answers it at once (a TLS one drops it); only then the TLS
/// hello, which a plain server would leave unanswered until a timeout.
pub fn probe(host: &str, port: u16) -> Result<Option<String>, TlsError> {
    let addr = format!("{host}:{port}");
    let unreachable = |detail: String| TlsError::Unreachable {
        addr: addr.clone(),
        detail,
    };
    let sock_addr = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let connect = || {
        TcpStream::connect_timeout(&sock_addr, Duration::from_secs(3))
            .map_err(|e| unreachable(e.to_string()))
    };
    let mut plain = connect()?;
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = plain.write_all(b"GET /v1/ping HTTP/1.0\r\n\r\n");
    let mut head = [0u8; 5];
    if std::io::Read::read_exact(&mut plain, &mut head).is_ok() && &head == b"HTTP/" {
        return Ok(None);
    }
    drop(plain);
    let mut sock = connect()?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| unreachable(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let capture = Arc::new(Capture {
        seen: Mutex::new(None),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreachable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| unreachable(format!("bad host name: {e}")))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| unreachable(e.to_string()))?;
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            break;
        }
    }
    let _ = sock.flush();
    let seen = capture
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    Ok(seen.map(|der| {
        let pem = pem_encode(&der);
        tracing::debug!(fingerprint = %fingerprint_der(&der), "server certificate");
        pem
    }))
}

fn pem_encode(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_typed_forms_normalise() {
        let (cert, key) = self_signed(&["127.0.0.1".into(), "localhost".into()]).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let fp = fingerprint(&cert).unwrap();
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 64);
        assert_eq!(
            fingerprint(&pem_encode(&der_of(&cert).unwrap())).unwrap(),
            fp
        );
        let upper = fp.trim_start_matches("SHA256:").to_uppercase();
        assert_eq!(normalise_fingerprint(&upper), fp);
        assert!(fingerprint("not a cert").is_err());
    }
}
