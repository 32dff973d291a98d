//! The operation log (jj's is the model): every change of a namespace's refs — commits,
//! resets, branches, tags, dots, transfers — as a record under `dm/ops/<ns>/<seq>`, with what
//! undoing it means; and hidden branches (`dm/hidden/<dot-id>/<fs-id>`): deleted branches,
//! kept until a deadline so `dm undo` can bring them back.

use serde::{Deserialize, Serialize};

use super::{BranchRecord, PREFIX, Result, Store, TagRecord, branch_key, decode, encode};
use crate::ids::{CommitId, DotId, FsId};

/// What reverting an operation does.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Undo {
    /// A tag was made: delete it.
    DeleteTag { name: String },
    /// A tag was deleted: make it again.
    CreateTag { name: String, tag: TagRecord },
    /// A branch was made: delete it (kept hidden, as every delete is).
    DeleteBranch { branch: String },
    /// A commit was made: remove it, its files staying as uncommitted changes.
    Uncommit { branch: String, commit: CommitId },
    /// A branch was deleted: it is hidden as `hidden`; give it its name back.
    Unhide { branch: String, hidden: String },
    /// A client checked out `to`, leaving `from`: the client checks out `from` again.
    Checkout { from: String, to: String },
    /// A dot was deleted: it is hidden as `hidden`; give it its name `dot` back.
    UnhideDot { dot: String, hidden: String },
    /// A pull moved `branch` from commit `to` to commit `from`: take it back to `to`.
    Rewind {
        branch: String,
        to: CommitId,
        from: CommitId,
    },
    /// `branch` was reset from `head` to `target`; hidden branch `hidden` keeps the removed
    /// commits: put `branch` back at `head`.
    Reset {
        branch: String,
        hidden: String,
        head: CommitId,
        target: CommitId,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpRecord {
    /// Short random id, shown by `dm op log`.
    pub id: String,
    /// Nanoseconds since the epoch, made unique: the order of the log.
    pub seq: u64,
    pub user: String,
    pub dot: String,
    #[serde(default)]
    pub branch: Option<String>,
    /// `commit`, `reset`, `branch`, `branch-delete`, `tag`, `tag-delete`, `dot`, `dot-delete`,
    /// `push`, `pull`, `undo`.
    pub kind: String,
    pub summary: String,
    /// `None`: cannot be undone (say why in the summary).
    #[serde(default)]
    pub undo: Option<Undo>,
    #[serde(default)]
    pub undone: bool,
}

/// A hidden branch: kept until `until` (seconds since the epoch), then reclaimed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HiddenRecord {
    pub branch: String,
    pub until: u64,
}

/// A deleted dot, hidden under the reserved name `hidden` until `until`, then reclaimed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HiddenDot {
    pub namespace: String,
    pub hidden: String,
    pub until: u64,
}

pub(super) fn hidden_dot_key(dot_id: &str) -> String {
    format!("{PREFIX}hidden-dots/{dot_id}")
}

fn ops_prefix(ns: &str) -> String {
    format!("{PREFIX}ops/{ns}/")
}

fn op_key(ns: &str, seq: u64) -> String {
    format!("{}{seq:020}", ops_prefix(ns))
}

pub(super) fn hidden_prefix(dot_id: &str) -> String {
    format!("{PREFIX}hidden/{dot_id}/")
}

/// Operations kept per namespace; older ones are dropped as new ones come.
const KEEP_OPS: usize = 1000;

impl Store {
    pub fn put_op(&self, ns: &str, op: &OpRecord) -> Result<()> {
        self.kv.put(&op_key(ns, op.seq), &encode(op))
    }

    /// Registers commit `c` of filesystem `fs` and the operation that made it, in one write (a
    /// commit costs no more registry round trips for being logged).
    pub fn put_commit_logged(
        &self,
        fs: &FsId,
        c: &super::CommitRecord,
        ns: &str,
        op: &OpRecord,
    ) -> Result<()> {
        self.kv.write_all(
            &[
                (super::commit_key(fs, &c.id), encode(c)),
                (op_key(ns, op.seq), encode(op)),
            ],
            &[],
            &[],
        )
    }

    /// Drops the oldest operations of every namespace beyond the newest [`KEEP_OPS`] (the
    /// sweep's job, so that recording stays one write).
    pub fn trim_ops(&self) -> Result<()> {
        let prefix = format!("{PREFIX}ops/");
        let mut by_ns: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for k in self.kv.list_keys(&prefix)? {
            let ns = k[prefix.len()..].split('/').next().unwrap_or_default();
            by_ns.entry(ns.to_string()).or_default().push(k);
        }
        for keys in by_ns.values() {
            if keys.len() > KEEP_OPS {
                self.kv
                    .write_all(&[], &keys[..keys.len() - KEEP_OPS], &[])?;
            }
        }
        Ok(())
    }

    /// The namespace's operations, oldest first.
    pub fn ops(&self, ns: &str) -> Result<Vec<OpRecord>> {
        self.list_decoded(&ops_prefix(ns))
    }

