//! Setting a node up: the pool, the node's config and TLS material, starting its daemon, and
//! the `init` and `join` flows built from them.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::*;
use crate::api;
use crate::client::{Client, ClientError, Remote};
use crate::daemon::config::{self, NodeConfig};
use crate::daemon::{hash_key, launch, new_api_key, new_id};
use crate::zfs::{self, Pool};

/// A node config for `a`, its pool created if needed; returns the pool dm created, if any.
pub(super) fn prepare(
    a: &NodeArgs,
    admin_key_sha256: String,
) -> anyhow::Result<(NodeConfig, Option<(Pool, PathBuf)>)> {
    let state_dir = absolute(&a.state_dir)?;
    if config::node_file(&state_dir).exists() {
        bail!(
            "this node is already initialised (state in {}); nothing changed. `dm cluster reset` removes it",
            state_dir.display()
        );
    }
    if a.systemd && !crate::daemon::systemd::running() {
        return Err(crate::daemon::systemd::SystemdError::NotRunning.into());
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
            crate::cli::human_bytes(a.pool_size)
        );
        let pool = Pool::create_on_file(&a.pool, &file, a.pool_size, None)
            .with_context(|| format!("cannot create pool '{}'", a.pool))?;
        created_pool = Some((pool, file));
    }
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
        advertise,
        api_port: a.port,
        etcd_client_port: a.etcd_client_port,
        etcd_peer_port: a.etcd_peer_port,
        etcd_endpoints: Vec::new(),
        admin_key_sha256,
        local_admin_key_sha256: None,
        cluster_secret: new_id(),
        etcd_initial_cluster: None,
        etcd_open: false,
        tls_cert: None,
        tls_key: None,
        docker_plugin_socket: (!a.no_docker_plugin).then(|| a.docker_plugin_socket.clone()),
        flexvolume_dir: (!a.no_flexvolume).then(|| a.flexvolume_dir.clone()),
        docker_api_socket: PathBuf::from("/var/run/docker.sock"),
        stream_idle_secs: a.stream_idle_timeout,
        undo_grace_secs: a.undo_grace,
        metrics_addr: a.metrics_addr.clone(),
        metrics_dot_labels: a.metrics_dot_labels.clone(),
        log_format: a.log_format,
        systemd: a.systemd,
    };
    let mut node = node;
    setup_tls(a, &state_dir, &mut node)?;
    Ok((node, created_pool))
}

/// Points the node at its TLS certificate: the one given, or a new self-signed one naming the
/// advertised address and this machine.
pub(super) fn setup_tls(
    a: &NodeArgs,
    state_dir: &Path,
    node: &mut NodeConfig,
) -> anyhow::Result<()> {
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        let pem =
            std::fs::read_to_string(c).with_context(|| format!("cannot read {}", c.display()))?;
        crate::tls::fingerprint(&pem)
            .with_context(|| format!("{} is not a PEM certificate", c.display()))?;
        node.tls_cert = Some(absolute(c)?);
        node.tls_key = Some(absolute(k)?);
    } else if a.tls {
        let mut hosts = vec![node.host().to_string(), "localhost".to_string()];
        if node.host() != "127.0.0.1" {
            hosts.push("127.0.0.1".into());
        }
        let (cert, key) = crate::tls::self_signed(&hosts)?;
        let dir = state_dir.join("tls");
        std::fs::create_dir_all(&dir)?;
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert)?;
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)?
            .write_all(key.as_bytes())?;
        node.tls_cert = Some(cert_path);
        node.tls_key = Some(key_path);
    }
    Ok(())
}

/// The node's certificate (PEM), if it serves TLS.
pub(super) fn node_cert(node: &NodeConfig) -> anyhow::Result<Option<String>> {
    node.tls_cert
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()
}

