//! `dm commit -m MSG`: snapshot the current branch of the current dot.

use std::collections::BTreeMap;

use crate::api::CreateCommit;

/// Record the current state of the dot as a commit
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Commit message
    #[arg(short, long)]
    message: String,
    /// Extra metadata stored with the commit (lowercase KEY=VALUE; repeatable)
    #[arg(short = 'd', long = "metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Dot to commit [default: the current dot]
    #[arg(long)]
    dot: Option<String>,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let mut metadata = BTreeMap::new();
    for kv in &a.metadata {
        let Some((k, v)) = kv.split_once('=') else {
            anyhow::bail!("metadata {kv:?} has no '='; write it as KEY=VALUE");
        };
        metadata.insert(k.to_string(), v.to_string());
    }
    let req = CreateCommit {
        message: a.message,
        metadata,
    };
    crate::api::check_commit(&req).map_err(anyhow::Error::msg)?;
    let t = ctx.target(a.dot.as_deref())?;
    let c = ctx.call(|c| c.commit(&t.ns, &t.dot, &t.branch, &req))?;
    println!(
        "[{} {}] {}",
        t.branch,
        crate::names::short_id(&c.id),
        first_line(&c.message)
    );
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}
