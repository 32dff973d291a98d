//! Every route of the API, defined once: the client builds its request paths with
//! [`Route::path`] and the daemon recognises requests with [`Route::parse`], so the two cannot
//! drift apart. Paths are relative to `/v1`; query strings stay with the calls that use them.

/// A branch of a dot: `dots/NS/DOT/branches/BRANCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At<'a> {
    pub ns: &'a str,
    pub dot: &'a str,
    pub branch: &'a str,
}

impl<'a> At<'a> {
    pub fn new((ns, dot, branch): (&'a str, &'a str, &'a str)) -> At<'a> {
        At { ns, dot, branch }
    }

    pub fn triple(&self) -> (&'a str, &'a str, &'a str) {
        (self.ns, self.dot, self.branch)
    }
}

/// What is asked of a branch: `…/branches/BRANCH/<verb>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnBranch {
    /// GET: the log; POST: a commit.
    Commits,
    Reset,
    Subdots,
    /// GUIDs of commits' snapshots.
    Guids,
    /// A stream of commits into the branch.
    Receive,
    /// A stream of the branch's commits.
    Send,
    /// Confirming a received stream.
    Confirm,
    /// Keeping commits that arrived whole in an interrupted transfer.
    Keep,
    /// Which files changed between two commits, or since a commit.
    Diff,
    /// Removing old commits by a keep policy.
    Prune,
}

const VERBS: [(OnBranch, &str); 10] = [
    (OnBranch::Commits, "commits"),
    (OnBranch::Reset, "reset"),
    (OnBranch::Subdots, "subdots"),
    (OnBranch::Guids, "guids"),
    (OnBranch::Receive, "receive"),
    (OnBranch::Send, "send"),
    (OnBranch::Confirm, "confirm"),
    (OnBranch::Keep, "keep"),
    (OnBranch::Diff, "diff"),
    (OnBranch::Prune, "prune"),
];

impl OnBranch {
    fn name(self) -> &'static str {
        VERBS
            .iter()
            .find(|(v, _)| *v == self)
            .expect("every verb is named")
            .1
    }

    fn from_name(s: &str) -> Option<OnBranch> {
        VERBS.iter().find(|(_, n)| *n == s).map(|(v, _)| *v)
    }
}

/// Calls between the nodes of one cluster (`internal/…`), authenticated with the cluster secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Internal {
    /// A `zfs send` stream of a branch, for replication and handoffs.
    Send,
    /// Asks the master to release a branch to the caller.
    Release,
    /// Tells the old master how a handoff ended.
    Released,
    /// Which containers on the node hold branches.
    Held,
    /// Restart the node's containers that mount a dot by its bare name (`--move-containers`).
    Move,
}

