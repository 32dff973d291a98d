//! The CSI driver `csi.dotmesh.io` (`dm csi`), the successor of the FlexVolume driver: a gRPC
//! server (tonic) on a unix socket, registered with kubelet through its plugin registry
//! (`<kubelet-root>/plugins_registry/csi.dotmesh.io-reg.sock`), so no sidecar is needed for the
//! node side.
//!
//! - Identity: the driver's name and version, and that it serves a controller.
//! - Node: `NodePublishVolume` procures the dot on this node and bind-mounts the subdot onto
//!   kubelet's target (through the daemon, as the FlexVolume driver does); `NodeUnpublishVolume`
//!   undoes it.
//! - Controller: `CreateVolume` makes a dot — or, from a snapshot, a branch of the dot at that
//!   commit; `DeleteVolume` deletes the dot (or the branch); `CreateSnapshot` commits it,
//!   `ListSnapshots` reads its log. `DeleteSnapshot` refuses a commit that still exists: commits
//!   are the dot's history (and branches grow from them); an id already gone is done.
//!
//! A volume id is `NAMESPACE/DOT` or, for a branch, `NAMESPACE/DOT@BRANCH` (the volume
//! context's `namespace`, `name`, `branch` and `subdot` win when present); a snapshot id is
//! `NAMESPACE/DOT@COMMIT`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::{Request, Response, Status};

#[allow(clippy::all, clippy::pedantic)]
pub mod proto {
    pub mod csi {
        tonic::include_proto!("csi.v1");
    }
    pub mod registration {
        tonic::include_proto!("pluginregistration");
    }
}

use proto::csi;
use proto::registration as reg;

/// The driver's name, as `CSIDriver` objects and PVs (`csi.driver`) name it.
pub const DRIVER: &str = "csi.dotmesh.io";

/// A dot as a volume: namespace, name and the subdot mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub namespace: String,
    pub name: String,
    pub branch: String,
    pub subdot: String,
}

/// What the driver needs from dm. Errors are messages for the person reading kubelet's events.
pub trait Backend: Send + Sync + 'static {
    fn node_id(&self) -> Result<String, String>;
    /// Shows `v` at `target` (made if missing), procuring the dot on this node first.
    fn publish(&self, v: &Volume, target: &Path) -> Result<(), String>;
    fn unpublish(&self, target: &Path) -> Result<(), String>;
    /// Makes dot `ns/name` if it does not exist.
    fn create(&self, ns: &str, name: &str) -> Result<(), String>;
    /// Deletes dot `ns/name`; gone already is fine.
    fn delete(&self, ns: &str, name: &str) -> Result<(), String>;
    /// Makes branch `branch` of dot `ns/name` from its commit `commit`.
    fn branch(&self, ns: &str, name: &str, branch: &str, commit: &str) -> Result<(), String>;
    /// Deletes branch `branch` of dot `ns/name`; gone already is fine.
    fn delete_branch(&self, ns: &str, name: &str, branch: &str) -> Result<(), String>;
    /// Commits dot `ns/name`'s master; its commit id and time (seconds).
    fn commit(&self, ns: &str, name: &str, message: &str) -> Result<(String, i64), String>;
    /// The commits of dot `ns/name`'s master, newest first: (id, time in seconds).
    fn commits(&self, ns: &str, name: &str) -> Result<Vec<(String, i64)>, String>;
}

/// `NAMESPACE/DOT[@BRANCH]` (or `DOT`, in admin's namespace) with an optional `.SUBDOT`,
/// checked.
pub fn parse_volume_id(id: &str) -> Result<Volume, Status> {
    let r = crate::names::DotRef::parse(id).map_err(|e| {
        Status::invalid_argument(format!(
            "volume id '{id}' is not NAMESPACE/DOT[@BRANCH][.SUBDOT]: {e}"
        ))
    })?;
    Ok(Volume {
        namespace: r
            .namespace
            .unwrap_or_else(|| crate::names::ADMIN.to_string()),
        name: r.dot,
        branch: r.branch.unwrap_or_else(|| crate::names::MASTER.to_string()),
        subdot: r
            .subdot
            .unwrap_or_else(|| crate::names::DEFAULT_SUBDOT.to_string()),
    })
}

