//! `dm user add NAME`: create a user (admin only); its API key opens namespace NAME.

/// Manage users (admin only)
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a user and print its API key (shown once); it may use dots in namespace NAME
    Add {
        /// User (and namespace) name
        name: String,
    },
}

pub fn run(ctx: &super::Ctx, c: Command) -> anyhow::Result<()> {
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
    }
}
