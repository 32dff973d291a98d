//! The two sides of a push or pull: the dot here, its name on the remote (remembered from a
//! clone or `--remote-name`), and a client for each.

use anyhow::{Context as _, bail};

use super::End;
use crate::client::Client;
use crate::client::config::Remote;
use crate::names::DotRef;

/// The named remote, and a client for it.
pub(super) fn remote_client(ctx: &crate::cli::Ctx, name: &str) -> anyhow::Result<(Client, Remote)> {
    let r = ctx.cfg.remotes.get(name).with_context(|| {
        format!("no remote '{name}'; `dm remote -v` lists them, `dm remote add` adds one")
    })?;
    Ok((Client::new(r), r.clone()))
}

/// The name a dot has on `remote`, as remembered from `--remote-name` or a clone: `[ns/]name`.
pub(super) fn far_name(ctx: &crate::cli::Ctx, remote: &str, key: &str, dot: &str) -> String {
    ctx.cfg
        .remotes
        .get(remote)
        .and_then(|r| r.dot_names.get(key).cloned())
        .unwrap_or_else(|| dot.to_string())
}

/// Splits a far dot name, `[namespace/]name`, checking both parts; a branch or subdot part
/// is refused, since `--branch` picks the branch.
pub(super) fn parse_far_name(s: &str) -> anyhow::Result<(Option<String>, String)> {
    let r = DotRef::parse(s)?;
    if r.branch.is_some() || r.subdot.is_some() {
        bail!(
            "'{s}' names a branch or subdot; give the far dot as [NAMESPACE/]NAME and the branch with --branch"
        );
    }
    Ok((r.namespace, r.dot))
}

pub(super) fn remember_name(
    ctx: &mut crate::cli::Ctx,
    remote: &str,
    key: &str,
    far: &str,
) -> anyhow::Result<()> {
    if let Some(r) = ctx.cfg.remotes.get_mut(remote) {
        r.dot_names.insert(key.to_string(), far.to_string());
        ctx.save()?;
    }
    Ok(())
}

/// The namespace a dot gets on the far side: the far user's own when it was ours here.
pub(super) fn far_namespace(ns: &str, here_user: &str, far_user: &str) -> String {
    if ns == here_user {
        far_user.to_string()
    } else {
        ns.to_string()
    }
}

/// What push and pull share: the dot here, its name there, and a client for each side.
pub(super) struct Sides {
    pub(super) key: String,
    pub(super) ns: String,
    pub(super) dot: String,
    pub(super) branch: String,
    pub(super) far_ns: String,
    pub(super) far_dot: String,
    pub(super) local: Client,
    pub(super) far: Client,
    pub(super) remote: Remote,
}

pub(super) fn sides(
    ctx: &crate::cli::Ctx,
    remote: &str,
    dot: Option<&str>,
    branch: Option<&str>,
    far_name_override: Option<&str>,
) -> anyhow::Result<Sides> {
    let t = ctx.target(dot)?;
    let key = ctx.key(&t);
    // Starts this machine's daemon if it is down, like every other verb.
    ctx.call(|c| c.ping())?;
    let (_, here) = ctx.cfg.current()?;
    let (far, far_remote) = remote_client(ctx, remote)?;
    let (far_ns, far_dot) = match far_name_override {
        Some(n) => parse_far_name(n)?,
        None => parse_far_name(&far_name(ctx, remote, &key, &t.dot))?,
    };
    Ok(Sides {
        far_ns: far_ns.unwrap_or_else(|| far_namespace(&t.ns, &here.user, &far_remote.user)),
        far_dot,
        branch: branch.map(str::to_string).unwrap_or(t.branch),
        key,
        ns: t.ns,
        dot: t.dot,
        local: Client::new(here),
        far,
        remote: far_remote,
    })
}

impl Sides {
    /// The branch on this cluster.
    pub(super) fn here(&self) -> End<'_> {
        End {
            client: &self.local,
            ns: self.ns.clone(),
            dot: self.dot.clone(),
            branch: self.branch.clone(),
            label: "this cluster".into(),
        }
    }

    /// The branch on remote `remote`, in dot `dot` there.
    pub(super) fn there(&self, remote: &str, dot: String) -> End<'_> {
        End {
            client: &self.far,
            ns: self.far_ns.clone(),
            dot,
            branch: self.branch.clone(),
            label: format!("remote '{remote}'"),
        }
    }
}
