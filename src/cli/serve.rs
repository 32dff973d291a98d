//! `dm serve`: run the node daemon in the foreground (normally started by `dm cluster init`).

use std::path::PathBuf;

/// Run the node daemon in the foreground
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The node's state directory (holds node.toml, logs, etcd data)
    #[arg(long, default_value = crate::daemon::config::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    crate::daemon::serve(&a.state_dir)
}
