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
    /// A second admin key that works on this node only: the one `dm cluster join` made for
    /// the joining machine's own client.
    #[serde(default)]
    pub local_admin_key_sha256: Option<String>,
    /// Shared by the nodes of one cluster; authenticates their calls to each other.
    #[serde(default)]
    pub cluster_secret: String,
    /// Set on nodes that joined an existing cluster: etcd's `--initial-cluster` at first start.
    #[serde(default)]
    pub etcd_initial_cluster: Option<String>,
    /// Whether this node's etcd listens on the advertised address (once the cluster has more
    /// than one node); until then only on loopback. Either way only for the cluster's
    /// certificates.
    #[serde(default)]
    pub etcd_open: bool,
    /// Serve the API over TLS with this certificate (PEM) and key (PKCS#8 PEM).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Unix socket of the Docker volume plugin (its file name is the driver name); none = off,
    /// written as an empty string: a missing key means the default socket (files from before
    /// the option).
    #[serde(default = "default_plugin_socket", with = "empty_is_none")]
    pub docker_plugin_socket: Option<PathBuf>,
    /// Kubelet's FlexVolume plugin directory, where the daemon installs the `dotmesh.io~dm`
    /// driver and serves its socket; none = off (an empty string, as for the Docker plugin).
    #[serde(default = "default_flexvolume_dir", with = "empty_is_none")]
    pub flexvolume_dir: Option<PathBuf>,
    /// The Docker Engine API, asked which containers use our volumes.
    #[serde(default = "default_docker_api")]
    pub docker_api_socket: PathBuf,
    /// How long a receive waits for a sender that has gone quiet before it gives up, releasing
    /// the branch: a sender cut off without a reset (a network partition) never closes.
    #[serde(default = "default_stream_idle_secs")]
    pub stream_idle_secs: u64,
    /// How long what a reset or a branch delete removed is kept for `dm undo` (hidden
    /// branches) before it is reclaimed.
    #[serde(default = "default_undo_grace_secs")]
    pub undo_grace_secs: u64,
    /// Serve `/metrics` on this address (HOST:PORT) alone, instead of on the API port.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// Dots the metrics may name in their labels (`ns/dot`, `ns/*`, `*`); others appear by
    /// filesystem id only.
    #[serde(default)]
    pub metrics_dot_labels: Vec<String>,
    /// Whether systemd runs the daemon (`dm cluster init --systemd`): starting and stopping it
    /// goes through `systemctl`.
    #[serde(default)]
    pub systemd: bool,
    /// How the daemon writes its log: `text` or `json`.
    #[serde(default)]
    pub log_format: crate::cli::LogFormat,
}

pub const DEFAULT_UNDO_GRACE_SECS: u64 = 24 * 3600;

fn default_undo_grace_secs() -> u64 {
    DEFAULT_UNDO_GRACE_SECS
}

pub const DEFAULT_STREAM_IDLE_SECS: u64 = 600;

fn default_stream_idle_secs() -> u64 {
    DEFAULT_STREAM_IDLE_SECS
}

/// `Option<PathBuf>` with `None` as an empty string: TOML has no null, and leaving the key out
/// would read back as the default.
mod empty_is_none {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(
            &v.as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let s = String::deserialize(d)?;
        Ok((!s.is_empty()).then(|| PathBuf::from(s)))
    }
}

pub const DEFAULT_PLUGIN_SOCKET: &str = "/run/docker/plugins/dm.sock";

fn default_plugin_socket() -> Option<PathBuf> {
    Some(PathBuf::from(DEFAULT_PLUGIN_SOCKET))
}

