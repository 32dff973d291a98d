//! The routes: which handler answers which method and path, for users, for other nodes of the
//! cluster (internal calls) and for nodes joining; writes to a branch go to its master.

use hyper::Method;

use super::streams::Job;
use super::streams::{raw_answer, wants_raw};
use super::*;
use crate::api;
use crate::cluster::FsId;
use crate::daemon::principal::Principal;
use crate::daemon::{Daemon, DaemonError, peer};
use crate::names;
use crate::routes::{At, Internal, OnBranch, Route};

/// Commit, reset, prune, confirming a received stream and a diff with uncommitted files: run here,
/// or, when this node is not the branch's master, sent on to it with the user's own credentials (unless the request already
/// came from another node).
pub(super) fn branch_write(
    daemon: &Daemon,
    req: &mut Req,
    user: &Principal,
    at: At<'_>,
    verb: OnBranch,
) -> Result<Reply, DaemonError> {
    let raw = raw_body(req)?;
    let node = &daemon.node;
    let (ns, dot, br) = at.triple();
    let done = match verb {
        OnBranch::Commits => parse(&raw).and_then(|b| {
            node.dots
                .commit(user, ns, dot, br, &b)
                .map(|c| json(201, &c))
        }),
        OnBranch::Reset => parse(&raw).and_then(|b| {
            node.dots
                .reset(user, ns, dot, br, &b)
                .map(|r| json(200, &r))
        }),
        OnBranch::Diff => {
            parse(&raw).and_then(|b| node.diffs.diff(user, at, &b).map(|d| json(200, &d)))
        }
        OnBranch::Prune => {
            parse(&raw).and_then(|b| node.dots.prune(user, at, &b).map(|d| json(200, &d)))
        }
        OnBranch::Keep => parse(&raw).and_then(|b| {
            node.transfers
                .keep_received(user, at, &b)
                .map(|r| json(200, &r))
        }),
        _ => parse(&raw).and_then(|b| {
            node.transfers
                .confirm_commits(user, at, &b)
                .map(|r| json(200, &r))
        }),
    };
    match done {
        Err(DaemonError::MasterElsewhere(server)) if header(req, peer::FORWARDED).is_none() => {
            let method = req.method().to_string();
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding to the branch's master");
            node.core.peers.forward(&server, &method, &url, user, raw)
        }
        other => other,
    }
}

/// Node-to-node calls, authenticated with the cluster secret.
pub(super) fn internal(
    daemon: &Daemon,
    req: &mut Req,
    route: Option<Route<'_>>,
) -> Result<Out, DaemonError> {
    let node = &daemon.node;
    let url = req.url().to_string();
    match (req.method(), route) {
        (&Method::GET, Some(Route::Internal(Internal::Send))) => {
            let raw = raw_answer(daemon, req)?;
            let need = |k: &str| {
                query(&url, k).ok_or_else(|| DaemonError::BadRequest(format!("missing {k}")))
            };
            let stream = node.replicator.send_stream(
                &FsId::from(need("fs")?),
                query(&url, "from").as_deref(),
                &need("to")?,
                query(&url, "all").as_deref() == Some("1"),
            )?;
            let me = Principal::Node;
            if raw {
                return Ok(Out::Raw(Raw::Send(stream.stream()?, None, me)));
            }
            Ok(Out::Stream(stream.stream()?, None, me))
        }
        (&Method::POST, Some(Route::Internal(Internal::Release))) => {
            let b = body(req)?;
            Ok(json(200, &node.handoff.release(&b)?).into())
        }
        (&Method::POST, Some(Route::Internal(Internal::Released))) => {
            let b = body(req)?;
            node.handoff.released(&b)?;
            Ok(json(200, &serde_json::json!({})).into())
        }
        (&Method::POST, Some(Route::Internal(Internal::Held))) => {
            let b: api::HeldRequest = body(req)?;
            Ok(json(200, &node.inventory.held_here(&b)).into())
        }
        (&Method::POST, Some(Route::Internal(Internal::Move))) => {
            let b: api::MoveHere = body(req)?;
            Ok(json(200, &node.inventory.move_here(&b)?).into())
        }
        _ => Err(DaemonError::NoRoute(url)),
    }
}

/// A commit id from the query, checked.
pub(super) fn commit_query(url: &str, key: &str) -> Result<Option<String>, DaemonError> {
    let v = query(url, key);
    if let Some(id) = &v {
        names::check_commit_id(key, id).map_err(DaemonError::BadRequest)?;
    }
    Ok(v)
}

