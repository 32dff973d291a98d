//! The command line: the clap tree, one module per verb, and the shared [`Ctx`] that loads the
//! client config, picks the remote and the current dot, and starts the local daemon on demand.

mod branch;
mod checkout;
mod cluster;
mod commit;
mod completions;
mod csi;
mod daemon_api;
mod diff;
mod dot;
mod flexvolume;
mod init;
mod list;
mod log;
mod logging;
mod op;
mod progress;
mod provisioner;
mod prune;
mod remote;
mod reset;
mod serve;
mod status;
mod switch;
mod tag;
mod transfer;
mod user;
mod version;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{Client, ClientConfig, ClientError, config};
use crate::daemon::launch;
use crate::names::{self, DotRef};
pub use logging::LogFormat;

/// git for data volumes: commit, branch, roll back and move container data on ZFS.
#[derive(Parser, Debug)]
#[command(
    name = "dm",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Exit status: 0 done; 1 refused or failed, and the message says what to do; 2 wrong usage; 3 the daemon, etcd or a remote is unavailable (trying again later may work); 4 internal error (please report it)."
)]
pub struct Cli {
    /// Client config file [default: $DM_CONFIG or ~/.dotmesh/config]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`)
    /// [default: text; for `dm serve`, the node's setting]
    #[arg(long, global = true, value_enum, env = "DM_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run; boxing variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    Init(init::Args),
    #[command(alias = "ls")]
    List(list::Args),
    Switch(switch::Args),
    Commit(commit::Args),
    Log(log::Args),
    Branch(branch::Args),
    Checkout(checkout::Args),
    Reset(reset::Args),
    Tag(tag::Args),
    Status(status::Args),
    Diff(diff::Args),
    Prune(prune::Args),
    Undo(op::UndoArgs),
    /// The operation log: list operations, restore the state after one
    #[command(subcommand)]
    Op(op::Command),
    Remote(remote::Args),
    Push(transfer::PushArgs),
    Pull(transfer::PullArgs),
    Clone(transfer::CloneArgs),
    /// Show, locate and delete dots
    #[command(subcommand)]
    Dot(dot::Command),
    #[command(subcommand)]
    User(user::Command),
    /// Set up, join, inspect and leave a cluster of nodes
    #[command(subcommand)]
    Cluster(cluster::Command),
    /// Check this node and its cluster (the same as `dm cluster status`)
    Doctor(cluster::StatusArgs),
    Serve(serve::Args),
    Flexvolume(flexvolume::Args),
    Provisioner(provisioner::Args),
    Csi(csi::Args),
    Version(version::Args),
    Completions(completions::Args),
    #[command(hide = true)]
    GenerateMan(completions::ManArgs),
}

/// Shared state of one CLI invocation.
pub struct Ctx {
    pub cfg: ClientConfig,
    pub cfg_path: PathBuf,
}

/// A dot named on the command line or taken from the config, resolved to namespace + name.
pub struct Target {
    pub ns: String,
    pub dot: String,
    pub branch: String,
    pub subdot: Option<String>,
}

impl Ctx {
    fn load(path: Option<PathBuf>) -> anyhow::Result<Ctx> {
        let cfg_path = path.unwrap_or_else(config::default_path);
        let cfg = ClientConfig::load(&cfg_path)?;
        Ok(Ctx { cfg, cfg_path })
    }

    pub fn save(&self) -> anyhow::Result<()> {
        Ok(self.cfg.save(&self.cfg_path)?)
    }

    /// Runs `f` against the current remote; if that is this machine's daemon and it is down,
    /// starts it (noting so on stderr) and tries once more.
    pub fn call<T>(&self, f: impl Fn(&Client) -> Result<T, ClientError>) -> anyhow::Result<T> {
        let (_, remote) = self.cfg.current()?;
        let client = Client::new(remote);
        match f(&client) {
            Err(e) if e.is_unreachable() => {
                let Some(dir) = remote
                    .state_dir
                    .as_ref()
                    .filter(|d| d.join("node.toml").exists())
                else {
                    return Err(e.into());
                };
                if launch::running_pid(dir).is_some() {
                    return Err(e.into());
                }
                eprintln!("dm: the local daemon was not running; starting it");
                launch::start(dir, Duration::from_secs(60))?;
                Ok(f(&client)?)
            }
            other => Ok(other?),
        }
    }

