//! Request and response bodies of the daemon's HTTP JSON API, shared by `client` and `daemon`.
//!
//! Routes (all under `/v1`, all behind HTTP basic auth with user + API key):
//! `GET ping`, `GET dots`, `POST dots`, `GET|DELETE dots/{ns}/{dot}`,
//! `GET|POST dots/{ns}/{dot}/branches`, `GET|POST dots/{ns}/{dot}/branches/{b}/commits`,
//! `POST dots/{ns}/{dot}/branches/{b}/reset`, `POST dots/{ns}/{dot}/branches/{b}/subdots`.

use crate::ids::{CommitId, DotId, FsId, NodeId};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The largest JSON request body the daemon reads; larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;
/// The most bytes of commit message plus metadata, so metadata always fits on the snapshot.
pub const MAX_COMMIT_META: usize = 16 << 10;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Ping {
    pub version: String,
    pub node: NodeId,
    pub user: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateDot {
    pub namespace: String,
    pub name: String,
}

/// One branch of a dot, as `dm list`, `dm branch` and `dm dot show` print it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BranchInfo {
    pub name: String,
    pub filesystem_id: FsId,
    pub master_node: NodeId,
    pub mountpoint: String,
    pub commits: usize,
    pub size_bytes: u64,
    pub dirty_bytes: u64,
    pub origin: Option<Origin>,
    pub subdots: Vec<String>,
    /// Containers (or Docker mount ids, where Docker does not say) that have this branch mounted.
    #[serde(default)]
    pub containers: Vec<String>,
    /// The master node is down: its uncommitted changes are unavailable until it returns.
    #[serde(default)]
    pub master_down: bool,
    /// Mounted at `mountpoint` on the node that answered.
    #[serde(default)]
    pub mounted: bool,
    /// What a reset or a branch delete set aside for `dm undo` (see `dm op log`); only
    /// `dm dot show` lists these.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Which node holds which newest commit of the branch (`dm dot show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaInfo>,
}