/// Checks the names in a `/v1/dots/NS/DOT[/branches/BRANCH…]` path before any handler sees
/// them.
pub(super) fn check_path(parts: &[&str]) -> Result<(), DaemonError> {
    let bad = |e: names::NameError| DaemonError::BadRequest(e.to_string());
    if let ["v1", "dots", ns, dot, rest @ ..] = parts {
        names::validate(names::Kind::Namespace, ns).map_err(bad)?;
        names::validate(names::Kind::Dot, dot).map_err(bad)?;
        if let ["branches", br, ..] = rest {
            names::validate(names::Kind::Branch, br).map_err(bad)?;
        }
    }
    Ok(())
}

pub(super) fn route(daemon: &Daemon, req: &mut Req, user: Principal) -> Result<Out, DaemonError> {
    let path = req.url().split('?').next().unwrap_or_default().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    check_path(&parts)?;
    let route = Route::parse(&parts);
    if user == Principal::Node {
        return internal(daemon, req, route);
    }
    if user == Principal::Joiner {
        return match (req.method(), route) {
            (&Method::POST, Some(Route::ClusterMembers)) => {
                let b: api::JoinRequest = body(req)?;
                Ok(json(200, &daemon.add_member(&b)?).into())
            }
            _ => Err(DaemonError::Forbidden(
                "a join token can only add a node to the cluster (`dm cluster join`)".into(),
            )),
        };
    }
    if parts.get(1) == Some(&"internal") {
        return Err(DaemonError::Forbidden(
            "internal calls are for the cluster's nodes only".into(),
        ));
    }
    let Some(route) = route else {
        return Err(DaemonError::NoRoute(format!("{} {path}", req.method())));
    };
    match (req.method(), route) {
        (
            &Method::POST,
            Route::On(
                at,
                verb @ (OnBranch::Commits
                | OnBranch::Reset
                | OnBranch::Confirm
                | OnBranch::Keep
                | OnBranch::Diff
                | OnBranch::Prune),
            ),
        ) => branch_write(daemon, req, &user, at, verb).map(Out::from),
        (&Method::GET, Route::On(at, OnBranch::Send)) => {
            let raw = raw_answer(daemon, req)?;
            let url = req.url().to_string();
            let to = query(&url, "to")
                .ok_or_else(|| DaemonError::BadRequest("missing to=COMMIT".into()))?;
            names::check_commit_id("to", &to).map_err(DaemonError::BadRequest)?;
            let from = commit_query(&url, "from")?;
            let out = daemon
                .node
                .transfers
                .send_commits(&user, at, from.as_deref(), &to)?;
            if raw {
                return Ok(Out::Raw(Raw::Send(out.stream()?, out.estimate, user)));
            }
            Ok(Out::Stream(out.stream()?, out.estimate, user))
        }
        (&Method::POST, Route::Transfers) => {
            streams_need_close(req)?;
            let t: api::TransferRequest = body(req)?;
            t.check().map_err(DaemonError::BadRequest)?;
            Ok(Out::Transfer(Box::new(Job::Step(t)), user))
        }
        (&Method::POST, Route::TransferRuns) => {
            streams_need_close(req)?;
            let r: api::TransferRun = body(req)?;
            r.check().map_err(DaemonError::BadRequest)?;
            Ok(Out::Transfer(Box::new(Job::Run(r)), user))
        }
        (&Method::POST, Route::On(at, OnBranch::Guids)) => {
            let b: api::GuidsRequest = body(req)?;
            let guids = daemon.node.transfers.commit_guids(&user, at, &b.commits)?;
            Ok(json(200, &guids).into())
        }
        (&Method::GET, Route::Sent(id)) => {
            Ok(json(200, &daemon.node.transfers.sent_record(&user, id)?).into())
        }
        (&Method::POST, Route::On(at, OnBranch::Receive)) => {
            let at = (at.ns.to_string(), at.dot.to_string(), at.branch.to_string());
            receive(daemon, req, user, at)
        }
        (&Method::GET, Route::Dots) => match daemon.node.inventory.list(&user)? {
            (list, None) => Ok(json(200, &list).into()),
            (list, Some(age)) => Ok(Out::Stale(json(200, &list), age)),
        },
        _ => user_route(daemon, req, user, route, &path).map(Out::from),
    }
}

