//! `dm flexvolume CALL ARGS…`: the Kubernetes FlexVolume driver, as kubelet runs it through the
//! installed copy `<plugindir>/dotmesh.io~dm/dm` (see `plugins::flexvolume`). It prints exactly
//! one JSON line and nothing else, since kubelet reads stdout and stderr as one answer.

use std::path::{Path, PathBuf};

use crate::plugins::flexvolume::{self, DEFAULT_PLUGIN_DIR, DRIVER_DIR, SOCKET_FILE};

/// Answer a kubelet FlexVolume call (init, mount DIR JSON, unmount DIR)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kubelet's FlexVolume plugin directory, where the daemon serves the driver's socket
    #[arg(long, default_value = DEFAULT_PLUGIN_DIR)]
    plugin_dir: PathBuf,
    /// The call and its arguments, as kubelet passes them
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CALL"
    )]
    call: Vec<String>,
}

pub fn run(a: Args) -> i32 {
    answer(&a.call, &a.plugin_dir.join(DRIVER_DIR).join(SOCKET_FILE))
}

/// As the installed driver: the socket is beside the path it was run as.
pub fn run_as_driver(argv0: &Path, call: &[String]) -> i32 {
    answer(call, &flexvolume::socket_beside(argv0))
}

fn answer(call: &[String], socket: &Path) -> i32 {
    let reply = flexvolume::driver(call, socket);
    flexvolume::log(call, &reply);
    println!(
        "{}",
        serde_json::to_string(&reply).expect("replies serialise")
    );
    reply.exit_code()
}
