//! The routes: which handler answers which method and path, for users, for other nodes of the
//! cluster (internal calls) and for nodes joining; writes to a branch go to its master.

use hyper::Method;

use super::streams::{raw_answer, wants_raw};
use super::*;
use crate::api;
use crate::cluster::FsId;
use crate::daemon::principal::Principal;
use crate::daemon::{Daemon, DaemonError, peer};
use crate::names;

/// Commit, reset and confirming a received stream: run here, or, when this node is not the
/// branch's master, sent on to it with the user's own credentials (unless the request already
/// came from another node).
pub(super) fn branch_write(
    daemon: &Daemon,
    req: &mut Req,
    user: &Principal,
    (ns, dot, br, verb): (&str, &str, &str, &str),
) -> Result<Reply, DaemonError> {
    let raw = raw_body(req)?;
    let node = &daemon.node;
    let done = match verb {
        "commits" => {
            parse(&raw).and_then(|b| node.commit(user, ns, dot, br, &b).map(|c| json(201, &c)))
        }
        "reset" => {
            parse(&raw).and_then(|b| node.reset(user, ns, dot, br, &b).map(|r| json(200, &r)))
        }
        "keep" => parse(&raw).and_then(|b| {
            node.keep_received(user, (ns, dot, br), &b)
                .map(|r| json(200, &r))
        }),
        _ => parse(&raw).and_then(|b| {
            node.confirm_commits(user, (ns, dot, br), &b)
                .map(|r| json(200, &r))
        }),
    };
    match done {
        Err(DaemonError::MasterElsewhere(server)) if header(req, peer::FORWARDED).is_none() => {
            let auth = header(req, "Authorization").unwrap_or_default();
            let method = req.method().to_string();
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding to the branch's master");
            node.peers.forward(&server, &method, &url, &auth, raw)
        }
        other => other,
    }
}

