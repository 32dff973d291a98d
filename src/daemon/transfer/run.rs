//! The transfer engine: one whole `dm push` or `dm pull` of a branch, run by this node. It reads
//! both logs (the heads first: most runs find nothing to do), plans the streams with
//! [`crate::plan`], keeps commits that arrived whole before an interruption when their GUIDs
//! match the sender's, streams each step straight between the two daemons (`far`), and has the
//! receiver register it only once the sender's byte count confirms it. One end is this cluster
//! — the node's own services, as the request's user — and the other the far cluster's API, as
//! the remote's user. The client asks for a run and draws the [`api::RunEvent`]s it hears.

use crate::cluster::{CommitId, Undo};
use crate::routes::At;
use std::time::Instant;

use super::Transfers;
use super::far::far_err;
use crate::api::{self, CommitInfo, Direction, RunEvent, RunSummary};
use crate::client::config::Remote;
use crate::client::{Client, ClientError};
use crate::daemon::DaemonError;
use crate::daemon::principal::Principal;
use crate::names::short_id;
use crate::plan::{self, Base};

type Result<T> = std::result::Result<T, DaemonError>;

/// Where one end of a run lives.
enum Side<'a> {
    Here {
        node: &'a Transfers,
        user: &'a Principal,
    },
    There(&'a Client),
}

/// One end of a run: a branch on this cluster or the far one.
struct End<'a> {
    side: Side<'a>,
    at: (String, String, String),
    /// For messages: "this cluster" or "remote 'hub'".
    label: String,
}

