//! `dm cluster status` (also `dm doctor`): the node's checks, one line each with what to do,
//! worst first; exit status 1 when any needs action, 3 when the daemon does not answer.

use anyhow::bail;

use crate::api::{Check, CheckState, NodeStatus};
use crate::client::Client;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON (the same checks; the exit status is the same too)
    #[arg(long)]
    json: bool,
}

pub fn status(ctx: &crate::cli::Ctx, a: StatusArgs) -> anyhow::Result<()> {
    let (name, remote) = ctx.cfg.current()?;
    // Asked directly, never starting a daemon that is down: that it is down is the answer.
    let asked = Client::new(remote).status();
    let status = match asked {
        Ok(s) => s,
        Err(e) if !e.is_unreachable() => return Err(e.into()),
        Err(e) => {
            let check = Check {
                name: "daemon".into(),
                state: CheckState::Fail,
                summary: format!(
                    "the daemon of remote '{name}' ({}:{}) does not answer; start it (`systemctl start dm`, or any dm command on that machine)",
                    remote.host, remote.port
                ),
                details: vec![e.to_string()],
            };
            print(&[check], a.json, None);
            return Err(e.into());
        }
    };
    print(&status.checks, a.json, Some(&status));
    let needs: Vec<&str> = status
        .checks
        .iter()
        .filter(|c| c.state != CheckState::Ok)
        .map(|c| c.name.as_str())
        .collect();
    if !needs.is_empty() {
        bail!("needs attention: {}", needs.join(", "));
    }
    Ok(())
}

fn print(checks: &[Check], json: bool, status: Option<&NodeStatus>) {
    if json {
        let v = match status {
            Some(s) => serde_json::to_value(s),
            None => serde_json::to_value(serde_json::json!({ "node": null, "checks": checks })),
        };
        println!("{}", v.map(|v| v.to_string()).unwrap_or_default());
        return;
    }
    if let Some(s) = status {
        println!("node {} (dm {})", s.node, s.version);
    }
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let state = match c.state {
            CheckState::Ok => "ok  ",
            CheckState::Warn => "WARN",
            CheckState::Fail => "FAIL",
        };
        println!("{state}  {:width$}  {}", c.name, c.summary);
        for d in &c.details {
            println!("      {:width$}    {d}", "");
        }
    }
}
