//! `dm cluster init`: turn this machine into a one-node dm cluster (pool, daemon, admin user,
//! client config with remote `local`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::client::Remote;
use crate::daemon::config::{self, NodeConfig};
use crate::daemon::{hash_key, launch, new_id};
use crate::zfs::{self, Pool};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Set up this machine as a new cluster: ZFS pool, node daemon, admin user, client config
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// ZFS pool to use; created on a sparse file if it does not exist
    #[arg(long, default_value = "pool")]
    pool: String,
    /// Backing file for a new pool [default: STATE_DIR/dotmesh_data]
    #[arg(long)]
    pool_file: Option<PathBuf>,
    /// Size of a new pool's backing file (e.g. 10G, 512M)
    #[arg(long, default_value = "10G", value_parser = parse_size)]
    pool_size: u64,
    /// Directory for the node's config, logs, etcd data and mountpoints
    #[arg(long, default_value = config::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Where branch filesystems are mounted [default: STATE_DIR/mnt]
    #[arg(long)]
    mount_dir: Option<PathBuf>,
    /// Address the API listens on
    #[arg(long, default_value = "0.0.0.0")]
    bind: String,
    /// Address other nodes and clients use for this node [default: the bind address, or 127.0.0.1]
    #[arg(long)]
    advertise: Option<String>,
    /// API port
    #[arg(long, default_value_t = config::DEFAULT_API_PORT)]
    port: u16,
    /// Client port of this node's etcd
    #[arg(long, default_value_t = config::DEFAULT_ETCD_CLIENT_PORT)]
    etcd_client_port: u16,
    /// Peer port of this node's etcd
    #[arg(long, default_value_t = config::DEFAULT_ETCD_PEER_PORT)]
    etcd_peer_port: u16,
    /// Use these etcd endpoints (comma-separated) instead of running etcd
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Unix socket for the Docker volume plugin; its file name is the driver name
    #[arg(long, default_value = config::DEFAULT_PLUGIN_SOCKET, conflicts_with = "no_docker_plugin")]
    docker_plugin_socket: PathBuf,
    /// Do not serve the Docker volume plugin
    #[arg(long)]
    no_docker_plugin: bool,
    /// Name of the client remote that points at this node
    #[arg(long, default_value = "local")]
    remote_name: String,
}

/// "10G" → bytes. Accepts K, M, G, T (powers of 1024), optional "iB"/"B".
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("iB").trim_end_matches('B');
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        Some('T' | 't') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("cannot read size {s:?}; write it like 10G or 512M"))?;
    let bytes = n.checked_mul(mult).ok_or("size too large")?;
    if bytes < 64 << 20 {
        return Err("a ZFS pool needs at least 64M".into());
    }
    Ok(bytes)
}

pub fn run(ctx: &mut super::Ctx, c: Command) -> anyhow::Result<()> {
    match c {
        Command::Init(a) => init(ctx, a),
    }
}

fn random_key() -> String {
    format!("{}{}", new_id(), &new_id()[..8])
}

fn init(ctx: &mut super::Ctx, a: InitArgs) -> anyhow::Result<()> {
    let state_dir = absolute(&a.state_dir)?;
    if config::node_file(&state_dir).exists() {
        bail!(
            "this node is already initialised (state in {}); nothing changed",
            state_dir.display()
        );
    }
    zfs::check_available().context(
        "ZFS is not available; install zfs-fuse and start it (`setsid zfs-fuse`), or load OpenZFS",
    )?;
    let mount_dir = match &a.mount_dir {
        Some(d) => absolute(d)?,
        None => state_dir.join("mnt"),
    };
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let mut created_pool = None;
    if Pool::open(&a.pool)?.is_none() {
        let file = match &a.pool_file {
            Some(f) => absolute(f)?,
            None => state_dir.join("dotmesh_data"),
        };
        eprintln!(
            "Creating ZFS pool '{}' on {} ({})",
            a.pool,
            file.display(),
            super::human_bytes(a.pool_size)
        );
        let pool = Pool::create_on_file(&a.pool, &file, a.pool_size, None)
            .with_context(|| format!("cannot create pool '{}'", a.pool))?;
        created_pool = Some((pool, file));
    }
    let key = random_key();
    let advertise = a.advertise.clone().unwrap_or_else(|| {
        if a.bind == "0.0.0.0" {
            "127.0.0.1".to_string()
        } else {
            a.bind.clone()
        }
    });
    let node = NodeConfig {
        node_id: new_id()[..16].to_string(),
        pool: a.pool.clone(),
        pool_file: created_pool.as_ref().map(|(_, f)| f.clone()),
        mount_dir,
        bind: a.bind.clone(),
        advertise: advertise.clone(),
        api_port: a.port,
        etcd_client_port: a.etcd_client_port,
        etcd_peer_port: a.etcd_peer_port,
        etcd_endpoints: a.etcd_endpoints.clone(),
        admin_key_sha256: hash_key(&key),
        docker_plugin_socket: (!a.no_docker_plugin).then(|| a.docker_plugin_socket.clone()),
        docker_api_socket: PathBuf::from("/var/run/docker.sock"),
    };
    node.save(&state_dir)?;
    eprintln!(
        "Starting the dm daemon (log: {})",
        config::log_file(&state_dir).display()
    );
    if let Err(e) = launch::start(&state_dir, Duration::from_secs(60)) {
        // Leave nothing half-done, so `dm cluster init` can simply be run again.
        let _ = std::fs::remove_file(config::node_file(&state_dir));
        if let Some((pool, file)) = created_pool {
            match pool.destroy() {
                Ok(()) => {
                    let _ = std::fs::remove_file(file);
                }
                Err(d) => eprintln!("warning: could not remove the new pool: {d}"),
            }
        }
        return Err(e.into());
    }
    let host = if advertise == "0.0.0.0" {
        "127.0.0.1".into()
    } else {
        advertise
    };
    ctx.cfg.remotes.insert(
        a.remote_name.clone(),
        Remote {
            user: "admin".into(),
            host,
            port: a.port,
            api_key: key,
            state_dir: Some(state_dir.clone()),
            current_dot: None,
            branches: Default::default(),
        },
    );
    ctx.cfg.current_remote = Some(a.remote_name.clone());
    ctx.save()?;
    ctx.call(|c| c.ping())
        .context("the daemon started but does not accept the new admin key")?;
    println!(
        "Node {} initialised: pool '{}', API on port {}, remote '{}' written to {}.",
        node.node_id,
        node.pool,
        node.api_port,
        a.remote_name,
        ctx.cfg_path.display()
    );
    println!("Next: `dm init NAME` to create a dot.");
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("12").is_err());
        assert!(parse_size("ten").is_err());
    }
}