impl End<'_> {
    fn at(&self) -> At<'_> {
        At::new((&self.at.0, &self.at.1, &self.at.2))
    }

    /// The far side's answer as this daemon's error, saying what was being done: its refusals
    /// keep their status (and so the client's exit code).
    fn far(&self, doing: &str, e: ClientError) -> DaemonError {
        match e {
            ClientError::Api {
                status,
                code,
                message,
            } if status < 500 => DaemonError::FarSaid {
                // Not 401: to the client, that would be its own key refused here.
                status: if status == 401 { 403 } else { status },
                code,
                message: format!("{doing} {}: {message}", self.label),
            },
            other => DaemonError::Far(format!("{doing} {}: {}", self.label, far_err(other))),
        }
    }

    /// The branch's history, newest first (`limit` 1: its head only); empty when the dot or
    /// branch does not exist.
    fn log(&self, limit: Option<usize>) -> Result<Vec<CommitInfo>> {
        let At {
            ns,
            dot,
            branch: br,
        } = self.at();
        let found = match &self.side {
            Side::Here { node, user } => match node.dots.log(user, ns, dot, br) {
                Err(DaemonError::NotFound(_)) => Ok(Vec::new()),
                other => other,
            },
            Side::There(c) => {
                let got = match limit {
                    Some(1) => c.head(ns, dot, br).map(|h| h.into_iter().collect()),
                    _ => c.log(ns, dot, br),
                };
                match got {
                    Err(ClientError::Api { status: 404, .. }) => Ok(Vec::new()),
                    other => other.map_err(|e| self.far("cannot read commits from", e)),
                }
            }
        };
        let mut log = found?;
        if let Some(n) = limit {
            log.truncate(n);
        }
        Ok(log)
    }

    /// The branch's newest own commit, if it has one.
    fn head(&self) -> Result<Option<CommitInfo>> {
        let br = &self.at.2;
        Ok(self.log(Some(1))?.pop().filter(|c| &c.branch == br))
    }

    /// The branch's own commits, oldest first, and the commit it was made from (if it was
    /// branched).
    fn commits(&self) -> Result<(Vec<CommitInfo>, Option<CommitInfo>)> {
        let br = &self.at.2;
        // Newest first: own commits, then the origin's from the branch point down.
        let (mut own, before): (Vec<_>, Vec<_>) =
            self.log(None)?.into_iter().partition(|c| &c.branch == br);
        own.reverse();
        Ok((own, before.into_iter().next()))
    }

    /// Whether the branch takes a stream based on `from`, and what arrived whole before.
    fn check(&self, from: Option<&str>) -> Result<api::Receipt> {
        match &self.side {
            Side::Here { node, user } => node.receive_commits(user, self.at(), from, None),
            Side::There(c) => c
                .receive_check(self.at(), from)
                .map_err(|e| self.far("the commits are refused by", e)),
        }
    }

    fn guids(&self, ids: &[String]) -> Result<Vec<String>> {
        match &self.side {
            Side::Here { node, user } => node.commit_guids(user, self.at(), ids),
            Side::There(c) => c
                .guids(self.at(), ids)
                .map_err(|e| self.far("cannot read commits from", e)),
        }
    }

    fn keep(&self, req: &api::KeepReceived) -> Result<Vec<String>> {
        match &self.side {
            Side::Here { node, user } => node.keep_received(user, self.at(), req),
            Side::There(c) => c
                .keep(self.at(), req)
                .map_err(|e| self.far("the commits that had arrived were not kept by", e)),
        }
    }

    fn confirm(&self, req: &api::ConfirmReceive) -> Result<Vec<String>> {
        match &self.side {
            Side::Here { node, user } => node.confirm_commits(user, self.at(), req),
            Side::There(c) => c
                .confirm(self.at(), req)
                .map_err(|e| self.far("the commits were not kept by", e)),
        }
    }

    fn tags(&self) -> Result<Vec<api::TagInfo>> {
        let At { ns, dot, .. } = self.at();
        match &self.side {
            Side::Here { node, user } => match node.dots.tags(user, ns, dot) {
                Err(DaemonError::NotFound(_)) => Ok(Vec::new()),
                other => other,
            },
            Side::There(c) => match c.tags(ns, dot) {
                Err(ClientError::Api { status: 404, .. }) => Ok(Vec::new()),
                other => other.map_err(|e| self.far("cannot read the tags of", e)),
            },
        }
    }

    fn create_tag(&self, name: &str, commit: &str) -> Result<()> {
        let At { ns, dot, branch } = self.at();
        let req = api::CreateTag {
            name: name.to_string(),
            branch: Some(branch.to_string()),
            commit: Some(commit.to_string()),
        };
        match &self.side {
            Side::Here { node, user } => node.dots.create_tag(user, ns, dot, &req).map(|_| ()),
            Side::There(c) => c
                .create_tag(ns, dot, &req)
                .map(|_| ())
                .map_err(|e| self.far("cannot make a tag on", e)),
        }
    }

    fn reset(&self, to: &str) -> Result<()> {
        let At {
            ns,
            dot,
            branch: br,
        } = self.at();
        match &self.side {
            Side::Here { node, user } => {
                let req = api::Reset {
                    commit: to.into(),
                    force: true,
                };
                node.dots.reset(user, ns, dot, br, &req).map(|_| ())
            }
            Side::There(c) => c
                .reset(ns, dot, br, to, true)
                .map(|_| ())
                .map_err(|e| self.far("cannot reset the branch on", e)),
        }
    }
}

impl Transfers {
    /// Runs a whole push or pull of one branch (see the module doc); `event` hears how it goes.
    pub fn run(
        &self,
        user: &Principal,
        r: &api::TransferRun,
        event: &mut dyn FnMut(RunEvent) -> std::io::Result<()>,
    ) -> Result<RunSummary> {
        self.run_upto(user, r, None, event)
    }

