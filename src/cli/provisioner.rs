//! `dm provisioner`: runs the Kubernetes dynamic provisioner (`plugins::provisioner`) against
//! the cluster kubectl would use (`KUBECONFIG`, `~/.kube/config`, or the pod's service account)
//! and a dm daemon, which it asks to delete the dots of reclaimed volumes.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::api::FarCluster;
use crate::client::Client;
use crate::client::config::Remote;
use crate::plugins::provisioner;

/// Run the Kubernetes dynamic provisioner for StorageClasses of dotmesh/dotmesh-dynamic-provisioner
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Provisioner name the StorageClasses use
    #[arg(long, default_value = provisioner::NAME)]
    name: String,
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
    tls_cert: Option<PathBuf>,
    /// Send the key in clear to a daemon that is not on this machine
    #[arg(long)]
    insecure: bool,
}

struct DaemonDots(Client);

impl provisioner::Dots for DaemonDots {
    fn delete(&self, ns: &str, name: &str) -> Result<(), String> {
        match self.0.delete_dot(ns, name) {
            Ok(_) => Ok(()),
            Err(crate::client::ClientError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let api_key = match &a.api_key_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the API key from {}", f.display()))?
            .trim()
            .to_string(),
        None => std::env::var("DOTMESH_API_KEY").context(
            "no API key: set DOTMESH_API_KEY (the manifests take it from the Secret) or pass --api-key-file",
        )?,
    };
    let tls_cert = match &a.tls_cert {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the certificate {}", f.display()))?,
        ),
        None => None,
    };
    let remote = Remote::from_far(&FarCluster {
        user: a.api_user,
        host: a.api_host,
        port: a.api_port,
        api_key,
        tls_cert,
        insecure: a.insecure,
    });
    let dots = DaemonDots(Client::new(&remote));
    provisioner::run(&a.name, &dots)?;
    Ok(())
}
