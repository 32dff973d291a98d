//! What an operator asks first, answered by the node: `GET /v1/status` (`dm cluster status`)
//! checks ZFS, etcd, the nodes, branches whose master is down, replication, certificates and
//! the volume drivers, each in one line that says what to do; `/metrics` ([`Daemon::scrape`])
//! measures the same states for Prometheus. Both read the same [`Survey`], so the two never
//! disagree about what a branch's lag is.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Daemon;
use crate::api::{self, Check, CheckState, NodeStatus};
use crate::cluster::{BranchRecord, DotRecord, FsId, NodeId};
use crate::metrics::Scrape;
use crate::storage::Ds;

/// A pool this full warns, and this full fails (ZFS slows down badly near full).
const POOL_WARN: f64 = 0.80;
const POOL_FAIL: f64 = 0.95;
/// How long one gathering of the metrics answers scrapes.
const SCRAPE_REUSE: Duration = Duration::from_secs(2);
/// A replica this far behind (seconds) warns.
const LAG_WARN: u64 = 60;
/// A certificate this close to expiry warns, and this close fails.
const CERT_WARN: Duration = Duration::from_secs(30 * 24 * 3600);
const CERT_FAIL: Duration = Duration::from_secs(7 * 24 * 3600);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One branch as the registry and this node see it.
struct Branch {
    dot: DotRecord,
    record: BranchRecord,
    master: Option<NodeId>,
    /// Seconds this node's copy is behind (since the oldest commit it lacks); replicas only.
    lag: Option<u64>,
    /// Commits this node's replica lacks.
    missing: usize,
}

impl Branch {
    fn label(&self) -> String {
        format!(
            "{}/{}@{}",
            self.dot.namespace, self.dot.name, self.record.name
        )
    }
}

/// The registry's branches, which nodes are alive, and what this node holds: read once for
/// a status or a scrape.
struct Survey {
    branches: Vec<Branch>,
    nodes: Vec<api::NodeInfo>,
}

impl Survey {
    /// Whether node `id` is registered as up.
    fn alive(&self, id: &str) -> bool {
        self.nodes.iter().any(|n| n.alive && n.id.as_str() == id)
    }
}

impl Daemon {
    fn survey(&self) -> Result<Survey, super::DaemonError> {
        let core = &self.node.core;
        // What the replicator reads for a full sweep: the registry's branches and commits,
        // and this node's snapshots.
        let cat = super::replicate::Catalog::load(core, true)?;
        let masters = core.store().all_masters()?;
        let now = unix_now();
        let mut branches: Vec<Branch> = cat
            .branches
            .values()
            .map(|(dot, record)| {
                let master = masters.get(&record.fs_id).cloned();
                let replica = master.as_ref().is_some_and(|m| *m != core.id);
                let have: HashSet<&str> = cat
                    .local
                    .get(&record.fs_id)
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                let lacking: Vec<u64> = cat
                    .commits
                    .get(&record.fs_id)
                    .into_iter()
                    .flatten()
                    .filter(|c| !have.contains(c.id.as_str()))
                    .map(|c| now.saturating_sub(c.time))
                    .collect();
                Branch {
                    dot: dot.clone(),
                    record: record.clone(),
                    master,
                    lag: replica.then(|| lacking.iter().copied().max().unwrap_or(0)),
                    missing: if replica { lacking.len() } else { 0 },
                }
            })
            .collect();
        branches.sort_by_key(Branch::label);
        Ok(Survey {
            branches,
            nodes: self.nodes()?,
        })
    }

    /// Whether the metrics may name this dot (`metrics_dot_labels`: `ns/dot`, `ns/*` or `*`).
    fn may_label(&self, dot: &DotRecord) -> bool {
        self.cfg.metrics_dot_labels.iter().any(|p| {
            p == "*"
                || *p == format!("{}/{}", dot.namespace, dot.name)
                || p.strip_suffix("/*") == Some(dot.namespace.as_str())
        })
    }

