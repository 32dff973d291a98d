//! `dm dot show|delete|path|settings`: inspect, delete, find the files of a dot, and its
//! settings.

use clap::builder::TypedValueParser as _;
use std::io::IsTerminal;

use super::human_bytes;
use crate::names;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show a dot: branches, mountpoint of the current branch, subdots, who uses it
    Show(ShowArgs),
    /// Delete a dot with all its branches and commits
    Delete(DeleteArgs),
    /// Print the host directory of a subdot (created if missing), to use from the shell
    Path(PathArgs),
    /// Show or change a dot's settings: whether `dm checkout` moves its containers, and which
    /// branch `-v DOT` mounts
    Settings(SettingsArgs),
}

#[derive(clap::Args, Debug)]
pub struct SettingsArgs {
    /// Dot [default: the current dot]
    dot: Option<String>,
    /// Whether `dm checkout` restarts the containers that mount the dot by its bare name
    /// (`-v DOT`) on the new branch, as Dotmesh did (override per checkout with
    /// --[no-]move-containers)
    #[arg(
        long,
        value_name = "on|off",
        value_parser = clap::builder::PossibleValuesParser::new(["on", "off"]).map(|s| s == "on")
    )]
    move_containers: Option<bool>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Dot to show [default: the current dot]
    dot: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// Dot to delete
    dot: String,
    /// Do not ask for confirmation
    #[arg(short, long)]
    yes: bool,
}

#[derive(clap::Args, Debug)]
pub struct PathArgs {
    /// DOT[@BRANCH][.SUBDOT] [default: the current dot and branch, subdot __default__]
    dot: Option<String>,
    /// A commit of the branch (id, unique prefix or tag) to mount read-only instead: a view
    /// on this node, kept while anything uses it (Docker: `-v DOT[@BRANCH]^COMMIT[.SUBDOT]`)
    #[arg(long, value_name = "COMMIT")]
    commit: Option<String>,
}

pub fn run(ctx: &mut super::Ctx, c: Command) -> anyhow::Result<()> {
    match c {
        Command::Show(a) => show(ctx, a),
        Command::Delete(a) => delete(ctx, a),
        Command::Path(a) => path(ctx, a),
        Command::Settings(a) => settings(ctx, a),
    }
}

fn show(ctx: &super::Ctx, a: ShowArgs) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    // Showing changes nothing: in a cluster, mounting here would move the branch's master.
    let info = ctx.call(|c| c.show(&t.ns, &t.dot))?;
    if a.json {
        return super::print_json(&info);
    }
    println!("Dot {}/{} ({})", info.namespace, info.name, info.id);
    println!("Current branch: {}", t.branch);
    if let Some(b) = info.branches.iter().find(|b| b.name == t.branch) {
        if b.mounted {
            println!("Mountpoint: {}", b.mountpoint);
        } else {
            // Writes to an unmounted mountpoint would land on the host's own disk.
            println!(
                "Mountpoint: {} (not mounted here; `dm dot path` mounts it)",
                b.mountpoint
            );
        }
        println!("Master node: {}", b.master_node);
        println!(
            "Size: {}, uncommitted: {}, commits: {}",
            human_bytes(b.size_bytes),
            human_bytes(b.dirty_bytes),
            b.commits
        );
        if b.mounted {
            println!("Subdots:");
        } else {
            println!("Subdots: (listed once it is mounted here)");
        }
        for s in &b.subdots {
            println!("  {s}\t{}/{s}", b.mountpoint);
        }
    }
    println!("Branches:");
    for b in info.branches.iter().filter(|b| !b.hidden) {
        let mark = if b.name == t.branch { "*" } else { " " };
        let from = b
            .origin
            .as_ref()
            .map(|o| format!(" (from {}@{})", o.branch, crate::names::short_id(&o.commit)))
            .unwrap_or_default();
        println!("  {mark} {}{from}", b.name);
        for r in &b.replicas {
            println!("      {}", replica_line(r));
        }
    }
    if !info.in_use_by.is_empty() {
        println!("In use by: {}", info.in_use_by.join(", "));
    }
    Ok(())
}

/// One node's copy of a branch: `node 1a2b… (master) up to date at c0ffee12`.
fn replica_line(r: &crate::api::ReplicaInfo) -> String {
    let role = match (r.master, r.alive) {
        (true, true) => " (master)",
        (true, false) => " (master, DOWN)",
        (false, false) => " (DOWN)",
        (false, true) => "",
    };
    let at = r
        .newest_commit
        .as_deref()
        .map_or("no commits yet".to_string(), |c| {
            format!("at {}", crate::names::short_id(c))
        });
    let state = if r.up_to_date {
        "up to date".to_string()
    } else {
        format!("{} commit(s) behind", r.behind)
    };
    format!("node {}{role}: {state}, {at}", r.node)
}

fn delete(ctx: &mut super::Ctx, a: DeleteArgs) -> anyhow::Result<()> {
    let t = ctx.target(Some(&a.dot))?;
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "refusing to delete dot '{}' without confirmation; pass --yes",
                a.dot
            );
        }
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Delete dot '{}' with all its branches and commits? (`dm undo` brings it back until the undo grace ends)",
                a.dot
            ))
            .default(false)
            .interact()?;
        if !ok {
            println!("Nothing deleted.");
            return Ok(());
        }
    }
    ctx.call(|c| c.delete_dot(&t.ns, &t.dot))?;
    let key = ctx.key(&t);
    let remote = ctx.cfg.current_mut()?;
    remote.branches.remove(&key);
    if remote.current_dot.as_deref() == Some(key.as_str()) {
        remote.current_dot = None;
    }
    ctx.save()?;
    println!("Deleted dot '{key}'.");
    Ok(())
}

fn path(ctx: &super::Ctx, a: PathArgs) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    let subdot = t
        .subdot
        .clone()
        .unwrap_or_else(|| names::DEFAULT_SUBDOT.to_string());
    let at = (t.ns.as_str(), t.dot.as_str(), t.branch.as_str());
    let (doing, create) = match &a.commit {
        Some(commit) => (
            format!(
                "Mounting commit {commit} read-only (fetched here first if it has not arrived)"
            ),
            false,
        ),
        // Mounting here may first move the branch from the node that holds it, with its changes.
        None => (
            format!(
                "Mounting '{}' here (a branch another node holds moves here first)",
                t.branch
            ),
            true,
        ),
    };
    let commit = a.commit.as_deref();
    let p = super::progress::waiting(&doing, || {
        ctx.call(|c| c.subdot_path(at, &subdot, create, commit))
    })?;
    println!("{}", p.path);
    Ok(())
}

fn settings(ctx: &super::Ctx, a: SettingsArgs) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    let s = match a.move_containers {
        Some(m) => {
            let req = crate::api::SettingsChange {
                move_containers: Some(m),
            };
            ctx.call(|c| c.change_settings(&t.ns, &t.dot, &req))?
        }
        None => ctx.call(|c| c.dot_settings(&t.ns, &t.dot))?,
    };
    if a.json {
        return super::print_json(&s);
    }
    let key = ctx.key(&t);
    println!(
        "move-containers: {} (`dm checkout` {} the containers mounting `-v {key}`)",
        if s.move_containers { "on" } else { "off" },
        if s.move_containers { "moves" } else { "leaves" }
    );
    println!(
        "containers' branch: {} (what `-v {key}` mounts)",
        s.containers_branch.as_deref().unwrap_or(names::MASTER)
    );
    Ok(())
}
