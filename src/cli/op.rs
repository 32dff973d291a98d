//! `dm op log`, `dm op restore ID` and `dm undo`: the operation log of the user's namespace
//! and reverting what it records.

/// The operation log: every change of commits, branches, tags and dots, and undoing them
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List operations, newest first
    Log(LogArgs),
    /// Undo every operation after ID, newest first (the state right after ID comes back)
    Restore(RestoreArgs),
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Only this dot's operations
    #[arg(long)]
    dot: Option<String>,
    /// At most N operations
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// Operation id from `dm op log`
    id: String,
}

/// Undo the newest operation that can be undone (see `dm op log`)
#[derive(clap::Args, Debug)]
#[command(
    after_help = "What undo does: a commit is removed and its files stay as uncommitted \
changes; a reset brings back the commits it removed; a deleted branch or dot comes back; a made \
branch or tag goes; a deleted tag comes back; a checkout checks the branch it left out again; a \
pull takes the branch back to where it was (a branch the pull made goes). Resets and deletes keep \
what they removed for a grace period (24 hours unless `dm cluster init --undo-grace` says \
otherwise). Uncommitted changes a reset discarded and pushes cannot be undone; undo never \
discards uncommitted changes."
)]
pub struct UndoArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

fn namespace(ctx: &super::Ctx) -> anyhow::Result<String> {
    let (_, remote) = ctx.cfg.current()?;
    Ok(remote.user.clone())
}

pub fn run(ctx: &mut super::Ctx, c: Command) -> anyhow::Result<()> {
    match c {
        Command::Log(a) => {
            let ns = namespace(ctx)?;
            let mut ops = ctx.call(|c| c.op_log(&ns))?;
            if let Some(d) = &a.dot {
                ops.retain(|o| &o.dot == d);
            }
            if let Some(n) = a.limit {
                ops.truncate(n);
            }
            if a.json {
                return super::print_json(&ops);
            }
            if ops.is_empty() {
                println!("No operations recorded yet.");
            }
            for o in &ops {
                let mark = if o.undone {
                    " (undone)"
                } else if !o.undoable {
                    " (cannot be undone)"
                } else {
                    ""
                };
                println!(
                    "{}  {}  {:<8} {}/{}: {}{mark}",
                    o.id,
                    super::format_time(o.time),
                    o.user,
                    ns,
                    o.dot,
                    o.summary
                );
            }
            Ok(())
        }
        Command::Restore(a) => {
            let ns = namespace(ctx)?;
            let done = ctx.call(|c| c.undo(&ns, Some(&a.id)))?;
            for o in &done.undone {
                println!("Undid {}: {}", o.id, o.summary);
            }
            check_out_again(ctx, &ns, &done)?;
            println!("Restored the state after operation {}.", a.id);
            Ok(())
        }
    }
}

pub fn undo(ctx: &mut super::Ctx, a: UndoArgs) -> anyhow::Result<()> {
    let ns = namespace(ctx)?;
    let done = ctx.call(|c| c.undo(&ns, None))?;
    check_out_again(ctx, &ns, &done)?;
    if a.json {
        return super::print_json(&done);
    }
    for o in &done.undone {
        println!("Undid {}: {}", o.id, o.summary);
    }
    Ok(())
}

/// The client's part of undoing checkouts: the branch each one left is checked out again
/// (newest first, so the oldest undone checkout decides).
fn check_out_again(
    ctx: &mut super::Ctx,
    ns: &str,
    done: &crate::api::Undone,
) -> anyhow::Result<()> {
    for o in &done.undone {
        if let Some(from) = &o.checked_out_from {
            let t = super::Target {
                ns: ns.to_string(),
                dot: o.dot.clone(),
                branch: from.clone(),
                subdot: None,
            };
            ctx.set_branch(&t, from)?;
        }
    }
    Ok(())
}
