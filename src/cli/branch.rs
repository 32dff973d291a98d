//! `dm branch`: list the branches of the current dot, the checked-out one marked.

/// List branches of the current dot (the checked-out one is marked with *)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dot to list [default: the current dot]
    #[arg(long)]
    dot: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    let mut branches = ctx.call(|c| c.branches(&t.ns, &t.dot))?;
    branches.sort_by(|x, y| x.name.cmp(&y.name));
    if a.json {
        return super::print_json(&branches);
    }
    for b in &branches {
        let mark = if b.name == t.branch { "*" } else { " " };
        println!("{mark} {}", b.name);
    }
    Ok(())
}
