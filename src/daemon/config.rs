//! The node's own configuration, `<state-dir>/node.toml`, written by `dm cluster init` and read by
//! `dm serve`. The admin key is stored only as a SHA-256 hash; the file is private (0600) because
//! it holds the secret the cluster's nodes use with each other.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/dotmesh";
pub const DEFAULT_API_PORT: u16 = 32607;
pub const DEFAULT_ETCD_CLIENT_PORT: u16 = 42379;
pub const DEFAULT_ETCD_PEER_PORT: u16 = 42380;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NodeConfig {
    pub node_id: String,
    /// ZFS pool holding the dots.
    pub pool: String,
    /// Backing file when dm created the pool on a file.
    pub pool_file: Option<PathBuf>,
    /// Where branch filesystems are mounted.
    pub mount_dir: PathBuf,
    /// Address the API binds to.
    pub bind: String,
    /// Address other nodes and clients reach this node at.
    pub advertise: String,
    pub api_port: u16,
    pub etcd_client_port: u16,
    pub etcd_peer_port: u16,
    /// External etcd endpoints; empty means run our own etcd.
    #[serde(default)]
    pub etcd_endpoints: Vec<String>,
    pub admin_key_sha256: String,
    /// Shared by the nodes of one cluster; authenticates their calls to each other.
    #[serde(default)]
    pub cluster_secret: String,
    /// Set on nodes that joined an existing cluster: etcd's `--initial-cluster` at first start.
    #[serde(default)]
    pub etcd_initial_cluster: Option<String>,
    /// Serve the API over TLS with this certificate (PEM) and key (PKCS#8 PEM).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Unix socket of the Docker volume plugin (its file name is the driver name); none = off.
    #[serde(default = "default_plugin_socket")]
    pub docker_plugin_socket: Option<PathBuf>,
    /// The Docker Engine API, asked which containers use our volumes.
    #[serde(default = "default_docker_api")]
    pub docker_api_socket: PathBuf,
}

pub const DEFAULT_PLUGIN_SOCKET: &str = "/run/docker/plugins/dm.sock";

fn default_plugin_socket() -> Option<PathBuf> {
    Some(PathBuf::from(DEFAULT_PLUGIN_SOCKET))
}

fn default_docker_api() -> PathBuf {
    PathBuf::from("/var/run/docker.sock")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("this node is not initialised ({0} is missing); run `dm cluster init`")]
    NotInitialised(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not valid: {detail}; fix it or run `dm cluster init` again after removing it"
    )]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn node_file(state_dir: &Path) -> PathBuf {
    state_dir.join("node.toml")
}
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dm.log")
}
pub fn mounts_file(state_dir: &Path) -> PathBuf {
    state_dir.join("mounts.json")
}
pub fn pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dm.pid")
}

impl NodeConfig {
    /// The Docker volume driver name: the plugin socket's file name without `.sock`.
    pub fn docker_driver(&self) -> Option<String> {
        let sock = self.docker_plugin_socket.as_ref()?;
        Some(sock.file_stem()?.to_string_lossy().into_owned())
    }

    pub fn load(state_dir: &Path) -> Result<NodeConfig, ConfigError> {
        let path = node_file(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotInitialised(path));
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path,
            detail: e.to_string(),
        })
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), ConfigError> {
        let path = node_file(state_dir);
        let text = toml::to_string_pretty(self).expect("node config serialises");
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(state_dir)?;
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let tmp = path.with_extension("toml.tmp");
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?
                .write_all(text.as_bytes())?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })
    }

    /// Host other nodes reach this node's API and etcd at.
    pub fn host(&self) -> &str {
        if self.advertise == "0.0.0.0" {
            "127.0.0.1"
        } else {
            &self.advertise
        }
    }

    pub fn etcd_peer_url(&self) -> String {
        format!("http://{}:{}", self.host(), self.etcd_peer_port)
    }

    pub fn etcd_client_url(&self) -> String {
        format!("http://{}:{}", self.host(), self.etcd_client_port)
    }

    /// etcd endpoints to use: the external ones, or our own etcd.
    pub fn endpoints(&self) -> Vec<String> {
        if self.etcd_endpoints.is_empty() {
            vec![self.etcd_client_url()]
        } else {
            self.etcd_endpoints.clone()
        }
    }
}
