//! `dm remote`: the clusters this client talks to (like `git remote`): add one after checking its
//! API key, list them (`-v` with addresses), remove one, and switch which one the verbs use.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::client::{Client, ClientError, Remote};
use crate::daemon::config::DEFAULT_API_PORT;
use crate::names::{self, Kind};

/// Manage remotes: the clusters this client talks to
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Show each remote's user, host and port
    #[arg(short, long)]
    verbose: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Add a remote; asks for its API key (hidden) unless --api-key-file is given
    Add(AddArgs),
    /// Remove a remote from this client's config (nothing on the cluster changes)
    #[command(alias = "remove")]
    Rm {
        /// Remote to remove
        name: String,
    },
    /// Make the other verbs talk to this remote
    Switch {
        /// Remote to use
        name: String,
    },
}

#[derive(clap::Args, Debug)]
struct AddArgs {
    /// Name for the remote
    name: String,
    /// USER@HOST[:PORT] (port 32607 by default)
    address: String,
    /// Read the API key from this file (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Allow sending the API key over plain HTTP to another machine (trusted networks only)
    #[arg(long)]
    insecure: bool,
    /// Expected TLS certificate fingerprint (SHA256:…); without it you are asked to confirm
    #[arg(long, value_name = "SHA256")]
    fingerprint: Option<String>,
}

pub fn run(ctx: &mut super::Ctx, a: Args) -> anyhow::Result<()> {
    match a.command {
        None => list(ctx, a.verbose),
        Some(Command::Add(add)) => add_remote(ctx, add),
        Some(Command::Rm { name }) => {
            if ctx.cfg.remotes.remove(&name).is_none() {
                bail!("no remote '{name}'; `dm remote -v` lists them");
            }
            if ctx.cfg.current_remote.as_deref() == Some(name.as_str()) {
                ctx.cfg.current_remote = None;
                eprintln!("'{name}' was the current remote; pick another with `dm remote switch`");
            }
            ctx.save()?;
            println!("Removed remote '{name}'.");
            Ok(())
        }
        Some(Command::Switch { name }) => {
            if !ctx.cfg.remotes.contains_key(&name) {
                bail!("no remote '{name}'; `dm remote -v` lists them, `dm remote add` adds one");
            }
            ctx.cfg.current_remote = Some(name.clone());
            ctx.save()?;
            println!("Now using remote '{name}'.");
            Ok(())
        }
    }
}

fn list(ctx: &super::Ctx, verbose: bool) -> anyhow::Result<()> {
    for (name, r) in &ctx.cfg.remotes {
        let mark = if ctx.cfg.current_remote.as_deref() == Some(name.as_str()) {
            "*"
        } else {
            " "
        };
        if verbose {
            println!("{mark} {name}\t{}@{}:{}", r.user, r.host, r.port);
        } else {
            println!("{mark} {name}");
        }
    }
    Ok(())
}

/// "alice@hub.example:32607" → (user, host, port).
fn parse_address(s: &str) -> anyhow::Result<(String, String, u16)> {
    let (user, rest) = s
        .split_once('@')
        .with_context(|| format!("{s:?} has no user; write USER@HOST[:PORT]"))?;
    names::validate(Kind::Namespace, user).with_context(|| format!("bad user in {s:?}"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .with_context(|| format!("bad port in {s:?}; write USER@HOST[:PORT]"))?,
        ),
        None => (rest, DEFAULT_API_PORT),
    };
    if host.is_empty() {
        bail!("{s:?} has no host; write USER@HOST[:PORT]");
    }
    Ok((user.to_string(), host.to_string(), port))
}

fn read_key(a: &AddArgs) -> anyhow::Result<String> {
    super::read_secret(
        a.api_key_file.as_deref(),
        &format!("API key for {}", a.address),
        "no terminal to ask for the API key on; pass --api-key-file FILE (or - for standard input)",
    )
}

fn add_remote(ctx: &mut super::Ctx, a: AddArgs) -> anyhow::Result<()> {
    names::validate(Kind::Dot, &a.name).context("bad remote name")?;
    if ctx.cfg.remotes.contains_key(&a.name) {
        bail!(
            "remote '{}' already exists; remove it first with `dm remote rm {}`",
            a.name,
            a.name
        );
    }
    let (user, host, port) = parse_address(&a.address)?;
    let remote = Remote {
        insecure: a.insecure,
        tls_cert: trust(&host, port, a.fingerprint.as_deref())?,
        ..Remote::new(&user, &host, port, "")
    };
    if !remote.may_send_key() {
        return Err(ClientError::Insecure(host).into());
    }
    let remote = Remote {
        api_key: read_key(&a)?,
        ..remote
    };
    let ping = Client::new(&remote).ping().map_err(|e| match e {
        ClientError::Api { status: 401, .. } => anyhow::anyhow!(
            "{host} refused the API key for user '{user}'; nothing saved. Check the key and try again"
        ),
        other => anyhow::Error::new(other).context("cannot check the remote; nothing saved"),
    })?;
    ctx.cfg.remotes.insert(a.name.clone(), remote);
    if ctx.cfg.current_remote.is_none() {
        ctx.cfg.current_remote = Some(a.name.clone());
    }
    ctx.save()?;
    println!(
        "Added remote '{}' ({user}@{host}:{port}, node {}, dm {}).",
        a.name, ping.node, ping.version
    );
    Ok(())
}

/// Trust-on-first-use: if `host:port` serves TLS, its certificate, once the user accepts its
/// fingerprint (given with --fingerprint, or confirmed at a prompt); `None` for plain HTTP.
pub(super) fn trust(
    host: &str,
    port: u16,
    expected: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let Some(pem) = crate::tls::probe(host, port)? else {
        if expected.is_some() {
            bail!("{host}:{port} does not serve TLS, so there is no certificate to check");
        }
        return Ok(None);
    };
    let fp = crate::tls::fingerprint(&pem)?;
    match expected {
        Some(want) if crate::tls::normalise_fingerprint(want) == fp => Ok(Some(pem)),
        Some(want) => bail!(
            "the certificate of {host}:{port} has fingerprint {fp}, not {want}; nothing saved. Someone may be in between: check the fingerprint on that machine"
        ),
        None if std::io::stdin().is_terminal() => {
            eprintln!("The certificate of {host}:{port} has fingerprint\n  {fp}");
            let ok = dialoguer::Confirm::new()
                .with_prompt("Trust it from now on?")
                .default(false)
                .interact()?;
            if !ok {
                bail!("certificate not trusted; nothing saved");
            }
            Ok(Some(pem))
        }
        None => bail!(
            "{host}:{port} serves TLS with certificate {fp}; there is no terminal to confirm it on, so pass --fingerprint {fp} if that is the one its cluster printed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            parse_address("alice@hub:1234").unwrap(),
            ("alice".into(), "hub".into(), 1234)
        );
        assert_eq!(parse_address("bob@10.0.0.1").unwrap().2, 32607);
        assert!(parse_address("hub:1234").is_err());
        assert!(parse_address("alice@:1").is_err());
        assert!(parse_address("alice@hub:x").is_err());
    }
}
