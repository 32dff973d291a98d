//! `dm push`, `dm pull`, `dm clone`: move a branch's commits between clusters, like git.
//!
//! The client compares the two sides' logs, then has this cluster's daemon stream the commits the
//! other side lacks straight to or from the remote's daemon, showing its progress; the receiver
//! registers them only when the client confirms with the sender's checksum. Only commits move,
//! never uncommitted changes. The first transfer of a branch is a full stream (or, for a branch,
//! a clone of the commit it grew from); later ones are incremental from the newest common commit.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::api::{self, CommitInfo};
use crate::client::config::Remote;
use crate::client::{Client, ClientError};
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
    /// Name of the new dot here [default: the same name]
    #[arg(long)]
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

    fn at(&self) -> (&str, &str, &str) {
        (&self.ns, &self.dot, &self.branch)
    }

    /// The branch's newest own commit, if it has one (`None` too when the dot or branch does not
    /// exist).
    fn head(&self) -> anyhow::Result<Option<CommitInfo>> {
        match self.client.head(&self.ns, &self.dot, &self.branch) {
            Ok(c) => Ok(c.filter(|c| c.branch == self.branch)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read commits from {}", self.label)),
        }
    }

    /// The branch's own commits, oldest first, and the commit it was made from (if it was
    /// branched). Empty when the dot or branch does not exist.
    fn commits(&self) -> anyhow::Result<(Vec<CommitInfo>, Option<CommitInfo>)> {
        match self.client.log(&self.ns, &self.dot, &self.branch) {
            Ok(log) => {
                // Newest first: own commits, then the origin's from the branch point down.
                let (mut own, before): (Vec<_>, Vec<_>) =
                    log.into_iter().partition(|c| c.branch == self.branch);
                own.reverse();
                Ok((own, before.into_iter().next()))
            }
            Err(ClientError::Api { status: 404, .. }) => Ok((Vec::new(), None)),
            Err(e) => Err(e).with_context(|| format!("cannot read commits from {}", self.label)),
        }
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

/// Moves `src`'s commits that `dst` lacks; refuses (or with `force`, resets `dst`) on divergence.
/// The stream goes straight between the two daemons: this cluster's daemon sends to or reads
/// from `far` (the other side), and the client only compares logs, shows progress and confirms.
fn transfer(
    src: &End<'_>,
    dst: &End<'_>,
    (direction, far): (api::Direction, &Remote),
    force: bool,
    json: bool,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary {
        dot: dst.dot.clone(),
        branch: dst.branch.clone(),
        from: src.label.clone(),
        to: dst.label.clone(),
        commits: 0,
        resumed: 0,
        bytes: 0,
        seconds: 0.0,
        up_to_date: true,
    };
    // Most pushes and pulls find nothing to do: the two heads settle that without reading
    // either history, which keeps the exchange a few hundred bytes however long the log.
    if let (Some(a), Some(b)) = (src.head()?, dst.head()?)
        && a.id == b.id
    {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let (theirs, base) = src.commits()?;
    if theirs.is_empty() {
        bail!(
            "branch '{}' of dot '{}' on {} has no commits; only commits move, so commit first (`dm commit -m MESSAGE`)",
            src.branch,
            src.dot,
            src.label
        );
    }
    let (mut ours, _) = dst.commits()?;
    let ids = |v: &[CommitInfo]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let plan = crate::plan::plan(&ids(&theirs), &ids(&ours), base.is_some());
    let common = plan.common;
    if plan.extra > 0 {
        let extra = plan.extra;
        if !force {
            bail!(
                "{} has {extra} commit(s) on branch '{}' that {} lacks (newest {}): the branches diverged. Pull them first, or pass --force to reset {} to the last common commit (those commits are lost there)",
                dst.label,
                dst.branch,
                src.label,
                crate::names::short_id(&ours[ours.len() - 1].id),
                dst.label
            );
        }
        if common == 0 {
            bail!(
                "branch '{}' on {} has no commit in common with {}; delete it there first (`dm dot delete` or `dm branch -d`)",
                dst.branch,
                dst.label,
                src.label
            );
        }
        let base = &ours[common - 1].id;
        dst.client
            .reset(&dst.ns, &dst.dot, &dst.branch, base, true)
            .with_context(|| format!("cannot reset the branch on {}", dst.label))?;
        eprintln!(
            "Reset '{}' on {} to {} ({extra} commit(s) dropped there).",
            dst.branch,
            dst.label,
            crate::names::short_id(base)
        );
        ours.truncate(common);
    }
    summary.commits = theirs.len() - ours.len();
    summary.up_to_date = plan.steps.is_empty();
    // (base commit, first, last) as indexes into `theirs`, as planned (see `crate::plan`).
    let steps: Vec<(Option<String>, usize, usize)> = plan
        .steps
        .iter()
        .map(|st| {
            let from = match st.base {
                crate::plan::Base::Full => None,
                crate::plan::Base::Origin => base.as_ref().map(|c| c.id.clone()),
                crate::plan::Base::Commit(i) => Some(theirs[i].id.clone()),
            };
            (from, st.first, st.last)
        })
        .collect();
    let bar = progress_bar(json);
    let (local, here, there) = match direction {
        api::Direction::Push => (src.client, src, dst),
        api::Direction::Pull => (dst.client, dst, src),
    };
    let owned = |e: &End<'_>| (e.ns.clone(), e.dot.clone(), e.branch.clone());
    for (from, first, to) in steps {
        let check = dst
            .client
            .receive_check(dst.at(), from.as_deref())
            .with_context(|| format!("{} will not take the commits", dst.label))?;
        let resumed = keep_arrived(src, dst, &theirs[first..=to], &check.kept)?;
        summary.resumed += resumed;
        let first = first + resumed;
        if first > to {
            continue;
        }
        let from = match resumed {
            0 => from,
            _ => Some(theirs[first - 1].id.clone()),
        };
        let n = to + 1 - first;
        let req = api::TransferRequest {
            direction,
            here: owned(here),
            far: far.to_far(),
            there: owned(there),
            from: from.clone(),
            to: theirs[to].id.clone(),
        };
        let mut styled = false;
        let step_started = Instant::now();
        let mut last_line = Instant::now();
        let mut progress = |bytes: u64, estimate: Option<u64>| {
            if let Some(b) = &bar {
                if !styled {
                    start_step(b, estimate, format!("{n} commit(s)"));
                    styled = true;
                }
                b.set_position(bytes);
            } else if !json && last_line.elapsed() >= PLAIN_EVERY {
                // No terminal (a log, CI): a plain line now and then instead of a bar.
                last_line = Instant::now();
                let of =
                    estimate.map_or(String::new(), |e| format!(" of ~{}", super::human_bytes(e)));
                eprintln!(
                    "{n} commit(s): {}{of} sent, {}/s",
                    super::human_bytes(bytes),
                    super::human_bytes(rate(bytes, step_started))
                );
            }
        };
        if let Some(b) = &bar {
            start_step(b, None, format!("{n} commit(s)"));
        }
        let done = local.transfer(&req, &mut progress).with_context(|| {
            format!(
                "cannot move the commits from {} to {}",
                src.label, dst.label
            )
        })?;
        let sent = done.receipt.bytes;
        summary.bytes += sent;
        let confirm = api::ConfirmReceive {
            bytes: done.sent_bytes,
            commits: theirs[first..=to].to_vec(),
        };
        let kept = dst
            .client
            .confirm(dst.at(), &confirm)
            .with_context(|| format!("{} did not keep the commits", dst.label))?;
        if let Some(missing) = confirm.commits.iter().find(|c| !kept.contains(&c.id)) {
            bail!(
                "{} took the stream but did not register commit {}; run the same command again",
                dst.label,
                crate::names::short_id(&missing.id)
            );
        }
        if bar.is_none() && !json {
            eprintln!(
                "{n} commit(s), {} sent in {:.1}s ({}/s)",
                super::human_bytes(sent),
                step_started.elapsed().as_secs_f64(),
                super::human_bytes(rate(sent, step_started))
            );
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Keeps on `dst` the commits of `step` that arrived whole in an earlier, interrupted transfer
/// (`arrived`, from its check), when they are the very snapshots `src` has (same GUIDs), so they
/// are not sent again. Returns how many, from the start of `step`.
fn keep_arrived(
    src: &End<'_>,
    dst: &End<'_>,
    step: &[CommitInfo],
    arrived: &[api::Arrived],
) -> anyhow::Result<usize> {
    let step_ids: Vec<&str> = step.iter().map(|c| c.id.as_str()).collect();
    let arrived_ids: Vec<&str> = arrived.iter().map(|a| a.id.as_str()).collect();
    let ids: Vec<String> = crate::plan::arrived_ids(&step_ids, &arrived_ids)
        .into_iter()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let guids = src
        .client
        .guids(src.at(), &ids)
        .with_context(|| format!("cannot read commits from {}", src.label))?;
    let pairs: Vec<(&str, &str)> = arrived
        .iter()
        .map(|a| (a.id.as_str(), a.guid.as_str()))
        .collect();
    let guid_refs: Vec<&str> = guids.iter().map(String::as_str).collect();
    let same = crate::plan::already_arrived(&step_ids, &pairs, &guid_refs);
    if same == 0 {
        return Ok(0);
    }
    let req = api::KeepReceived {
        commits: step[..same].to_vec(),
        guids: guids[..same].to_vec(),
    };
    dst.client
        .keep(dst.at(), &req)
        .with_context(|| format!("{} did not keep the commits that had arrived", dst.label))?;
    Ok(same)
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
        (api::Direction::Push, &s.remote),
        a.force,
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
    let summary = transfer(&src, &dst, (api::Direction::Pull, &s.remote), false, a.json)?;
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
    let local_name = a.local_name.clone().unwrap_or(r.dot.clone());
    names::validate(names::Kind::Dot, &local_name)?;
    let local_ns = far_namespace(&far_ns, &far_user, &here.user);
    if local.show(&local_ns, &local_name).is_ok() {
        bail!(
            "dot '{local_name}' already exists here; `dm pull {}` fetches new commits into it, or pick another name with --local-name",
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
    let far_dot = src.dot.clone();
    let pull = (api::Direction::Pull, &far_remote);
    // Every branch grows from master: a dot cloned for another branch gets master first, then
    // the branch (and any branch in between must be pulled separately, as git fetches it).
    let trunk = if dst.branch == names::MASTER {
        None
    } else {
        let (s, d) = (src.on(names::MASTER), dst.on(names::MASTER));
        Some(transfer(&s, &d, pull, false, a.json)?)
    };
    let mut s = transfer(&src, &dst, pull, false, a.json)?;
    if let Some(t) = trunk {
        s.commits += t.commits;
        s.bytes += t.bytes;
        s.seconds += t.seconds;
    }
    if far_dot != dst.dot {
        remember_name(ctx, &a.remote, &key, &far_dot)?;
    }
    report(&s, a.json, "Cloned")
}