/// Node-to-node calls, authenticated with the cluster secret.
pub(super) fn internal(daemon: &Daemon, req: &mut Req, parts: &[&str]) -> Result<Out, DaemonError> {
    let node = &daemon.node;
    let url = req.url().to_string();
    match (req.method(), parts) {
        (&Method::GET, ["v1", "internal", "send"]) => {
            let raw = raw_answer(daemon, req)?;
            let need = |k: &str| {
                query(&url, k).ok_or_else(|| DaemonError::BadRequest(format!("missing {k}")))
            };
            let stream = node.send_stream(
                &FsId::from(need("fs")?),
                query(&url, "from").as_deref(),
                &need("to")?,
                query(&url, "all").as_deref() == Some("1"),
            )?;
            let me = Principal::Node;
            if raw {
                return Ok(Out::Raw(Raw::Send(stream, None, me)));
            }
            Ok(Out::Stream(stream, None, me))
        }
        (&Method::POST, ["v1", "internal", "release"]) => {
            let b = body(req)?;
            Ok(json(200, &node.release(&b)?).into())
        }
        (&Method::POST, ["v1", "internal", "released"]) => {
            let b = body(req)?;
            node.released(&b)?;
            Ok(json(200, &serde_json::json!({})).into())
        }
        (&Method::POST, ["v1", "internal", "held"]) => {
            let b: api::HeldRequest = body(req)?;
            Ok(json(200, &node.held_here(&b)).into())
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
    if user == Principal::Node {
        return internal(daemon, req, &parts);
    }
    if user == Principal::Joiner {
        return match (req.method(), parts.as_slice()) {
            (&Method::POST, ["v1", "cluster", "members"]) => {
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
    if let (
        &Method::POST,
        [
            "v1",
            "dots",
            ns,
            dot,
            "branches",
            br,
            verb @ ("commits" | "reset" | "confirm" | "keep"),
        ],
    ) = (req.method(), parts.as_slice())
    {
        let at = (*ns, *dot, *br, *verb);
        return branch_write(daemon, req, &user, at).map(Out::from);
    }
    match (req.method(), parts.as_slice()) {
        (&Method::GET, ["v1", "dots", ns, dot, "branches", br, "send"]) => {
            let raw = raw_answer(daemon, req)?;
            let url = req.url().to_string();
            let to = query(&url, "to")
                .ok_or_else(|| DaemonError::BadRequest("missing to=COMMIT".into()))?;
            names::check_commit_id("to", &to).map_err(DaemonError::BadRequest)?;
            let from = commit_query(&url, "from")?;
            let out = daemon
                .node
                .send_commits(&user, (ns, dot, br), from.as_deref(), &to)?;
            if raw {
                return Ok(Out::Raw(Raw::Send(out.stream()?, out.estimate, user)));
            }
            return Ok(Out::Stream(out.stream()?, out.estimate, user));
        }
        (&Method::POST, ["v1", "transfers"]) => {
            streams_need_close(req)?;
            let t: api::TransferRequest = body(req)?;
            t.check().map_err(DaemonError::BadRequest)?;
            return Ok(Out::Transfer(Box::new(t), user));
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "guids"]) => {
            let b: api::GuidsRequest = body(req)?;
            let guids = daemon.node.commit_guids(&user, (ns, dot, br), &b.commits)?;
            return Ok(json(200, &guids).into());
        }
        (&Method::GET, ["v1", "sends", id]) => {
            return Ok(json(200, &daemon.node.sent_record(&user, id)?).into());
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "receive"]) => {
            let at = (ns.to_string(), dot.to_string(), br.to_string());
            return receive(daemon, req, user, at);
        }
        _ => {}
    }
    if matches!(
        (req.method(), parts.as_slice()),
        (&Method::GET, ["v1", "dots"])
    ) {
        return match daemon.node.list(&user)? {
            (list, None) => Ok(json(200, &list).into()),
            (list, Some(age)) => Ok(Out::Stale(json(200, &list), age)),
        };
    }
    user_route(daemon, req, user, &parts).map(Out::from)
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
    let at = (ns.as_str(), dot.as_str(), br.as_str());
    match node.receive_commits(&user, at, from.as_deref(), body) {
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
            let auth = header(req, "Authorization").unwrap_or_default();
            let url = req.url().to_string();
            tracing::debug!(%url, to = %server.id, "forwarding a stream to the branch's master");
            let reply = if check_only {
                node.peers
                    .forward(&server, "POST", &url, &auth, b"{}".to_vec())
            } else {
                let Some(s) = stream.as_mut() else {
                    return Err(DaemonError::NoStream);
                };
                node.peers
                    .forward_stream(&server, &url, &auth, s.as_mut(), node.stream_idle)
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
    parts: &[&str],
) -> Result<Reply, DaemonError> {
    let path = parts.join("/");
    let node = &daemon.node;
    let method = req.method().clone();
    let u = &user;
    match (&method, parts) {
        (&Method::GET, ["v1", "cluster", "nodes"]) => Ok(json(200, &daemon.nodes()?)),
        (&Method::POST, ["v1", "cluster", "members"]) => {
            u.require_admin()?;
            let b: api::JoinRequest = body(req)?;
            Ok(json(200, &daemon.add_member(&b)?))
        }
        (&Method::POST, ["v1", "cluster", "tokens"]) => {
            u.require_admin()?;
            let b: api::CreateToken = body(req)?;
            Ok(json(201, &daemon.create_token(&b)?))
        }
        (&Method::GET, ["v1", "cluster", "tokens"]) => {
            u.require_admin()?;
            Ok(json(200, &daemon.tokens()?))
        }
        (&Method::DELETE, ["v1", "cluster", "tokens", id]) => {
            u.require_admin()?;
            daemon.revoke_token(id)?;
            Ok(json(200, &serde_json::json!({ "revoked": id })))
        }
        (&Method::POST, ["v1", "users"]) => {
            u.require_admin()?;
            let b: api::CreateUser = body(req)?;
            Ok(json(201, &daemon.create_user(&b)?))
        }
        (&Method::POST, ["v1", "cluster", "leave"]) => {
            u.require_admin()?;
            let b: api::LeaveRequest = body(req)?;
            Ok(json(200, &daemon.leave(&b)?))
        }
        (&Method::GET, ["v1", "ping"]) => Ok(json(
            200,
            &api::Ping {
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: node.id.to_string(),
                user: user.name().to_string(),
            },
        )),
        (&Method::POST, ["v1", "dots"]) => {
            let b: api::CreateDot = body(req)?;
            Ok(json(201, &node.create_dot(u, &b)?))
        }
        (&Method::GET, ["v1", "dots", ns, dot]) => Ok(json(200, &node.show(u, ns, dot)?)),
        (&Method::DELETE, ["v1", "dots", ns, dot]) => {
            node.delete(u, ns, dot)?;
            Ok(json(200, &serde_json::json!({ "deleted": dot })))
        }
        (&Method::GET, ["v1", "dots", ns, dot, "branches"]) => {
            Ok(json(200, &node.branches(u, ns, dot)?))
        }
        (&Method::POST, ["v1", "dots", ns, dot, "branches"]) => {
            let b: api::CreateBranch = body(req)?;
            Ok(json(201, &node.create_branch(u, ns, dot, &b)?))
        }
        (&Method::DELETE, ["v1", "dots", ns, dot, "branches", br]) => {
            node.delete_branch(u, ns, dot, br)?;
            Ok(json(200, &serde_json::json!({ "deleted": br })))
        }
        (&Method::GET, ["v1", "dots", ns, dot, "branches", br, "commits"]) => {
            let mut log = node.log(u, ns, dot, br)?;
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
        (&Method::POST, ["v1", "dots", ns, dot, "branches", br, "subdots"]) => {
            let b: api::SubdotRequest = body(req)?;
            Ok(json(
                200,
                &node.subdot_path(u, ns, dot, br, &b.subdot, b.create)?,
            ))
        }
        _ => Err(DaemonError::NoRoute(format!("{method} {path}"))),
    }
}