    /// [`Transfers::run`] of the branch's commits up to `upto` only (the base a pushed
    /// branch grew from; its later commits stay behind).
    fn run_upto(
        &self,
        user: &Principal,
        r: &api::TransferRun,
        upto: Option<&CommitId>,
        event: &mut dyn FnMut(RunEvent) -> std::io::Result<()>,
    ) -> Result<RunSummary> {
        // Refused before anything reaches the far side.
        user.may_use(&r.here.0)?;
        let far = Client::new(&Remote::from_far(&r.far));
        // Nothing else, the key least of all, goes to an address that is not a dm daemon.
        far.hello().map_err(far_err)?;
        let here = End {
            side: Side::Here { node: self, user },
            at: r.here.clone(),
            label: "this cluster".into(),
        };
        let there = End {
            side: Side::There(&far),
            at: r.there.clone(),
            label: format!("remote '{}'", r.remote),
        };
        let (src, dst) = match r.direction {
            Direction::Push => (&here, &there),
            Direction::Pull => (&there, &here),
        };
        let mut summary = RunSummary {
            up_to_date: true,
            ..RunSummary::default()
        };
        // Most runs find nothing to do: the two heads settle that without reading either
        // history, which keeps the exchange a few hundred bytes however long the log.
        if let (None, Some(a), Some(b)) = (upto, src.head()?, dst.head()?)
            && a.id == b.id
        {
            if r.tags {
                let (theirs, base) = src.commits()?;
                carry_tags(src, dst, &theirs, base.as_ref(), &mut summary)?;
            }
            self.note_shared(r, &a.id);
            return Ok(summary);
        }
        let (mut theirs, base) = src.commits()?;
        if let Some(u) = upto {
            let Some(at) = theirs.iter().position(|c| c.id == *u) else {
                return Err(DaemonError::NotFound(format!(
                    "commit {} is not on branch '{}' of dot '{}' here any more",
                    short_id(u),
                    src.at.2,
                    src.at.1
                )));
            };
            theirs.truncate(at + 1);
        }
        if theirs.is_empty() {
            return Err(DaemonError::Conflict(format!(
                "branch '{}' of dot '{}' on {} has no commits; only commits move, so commit first (`dm commit -m MESSAGE`)",
                src.at.2, src.at.1, src.label
            )));
        }
        let (mut ours, _) = dst.commits()?;
        // A branch pushed where its base is missing (the dot, or the commit it grew from, is
        // not there): the base goes first, up to that commit and no further, as Dotmesh does.
        let mut carried = RunSummary::default();
        if r.direction == Direction::Push
            && ours.is_empty()
            && let Some(b) = &base
            && let Err(e) = dst.check(Some(b.id.as_str()))
        {
            if e.status() != 404 {
                return Err(e);
            }
            let base_run = api::TransferRun {
                here: (r.here.0.clone(), r.here.1.clone(), b.branch.clone()),
                there: (r.there.0.clone(), r.there.1.clone(), b.branch.clone()),
                ..r.clone()
            };
            carried = self
                .run_upto(user, &base_run, Some(&b.id), event)
                .map_err(|e| {
                    DaemonError::Conflict(format!(
                        "branch '{}' grew from commit {} of branch '{}', which {} lacks, and sending '{}' up to that commit first failed: {e}",
                        r.here.2,
                        short_id(&b.id),
                        b.branch,
                        dst.label,
                        b.branch
                    ))
                })?;
        }
        let ids = |v: &[CommitInfo]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        let planned = plan::plan(&ids(&theirs), &ids(&ours), base.is_some());
        if planned.extra > 0 {
            let extra = planned.extra;
            if !r.force {
                return Err(DaemonError::Conflict(format!(
                    "{} has {extra} commit(s) on branch '{}' that {} lacks (newest {}): the branches diverged. Pull them first, or pass --force to reset {} to the last common commit (those commits are lost there)",
                    dst.label,
                    dst.at.2,
                    src.label,
                    short_id(&ours[ours.len() - 1].id),
                    dst.label
                )));
            }
            if planned.common == 0 {
                return Err(DaemonError::Conflict(format!(
                    "branch '{}' on {} has no commit in common with {}; delete it there first (`dm dot delete` or `dm branch -d`)",
                    dst.at.2, dst.label, src.label
                )));
            }
            let to = ours[planned.receiver_common - 1].id.clone();
            dst.reset(&to)?;
            let _ = event(RunEvent::Reset {
                side: dst.label.clone(),
                branch: dst.at.2.clone(),
                to: to.to_string(),
                dropped: extra,
            });
            ours.truncate(planned.receiver_common);
        }
        let before = ours.last().map(|c| c.id.clone());
        summary.commits = theirs.len() - planned.common;
        summary.up_to_date = planned.steps.is_empty();
        for st in &planned.steps {
            let from = match st.base {
                Base::Full => None,
                Base::Origin => base.as_ref().map(|c| c.id.to_string()),
                Base::Commit(i) => Some(theirs[i].id.to_string()),
            };
            let check = dst.check(from.as_deref())?;
            let resumed = keep_arrived(src, dst, &theirs[st.first..=st.last], &check.kept)?;
            summary.resumed += resumed;
            let first = st.first + resumed;
            if first > st.last {
                continue;
            }
            let from = match resumed {
                0 => from,
                _ => Some(theirs[first - 1].id.to_string()),
            };
            let step = &theirs[first..=st.last];
            summary.bytes += self.stream(
                (user, r.direction),
                (&here, &far, &there),
                (from, step),
                dst,
                event,
            )?;
        }
        if r.tags {
            carry_tags(src, dst, &theirs, base.as_ref(), &mut summary)?;
        }
        if let Some(head) = theirs.last() {
            self.note_shared(r, &head.id);
        }
        self.note_run(user, r, &summary, before, theirs.last().map(|c| &c.id));
        summary.commits += carried.commits;
        summary.resumed += carried.resumed;
        summary.bytes += carried.bytes;
        summary.tags.extend(carried.tags);
        summary.tags_kept.extend(carried.tags_kept);
        Ok(summary)
    }

