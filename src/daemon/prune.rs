//! `dm prune`: retention for a branch's commits (zrepl's pruning rules and restic's keep
//! policies are the model). Keeps the newest commit, every commit another branch grew from,
//! every tagged commit and the newest commit shared with each other cluster it transferred
//! with (so the next incremental push or pull still has a base), plus what the policy asks
//! for; removes the rest of the branch's own commits. Replicas follow: each node drops what
//! the registry no longer lists (`Replicator::drop_pruned`).

use std::collections::{BTreeMap, BTreeSet};

use super::DaemonError;
use super::core::zfs_err;
use super::dots::Dots;
use super::intent::Intent;
use super::principal::Principal;
use crate::api;
use crate::cluster::{CommitId, CommitRecord};
use crate::routes::At;
use crate::storage::Ds;

type Result<T> = std::result::Result<T, DaemonError>;

impl Dots {
    pub fn prune(&self, user: &Principal, at: At<'_>, req: &api::Prune) -> Result<api::Pruned> {
        let (ns, name, branch) = at.triple();
        user.may_use(ns)?;
        req.check().map_err(DaemonError::BadRequest)?;
        let lock = self.core.lock(&format!("name:{ns}/{name}"));
        let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let l = self.core.load(ns, name)?;
        let b = self.core.writable(&l, branch)?;
        let mut own = self.core.store.commits(&b.fs_id)?;
        own.reverse();
        let mut why: BTreeMap<CommitId, Vec<String>> = BTreeMap::new();
        let mut keep =
            |c: &CommitId, reason: String| why.entry(c.clone()).or_default().push(reason);
        if let Some(c) = own.first() {
            keep(&c.id, "newest".into());
        }
        for x in &l.branches {
            if let Some(o) = x.origin.as_ref().filter(|o| o.fs_id == b.fs_id) {
                keep(&o.commit, format!("branch {} grew from it", x.name));
            }
        }
        for (tag, t) in self.core.store.tags(&l.dot.id)? {
            if t.fs_id == b.fs_id {
                keep(&t.commit, format!("tag {tag}"));
            }
        }
        for c in self.core.store.shared(&l.dot.id)? {
            keep(&c, "shared with another cluster".into());
        }
        for (c, reason) in policy(&own, req) {
            keep(&c, reason);
        }
        let ds = Ds::Branch(&b.fs_id);
        let mut out = api::Pruned {
            branch: branch.to_string(),
            dry_run: req.dry_run,
            commits: Vec::new(),
            removed: 0,
            bytes: 0,
        };
        let mut gone = Vec::new();
        for c in &own {
            let reasons = why.remove(&c.id).unwrap_or_default();
            let keep = !reasons.is_empty();
            let bytes = if keep {
                0
            } else {
                self.core
                    .storage
                    .snapshot_used(ds, &c.id)
                    .map_err(zfs_err)?
            };
            if !keep {
                out.removed += 1;
                out.bytes += bytes;
                gone.push(c.id.clone());
            }
            out.commits.push(api::PruneDecision {
                id: c.id.to_string(),
                message: c.message.clone(),
                time: c.time,
                keep,
                why: reasons,
                bytes,
            });
        }
        if req.dry_run || gone.is_empty() {
            return Ok(out);
        }
        let intent = Intent::Prune {
            fs_id: b.fs_id.clone(),
            removed: gone.clone(),
        };
        self.core.under(intent, || {
            for c in &gone {
                crate::storage::gone_is_done(self.core.storage.destroy_snapshot(ds, c))
                    .map_err(|e| match e {
                        crate::zfs::ZfsError::HasDependents { .. } | crate::zfs::ZfsError::Busy(_) => {
                            DaemonError::InUse(format!(
                                "commit {} is being read (a `dm diff` or a clone of it); try again shortly",
                                crate::names::short_id(c)
                            ))
                        }
                        other => zfs_err(other),
                    })?;
            }
            Ok(self.core.store.delete_commits(&b.fs_id, &gone)?)
        })?;
        tracing::info!(%ns, dot = %name, %branch, removed = gone.len(), "pruned");
        Ok(out)
    }
}

/// A keep option: how many, its name, and the period a commit time falls in.
type Bucketing<'a> = (Option<u32>, &'a str, fn(u64) -> u64);

/// The commits the keep options ask for (`own` newest first), with the rule that keeps each.
fn policy(own: &[CommitRecord], req: &api::Prune) -> Vec<(CommitId, String)> {
    let mut out = Vec::new();
    if let Some(n) = req.keep_last {
        for c in own.iter().take(n as usize) {
            out.push((c.id.clone(), format!("last {n}")));
        }
    }
    let buckets: [Bucketing; 3] = [
        (req.keep_hourly, "hourly", |t| t / 3600),
        (req.keep_daily, "daily", |t| t / 86_400),
        // Day 0 (1 January 1970) was a Thursday: weeks start on Monday, three days later.
        (req.keep_weekly, "weekly", |t| (t / 86_400 + 3) / 7),
    ];
    for (n, label, bucket) in buckets {
        let Some(n) = n else { continue };
        let mut seen = BTreeSet::new();
        for c in own {
            if seen.len() == n as usize {
                break;
            }
            // The newest commit of each bucket: `own` is newest first.
            if seen.insert(bucket(c.time)) {
                out.push((c.id.clone(), label.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, time: u64) -> CommitRecord {
        CommitRecord {
            id: id.into(),
            message: id.into(),
            author: "admin".into(),
            time,
            seq: time,
            metadata: Default::default(),
        }
    }

    #[test]
    fn buckets_keep_the_newest_commit_of_each_recent_period() {
        const H: u64 = 3600;
        const D: u64 = 86_400;
        // Newest first: two in the newest hour, one an hour before, one a day before, one a
        // week before (Monday 2026-11-23 00:00 UTC is 1795392000).
        let monday = 1_795_392_000;
        let own = [
            commit("a", monday + 2 * D + 10 * H + 50),
            commit("b", monday + 2 * D + 10 * H + 10),
            commit("c", monday + 2 * D + 9 * H),
            commit("d", monday + D),
            commit("e", monday - 1),
        ];
        let kept = |req: api::Prune| -> Vec<String> {
            let mut v: Vec<String> = policy(&own, &req)
                .into_iter()
                .map(|(c, _)| c.to_string())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let req = |f: fn(&mut api::Prune)| {
            let mut r = api::Prune::default();
            f(&mut r);
            r
        };
        assert_eq!(kept(req(|r| r.keep_last = Some(2))), ["a", "b"]);
        assert_eq!(kept(req(|r| r.keep_hourly = Some(2))), ["a", "c"]);
        assert_eq!(kept(req(|r| r.keep_daily = Some(2))), ["a", "d"]);
        assert_eq!(kept(req(|r| r.keep_weekly = Some(2))), ["a", "e"]);
        assert_eq!(kept(req(|r| r.keep_weekly = Some(0))), Vec::<String>::new());
        assert!(api::Prune::default().check().is_err());
    }
}
