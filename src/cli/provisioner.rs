//! `dm provisioner`: runs the Kubernetes dynamic provisioner (`plugins::provisioner`) against
//! the cluster kubectl would use (`KUBECONFIG`, `~/.kube/config`, or the pod's service account)
//! and a dm daemon, which it asks to delete the dots of reclaimed volumes.

use anyhow::Context as _;

use crate::client::Client;
use crate::plugins::provisioner;

/// Run the Kubernetes dynamic provisioner for StorageClasses of dotmesh/dotmesh-dynamic-provisioner
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Provisioner name the StorageClasses use
    #[arg(long, default_value = provisioner::NAME)]
    name: String,
    #[command(flatten)]
    api: super::daemon_api::DaemonApi,
}

struct DaemonDots(Client);

impl provisioner::Dots for DaemonDots {
    fn delete(&self, ns: &str, name: &str) -> Result<(), String> {
        super::daemon_api::delete_dot(&self.0, ns, name)
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let client = a.api.client()?.context(
        "no API key: set DOTMESH_API_KEY (the manifests take it from the Secret) or pass --api-key-file",
    )?;
    let dots = DaemonDots(client);
    provisioner::run(&a.name, &dots)?;
    Ok(())
}
