//! `dm csi`: runs the CSI driver `csi.dotmesh.io` (`plugins::csi`) on this node. Mounts go
//! through the node daemon's root-only driver socket (as the FlexVolume driver's do); the
//! controller calls (volumes as dots, snapshots as commits) go to the daemon's API with a key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::api::CreateCommit;
use crate::client::{Client, ClientError};
use crate::plugins::csi::{self, Backend, Volume};
use crate::plugins::flexvolume::{self, Request, Status};

/// Run the Kubernetes CSI driver csi.dotmesh.io on this node
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Socket the driver serves CSI on
    #[arg(
        long,
        default_value = "/var/lib/kubelet/plugins/csi.dotmesh.io/csi.sock"
    )]
    endpoint: PathBuf,
    /// Kubelet's root directory: the driver registers in its plugins_registry
    #[arg(long, default_value = "/var/lib/kubelet")]
    kubelet_dir: PathBuf,
    /// Do not register with kubelet (serve the socket only)
    #[arg(long)]
    no_register: bool,
    /// The FlexVolume plugin directory the daemon serves its driver socket in (`dm cluster init
    /// --flexvolume-dir`)
    #[arg(long, default_value = flexvolume::DEFAULT_PLUGIN_DIR)]
    plugin_dir: PathBuf,
    /// The daemon's API, for the controller calls (without a key they are refused; the node
    /// calls still work)
    #[command(flatten)]
    api: super::daemon_api::DaemonApi,
}

struct Dm {
    socket: PathBuf,
    /// The client keeps per-call state; the driver's calls come from several threads.
    api: Option<std::sync::Mutex<Client>>,
}

impl Dm {
    fn ask(&self, req: &Request) -> Result<String, String> {
        let r = flexvolume::call(&self.socket, req);
        match r.status {
            Status::Success => Ok(r.message),
            _ => Err(r.message),
        }
    }

    fn api(&self) -> Result<std::sync::MutexGuard<'_, Client>, String> {
        let api = self.api.as_ref().ok_or_else(|| {
            "dm csi has no API key for controller calls: set DOTMESH_API_KEY or pass --api-key-file"
                .to_string()
        })?;
        Ok(api.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn api_err(e: ClientError) -> String {
    e.to_string()
}

impl Backend for Dm {
    fn node_id(&self) -> Result<String, String> {
        self.ask(&Request::Node)
    }

    fn publish(&self, v: &Volume, target: &Path) -> Result<(), String> {
        // Kubelet makes the parent; the driver makes the target itself (CSI).
        match std::fs::create_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(format!("cannot make {}: {e}", target.display()));
            }
            _ => {}
        }
        self.ask(&Request::Mount {
            target: target.to_path_buf(),
            namespace: v.namespace.clone(),
            name: v.name.clone(),
            subdot: v.subdot.clone(),
            branch: Some(v.branch.clone()),
        })
        .map(|_| ())
    }

    fn unpublish(&self, target: &Path) -> Result<(), String> {
        self.ask(&Request::Unmount {
            target: target.to_path_buf(),
        })?;
        match std::fs::remove_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", target.display()))
            }
            _ => Ok(()),
        }
    }

    fn create(&self, ns: &str, name: &str) -> Result<(), String> {
        match self.api()?.create_dot(ns, name) {
            Ok(_) | Err(ClientError::Api { status: 409, .. }) => Ok(()),
            Err(e) => Err(api_err(e)),
        }
    }

    fn delete(&self, ns: &str, name: &str) -> Result<(), String> {
        super::daemon_api::delete_dot(&*self.api()?, ns, name)
    }

    fn branch(&self, ns: &str, name: &str, branch: &str, commit: &str) -> Result<(), String> {
        let req = crate::api::CreateBranch {
            name: branch.to_string(),
            from_branch: crate::names::MASTER.to_string(),
            from_commit: Some(commit.to_string()),
        };
        match self.api()?.create_branch(ns, name, &req) {
            Ok(_) => Ok(()),
            Err(ClientError::Api {
                status: 409,
                message,
                ..
            }) => Err(format!("branch {branch} already exists: {message}")),
            Err(e) => Err(api_err(e)),
        }
    }

    fn delete_branch(&self, ns: &str, name: &str, branch: &str) -> Result<(), String> {
        match self.api()?.delete_branch(ns, name, branch) {
            Ok(_) | Err(ClientError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(api_err(e)),
        }
    }

    fn commit(&self, ns: &str, name: &str, message: &str) -> Result<(String, i64), String> {
        let req = CreateCommit {
            message: format!("CSI snapshot {message}"),
            metadata: Default::default(),
        };
        let c = self
            .api()?
            .commit(ns, name, crate::names::MASTER, &req)
            .map_err(api_err)?;
        Ok((c.id.to_string(), c.time as i64))
    }

    fn commits(&self, ns: &str, name: &str) -> Result<Vec<(String, i64)>, String> {
        let log = self
            .api()?
            .log(ns, name, crate::names::MASTER)
            .map_err(api_err)?;
        Ok(log
            .into_iter()
            .map(|c| (c.id.to_string(), c.time as i64))
            .collect())
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let api = a.api.client()?.map(std::sync::Mutex::new);
    let backend = Arc::new(Dm {
        socket: a
            .plugin_dir
            .join(flexvolume::DRIVER_DIR)
            .join(flexvolume::SOCKET_FILE),
        api,
    });
    let registry = (!a.no_register).then(|| a.kubelet_dir.join("plugins_registry"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the driver's runtime")?;
    rt.block_on(csi::serve(backend, &a.endpoint, registry.as_deref()))
        .map_err(|e| anyhow::anyhow!("the CSI driver stopped: {e}"))
}
