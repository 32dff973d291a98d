//! `dm user`: add, list and remove users (admin), and a user's own API key and password:
//! `dm user key` shows the key (signed in with it, or with `--password`), `dm user key reset`
//! replaces it, `dm user passwd` sets the password. Admin may reset another user's key or
//! password.

use std::path::PathBuf;

use anyhow::bail;

use crate::api;
use crate::client::Client;

/// Users, their API keys and passwords
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a user and print its API key (admin only); it may use dots in namespace NAME
    Add {
        /// User (and namespace) name
        name: String,
    },
    /// List the users (admin only)
    #[command(visible_alias = "ls")]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a user (admin only): its key stops working at once; the dots in its namespace
    /// stay, for admin (or a user added again with that name)
    #[command(visible_alias = "rm")]
    Remove {
        /// User name
        name: String,
    },
    /// Show your API key, signed in with it or with your password (`--password`); `reset`
    /// makes a new one
    Key(KeyArgs),
    /// Set your password (or, as admin, another user's with --user); it can show your API key
    /// later (`dm user key --password`)
    Passwd(PasswdArgs),
}

#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    action: Option<KeyAction>,
    /// Sign in with your password instead of the key the remote has (on a machine that lost it)
    #[arg(long)]
    password: bool,
    /// Read the password from this file (`-` for standard input) instead of asking
    #[arg(long, value_name = "FILE", global = true)]
    password_file: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyAction {
    /// Replace the API key: the old one stops working at once. Your own new key goes into
    /// this remote's config; as admin, `--user NAME` replaces NAME's and prints it
    Reset {
        /// Whose key (admin only for others) [default: yours]
        #[arg(long)]
        user: Option<String>,
        /// Give your password so `dm user key --password` can show the new key later
        #[arg(long)]
        password: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct PasswdArgs {
    /// Whose password (admin only for others) [default: yours]
    #[arg(long)]
    user: Option<String>,
    /// Read the new password from this file (`-` for standard input) instead of asking twice
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

pub fn run(ctx: &mut super::Ctx, c: Command) -> anyhow::Result<()> {
    match c {
        Command::Add { name } => {
            let u = ctx.call(|c| c.create_user(&name))?;
            eprintln!(
                "Created user '{}'. Its API key (shown only now; add it with `dm remote add NAME {}@HOST`):",
                u.name, u.name
            );
            println!("{}", u.api_key);
            Ok(())
        }
        Command::List { json } => {
            let users = ctx.call(|c| c.users())?;
            if json {
                return super::print_json(&users);
            }
            for u in users {
                let note = match (u.name.as_str(), u.password) {
                    (crate::names::ADMIN, _) => "  (key kept by each node)",
                    (_, true) => "  (password set)",
                    _ => "",
                };
                println!("{}{note}", u.name);
            }
            Ok(())
        }
        Command::Remove { name } => {
            ctx.call(|c| c.delete_user(&name))?;
            println!(
                "Removed user '{name}': its API key no longer works. The dots in namespace '{name}' stay (`dm list` as admin shows them)."
            );
            Ok(())
        }
        Command::Key(a) => match a.action {
            None => show_key(ctx, a.password, a.password_file.as_deref()),
            Some(KeyAction::Reset { user, password }) => {
                reset_key(ctx, user, password, a.password_file.as_deref())
            }
        },
        Command::Passwd(a) => passwd(ctx, a),
    }
}

fn password(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    super::read_secret(
        file,
        "Password",
        "no terminal to ask for the password on; pass --password-file FILE (or - for standard input)",
    )
}

fn show_key(
    ctx: &super::Ctx,
    with_password: bool,
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (_, remote) = ctx.cfg.current()?;
    let key = if with_password || file.is_some() {
        let mut signed_in = remote.clone();
        signed_in.api_key = password(file)?;
        Client::new(&signed_in).user_key(&remote.user)?
    } else {
        ctx.call(|c| c.user_key(&remote.user))?
    };
    println!("{}", key.api_key);
    Ok(())
}

fn reset_key(
    ctx: &mut super::Ctx,
    user: Option<String>,
    with_password: bool,
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let me = ctx.cfg.current()?.1.user.clone();
    let name = user.unwrap_or(me.clone());
    let req = api::KeyReset {
        password: (with_password || file.is_some())
            .then(|| password(file))
            .transpose()?,
    };
    let new = ctx.call(|c| c.reset_key(&name, &req))?;
    if name == me {
        // This client keeps working: the remote's key is the new one.
        ctx.cfg.current_mut()?.api_key = new.api_key.clone();
        ctx.save()?;
        eprintln!(
            "New API key for '{name}' (the old one no longer works; this remote uses the new one, other machines need it: `dm remote add`):"
        );
    } else {
        eprintln!("New API key for '{name}' (the old one no longer works; give them this):");
    }
    println!("{}", new.api_key);
    Ok(())
}

fn passwd(ctx: &super::Ctx, a: PasswdArgs) -> anyhow::Result<()> {
    let name = match a.user {
        Some(u) => u,
        None => ctx.cfg.current()?.1.user.clone(),
    };
    let pw = match &a.password_file {
        Some(f) => password(Some(f))?,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => dialoguer::Password::new()
            .with_prompt(format!("New password for '{name}'"))
            .with_confirmation("Again", "The two did not match")
            .interact()?,
        None => bail!(
            "no terminal to ask for the new password on; pass --password-file FILE (or - for standard input)"
        ),
    };
    ctx.call(|c| c.set_password(&name, &pw))?;
    eprintln!("Password set for '{name}'.");
    Ok(())
}
