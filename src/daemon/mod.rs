//! The node daemon, `dm serve`: ZFS, the registry on etcd (its own etcd unless told otherwise)
//! and the HTTP API, in one process started by re-executing the `dm` binary.

mod beneath;
pub mod config;
mod core;
mod diff;
mod dots;
mod etcd;
mod follow;
mod handoff;
mod health;
mod http;
mod intent;
mod inventory;
mod kubelet;
pub mod launch;
mod membership;
pub use membership::JOIN_USER;
mod handdown;
mod mounts;
mod node;
mod ops;
mod password;
mod peer;
pub mod pki;
mod principal;
pub(crate) mod procs;
mod prune;
mod recovery;
mod replicate;
mod reset;
mod seal;
mod sender;
#[cfg(test)]
mod sim_tests;
mod subdots;
pub mod systemd;
mod tags;
mod transfer;
mod tree;
mod users;
mod views;
mod volumes;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cluster::etcd::{EtcdKv, EtcdTls};
use crate::cluster::{RegistryError, ServerRecord, Store};
use crate::zfs::{self, Pool, ZfsError};
use config::NodeConfig;
pub use core::{new_api_key, new_id};
use node::Node;

/// Errors of the daemon layer; each maps to one HTTP status and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "missing or wrong credentials; check the user and API key of this remote (`dm remote -v`)"
    )]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InUse(String),
    #[error("request body too large (limit {} bytes)", crate::api::MAX_BODY)]
    TooLarge,
    #[error("{0}")]
    PoolFull(String),
    #[error("no such API call: {0}")]
    NoRoute(String),
    #[error(transparent)]
    Zfs(#[from] ZfsError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "the branch is held by node {} ({}:{}); requests to change it go there",
        .0.id,
        .0.addresses.first().map(String::as_str).unwrap_or("?"),
        .0.api_port
    )]
    MasterElsewhere(Box<ServerRecord>),
    /// A stream was expected in the request's body, and it was empty.
    #[error(
        "the request carries no stream: send it in the body, or ask to switch protocols (`Upgrade: dm-zfs-stream/1`) through something that passes upgrades on"
    )]
    NoStream,
    /// The other cluster of a transfer failed, or could not be reached; its own message.
    #[error("{0}")]
    Far(String),
    /// The other cluster of a transfer refused a request: its status and code, and its message
    /// with what was being done.
    #[error("{message}")]
    FarSaid {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Internal(String),
    /// An operation failed, and so did putting things back as they were: the intent is kept
    /// and the daemon settles it on its own (see `intent`).
    #[error(
        "{error}; putting things back failed too ({cleanup}); the daemon finishes that by itself (at its next sweep or start) — check with `dm log` and `dm list`"
    )]
    Unsettled {
        error: Box<DaemonError>,
        cleanup: String,
    },
}

impl DaemonError {
    pub fn status(&self) -> u16 {
        match self {
            DaemonError::Unsettled { error, .. } => error.status(),
            DaemonError::BadRequest(_)
            | DaemonError::NoStream
            | DaemonError::Zfs(ZfsError::BadStream(_)) => 400,
            DaemonError::Unauthorized => 401,
            DaemonError::Forbidden(_) => 403,
            DaemonError::NotFound(_) | DaemonError::NoRoute(_) => 404,
            DaemonError::Conflict(_) | DaemonError::InUse(_) | DaemonError::MasterElsewhere(_) => {
                409
            }
            DaemonError::TooLarge => 413,
            DaemonError::PoolFull(_) => 507,
            DaemonError::Registry(RegistryError::Unavailable { .. }) => 503,
            DaemonError::Unavailable(_) => 503,
            DaemonError::Far(_) => 502,
            DaemonError::FarSaid { status, .. } => *status,
            DaemonError::Zfs(ZfsError::DaemonDown(_)) => 503,
            DaemonError::Zfs(_) | DaemonError::Registry(_) | DaemonError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            DaemonError::Unsettled { error, .. } => error.code(),
            DaemonError::BadRequest(_) => "bad_request",
            DaemonError::NoStream => "no_stream",
            DaemonError::Unauthorized => "unauthorized",
            DaemonError::Forbidden(_) => "forbidden",
            DaemonError::NotFound(_) => "not_found",
            DaemonError::NoRoute(_) => "no_route",
            DaemonError::Conflict(_) => "conflict",
            DaemonError::InUse(_) => "in_use",
            DaemonError::TooLarge => "too_large",
            DaemonError::PoolFull(_) => "pool_full",
            DaemonError::Zfs(ZfsError::BadStream(_)) => "bad_stream",
            DaemonError::Zfs(_) => "zfs",
            DaemonError::Registry(_) => "registry",
            DaemonError::Unavailable(_) => "unavailable",
            DaemonError::MasterElsewhere(_) => "master_elsewhere",
            DaemonError::Far(_) => "far_cluster",
            DaemonError::FarSaid { code, .. } => code,
            DaemonError::Internal(_) => "internal",
        }
    }
}

