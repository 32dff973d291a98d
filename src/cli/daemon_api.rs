//! How the Kubernetes side (`dm provisioner`, `dm csi`) reaches a dm daemon's API: address, user
//! and key (from a file or the `DOTMESH_API_KEY` variable the manifests set from the Secret).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::api::FarCluster;
use crate::client::Client;
use crate::client::config::Remote;

#[derive(clap::Args, Debug)]
pub struct DaemonApi {
    /// Host of the dm daemon's API
    #[arg(long, env = "DM_API_HOST", default_value = "127.0.0.1")]
    api_host: String,
    /// Port of the dm daemon's API
    #[arg(long, env = "DM_API_PORT", default_value_t = crate::daemon::config::DEFAULT_API_PORT)]
    api_port: u16,
    /// dm user whose key it uses (admin reaches every namespace)
    #[arg(long, env = "DM_API_USER", default_value = crate::names::ADMIN)]
    api_user: String,
    /// File holding the API key [default: the DOTMESH_API_KEY environment variable]
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// The daemon's TLS certificate (PEM), the only one trusted
    #[arg(long, value_name = "PEM")]
    api_tls_cert: Option<PathBuf>,
    /// Send the key in clear to a daemon that is not on this machine
    #[arg(long)]
    insecure: bool,
}

impl DaemonApi {
    /// A client for the daemon, or `None` when no key was given.
    pub fn client(&self) -> anyhow::Result<Option<Client>> {
        let key = match &self.api_key_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the API key from {}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("DOTMESH_API_KEY").ok(),
        };
        let Some(api_key) = key else {
            return Ok(None);
        };
        let tls_cert = match &self.api_tls_cert {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the certificate {}", f.display()))?,
            ),
            None => None,
        };
        Ok(Some(Client::new(&Remote::from_far(&FarCluster {
            user: self.api_user.clone(),
            host: self.api_host.clone(),
            port: self.api_port,
            api_key,
            tls_cert,
            insecure: self.insecure,
        }))))
    }
}

/// Deletes dot `ns/name` through `c`; one already gone is done.
pub fn delete_dot(c: &Client, ns: &str, name: &str) -> Result<(), String> {
    match c.delete_dot(ns, name) {
        Ok(_) | Err(crate::client::ClientError::Api { status: 404, .. }) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
