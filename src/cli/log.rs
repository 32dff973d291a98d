//! `dm log`: commits of the current branch, newest first, git-style.

/// Show the commits of the current branch, newest first
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dot (and @branch) to show [default: the current dot and branch]
    dot: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// One line per commit
    #[arg(long)]
    oneline: bool,
    /// Start from this commit instead of the newest: an id (or unique prefix), a tag, or
    /// HEAD~N
    #[arg(long, short = 'r', value_name = "REV")]
    rev: Option<String>,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    if let Some(rev) = &a.rev
        && !rev
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'^'))
    {
        anyhow::bail!(
            "'{rev}' is not a commit reference; give a commit id, a tag or HEAD, optionally followed by ~N or ^"
        );
    }
    let commits = match &a.rev {
        Some(rev) => {
            ctx.call(|c| c.log_from(crate::routes::At::new((&t.ns, &t.dot, &t.branch)), rev))?
        }
        None => ctx.call(|c| c.log(&t.ns, &t.dot, &t.branch))?,
    };
    if a.json {
        return super::print_json(&commits);
    }
    if commits.is_empty() {
        println!(
            "Branch '{}' of dot '{}' has no commits yet.",
            t.branch, t.dot
        );
        return Ok(());
    }
    for (i, c) in commits.iter().enumerate() {
        let head = if i == 0 && a.rev.is_none() {
            format!(" (HEAD -> {})", t.branch)
        } else if c.branch != t.branch {
            // A hidden branch (what a reset set aside, see `dm op log`) shows as the one it
            // came from.
            let shown = c
                .branch
                .strip_prefix('_')
                .and_then(|r| r.rsplit_once('~'))
                .map_or(c.branch.as_str(), |(b, _)| b);
            format!(" ({shown})")
        } else {
            String::new()
        };
        if a.oneline {
            println!(
                "{}{head} {}",
                crate::names::short_id(&c.id),
                c.message.lines().next().unwrap_or("")
            );
            continue;
        }
        println!("commit {}{head}", c.id);
        println!("Author: {}", c.author);
        println!("Date:   {}", super::format_time(c.time));
        for (k, v) in &c.metadata {
            println!("Meta:   {k}={v}");
        }
        println!();
        for line in c.message.lines() {
            println!("    {line}");
        }
        println!();
    }
    Ok(())
}