    /// Hides branch `b` of dot `dot_id` as `hidden` (its record renamed) until `until`, in
    /// one write.
    pub fn hide_branch(
        &self,
        dot_id: &DotId,
        b: &BranchRecord,
        hidden: &str,
        until: u64,
    ) -> Result<()> {
        let rec = BranchRecord {
            name: hidden.to_string(),
            ..b.clone()
        };
        let h = HiddenRecord {
            branch: hidden.to_string(),
            until,
        };
        self.kv.write_all(
            &[
                (branch_key(dot_id, hidden), encode(&rec)),
                (format!("{}{}", hidden_prefix(dot_id), b.fs_id), encode(&h)),
            ],
            &[branch_key(dot_id, &b.name)],
            &[],
        )
    }

    /// Registers branch `b`, mastered by `node`, as hidden until `until` (a reset keeps what it
    /// removes in one), in one write; false if a branch has its name.
    pub fn create_hidden_branch(
        &self,
        dot_id: &DotId,
        b: &BranchRecord,
        node: &crate::ids::NodeId,
        until: u64,
    ) -> Result<bool> {
        let key = branch_key(dot_id, &b.name);
        let h = HiddenRecord {
            branch: b.name.clone(),
            until,
        };
        let puts = vec![
            (key.clone(), encode(b)),
            (super::master_key(&b.fs_id), node.as_bytes().to_vec()),
            (format!("{}{}", hidden_prefix(dot_id), b.fs_id), encode(&h)),
        ];
        self.kv.put_all_if_absent(&key, &puts)
    }

    /// Gives hidden branch `h` its name `name` back, unless a branch has it; returns whether
    /// it did.
    pub fn unhide_branch(&self, dot_id: &DotId, h: &BranchRecord, name: &str) -> Result<bool> {
        let key = branch_key(dot_id, name);
        if self.kv.get(&key)?.is_some() {
            return Ok(false);
        }
        let rec = BranchRecord {
            name: name.to_string(),
            ..h.clone()
        };
        self.kv.write_all(
            &[(key, encode(&rec))],
            &[
                branch_key(dot_id, &h.name),
                format!("{}{}", hidden_prefix(dot_id), h.fs_id),
            ],
            &[],
        )?;
        Ok(true)
    }

    /// Hides dot `dot` as `hidden` (its record renamed, so its name is free) until `until`,
    /// and records `op` (the delete, with its undo), in one write: a hidden dot is always one
    /// `dm undo` can bring back.
    pub fn hide_dot(
        &self,
        dot: &super::DotRecord,
        hidden: &str,
        until: u64,
        op: &OpRecord,
    ) -> Result<()> {
        let rec = super::DotRecord {
            name: hidden.to_string(),
            ..dot.clone()
        };
        let h = HiddenDot {
            namespace: dot.namespace.clone(),
            hidden: hidden.to_string(),
            until,
        };
        self.kv.write_all(
            &[
                (super::dot_key(&dot.namespace, hidden), encode(&rec)),
                (hidden_dot_key(&dot.id), encode(&h)),
                (op_key(&dot.namespace, op.seq), encode(op)),
            ],
            &[super::dot_key(&dot.namespace, &dot.name)],
            &[],
        )
    }

    /// Gives hidden dot `h` its name `name` back, unless a dot has it; returns whether it did.
    pub fn unhide_dot(&self, h: &super::DotRecord, name: &str) -> Result<bool> {
        let key = super::dot_key(&h.namespace, name);
        let rec = super::DotRecord {
            name: name.to_string(),
            ..h.clone()
        };
        if self.kv.get(&key)?.is_some() {
            return Ok(false);
        }
        self.kv.write_all(
            &[(key, encode(&rec))],
            &[super::dot_key(&h.namespace, &h.name), hidden_dot_key(&h.id)],
            &[],
        )?;
        Ok(true)
    }

    /// Every hidden dot: (dot id, record).
    pub fn hidden_dots(&self) -> Result<Vec<(DotId, HiddenDot)>> {
        let prefix = format!("{PREFIX}hidden-dots/");
        let mut out = Vec::new();
        for (k, v) in self.kv.list(&prefix)? {
            out.push((k[prefix.len()..].into(), decode(&k, &v)?));
        }
        Ok(out)
    }

    pub fn drop_hidden(&self, dot_id: &DotId, fs: &FsId) -> Result<()> {
        self.kv
            .write_all(&[], &[format!("{}{fs}", hidden_prefix(dot_id))], &[])
    }

    /// Every hidden branch: (dot id, filesystem id, record).
    pub fn hidden(&self) -> Result<Vec<(DotId, FsId, HiddenRecord)>> {
        let prefix = format!("{PREFIX}hidden/");
        let mut out = Vec::new();
        for (k, v) in self.kv.list(&prefix)? {
            let rest = &k[prefix.len()..];
            if let Some((dot, fs)) = rest.split_once('/') {
                out.push((dot.into(), fs.into(), decode(&k, &v)?));
            }
        }
        Ok(out)
    }
}
