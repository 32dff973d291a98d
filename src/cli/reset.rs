//! `dm reset --hard COMMIT`: roll the current branch back to a commit, as `git reset --hard`.

/// Roll the current branch back to COMMIT; later commits and uncommitted changes are discarded
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Discard later commits and uncommitted changes (the only mode dm has)
    #[arg(long)]
    hard: bool,
    /// Roll back even while containers have the branch mounted (restart them afterwards)
    #[arg(long)]
    force: bool,
    /// Commit id (or unique prefix), a tag or HEAD, optionally followed by ~N (N commits before) or ^
    commit: String,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    if !a.hard {
        anyhow::bail!(
            "dm only resets with --hard; run `dm reset --hard {}` to discard later commits and uncommitted changes",
            a.commit
        );
    }
    let t = ctx.target(None)?;
    let done = ctx.call(|c| c.reset(&t.ns, &t.dot, &t.branch, &a.commit, a.force))?;
    println!(
        "HEAD is now at {} ({} later commit(s) removed).",
        crate::names::short_id(&done.commit),
        done.removed.len()
    );
    if !done.containers.is_empty() {
        println!(
            "Restart the containers using it so they see the reset: {}",
            done.containers.join(", ")
        );
    }
    Ok(())
}