    /// Records a finished run in the operation log. A pull that moved a branch is undone by
    /// moving it back (`before`, its newest commit then); one that made a new branch, by
    /// deleting it. A push, or a pull that made the dot, cannot be undone.
    fn note_run(
        &self,
        user: &Principal,
        r: &api::TransferRun,
        summary: &RunSummary,
        before: Option<CommitId>,
        after: Option<&CommitId>,
    ) {
        let branch = r.here.2.clone();
        let (verb, dir) = match r.direction {
            Direction::Push => ("push", "to"),
            Direction::Pull => ("pull", "from"),
        };
        let undo = match (r.direction, before, after) {
            (Direction::Push, ..) => Err("a push cannot be undone here"),
            _ if summary.commits == 0 => Err("it changed nothing"),
            (Direction::Pull, Some(to), Some(from)) => Ok(Undo::Rewind {
                branch: branch.clone(),
                to,
                from: from.clone(),
            }),
            (Direction::Pull, None, _) if branch != crate::names::MASTER => {
                Ok(Undo::DeleteBranch {
                    branch: branch.clone(),
                })
            }
            _ => Err("it made the dot; `dm dot delete` removes it"),
        };
        let mut text = format!(
            "{verb}ed {} commit(s) of '{branch}' {dir} remote '{}'",
            summary.commits, r.remote
        );
        if let Err(why) = &undo {
            text.push_str(&format!(" (cannot be undone: {why})"));
        }
        self.dots.note(
            user,
            &r.here.0,
            &r.here.1,
            Some(&branch),
            verb,
            text,
            undo.ok(),
        );
    }

    /// Remembers the newest commit both ends of a finished run have: `dm prune` keeps it, so
    /// the next push or pull between them still starts from a commit both hold (zrepl's rule).
    fn note_shared(&self, r: &api::TransferRun, head: &crate::cluster::CommitId) {
        let pairing = format!(
            "{}:{}/{}/{}/{}@{}",
            r.far.host, r.far.port, r.there.0, r.there.1, r.there.2, r.here.2
        );
        let noted = self.core.load(&r.here.0, &r.here.1).and_then(|l| {
            let key = crate::daemon::hash_key(&pairing);
            Ok(self.core.store.set_shared(&l.dot.id, &key, head)?)
        });
        if let Err(e) = noted {
            tracing::warn!(error = %e, "cannot record the commit shared with a remote; `dm prune` may remove it");
        }
    }

