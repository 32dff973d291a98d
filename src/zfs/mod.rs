//! A small typed, git2-style API over ZFS: [`Pool`], [`Filesystem`] and [`Snapshot`] handles.
//!
//! Everything here drives the `zfs`/`zpool` commands through [`cmd`]; nothing above this module
//! builds a command line. Only features that zfs-fuse (pool version 23) and OpenZFS share are used:
//! `-H` output, `zfs get -Hp` for exact numbers (zfs-fuse's `zfs list` has no `-p`), no bookmarks,
//! no resume tokens.

mod cmd;
mod filesystem;
mod pool;
mod snapshot;

pub use filesystem::Filesystem;
pub use pool::Pool;
pub use snapshot::{Input, SendStream, Snapshot};

use std::collections::BTreeMap;
use std::path::Path;

use cmd::{Tool, run};

/// Errors of the ZFS layer; each names what failed so the daemon can tell the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum ZfsError {
    #[error("`{tool}` could not be run ({source}); install ZFS (zfs-fuse or OpenZFS)")]
    ToolMissing {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("the ZFS daemon is not answering ({0}); start zfs-fuse or load the zfs module")]
    DaemonDown(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}: the pool is out of space")]
    NoSpace(String),
    #[error("{0} is busy (a process has files open in it)")]
    Busy(String),
    #[error("{target} has dependents: {stderr}")]
    HasDependents { target: String, stderr: String },
    /// `zfs receive` refused what it was given: not a stream, altered, or cut short.
    #[error("{0}")]
    BadStream(String),
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("unexpected output from zfs: {0}")]
    Parse(String),
}

pub type Result<T> = std::result::Result<T, ZfsError>;

/// A property to set when creating a dataset.
pub type Props<'a> = &'a [(&'a str, &'a str)];

fn prop_args(props: Props<'_>) -> Vec<String> {
    props
        .iter()
        .flat_map(|(k, v)| ["-o".to_string(), format!("{k}={v}")])
        .collect()
}

fn run_owned(tool: Tool, args: &[String]) -> Result<String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(tool, &refs)
}

/// Reads exact (`-p`) values of `props` for one dataset, in order. `-` means unset.
fn get_values(dataset: &str, props: &[&str]) -> Result<Vec<String>> {
    let joined = props.join(",");
    let out = run(
        Tool::Zfs,
        &["get", "-Hp", "-o", "property,value", &joined, dataset],
    )?;
    let mut map: BTreeMap<&str, &str> = BTreeMap::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('\t') {
            map.insert(k, v);
        }
    }
    Ok(props
        .iter()
        .map(|p| map.get(p).copied().unwrap_or("-").to_string())
        .collect())
}

fn parse_u64(dataset: &str, v: &str) -> Result<u64> {
    v.parse()
        .map_err(|_| ZfsError::Parse(format!("{dataset}: expected a number, got {v:?}")))
}

struct Row {
    name: String,
    origin: Option<String>,
    props: BTreeMap<String, String>,
}

/// Rows of `zfs list -H -o name[,origin],USER_PROPS…`.
fn parse_listing(out: &str, with_origin: bool, user_props: &[&str]) -> Vec<Row> {
    out.lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next()?.to_string();
            let origin = if with_origin {
                cols.next().filter(|o| *o != "-").map(str::to_string)
            } else {
                None
            };
            let props = user_props
                .iter()
                .zip(cols)
                .filter(|(_, v)| *v != "-")
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(Row {
                name,
                origin,
                props,
            })
        })
        .collect()
}

fn list_snapshots(parent: &str, user_props: &[&str]) -> Result<Vec<ListedSnapshot>> {
    let mut cols = vec!["name"];
    cols.extend_from_slice(user_props);
    // zfs sorts by creation itself: `zfs list` prints numbers rounded ("1.20K") and pool v23
    // has no `-p`, so a createtxg column could not be parsed once the pool passed txg 999.
    let out = run(
        Tool::Zfs,
        &[
            "list",
            "-H",
            "-r",
            "-t",
            "snapshot",
            "-s",
            "createtxg",
            "-o",
            &cols.join(","),
            parent,
        ],
    )?;
    Ok(parse_snapshot_listing(&out, user_props))
}

fn parse_snapshot_listing(out: &str, user_props: &[&str]) -> Vec<ListedSnapshot> {
    parse_listing(out, false, user_props)
        .into_iter()
        .filter_map(|Row { name, props, .. }| {
            let (fs, snap) = name.split_once('@')?;
            Some(ListedSnapshot {
                snapshot: Snapshot {
                    filesystem: fs.to_string(),
                    name: snap.to_string(),
                },
                props,
            })
        })
        .collect()
}

