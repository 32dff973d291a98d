//! `dm`: one binary for the CLI, the node daemon (`dm serve`) and the volume drivers; all of it
//! lives in the library (`src/lib.rs`).

fn main() {
    std::process::exit(dm::cli::run());
}
