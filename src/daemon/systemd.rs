//! Running under systemd: the units in `deploy/systemd` made concrete for one node, installing
//! and driving them with `systemctl`, and telling systemd when the daemon is ready
//! (`Type=notify`). Without systemd none of this is used: `launch` starts the daemon on demand.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::{DEFAULT_PLUGIN_SOCKET, DEFAULT_STATE_DIR, NodeConfig};

/// The units as shipped, with the defaults [`units`] replaces.
const SERVICE: &str = include_str!("../../deploy/systemd/dm.service");
const SOCKET: &str = include_str!("../../deploy/systemd/dm.socket");
const DEFAULT_BINARY: &str = "/usr/local/bin/dm";

pub const SERVICE_UNIT: &str = "dm.service";
pub const SOCKET_UNIT: &str = "dm.socket";
/// Where `--systemd` installs the units.
pub const UNIT_DIR: &str = "/etc/systemd/system";

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(
        "systemd is not running on this machine; leave out --systemd (dm starts its daemon on demand), or write the units with `dm cluster systemd --dir DIR` for a machine that has it"
    )]
    NotRunning,
    #[error(
        "{0} cannot go into a systemd unit as it is (only letters, digits and / . _ - are safe there); choose a plainer path"
    )]
    Path(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`systemctl {args}` failed: {detail}")]
    Systemctl { args: String, detail: String },
}

/// Whether systemd manages this machine (what `sd_booted` checks).
pub fn running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn plain(p: &Path) -> Result<String, SystemdError> {
    let s = p.to_string_lossy();
    let ok = p.is_absolute()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if ok {
        Ok(s.into_owned())
    } else {
        Err(SystemdError::Path(p.to_path_buf()))
    }
}

/// The units for the node in `state_dir` run by `binary`: the service, and the plugin's socket
/// when the node serves one. (file name, text) pairs.
pub fn units(
    cfg: &NodeConfig,
    state_dir: &Path,
    binary: &Path,
) -> Result<Vec<(&'static str, String)>, SystemdError> {
    let mut service = SERVICE.replace(DEFAULT_BINARY, &plain(binary)?).replace(
        &format!("--state-dir {DEFAULT_STATE_DIR}"),
        &format!("--state-dir {}", plain(state_dir)?),
    );
    let Some(sock) = &cfg.docker_plugin_socket else {
        // No plugin, no socket to be started by.
        service = service
            .lines()
            .filter(|l| !l.ends_with("=dm.socket"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        return Ok(vec![(SERVICE_UNIT, service)]);
    };
    let socket = SOCKET.replace(
        &format!("ListenStream={DEFAULT_PLUGIN_SOCKET}"),
        &format!("ListenStream={}", plain(sock)?),
    );
    Ok(vec![(SERVICE_UNIT, service), (SOCKET_UNIT, socket)])
}

/// Writes `units` into `dir`.
pub fn write(dir: &Path, units: &[(&str, String)]) -> Result<(), SystemdError> {
    for (name, text) in units {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| SystemdError::Write { path, source })?;
    }
    Ok(())
}

/// Runs `systemctl ARGS`.
pub fn systemctl(args: &[&str]) -> Result<(), SystemdError> {
    let fail = |detail: String| SystemdError::Systemctl {
        args: args.join(" "),
        detail,
    };
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// The units `units` named, for `systemctl enable` and friends.
pub fn names(units: &[(&'static str, String)]) -> Vec<&'static str> {
    units.iter().map(|(n, _)| *n).collect()
}

/// Installs the node's units into [`UNIT_DIR`] and starts them now and at every boot.
pub fn install(cfg: &NodeConfig, state_dir: &Path, binary: &Path) -> Result<(), SystemdError> {
    if !running() {
        return Err(SystemdError::NotRunning);
    }
    let units = units(cfg, state_dir, binary)?;
    write(Path::new(UNIT_DIR), &units)?;
    systemctl(&["daemon-reload"])?;
    let mut args = vec!["enable", "--now"];
    // The socket first: the service finds it to take over.
    args.extend(names(&units).into_iter().rev());
    systemctl(&args)
}

/// Stops and disables the node's units and removes them (`dm cluster reset`).
pub fn uninstall() -> Result<(), SystemdError> {
    systemctl(&["disable", "--now", SERVICE_UNIT])?;
    let dir = Path::new(UNIT_DIR);
    if dir.join(SOCKET_UNIT).exists() {
        systemctl(&["disable", "--now", SOCKET_UNIT])?;
    }
    for u in [SERVICE_UNIT, SOCKET_UNIT] {
        let _ = std::fs::remove_file(dir.join(u));
    }
    systemctl(&["daemon-reload"])
}

/// Tells systemd the daemon is ready, when it started us as `Type=notify`; nothing otherwise.
pub fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                SocketAddr::from_abstract_name(name)?
            }
            None => SocketAddr::from_pathname(&path)?,
        };
        sock.send_to_addr(b"READY=1", &addr).map(|_| ())
    })();
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot tell systemd the daemon is ready");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(socket: Option<&str>) -> NodeConfig {
        let text = format!(
            r#"node_id = "n1"
pool = "pool"
mount_dir = "/m"
bind = "0.0.0.0"
advertise = "127.0.0.1"
api_port = 32607
etcd_client_port = 42379
etcd_peer_port = 42380
admin_key_sha256 = "x"
docker_plugin_socket = "{}""#,
            socket.unwrap_or("")
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn units_name_the_node_binary_and_socket() {
        let cfg = node(Some("/run/docker/plugins/dm-n2.sock"));
        let u = units(&cfg, Path::new("/srv/dm"), Path::new("/opt/dm/bin/dm")).unwrap();
        assert_eq!(names(&u), [SERVICE_UNIT, SOCKET_UNIT]);
        assert!(
            u[0].1
                .contains("ExecStart=/opt/dm/bin/dm serve --state-dir /srv/dm\n")
        );
        assert!(
            u[1].1
                .contains("ListenStream=/run/docker/plugins/dm-n2.sock\n")
        );
        assert!(!u[0].1.contains(DEFAULT_BINARY));
    }

    #[test]
    fn without_a_plugin_there_is_no_socket_unit() {
        let u = units(&node(None), Path::new("/srv/dm"), Path::new("/usr/bin/dm")).unwrap();
        assert_eq!(names(&u), [SERVICE_UNIT]);
        assert!(!u[0].1.contains("dm.socket\n"));
    }

    #[test]
    fn paths_a_unit_would_misread_are_refused() {
        for bad in ["/srv/my dm", "relative", "/srv/$HOME", "/srv/a%b"] {
            assert!(units(&node(None), Path::new(bad), Path::new("/usr/bin/dm")).is_err());
        }
    }
}
