//! `dm push`, `dm pull`, `dm clone`: move a branch's commits between clusters, like git.
//!
//! The client names the two sides and asks this cluster's daemon to run the transfer
//! (`daemon::transfer::run`): it compares the logs, streams the commits the other side lacks
//! straight to or from the remote's daemon, and has the receiver register them only once the
//! sender's byte count confirms them. The client draws the progress it hears. Only commits move,
//! never uncommitted changes. The first transfer of a branch is a full stream (or, for a branch,
//! a clone of the commit it grew from); later ones are incremental from the newest common commit.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::api::{self};
use crate::client::Client;
use crate::client::config::Remote;
use crate::names::{self, DotRef};

mod sides;

use sides::{far_namespace, remember_name, remote_client, sides};

/// Send a branch's commits to another cluster
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Remote to push to (`dm remote -v` lists them)
    remote: String,
    /// Dot to push [default: the current dot]
    dot: Option<String>,
    /// Name of the dot on the remote, [NAMESPACE/]NAME [default: the same name, in the remote
    /// user's namespace]
    #[arg(long, value_name = "[NAMESPACE/]NAME")]
    remote_name: Option<String>,
    /// Branch to push [default: the checked-out branch]
    #[arg(long)]
    branch: Option<String>,
    /// Reset the remote branch to the last common commit first when it has commits this side
    /// lacks (they are lost there)
    #[arg(long)]
    force: bool,
    /// Also make this dot's tags of the pushed commits on the remote (pulls and clones always
    /// bring the remote's)
    #[arg(long)]
    tags: bool,
    /// Print a JSON summary at the end
    #[arg(long)]
    json: bool,
}

/// Fetch a branch's new commits from another cluster into a dot that exists here
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// Remote to pull from
    remote: String,
    /// Dot to pull into [default: the current dot]
    dot: Option<String>,
    /// Branch to pull [default: the checked-out branch]
    branch: Option<String>,
    /// Print a JSON summary at the end
    #[arg(long)]
    json: bool,
}

/// Copy a dot from another cluster to this one
#[derive(clap::Args, Debug)]
pub struct CloneArgs {
    /// Remote to clone from
    remote: String,
    /// Dot on the remote ([NAMESPACE/]NAME)
    dot: String,
    /// Branch to clone [default: master]
    branch: Option<String>,
    /// Name of the new dot here, exactly: [NAMESPACE/]NAME, in your own namespace unless one is
    /// given (`-v NAME` in Docker then finds it) [default: the remote's name]
    #[arg(long, value_name = "[NS/]NAME")]
    local_name: Option<String>,
    /// Print a JSON summary at the end
    #[arg(long)]
    json: bool,
}

/// One side of a transfer: a daemon and a branch on it.
struct End<'a> {
    client: &'a Client,
    ns: String,
    dot: String,
    branch: String,
    /// For messages: "this cluster" or "remote 'hub'".
    label: String,
}

impl<'a> End<'a> {
    /// The same dot's branch `branch` on the same side.
    fn on(&self, branch: &str) -> End<'a> {
        End {
            client: self.client,
            ns: self.ns.clone(),
            dot: self.dot.clone(),
            branch: branch.to_string(),
            label: self.label.clone(),
        }
    }

    fn owned(&self) -> (String, String, String) {
        (self.ns.clone(), self.dot.clone(), self.branch.clone())
    }
}

#[derive(Serialize)]
struct Summary {
    dot: String,
    branch: String,
    from: String,
    to: String,
    commits: usize,
    /// Of `commits`, those that had arrived whole before an interruption and were kept rather
    /// than sent again.
    resumed: usize,
    bytes: u64,
    seconds: f64,
    up_to_date: bool,
    /// Tags made on the receiving side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    /// Tags the receiving side has for another commit, left as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags_kept: Vec<String>,
}

/// How often a transfer without a terminal prints how far it got.
const PLAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Bytes per second since `since`.
fn rate(bytes: u64, since: Instant) -> u64 {
    (bytes as f64 / since.elapsed().as_secs_f64().max(0.001)) as u64
}