/// Saves the config, starts the daemon and points the client at it; undoes everything on failure.
pub(super) fn start_node(
    ctx: &mut crate::cli::Ctx,
    a: &NodeArgs,
    node: &NodeConfig,
    created_pool: Option<(Pool, PathBuf)>,
    admin_key: &str,
) -> anyhow::Result<()> {
    let state_dir = absolute(&a.state_dir)?;
    node.save(&state_dir)?;
    let started = if node.systemd {
        eprintln!(
            "Installing and starting {} under systemd (log: `journalctl -u dm`)",
            crate::daemon::systemd::SERVICE_UNIT
        );
        std::env::current_exe()
            .map_err(anyhow::Error::from)
            .and_then(|exe| Ok(crate::daemon::systemd::install(node, &state_dir, &exe)?))
            .and_then(|()| Ok(launch::start(&state_dir, Duration::from_secs(60))?))
    } else {
        eprintln!(
            "Starting the dm daemon (log: {})",
            config::log_file(&state_dir).display()
        );
        Ok(launch::start(&state_dir, Duration::from_secs(60))?)
    };
    if let Err(e) = started {
        // Leave nothing half-done, so the command can simply be run again.
        if node.systemd {
            let _ = crate::daemon::systemd::uninstall();
        }
        let _ = std::fs::remove_file(config::node_file(&state_dir));
        let _ = std::fs::remove_dir_all(state_dir.join("etcd"));
        if let Some((pool, file)) = created_pool {
            match pool.destroy() {
                Ok(()) => {
                    let _ = std::fs::remove_file(file);
                }
                Err(d) => eprintln!("warning: could not remove the new pool: {d}"),
            }
        }
        return Err(e);
    }
    ctx.cfg.remotes.insert(
        a.remote_name.clone(),
        Remote {
            state_dir: Some(state_dir.clone()),
            tls_cert: node_cert(node)?,
            ..Remote::new("admin", node.host(), a.port, admin_key)
        },
    );
    ctx.cfg.current_remote = Some(a.remote_name.clone());
    ctx.save()?;
    ctx.call(|c| c.ping())
        .context("the daemon started but does not accept the admin key")?;
    Ok(())
}

pub(super) fn init(ctx: &mut crate::cli::Ctx, a: InitArgs) -> anyhow::Result<()> {
    let key = new_api_key();
    let (mut node, created_pool) = prepare(&a.node, hash_key(&key))?;
    node.etcd_endpoints = a.etcd_endpoints.clone();
    start_node(ctx, &a.node, &node, created_pool, &key)?;
    println!(
        "Node {} initialised: pool '{}', API on port {}, remote '{}' written to {}.",
        node.node_id,
        node.pool,
        node.api_port,
        a.node.remote_name,
        ctx.cfg_path.display()
    );
    println!("Next: `dm init NAME` to create a dot.");
    if let Some(pem) = node_cert(&node)? {
        println!(
            "The API serves TLS; certificate fingerprint: {}",
            crate::tls::fingerprint(&pem)?
        );
    }
    if node.etcd_endpoints.is_empty() {
        let t = ctx.call(|c| c.create_token(24 * 3600))?;
        let fingerprint = node_cert(&node)?
            .map(|pem| crate::tls::fingerprint(&pem))
            .transpose()?;
        println!("To add another machine to this cluster, run there:");
        println!(
            "  {}",
            join_line(node.host(), node.api_port, fingerprint.as_deref())
        );
        println!(
            "and give it this join token when asked (or in DM_JOIN_TOKEN, or a file named by --token-file). It can only add nodes, and expires in 24 h; `dm cluster token create` makes more:"
        );
        println!("  {}", t.token.unwrap_or_default());
    }
    Ok(())
}

/// The join token: DM_JOIN_TOKEN, else the file, else asked for.
pub(super) fn join_token(a: &JoinArgs) -> anyhow::Result<String> {
    if a.token_file.is_none()
        && let Ok(t) = std::env::var("DM_JOIN_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    crate::cli::read_secret(
        a.token_file.as_deref(),
        "Join token (from `dm cluster token create` on the cluster)",
        "no terminal to ask for the join token on; set DM_JOIN_TOKEN or pass --token-file FILE (or - for standard input)",
    )
}

/// The join command `dm cluster init` prints, complete: with the certificate's fingerprint
/// over TLS; over plain HTTP to an address that is not loopback, with `--insecure`, which the
/// token needs to travel in clear (and a reminder of what that means).
pub(super) fn join_line(host: &str, port: u16, fingerprint: Option<&str>) -> String {
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match fingerprint {
        Some(f) => format!("dm cluster join {host}:{port} --fingerprint {f}"),
        None if loopback => format!("dm cluster join {host}:{port}"),
        None => format!(
            "dm cluster join {host}:{port} --insecure    # plain HTTP: the token crosses the network in clear; `dm cluster init --tls` avoids that"
        ),
    }
}