    /// The metrics text for a scrape: gathered at most once per [`SCRAPE_REUSE`], by one
    /// scrape at a time (the others wait for it and share its answer).
    pub fn scrape(&self) -> String {
        let mut last = self.scraped.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, text)) = last.as_ref()
            && at.elapsed() < SCRAPE_REUSE
        {
            return text.clone();
        }
        let text = self.gather();
        *last = Some((std::time::Instant::now(), text.clone()));
        text
    }

    /// The process' counters, and gauges measured now.
    fn gather(&self) -> String {
        let mut s = Scrape::default();
        s.gauge(
            "dm_build_info",
            "The running dm's version (always 1).",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        self.pool_gauges(&mut s);
        s.gauge(
            "dm_container_mounts",
            "Containers' mounts of branches on this node (Docker and Kubernetes).",
            &[],
            self.node.core.mounts.find(|_| true).len() as f64,
        );
        let survey = self.survey();
        s.gauge(
            "dm_etcd_up",
            "Whether etcd answered this scrape's registry reads.",
            &[],
            if survey.is_ok() { 1.0 } else { 0.0 },
        );
        match survey {
            Ok(survey) => self.branch_gauges(&mut s, &survey),
            Err(e) => tracing::warn!(error = %e, "metrics without the registry"),
        }
        s.render()
    }

    fn pool_gauges(&self, s: &mut Scrape) {
        let Ok(Some(pool)) = crate::zfs::Pool::open(&self.cfg.pool) else {
            s.gauge(
                "dm_pool_up",
                "Whether the ZFS pool is imported and ONLINE.",
                &[],
                0.0,
            );
            return;
        };
        let online = pool.health().is_ok_and(|h| h == "ONLINE");
        s.gauge(
            "dm_pool_up",
            "Whether the ZFS pool is imported and ONLINE.",
            &[],
            if online { 1.0 } else { 0.0 },
        );
        if let Ok((used, free)) = pool.space() {
            s.gauge(
                "dm_pool_used_bytes",
                "Bytes used in the ZFS pool.",
                &[],
                used as f64,
            );
            s.gauge(
                "dm_pool_free_bytes",
                "Bytes still available in the ZFS pool.",
                &[],
                free as f64,
            );
        }
    }

    fn branch_gauges(&self, s: &mut Scrape, survey: &Survey) {
        let core = &self.node.core;
        let mine: Vec<FsId> = survey
            .branches
            .iter()
            .filter(|b| b.master.as_ref() == Some(&core.id))
            .map(|b| b.record.fs_id.clone())
            .collect();
        let sizes = core.storage.sizes(Some(&mine)).unwrap_or_default();
        let mut mounted = 0;
        for b in &survey.branches {
            let named = self.may_label(&b.dot);
            let dot = format!("{}/{}", b.dot.namespace, b.dot.name);
            let labels = [
                ("fs", b.record.fs_id.as_str()),
                ("dot", if named { dot.as_str() } else { "" }),
                ("branch", if named { b.record.name.as_str() } else { "" }),
            ];
            if let Some(lag) = b.lag {
                s.gauge(
                    "dm_replication_lag_seconds",
                    "How far this node's replica is behind: the age of the oldest commit it lacks (0 when it has them all).",
                    &labels,
                    lag as f64,
                );
            }
            if let Some((_, uncommitted)) = sizes.get(&b.record.fs_id) {
                s.gauge(
                    "dm_branch_uncommitted_bytes",
                    "Bytes written to a branch this node masters since its newest commit.",
                    &labels,
                    *uncommitted as f64,
                );
                if core
                    .storage
                    .is_mounted(Ds::Branch(&b.record.fs_id))
                    .unwrap_or(false)
                {
                    mounted += 1;
                }
            }
        }
        s.gauge(
            "dm_mounted_branches",
            "Branch filesystems mounted on this node.",
            &[],
            mounted as f64,
        );
        for n in &survey.nodes {
            s.gauge(
                "dm_peer_up",
                "Whether a node of the cluster is alive (its registration in etcd is current).",
                &[("node", n.id.as_str())],
                if n.alive { 1.0 } else { 0.0 },
            );
        }
        let masterless = survey
            .branches
            .iter()
            .filter(|b| b.master.as_ref().is_some_and(|m| !survey.alive(m)))
            .count();
        s.gauge(
            "dm_branches_master_down",
            "Branches whose master node is down: nobody can write them until it is back.",
            &[],
            masterless as f64,
        );
    }

    /// How far this node is from holding every commit of the branches others master (what
    /// `dm cluster join` shows while the new node catches up).
    pub fn replication(&self) -> Result<api::Replication, super::DaemonError> {
        let survey = self.survey()?;
        let replicas: Vec<&Branch> = survey.branches.iter().filter(|b| b.lag.is_some()).collect();
        Ok(api::Replication {
            branches: replicas.len(),
            caught_up: replicas.iter().filter(|b| b.missing == 0).count(),
            commits_missing: replicas.iter().map(|b| b.missing).sum(),
            lag_seconds: replicas.iter().filter_map(|b| b.lag).max().unwrap_or(0),
        })
    }

    /// Every check of `dm cluster status`, worst first within the fixed order.
    pub fn status(&self) -> NodeStatus {
        let mut checks = vec![self.check_zfs(), self.check_etcd()];
        match self.survey() {
            Ok(survey) => {
                checks.push(Self::check_nodes(&survey));
                checks.push(check_masters(&survey));
                checks.push(check_replication(&survey));
            }
            Err(e) => checks.push(fail(
                "registry",
                format!("cannot read the registry from etcd: {e}; see the etcd check above"),
            )),
        }
        checks.push(self.check_mounts());
        checks.push(self.check_certificates());
        checks.push(self.check_docker());
        checks.push(self.check_flexvolume());
        NodeStatus {
            node: self.node.core.id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            checks,
        }
    }

    fn check_zfs(&self) -> Check {
        let pool = match crate::zfs::Pool::open(&self.cfg.pool) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return fail(
                    "zfs",
                    format!(
                        "pool '{}' is not imported; `zpool import {}`, then restart dm",
                        self.cfg.pool, self.cfg.pool
                    ),
                );
            }
            Err(e) => {
                return fail(
                    "zfs",
                    format!("ZFS does not answer: {e}; start zfs-fuse or load the zfs module"),
                );
            }
        };
        let health = pool.health().unwrap_or_else(|e| format!("unknown ({e})"));
        let (used, free) = match pool.space() {
            Ok(s) => s,
            Err(e) => return fail("zfs", format!("cannot read the pool's space: {e}")),
        };
        let full = used as f64 / (used + free).max(1) as f64;
        let summary = format!(
            "pool '{}' {health}, {:.0}% full ({} free)",
            self.cfg.pool,
            full * 100.0,
            crate::cli::human_bytes(free)
        );
        if health != "ONLINE" {
            fail(
                "zfs",
                format!("{summary}; `zpool status -v {}` says why", self.cfg.pool),
            )
        } else if full >= POOL_FAIL {
            fail(
                "zfs",
                format!("{summary}; free space now: `dm prune`, delete dots, or grow the pool"),
            )
        } else if full >= POOL_WARN {
            warn(
                "zfs",
                format!("{summary}; plan for space: `dm prune` old commits or grow the pool"),
            )
        } else {
            ok("zfs", summary)
        }
    }

    fn check_etcd(&self) -> Check {
        let endpoints: Vec<(String, String)> = if self.cfg.etcd_endpoints.is_empty() {
            match self.kv.members() {
                Ok(ms) => ms
                    .into_iter()
                    .map(|m| {
                        let url = m.client_urls.first().cloned().unwrap_or_default();
                        let name = if m.name.is_empty() {
                            "(not started)".to_string()
                        } else {
                            m.name
                        };
                        (name, url)
                    })
                    .collect(),
                Err(e) => {
                    return fail(
                        "etcd",
                        format!("etcd does not answer: {e}; see {}", self.etcd_log()),
                    );
                }
            }
        } else {
            self.cfg
                .etcd_endpoints
                .iter()
                .map(|e| (e.clone(), e.clone()))
                .collect()
        };
        let mut details = Vec::new();
        let mut bad = 0;
        for (name, url) in &endpoints {
            match self.kv.probe(url, self.etcd_tls.as_ref()) {
                Ok((rtt, true)) => {
                    details.push(format!("{name} {url}: ok, {} ms", rtt.as_millis()))
                }
                Ok((_, false)) => {
                    bad += 1;
                    details.push(format!("{name} {url}: answers but knows no leader"));
                }
                Err(e) => {
                    bad += 1;
                    details.push(format!("{name} {url}: does not answer ({e})"));
                }
            }
        }
        let n = endpoints.len();
        let c = if bad == 0 {
            ok("etcd", format!("healthy: {n} of {n} members answer"))
        } else if bad * 2 < n {
            warn(
                "etcd",
                format!(
                    "{bad} of {n} members do not answer; the cluster works while a majority does — bring them back or remove them (`dm cluster reset` on that node)"
                ),
            )
        } else {
            fail(
                "etcd",
                format!(
                    "{bad} of {n} members do not answer: no majority, nothing can change; bring members back"
                ),
            )
        };
        listing(c, details)
    }

    fn etcd_log(&self) -> String {
        super::etcd::log_path(&self.state_dir).display().to_string()
    }

    fn check_nodes(survey: &Survey) -> Check {
        let nodes = &survey.nodes;
        let down: Vec<String> = nodes
            .iter()
            .filter(|n| !n.alive)
            .map(|n| format!("{} ({}) is down", n.id, n.address))
            .collect();
        let n = nodes.len();
        if down.is_empty() {
            ok("nodes", format!("{n} of {n} nodes up"))
        } else {
            let summary = format!(
                "{} of {n} nodes down; start dm there (`dm cluster upgrade` restarts it), or remove a node for good with `dm cluster reset` on it",
                down.len()
            );
            listing(fail("nodes", summary), down)
        }
    }

    fn check_certificates(&self) -> Check {
        // (what, file, how to renew it)
        let mut files: Vec<(&str, std::path::PathBuf, String)> = Vec::new();
        if let (Some(c), Some(k)) = (&self.cfg.tls_cert, &self.cfg.tls_key) {
            files.push((
                "API",
                c.clone(),
                format!(
                    "put a new certificate and key in {} and {}, run `dm cluster upgrade`, and have clients trust it again (`dm remote add … --fingerprint`)",
                    c.display(),
                    k.display()
                ),
            ));
        }
        if self.cfg.etcd_endpoints.is_empty() {
            let pki = super::pki::Files::new(&self.state_dir);
            files.push((
                "etcd CA",
                pki.ca(),
                "every node's etcd certificate comes from this CA; make the cluster anew".into(),
            ));
            files.push((
                "etcd node",
                pki.cert(),
                format!(
                    "remove {} and {}, then `dm cluster upgrade`: the daemon makes a new one from the cluster's CA",
                    pki.cert().display(),
                    pki.key().display()
                ),
            ));
        }
        if files.is_empty() {
            return ok("certificates", "no certificates in use".to_string());
        }
        let mut worst = (CheckState::Ok, i64::MAX, String::new());
        let mut details = Vec::new();
        for (what, path, renew) in &files {
            let (state, secs, said) = match expires_in(path) {
                Ok(secs) if secs < CERT_FAIL.as_secs() as i64 => {
                    (CheckState::Fail, secs, days(secs))
                }
                Ok(secs) if secs < CERT_WARN.as_secs() as i64 => {
                    (CheckState::Warn, secs, days(secs))
                }
                Ok(secs) => (CheckState::Ok, secs, days(secs)),
                Err(e) => (CheckState::Fail, i64::MIN, e),
            };
            let line = format!("{what} ({}): {said}", path.display());
            use std::cmp::Reverse;
            if (state, Reverse(secs)) > (worst.0, Reverse(worst.1)) {
                worst = if state == CheckState::Ok {
                    (
                        state,
                        secs,
                        format!("{} valid; the first to expire: {line}", files.len()),
                    )
                } else {
                    (state, secs, format!("{line}; {renew}"))
                };
            }
            details.push(line);
        }
        Check {
            name: "certificates".into(),
            state: worst.0,
            summary: worst.2,
            details,
        }
    }

    fn check_docker(&self) -> Check {
        let Some(sock) = &self.cfg.docker_plugin_socket else {
            return ok("docker-plugin", "disabled (--no-docker-plugin)".into());
        };
        let driver = self.cfg.docker_driver().unwrap_or_default();
        if !is_socket(sock) {
            return fail(
                "docker-plugin",
                format!(
                    "driver '{driver}': {} is missing; restart the daemon (`dm cluster upgrade`) to serve it again",
                    sock.display()
                ),
            );
        }
        if !is_socket(&self.cfg.docker_api_socket) {
            return warn(
                "docker-plugin",
                format!(
                    "driver '{driver}' served on {}, but Docker is not running ({} is missing): start it, or on a machine without Docker set docker_plugin_socket = \"\" in {}",
                    sock.display(),
                    self.cfg.docker_api_socket.display(),
                    super::config::node_file(&self.state_dir).display()
                ),
            );
        }
        ok(
            "docker-plugin",
            format!("driver '{driver}' served on {}", sock.display()),
        )
    }

    fn check_mounts(&self) -> Check {
        let dir = &self.cfg.mount_dir;
        match crate::storage::propagation::is_shared(dir) {
            Ok(true) => ok(
                "mounts",
                format!(
                    "{} is a shared mount: containers starting elsewhere let go of branches unmounted here",
                    dir.display()
                ),
            ),
            Ok(false) => warn(
                "mounts",
                format!(
                    "{} is not a shared mount, so a container starting anywhere on this machine holds every branch's mount for a moment, and an unmount, reset or delete then may meet 'busy'. The daemon shares it when it starts with no branch mounted (after a reboot, or `zfs unmount` of the pool's dmfs filesystems while dm is stopped)",
                    dir.display()
                ),
            ),
            Err(e) => fail("mounts", format!("cannot read {}: {e}", dir.display())),
        }
    }

    fn check_flexvolume(&self) -> Check {
        use crate::plugins::flexvolume::{DRIVER_DIR, DRIVER_FILE};
        let Some(dir) = &self.cfg.flexvolume_dir else {
            return ok("flexvolume", "disabled (--no-flexvolume)".into());
        };
        let driver = dir.join(DRIVER_DIR).join(DRIVER_FILE);
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::metadata(&driver) {
            Ok(m) if m.permissions().mode() & 0o111 != 0 => ok(
                "flexvolume",
                format!("driver dotmesh.io~dm installed at {}", driver.display()),
            ),
            _ => fail(
                "flexvolume",
                format!(
                    "driver dotmesh.io~dm is not installed at {}; restart the daemon (`dm cluster upgrade`) to install it",
                    driver.display()
                ),
            ),
        }
    }
}