/// The volume a publish asks for: the id, with the PV's attributes taking precedence.
fn volume_of(
    id: &str,
    context: &std::collections::HashMap<String, String>,
) -> Result<Volume, Status> {
    let mut v = parse_volume_id(id)?;
    let get = |k: &str| context.get(k).filter(|s| !s.is_empty()).cloned();
    if let Some(ns) = get("namespace") {
        v.namespace = ns;
    }
    if let Some(n) = get("name") {
        v.name = n;
    }
    if let Some(b) = get("branch") {
        v.branch = b;
    }
    match context.get("subdot").map(String::as_str) {
        Some("") | None => {}
        Some(s) => v.subdot = s.to_string(),
    }
    for (kind, s) in [
        (crate::names::Kind::Namespace, &v.namespace),
        (crate::names::Kind::Dot, &v.name),
        (crate::names::Kind::Branch, &v.branch),
        (crate::names::Kind::Subdot, &v.subdot),
    ] {
        crate::names::validate(kind, s)
            .map_err(|e| Status::invalid_argument(format!("volume attribute '{s}': {e}")))?;
    }
    Ok(v)
}

fn target_of(path: &str) -> Result<PathBuf, Status> {
    let p = PathBuf::from(path);
    let plain = p.is_absolute()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    if plain {
        Ok(p)
    } else {
        Err(Status::invalid_argument(format!(
            "target path '{path}' must be absolute, without '.' or '..'"
        )))
    }
}

/// Runs a blocking backend call off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
    failed: fn(String) -> Status,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(failed)
}

fn unavailable(m: String) -> Status {
    Status::unavailable(m)
}

fn failed_precondition(m: String) -> Status {
    Status::failed_precondition(m)
}

pub struct Driver {
    backend: Arc<dyn Backend>,
}