    /// The dot a verb acts on: the one named, else the current one.
    pub fn target(&self, named: Option<&str>) -> anyhow::Result<Target> {
        let (_, remote) = self.cfg.current()?;
        let r = match named {
            Some(n) => {
                let r = DotRef::parse(n)?;
                if r.commit.is_some() {
                    bail!(
                        "{n:?} names a commit (^COMMIT), which only mounts read-only: `dm dot path --commit COMMIT`, or `docker run -v {n}:/data`"
                    );
                }
                r
            }
            None => match remote.current_dot.as_deref() {
                Some(cur) => DotRef::parse(cur)?,
                None => self.only_dot()?,
            },
        };
        let key = match &r.namespace {
            Some(ns) => format!("{ns}/{}", r.dot),
            None => r.dot.clone(),
        };
        let branch = r
            .branch
            .clone()
            .or_else(|| remote.branches.get(&key).cloned())
            .unwrap_or_else(|| names::MASTER.to_string());
        Ok(Target {
            ns: r.namespace.unwrap_or_else(|| remote.user.clone()),
            dot: r.dot,
            branch,
            subdot: r.subdot,
        })
    }

    /// With no current dot, the one dot there is (as in Dotmesh); with none or several, an
    /// error that says how to pick.
    fn only_dot(&self) -> anyhow::Result<DotRef> {
        let dots = self.call(|c| c.list())?;
        match dots.as_slice() {
            [one] => Ok(DotRef {
                namespace: Some(one.namespace.clone()),
                dot: one.name.clone(),
                ..DotRef::default()
            }),
            [] => {
                bail!("no current dot, and there are no dots yet; create one with `dm init NAME`")
            }
            many => bail!(
                "no current dot, and there are {} of them; pick one with `dm switch NAME` (`dm list` shows them), or name it on the command line",
                many.len()
            ),
        }
    }

    /// Config key of a dot: `name` in the user's own namespace, `ns/name` otherwise.
    pub fn key(&self, t: &Target) -> String {
        let home = self
            .cfg
            .current()
            .map(|(_, r)| r.user.as_str())
            .unwrap_or("");
        names::short(&t.ns, &t.dot, home)
    }

    pub fn set_branch(&mut self, t: &Target, branch: &str) -> anyhow::Result<()> {
        let key = self.key(t);
        let remote = self.cfg.current_mut()?;
        if branch == names::MASTER {
            remote.branches.remove(&key);
        } else {
            remote.branches.insert(key, branch.to_string());
        }
        self.save()
    }
}

/// Parses the command line and runs the verb; returns the process exit code.
pub fn run() -> i32 {
    // Kubelet runs the installed driver by its path, `<plugindir>/dotmesh.io~dm/dm`.
    if let Some(argv0) = std::env::args_os().next()
        && crate::plugins::flexvolume::invoked_as_driver(Path::new(&argv0))
    {
        let call: Vec<String> = std::env::args().skip(1).collect();
        return flexvolume::run_as_driver(Path::new(&argv0), &call);
    }
    let cli = Cli::parse();
    if let Command::Flexvolume(a) = cli.command {
        return flexvolume::run(a);
    }
    let daemon = matches!(
        cli.command,
        Command::Serve(_) | Command::Provisioner(_) | Command::Csi(_)
    );
    if !daemon {
        quiet_on_closed_pipe();
    }
    init_tracing(&cli, daemon);
    match dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            exit_code(&e)
        }
    }
}

/// What kind of failure an error is, for scripts (`dm --help` lists the codes). Usage errors
/// (2) are clap's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused or failed for a reason the message names, with its fix.
    User = 1,
    /// Something needed is not reachable now: the daemon, etcd, a remote.
    Unavailable = 3,
    /// An answer dm did not expect: a bug.
    Internal = 4,
}

fn classify(e: &anyhow::Error) -> Failure {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return match c {
                ClientError::Unreachable { .. } | ClientError::Lost { .. } => Failure::Unavailable,
                ClientError::Api { status, .. } => match status {
                    502..=504 => Failure::Unavailable,
                    500 => Failure::Internal,
                    _ => Failure::User,
                },
                ClientError::Protocol(_) => Failure::Internal,
                _ => Failure::User,
            };
        }
        if cause.downcast_ref::<launch::LaunchError>().is_some() {
            return Failure::Unavailable;
        }
    }
    Failure::User
}

fn exit_code(e: &anyhow::Error) -> i32 {
    classify(e) as i32
}