/// `POST …/receive`: a check (`check=1`), a raw stream after switching protocols, or a stream
/// in the body. Refusals come before any of the stream is read, and a node that does not hold
/// the branch passes a check or a body on to the node that does.
pub(super) fn receive(
    daemon: &Daemon,
    req: &mut Req,
    user: Principal,
    (ns, dot, br): (String, String, String),
) -> Result<Out, DaemonError> {
    let node = &daemon.node;
    let from = commit_query(req.url(), "from")?;
    let raw = wants_raw(daemon, req)?;
    let check_only = query(req.url(), "check").as_deref() == Some("1");
    // No stream (an empty body) is what an upgrade dropped on the way by a proxy looks like.
    let mut stream = req.stream();
    let body = match &mut stream {
        Some(s) if !raw && !check_only => Some(crate::storage::Input::Read(s.as_mut())),
        _ => None,
    };
    let reading = body.is_some();
    let at = At::new((ns.as_str(), dot.as_str(), br.as_str()));
    match node
        .transfers
        .receive_commits(&user, at, from.as_deref(), body)
    {
        // Checked: the stream follows the switch.
        Ok(_) if raw => Ok(Out::Raw(Raw::Receive {
            user,
            at: (ns, dot, br),
            from,
        })),
        Ok(r) if reading || check_only => Ok(json(200, &r).into()),
        Ok(_) => Err(DaemonError::NoStream),
        // Refused before a byte of the body was read: it goes on to the master whole.
        Err(DaemonError::MasterElsewhere(server))
            if !raw && (reading || check_only) && header(req, peer::FORWARDED).is_none() =>
        {
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding a stream to the branch's master");
            let reply = if check_only {
                node.core
                    .peers
                    .forward(&server, "POST", &url, &user, b"{}".to_vec())
            } else {
                let Some(s) = stream.as_mut() else {
                    return Err(DaemonError::NoStream);
                };
                node.core.peers.forward_stream(
                    &server,
                    &url,
                    &user,
                    s.as_mut(),
                    node.core.stream_idle,
                )
            };
            reply.map(Out::from)
        }
        Err(e) => Err(e),
    }
}

