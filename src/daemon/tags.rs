//! Tags: names for commits, accepted wherever a commit is (`reset`, `checkout -b NAME TAG`).
//! They live in the registry, so every node of the cluster sees them at once; a tag never
//! moves, and goes only when deleted or with its dot.

use super::DaemonError;
use super::core::{Loaded, check_name, now};
use super::dots::Dots;
use super::principal::Principal;
use crate::api::{CreateTag, TagInfo};
use crate::cluster::{BranchRecord, CommitId, CommitRecord, FsId, TagRecord};
use crate::names::{self, Kind};

type Result<T> = std::result::Result<T, DaemonError>;

impl Dots {
    pub fn create_tag(
        &self,
        user: &Principal,
        ns: &str,
        name: &str,
        req: &CreateTag,
    ) -> Result<TagInfo> {
        user.may_use(ns)?;
        check_name(Kind::Branch, &req.name).map_err(|_| {
            DaemonError::BadRequest(format!(
                "'{}' is not a tag name: use 1-100 letters, digits, '-' or '_', not starting with '_'",
                req.name
            ))
        })?;
        if names::is_commit_id(&req.name) {
            return Err(DaemonError::BadRequest(format!(
                "'{}' looks like a commit id; pick a tag name that does not",
                req.name
            )));
        }
        let l = self.core.load(ns, name)?;
        let branch = l.branch(req.branch.as_deref().unwrap_or(names::MASTER))?;
        let history = self.history(&l, branch)?;
        let (fs_id, commit) = match &req.commit {
            Some(c) => self.resolve_ref(&l, &history, c, &branch.name)?,
            None => history.first().ok_or_else(|| {
                DaemonError::Conflict(format!(
                    "branch '{}' has no commits to tag; commit first (`dm commit -m MESSAGE`)",
                    branch.name
                ))
            })?,
        };
        let rec = TagRecord {
            commit: commit.id.clone(),
            fs_id: fs_id.clone(),
            author: user.name().to_string(),
            created: now().0,
        };
        if !self.core.store.create_tag(&l.dot.id, &req.name, &rec)? {
            return Err(DaemonError::Conflict(format!(
                "tag '{}' already exists; tags do not move: delete it first with `dm tag -d {}`",
                req.name, req.name
            )));
        }
        tracing::info!(%ns, dot = name, tag = %req.name, commit = %rec.commit, "tagged");
        Ok(info(&l, &req.name, rec))
    }

    pub fn tags(&self, user: &Principal, ns: &str, name: &str) -> Result<Vec<TagInfo>> {
        user.may_use(ns)?;
        let l = self.core.load(ns, name)?;
        Ok(self
            .core
            .store
            .tags(&l.dot.id)?
            .into_iter()
            .map(|(n, t)| info(&l, &n, t))
            .collect())
    }

    pub fn delete_tag(&self, user: &Principal, ns: &str, name: &str, tag: &str) -> Result<()> {
        user.may_use(ns)?;
        check_name(Kind::Branch, tag)?;
        let l = self.core.load(ns, name)?;
        if !self.core.store.delete_tag(&l.dot.id, tag)? {
            return Err(DaemonError::NotFound(format!(
                "dot '{name}' has no tag '{tag}'; list its tags with `dm tag`"
            )));
        }
        Ok(())
    }

    /// Refuses to remove commits a tag names (`what` says what would remove them): a tag
    /// keeps its commit, as it does in git.
    pub(super) fn check_untagged(
        &self,
        l: &Loaded,
        removed: &[CommitId],
        what: &str,
    ) -> Result<()> {
        let tagged: Vec<String> = self
            .core
            .store
            .tags(&l.dot.id)?
            .into_iter()
            .filter(|(_, t)| removed.contains(&t.commit))
            .map(|(n, _)| n)
            .collect();
        if tagged.is_empty() {
            return Ok(());
        }
        Err(DaemonError::Conflict(format!(
            "{what} would remove commits tagged {}; tags keep their commits: delete the tags first (`dm tag -d NAME`)",
            tagged.join(", ")
        )))
    }

    /// `wanted` on branch `branch` (whose history is `history`, newest first): a tag of the
    /// dot whose commit is in that history, else a commit id or a unique prefix of one.
    pub(super) fn resolve_ref<'a>(
        &self,
        l: &Loaded,
        history: &'a [(FsId, CommitRecord)],
        wanted: &str,
        branch: &str,
    ) -> Result<&'a (FsId, CommitRecord)> {
        if !names::is_commit_id(wanted)
            && let Some((_, t)) = self
                .core
                .store
                .tags(&l.dot.id)?
                .into_iter()
                .find(|(n, _)| n == wanted)
        {
            return history.iter().find(|(_, c)| c.id == t.commit).ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "tag '{wanted}' is commit {}, which is not in the history of branch '{branch}'",
                    names::short_id(&t.commit)
                ))
            });
        }
        Self::resolve(history, wanted, branch)
    }
}

fn info(l: &Loaded, name: &str, t: TagRecord) -> TagInfo {
    let branch = l
        .branches
        .iter()
        .find(|b: &&BranchRecord| b.fs_id == t.fs_id)
        .map(|b| b.name.clone())
        .unwrap_or_else(|| "(deleted)".into());
    TagInfo {
        name: name.to_string(),
        commit: t.commit,
        branch,
        author: t.author,
        created: t.created,
    }
}
