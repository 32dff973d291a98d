//! The client's configuration, `~/.dotmesh/config` (TOML, mode 0600; `$DM_CONFIG` overrides):
//! remotes with their credentials, which one is current, and per remote the current dot and the
//! branch checked out in each dot (client-side, as in git and Dotmesh).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClientError;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Remote {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub api_key: String,
    /// For a remote on this machine: the node's state dir, so the client can start its daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_dot: Option<String>,
    /// Branch checked out per dot; missing means master.
    #[serde(default)]
    pub branches: BTreeMap<String, String>,
    /// Dots here whose name on this remote differs (`dm clone --local-name`, `dm push
    /// --remote-name`): local name → name on this remote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dot_names: BTreeMap<String, String>,
    /// The remote's TLS certificate (PEM), trusted on first use; the only one accepted for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// The user accepted sending credentials over plain HTTP to a host that is not this machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

impl Remote {
    /// A remote with just an address and credentials.
    pub fn new(user: &str, host: &str, port: u16, api_key: &str) -> Remote {
        Remote {
            user: user.to_string(),
            host: host.to_string(),
            port,
            api_key: api_key.to_string(),
            state_dir: None,
            current_dot: None,
            branches: BTreeMap::new(),
            dot_names: BTreeMap::new(),
            tls_cert: None,
            insecure: false,
        }
    }

    /// `https://…` with a pinned certificate, or `http://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The far side of a transfer, as a daemon is told it.
    pub fn to_far(&self) -> crate::api::FarCluster {
        crate::api::FarCluster {
            user: self.user.clone(),
            host: self.host.clone(),
            port: self.port,
            api_key: self.api_key.clone(),
            tls_cert: self.tls_cert.clone(),
            insecure: self.insecure,
        }
    }

    /// A daemon's view of the far side of a transfer it runs.
    pub fn from_far(f: &crate::api::FarCluster) -> Remote {
        Remote {
            user: f.user.clone(),
            host: f.host.clone(),
            port: f.port,
            api_key: f.api_key.clone(),
            state_dir: None,
            current_dot: None,
            branches: BTreeMap::new(),
            dot_names: BTreeMap::new(),
            tls_cert: f.tls_cert.clone(),
            insecure: f.insecure,
        }
    }

    /// Whether the API key may travel in clear: to this machine, or when the user said so.
    pub fn may_send_key(&self) -> bool {
        let local = self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        local || self.insecure || self.state_dir.is_some() || self.tls_cert.is_some()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ClientConfig {
    #[serde(default)]
    pub current_remote: Option<String>,
    #[serde(default)]
    pub remotes: BTreeMap<String, Remote>,
}

/// `$DM_CONFIG`, else `~/.dotmesh/config`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DM_CONFIG") {
        return PathBuf::from(p);
    }
    let home = directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".dotmesh").join("config")
}

impl ClientConfig {
    /// Loads the config; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ClientConfig, ClientError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ClientError::Config {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
            Err(e) => Err(ClientError::Config {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
        }
    }

    /// Writes atomically with mode 0600: the file holds API keys.
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let err = |e: std::io::Error| ClientError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let text = toml::to_string_pretty(self).expect("client config serialises");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// The current remote and its name.
    pub fn current(&self) -> Result<(&str, &Remote), ClientError> {
        let name = self
            .current_remote
            .as_deref()
            .ok_or(ClientError::NoRemote)?;
        let remote = self.remotes.get(name).ok_or(ClientError::NoRemote)?;
        Ok((name, remote))
    }

    pub fn current_mut(&mut self) -> Result<&mut Remote, ClientError> {
        let name = self.current_remote.clone().ok_or(ClientError::NoRemote)?;
        self.remotes.get_mut(&name).ok_or(ClientError::NoRemote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saves_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config");
        let mut c = ClientConfig {
            current_remote: Some("local".into()),
            ..Default::default()
        };
        c.remotes.insert(
            "local".into(),
            Remote {
                user: "admin".into(),
                host: "127.0.0.1".into(),
                port: 32607,
                api_key: "k".into(),
                state_dir: None,
                current_dot: Some("d".into()),
                branches: BTreeMap::new(),
                dot_names: BTreeMap::new(),
                tls_cert: None,
                insecure: false,
            },
        );
        c.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ClientConfig::load(&path).unwrap(), c);
        assert_eq!(
            ClientConfig::load(&dir.path().join("none")).unwrap(),
            ClientConfig::default()
        );
    }
}
