//! Tags: names for commits of a dot, kept in the registry (so every node of the cluster sees
//! them) under `dm/tags/<dot-id>/<name>`. A tag never moves: making one that exists is refused,
//! and it goes only when deleted, or with its dot.

use serde::{Deserialize, Serialize};

use super::{PREFIX, Result, Store, decode, encode};
use crate::ids::{CommitId, DotId, FsId};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TagRecord {
    pub commit: CommitId,
    /// The branch filesystem the commit was made on.
    pub fs_id: FsId,
    pub author: String,
    /// Seconds since the epoch.
    pub created: u64,
}

pub(super) fn tags_prefix(dot_id: &str) -> String {
    format!("{PREFIX}tags/{dot_id}/")
}

pub(super) fn tag_key(dot_id: &str, name: &str) -> String {
    format!("{}{name}", tags_prefix(dot_id))
}

impl Store {
    /// Makes tag `name` of dot `dot_id`; false if it already exists.
    pub fn create_tag(&self, dot_id: &DotId, name: &str, t: &TagRecord) -> Result<bool> {
        let key = tag_key(dot_id, name);
        self.kv.put_all_if_absent(&key, &[(key.clone(), encode(t))])
    }

    /// The tags of dot `dot_id`, by name.
    pub fn tags(&self, dot_id: &DotId) -> Result<Vec<(String, TagRecord)>> {
        let prefix = tags_prefix(dot_id);
        self.kv
            .list(&prefix)?
            .into_iter()
            .map(|(k, v)| {
                let name = k.strip_prefix(&prefix).unwrap_or(&k).to_string();
                decode(&k, &v).map(|t| (name, t))
            })
            .collect()
    }

    /// Deletes tag `name` of dot `dot_id`; false if there was none.
    pub fn delete_tag(&self, dot_id: &DotId, name: &str) -> Result<bool> {
        let key = tag_key(dot_id, name);
        let Some(old) = self.kv.get(&key)? else {
            return Ok(false);
        };
        self.kv.swap(&key, Some(&old), None)
    }
}