const INTERNAL: [(Internal, &str); 5] = [
    (Internal::Send, "send"),
    (Internal::Release, "release"),
    (Internal::Released, "released"),
    (Internal::Held, "held"),
    (Internal::Move, "move"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// The one route without credentials: is this a dm daemon, and which.
    Hello,
    Ping,
    /// GET: every dot the caller may see; POST: a new dot.
    Dots,
    Dot {
        ns: &'a str,
        dot: &'a str,
    },
    /// GET: a dot's branches; POST: a new branch.
    Branches {
        ns: &'a str,
        dot: &'a str,
    },
    Branch(At<'a>),
    On(At<'a>, OnBranch),
    /// GET: a dot's settings; POST: change them.
    Settings {
        ns: &'a str,
        dot: &'a str,
    },
    /// POST: move the containers that mount the dot by its bare name to a branch.
    Containers {
        ns: &'a str,
        dot: &'a str,
    },
    /// GET: a dot's tags; POST: a new tag.
    Tags {
        ns: &'a str,
        dot: &'a str,
    },
    /// DELETE: a tag.
    Tag {
        ns: &'a str,
        dot: &'a str,
        tag: &'a str,
    },
    /// GET: a namespace's operation log.
    Ops(&'a str),
    /// POST: undo the newest operations of a namespace.
    Undo(&'a str),
    /// One stream with another cluster, run by this node.
    Transfers,
    /// A whole push or pull of a branch with another cluster, run by this node.
    TransferRuns,
    /// What became of a stream this node sent.
    Sent(&'a str),
    /// GET: every user (admin); POST: a new user (admin).
    Users,
    /// DELETE: remove the user (admin).
    User(&'a str),
    /// GET: the user's API key, to whoever gives its password (or the key); POST: a new key.
    UserKey(&'a str),
    /// POST: set the user's password.
    UserPassword(&'a str),
    /// GET: the checks of `dm cluster status` (admin).
    ClusterStatus,
    /// GET: how far this node is from every commit of the others' branches (admin).
    ClusterReplication,
    ClusterNodes,
    ClusterMembers,
    ClusterTokens,
    ClusterToken(&'a str),
    ClusterLeave,
    Internal(Internal),
}

impl<'a> Route<'a> {
    /// The path below `/v1`, starting with `/`.
    pub fn path(&self) -> String {
        match self {
            Route::Hello => "/hello".into(),
            Route::Ping => "/ping".into(),
            Route::Dots => "/dots".into(),
            Route::Dot { ns, dot } => format!("/dots/{ns}/{dot}"),
            Route::Branches { ns, dot } => format!("/dots/{ns}/{dot}/branches"),
            Route::Tags { ns, dot } => format!("/dots/{ns}/{dot}/tags"),
            Route::Settings { ns, dot } => format!("/dots/{ns}/{dot}/settings"),
            Route::Containers { ns, dot } => format!("/dots/{ns}/{dot}/containers"),
            Route::Tag { ns, dot, tag } => format!("/dots/{ns}/{dot}/tags/{tag}"),
            Route::Branch(a) => format!("/dots/{}/{}/branches/{}", a.ns, a.dot, a.branch),
            Route::On(a, v) => {
                format!(
                    "/dots/{}/{}/branches/{}/{}",
                    a.ns,
                    a.dot,
                    a.branch,
                    v.name()
                )
            }
            Route::Ops(ns) => format!("/ops/{ns}"),
            Route::Undo(ns) => format!("/ops/{ns}/undo"),
            Route::Transfers => "/transfers".into(),
            Route::TransferRuns => "/transfers/runs".into(),
            Route::Sent(id) => format!("/sends/{id}"),
            Route::Users => "/users".into(),
            Route::User(name) => format!("/users/{name}"),
            Route::UserKey(name) => format!("/users/{name}/key"),
            Route::UserPassword(name) => format!("/users/{name}/password"),
            Route::ClusterStatus => "/cluster/status".into(),
            Route::ClusterReplication => "/cluster/replication".into(),
            Route::ClusterNodes => "/cluster/nodes".into(),
            Route::ClusterMembers => "/cluster/members".into(),
            Route::ClusterTokens => "/cluster/tokens".into(),
            Route::ClusterToken(id) => format!("/cluster/tokens/{id}"),
            Route::ClusterLeave => "/cluster/leave".into(),
            Route::Internal(i) => {
                let name = INTERNAL.iter().find(|(x, _)| x == i).expect("named").1;
                format!("/internal/{name}")
            }
        }
    }

    /// The route's pattern, with placeholders for names (`/dots/:ns/:dot`): what logs and
    /// metrics say of a request, naming no dot. (Not `{ns}`: braces in label values trip up
    /// simple parsers of the metrics format.)
    pub fn pattern(&self) -> String {
        let (ns, dot, tag, id) = (":ns", ":dot", ":tag", ":id");
        let at = At::new((ns, dot, ":branch"));
        match self {
            Route::Dot { .. } => Route::Dot { ns, dot },
            Route::Branches { .. } => Route::Branches { ns, dot },
            Route::Tags { .. } => Route::Tags { ns, dot },
            Route::Settings { .. } => Route::Settings { ns, dot },
            Route::Containers { .. } => Route::Containers { ns, dot },
            Route::Tag { .. } => Route::Tag { ns, dot, tag },
            Route::Branch(_) => Route::Branch(at),
            Route::On(_, v) => Route::On(at, *v),
            Route::Ops(_) => Route::Ops(ns),
            Route::Undo(_) => Route::Undo(ns),
            Route::Sent(_) => Route::Sent(id),
            Route::ClusterToken(_) => Route::ClusterToken(id),
            Route::User(_) => Route::User(":user"),
            Route::UserKey(_) => Route::UserKey(":user"),
            Route::UserPassword(_) => Route::UserPassword(":user"),
            other => *other,
        }
        .path()
    }

    /// The route of a request path split at `/` (with the leading `v1`), if there is one.
    pub fn parse(parts: &[&'a str]) -> Option<Route<'a>> {
        let at = |ns, dot, branch| At { ns, dot, branch };
        Some(match parts {
            ["v1", "hello"] => Route::Hello,
            ["v1", "ping"] => Route::Ping,
            ["v1", "dots"] => Route::Dots,
            ["v1", "dots", ns, dot] => Route::Dot { ns, dot },
            ["v1", "dots", ns, dot, "branches"] => Route::Branches { ns, dot },
            ["v1", "dots", ns, dot, "tags"] => Route::Tags { ns, dot },
            ["v1", "dots", ns, dot, "settings"] => Route::Settings { ns, dot },
            ["v1", "dots", ns, dot, "containers"] => Route::Containers { ns, dot },
            ["v1", "dots", ns, dot, "tags", tag] => Route::Tag { ns, dot, tag },
            ["v1", "dots", ns, dot, "branches", br] => Route::Branch(at(ns, dot, br)),
            ["v1", "dots", ns, dot, "branches", br, verb] => {
                Route::On(at(ns, dot, br), OnBranch::from_name(verb)?)
            }
            ["v1", "ops", ns] => Route::Ops(ns),
            ["v1", "ops", ns, "undo"] => Route::Undo(ns),
            ["v1", "transfers"] => Route::Transfers,
            ["v1", "transfers", "runs"] => Route::TransferRuns,
            ["v1", "sends", id] => Route::Sent(id),
            ["v1", "users"] => Route::Users,
            ["v1", "users", name] => Route::User(name),
            ["v1", "users", name, "key"] => Route::UserKey(name),
            ["v1", "users", name, "password"] => Route::UserPassword(name),
            ["v1", "cluster", "status"] => Route::ClusterStatus,
            ["v1", "cluster", "replication"] => Route::ClusterReplication,
            ["v1", "cluster", "nodes"] => Route::ClusterNodes,
            ["v1", "cluster", "members"] => Route::ClusterMembers,
            ["v1", "cluster", "tokens"] => Route::ClusterTokens,
            ["v1", "cluster", "tokens", id] => Route::ClusterToken(id),
            ["v1", "cluster", "leave"] => Route::ClusterLeave,
            ["v1", "internal", name] => {
                Route::Internal(INTERNAL.iter().find(|(_, n)| n == name)?.0)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Vec<&str> {
        format!("v1{path}").leak().split('/').collect()
    }

    #[test]
    fn every_route_parses_back_from_its_path() {
        let at = At::new(("ns", "d", "b"));
        let mut all = vec![
            Route::Hello,
            Route::Ping,
            Route::Dots,
            Route::Dot { ns: "ns", dot: "d" },
            Route::Branches { ns: "ns", dot: "d" },
            Route::Tags { ns: "ns", dot: "d" },
            Route::Settings { ns: "ns", dot: "d" },
            Route::Containers { ns: "ns", dot: "d" },
            Route::Tag {
                ns: "ns",
                dot: "d",
                tag: "v1",
            },
            Route::Branch(at),
            Route::Ops("ns"),
            Route::Undo("ns"),
            Route::Transfers,
            Route::TransferRuns,
            Route::Sent("s1"),
            Route::Users,
            Route::User("bob"),
            Route::UserKey("bob"),
            Route::UserPassword("bob"),
            Route::ClusterStatus,
            Route::ClusterReplication,
            Route::ClusterNodes,
            Route::ClusterMembers,
            Route::ClusterTokens,
            Route::ClusterToken("t1"),
            Route::ClusterLeave,
        ];
        all.extend(VERBS.iter().map(|(v, _)| Route::On(at, *v)));
        all.extend(INTERNAL.iter().map(|(i, _)| Route::Internal(*i)));
        for r in all {
            assert_eq!(Route::parse(&parts(&r.path())), Some(r), "{}", r.path());
        }
    }

    #[test]
    fn patterns_name_no_dot() {
        let at = At::new(("alice", "secret-db", "feature"));
        assert_eq!(
            Route::On(at, OnBranch::Commits).pattern(),
            "/dots/:ns/:dot/branches/:branch/commits"
        );
        assert_eq!(Route::Ops("alice").pattern(), "/ops/:ns");
        assert_eq!(Route::Dots.pattern(), "/dots");
    }

    #[test]
    fn unknown_paths_have_no_route() {
        for p in [
            "/nope",
            "/dots/a/b/branches/c/nope",
            "/internal/nope",
            "/cluster",
        ] {
            assert_eq!(Route::parse(&parts(p)), None, "{p}");
        }
        assert_eq!(Route::parse(&["ping"]), None, "without v1");
    }
}
