//! `dm version`: versions of this client and of the daemon it talks to.

/// Show client and daemon versions
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(ctx: &super::Ctx, _a: Args) -> anyhow::Result<()> {
    println!("client: dm {}", env!("CARGO_PKG_VERSION"));
    match ctx.call(|c| c.ping()) {
        Ok(p) => println!("daemon: dm {} on node {}", p.version, p.node),
        Err(e) => println!("daemon: unavailable ({e})"),
    }
    Ok(())
}
