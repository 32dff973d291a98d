//! `dm tag`: name a commit (the checked-out branch's newest by default), list the dot's tags,
//! or delete one. Tags work wherever a commit id does (`dm reset --hard TAG`,
//! `dm checkout -b NAME TAG`) and every node of the cluster sees them.

use crate::api::CreateTag;

/// Name a commit, list tags, or delete one
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tag to make [without one: list the dot's tags]
    name: Option<String>,
    /// Commit to tag: an id, a unique prefix of one, or a tag [default: the newest commit of the
    /// checked-out branch]
    commit: Option<String>,
    /// Delete this tag (the commit stays)
    #[arg(short = 'd', long = "delete", value_name = "TAG", conflicts_with_all = ["name", "commit"])]
    delete: Option<String>,
    /// Dot to act on [default: the current dot]
    #[arg(long)]
    dot: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &super::Ctx, a: Args) -> anyhow::Result<()> {
    let t = ctx.target(a.dot.as_deref())?;
    if let Some(tag) = &a.delete {
        crate::names::validate(crate::names::Kind::Branch, tag)?;
        ctx.call(|c| c.delete_tag(&t.ns, &t.dot, tag))?;
        println!("Deleted tag '{tag}'.");
        return Ok(());
    }
    let Some(name) = &a.name else {
        let tags = ctx.call(|c| c.tags(&t.ns, &t.dot))?;
        if a.json {
            return super::print_json(&tags);
        }
        for tag in &tags {
            println!(
                "{}\t{}\t{}",
                tag.name,
                crate::names::short_id(&tag.commit),
                tag.branch
            );
        }
        return Ok(());
    };
    let req = CreateTag {
        name: name.clone(),
        branch: Some(t.branch.clone()),
        commit: a.commit.clone(),
    };
    let made = ctx.call(|c| c.create_tag(&t.ns, &t.dot, &req))?;
    if a.json {
        return super::print_json(&made);
    }
    println!(
        "Tagged {} on '{}' as '{}'.",
        crate::names::short_id(&made.commit),
        made.branch,
        made.name
    );
    Ok(())
}
