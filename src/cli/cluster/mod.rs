//! `dm cluster …`: set up a node (`init` a new cluster or `join` one), list nodes, take a node
//! out (`reset`) and restart its daemon on a new binary (`upgrade`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use crate::api;
use crate::client::{Client, Remote};
use crate::daemon::config::{self, NodeConfig};
use crate::daemon::launch;

mod setup;
mod status;

use setup::{init, join};
pub use status::{StatusArgs, status};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Set up this machine as a new cluster: ZFS pool, node daemon, admin user, client config
    Init(InitArgs),
    /// Add this machine to an existing cluster (run the command `dm cluster init` printed)
    Join(JoinArgs),
    /// Check this node and its cluster: ZFS, etcd, nodes, masters, replication, certificates,
    /// drivers (also `dm doctor`); exits 1 when something needs action
    Status(StatusArgs),
    /// List the cluster's nodes with their addresses and liveness
    Nodes(NodesArgs),
    /// Take this node out of its cluster and remove its dm state (ZFS data is kept)
    Reset(ResetArgs),
    /// Restart this node's daemon on the current `dm` binary, keeping state and mounts
    Upgrade(UpgradeArgs),
    /// Write this node's systemd units (dm.service, dm.socket) into a directory, to install by
    /// hand or by configuration management (`dm cluster init --systemd` installs them itself)
    Systemd(SystemdArgs),
    /// Make, list and revoke join tokens (`dm cluster join` needs one)
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a join token; it can add nodes to the cluster, nothing else, until it expires
    Create(TokenCreateArgs),
    /// List the live join tokens
    List(NodesArgs),
    /// Revoke a join token now
    Revoke {
        /// The token's id (the part after `dmjoin.`, as `dm cluster token list` shows it)
        id: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct TokenCreateArgs {
    /// How long the token is valid (e.g. 30m, 1h, 2d; at most 7d)
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    ttl: u64,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// Options of the node being set up, shared by `init` and `join`.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
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
    /// Peer port of this node's etcd (other nodes' etcd connect to it)
    #[arg(long, default_value_t = config::DEFAULT_ETCD_PEER_PORT)]
    etcd_peer_port: u16,
    /// Unix socket for the Docker volume plugin; its file name is the driver name
    #[arg(long, default_value = config::DEFAULT_PLUGIN_SOCKET, conflicts_with = "no_docker_plugin")]
    docker_plugin_socket: PathBuf,
    /// Do not serve the Docker volume plugin
    #[arg(long)]
    no_docker_plugin: bool,
    /// Kubelet's FlexVolume plugin directory (its --volume-plugin-dir): the daemon installs the
    /// `dotmesh.io~dm` driver there and keeps it current
    #[arg(long, default_value = crate::plugins::flexvolume::DEFAULT_PLUGIN_DIR, conflicts_with = "no_flexvolume")]
    flexvolume_dir: PathBuf,
    /// Do not install or serve the Kubernetes FlexVolume driver
    #[arg(long)]
    no_flexvolume: bool,
    /// Name of the client remote that points at this node
    #[arg(long, default_value = "local")]
    remote_name: String,
    /// Serve the API over TLS with a new self-signed certificate (clients pin its fingerprint)
    #[arg(long, conflicts_with = "tls_cert")]
    tls: bool,
    /// Serve the API over TLS with this certificate (PEM)
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// Private key (PKCS#8 PEM) of --tls-cert
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Seconds a receive waits for a sender that has gone quiet (a network partition) before it
    /// gives up and releases the branch
    #[arg(long, value_name = "SECS", default_value_t = config::DEFAULT_STREAM_IDLE_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    stream_idle_timeout: u64,
    /// Seconds what a reset or a branch delete removed is kept for `dm undo` before the space
    /// is reclaimed (0: resets keep nothing and cannot be undone)
    #[arg(long, value_name = "SECS", default_value_t = config::DEFAULT_UNDO_GRACE_SECS)]
    undo_grace: u64,
    /// Serve Prometheus metrics on this HOST:PORT alone instead of at /metrics on the API port
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_socket_addr)]
    metrics_addr: Option<String>,
    /// Dots whose names metrics may carry as labels (NS/DOT, NS/* or *; comma-separated);
    /// other dots' series carry only their filesystem id
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',', value_parser = parse_label_pattern)]
    metrics_dot_labels: Vec<String>,
    /// How the daemon writes its log
    #[arg(long, value_enum, default_value_t = crate::cli::LogFormat::Text)]
    log_format: crate::cli::LogFormat,
    /// Run the daemon under systemd: install dm.service (and dm.socket, which starts it on
    /// Docker's first call) into /etc/systemd/system and enable them
    #[arg(long)]
    systemd: bool,
}