fn check_masters(survey: &Survey) -> Check {
    let down: Vec<String> = survey
        .branches
        .iter()
        .filter_map(|b| {
            let m = b.master.as_ref()?;
            (!survey.alive(m)).then(|| format!("{} on node {m}", b.label()))
        })
        .collect();
    if down.is_empty() {
        return ok(
            "masters",
            format!(
                "every branch's master is up ({} branch(es))",
                survey.branches.len()
            ),
        );
    }
    let summary = format!(
        "{} branch(es) have their master on a node that is down: nobody can write them until it is back",
        down.len()
    );
    listing(fail("masters", summary), down)
}

fn check_replication(survey: &Survey) -> Check {
    let replicas: Vec<&Branch> = survey.branches.iter().filter(|b| b.lag.is_some()).collect();
    let behind: Vec<(&Branch, u64)> = replicas
        .iter()
        .filter_map(|b| b.lag.filter(|l| *l > 0).map(|l| (*b, l)))
        .collect();
    let worst = behind.iter().map(|(_, l)| *l).max().unwrap_or(0);
    let c = if replicas.is_empty() {
        ok(
            "replication",
            "nothing to copy: no other node masters a branch".into(),
        )
    } else if behind.is_empty() {
        ok(
            "replication",
            format!(
                "this node has every commit of the {} branch(es) other nodes master",
                replicas.len()
            ),
        )
    } else if worst < LAG_WARN {
        ok(
            "replication",
            format!(
                "catching up: {} branches, at most {worst} s behind",
                behind.len()
            ),
        )
    } else {
        warn(
            "replication",
            format!(
                "{} branches behind, the worst by {worst} s; check that their masters are up and reachable on the API port",
                behind.len()
            ),
        )
    };
    let details = behind
        .iter()
        .map(|(b, l)| format!("{} is {l} s behind", b.label()))
        .collect();
    listing(c, details)
}

/// `c` with the items behind its summary.
fn listing(mut c: Check, details: Vec<String>) -> Check {
    c.details = details;
    c
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// Seconds until the PEM certificate at `path` expires (negative: expired).
fn expires_in(path: &Path) -> Result<i64, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(cert.validity().not_after.timestamp() - unix_now() as i64)
}

fn days(secs: i64) -> String {
    if secs < 0 {
        format!("EXPIRED {} days ago", -secs / 86400)
    } else {
        format!("expires in {} days", secs / 86400)
    }
}

fn check(name: &str, state: CheckState, summary: String) -> Check {
    Check {
        name: name.into(),
        state,
        summary,
        details: Vec::new(),
    }
}

fn ok(name: &str, summary: String) -> Check {
    check(name, CheckState::Ok, summary)
}

fn warn(name: &str, summary: String) -> Check {
    check(name, CheckState::Warn, summary)
}

fn fail(name: &str, summary: String) -> Check {
    check(name, CheckState::Fail, summary)
}
