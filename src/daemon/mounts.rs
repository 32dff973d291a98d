//! Container mounts of branches, reference counted by Docker's mount id and persisted in
//! `<state-dir>/mounts.json`, so a daemon restarted while containers run still knows who holds
//! what (and refuses to delete or roll back under them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MountRecord {
    /// The Docker volume name as Docker sent it.
    pub volume: String,
    pub namespace: String,
    pub dot: String,
    pub branch: String,
    pub path: String,
}

pub struct MountTable {
    file: PathBuf,
    table: Mutex<BTreeMap<String, MountRecord>>,
}

impl MountTable {
    /// Loads the table; a missing or unreadable file is an empty table (logged).
    pub fn load(file: PathBuf) -> MountTable {
        let table = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(file = %file.display(), error = %e, "unreadable mount table; starting empty");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        MountTable {
            file,
            table: Mutex::new(table),
        }
    }

    fn save(&self, table: &BTreeMap<String, MountRecord>) {
        let tmp = self.file.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(table).expect("mount table serialises");
        let res = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, &self.file));
        if let Err(e) = res {
            tracing::error!(file = %self.file.display(), error = %e, "cannot save mount table");
        }
    }

    pub fn add(&self, id: &str, rec: MountRecord) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.insert(id.to_string(), rec);
        self.save(&t);
    }

    /// Removes the mount `id`, or, when Docker sends no id, one mount of `volume`.
    pub fn remove(&self, id: &str, volume: &str) -> Option<MountRecord> {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let key = if t.contains_key(id) {
            Some(id.to_string())
        } else if id.is_empty() {
            t.iter()
                .find(|(_, r)| r.volume == volume)
                .map(|(k, _)| k.clone())
        } else {
            None
        };
        let removed = key.and_then(|k| t.remove(&k));
        if removed.is_some() {
            self.save(&t);
        }
        removed
    }

    /// The mount `id`, if there is one.
    pub fn get(&self, id: &str) -> Option<MountRecord> {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.get(id).cloned()
    }

    /// Mounts matching a predicate, with their ids.
    pub fn find(&self, f: impl Fn(&MountRecord) -> bool) -> Vec<(String, MountRecord)> {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.iter()
            .filter(|(_, r)| f(r))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(volume: &str) -> MountRecord {
        MountRecord {
            volume: volume.into(),
            namespace: "admin".into(),
            dot: "d".into(),
            branch: "master".into(),
            path: "/p".into(),
        }
    }

    #[test]
    fn counts_per_id_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mounts.json");
        let t = MountTable::load(file.clone());
        t.add("a", rec("d"));
        t.add("b", rec("d"));
        assert!(t.remove("a", "d").is_some());
        assert_eq!(
            t.find(|r| r.dot == "d").len(),
            1,
            "one unmount leaves the other"
        );
        let again = MountTable::load(file);
        assert_eq!(again.find(|_| true).len(), 1);
        assert!(
            again.remove("", "d").is_some(),
            "no id: any mount of the volume"
        );
        assert!(again.remove("zzz", "d").is_none());
    }
}