/// One node's copy of a branch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReplicaInfo {
    pub node: NodeId,
    /// The branch's master (it makes the commits, and holds the uncommitted changes).
    pub master: bool,
    /// Registered as up now.
    pub alive: bool,
    /// The newest commit it holds, as far as the registry knows.
    pub newest_commit: Option<String>,
    /// Commits of the branch it lacks.
    pub behind: usize,
    pub up_to_date: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub branch: String,
    pub commit: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct DotInfo {
    pub namespace: String,
    pub name: String,
    pub id: DotId,
    pub branches: Vec<BranchInfo>,
    /// Processes using any branch of the dot (pid and command), as far as this node can see.
    pub in_use_by: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateBranch {
    pub name: String,
    pub from_branch: String,
    pub from_commit: Option<String>,
}

/// `POST /v1/dots/NS/DOT/tags`: names a commit of a branch (its newest when none is given).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateTag {
    pub name: String,
    /// The branch whose history holds the commit [default: master].
    #[serde(default)]
    pub branch: Option<String>,
    /// A commit id, a unique prefix of one, or another tag [default: the branch's newest].
    #[serde(default)]
    pub commit: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TagInfo {
    pub name: String,
    pub commit: CommitId,
    /// The branch the commit was made on ("(deleted)" once that branch is gone).
    pub branch: String,
    pub author: String,
    pub created: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateCommit {
    pub message: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CommitInfo {
    pub id: CommitId,
    pub branch: String,
    pub message: String,
    pub author: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Reset {
    pub commit: String,
    /// Roll back even while containers have the branch mounted.
    #[serde(default)]
    pub force: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ResetDone {
    pub commit: String,
    /// Commits that the reset removed, newest first.
    pub removed: Vec<String>,
    /// Containers that had the branch mounted (a forced reset): they need a restart.
    #[serde(default)]
    pub containers: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SubdotRequest {
    pub subdot: String,
    #[serde(default)]
    pub create: bool,
    /// A commit (id, unique prefix or tag) to show read-only instead of the live branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SubdotPath {
    pub subdot: String,
    pub path: String,
}

/// Validates commit metadata keys (lowercase, like Dotmesh) and the total size.
pub fn check_commit(c: &CreateCommit) -> Result<(), String> {
    if c.message.trim().is_empty() {
        return Err("the commit message is empty; give one with -m MESSAGE".into());
    }
    for k in c.metadata.keys() {
        let ok = !k.is_empty()
            && k.len() <= 64
            && k.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
        if !ok {
            return Err(format!(
                "invalid metadata key {k:?}: use 1-64 lowercase letters, digits, '-' or '_'"
            ));
        }
    }
    let bad_char = |s: &str| {
        s.chars()
            .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
    };
    if bad_char(&c.message) || c.metadata.values().any(|v| bad_char(v)) {
        return Err("commit message and metadata may not contain control characters".into());
    }
    let size = c.message.len()
        + c.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if size > MAX_COMMIT_META {
        return Err(format!(
            "commit message and metadata are {size} bytes; the limit is {MAX_COMMIT_META}"
        ));
    }
    Ok(())
}

/// Which containers on a node hold some branches of a dot (node-to-node).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HeldRequest {
    pub namespace: String,
    pub dot: String,
    pub branches: Vec<String>,
}

/// A node asking to join the cluster (admin only).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JoinRequest {
    pub node_id: String,
    /// The new node's etcd peer URL.
    pub peer_url: String,
}

/// `POST /v1/cluster/tokens`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateToken {
    pub ttl_secs: u64,
}

/// A join token as listed (`GET /v1/cluster/tokens`); `token` only in the answer that made it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JoinToken {
    pub id: String,
    pub created: u64,
    pub expires: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JoinReply {
    /// etcd `--initial-cluster` for the new member.
    pub initial_cluster: String,
    pub cluster_secret: String,
    /// The cluster's CA for etcd (certificate and key, PEM): the new node signs its own
    /// certificate with it.
    pub etcd_ca_cert: String,
    pub etcd_ca_key: String,
    /// The hash of the cluster's admin key, so that key works on the new node too.
    pub admin_key_sha256: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LeaveRequest {
    /// Leave even if this node holds the only copy of uncommitted changes.
    #[serde(default)]
    pub force: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LeaveReply {
    /// Branches this node was master of, now free for any node to take over.
    pub released: Vec<String>,
    /// Branches whose uncommitted changes were discarded (only with `force`).
    pub discarded: Vec<String>,
}

/// One node of the cluster, for `dm cluster nodes`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct NodeInfo {
    pub id: NodeId,
    pub address: String,
    pub api_port: u16,
    pub version: String,
    /// Registered in etcd (its lease is alive).
    pub alive: bool,
    /// Member of the cluster's etcd.
    pub etcd_member: bool,
    /// Branches this node is the master of.
    pub masters: usize,
}

/// Response header carrying the age in seconds of a listing served from cache while etcd is
/// unreachable.
pub const STALE_HEADER: &str = "X-Dm-Stale-Seconds";

/// Admin creates a user; the answer carries its API key, shown once.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CreateUser {
    pub name: String,
}

/// `POST /v1/users/NAME/key`: a new API key for NAME; the old one stops working at once.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct KeyReset {
    /// The user's password, to keep the new key recoverable with it (`dm user key`).
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /v1/users/NAME/password`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SetPassword {
    pub password: String,
}

/// A user, as `dm user list` shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct UserInfo {
    pub name: String,
    /// Whether a password is set (`dm user passwd`).
    pub password: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub api_key: String,
}

/// What a receiving daemon got from a transfer stream. `zfs receive` has checked the stream's
/// own checksum (see [`crate::wire`]).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Receipt {
    pub bytes: u64,
    /// Commit ids that arrived (not visible until confirmed).
    pub commits: Vec<CommitId>,
    /// Answering a check: commits after the base that arrived whole in an interrupted transfer
    /// and wait, invisible, to be kept ([`KeepReceived`]) or dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Arrived>,
}

/// A commit that arrived whole, with its snapshot's GUID (which `zfs receive` keeps).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Arrived {
    pub id: CommitId,
    pub guid: String,
}

/// `POST …/keep`: registers commits that arrived whole before a transfer was interrupted, oldest
/// first, given the sender's GUID of each; the receiver keeps only snapshots with that GUID.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeepReceived {
    pub commits: Vec<CommitInfo>,
    pub guids: Vec<String>,
}

/// `POST …/guids`: the GUIDs of a branch's commits' snapshots, in the order asked.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct GuidsRequest {
    pub commits: Vec<String>,
}

/// The client's confirmation of a received stream: how many bytes the sender sent, and the
/// commits' records (message, author, …) to register.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ConfirmReceive {
    pub bytes: u64,
    pub commits: Vec<CommitInfo>,
}

/// Response header of a commit stream: about how many bytes it will carry.
pub const SIZE_ESTIMATE_HEADER: &str = "X-Dm-Size-Estimate";

/// Response header of a commit stream: the id under which the sender keeps what it knows of the
/// stream once it has been sent ([`SentRecord`], `GET /v1/sends/ID`).
pub const SEND_ID_HEADER: &str = "X-Dm-Send-Id";

/// What a sender knows about a stream it finished sending.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SentRecord {
    pub bytes: u64,
    /// `zfs send` exited cleanly and every byte was written.
    pub complete: bool,
}

/// A cluster on the far side of a transfer, as the client knows it (`dm remote`). Its key
/// reaches this daemon only for the transfer, in memory.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FarCluster {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub api_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From a branch here to the far cluster.
    Push,
    /// From the far cluster to a branch here.
    Pull,
}

/// `POST /v1/transfers`: this daemon streams commits straight to or from another cluster.
/// The client compares logs and confirms; the data never passes through it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TransferRequest {
    pub direction: Direction,
    /// Namespace, dot and branch here.
    pub here: (String, String, String),
    pub far: FarCluster,
    /// Namespace, dot and branch there.
    pub there: (String, String, String),
    /// Newest commit both sides have (`None`: send `to` in full).
    pub from: Option<String>,
    pub to: String,
}

impl TransferRequest {
    /// Checks every field that comes from outside before anything connects anywhere.
    pub fn check(&self) -> Result<(), String> {
        check_ends([&self.here, &self.there], &self.far)?;
        if let Some(f) = &self.from {
            crate::names::check_commit_id("from", f)?;
        }
        crate::names::check_commit_id("to", &self.to)
    }
}

/// Checks what every transfer request names: both branches and the far cluster.
fn check_ends(branches: [&(String, String, String); 2], far: &FarCluster) -> Result<(), String> {
    use crate::names::{self, Kind};
    for (ns, dot, branch) in branches {
        names::validate(Kind::Namespace, ns).map_err(|e| e.to_string())?;
        names::validate(Kind::Dot, dot).map_err(|e| e.to_string())?;
        names::validate(Kind::Branch, branch).map_err(|e| e.to_string())?;
    }
    names::check_host(&far.host)?;
    if far.port == 0 {
        return Err("the remote's port must not be 0".into());
    }
    names::validate(Kind::Namespace, &far.user).map_err(|e| format!("remote user: {e}"))?;
    names::check_key(&far.api_key)?;
    if let Some(pem) = &far.tls_cert {
        crate::tls::fingerprint(pem).map_err(|e| format!("remote certificate: {e}"))?;
    }
    Ok(())
}

/// `POST /v1/transfers/runs`: this daemon runs a whole `dm push`/`pull` of one branch with
/// another cluster — compares the two logs, plans the streams (`crate::plan`), keeps what arrived
/// whole before an interruption, streams, and confirms each step — answering with
/// [`RunEvent`] lines. The client only draws them.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TransferRun {
    pub direction: Direction,
    /// Namespace, dot and branch here.
    pub here: (String, String, String),
    pub far: FarCluster,
    /// Namespace, dot and branch there.
    pub there: (String, String, String),
    /// On divergence, reset the receiving branch to the newest common commit first.
    pub force: bool,
    /// The remote's name, for messages ("remote 'hub'").
    pub remote: String,
    /// Also make, on the receiver, the sender's tags of the branch's commits (`dm push --tags`;
    /// pulls and clones always do, as `git fetch` does).
    #[serde(default)]
    pub tags: bool,
}

impl TransferRun {
    /// Checks every field that comes from outside before anything connects anywhere.
    pub fn check(&self) -> Result<(), String> {
        // `dm remote add` names remotes as dots are named.
        crate::names::validate(crate::names::Kind::Dot, &self.remote)
            .map_err(|e| format!("remote name: {e}"))?;
        check_ends([&self.here, &self.there], &self.far)
    }
}

/// One line of a transfer run's response.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "lowercase")]
pub enum RunEvent {
    /// A stream of `commits` commits starts.
    Step {
        commits: usize,
    },
    /// Bytes of the current stream moved so far, and the sender's guess at its size.
    Progress {
        bytes: u64,
        estimate: Option<u64>,
    },
    /// The current stream arrived and was confirmed.
    Stepped {
        commits: usize,
        bytes: u64,
        seconds: f64,
    },
    /// With `force`, the receiving branch was reset to `to`, dropping `dropped` commits there.
    Reset {
        side: String,
        branch: String,
        to: String,
        dropped: usize,
    },
    Done(RunSummary),
    Error(Failure),
}

/// How a transfer run ended.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct RunSummary {
    /// Commits the receiver lacked and now has.
    pub commits: usize,
    /// Of `commits`, those that had arrived whole before an interruption and were kept rather
    /// than sent again.
    pub resumed: usize,
    pub bytes: u64,
    pub up_to_date: bool,
    /// Tags made on the receiver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Tags the receiver already has for another commit, left as they are there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_kept: Vec<String>,
}

/// The answer of `GET /v1/hello`, the one call that needs no key: the first thing a daemon
/// asks of an address it is told to transfer with, so it sends nothing else (no key) to
/// something that is not a dm daemon.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hello {
    pub service: String,
}

pub const HELLO_SERVICE: &str = "dm";

/// One line of a transfer's response: progress while it runs, then how it ended.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "lowercase")]
pub enum TransferEvent {
    Progress {
        bytes: u64,
        /// The sender's guess at the stream's size.
        estimate: Option<u64>,
    },
    Done(TransferDone),
    Error(Failure),
}

/// An error sent inside a streamed answer, where the HTTP status has long gone out.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Failure {
    /// The HTTP status the error would have had as a plain answer.
    pub status: u16,
    pub error: String,
    pub code: String,
}

/// A stream that arrived, and the sender's byte count for the client to confirm it with.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TransferDone {
    pub sent_bytes: u64,
    pub receipt: Receipt,
}

/// The receiver's one line after a raw stream ([`crate::wire`]): what arrived, or why nothing
/// was kept.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "lowercase")]
pub enum StreamOutcome {
    Received(Receipt),
    Error(Failure),
}

/// `POST …/branches/B/diff`: what changed between two states of a branch's files.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct DiffRequest {
    /// The older side: a commit id (or unique prefix), tag, branch, `HEAD` or `REF~N`;
    /// `None` is the branch's newest commit (an empty tree before its first commit).
    #[serde(default)]
    pub from: Option<String>,
    /// The newer side, in the same forms; `None` is the uncommitted state of the branch.
    #[serde(default)]
    pub to: Option<String>,
    /// The subdot compared (`__default__` when `None`; `__root__` is the whole dot).
    #[serde(default)]
    pub subdot: Option<String>,
}

/// One side of a diff: a commit, or the uncommitted files (`commit` is `None`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DiffSide {
    pub commit: Option<String>,
    /// The commit's message, for `dm status`'s head line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Moved with its content unchanged; `old_path` is where it was.
    Renamed,
    /// A file became a directory, a link or the like (or the other way round).
    TypeChanged,
}

impl ChangeKind {
    /// `git status --short`'s letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
            ChangeKind::Renamed => 'R',
            ChangeKind::TypeChanged => 'T',
        }
    }
}

/// One changed file (or link, or other non-directory entry), by path inside the subdot.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// Bytes on the older side (`None` when added).
    pub size_before: Option<u64>,
    /// Bytes on the newer side (`None` when deleted).
    pub size_after: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Diff {
    pub branch: String,
    pub subdot: String,
    pub from: DiffSide,
    pub to: DiffSide,
    /// Sorted by path.
    pub changes: Vec<Change>,
}

/// `POST …/branches/B/prune`: which of the branch's own commits to keep; the rest go.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Prune {
    /// The N newest commits.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// The newest commit of each of the N most recent hours that have commits.
    #[serde(default)]
    pub keep_hourly: Option<u32>,
    /// The same per day (UTC).
    #[serde(default)]
    pub keep_daily: Option<u32>,
    /// The same per week (UTC, from Monday).
    #[serde(default)]
    pub keep_weekly: Option<u32>,
    /// Only say what would go.
    #[serde(default)]
    pub dry_run: bool,
}

/// The most any keep option may ask for.
pub const MAX_KEEP: u32 = 1_000_000;

impl Prune {
    pub fn check(&self) -> Result<(), String> {
        let all = [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
        ];
        if all.iter().all(Option::is_none) {
            return Err(
                "say what to keep: --keep-last N, --keep-hourly N, --keep-daily N or --keep-weekly N (several may be combined)"
                    .into(),
            );
        }
        if all.iter().flatten().any(|&n| n > MAX_KEEP) {
            return Err(format!("keep counts go up to {MAX_KEEP}"));
        }
        Ok(())
    }
}

/// What pruning does with one commit.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PruneDecision {
    pub id: String,
    pub message: String,
    pub time: u64,
    pub keep: bool,
    /// Why it stays (empty when it goes): `newest`, `last 3`, `daily`, `tag v1`, …
    pub why: Vec<String>,
    /// Bytes only this commit holds (what removing it alone frees).
    pub bytes: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Pruned {
    pub branch: String,
    pub dry_run: bool,
    /// The branch's own commits, newest first.
    pub commits: Vec<PruneDecision>,
    /// How many went (or would go).
    pub removed: usize,
    /// At least this many bytes come back (each removed commit's own bytes; removing
    /// neighbours together can free more).
    pub bytes: u64,
}

/// One entry of `dm op log`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpInfo {
    pub id: String,
    /// Seconds since the epoch.
    pub time: u64,
    pub user: String,
    pub dot: String,
    #[serde(default)]
    pub branch: Option<String>,
    pub kind: String,
    pub summary: String,
    /// `dm undo` can revert it.
    pub undoable: bool,
    pub undone: bool,
    /// A checkout: the branch it left, which undoing it checks out again (the client's part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_out_from: Option<String>,
}

/// `POST /v1/ops/NS`: records what a client did on its own side (a checkout of `branch` of
/// `dot`, leaving `from`), so that `dm op log` shows it and `dm undo` can revert it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Checkout {
    pub dot: String,
    pub branch: String,
    pub from: String,
}

/// `POST /v1/ops/NS/undo`: revert the newest operation that can be, or (`to`) every operation
/// after the given one, newest first (`dm op restore ID`).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct UndoRequest {
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Undone {
    /// What was reverted, newest first.
    pub undone: Vec<OpInfo>,
}

/// How one check of `dm cluster status` came out; ordered by how much it needs attention.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Ok,
    /// Works now; needs attention soon (a pool filling up, a certificate near expiry).
    Warn,
    /// Needs action now.
    Fail,
}

/// One check: what was looked at, how it is, and in one line what to do about it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    pub summary: String,
    /// The items behind the summary (branches, members), one line each.
    #[serde(default)]
    pub details: Vec<String>,
}

/// What `GET /v1/status` answers: the node's view of itself and of its cluster.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NodeStatus {
    pub node: NodeId,
    pub version: String,
    pub checks: Vec<Check>,
}

/// How far a node is from holding every commit of the branches other nodes master.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Replication {
    /// Branches other nodes master.
    pub branches: usize,
    /// Of those, the ones this node has every commit of.
    pub caught_up: usize,
    pub commits_missing: usize,
    /// Age of the oldest commit this node lacks (0 when it has them all).
    pub lag_seconds: u64,
}

/// `POST /v1/dots/NS/DOT/settings`: what to change (absent: unchanged).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct SettingsChange {
    #[serde(default)]
    pub move_containers: Option<bool>,
}

/// `POST /v1/dots/NS/DOT/containers`: make `branch` what a bare `-v DOT` mounts, restarting
/// the containers that mount the dot so.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MoveContainers {
    pub branch: String,
}

/// Restart a node's containers that mount dot `namespace/dot` by its bare name (node-to-node).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MoveHere {
    pub namespace: String,
    pub dot: String,
    pub branch: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct MovedContainers {
    pub branch: String,
    /// Containers restarted onto the branch.
    pub moved: Vec<String>,
    /// Containers that could not be, with why.
    pub failed: Vec<String>,
}
