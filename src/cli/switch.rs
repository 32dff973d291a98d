//! `dm switch NAME`: make another dot the current one.

/// Make DOT the current dot for later verbs
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name of the dot ([NAMESPACE/]NAME)
    name: String,
}

pub fn run(ctx: &mut super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(Some(&a.name))?;
    ctx.call(|c| c.show(&t.ns, &t.dot))?;
    let key = ctx.key(&t);
    ctx.cfg.current_mut()?.current_dot = Some(key.clone());
    ctx.save()?;
    println!("Switched to dot '{key}'.");
    Ok(())
}
