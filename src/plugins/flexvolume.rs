//! The Kubernetes FlexVolume driver `dotmesh.io~dm`. Kubelet runs
//! `<plugindir>/dotmesh.io~dm/dm CALL ARGS…` (or anyone `dm flexvolume CALL ARGS…`) and reads
//! stdout and stderr together as one JSON object, so the driver prints exactly one JSON line and
//! logs to a file. `init` answers that there is no attach step; `mount DIR JSON` and `unmount DIR`
//! go to the node's daemon over a root-only unix socket beside the driver (`dm.sock`), which
//! procures the branch here exactly as a Docker mount does and bind-mounts the subdot onto
//! kubelet's directory. Every other call is "Not supported", which kubelet caches.
//!
//! The daemon installs the driver by copying its own binary beside the socket (written
//! beside, then renamed), so kubelet always runs the daemon's version.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `flexVolume.driver: dotmesh.io/dm` lives in this directory under kubelet's plugin dir.
pub const DRIVER_DIR: &str = "dotmesh.io~dm";
/// The driver's file name in [`DRIVER_DIR`].
pub const DRIVER_FILE: &str = "dm";
/// The daemon's socket in [`DRIVER_DIR`].
pub const SOCKET_FILE: &str = "dm.sock";
/// Kubelet's default `--volume-plugin-dir`.
pub const DEFAULT_PLUGIN_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
/// Where the driver logs (kubelet reads its stdout and stderr as the answer).
pub const LOG_FILE: &str = "/var/log/dm-flexvolume.log";

/// A mount may wait for a handoff of the branch from another node and for its uncommitted
/// changes to arrive; kubelet itself waits two minutes for a driver call.
const CALL_TIMEOUT: Duration = Duration::from_secs(110);
const MAX_REQUEST: u64 = 64 << 10;

/// One answer to kubelet.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failure,
    #[serde(rename = "Not supported")]
    NotSupported,
}

impl Reply {
    pub fn success() -> Reply {
        Reply {
            status: Status::Success,
            message: String::new(),
            capabilities: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Reply {
        Reply {
            status: Status::Failure,
            message: message.into(),
            capabilities: None,
        }
    }

    fn not_supported(call: &str) -> Reply {
        Reply {
            status: Status::NotSupported,
            message: format!("dm does not implement the FlexVolume call '{call}'"),
            capabilities: None,
        }
    }

    /// The process exit code that goes with it: kubelet counts a non-zero exit as a failure.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Failure => 1,
            Status::Success | Status::NotSupported => 0,
        }
    }
}

/// What the driver asks of the daemon on its socket: one JSON line each way.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "lowercase", tag = "call")]
pub enum Request {
    /// Show subdot `subdot` of dot `namespace/name`'s branch (master unless named) at
    /// `target`.
    Mount {
        target: PathBuf,
        namespace: String,
        name: String,
        subdot: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    Unmount {
        target: PathBuf,
    },
    /// This node's id (the CSI driver's `NodeGetInfo`), answered in the reply's message.
    Node,
}

/// What the daemon does for the driver.
pub trait Mounter: Send + Sync {
    fn node_id(&self) -> String;
    fn mount(&self, target: &Path, at: crate::routes::At<'_>, subdot: &str) -> Result<(), String>;
    fn unmount(&self, target: &Path) -> Result<(), String>;
}

/// The request a kubelet call makes of the daemon, or the answer to give at once.
pub fn request(args: &[String]) -> Result<Request, Reply> {
    let call = args.first().map(String::as_str).unwrap_or("");
    match (call, &args[args.len().min(1)..]) {
        ("init", _) => Err(Reply {
            status: Status::Success,
            message: String::new(),
            capabilities: Some(serde_json::json!({"attach": false})),
        }),
        ("mount", [dir, json]) => {
            let target = target_dir(dir)?;
            let options: Map<String, Value> = serde_json::from_str(json)
                .map_err(|e| Reply::failure(format!("mount options are not a JSON object: {e}")))?;
            let text = |key: &str| -> Result<Option<String>, Reply> {
                match options.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(Reply::failure(format!(
                        "option '{key}' must be a string, not {other}"
                    ))),
                }
            };
            let name = text("name")?.filter(|n| !n.is_empty()).ok_or_else(|| {
                Reply::failure(
                    "option 'name' is missing: set flexVolume.options.name to the dot's name",
                )
            })?;
            let namespace = text("namespace")?
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| crate::names::ADMIN.to_string());
            let subdot = match text("subdot")?.as_deref() {
                None | Some("") => crate::names::DEFAULT_SUBDOT.to_string(),
                Some(s) => s.to_string(),
            };
            Ok(Request::Mount {
                target,
                namespace,
                name,
                subdot,
                branch: None,
            })
        }
        ("unmount", [dir]) => Ok(Request::Unmount {
            target: target_dir(dir)?,
        }),
        ("mount" | "unmount", _) => Err(Reply::failure(format!(
            "wrong number of arguments for '{call}': kubelet passes `mount DIR JSON` and `unmount DIR`"
        ))),
        (other, _) => Err(Reply::not_supported(other)),
    }
}