fn progress_bar(json: bool) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// A bar with bytes, rate and ETA when the sender estimated the size; a spinner otherwise.
fn start_step(bar: &indicatif::ProgressBar, estimate: Option<u64>, msg: String) {
    let template = match estimate {
        Some(n) => {
            bar.set_length(n);
            "{bar:30} {bytes}/~{total_bytes} ({bytes_per_sec}, ETA {eta}) {msg}"
        }
        None => "{spinner} {bytes} sent ({bytes_per_sec}, {elapsed}) {msg}",
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar.set_position(0);
    bar.set_message(msg);
}

/// Has this cluster's daemon move `src`'s commits that `dst` lacks, refusing (or with `force`,
/// resetting `dst`) on divergence, while the progress it reports is drawn here.
fn transfer(
    src: &End<'_>,
    dst: &End<'_>,
    (direction, far, remote): (api::Direction, &Remote, &str),
    (force, tags): (bool, bool),
    json: bool,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let (local, here, there) = match direction {
        api::Direction::Push => (src.client, src, dst),
        api::Direction::Pull => (dst.client, dst, src),
    };
    let req = api::TransferRun {
        direction,
        here: here.owned(),
        far: far.to_far(),
        there: there.owned(),
        force,
        remote: remote.to_string(),
        tags,
    };
    let bar = progress_bar(json);
    let mut step = (0, Instant::now(), Instant::now(), false);
    let mut on_event = |ev: &api::RunEvent| match ev {
        api::RunEvent::Step { commits } => {
            step = (*commits, Instant::now(), Instant::now(), false);
            if let Some(b) = &bar {
                start_step(b, None, format!("{commits} commit(s)"));
            }
        }
        api::RunEvent::Progress { bytes, estimate } => {
            let (n, step_started, last_line, styled) = &mut step;
            if let Some(b) = &bar {
                if !*styled {
                    start_step(b, *estimate, format!("{n} commit(s)"));
                    *styled = true;
                }
                b.set_position(*bytes);
            } else if !json && last_line.elapsed() >= PLAIN_EVERY {
                // No terminal (a log, CI): a plain line now and then instead of a bar.
                *last_line = Instant::now();
                let of =
                    estimate.map_or(String::new(), |e| format!(" of ~{}", super::human_bytes(e)));
                eprintln!(
                    "{n} commit(s): {}{of} sent, {}/s",
                    super::human_bytes(*bytes),
                    super::human_bytes(rate(*bytes, *step_started))
                );
            }
        }
        api::RunEvent::Stepped {
            commits,
            bytes,
            seconds,
        } => {
            if bar.is_none() && !json {
                eprintln!(
                    "{commits} commit(s), {} sent in {seconds:.1}s ({}/s)",
                    super::human_bytes(*bytes),
                    super::human_bytes((*bytes as f64 / seconds.max(0.001)) as u64)
                );
            }
        }
        api::RunEvent::Reset {
            side,
            branch,
            to,
            dropped,
        } => {
            eprintln!(
                "Reset '{branch}' on {side} to {} ({dropped} commit(s) dropped there).",
                crate::names::short_id(to)
            );
        }
        api::RunEvent::Done(_) | api::RunEvent::Error(_) => {}
    };
    let done = local.run_transfer(&req, &mut on_event).with_context(|| {
        format!(
            "cannot move the commits from {} to {}",
            src.label, dst.label
        )
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let done = done?;
    Ok(Summary {
        dot: dst.dot.clone(),
        branch: dst.branch.clone(),
        from: src.label.clone(),
        to: dst.label.clone(),
        commits: done.commits,
        resumed: done.resumed,
        bytes: done.bytes,
        seconds: started.elapsed().as_secs_f64(),
        up_to_date: done.up_to_date,
        tags: done.tags,
        tags_kept: done.tags_kept,
    })
}

fn report(s: &Summary, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        return super::print_json(s);
    }
    if s.up_to_date {
        println!("Everything up to date ({} branch '{}').", s.dot, s.branch);
    } else {
        let resumed = match s.resumed {
            0 => String::new(),
            n => format!(" ({n} of them had arrived before an interruption and were kept)"),
        };
        println!(
            "{verb} {} commit(s) of {}@{} from {} to {}: {} in {:.1}s{resumed}.",
            s.commits,
            s.dot,
            s.branch,
            s.from,
            s.to,
            super::human_bytes(s.bytes),
            s.seconds
        );
    }
    if !s.tags.is_empty() {
        println!("Tags made on {}: {}.", s.to, s.tags.join(", "));
    }
    if !s.tags_kept.is_empty() {
        eprintln!(
            "Tags {} already name other commits on {} and were left as they are there (tags do not move; `dm tag -d` one there first to replace it).",
            s.tags_kept.join(", "),
            s.to
        );
    }
    Ok(())
}

pub fn push(ctx: &mut super::Ctx, a: PushArgs) -> anyhow::Result<()> {
    let s = sides(
        ctx,
        &a.remote,
        a.dot.as_deref(),
        a.branch.as_deref(),
        a.remote_name.as_deref(),
    )?;
    let src = s.here();
    let dst = s.there(&a.remote, s.far_dot.clone());
    let summary = transfer(
        &src,
        &dst,
        (api::Direction::Push, &s.remote, &a.remote),
        (a.force, a.tags),
        a.json,
    )?;
    if let Some(n) = &a.remote_name {
        remember_name(ctx, &a.remote, &s.key, n)?;
    }
    report(&summary, a.json, "Pushed")
}

pub fn pull(ctx: &super::Ctx, a: PullArgs) -> anyhow::Result<()> {
    let s = sides(ctx, &a.remote, a.dot.as_deref(), a.branch.as_deref(), None)?;
    let src = s.there(&a.remote, s.far_dot.clone());
    let dst = s.here();
    let summary = transfer(
        &src,
        &dst,
        (api::Direction::Pull, &s.remote, &a.remote),
        (false, true),
        a.json,
    )?;
    report(&summary, a.json, "Pulled")
}

pub fn clone(ctx: &mut super::Ctx, a: CloneArgs) -> anyhow::Result<()> {
    let r = DotRef::parse(&a.dot)?;
    let (far, far_remote) = remote_client(ctx, &a.remote)?;
    let far_user = far_remote.user.clone();
    // Starts this machine's daemon if it is down, like every other verb.
    ctx.call(|c| c.ping())?;
    let (_, here) = ctx.cfg.current()?;
    let local = Client::new(here);
    let far_ns = r.namespace.clone().unwrap_or(far_user.clone());
    // `--local-name` is the local dot's name exactly: `[NS/]NAME`, in the local user's
    // namespace unless it names one. Without it, the far name, in the namespace that maps to.
    let (local_ns, local_name) = match &a.local_name {
        Some(n) => {
            let l = DotRef::parse(n)?;
            if l.branch.is_some() || l.subdot.is_some() {
                bail!("--local-name takes [NAMESPACE/]NAME, without a branch or subdot: {n:?}");
            }
            (l.namespace.unwrap_or(here.user.clone()), l.dot)
        }
        None => (far_namespace(&far_ns, &far_user, &here.user), r.dot.clone()),
    };
    let shown = names::short(&local_ns, &local_name, &here.user);
    if local.show(&local_ns, &local_name).is_ok() {
        bail!(
            "dot '{shown}' already exists here; `dm pull {}` fetches new commits into it, or pick another name with --local-name",
            a.remote
        );
    }
    let branch = a
        .branch
        .clone()
        .or(r.branch.clone())
        .unwrap_or_else(|| names::MASTER.to_string());
    let src = End {
        client: &far,
        ns: far_ns,
        dot: r.dot.clone(),
        branch: branch.clone(),
        label: format!("remote '{}'", a.remote),
    };
    let dst = End {
        client: &local,
        ns: local_ns,
        dot: local_name,
        branch,
        label: "this cluster".into(),
    };
    let key = names::short(&dst.ns, &dst.dot, &here.user);
    let pull = (api::Direction::Pull, &far_remote, a.remote.as_str());
    // Every branch grows from master: a dot cloned for another branch gets master first, then
    // the branch (and any branch in between must be pulled separately, as git fetches it).
    let trunk = if dst.branch == names::MASTER {
        None
    } else {
        let (s, d) = (src.on(names::MASTER), dst.on(names::MASTER));
        Some(transfer(&s, &d, pull, (false, true), a.json)?)
    };
    let mut s = transfer(&src, &dst, pull, (false, true), a.json)?;
    if let Some(t) = trunk {
        s.commits += t.commits;
        s.bytes += t.bytes;
        s.seconds += t.seconds;
        s.tags.extend(t.tags);
        s.tags_kept.extend(t.tags_kept);
    }
    // Push and pull find the far side by this name from now on.
    if src.dot != dst.dot || a.local_name.is_some() {
        remember_name(ctx, &a.remote, &key, &format!("{}/{}", src.ns, src.dot))?;
    }
    report(&s, a.json, "Cloned")
}
