//! `dm diff [FROM [TO]]`: which files changed between two commits, or since one.

use crate::api::{Change, ChangeKind, DiffRequest};
use crate::routes::At;

/// Show which files changed between two commits, or since a commit
#[derive(clap::Args, Debug)]
#[command(
    after_help = "REF is a commit id (or a unique prefix of one), a tag, a branch's name \
(its newest commit), HEAD, or any of these followed by ~N (N commits before) or ^.\n\n\
Examples:\n  dm diff                  uncommitted changes since the newest commit\n  \
dm diff HEAD~2           what changed since two commits before the newest, uncommitted included\n  \
dm diff v1 v2 --stat     between two tags, with sizes\n  \
dm diff master feature   between the newest commits of two branches"
)]
pub struct Args {
    /// The older side [default: HEAD, the branch's newest commit]
    #[arg(value_name = "FROM")]
    from: Option<String>,
    /// The newer side [default: the uncommitted files of the branch]
    #[arg(value_name = "TO")]
    to: Option<String>,
    /// Show each file's sizes and a summary line
    #[arg(long)]
    stat: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    /// Subdot to compare [default: the one in --dot, else __default__; __root__ is the whole dot]
    #[arg(long)]
    subdot: Option<String>,
    /// Dot (and @branch) to compare in [default: the current dot and branch]
    #[arg(long)]
    dot: Option<String>,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    let req = DiffRequest {
        from: a.from,
        to: a.to,
        subdot: a.subdot.or(t.subdot.clone()),
    };
    let d = ctx.call(|c| c.diff(At::new((&t.ns, &t.dot, &t.branch)), &req))?;
    if a.json {
        return super::print_json(&d);
    }
    print_changes(&d.changes, a.stat, "");
    if a.stat {
        println!("{}", summary(&d.changes));
    }
    Ok(())
}

/// One line per change, `git status --short` style; with `stat`, the sizes too.
pub fn print_changes(changes: &[Change], stat: bool, indent: &str) {
    let shown: Vec<String> = changes
        .iter()
        .map(|c| match &c.old_path {
            Some(old) => format!("{old} -> {}", c.path),
            None => c.path.clone(),
        })
        .collect();
    let width = shown.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    for (c, path) in changes.iter().zip(&shown) {
        if !stat {
            println!("{indent}{}  {path}", c.kind.letter());
            continue;
        }
        let h = super::human_bytes;
        let sizes = match (c.kind, c.size_before, c.size_after) {
            (ChangeKind::Added, _, Some(n)) => format!("+{}", h(n)),
            (ChangeKind::Deleted, Some(n), _) => format!("-{}", h(n)),
            (ChangeKind::Renamed, _, Some(n)) => h(n),
            (_, Some(a), Some(b)) => format!("{} -> {}", h(a), h(b)),
            _ => String::new(),
        };
        println!("{indent}{}  {path:<width$}  {sizes}", c.kind.letter());
    }
}

/// `3 files changed: 1 added, 1 modified, 1 deleted (+12 B, -5 B)`.
pub fn summary(changes: &[Change]) -> String {
    let count = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count();
    let mut parts = Vec::new();
    for (k, word) in [
        (ChangeKind::Added, "added"),
        (ChangeKind::Modified, "modified"),
        (ChangeKind::Deleted, "deleted"),
        (ChangeKind::Renamed, "renamed"),
        (ChangeKind::TypeChanged, "changed type"),
    ] {
        let n = count(k);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let grew: u64 = changes
        .iter()
        .map(|c| {
            c.size_after
                .unwrap_or(0)
                .saturating_sub(c.size_before.unwrap_or(0))
        })
        .sum();
    let shrank: u64 = changes
        .iter()
        .map(|c| {
            c.size_before
                .unwrap_or(0)
                .saturating_sub(c.size_after.unwrap_or(0))
        })
        .sum();
    let n = changes.len();
    if n == 0 {
        return "no changes".into();
    }
    format!(
        "{n} file{} changed: {} (+{}, -{})",
        if n == 1 { "" } else { "s" },
        parts.join(", "),
        super::human_bytes(grew),
        super::human_bytes(shrank)
    )
}