fn default_flexvolume_dir() -> Option<PathBuf> {
    Some(PathBuf::from(
        crate::plugins::flexvolume::DEFAULT_PLUGIN_DIR,
    ))
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
/// Held (flock) by the running daemon for its whole life: a pid in `dm.pid` counts only while
/// this is locked, so a stale pid reused by another process is never signalled.
pub fn lock_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dm.lock")
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

    /// The loopback address this node's own etcd is always reached at: the advertised one
    /// when that is a loopback address (several test nodes on one machine), else 127.0.0.1.
    pub fn loopback(&self) -> &str {
        match self.host().parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => self.host(),
            _ => "127.0.0.1",
        }
    }

    /// The peer URL other members reach this node's etcd at.
    pub fn etcd_peer_url(&self) -> String {
        format!("https://{}:{}", self.host(), self.etcd_peer_port)
    }

    /// The client URL this node's daemon reaches its own etcd at.
    pub fn etcd_client_url(&self) -> String {
        format!("https://{}:{}", self.loopback(), self.etcd_client_port)
    }

    /// etcd's `--listen-peer-urls`, `--listen-client-urls` and `--advertise-client-urls`:
    /// loopback only while this is the cluster's only node.
    pub fn etcd_listen(&self) -> (String, String, String) {
        let (lo, host) = (self.loopback(), self.host());
        let (cp, pp) = (self.etcd_client_port, self.etcd_peer_port);
        if !self.etcd_open {
            let client = format!("https://{lo}:{cp}");
            return (format!("https://{lo}:{pp}"), client.clone(), client);
        }
        let mut clients = format!("https://{host}:{cp}");
        if lo != host {
            clients.push_str(&format!(",https://{lo}:{cp}"));
        }
        (
            self.etcd_peer_url(),
            clients,
            format!("https://{host}:{cp}"),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            node_id: "n".into(),
            pool: "pool".into(),
            pool_file: None,
            mount_dir: "/m".into(),
            bind: "0.0.0.0".into(),
            advertise: "10.0.0.1".into(),
            api_port: DEFAULT_API_PORT,
            etcd_client_port: DEFAULT_ETCD_CLIENT_PORT,
            etcd_peer_port: DEFAULT_ETCD_PEER_PORT,
            etcd_endpoints: Vec::new(),
            admin_key_sha256: "h".into(),
            local_admin_key_sha256: None,
            cluster_secret: "s".into(),
            etcd_initial_cluster: None,
            etcd_open: false,
            tls_cert: None,
            tls_key: None,
            docker_plugin_socket: None,
            flexvolume_dir: None,
            docker_api_socket: default_docker_api(),
            stream_idle_secs: 5,
            undo_grace_secs: 60,
            metrics_addr: Some("127.0.0.1:9607".into()),
            metrics_dot_labels: vec!["ns/*".into()],
            systemd: true,
            log_format: crate::cli::LogFormat::Json,
        }
    }

    #[test]
    fn etcd_listens_on_loopback_until_the_cluster_grows() {
        let mut c = sample();
        assert_eq!(
            c.etcd_listen(),
            (
                "https://127.0.0.1:42380".into(),
                "https://127.0.0.1:42379".into(),
                "https://127.0.0.1:42379".into()
            )
        );
        assert_eq!(c.etcd_peer_url(), "https://10.0.0.1:42380");
        assert_eq!(c.etcd_client_url(), "https://127.0.0.1:42379");
        c.etcd_open = true;
        assert_eq!(
            c.etcd_listen(),
            (
                "https://10.0.0.1:42380".into(),
                "https://10.0.0.1:42379,https://127.0.0.1:42379".into(),
                "https://10.0.0.1:42379".into()
            )
        );
        // A node on a loopback address of its own (tests) stays on it.
        c.advertise = "127.0.3.4".into();
        c.etcd_open = false;
        assert_eq!(c.etcd_client_url(), "https://127.0.3.4:42379");
        assert_eq!(c.etcd_listen().0, "https://127.0.3.4:42380");
    }

    #[test]
    fn saved_settings_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        // The plugin turned off stays off (it used to come back as the default socket).
        let off = sample();
        off.save(dir.path()).unwrap();
        assert_eq!(NodeConfig::load(dir.path()).unwrap(), off);
        let on = NodeConfig {
            docker_plugin_socket: Some("/run/docker/plugins/x.sock".into()),
            ..sample()
        };
        on.save(dir.path()).unwrap();
        assert_eq!(NodeConfig::load(dir.path()).unwrap(), on);
        // A file from before these options gets their defaults.
        let text = std::fs::read_to_string(node_file(dir.path())).unwrap();
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("docker_plugin_socket") && !l.starts_with("stream_idle"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(node_file(dir.path()), old).unwrap();
        let loaded = NodeConfig::load(dir.path()).unwrap();
        assert_eq!(loaded.docker_plugin_socket, default_plugin_socket());
        assert_eq!(loaded.stream_idle_secs, DEFAULT_STREAM_IDLE_SECS);
    }
}