#[tonic::async_trait]
impl csi::identity_server::Identity for Driver {
    async fn get_plugin_info(
        &self,
        _: Request<csi::GetPluginInfoRequest>,
    ) -> Result<Response<csi::GetPluginInfoResponse>, Status> {
        Ok(Response::new(csi::GetPluginInfoResponse {
            name: DRIVER.into(),
            vendor_version: env!("CARGO_PKG_VERSION").into(),
            manifest: Default::default(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<csi::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<csi::GetPluginCapabilitiesResponse>, Status> {
        use csi::plugin_capability::{Service, Type, service};
        let cap = csi::PluginCapability {
            r#type: Some(Type::Service(Service {
                r#type: service::Type::ControllerService as i32,
            })),
        };
        Ok(Response::new(csi::GetPluginCapabilitiesResponse {
            capabilities: vec![cap],
        }))
    }

    async fn probe(
        &self,
        _: Request<csi::ProbeRequest>,
    ) -> Result<Response<csi::ProbeResponse>, Status> {
        let b = self.backend.clone();
        blocking(move || b.node_id(), unavailable).await?;
        Ok(Response::new(csi::ProbeResponse { ready: Some(true) }))
    }
}

#[tonic::async_trait]
impl csi::node_server::Node for Driver {
    async fn node_get_info(
        &self,
        _: Request<csi::NodeGetInfoRequest>,
    ) -> Result<Response<csi::NodeGetInfoResponse>, Status> {
        let b = self.backend.clone();
        let node_id = blocking(move || b.node_id(), unavailable).await?;
        Ok(Response::new(csi::NodeGetInfoResponse {
            node_id,
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<csi::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<csi::NodeGetCapabilitiesResponse>, Status> {
        // No staging step: a publish procures and mounts in one go.
        Ok(Response::new(csi::NodeGetCapabilitiesResponse {
            capabilities: Vec::new(),
        }))
    }

    async fn node_publish_volume(
        &self,
        req: Request<csi::NodePublishVolumeRequest>,
    ) -> Result<Response<csi::NodePublishVolumeResponse>, Status> {
        let r = req.into_inner();
        if r.readonly {
            return Err(Status::invalid_argument(
                "read-only volumes are not served yet; mount the claim read-write",
            ));
        }
        let v = volume_of(&r.volume_id, &r.volume_context)?;
        let target = target_of(&r.target_path)?;
        let b = self.backend.clone();
        blocking(move || b.publish(&v, &target), failed_precondition).await?;
        Ok(Response::new(csi::NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        req: Request<csi::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<csi::NodeUnpublishVolumeResponse>, Status> {
        let target = target_of(&req.into_inner().target_path)?;
        let b = self.backend.clone();
        blocking(move || b.unpublish(&target), failed_precondition).await?;
        Ok(Response::new(csi::NodeUnpublishVolumeResponse {}))
    }
}

#[tonic::async_trait]
impl csi::controller_server::Controller for Driver {
    async fn controller_get_capabilities(
        &self,
        _: Request<csi::ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<csi::ControllerGetCapabilitiesResponse>, Status> {
        use csi::controller_service_capability::{Rpc, Type, rpc};
        let caps = [
            rpc::Type::CreateDeleteVolume,
            rpc::Type::CreateDeleteSnapshot,
            rpc::Type::ListSnapshots,
        ]
        .into_iter()
        .map(|t| csi::ControllerServiceCapability {
            r#type: Some(Type::Rpc(Rpc { r#type: t as i32 })),
        })
        .collect();
        Ok(Response::new(csi::ControllerGetCapabilitiesResponse {
            capabilities: caps,
        }))
    }

    async fn create_volume(
        &self,
        req: Request<csi::CreateVolumeRequest>,
    ) -> Result<Response<csi::CreateVolumeResponse>, Status> {
        let r = req.into_inner();
        if let Some(source) = r.volume_content_source.and_then(|s| s.r#type) {
            use csi::volume_content_source::Type;
            let Type::Snapshot(s) = source else {
                return Err(Status::invalid_argument(
                    "a volume can come from a snapshot (a commit), not from another volume",
                ));
            };
            return self.branch_from(&r.name, &s.snapshot_id).await;
        }
        let ns = r
            .parameters
            .get("dotmeshNamespace")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| crate::names::ADMIN.to_string());
        let id = format!("{ns}/{}", r.name);
        let v = parse_volume_id(&id)?;
        let b = self.backend.clone();
        let (ns, name) = (v.namespace.clone(), v.name.clone());
        blocking(move || b.create(&ns, &name), failed_precondition).await?;
        Ok(Response::new(csi::CreateVolumeResponse {
            volume: Some(csi::Volume {
                capacity_bytes: 0,
                volume_id: format!("{}/{}", v.namespace, v.name),
                volume_context: [
                    ("namespace".to_string(), v.namespace),
                    ("name".to_string(), v.name),
                ]
                .into(),
                content_source: None,
                accessible_topology: Vec::new(),
            }),
        }))
    }

    async fn delete_volume(
        &self,
        req: Request<csi::DeleteVolumeRequest>,
    ) -> Result<Response<csi::DeleteVolumeResponse>, Status> {
        let v = parse_volume_id(&req.into_inner().volume_id)?;
        let b = self.backend.clone();
        let gone = move || match v.branch.as_str() {
            crate::names::MASTER => b.delete(&v.namespace, &v.name),
            branch => b.delete_branch(&v.namespace, &v.name, branch),
        };
        blocking(gone, failed_precondition).await?;
        Ok(Response::new(csi::DeleteVolumeResponse {}))
    }

    async fn delete_snapshot(
        &self,
        req: Request<csi::DeleteSnapshotRequest>,
    ) -> Result<Response<csi::DeleteSnapshotResponse>, Status> {
        let (v, commit) = parse_snapshot_id(&req.into_inner().snapshot_id)?;
        let (ns, name) = (v.namespace.clone(), v.name.clone());
        let b = self.backend.clone();
        let commits = match blocking(move || b.commits(&ns, &name), failed_precondition).await {
            Ok(c) => c,
            // The dot is gone, and its commits with it.
            Err(e) if e.message().contains("does not exist") => Vec::new(),
            Err(e) => return Err(e),
        };
        if commits.iter().any(|(id, _)| *id == commit) {
            return Err(Status::failed_precondition(format!(
                "commit {commit} is part of dot {}/{}'s history (and branches may grow from it); dm does not delete single commits: `dm reset --hard` on the branch removes later ones",
                v.namespace, v.name
            )));
        }
        Ok(Response::new(csi::DeleteSnapshotResponse {}))
    }

    async fn create_snapshot(
        &self,
        req: Request<csi::CreateSnapshotRequest>,
    ) -> Result<Response<csi::CreateSnapshotResponse>, Status> {
        let r = req.into_inner();
        let v = parse_volume_id(&r.source_volume_id)?;
        let (ns, name, message) = (v.namespace.clone(), v.name.clone(), r.name.clone());
        let b = self.backend.clone();
        let (id, secs) =
            blocking(move || b.commit(&ns, &name, &message), failed_precondition).await?;
        Ok(Response::new(csi::CreateSnapshotResponse {
            snapshot: Some(snapshot(&v, &r.source_volume_id, &id, secs)),
        }))
    }

    async fn list_snapshots(
        &self,
        req: Request<csi::ListSnapshotsRequest>,
    ) -> Result<Response<csi::ListSnapshotsResponse>, Status> {
        let r = req.into_inner();
        if r.source_volume_id.is_empty() {
            return Err(Status::invalid_argument(
                "list the snapshots of one volume (source_volume_id); dm keeps commits per dot",
            ));
        }
        let v = parse_volume_id(&r.source_volume_id)?;
        let (ns, name) = (v.namespace.clone(), v.name.clone());
        let b = self.backend.clone();
        let commits = blocking(move || b.commits(&ns, &name), failed_precondition).await?;
        let entries = commits
            .into_iter()
            .map(|(id, secs)| csi::list_snapshots_response::Entry {
                snapshot: Some(snapshot(&v, &r.source_volume_id, &id, secs)),
            })
            .filter(|e| {
                r.snapshot_id.is_empty()
                    || e.snapshot
                        .as_ref()
                        .is_some_and(|s| s.snapshot_id == r.snapshot_id)
            })
            .collect();
        Ok(Response::new(csi::ListSnapshotsResponse {
            entries,
            next_token: String::new(),
        }))
    }
}

/// `NAMESPACE/DOT@COMMIT`, checked.
fn parse_snapshot_id(id: &str) -> Result<(Volume, String), Status> {
    let bad =
        || Status::invalid_argument(format!("snapshot id '{id}' is not NAMESPACE/DOT@COMMIT"));
    let (dot, commit) = id.rsplit_once('@').ok_or_else(bad)?;
    crate::names::check_commit_id("snapshot", commit).map_err(|_| bad())?;
    Ok((parse_volume_id(dot)?, commit.to_string()))
}

impl Driver {
    /// A volume from snapshot `snapshot`: branch `name` of its dot, made at its commit.
    async fn branch_from(
        &self,
        name: &str,
        snapshot: &str,
    ) -> Result<Response<csi::CreateVolumeResponse>, Status> {
        let (v, commit) = parse_snapshot_id(snapshot)?;
        crate::names::validate(crate::names::Kind::Branch, name)
            .map_err(|e| Status::invalid_argument(format!("volume name '{name}': {e}")))?;
        let (ns, dot, branch) = (v.namespace.clone(), v.name.clone(), name.to_string());
        let b = self.backend.clone();
        let made = move || match b.branch(&ns, &dot, &branch, &commit) {
            // Asked again (the CO retries CreateVolume): the branch is there.
            Err(e) if e.contains("already exists") => Ok(()),
            other => other,
        };
        blocking(made, failed_precondition).await?;
        Ok(Response::new(csi::CreateVolumeResponse {
            volume: Some(csi::Volume {
                capacity_bytes: 0,
                volume_id: format!("{}/{}@{name}", v.namespace, v.name),
                volume_context: [
                    ("namespace".to_string(), v.namespace),
                    ("name".to_string(), v.name),
                    ("branch".to_string(), name.to_string()),
                ]
                .into(),
                content_source: Some(csi::VolumeContentSource {
                    r#type: Some(csi::volume_content_source::Type::Snapshot(
                        csi::volume_content_source::SnapshotSource {
                            snapshot_id: snapshot.to_string(),
                        },
                    )),
                }),
                accessible_topology: Vec::new(),
            }),
        }))
    }
}

fn snapshot(v: &Volume, source: &str, commit: &str, secs: i64) -> csi::Snapshot {
    csi::Snapshot {
        size_bytes: 0,
        snapshot_id: format!("{}/{}@{commit}", v.namespace, v.name),
        source_volume_id: source.to_string(),
        creation_time: Some(prost_types_timestamp(secs)),
        ready_to_use: true,
    }
}

fn prost_types_timestamp(secs: i64) -> ::prost_types::Timestamp {
    ::prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
}

/// Tells kubelet's plugin watcher where the driver is.
struct Registration {
    endpoint: PathBuf,
}

#[tonic::async_trait]
impl reg::registration_server::Registration for Registration {
    async fn get_info(
        &self,
        _: Request<reg::InfoRequest>,
    ) -> Result<Response<reg::PluginInfo>, Status> {
        Ok(Response::new(reg::PluginInfo {
            r#type: "CSIPlugin".into(),
            name: DRIVER.into(),
            endpoint: self.endpoint.display().to_string(),
            supported_versions: vec!["1.0.0".into()],
        }))
    }

    async fn notify_registration_status(
        &self,
        req: Request<reg::RegistrationStatus>,
    ) -> Result<Response<reg::RegistrationStatusResponse>, Status> {
        let r = req.into_inner();
        if r.plugin_registered {
            tracing::info!("kubelet registered the CSI driver");
        } else {
            tracing::error!(error = %r.error, "kubelet refused the CSI driver");
        }
        Ok(Response::new(reg::RegistrationStatusResponse {}))
    }
}

/// Binds a unix socket afresh (a stale one from an earlier run is replaced), root only.
fn bind(path: &Path) -> std::io::Result<tokio_stream::wrappers::UnixListenerStream> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let l = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio_stream::wrappers::UnixListenerStream::new(l))
}

/// Serves the driver on `endpoint` and, when `registry` is given (kubelet's
/// `plugins_registry` directory), its registration beside kubelet's other plugins. Runs until
/// the process ends.
pub async fn serve(
    backend: Arc<dyn Backend>,
    endpoint: &Path,
    registry: Option<&Path>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let driver = || Driver {
        backend: backend.clone(),
    };
    let incoming = bind(endpoint)?;
    let csi_server = tonic::transport::Server::builder()
        .add_service(csi::identity_server::IdentityServer::new(driver()))
        .add_service(csi::node_server::NodeServer::new(driver()))
        .add_service(csi::controller_server::ControllerServer::new(driver()))
        .serve_with_incoming(incoming);
    tracing::info!(endpoint = %endpoint.display(), "CSI driver serving");
    match registry {
        None => csi_server.await?,
        Some(dir) => {
            let sock = dir.join(format!("{DRIVER}-reg.sock"));
            let reg_server = tonic::transport::Server::builder()
                .add_service(reg::registration_server::RegistrationServer::new(
                    Registration {
                        endpoint: endpoint.to_path_buf(),
                    },
                ))
                .serve_with_incoming(bind(&sock)?);
            tracing::info!(socket = %sock.display(), "registering with kubelet");
            tokio::try_join!(csi_server, reg_server)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const C1: &str = "0123456789abcdef0123456789abcde1";
    const C2: &str = "0123456789abcdef0123456789abcde2";

    /// Records what the driver asked of dm.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
    }

    impl Fake {
        fn note(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    impl Backend for Fake {
        fn node_id(&self) -> Result<String, String> {
            Ok("node-1".into())
        }
        fn publish(&self, v: &Volume, target: &Path) -> Result<(), String> {
            let c = format!(
                "publish {}/{}@{}.{} {}",
                v.namespace,
                v.name,
                v.branch,
                v.subdot,
                target.display()
            );
            self.note(c);
            match v.name.as_str() {
                "busy" => Err("dot 'busy' is in use".into()),
                _ => Ok(()),
            }
        }
        fn unpublish(&self, target: &Path) -> Result<(), String> {
            let c = format!("unpublish {}", target.display());
            self.note(c);
            Ok(())
        }
        fn create(&self, ns: &str, name: &str) -> Result<(), String> {
            self.note(format!("create {ns}/{name}"));
            Ok(())
        }
        fn delete(&self, ns: &str, name: &str) -> Result<(), String> {
            self.note(format!("delete {ns}/{name}"));
            Ok(())
        }
        fn branch(&self, ns: &str, name: &str, b: &str, c: &str) -> Result<(), String> {
            let call = format!("branch {ns}/{name}@{b} from {c}");
            self.note(call);
            Ok(())
        }
        fn delete_branch(&self, ns: &str, name: &str, b: &str) -> Result<(), String> {
            self.note(format!("delete {ns}/{name}@{b}"));
            Ok(())
        }
        fn commit(&self, ns: &str, name: &str, m: &str) -> Result<(String, i64), String> {
            self.note(format!("commit {ns}/{name} {m}"));
            Ok((C2.into(), 200))
        }
        fn commits(&self, _: &str, _: &str) -> Result<Vec<(String, i64)>, String> {
            Ok(vec![(C2.into(), 200), (C1.into(), 100)])
        }
    }

    /// The driver on a socket in a temp dir, with a runtime serving it.
    struct Served {
        rt: tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        fake: Arc<Fake>,
    }

    fn served() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = Arc::new(Fake::default());
        let (endpoint, registry) = (dir.path().join("csi.sock"), dir.path().join("registry"));
        std::fs::create_dir_all(&registry).unwrap();
        let backend: Arc<dyn Backend> = fake.clone();
        rt.spawn(async move { serve(backend, &endpoint, Some(&registry)).await.unwrap() });
        let reg = dir
            .path()
            .join("registry")
            .join(format!("{DRIVER}-reg.sock"));
        for _ in 0..100 {
            if reg.exists() && dir.path().join("csi.sock").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Served { rt, dir, fake }
    }

    async fn channel(path: PathBuf) -> tonic::transport::Channel {
        tonic::transport::Endpoint::try_from("http://[::]:0")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_| {
                let p = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(p).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
            .unwrap()
    }

    #[test]
    fn kubelet_finds_the_driver_through_its_registration_socket() {
        let s = served();
        let reg = s
            .dir
            .path()
            .join("registry")
            .join("csi.dotmesh.io-reg.sock");
        let info = s.rt.block_on(async {
            let mut c = reg::registration_client::RegistrationClient::new(channel(reg).await);
            c.get_info(reg::InfoRequest {}).await.unwrap().into_inner()
        });
        assert_eq!(info.r#type, "CSIPlugin");
        assert_eq!(info.name, DRIVER);
        assert_eq!(
            info.endpoint,
            s.dir.path().join("csi.sock").display().to_string()
        );
        assert_eq!(info.supported_versions, vec!["1.0.0".to_string()]);
    }

    #[test]
    fn identity_and_node_answer_as_kubelet_expects() {
        let s = served();
        let sock = s.dir.path().join("csi.sock");
        s.rt.block_on(async {
            let ch = channel(sock).await;
            let mut id = csi::identity_client::IdentityClient::new(ch.clone());
            let info = id
                .get_plugin_info(csi::GetPluginInfoRequest {})
                .await
                .unwrap();
            assert_eq!(info.into_inner().name, DRIVER);
            let probe = id.probe(csi::ProbeRequest {}).await.unwrap().into_inner();
            assert_eq!(probe.ready, Some(true));
            let mut node = csi::node_client::NodeClient::new(ch);
            let info = node
                .node_get_info(csi::NodeGetInfoRequest {})
                .await
                .unwrap();
            assert_eq!(info.into_inner().node_id, "node-1");
            let caps = node
                .node_get_capabilities(csi::NodeGetCapabilitiesRequest {})
                .await
                .unwrap();
            assert!(caps.into_inner().capabilities.is_empty(), "no staging");
            let publish =
                |id: &str, ctx: &[(&str, &str)], target: &str| csi::NodePublishVolumeRequest {
                    volume_id: id.into(),
                    target_path: target.into(),
                    volume_context: ctx
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<HashMap<_, _>>(),
                    ..Default::default()
                };
            let ctx = [("namespace", "k8s"), ("name", "grapes"), ("subdot", "html")];
            node.node_publish_volume(publish("ignored/x", &ctx, "/k/pods/u/mount"))
                .await
                .unwrap();
            node.node_publish_volume(publish("apples", &[], "/k/a/mount"))
                .await
                .unwrap();
            let e = node
                .node_publish_volume(publish("busy", &[], "/k/b/mount"))
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::FailedPrecondition);
            assert!(e.message().contains("in use"), "{e}");
            for (id, target, says) in [
                ("a/b/c", "/k/c/mount", "NAMESPACE/DOT"),
                ("apples", "relative/mount", "absolute"),
                ("apples", "/k/../etc", "absolute"),
            ] {
                let e = node
                    .node_publish_volume(publish(id, &[], target))
                    .await
                    .unwrap_err();
                assert_eq!(e.code(), tonic::Code::InvalidArgument, "{id} {target}");
                assert!(e.message().contains(says), "{id}: {e}");
            }
            let e = node
                .node_publish_volume(publish("x", &[("subdot", "../../etc")], "/k/e/mount"))
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            node.node_unpublish_volume(csi::NodeUnpublishVolumeRequest {
                volume_id: "apples".into(),
                target_path: "/k/a/mount".into(),
            })
            .await
            .unwrap();
        });
        assert_eq!(
            *s.fake.calls.lock().unwrap(),
            vec![
                "publish k8s/grapes@master.html /k/pods/u/mount",
                "publish admin/apples@master.__default__ /k/a/mount",
                "publish admin/busy@master.__default__ /k/b/mount",
                "unpublish /k/a/mount",
            ]
        );
    }

    #[test]
    fn the_controller_makes_dots_and_commits() {
        let s = served();
        let sock = s.dir.path().join("csi.sock");
        s.rt.block_on(async {
            let mut c = csi::controller_client::ControllerClient::new(channel(sock).await);
            let v = c
                .create_volume(csi::CreateVolumeRequest {
                    name: "pvc-1".into(),
                    parameters: [("dotmeshNamespace".to_string(), "k8s".to_string())].into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .volume
                .unwrap();
            assert_eq!(v.volume_id, "k8s/pvc-1");
            let snap = c
                .create_snapshot(csi::CreateSnapshotRequest {
                    source_volume_id: v.volume_id.clone(),
                    name: "nightly".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .snapshot
                .unwrap();
            assert_eq!(snap.snapshot_id, format!("k8s/pvc-1@{C2}"));
            assert_eq!(snap.creation_time.unwrap().seconds, 200);
            let listed = c
                .list_snapshots(csi::ListSnapshotsRequest {
                    source_volume_id: v.volume_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries;
            assert_eq!(listed.len(), 2);
            // A volume from a snapshot is a branch at that commit, and goes as a branch.
            let from = c
                .create_volume(csi::CreateVolumeRequest {
                    name: "pvc-2".into(),
                    volume_content_source: Some(csi::VolumeContentSource {
                        r#type: Some(csi::volume_content_source::Type::Snapshot(
                            csi::volume_content_source::SnapshotSource {
                                snapshot_id: snap.snapshot_id.clone(),
                            },
                        )),
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .volume
                .unwrap();
            assert_eq!(from.volume_id, "k8s/pvc-1@pvc-2");
            assert_eq!(from.volume_context["branch"], "pvc-2");
            c.delete_volume(csi::DeleteVolumeRequest {
                volume_id: from.volume_id,
                ..Default::default()
            })
            .await
            .unwrap();
            // A commit that exists is history, not deleted; one already gone is done.
            let e = c
                .delete_snapshot(csi::DeleteSnapshotRequest {
                    snapshot_id: snap.snapshot_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::FailedPrecondition);
            assert!(e.message().contains("dm reset --hard"), "{e}");
            c.delete_snapshot(csi::DeleteSnapshotRequest {
                snapshot_id: format!("k8s/pvc-1@{}", "f".repeat(32)),
                ..Default::default()
            })
            .await
            .unwrap();
            let e = c
                .delete_snapshot(csi::DeleteSnapshotRequest {
                    snapshot_id: "k8s/pvc-1".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            c.delete_volume(csi::DeleteVolumeRequest {
                volume_id: v.volume_id,
                ..Default::default()
            })
            .await
            .unwrap();

            // What dm does not do says so.
            let e = c
                .controller_publish_volume(csi::ControllerPublishVolumeRequest::default())
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unimplemented);
        });
        assert_eq!(
            *s.fake.calls.lock().unwrap(),
            vec![
                "create k8s/pvc-1".to_string(),
                "commit k8s/pvc-1 nightly".to_string(),
                format!("branch k8s/pvc-1@pvc-2 from {C2}"),
                "delete k8s/pvc-1@pvc-2".to_string(),
                "delete k8s/pvc-1".to_string(),
            ]
        );
    }
}
