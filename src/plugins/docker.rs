//! The Docker volume plugin protocol (v1), served on a unix socket such as
//! `/run/docker/plugins/dm.sock`: Docker discovers the driver by the socket's name (`dm`).
//!
//! Every handler answers `{"Err": "..."}` on failure with a message meant for the person who ran
//! `docker run`; a malformed body is an error reply, never a crash. Served by [`crate::httpd`]:
//! clients that stall hold no thread, and every wait on them is bounded.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::runtime::Handle;

const MAX_BODY: u64 = 64 << 10;

/// What the plugin needs from the daemon. Names are Docker volume names,
/// `[NAMESPACE/]DOT[@BRANCH][.SUBDOT]`.
pub trait Volumes: Send + Sync {
    /// Makes sure the volume exists (creating the dot on first use).
    fn create(&self, name: &str) -> Result<(), String>;
    /// Mounts for a container; `id` identifies this mount for reference counting.
    fn mount(&self, name: &str, id: &str) -> Result<String, String>;
    fn unmount(&self, name: &str, id: &str) -> Result<(), String>;
    /// Host path if mounted, else empty.
    fn path(&self, name: &str) -> Result<String, String>;
    /// Ok(Some(path-or-empty)) if the volume exists.
    fn get(&self, name: &str) -> Result<Option<String>, String>;
    /// All volumes with their host path (empty if not mounted).
    fn list(&self) -> Result<Vec<(String, String)>, String>;
    /// Docker removed the volume from its own list; data is kept.
    fn remove(&self, name: &str) -> Result<(), String>;
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Req {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "ID")]
    id: String,
}

#[derive(Serialize)]
struct Vol {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Mountpoint")]
    mountpoint: String,
}

/// Binds `socket` (root only, like Docker's own), replacing one a stopped or killed daemon
/// left: Docker waits long on a socket nobody answers.
pub fn bind(socket: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = std::os::unix::net::UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves the plugin on `listener` ([`bind`], or the one systemd passed), on runtime `rt`,
/// until the process exits.
pub fn serve(
    listener: std::os::unix::net::UnixListener,
    volumes: Arc<dyn Volumes>,
    rt: &Handle,
) -> std::io::Result<()> {
    let listener = {
        let _in_rt = rt.enter();
        tokio::net::UnixListener::from_std(listener)?
    };
    let handler: crate::httpd::Handler = Arc::new(move |req, _| {
        let volumes = volumes.clone();
        Box::pin(async move {
            let url = req.uri().path().to_string();
            let reply = match crate::httpd::collect(req.into_body(), MAX_BODY as usize).await {
                Ok(body) => {
                    let answered =
                        tokio::task::spawn_blocking(move || answer(volumes.as_ref(), &url, &body));
                    answered
                        .await
                        .unwrap_or_else(|_| err("the plugin hit a bug; see the daemon's log"))
                }
                Err(crate::httpd::BodyError::TooLarge) => err("request body too large"),
                Err(crate::httpd::BodyError::Unreadable(why)) => {
                    err(&format!("request body unreadable: {why}"))
                }
            };
            tracing::debug!(reply = %reply, "docker plugin");
            crate::httpd::full(
                200,
                "application/vnd.docker.plugins.v1.2+json",
                reply.to_string().into_bytes(),
            )
        })
    });
    rt.spawn(crate::httpd::serve_unix(listener, handler));
    Ok(())
}

/// The answer to plugin call `url` with request body `body`: Docker's protocol reports every
/// refusal as `{"Err": "..."}`.
pub(crate) fn answer(volumes: &dyn Volumes, url: &str, body: &[u8]) -> Value {
    if body.len() as u64 > MAX_BODY {
        return err("request body too large");
    }
    let parsed: Result<Req, _> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Req::default())
    } else {
        serde_json::from_slice(body)
    };
    match parsed {
        Ok(r) => dispatch(volumes, url, &r),
        Err(e) => err(&format!("malformed request: {e}")),
    }
}

fn err(msg: &str) -> Value {
    json!({ "Err": msg })
}

fn need_name(r: &Req) -> Result<(), String> {
    if r.name.is_empty() {
        Err("the request names no volume".into())
    } else {
        Ok(())
    }
}