fn parse_socket_addr(s: &str) -> Result<String, String> {
    s.parse::<std::net::SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| format!("{s:?} is not HOST:PORT with an IP address (e.g. 127.0.0.1:9607)"))
}

/// `*`, `NS/*` or `NS/DOT`, with names as dm allows them.
fn parse_label_pattern(s: &str) -> Result<String, String> {
    use crate::names::{Kind, validate};
    if s == "*" {
        return Ok(s.into());
    }
    let (ns, dot) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: write NS/DOT, NS/* or *"))?;
    validate(Kind::Namespace, ns).map_err(|e| e.to_string())?;
    if dot != "*" {
        validate(Kind::Dot, dot).map_err(|e| e.to_string())?;
    }
    Ok(s.into())
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Use these etcd endpoints (comma-separated) instead of running etcd
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// A node of the cluster: HOST[:PORT]
    address: String,
    /// File holding the join token (`-` for standard input); without it the token is read from
    /// DM_JOIN_TOKEN, else asked for. Make one with `dm cluster token create`.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Expected TLS certificate fingerprint of the cluster's node (when it serves TLS)
    #[arg(long, value_name = "SHA256")]
    fingerprint: Option<String>,
    /// Send the join token over plain HTTP to a node that does not serve TLS (only on a network
    /// you trust: anyone on it can read the token)
    #[arg(long)]
    insecure: bool,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(clap::Args, Debug)]
pub struct NodesArgs {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// State directory of the node [default: the current remote's, else /var/lib/dotmesh]
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Reset even if this node holds the only copy of uncommitted changes (they are lost)
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct SystemdArgs {
    /// Where to write the units
    #[arg(long, default_value = crate::daemon::systemd::UNIT_DIR)]
    dir: PathBuf,
    /// State directory of the node [default: the current remote's, else /var/lib/dotmesh]
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// State directory of the node [default: the current remote's, else /var/lib/dotmesh]
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

/// "30m" → seconds. Accepts s, m, h, d.
fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        Some('d') => (&t[..t.len() - 1], 86400),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("cannot read duration {s:?}; write it like 30m, 1h or 2d"))?;
    n.checked_mul(mult)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s:?} is not a usable duration"))
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
        Command::Join(a) => join(ctx, a),
        Command::Status(a) => status(ctx, a),
        Command::Nodes(a) => nodes(ctx, a),
        Command::Reset(a) => reset(ctx, a),
        Command::Upgrade(a) => upgrade(ctx, a),
        Command::Systemd(a) => systemd_units(ctx, a),
        Command::Token(t) => token(ctx, t),
    }
}

fn token(ctx: &mut super::Ctx, t: TokenCommand) -> anyhow::Result<()> {
    match t {
        TokenCommand::Create(a) => {
            let made = ctx.call(|c| c.create_token(a.ttl))?;
            if a.json {
                return super::print_json(&made);
            }
            println!("{}", made.token.unwrap_or_default());
            eprintln!(
                "Join token {} made; it can add nodes (`dm cluster join`) until it expires in {}.",
                made.id,
                human_secs(made.expires.saturating_sub(made.created))
            );
        }
        TokenCommand::List(a) => {
            let list = ctx.call(|c| c.tokens())?;
            if a.json {
                return super::print_json(&list);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            println!("{:<18} EXPIRES IN", "ID");
            for t in list {
                println!("{:<18} {}", t.id, human_secs(t.expires.saturating_sub(now)));
            }
        }
        TokenCommand::Revoke { id } => {
            ctx.call(|c| c.revoke_token(&id))?;
            println!("Join token {id} revoked.");
        }
    }
    Ok(())
}

fn human_secs(s: u64) -> String {
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn nodes(ctx: &mut super::Ctx, a: NodesArgs) -> anyhow::Result<()> {
    let list = ctx.call(|c| c.nodes())?;
    if a.json {
        return super::print_json(&list);
    }
    println!(
        "{:<18} {:<22} {:<9} {:<8} {:<6} MASTERS",
        "NODE", "ADDRESS", "VERSION", "STATUS", "ETCD"
    );
    for n in list {
        let addr = if n.api_port > 0 {
            format!("{}:{}", n.address, n.api_port)
        } else {
            n.address.clone()
        };
        println!(
            "{:<18} {:<22} {:<9} {:<8} {:<6} {}",
            n.id,
            addr,
            if n.version.is_empty() {
                "-"
            } else {
                &n.version
            },
            if n.alive { "up" } else { "down" },
            if n.etcd_member { "member" } else { "-" },
            n.masters
        );
    }
    Ok(())
}

/// The state dir a maintenance verb acts on.
fn node_state_dir(ctx: &super::Ctx, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = given {
        return absolute(d);
    }
    if let Ok((_, r)) = ctx.cfg.current()
        && let Some(d) = &r.state_dir
    {
        return Ok(d.clone());
    }
    Ok(PathBuf::from(config::DEFAULT_STATE_DIR))
}

fn reset(ctx: &mut super::Ctx, a: ResetArgs) -> anyhow::Result<()> {
    let state_dir = node_state_dir(ctx, a.state_dir.as_deref())?;
    let node = NodeConfig::load(&state_dir)?;
    let remote = local_remote(ctx, &state_dir);
    match &remote {
        Some(r) => {
            if launch::running_pid(&state_dir).is_none() {
                launch::start(&state_dir, Duration::from_secs(60))?;
            }
            let left = Client::new(r).leave(&api::LeaveRequest { force: a.force });
            match left {
                Ok(reply) => {
                    for b in &reply.discarded {
                        eprintln!("discarded the uncommitted changes of {b}");
                    }
                }
                Err(e) if a.force => eprintln!("warning: could not leave cleanly: {e}"),
                Err(e) => return Err(e.into()),
            }
        }
        None if !a.force => bail!(
            "no remote points at the node in {}, so its uncommitted data cannot be checked; pass --force to reset anyway",
            state_dir.display()
        ),
        None => {}
    }
    launch::stop(&state_dir, Duration::from_secs(30))?;
    if node.systemd {
        crate::daemon::systemd::uninstall()?;
    }
    // Its branches stay mounted with the pool; the bind goes only with nothing below it.
    if let Err(e) = crate::storage::propagation::unshare(&node.mount_dir) {
        eprintln!("warning: cannot unmount {}: {e}", node.mount_dir.display());
    }
    for f in ["node.toml", "mounts.json", "dm.pid"] {
        let _ = std::fs::remove_file(state_dir.join(f));
    }
    let _ = std::fs::remove_dir_all(state_dir.join("etcd"));
    let names: Vec<String> = ctx
        .cfg
        .remotes
        .iter()
        .filter(|(_, r)| r.state_dir.as_deref() == Some(state_dir.as_path()))
        .map(|(n, _)| n.clone())
        .collect();
    for n in &names {
        ctx.cfg.remotes.remove(n);
        if ctx.cfg.current_remote.as_deref() == Some(n.as_str()) {
            ctx.cfg.current_remote = None;
        }
    }
    ctx.save()?;
    println!(
        "Node {} reset: left the cluster and removed its state in {}.",
        node.node_id,
        state_dir.display()
    );
    println!(
        "The dots in ZFS pool '{}' were kept; `dm cluster init` on this pool adopts them again, `zpool destroy {}` removes them.",
        node.pool, node.pool
    );
    Ok(())
}

/// The configured remote for the node in `state_dir`.
fn local_remote(ctx: &super::Ctx, state_dir: &Path) -> Option<Remote> {
    ctx.cfg
        .remotes
        .values()
        .find(|r| r.state_dir.as_deref() == Some(state_dir))
        .cloned()
}

fn systemd_units(ctx: &mut super::Ctx, a: SystemdArgs) -> anyhow::Result<()> {
    use crate::daemon::systemd;
    let state_dir = node_state_dir(ctx, a.state_dir.as_deref())?;
    let node = NodeConfig::load(&state_dir)?;
    let exe = std::env::current_exe()?;
    let units = systemd::units(&node, &state_dir, &exe)?;
    systemd::write(&a.dir, &units)?;
    let names = systemd::names(&units);
    for n in &names {
        println!("Wrote {}", a.dir.join(n).display());
    }
    println!(
        "To run the node under systemd: stop its daemon (`kill $(cat {})`), set `systemd = true` in {}, then `systemctl daemon-reload && systemctl enable --now {}`.",
        config::pid_file(&state_dir).display(),
        config::node_file(&state_dir).display(),
        names.iter().rev().copied().collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

fn upgrade(ctx: &mut super::Ctx, a: UpgradeArgs) -> anyhow::Result<()> {
    let state_dir = node_state_dir(ctx, a.state_dir.as_deref())?;
    NodeConfig::load(&state_dir)?;
    let old = launch::running_pid(&state_dir);
    launch::stop(&state_dir, Duration::from_secs(30))?;
    let pid = launch::start(&state_dir, Duration::from_secs(60))?;
    let version = match local_remote(ctx, &state_dir) {
        Some(r) => Client::new(&r).ping()?.version,
        None => env!("CARGO_PKG_VERSION").to_string(),
    };
    match old {
        Some(o) => println!("Daemon restarted on dm {version} (pid {o} → {pid}); mounts kept."),
        None => println!("Daemon was not running; started dm {version} (pid {pid})."),
    }
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
    use super::{parse_label_pattern, parse_size, parse_socket_addr};

    #[test]
    fn metrics_options_take_what_they_say_and_name_the_form_otherwise() {
        for ok in ["*", "alice/*", "alice/db"] {
            assert_eq!(parse_label_pattern(ok).unwrap(), ok);
        }
        for bad in ["db", "alice/", "a b/db", "alice/d.b", "*/db"] {
            assert!(parse_label_pattern(bad).is_err(), "{bad}");
        }
        assert!(parse_label_pattern("db").unwrap_err().contains("NS/DOT"));
        assert_eq!(
            parse_socket_addr("127.0.0.1:9607").unwrap(),
            "127.0.0.1:9607"
        );
        assert!(
            parse_socket_addr("localhost")
                .unwrap_err()
                .contains("HOST:PORT")
        );
    }

    #[test]
    fn the_printed_join_line_carries_what_a_join_needs() {
        assert_eq!(
            super::setup::join_line("127.0.0.1", 32607, None),
            "dm cluster join 127.0.0.1:32607"
        );
        assert_eq!(
            super::setup::join_line("10.0.0.1", 1, Some("SHA256:ab")),
            "dm cluster join 10.0.0.1:1 --fingerprint SHA256:ab"
        );
        assert!(
            super::setup::join_line("10.0.0.1", 1, None)
                .starts_with("dm cluster join 10.0.0.1:1 --insecure ")
        );
    }

    #[test]
    fn parses_durations() {
        assert_eq!(super::parse_duration("30m"), Ok(1800));
        assert_eq!(super::parse_duration("1h"), Ok(3600));
        assert_eq!(super::parse_duration("2d"), Ok(172800));
        assert!(super::parse_duration("0h").is_err());
        assert!(super::parse_duration("soon").is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("12").is_err());
        assert!(parse_size("ten").is_err());
    }
}
