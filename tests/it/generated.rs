//! Completions and man pages come from the clap tree; the committed copies must match it.

use std::path::Path;

use crate::common::dm_bin;

fn run(args: &[&str]) -> Vec<u8> {
    let o = std::process::Command::new(dm_bin())
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn committed_completions_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, file) in [("bash", "dm.bash"), ("zsh", "_dm"), ("fish", "dm.fish")] {
        let generated = run(&["completions", shell]);
        assert!(String::from_utf8_lossy(&generated).contains("checkout"));
        let committed = std::fs::read(root.join("completions").join(file)).unwrap();
        assert!(
            generated == committed,
            "completions/{file} is stale: run scripts/generate.sh"
        );
    }
}

#[test]
fn committed_man_pages_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    run(&["generate-man", &dir.path().display().to_string()]);
    let mut count = 0;
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = e.file_name();
        let committed = std::fs::read(root.join("man").join(&name)).unwrap_or_else(|_| {
            panic!(
                "man/{} missing: run scripts/generate.sh",
                name.to_string_lossy()
            )
        });
        assert!(
            std::fs::read(e.path()).unwrap() == committed,
            "man/{} is stale",
            name.to_string_lossy()
        );
        count += 1;
    }
    assert!(count >= 10, "a page per verb, got {count}");
}