fn dispatch(v: &dyn Volumes, url: &str, r: &Req) -> Value {
    let result: Result<Value, String> = match url {
        "/Plugin.Activate" => Ok(json!({ "Implements": ["VolumeDriver"] })),
        "/VolumeDriver.Capabilities" => Ok(json!({ "Capabilities": { "Scope": "local" } })),
        "/VolumeDriver.Create" => need_name(r)
            .and_then(|_| v.create(&r.name))
            .map(|_| json!({ "Err": "" })),
        "/VolumeDriver.Remove" => need_name(r)
            .and_then(|_| v.remove(&r.name))
            .map(|_| json!({ "Err": "" })),
        "/VolumeDriver.Mount" => need_name(r)
            .and_then(|_| v.mount(&r.name, &r.id))
            .map(|p| json!({ "Mountpoint": p, "Err": "" })),
        "/VolumeDriver.Unmount" => need_name(r)
            .and_then(|_| v.unmount(&r.name, &r.id))
            .map(|_| json!({ "Err": "" })),
        "/VolumeDriver.Path" => need_name(r)
            .and_then(|_| v.path(&r.name))
            .map(|p| json!({ "Mountpoint": p, "Err": "" })),
        "/VolumeDriver.Get" => need_name(r).and_then(|_| v.get(&r.name)).and_then(|found| {
            found
                .map(
                    |p| json!({ "Volume": Vol { name: r.name.clone(), mountpoint: p }, "Err": "" }),
                )
                .ok_or_else(|| format!("no such volume: {}", r.name))
        }),
        "/VolumeDriver.List" => v.list().map(|vols| {
            let vols: Vec<Vol> = vols
                .into_iter()
                .map(|(name, mountpoint)| Vol { name, mountpoint })
                .collect();
            json!({ "Volumes": vols, "Err": "" })
        }),
        other => Err(format!("unknown plugin call {other}")),
    };
    result.unwrap_or_else(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
    }

    impl Volumes for Fake {
        fn create(&self, name: &str) -> Result<(), String> {
            self.calls.lock().unwrap().push(format!("create {name}"));
            Ok(())
        }
        fn mount(&self, name: &str, id: &str) -> Result<String, String> {
            if name == "bad" {
                return Err("nope".into());
            }
            Ok(format!("/m/{name}/{id}"))
        }
        fn unmount(&self, _: &str, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn path(&self, _: &str) -> Result<String, String> {
            Ok(String::new())
        }
        fn get(&self, name: &str) -> Result<Option<String>, String> {
            Ok((name == "x").then(String::new))
        }
        fn list(&self) -> Result<Vec<(String, String)>, String> {
            Ok(vec![("x".into(), String::new())])
        }
        fn remove(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    fn req(name: &str, id: &str) -> Req {
        Req {
            name: name.into(),
            id: id.into(),
        }
    }

    #[test]
    fn protocol_replies() {
        let f = Fake::default();
        let act = dispatch(&f, "/Plugin.Activate", &Req::default());
        assert_eq!(act["Implements"][0], "VolumeDriver");
        let m = dispatch(&f, "/VolumeDriver.Mount", &req("d", "id1"));
        assert_eq!(m["Mountpoint"], "/m/d/id1");
        assert_eq!(m["Err"], "");
        let bad = dispatch(&f, "/VolumeDriver.Mount", &req("bad", "id1"));
        assert_eq!(bad["Err"], "nope");
        let missing = dispatch(&f, "/VolumeDriver.Get", &req("y", ""));
        assert!(missing["Err"].as_str().unwrap().contains("no such volume"));
        let noname = dispatch(&f, "/VolumeDriver.Create", &Req::default());
        assert!(!noname["Err"].as_str().unwrap().is_empty());
        let list = dispatch(&f, "/VolumeDriver.List", &Req::default());
        assert_eq!(list["Volumes"][0]["Name"], "x");
        let cap = dispatch(&f, "/VolumeDriver.Capabilities", &Req::default());
        assert_eq!(cap["Capabilities"]["Scope"], "local");
        assert!(dispatch(&f, "/Nope", &Req::default())["Err"].is_string());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn url() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("/VolumeDriver.Mount".to_string()),
                Just("/VolumeDriver.Create".to_string()),
                Just("/VolumeDriver.Get".to_string()),
                Just("/VolumeDriver.Remove".to_string()),
                "/[A-Za-z.]{0,30}",
                any::<String>(),
            ]
        }

        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                any::<Vec<u8>>(),
                "[a-zA-Z0-9_./@\\-]{0,60}"
                    .prop_map(|n| format!(r#"{{"Name":"{n}","ID":"x"}}"#).into_bytes()),
                "[{}\\[\\]\":,a-zA-Z0-9 ]{0,60}".prop_map(String::into_bytes),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(100_000))]

            /// Any call answers with a JSON object, and a refusal carries its reason in `Err`.
            #[test]
            fn every_request_gets_an_answer(url in url(), body in body()) {
                let v = Fake::default();
                let a = answer(&v, &url, &body);
                prop_assert!(a.is_object());
                if let Some(e) = a.get("Err").and_then(Value::as_str) {
                    let succeeded = e.is_empty();
                    prop_assert!(succeeded || !e.trim().is_empty());
                } else {
                    prop_assert!(url == "/Plugin.Activate" || url == "/VolumeDriver.Capabilities");
                }
            }
        }
    }
}