/// `dm log | head -1`: when the reader goes away, end quietly as git does, instead of the
/// panic `println!` raises on EPIPE. Rust ignores SIGPIPE by default; a verb has nothing to
/// clean up when its output is gone, so the default action (exit) is right. The daemon keeps
/// ignoring it (it must outlive any client), and sockets are unaffected: std writes to them
/// with MSG_NOSIGNAL.
fn quiet_on_closed_pipe() {
    // Called once at start, before any thread exists.
    crate::sys::default_sigpipe();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Logging for this run: a daemon (`serve`) takes its node's format unless told otherwise,
/// and writes the file it was given.
fn init_tracing(cli: &Cli, daemon: bool) {
    let (format, file) = match &cli.command {
        Command::Serve(a) => (
            cli.log_format.or_else(|| {
                crate::daemon::config::NodeConfig::load(&a.state_dir)
                    .ok()
                    .map(|c| c.log_format)
            }),
            a.log_file.as_deref(),
        ),
        _ => (cli.log_format, None),
    };
    logging::init(daemon, format.unwrap_or_default(), file);
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Provisioner(a) => provisioner::run(a),
        Command::Csi(a) => csi::run(a),
        Command::Completions(a) => completions::run(a, Cli::command()),
        Command::GenerateMan(a) => completions::man(a, Cli::command()),
        command => {
            let mut ctx = Ctx::load(cli.config)?;
            match command {
                Command::Init(a) => init::run(&mut ctx, a),
                Command::List(a) => list::run(&ctx, a),
                Command::Switch(a) => switch::run(&mut ctx, a),
                Command::Commit(a) => commit::run(&ctx, a),
                Command::Log(a) => log::run(&ctx, a),
                Command::Branch(a) => branch::run(&ctx, a),
                Command::Checkout(a) => checkout::run(&mut ctx, a),
                Command::Reset(a) => reset::run(&ctx, a),
                Command::Tag(a) => tag::run(&ctx, a),
                Command::Status(a) => status::run(&ctx, a),
                Command::Diff(a) => diff::run(&ctx, a),
                Command::Prune(a) => prune::run(&ctx, a),
                Command::Undo(a) => op::undo(&mut ctx, a),
                Command::Op(c) => op::run(&mut ctx, c),
                Command::Dot(c) => dot::run(&mut ctx, c),
                Command::Doctor(a) => cluster::status(&ctx, a),
                Command::Remote(a) => remote::run(&mut ctx, a),
                Command::Push(a) => transfer::push(&mut ctx, a),
                Command::Pull(a) => transfer::pull(&ctx, a),
                Command::Clone(a) => transfer::clone(&mut ctx, a),
                Command::User(c) => user::run(&mut ctx, c),
                Command::Cluster(c) => cluster::run(&mut ctx, c),
                Command::Version(a) => version::run(&ctx, a),
                Command::Serve(_)
                | Command::Provisioner(_)
                | Command::Csi(_)
                | Command::Flexvolume(_)
                | Command::Completions(_)
                | Command::GenerateMan(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// Prints `v` as pretty JSON (the `--json` output of read verbs).
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).context("cannot write JSON")?;
    writeln!(out)?;
    Ok(())
}

/// 1536 → "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds since the epoch → `2026-11-25 11:52:40 UTC`.
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A secret from `file` (`-` for standard input), else asked for on the terminal (hidden);
/// `no_terminal` is the error without either. Never from argv, where other users see it.
pub fn read_secret(
    file: Option<&std::path::Path>,
    prompt: &str,
    no_terminal: &str,
) -> anyhow::Result<String> {
    use std::io::Read as _;
    let secret = match file {
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None if std::io::stdin().is_terminal() => {
            dialoguer::Password::new().with_prompt(prompt).interact()?
        }
        None => anyhow::bail!("{no_terminal}"),
    };
    let secret = secret.trim().to_string();
    if secret.is_empty() {
        anyhow::bail!("{prompt}: it is empty");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_times() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 << 30), "10.0 GiB");
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_795_607_637), "2026-11-25 11:53:57 UTC");
    }

    #[test]
    fn failures_map_to_exit_codes() {
        let api = |status| {
            anyhow::Error::new(ClientError::Api {
                status,
                code: "x".into(),
                message: "m".into(),
            })
        };
        assert_eq!(exit_code(&api(404)), 1);
        assert_eq!(exit_code(&api(409)), 1);
        assert_eq!(exit_code(&api(503)), 3);
        assert_eq!(exit_code(&api(500)), 4);
        let gone = ClientError::Unreachable {
            addr: "a".into(),
            detail: "d".into(),
        };
        assert_eq!(
            exit_code(&anyhow::Error::new(gone).context("while asking")),
            3
        );
        assert_eq!(exit_code(&anyhow::anyhow!("no current dot")), 1);
        assert_eq!(
            exit_code(&anyhow::Error::new(ClientError::Protocol("?".into()))),
            4
        );
    }

    #[test]
    fn clap_tree_is_valid() {
        Cli::command().debug_assert();
    }
}