    /// Streams `step` (the commits after `from`) from one end to the other and confirms them
    /// on the receiver. Returns the bytes that arrived.
    fn stream(
        &self,
        (user, direction): (&Principal, Direction),
        (here, far, there): (&End<'_>, &Client, &End<'_>),
        (from, step): (Option<String>, &[CommitInfo]),
        dst: &End<'_>,
        event: &mut dyn FnMut(RunEvent) -> std::io::Result<()>,
    ) -> Result<u64> {
        let started = Instant::now();
        let _ = event(RunEvent::Step {
            commits: step.len(),
        });
        let mut report = |bytes, estimate| event(RunEvent::Progress { bytes, estimate });
        let to = &step[step.len() - 1].id;
        let from = from.as_deref();
        let done = match direction {
            Direction::Push => {
                self.push_to_far(user, here.at(), (far, there.at()), from, to, &mut report)
            }
            Direction::Pull => {
                self.pull_from_far(user, here.at(), (far, there.at()), from, to, &mut report)
            }
        }?;
        let confirm = api::ConfirmReceive {
            bytes: done.sent_bytes,
            commits: step.to_vec(),
        };
        let kept = dst.confirm(&confirm)?;
        if let Some(missing) = step
            .iter()
            .find(|c| !kept.iter().any(|k| k.as_str() == c.id.as_str()))
        {
            return Err(DaemonError::Far(format!(
                "{} took the stream but did not register commit {}; run the same command again",
                dst.label,
                short_id(&missing.id)
            )));
        }
        let bytes = done.receipt.bytes;
        let _ = event(RunEvent::Stepped {
            commits: step.len(),
            bytes,
            seconds: started.elapsed().as_secs_f64(),
        });
        Ok(bytes)
    }
}

/// Makes on `dst` the tags `src` has for the branch's commits (`theirs`, and the commit it grew
/// from): a tag `dst` lacks is made, one it has for the same commit is left, and one it has for
/// another commit is kept there and reported, as git keeps an existing tag on fetch.
fn carry_tags(
    src: &End<'_>,
    dst: &End<'_>,
    theirs: &[CommitInfo],
    base: Option<&CommitInfo>,
    summary: &mut RunSummary,
) -> Result<()> {
    let wanted: Vec<api::TagInfo> = src
        .tags()?
        .into_iter()
        .filter(|t| theirs.iter().chain(base).any(|c| c.id == t.commit))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let have = dst.tags()?;
    for t in wanted {
        match have.iter().find(|h| h.name == t.name) {
            Some(h) if h.commit == t.commit => {}
            Some(_) => summary.tags_kept.push(t.name),
            None => {
                dst.create_tag(&t.name, &t.commit)?;
                summary.tags.push(t.name);
            }
        }
    }
    Ok(())
}

/// Keeps on `dst` the commits of `step` that arrived whole in an earlier, interrupted transfer
/// (`arrived`, from its check), when they are the very snapshots `src` has (same GUIDs), so they
/// are not sent again. Returns how many, from the start of `step`.
fn keep_arrived(
    src: &End<'_>,
    dst: &End<'_>,
    step: &[CommitInfo],
    arrived: &[api::Arrived],
) -> Result<usize> {
    let step_ids: Vec<&str> = step.iter().map(|c| c.id.as_str()).collect();
    let arrived_ids: Vec<&str> = arrived.iter().map(|a| a.id.as_str()).collect();
    let ids: Vec<String> = plan::arrived_ids(&step_ids, &arrived_ids)
        .into_iter()
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let guids = src.guids(&ids)?;
    let pairs: Vec<(&str, &str)> = arrived
        .iter()
        .map(|a| (a.id.as_str(), a.guid.as_str()))
        .collect();
    let guid_refs: Vec<&str> = guids.iter().map(String::as_str).collect();
    let same = plan::already_arrived(&step_ids, &pairs, &guid_refs);
    if same == 0 {
        return Ok(0);
    }
    dst.keep(&api::KeepReceived {
        commits: step[..same].to_vec(),
        guids: guids[..same].to_vec(),
    })?;
    Ok(same)
}
