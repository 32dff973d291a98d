//! The cluster's certificate authority for etcd: `dm cluster init` makes it, every node holds
//! it (joining nodes receive it through the token-authenticated join call) and signs its own
//! certificate with it. etcd's client and peer ports take only connections that present a
//! certificate from this CA, so reaching the ports gives nothing. Files live in
//! `STATE_DIR/pki/`, keys 0600.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot make etcd's certificates: {0}")]
    Generate(String),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "this node has no copy of its cluster's certificate authority ({0} is missing); take it out with `dm cluster reset --force` and join again"
    )]
    NoCa(PathBuf),
}

type Result<T> = std::result::Result<T, PkiError>;

/// The common name of every node's etcd certificate: etcd's user for it once etcd's own
/// authentication is on (see `EtcdKv::enable_auth`).
pub const ETCD_USER: &str = "dm";

/// Where a node keeps its etcd certificates.
#[derive(Clone, Debug)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(state_dir: &Path) -> Files {
        Files {
            dir: state_dir.join("pki"),
        }
    }
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("etcd.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("etcd-key.pem")
    }

    /// What this node's daemon presents to its etcd.
    pub fn client_tls(&self) -> Result<crate::cluster::etcd::EtcdTls> {
        Ok(crate::cluster::etcd::EtcdTls {
            ca: read(&self.ca())?,
            cert: read(&self.cert())?,
            key: read(&self.key())?,
        })
    }

    /// The CA's certificate and key (PEM), for a node that joins.
    pub fn read_ca(&self) -> Result<(String, String)> {
        Ok((read(&self.ca())?, read(&self.ca_key())?))
    }

    /// Stores a CA received from the cluster (on join).
    pub fn write_ca(&self, cert: &str, key: &str) -> Result<()> {
        write(&self.ca(), cert, 0o644)?;
        write(&self.ca_key(), key, 0o600)
    }

    /// Makes what is missing: a new CA unless `joined` (a joined node must have received it),
    /// then this node's certificate for `hosts` (its addresses), signed by the CA.
    pub fn ensure(&self, hosts: &[String], joined: bool) -> Result<()> {
        if !self.ca().exists() {
            if joined {
                return Err(PkiError::NoCa(self.ca()));
            }
            let key = KeyPair::generate().map_err(gen_err)?;
            let cert = ca_params().self_signed(&key).map_err(gen_err)?;
            self.write_ca(&cert.pem(), &key.serialize_pem())?;
            tracing::info!("made the cluster's certificate authority for etcd");
        }
        if self.cert().exists() && self.key().exists() {
            return Ok(());
        }
        let ca_key = KeyPair::from_pem(&read(&self.ca_key())?).map_err(gen_err)?;
        // Same name and key as the CA on disk: what it signs verifies against that file.
        let ca = ca_params().self_signed(&ca_key).map_err(gen_err)?;
        let mut params = CertificateParams::new(hosts.to_vec()).map_err(gen_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, ETCD_USER);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(gen_err)?;
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(gen_err)?;
        write(&self.key(), &key.serialize_pem(), 0o600)?;
        write(&self.cert(), &cert.pem(), 0o644)
    }
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "dm cluster CA (etcd)");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes beside and renames, with `mode` from the start (a key is never readable by others).
fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("pki files live in a directory");
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_node_signs_with_the_ca_it_received() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let a = Files::new(first.path());
        a.ensure(&["127.0.0.1".into()], false).unwrap();
        let b = Files::new(second.path());
        // Without the CA a joined node cannot make one of its own.
        assert!(matches!(
            b.ensure(&["127.0.0.2".into()], true),
            Err(PkiError::NoCa(_))
        ));
        let (cert, key) = a.read_ca().unwrap();
        b.write_ca(&cert, &key).unwrap();
        b.ensure(&["127.0.0.2".into()], true).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        for k in [a.key(), a.ca_key(), b.key()] {
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", k.display());
        }
        // Both node certificates chain to the one CA (checked by rustls, as etcd's peers do).
        let der = |pem: &str| {
            rustls::pki_types::CertificateDer::from(
                ureq::tls::Certificate::from_pem(pem.as_bytes())
                    .unwrap()
                    .der()
                    .to_vec(),
            )
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(&cert)).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let verify = |f: &Files| {
            let pem = std::fs::read_to_string(f.cert()).unwrap();
            verifier
                .verify_client_cert(&der(&pem), &[], rustls::pki_types::UnixTime::now())
                .is_ok()
        };
        assert!(
            verify(&a) && verify(&b),
            "node certificates chain to the cluster CA"
        );
        // A certificate from another CA does not.
        let other = tempfile::tempdir().unwrap();
        let c = Files::new(other.path());
        c.ensure(&["127.0.0.3".into()], false).unwrap();
        assert!(!verify(&c));
    }
}
