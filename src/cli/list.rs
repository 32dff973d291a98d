//! `dm list`: every dot, the current one marked, with branch, size and uncommitted bytes.

use serde::Serialize;

use super::human_bytes;

/// List dots (the current one is marked with *)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    current: bool,
    dot: String,
    branch: String,
    server: String,
    size_bytes: u64,
    commits: usize,
    dirty_bytes: u64,
    /// The branch's master node is down: its uncommitted changes are unavailable.
    dirty_unavailable: bool,
    branches: usize,
    containers: Vec<String>,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let (dots, stale) = ctx.call(|c| Ok((c.list()?, c.stale_secs())))?;
    if let Some(age) = stale {
        eprintln!(
            "warning: etcd is unreachable; this is the registry as this node last saw it, {age}s ago. Changes fail until etcd is back"
        );
    }
    let (_, remote) = ctx.cfg.current()?;
    let mut rows = Vec::new();
    for d in &dots {
        let key = crate::names::short(&d.namespace, &d.name, &remote.user);
        let branch = remote
            .branches
            .get(&key)
            .cloned()
            .unwrap_or_else(|| crate::names::MASTER.to_string());
        let b = d.branches.iter().find(|b| b.name == branch);
        rows.push(Row {
            current: remote.current_dot.as_deref() == Some(key.as_str()),
            dot: key,
            branch,
            server: b.map(|b| b.master_node.to_string()).unwrap_or_default(),
            size_bytes: b.map_or(0, |b| b.size_bytes),
            commits: b.map_or(0, |b| b.commits),
            dirty_bytes: b.map_or(0, |b| b.dirty_bytes),
            dirty_unavailable: b.is_some_and(|b| b.master_down),
            branches: d.branches.len(),
            containers: d
                .branches
                .iter()
                .flat_map(|b| b.containers.clone())
                .collect(),
        });
    }
    rows.sort_by(|x, y| x.dot.cmp(&y.dot));
    if a.json {
        return super::print_json(&rows);
    }
    let w = rows.iter().map(|r| r.dot.len()).max().unwrap_or(3).max(3);
    let bw = rows
        .iter()
        .map(|r| r.branch.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "  {:<w$}  {:<bw$}  {:<16}  {:>10}  {:>7}  {:>10}  CONTAINERS",
        "DOT", "BRANCH", "SERVER", "SIZE", "COMMITS", "DIRTY"
    );
    for r in &rows {
        let server: String = r.server.chars().take(16).collect();
        println!(
            "{} {:<w$}  {:<bw$}  {:<16}  {:>10}  {:>7}  {:>10}  {}",
            if r.current { "*" } else { " " },
            r.dot,
            r.branch,
            server,
            human_bytes(r.size_bytes),
            r.commits,
            if r.dirty_unavailable {
                "node down".to_string()
            } else {
                human_bytes(r.dirty_bytes)
            },
            r.containers.join(","),
        );
    }
    Ok(())
}