/// A filesystem from a listing, with its origin snapshot (for clones) and user properties.
#[derive(Clone, Debug)]
pub struct Listed {
    pub filesystem: Filesystem,
    pub origin: Option<String>,
    pub props: BTreeMap<String, String>,
}

/// A snapshot from a listing, in creation order.
#[derive(Clone, Debug)]
pub struct ListedSnapshot {
    pub snapshot: Snapshot,
    pub props: BTreeMap<String, String>,
}

/// One `zfs set` per property, all at once: each waits for a transaction group to sync (pool v23
/// takes one property per call), and calls running together share one. The first error wins;
/// properties whose calls succeeded stay set.
fn set_all<K: AsRef<str> + Sync, V: AsRef<str> + Sync>(
    target: &str,
    props: &[(K, V)],
) -> Result<()> {
    std::thread::scope(|s| {
        let calls: Vec<_> = props
            .iter()
            .map(|(k, v)| {
                let kv = format!("{}={}", k.as_ref(), v.as_ref());
                s.spawn(move || run(Tool::Zfs, &["set", &kv, target]).map(|_| ()))
            })
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("zfs set threads do not panic"))
            .collect::<Result<Vec<()>>>()
            .map(|_| ())
    })
}

/// Checks that the ZFS tools run and the ZFS service answers.
pub fn check_available() -> Result<()> {
    run(Tool::Zpool, &["list", "-H", "-o", "name"]).map(|_| ())
}

/// Exact values of `props` for the datasets `pool/rel…` and everything below them (filesystems
/// and snapshots), in one `zfs get -Hp -r` call: dataset name → property → value (unset values
/// left out). Datasets that do not exist are skipped rather than failing the whole call.
pub fn get_recursive(
    pool: &Pool,
    rels: &[String],
    props: &[&str],
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    if rels.is_empty() {
        return Ok(BTreeMap::new());
    }
    let joined = props.join(",");
    let mut args = vec![
        "get",
        "-Hp",
        "-r",
        "-o",
        "name,property,value",
        joined.as_str(),
    ];
    let names: Vec<String> = rels.iter().map(|r| format!("{}/{r}", pool.name)).collect();
    args.extend(names.iter().map(String::as_str));
    let mut tries = 0;
    let out = loop {
        tries += 1;
        match run(Tool::Zfs, &args) {
            Ok(out) => break out,
            Err(ZfsError::NotFound(_)) if names.len() > 1 => {
                // One vanished (deleted meanwhile); ask again for the survivors.
                let alive: Vec<String> = rels
                    .iter()
                    .filter(|r| pool.filesystem(r).is_ok())
                    .cloned()
                    .collect();
                if alive.len() < rels.len() {
                    return get_recursive(pool, &alive, props);
                }
                // All there: what vanished was a snapshot below one (a short-lived probe or
                // handoff snapshot) while `-r` walked it; ask again.
                if tries >= 3 {
                    return Err(ZfsError::NotFound(names.join(" ")));
                }
            }
            Err(ZfsError::NotFound(_)) if tries < 3 && pool.filesystem(&rels[0]).is_ok() => {}
            Err(ZfsError::NotFound(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        }
    };
    let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.splitn(3, '\t');
        let (Some(name), Some(prop), Some(value)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if value != "-" {
            map.entry(name.to_string())
                .or_default()
                .insert(prop.to_string(), value.to_string());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_listing_keeps_zfs_order_and_user_properties() {
        let out = "p/dmfs/a@c1\t-\np/dmfs/b@c2\tx\np/dmfs/a@c3\ty\n";
        let snaps = parse_snapshot_listing(out, &["io.dm:commit.0"]);
        let names: Vec<_> = snaps.iter().map(|s| s.snapshot.full_name()).collect();
        assert_eq!(names, ["p/dmfs/a@c1", "p/dmfs/b@c2", "p/dmfs/a@c3"]);
        assert!(snaps[0].props.is_empty());
        assert_eq!(snaps[2].props["io.dm:commit.0"], "y");
    }

    #[test]
    fn filesystem_listing_reads_origin_then_user_properties() {
        let out = "p/dmfs/a\t-\tv1\np/dmfs/b\tp/dmfs/a@c1\t-\n";
        let rows = parse_listing(out, true, &["io.dm:dot"]);
        assert_eq!(rows[0].origin, None);
        assert_eq!(rows[0].props["io.dm:dot"], "v1");
        assert_eq!(rows[1].origin.as_deref(), Some("p/dmfs/a@c1"));
        assert!(rows[1].props.is_empty());
    }
}
