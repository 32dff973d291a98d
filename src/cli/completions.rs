//! `dm completions SHELL` and the hidden `dm generate-man DIR`: both generated from the clap tree.

use std::path::PathBuf;

use anyhow::Context as _;

/// Print a shell completion script (e.g. `dm completions bash > /etc/bash_completion.d/dm`)
#[derive(clap::Args, Debug)]
pub struct Args {
    shell: clap_complete::Shell,
}

/// Write man pages for dm and every subcommand into DIR
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    dir: PathBuf,
}

pub fn run(a: Args, mut cmd: clap::Command) -> anyhow::Result<()> {
    clap_complete::generate(a.shell, &mut cmd, "dm", &mut std::io::stdout());
    Ok(())
}

pub fn man(a: ManArgs, cmd: clap::Command) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    clap_mangen::generate_to(cmd, &a.dir).context("cannot write man pages")?;
    Ok(())
}
