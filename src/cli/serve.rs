//! `dm serve`: run the node daemon in the foreground (normally started by `dm cluster init`).

use std::path::PathBuf;

/// Run the node daemon in the foreground
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The node's state directory (holds node.toml, logs, etcd data)
    #[arg(long, default_value = crate::daemon::config::DEFAULT_STATE_DIR)]
    pub(super) state_dir: PathBuf,
    /// Write the log to this file (rotated at 16 MiB, three old ones kept) instead of stderr;
    /// `dm cluster init` starts the daemon with STATE_DIR/dm.log
    #[arg(long, value_name = "FILE")]
    pub(super) log_file: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    crate::daemon::serve(&a.state_dir)
}