pub(super) fn join(ctx: &mut crate::cli::Ctx, a: JoinArgs) -> anyhow::Result<()> {
    let (host, port) = match a.address.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .with_context(|| format!("bad port in {:?}; write HOST[:PORT]", a.address))?,
        ),
        None => (a.address.clone(), config::DEFAULT_API_PORT),
    };
    let token = join_token(&a)?;
    let remote = Remote {
        tls_cert: crate::cli::remote::trust(&host, port, a.fingerprint.as_deref())?,
        insecure: a.insecure,
        ..Remote::new(crate::daemon::JOIN_USER, &host, port, &token)
    };
    let cluster = Client::new(&remote);
    // This machine's own client gets an admin key of its own, valid on this node only.
    let local_key = new_api_key();
    let (mut node, created_pool) = prepare(&a.node, hash_key(&local_key))?;
    let step = crate::cli::progress::Step::start(&format!(
        "Joining the cluster at {} (adding this node to its etcd)",
        a.address
    ));
    let joined = cluster.join(&api::JoinRequest {
        node_id: node.node_id.clone(),
        peer_url: node.etcd_peer_url(),
    });
    step.done(if joined.is_ok() {
        "Added to the cluster's etcd"
    } else {
        "The cluster did not add this node"
    });
    let reply = match joined {
        Ok(r) => r,
        Err(e) => {
            if let Some((pool, file)) = created_pool
                && pool.destroy().is_ok()
            {
                let _ = std::fs::remove_file(file);
            }
            let hint = match &e {
                ClientError::Api { status: 401, .. } => {
                    " (check the join token: `dm cluster token list` there)"
                }
                _ => "",
            };
            return Err(anyhow::Error::new(e).context(format!(
                "the cluster at {} did not add this node{hint}",
                a.address
            )));
        }
    };
    node.etcd_initial_cluster = Some(reply.initial_cluster);
    node.etcd_open = true;
    node.cluster_secret = reply.cluster_secret;
    node.local_admin_key_sha256 = Some(std::mem::replace(
        &mut node.admin_key_sha256,
        reply.admin_key_sha256,
    ));
    crate::daemon::pki::Files::new(&absolute(&a.node.state_dir)?)
        .write_ca(&reply.etcd_ca_cert, &reply.etcd_ca_key)?;
    start_node(ctx, &a.node, &node, created_pool, &local_key).context(
        "this node was added to the cluster's etcd but could not start; fix the cause and run `dm cluster join` again",
    )?;
    println!(
        "Node {} joined the cluster at {} (pool '{}', API on port {}); remote '{}' points at it.",
        node.node_id, a.address, node.pool, node.api_port, a.node.remote_name
    );
    catch_up(ctx)
}

/// How long catching up may make no progress before `join` stops waiting (a branch whose
/// master is down cannot be had until it is back).
const STALLED: Duration = Duration::from_secs(60);

/// Waits while the new node receives every commit of every dot, showing how far it is.
fn catch_up(ctx: &crate::cli::Ctx) -> anyhow::Result<()> {
    let mut step = crate::cli::progress::Step::start("Catching up on every dot");
    let mut last = None;
    let mut moved = std::time::Instant::now();
    loop {
        let r = ctx.call(|c| c.replication())?;
        let now = (r.caught_up, r.commits_missing);
        if r.caught_up == r.branches {
            step.done(&format!(
                "Caught up: every commit of the {} branch(es) other nodes master is here",
                r.branches
            ));
            return Ok(());
        }
        if last != Some(now) {
            last = Some(now);
            moved = std::time::Instant::now();
        }
        if moved.elapsed() > STALLED {
            step.done(&format!(
                "Still catching up on {} branch(es) ({} commits) in the background; `dm cluster status` shows how far (their master may be down)",
                r.branches - r.caught_up,
                r.commits_missing
            ));
            return Ok(());
        }
        step.update(&format!(
            "Catching up: {} of {} branch(es) complete, {} commit(s) to go",
            r.caught_up, r.branches, r.commits_missing
        ));
        std::thread::sleep(Duration::from_millis(500));
    }
}