/// Kubelet's mount directory: an absolute path without `.` or `..` parts.
fn target_dir(dir: &str) -> Result<PathBuf, Reply> {
    let p = PathBuf::from(dir);
    let plain = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if plain {
        Ok(p)
    } else {
        Err(Reply::failure(format!(
            "mount directory '{dir}' must be an absolute path without '.' or '..'"
        )))
    }
}

/// Runs one kubelet call: answers it, through the daemon on `socket` when it must.
pub fn driver(args: &[String], socket: &Path) -> Reply {
    match request(args) {
        Err(reply) => reply,
        Ok(req) => call(socket, &req),
    }
}

/// Asks the daemon on `socket`; an unreachable daemon is a failure that says where it looked.
pub fn call(socket: &Path, req: &Request) -> Reply {
    ask(socket, req).unwrap_or_else(|e| {
        Reply::failure(format!(
            "cannot reach the dm daemon on this node at {} ({e}); check that `dm serve` runs here (its log is in its state directory)",
            socket.display()
        ))
    })
}

fn ask(socket: &Path, req: &Request) -> std::io::Result<Reply> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(CALL_TIMEOUT))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(s.take(MAX_REQUEST)).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(std::io::Error::other)
}

/// The socket next to a driver run as `argv0` (`<plugindir>/dotmesh.io~dm/dm`).
pub fn socket_beside(argv0: &Path) -> PathBuf {
    argv0.parent().unwrap_or(Path::new(".")).join(SOCKET_FILE)
}

/// Whether the binary was run as a FlexVolume driver: its directory is `vendor~driver`. The
/// path is taken as given, not resolved: the installed copy or a symlink to dm both count.
pub fn invoked_as_driver(argv0: &Path) -> bool {
    argv0
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d.to_string_lossy().contains('~'))
}

/// Appends one line to the driver's log; a log that cannot be written is not kubelet's problem.
pub fn log(args: &[String], reply: &Reply) {
    let line = format!(
        "{} {:?} -> {}\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        args,
        serde_json::to_string(reply).unwrap_or_default()
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG_FILE)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Copies this binary to `<plugin_dir>/dotmesh.io~dm/dm`, written beside and renamed so
/// kubelet never runs half a file; left alone when it is already the same.
pub fn install(plugin_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = plugin_dir.join(DRIVER_DIR);
    std::fs::create_dir_all(&dir)?;
    let dest = dir.join(DRIVER_FILE);
    let me = std::fs::read("/proc/self/exe")?;
    // Read the installed copy only when it could be the same (it is most starts).
    let same_size = std::fs::metadata(&dest).is_ok_and(|m| m.len() == me.len() as u64);
    if same_size && std::fs::read(&dest).is_ok_and(|old| old == me) {
        return Ok(dest);
    }
    let tmp = dir.join(format!(".{DRIVER_FILE}.{}", std::process::id()));
    std::fs::write(&tmp, &me)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// Serves the driver's calls on `<plugin_dir>/dotmesh.io~dm/dm.sock` (root only), replacing a
/// stale socket, each connection on its own thread: a mount may wait for a handoff.
pub fn serve(plugin_dir: &Path, mounter: Arc<dyn Mounter>) -> std::io::Result<PathBuf> {
    let dir = plugin_dir.join(DRIVER_DIR);
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("flexvolume".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let mounter = mounter.clone();
                let _ = std::thread::Builder::new()
                    .name("flexvolume-call".into())
                    .spawn(move || answer(conn, mounter.as_ref()));
            }
        })?;
    Ok(socket)
}

fn answer(conn: UnixStream, mounter: &dyn Mounter) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut line = String::new();
    let reply = match BufReader::new((&conn).take(MAX_REQUEST)).read_line(&mut line) {
        Err(e) => Reply::failure(format!("cannot read the request: {e}")),
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Err(e) => Reply::failure(format!("not a driver request: {e}")),
            Ok(Request::Mount {
                target,
                namespace,
                name,
                subdot,
                branch,
            }) => {
                let branch = branch.as_deref().unwrap_or(crate::names::MASTER);
                let at = crate::routes::At::new((&namespace, &name, branch));
                done(mounter.mount(&target, at, &subdot))
            }
            Ok(Request::Unmount { target }) => done(mounter.unmount(&target)),
            Ok(Request::Node) => Reply {
                message: mounter.node_id(),
                ..Reply::success()
            },
        },
    };
    let mut out = serde_json::to_vec(&reply).expect("replies serialise");
    out.push(b'\n');
    let _ = (&conn).write_all(&out);
}