pub use principal::{ADMIN, Principal};

/// SHA-256 of an API key, hex; keys are stored only this way.
pub fn hash_key(key: &str) -> String {
    crate::ids::hex(&Sha256::digest(key.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Everything a request handler needs.
pub struct Daemon {
    pub node: Node,
    admin_key_sha256: String,
    pub cfg: NodeConfig,
    /// The etcd client, for cluster membership (the registry goes through `node.core.store()`).
    pub kv: EtcdKv,
    /// What this node presents to etcd (none with external etcd endpoints).
    pub etcd_tls: Option<EtcdTls>,
    /// This node's own etcd, when it runs one.
    etcd: Arc<std::sync::Mutex<Option<etcd::EtcdProcess>>>,
    pub state_dir: std::path::PathBuf,
    /// The last metrics text and when it was gathered ([`health`]): anyone may scrape, so
    /// scrapes take turns and a burst of them reads ZFS and etcd once.
    scraped: std::sync::Mutex<Option<(Instant, String)>>,
}

impl Daemon {
    /// Admin is checked against the node's own config only: it works while etcd is down, and
    /// no registry record can make anyone admin.
    pub fn authenticate(&self, user: &str, key: &str) -> Result<Principal, DaemonError> {
        if user == peer::NODE_USER {
            let secret = &self.cfg.cluster_secret;
            return if !secret.is_empty() && same(key, secret) {
                Ok(Principal::Node)
            } else {
                Err(DaemonError::Unauthorized)
            };
        }
        if user == membership::JOIN_USER {
            return self.check_join_token(key).map(|()| Principal::Joiner);
        }
        let hash = hash_key(key);
        if user == ADMIN {
            let local = self.cfg.local_admin_key_sha256.as_deref();
            return if same(&hash, &self.admin_key_sha256) || local.is_some_and(|l| same(&hash, l)) {
                Ok(Principal::Admin)
            } else {
                Err(DaemonError::Unauthorized)
            };
        }
        match self.node.core.store().user(user)? {
            Some(u) if same(&u.api_key_sha256, &hash) => Ok(Principal::user(user)),
            _ => Err(DaemonError::Unauthorized),
        }
    }
}

/// Blocks SIGTERM and SIGINT in every thread and handles them on one, so shutdown is orderly.
fn install_signal_thread(on_signal: impl FnOnce() + Send + 'static) {
    crate::sys::on_termination(on_signal);
}

fn connect_registry(
    cfg: &NodeConfig,
    tls: Option<&EtcdTls>,
    timeout: Duration,
) -> Result<EtcdKv, RegistryError> {
    let deadline = Instant::now() + timeout;
    loop {
        match EtcdKv::connect(&cfg.endpoints(), tls) {
            Ok(kv) => return Ok(kv),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Keeps what holds every namespace's data out of other local users' reach: the pool's backing
/// file 0600; the state dir (keys, etcd's data) and the mountpoints' directory 0700. Containers
/// are not affected: Docker and kubelet resolve a volume's host path as root, and a container
/// sees only the mounted directory itself, whose own mode is the dot's.
fn tighten_modes(cfg: &NodeConfig, state_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt as _;
    let set = |p: &Path, mode: u32| -> anyhow::Result<()> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot restrict {}", p.display()))
    };
    set(state_dir, 0o700)?;
    std::fs::create_dir_all(&cfg.mount_dir)
        .with_context(|| format!("cannot create {}", cfg.mount_dir.display()))?;
    set(&cfg.mount_dir, 0o700)?;
    if let Some(f) = cfg.pool_file.as_deref().filter(|f| f.exists()) {
        set(f, 0o600)?;
    }
    Ok(())
}

/// A node set up before etcd spoke TLS keeps its old `http://` peer URL in etcd's own data,
/// where a joining member would read it: correct it once.
fn https_peer_url(kv: &EtcdKv, cfg: &NodeConfig) -> Result<(), RegistryError> {
    let want = cfg.etcd_peer_url();
    for m in kv.members()? {
        if m.name == cfg.node_id && m.peer_urls != [want.clone()] {
            tracing::info!(peer = %want, "updating this member's etcd peer URL");
            kv.update_member(m.id, &want)?;
        }
    }
    Ok(())
}

/// The Docker plugin's listening socket when systemd started us for it (socket activation:
/// `LISTEN_PID` is this process, `LISTEN_FDS` at least 1, the socket is descriptor 3).
fn activated_socket() -> Option<std::io::Result<std::os::unix::net::UnixListener>> {
    let ours = std::env::var("LISTEN_PID").ok()?.parse::<u32>().ok()? == std::process::id();
    let fds: i32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if !ours || fds < 1 {
        return None;
    }
    tracing::info!("socket-activated: serving the Docker plugin on the socket systemd passed");
    Some(crate::sys::inherited_unix_listener(3).ok_or_else(|| {
        std::io::Error::other(
            "systemd passed descriptor 3, and it is not a listening unix socket; check dm.socket",
        )
    }))
}

/// Runs the daemon for `state_dir` until SIGTERM.
pub fn serve(state_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut cfg = NodeConfig::load(state_dir)?;
    if cfg.cluster_secret.is_empty() {
        // Configs from before multi-node clusters; the secret is what joining nodes receive.
        cfg.cluster_secret = new_id();
        cfg.save(state_dir)?;
    }
    tracing::info!(node = %cfg.node_id, pool = %cfg.pool, port = cfg.api_port, "dm serve starting");
    tighten_modes(&cfg, state_dir)?;
    // Kept open until the process ends: it is what makes dm.pid trustworthy.
    let _lock = launch::hold_lock(state_dir)?;
    zfs::check_available().context("ZFS is not available")?;
    let pool = Pool::open(&cfg.pool)?.with_context(|| {
        format!(
            "ZFS pool '{}' does not exist; import it (`zpool import {}`) or run `dm cluster init` again",
            cfg.pool, cfg.pool
        )
    })?;
    // Signals are blocked before any other thread exists, so only the signal thread sees them.
    let etcd_slot: Arc<std::sync::Mutex<Option<etcd::EtcdProcess>>> = Arc::default();
    let stopper = etcd_slot.clone();
    let pid_path = config::pid_file(state_dir);
    // The plugin socket systemd made and passed (socket activation) stays systemd's.
    let activated = cfg
        .docker_plugin_socket
        .as_ref()
        .and_then(|_| activated_socket());
    // A socket left behind makes Docker wait on it for long: a clean stop takes its own away.
    let mut leave_behind = vec![pid_path.clone()];
    if activated.is_none() {
        leave_behind.extend(cfg.docker_plugin_socket.clone());
    }
    if let Some(dir) = &cfg.flexvolume_dir {
        use crate::plugins::flexvolume::{DRIVER_DIR, SOCKET_FILE};
        leave_behind.push(dir.join(DRIVER_DIR).join(SOCKET_FILE));
    }
    install_signal_thread(move || {
        tracing::info!("stopping");
        if let Some(e) = stopper.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            e.stop();
        }
        for f in &leave_behind {
            let _ = std::fs::remove_file(f);
        }
        std::process::exit(0);
    });
    let mut etcd_tls = None;
    if cfg.etcd_endpoints.is_empty() {
        let pki = pki::Files::new(state_dir);
        let mut hosts = vec![cfg.host().to_string(), cfg.loopback().to_string()];
        hosts.extend(["127.0.0.1".to_string(), "localhost".to_string()]);
        hosts.dedup();
        pki.ensure(&hosts, cfg.etcd_initial_cluster.is_some())?;
        etcd_tls = Some(pki.client_tls()?);
        let e = etcd::EtcdProcess::start(&cfg, state_dir)
            .context("cannot start etcd; install it (`apt-get install etcd-server`)")?;
        *etcd_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }
    let kv =
        connect_registry(&cfg, etcd_tls.as_ref(), Duration::from_secs(30)).with_context(|| {
            format!(
                "etcd did not come up; see {}",
                etcd::log_path(state_dir).display()
            )
        })?;
    if cfg.etcd_endpoints.is_empty() {
        https_peer_url(&kv, &cfg)?;
        // A certificate from the cluster's CA is not enough by itself: etcd also takes its
        // common name as a user, and only the nodes' is one.
        if cfg.etcd_initial_cluster.is_none() {
            kv.enable_auth(pki::ETCD_USER)
                .context("cannot switch on etcd's authentication")?;
        }
    }
    let store = Store::new(Box::new(kv.clone()));
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => {
            let read =
                |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
            let (cert, key) = (read(c)?, read(k)?);
            crate::tls::fingerprint(&String::from_utf8_lossy(&cert))
                .with_context(|| format!("{} is not a PEM certificate", c.display()))?;
            Some((cert, key))
        }
        _ => None,
    };
    store.register_server(
        &ServerRecord {
            id: cfg.node_id.as_str().into(),
            addresses: vec![cfg.advertise.clone()],
            api_port: cfg.api_port,
            version: env!("CARGO_PKG_VERSION").to_string(),
            tls_cert: tls
                .as_ref()
                .map(|(c, _)| String::from_utf8_lossy(c).into_owned()),
        },
        10,
    )?;
    let mounts = mounts::MountTable::load(config::mounts_file(state_dir));
    let docker = cfg.docker_driver().map(|driver| node::DockerLink {
        driver,
        api_socket: cfg.docker_api_socket.clone(),
    });
    let storage = Arc::new(crate::storage::ZfsStorage::new(pool, &cfg.mount_dir));
    let mut core = core::Core::new(
        cfg.node_id.as_str().into(),
        storage,
        store,
        mounts,
        peer::Peers::new(&cfg.cluster_secret),
        intent::Journal::new(&state_dir.join("intents")),
    );
    core.stream_idle = std::time::Duration::from_secs(cfg.stream_idle_secs);
    core.undo_grace = std::time::Duration::from_secs(cfg.undo_grace_secs);
    let node = Node::new(core, docker);
    node.recover()?;
    let addr = format!("{}:{}", cfg.bind, cfg.api_port);
    let listener = std::net::TcpListener::bind(&addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr}: {e}; is another dm serve running?")
        })?;
    let tls = tls
        .map(|(cert, key)| crate::httpd::tls_config(&cert, &key))
        .transpose()
        .map_err(|e| anyhow::anyhow!("cannot serve TLS: {e}"))?;
    // Connections are tasks on this runtime; handlers run on its blocking pool.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("api")
        .enable_all()
        .build()
        .context("cannot start the API's runtime")?;
    let listener = {
        let _in_rt = rt.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    std::fs::write(&pid_path, std::process::id().to_string())
        .with_context(|| format!("cannot write {}", pid_path.display()))?;
    tracing::info!(%addr, "listening");
    let daemon = Arc::new(Daemon {
        node,
        admin_key_sha256: cfg.admin_key_sha256.clone(),
        cfg: cfg.clone(),
        kv: kv.clone(),
        etcd_tls,
        etcd: etcd_slot,
        state_dir: state_dir.to_path_buf(),
        scraped: std::sync::Mutex::default(),
    });
    replicate::start(daemon.clone(), &kv);
    if let Some(sock) = &cfg.docker_plugin_socket {
        use crate::plugins::docker;
        let volumes = Arc::new(volumes::DockerVolumes(daemon.clone()));
        let listener = match activated {
            Some(l) => l,
            None => docker::bind(sock),
        };
        listener
            .and_then(|l| docker::serve(l, volumes, rt.handle()))
            .with_context(|| format!("cannot serve the Docker plugin on {}", sock.display()))?;
        tracing::info!(socket = %sock.display(), "docker volume plugin ready");
    }
    let metrics_on_api = match &cfg.metrics_addr {
        None => true,
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(|l| {
                    let _in_rt = rt.enter();
                    tokio::net::TcpListener::from_std(l)
                })
                .with_context(|| format!("cannot serve the metrics on {addr}"))?;
            rt.spawn(crate::httpd::serve_tcp(
                l,
                None,
                http::metrics_handler(daemon.clone()),
            ));
            tracing::info!(%addr, "metrics served");
            false
        }
    };
    if let Some(dir) = &cfg.flexvolume_dir {
        use crate::plugins::flexvolume;
        let driver = flexvolume::install(dir).with_context(|| {
            format!("cannot install the FlexVolume driver into {}; pass --no-flexvolume to `dm cluster init` on machines without Kubernetes", dir.display())
        })?;
        let sock = flexvolume::serve(dir, Arc::new(kubelet::KubeletMounts(daemon.clone())))
            .with_context(|| {
                format!(
                    "cannot serve the FlexVolume driver's socket in {}",
                    dir.display()
                )
            })?;
        tracing::info!(driver = %driver.display(), socket = %sock.display(), "flexvolume driver ready");
    }
    systemd::notify_ready();
    rt.block_on(crate::httpd::serve_tcp(
        listener,
        tls,
        http::handler(daemon, metrics_on_api),
    ));
    Ok(())
}
