//! A dot's settings, in the registry under `dm/dot-settings/<dot-id>` (every node's Docker
//! plugin reads them): which branch a container's bare `-v DOT` mounts, and whether
//! `dm checkout` moves the containers using it along (as Dotmesh did).

use serde::{Deserialize, Serialize};

use super::{PREFIX, Result, Store, decode, encode};
use crate::ids::DotId;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct DotSettings {
    /// `dm checkout` restarts the dot's containers on the new branch unless told not to.
    #[serde(default)]
    pub move_containers: bool,
    /// The branch `-v DOT` (no `@BRANCH`) mounts; none: master.
    #[serde(default)]
    pub containers_branch: Option<String>,
}

pub(super) fn key(dot_id: &DotId) -> String {
    format!("{PREFIX}dot-settings/{dot_id}")
}

impl Store {
    /// The settings of dot `dot_id` (the defaults when it has none).
    pub fn dot_settings(&self, dot_id: &DotId) -> Result<DotSettings> {
        let k = key(dot_id);
        Ok(match self.kv.get(&k)? {
            Some(v) => decode(&k, &v)?,
            None => DotSettings::default(),
        })
    }

    pub fn put_dot_settings(&self, dot_id: &DotId, s: &DotSettings) -> Result<()> {
        self.kv.put(&key(dot_id), &encode(s))
    }
}
