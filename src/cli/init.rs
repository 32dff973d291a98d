//! `dm init NAME`: create a dot and make it the current one.

use crate::names::DotRef;

/// Create a new, empty dot and switch to it
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name of the dot ([NAMESPACE/]NAME)
    name: String,
}

pub fn run(ctx: &mut super::Ctx, a: Args) -> anyhow::Result<()> {
    let r = DotRef::parse(&a.name)?;
    if r.branch.is_some() || r.subdot.is_some() {
        anyhow::bail!("give just the dot's name to `dm init` (no @branch or .subdot)");
    }
    let t = ctx.target(Some(&a.name))?;
    ctx.call(|c| c.create_dot(&t.ns, &t.dot))?;
    let key = ctx.key(&t);
    ctx.cfg.current_mut()?.current_dot = Some(key.clone());
    ctx.save()?;
    println!("Created dot '{key}' and switched to it.");
    println!("Its files are in `dm dot path` (e.g. cd \"$(dm dot path)\").");
    Ok(())
}