pub(super) fn user_route(
    daemon: &Daemon,
    req: &mut Req,
    user: Principal,
    route: Route<'_>,
    path: &str,
) -> Result<Reply, DaemonError> {
    let node = &daemon.node;
    let method = req.method().clone();
    let u = &user;
    match (&method, route) {
        (&Method::GET, Route::ClusterNodes) => Ok(json(200, &daemon.nodes()?)),
        (&Method::GET, Route::ClusterStatus) => {
            u.require_admin()?;
            Ok(json(200, &daemon.status()))
        }
        (&Method::GET, Route::ClusterReplication) => {
            u.require_admin()?;
            Ok(json(200, &daemon.replication()?))
        }
        (&Method::POST, Route::ClusterMembers) => {
            u.require_admin()?;
            let b: api::JoinRequest = body(req)?;
            Ok(json(200, &daemon.add_member(&b)?))
        }
        (&Method::POST, Route::ClusterTokens) => {
            u.require_admin()?;
            let b: api::CreateToken = body(req)?;
            Ok(json(201, &daemon.create_token(&b)?))
        }
        (&Method::GET, Route::ClusterTokens) => {
            u.require_admin()?;
            Ok(json(200, &daemon.tokens()?))
        }
        (&Method::DELETE, Route::ClusterToken(id)) => {
            u.require_admin()?;
            daemon.revoke_token(id)?;
            Ok(json(200, &serde_json::json!({ "revoked": id })))
        }
        (&Method::POST, Route::Users) => {
            u.require_admin()?;
            let b: api::CreateUser = body(req)?;
            Ok(json(201, &daemon.create_user(&b)?))
        }
        (&Method::GET, Route::Users) => {
            u.require_admin()?;
            Ok(json(200, &daemon.users()?))
        }
        (&Method::DELETE, Route::User(name)) => {
            u.require_admin()?;
            daemon.delete_user(name)?;
            Ok(json(200, &serde_json::json!({ "deleted": name })))
        }
        (&Method::POST, Route::UserKey(name)) => {
            let b: api::KeyReset = body(req)?;
            Ok(json(200, &daemon.reset_key(u, name, &b)?))
        }
        (&Method::POST, Route::UserPassword(name)) => {
            let b: api::SetPassword = body(req)?;
            let key = header(req, "Authorization")
                .as_deref()
                .and_then(basic_auth)
                .map(|(_, k)| k);
            daemon.set_password(u, key.as_deref(), name, &b)?;
            Ok(json(200, &serde_json::json!({})))
        }
        (&Method::POST, Route::ClusterLeave) => {
            u.require_admin()?;
            let b: api::LeaveRequest = body(req)?;
            Ok(json(200, &daemon.leave(&b)?))
        }
        (&Method::GET, Route::Ping) => Ok(json(
            200,
            &api::Ping {
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: node.core.id.clone(),
                user: user.name().to_string(),
            },
        )),
        (&Method::POST, Route::Dots) => {
            let b: api::CreateDot = body(req)?;
            Ok(json(201, &node.dots.create_dot(u, &b)?))
        }
        (&Method::GET, Route::Dot { ns, dot }) => Ok(json(200, &node.inventory.show(u, ns, dot)?)),
        (&Method::GET, Route::Settings { ns, dot }) => {
            Ok(json(200, &node.inventory.dot_settings(u, ns, dot)?))
        }
        (&Method::POST, Route::Settings { ns, dot }) => {
            let b: api::SettingsChange = body(req)?;
            Ok(json(200, &node.inventory.change_settings(u, ns, dot, &b)?))
        }
        (&Method::POST, Route::Containers { ns, dot }) => {
            let b: api::MoveContainers = body(req)?;
            Ok(json(200, &node.inventory.move_containers(u, ns, dot, &b)?))
        }
        (&Method::DELETE, Route::Dot { ns, dot }) => {
            node.dots.delete(u, ns, dot)?;
            Ok(json(200, &serde_json::json!({ "deleted": dot })))
        }
        (&Method::GET, Route::Branches { ns, dot }) => {
            Ok(json(200, &node.inventory.branches(u, ns, dot)?))
        }
        (&Method::GET, Route::Tags { ns, dot }) => Ok(json(200, &node.dots.tags(u, ns, dot)?)),
        (&Method::GET, Route::Ops(ns)) => Ok(json(200, &node.dots.op_log(u, ns)?)),
        (&Method::POST, Route::Ops(ns)) => {
            let b: api::Checkout = body(req)?;
            node.dots.record_checkout(u, ns, &b)?;
            Ok(json(201, &serde_json::json!({ "recorded": "checkout" })))
        }
        (&Method::POST, Route::Undo(ns)) => {
            let b: api::UndoRequest = body(req)?;
            Ok(json(200, &node.dots.undo(u, ns, &b)?))
        }
        (&Method::POST, Route::Tags { ns, dot }) => {
            let t: api::CreateTag = body(req)?;
            Ok(json(201, &node.dots.create_tag(u, ns, dot, &t)?))
        }
        (&Method::DELETE, Route::Tag { ns, dot, tag }) => {
            node.dots.delete_tag(u, ns, dot, tag)?;
            Ok(json(200, &serde_json::json!({ "deleted": tag })))
        }
        (&Method::POST, Route::Branches { ns, dot }) => {
            let b: api::CreateBranch = body(req)?;
            Ok(json(201, &node.dots.create_branch(u, ns, dot, &b)?))
        }
        (
            &Method::DELETE,
            Route::Branch(At {
                ns,
                dot,
                branch: br,
            }),
        ) => {
            node.dots.delete_branch(u, ns, dot, br)?;
            Ok(json(200, &serde_json::json!({ "deleted": br })))
        }
        (
            &Method::GET,
            Route::On(
                At {
                    ns,
                    dot,
                    branch: br,
                },
                OnBranch::Commits,
            ),
        ) => {
            let mut log = match query(req.url(), "from") {
                Some(rev) if rev.len() <= 200 => node.dots.log_from(u, ns, dot, br, &rev)?,
                Some(_) => {
                    return Err(DaemonError::BadRequest(
                        "from= is not a commit reference".into(),
                    ));
                }
                None => node.dots.log(u, ns, dot, br)?,
            };
            // Newest first: `limit=1` is the branch's head, all a push that may be up to date
            // needs to ask of the far side.
            if let Some(n) = query(req.url(), "limit") {
                let n = n.parse().map_err(|_| {
                    DaemonError::BadRequest(format!("limit must be a number, not '{n}'"))
                })?;
                log.truncate(n);
            }
            Ok(json(200, &log))
        }
        (
            &Method::POST,
            Route::On(
                At {
                    ns,
                    dot,
                    branch: br,
                },
                OnBranch::Subdots,
            ),
        ) => {
            let b: api::SubdotRequest = body(req)?;
            Ok(json(
                200,
                &node.subdots.subdot_path(
                    u,
                    At::new((ns, dot, br)),
                    &b.subdot,
                    b.create,
                    b.commit.as_deref(),
                )?,
            ))
        }
        _ => Err(DaemonError::NoRoute(format!("{method} {path}"))),
    }
}
