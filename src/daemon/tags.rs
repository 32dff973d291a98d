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
        self.note(
            user,
            ns,
            name,
            None,
            "tag",
            format!("tagged {} as '{}'", names::short_id(&rec.commit), req.name),
            Some(crate::cluster::Undo::DeleteTag {
                name: req.name.clone(),
            }),
        );
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
        let old = self
            .core
            .store
            .tags(&l.dot.id)?
            .into_iter()
            .find(|(n, _)| n == tag)
            .map(|(_, t)| t);
        if !self.core.store.delete_tag(&l.dot.id, tag)? {
            return Err(DaemonError::NotFound(format!(
                "dot '{name}' has no tag '{tag}'; list its tags with `dm tag`"
            )));
        }
        self.note(
            user,
            ns,
            name,
            None,
            "tag-delete",
            format!("deleted tag '{tag}'"),
            old.map(|t| crate::cluster::Undo::CreateTag {
                name: tag.to_string(),
                tag: t,
            }),
        );
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
        let (base, back) = split_ancestry(wanted)?;
        let at = if base == "HEAD" || base == "@" {
            history.first().ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "branch '{branch}' has no commits yet, so {wanted} names nothing; commit first with `dm commit -m MSG`"
                ))
            })?
        } else if !names::is_commit_id(base)
            && let Some((_, t)) = self
                .core
                .store
                .tags(&l.dot.id)?
                .into_iter()
                .find(|(n, _)| n == base)
        {
            history.iter().find(|(_, c)| c.id == t.commit).ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "tag '{base}' is commit {}, which is not in the history of branch '{branch}'",
                    names::short_id(&t.commit)
                ))
            })?
        } else {
            Self::resolve(history, base, branch)?
        };
        if back == 0 {
            return Ok(at);
        }
        let pos = history
            .iter()
            .position(|(_, c)| c.id == at.1.id)
            .expect("found in this history");
        history.get(pos + back).ok_or_else(|| {
            DaemonError::NotFound(format!(
                "{wanted} goes back {back} commit(s) from {}, but only {} come before it on branch '{branch}'; see them with `dm log`",
                names::short_id(&at.1.id),
                history.len() - pos - 1
            ))
        })
    }
}

/// `REF~N`, `REF~` and `REF^…` (git's first-parent steps back) as the ref and the number of
/// steps.
pub(super) fn split_ancestry(wanted: &str) -> Result<(&str, usize)> {
    let Some(at) = wanted.find(['~', '^']) else {
        return Ok((wanted, 0));
    };
    let (base, mut rest) = wanted.split_at(at);
    let bad = || {
        DaemonError::BadRequest(format!(
            "'{wanted}' is not a commit reference; write REF, REF~N or REF^ (REF: a commit id, a tag or HEAD)"
        ))
    };
    if base.is_empty() {
        return Err(bad());
    }
    let mut back = 0usize;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('^') {
            back += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('~') {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let n = if digits == 0 {
                1
            } else {
                r[..digits].parse::<usize>().map_err(|_| bad())?
            };
            back = back.checked_add(n).ok_or_else(bad)?;
            rest = &r[digits..];
        } else {
            return Err(bad());
        }
    }
    Ok((base, back))
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