fn done(r: Result<(), String>) -> Reply {
    match r {
        Ok(()) => Reply::success(),
        Err(e) => Reply::failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn json(r: &Reply) -> Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn init_says_there_is_no_attach_step() {
        let r = request(&args(&["init"])).unwrap_err();
        assert_eq!(
            json(&r),
            serde_json::json!({"status": "Success", "capabilities": {"attach": false}})
        );
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn mount_reads_kubelets_options() {
        let opts = r#"{"kubernetes.io/fsType":"zfs","kubernetes.io/pod.name":"p","kubernetes.io/readwrite":"rw","name":"apples","namespace":"bob","subdot":"web"}"#;
        let r = request(&args(&[
            "mount",
            "/var/lib/kubelet/pods/u/volumes/dotmesh.io~dm/v",
            opts,
        ]));
        assert_eq!(
            r.unwrap(),
            Request::Mount {
                target: "/var/lib/kubelet/pods/u/volumes/dotmesh.io~dm/v".into(),
                namespace: "bob".into(),
                name: "apples".into(),
                subdot: "web".into(),
                branch: None,
            }
        );
    }

    #[test]
    fn mount_defaults_to_admin_and_the_default_subdot() {
        let r = request(&args(&["mount", "/t", r#"{"name":"apples","subdot":""}"#])).unwrap();
        assert_eq!(
            r,
            Request::Mount {
                target: "/t".into(),
                namespace: "admin".into(),
                name: "apples".into(),
                subdot: "__default__".into(),
                branch: None,
            }
        );
        let r = request(&args(&[
            "mount",
            "/t",
            r#"{"name":"a","subdot":"__root__"}"#,
        ]))
        .unwrap();
        assert!(matches!(r, Request::Mount { subdot, .. } if subdot == "__root__"));
    }

    #[test]
    fn bad_calls_fail_with_what_to_fix() {
        for (a, says) in [
            (vec!["mount", "/t", "{}"], "option 'name' is missing"),
            (
                vec!["mount", "/t", r#"{"name":""}"#],
                "option 'name' is missing",
            ),
            (vec!["mount", "/t", "not json"], "not a JSON object"),
            (vec!["mount", "/t", r#"{"name":7}"#], "must be a string"),
            (
                vec!["mount", "relative", r#"{"name":"a"}"#],
                "absolute path",
            ),
            (
                vec!["mount", "/a/../etc", r#"{"name":"a"}"#],
                "absolute path",
            ),
            (vec!["mount", "/t"], "wrong number of arguments"),
            (vec!["unmount"], "wrong number of arguments"),
        ] {
            let r = request(&args(&a)).unwrap_err();
            assert_eq!(r.status, Status::Failure, "{a:?}");
            assert!(r.message.contains(says), "{a:?}: {}", r.message);
            assert_eq!(r.exit_code(), 1);
        }
    }

    #[test]
    fn other_calls_are_not_supported() {
        for call in ["attach", "getvolumename", "expandvolume", ""] {
            let r = request(&args(&[call])).unwrap_err();
            assert_eq!(json(&r)["status"], "Not supported", "{call}");
            assert_eq!(r.exit_code(), 0);
        }
    }

    #[test]
    fn unmount_names_its_directory() {
        assert_eq!(
            request(&args(&["unmount", "/t/v"])).unwrap(),
            Request::Unmount {
                target: "/t/v".into()
            }
        );
    }

    #[test]
    fn a_missing_daemon_is_a_failure_that_says_so() {
        let r = driver(
            &args(&["mount", "/t", r#"{"name":"a"}"#]),
            Path::new("/nonexistent/dm.sock"),
        );
        assert_eq!(r.status, Status::Failure);
        assert!(r.message.contains("dm serve"), "{}", r.message);
    }

    #[test]
    fn driver_paths_are_recognised_without_resolving_links() {
        let p = Path::new("/usr/libexec/kubernetes/kubelet-plugins/volume/exec/dotmesh.io~dm/dm");
        assert!(invoked_as_driver(p));
        assert_eq!(
            socket_beside(p),
            Path::new("/usr/libexec/kubernetes/kubelet-plugins/volume/exec/dotmesh.io~dm/dm.sock")
        );
        assert!(!invoked_as_driver(Path::new("/usr/bin/dm")));
        assert!(!invoked_as_driver(Path::new("dm")));
    }

    #[test]
    fn the_socket_answers_each_request_with_one_line() {
        struct Fake;
        impl Mounter for Fake {
            fn node_id(&self) -> String {
                "n1".into()
            }
            fn mount(&self, t: &Path, at: crate::routes::At<'_>, s: &str) -> Result<(), String> {
                match at.dot {
                    "ok" => Ok(()),
                    n => Err(format!("no {}/{n}.{s} at {}", at.ns, t.display())),
                }
            }
            fn unmount(&self, _: &Path) -> Result<(), String> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = serve(dir.path(), Arc::new(Fake)).unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only root may ask for mounts");
        let ok = driver(&args(&["mount", "/t", r#"{"name":"ok"}"#]), &sock);
        assert_eq!(ok, Reply::success());
        let bad = driver(&args(&["mount", "/t", r#"{"name":"no"}"#]), &sock);
        assert_eq!(bad.message, "no admin/no.__default__ at /t");
        assert_eq!(driver(&args(&["unmount", "/t"]), &sock), Reply::success());
        assert_eq!(call(&sock, &Request::Node).message, "n1");
        // Garbage on the socket gets an answer, not a hang or a crash.
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(b"{\"call\":\"format\"}\n").unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        assert!(line.contains("Failure"), "{line}");
    }
}
