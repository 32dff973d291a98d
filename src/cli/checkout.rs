//! `dm checkout BRANCH` / `dm checkout -b NEW`: switch branch, or make one from the current
//! branch's newest commit and switch to it.

use crate::api::CreateBranch;
use crate::names::{self, Kind};

/// Switch to another branch of the current dot, or create one with -b
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Branch to switch to (or to create with -b)
    branch: String,
    /// Create the branch from the newest commit of the current branch
    #[arg(short = 'b')]
    create: bool,
    /// With -b: the commit (id, unique prefix, tag, HEAD~N) to branch from [default: the newest]
    #[arg(value_name = "START", requires = "create", conflicts_with = "from")]
    start: Option<String>,
    /// With -b: the same as START
    #[arg(long, requires = "create")]
    from: Option<String>,
    /// Also move the containers that mount the dot by its bare name (`-v DOT`), on every node:
    /// restart them on the new branch, which `-v DOT` then mounts [default: the dot's
    /// setting, `dm dot settings`]
    #[arg(long, overrides_with = "no_move_containers")]
    move_containers: bool,
    /// Leave containers where they are, whatever the dot's setting
    #[arg(long)]
    no_move_containers: bool,
}

pub fn run(ctx: &mut super::Ctx, a: Args) -> anyhow::Result<()> {
    names::validate(Kind::Branch, &a.branch)?;
    let t = ctx.target(None)?;
    if a.create {
        let req = CreateBranch {
            name: a.branch.clone(),
            from_branch: t.branch.clone(),
            from_commit: a.start.clone().or(a.from.clone()),
        };
        let b = ctx.call(|c| c.create_branch(&t.ns, &t.dot, &req))?;
        ctx.set_branch(&t, &a.branch)?;
        record(ctx, &t, &a.branch);
        move_containers(ctx, &t, &a)?;
        let from = b
            .origin
            .map(|o| crate::names::short_id(&o.commit).to_string())
            .unwrap_or_default();
        println!("Switched to a new branch '{}' (from {from}).", a.branch);
        println!("Uncommitted changes on '{}' stay there.", t.branch);
        return Ok(());
    }
    let branches = ctx.call(|c| c.branches(&t.ns, &t.dot))?;
    if !branches.iter().any(|b| b.name == a.branch) {
        anyhow::bail!(
            "branch '{}' does not exist in dot '{}'; create it with `dm checkout -b {}`",
            a.branch,
            t.dot,
            a.branch
        );
    }
    ctx.set_branch(&t, &a.branch)?;
    if a.branch != t.branch {
        record(ctx, &t, &a.branch);
    }
    println!("Switched to branch '{}'.", a.branch);
    if move_containers(ctx, &t, &a)? {
        return Ok(());
    }
    for b in branches
        .iter()
        .filter(|b| b.name != a.branch && !b.containers.is_empty())
    {
        println!(
            "Note: container(s) {} still use branch '{}'; to give a container this branch, start it with -v {}@{}:/PATH",
            b.containers.join(", "),
            b.name,
            t.dot,
            a.branch
        );
    }
    Ok(())
}

/// With `--move-containers` (or the dot's setting, unless `--no-move-containers`): the
/// dot's bare-named containers move to the new branch. Says whether they were asked to.
fn move_containers(ctx: &super::Ctx, t: &super::Target, a: &Args) -> anyhow::Result<bool> {
    let wanted = if a.no_move_containers {
        false
    } else {
        a.move_containers || ctx.call(|c| c.dot_settings(&t.ns, &t.dot))?.move_containers
    };
    if !wanted {
        return Ok(false);
    }
    let m = ctx.call(|c| c.move_containers(&t.ns, &t.dot, &a.branch))?;
    if m.moved.is_empty() && m.failed.is_empty() {
        println!(
            "No running container mounts '{}' by its bare name; new ones (`-v {}`) get branch '{}'.",
            t.dot, t.dot, m.branch
        );
    }
    if !m.moved.is_empty() {
        println!(
            "Moved container(s) {} to branch '{}' (restarted).",
            m.moved.join(", "),
            m.branch
        );
    }
    for f in &m.failed {
        eprintln!("warning: could not move {f}; restart it by hand");
    }
    Ok(true)
}

/// Records the checkout in the operation log; the checkout itself is done either way.
fn record(ctx: &super::Ctx, t: &super::Target, branch: &str) {
    let req = crate::api::Checkout {
        dot: t.dot.clone(),
        branch: branch.to_string(),
        from: t.branch.clone(),
    };
    if let Err(e) = ctx.call(|c| c.record_checkout(&t.ns, &req)) {
        eprintln!("warning: the checkout is not in the operation log: {e:#}");
    }
}
