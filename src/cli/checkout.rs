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
