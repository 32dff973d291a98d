//! `dm prune`: remove a branch's old commits by a keep policy (retention).

use crate::api::Prune;
use crate::routes::At;

/// Remove old commits of the current branch, keeping what the options say
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Always kept: the newest commit, commits other branches grew from, tagged \
commits, and the newest commit shared with each other cluster pushed to or pulled from (so the \
next transfer still has a base). Replicas on other nodes follow.\n\n\
Examples:\n  dm prune --keep-last 10 --dry-run\n  \
dm prune --keep-daily 7 --keep-weekly 4"
)]
pub struct Args {
    /// Keep the N newest commits
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest commit of each of the N most recent hours that have commits
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest commit of each of the N most recent days (UTC) that have commits
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest commit of each of the N most recent weeks (UTC, from Monday)
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Only show what would be removed and how much space would come back
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// Dot (and @branch) to prune [default: the current dot and branch]
    #[arg(long)]
    dot: Option<String>,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let req = Prune {
        keep_last: a.keep_last,
        keep_hourly: a.keep_hourly,
        keep_daily: a.keep_daily,
        keep_weekly: a.keep_weekly,
        dry_run: a.dry_run,
    };
    req.check().map_err(anyhow::Error::msg)?;
    let t = ctx.target(a.dot.as_deref())?;
    let p = ctx.call(|c| c.prune(At::new((&t.ns, &t.dot, &t.branch)), &req))?;
    if a.json {
        return super::print_json(&p);
    }
    for c in &p.commits {
        let what = if c.keep {
            format!("keep    ({})", c.why.join(", "))
        } else if p.dry_run {
            format!("would remove ({})", super::human_bytes(c.bytes))
        } else {
            format!("removed ({})", super::human_bytes(c.bytes))
        };
        println!(
            "{} {}  {}  {what}",
            crate::names::short_id(&c.id),
            super::format_time(c.time),
            c.message.lines().next().unwrap_or("")
        );
    }
    let verb = if p.dry_run { "Would remove" } else { "Removed" };
    println!(
        "{verb} {} of {} commit(s) of branch '{}'; at least {} {} back.",
        p.removed,
        p.commits.len(),
        p.branch,
        super::human_bytes(p.bytes),
        if p.dry_run { "would come" } else { "came" }
    );
    Ok(())
}
