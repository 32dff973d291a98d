//! `dm status`: the current dot and branch, its newest commit, and the files changed since.

use crate::api::DiffRequest;
use crate::routes::At;

/// Show the current dot, branch and newest commit, and the uncommitted changes
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// Show the sizes of changed files
    #[arg(long)]
    stat: bool,
    /// Subdot to look at [default: the one in --dot, else __default__; __root__ is the whole dot]
    #[arg(long)]
    subdot: Option<String>,
    /// Dot (and @branch) to look at [default: the current dot and branch]
    #[arg(long)]
    dot: Option<String>,
}

#[derive(serde::Serialize)]
struct Status<'a> {
    namespace: &'a str,
    dot: &'a str,
    #[serde(flatten)]
    diff: &'a crate::api::Diff,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    let req = DiffRequest {
        from: None,
        to: None,
        subdot: a.subdot.or(t.subdot.clone()),
    };
    let d = ctx.call(|c| c.diff(At::new((&t.ns, &t.dot, &t.branch)), &req))?;
    if a.json {
        return super::print_json(&Status {
            namespace: &t.ns,
            dot: &t.dot,
            diff: &d,
        });
    }
    println!(
        "On branch {} of dot {}{}",
        d.branch,
        ctx.key(&t),
        if d.subdot == crate::names::DEFAULT_SUBDOT {
            String::new()
        } else {
            format!(" (subdot {})", d.subdot)
        }
    );
    match (&d.from.commit, &d.from.message) {
        (Some(id), msg) => println!(
            "Newest commit {} {}",
            crate::names::short_id(id),
            msg.as_deref().unwrap_or("").lines().next().unwrap_or("")
        ),
        (None, _) => println!("No commits yet"),
    }
    if d.changes.is_empty() {
        println!("\nNothing to commit: no changes since the newest commit.");
        return Ok(());
    }
    if d.from.commit.is_some() {
        println!(
            "\nChanges not committed (`dm commit -m MSG` records them, `dm reset --hard HEAD` drops them):"
        );
    } else {
        println!("\nChanges not committed (`dm commit -m MSG` records them):");
    }
    super::diff::print_changes(&d.changes, a.stat, "  ");
    println!("\n{}", super::diff::summary(&d.changes));
    Ok(())
}
