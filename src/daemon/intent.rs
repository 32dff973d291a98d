//! Intents: what a multi-step change to ZFS and the registry is about to do, written to disk
//! before its first step and removed after its last.
//!
//! ZFS and etcd cannot change in one transaction, so every verb that touches both (commit,
//! branch, delete, reset, re-clone) records an [`Intent`] first. If the daemon dies between two
//! steps, or an undo step fails, the file stays behind; start-up and every full sweep settle it
//! (see `Core::settle`): forward where a step that cannot be undone has happened, back
//! otherwise, so that afterwards the registry lists exactly what ZFS holds.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::cluster::{BranchRecord, CommitId, DotId, DotRecord, FsId};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// A new branch filesystem (of a new dot or branch): it counts only once registered.
    CreateFs {
        dot_id: DotId,
        fs_id: FsId,
    },
    /// A commit: its snapshot counts only once registered.
    Commit {
        fs_id: FsId,
        commit: CommitId,
    },
    /// `reset --hard` within a branch: the commits `removed` go.
    Reset {
        fs_id: FsId,
        target: CommitId,
        removed: Vec<CommitId>,
    },
    /// `dm prune`: the commits `removed` go.
    Prune {
        fs_id: FsId,
        removed: Vec<CommitId>,
    },
    /// A reset to before the branch was made: its filesystem is replaced by a clone of
    /// `branch.origin`, under the same id.
    Reclone {
        dot_id: DotId,
        branch: BranchRecord,
        removed: Vec<CommitId>,
    },
    /// `from`'s commits up to the one `heir` (as registered before) grew from go to `heir`
    /// (see `handdown`).
    HandDown {
        dot: DotRecord,
        from: FsId,
        heir: BranchRecord,
    },
    DeleteBranch {
        dot_id: DotId,
        branch: BranchRecord,
    },
    DeleteDot {
        dot: DotRecord,
        branches: Vec<BranchRecord>,
    },
    /// A mounted branch unmounted for a moment (to learn whether it can be): mounted again.
    Remount {
        fs_id: FsId,
    },
}

/// The directory of intent files, one JSON file each.
pub struct Journal {
    dir: PathBuf,
    /// Intents whose operation is still running in this process: not for the sweep to settle.
    running: Arc<Mutex<HashSet<PathBuf>>>,
}

/// One recorded intent. [`Recorded::done`] removes it; dropping it without that leaves the
/// file for recovery.
pub struct Recorded {
    path: PathBuf,
    running: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Journal {
    pub fn new(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            running: Arc::default(),
        }
    }

    /// Records `intent` durably (written beside, synced, renamed) before the caller acts.
    pub fn begin(&self, intent: &Intent) -> std::io::Result<Recorded> {
        std::fs::create_dir_all(&self.dir)?;
        let id = super::core::new_id();
        let path = self.dir.join(format!("{id}.json"));
        let tmp = self.dir.join(format!(".{id}.tmp"));
        // Running before it is visible: a sweep listing the journal between the rename and
        // this would settle the operation while it runs (and, for a new dot, destroy the
        // filesystem it was about to register).
        let rec = Recorded {
            path: path.clone(),
            running: self.running.clone(),
        };
        rec.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.clone());
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(intent).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        match write() {
            Ok(()) => Ok(rec),
            Err(e) => {
                // Not begun: nothing to settle (dropping `rec` takes it off the running set).
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Intents left behind by a crash or a failed undo, oldest first. Unreadable files are
    /// reported and left for an operator: guessing could destroy data.
    pub fn pending(&self) -> Vec<(Recorded, Intent)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json") && !running.contains(p))
            .map(|p| {
                let at = std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (at, p)
            })
            .collect();
        found.sort();
        let mut out = Vec::new();
        for (_, path) in found {
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Intent>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(i) => out.push((
                    Recorded {
                        path,
                        running: self.running.clone(),
                    },
                    i,
                )),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "unreadable intent; left for inspection")
                }
            }
        }
        out
    }
}

impl Recorded {
    /// The operation finished or was settled: forget the intent.
    pub fn done(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::error!(file = %self.path.display(), error = %e, "cannot remove a settled intent; it will be settled again (harmless)");
        }
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        // Done or not, no operation runs on it any more: from now on the sweep may settle it.
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_survive_until_done_and_running_ones_are_not_pending() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        let a = Intent::Commit {
            fs_id: "f".into(),
            commit: "c".into(),
        };
        let b = Intent::Reset {
            fs_id: "f".into(),
            target: "t".into(),
            removed: vec!["x".into()],
        };
        let ra = j.begin(&a).unwrap();
        let rb = j.begin(&b).unwrap();
        assert!(j.pending().is_empty(), "both still running");
        drop(ra); // the operation ended without settling: left for recovery
        let p = j.pending();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1, a);
        rb.done();
        for (r, _) in j.pending() {
            r.done();
        }
        assert!(j.pending().is_empty());
        // A fresh journal (a restart) sees what the old one left.
        let r = j.begin(&b).unwrap();
        std::mem::forget(r);
        assert_eq!(Journal::new(dir.path()).pending().len(), 1);
        std::fs::write(dir.path().join("junk.json"), b"{").unwrap();
        assert_eq!(Journal::new(dir.path()).pending().len(), 1);
    }

    #[test]
    fn a_sweep_listing_meanwhile_never_sees_an_intent_being_begun() {
        let dir = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::new(dir.path()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lister = {
            let (j, stop) = (j.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen += j.pending().len();
                }
                seen
            })
        };
        let intent = Intent::CreateFs {
            dot_id: "d".into(),
            fs_id: "f".into(),
        };
        let begun: Vec<Recorded> = (0..300).map(|_| j.begin(&intent).unwrap()).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            lister.join().unwrap(),
            0,
            "a running intent was listed as left over"
        );
        for r in begun {
            r.done();
        }
    }
}
