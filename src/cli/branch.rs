//! `dm branch`: list the branches of the current dot (the checked-out one marked), or delete one.

/// List branches of the current dot (the checked-out one is marked with *), or delete one
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete this branch with its commits
    #[arg(short = 'd', long = "delete", value_name = "BRANCH")]
    delete: Option<String>,
    /// Dot to act on [default: the current dot]
    #[arg(long)]
    dot: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    if let Some(name) = &a.delete {
        crate::names::validate(crate::names::Kind::Branch, name)?;
        if *name == t.branch {
            anyhow::bail!(
                "cannot delete the checked-out branch '{name}'; switch away first with `dm checkout master`"
            );
        }
        ctx.call(|c| c.delete_branch(&t.ns, &t.dot, name))?;
        println!("Deleted branch '{name}'.");
        return Ok(());
    }
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
