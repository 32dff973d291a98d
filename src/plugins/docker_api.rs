//! A tiny client for the Docker Engine API on its unix socket: which running containers use
//! which of our volumes, so dm can name containers instead of mount ids, and restarting them
//! (`dm checkout --move-containers`).
//!
//! Called only from user-facing requests (list, show, delete, reset), never from inside a plugin
//! call: dockerd may be waiting on the plugin, and asking it back would deadlock. Short timeouts
//! make an absent or stuck dockerd mean "no names", not a hang.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Container {
    #[serde(default)]
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    mounts: Vec<Mount>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Mount {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
}

/// Volume name → names of running containers using it, for volumes of `driver`.
pub fn containers_by_volume(docker_socket: &Path, driver: &str) -> BTreeMap<String, Vec<String>> {
    match fetch(docker_socket) {
        Ok(body) => parse(&body, driver),
        Err(e) => {
            tracing::debug!(error = %e, "docker API unavailable");
            BTreeMap::new()
        }
    }
}

/// A running container using volumes of our driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Using {
    pub id: String,
    pub name: String,
    /// The names of our volumes it mounts.
    pub volumes: Vec<String>,
}

/// The running containers using volumes of `driver`.
pub fn containers_using(docker_socket: &Path, driver: &str) -> std::io::Result<Vec<Using>> {
    Ok(using(&fetch(docker_socket)?, driver))
}

/// Every listed container with volumes of `driver`: its id as Docker gave it, its name (empty
/// if it has none) and those volumes.
fn decode(body: &[u8], driver: &str) -> Vec<Using> {
    let containers: Vec<Container> = serde_json::from_slice(body).unwrap_or_default();
    containers
        .into_iter()
        .filter_map(|c| {
            let volumes: Vec<String> = c
                .mounts
                .iter()
                .filter(|m| m.driver == driver)
                .map(|m| m.name.clone())
                .collect();
            let name = c
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            (!volumes.is_empty()).then_some(Using {
                id: c.id,
                name,
                volumes,
            })
        })
        .collect()
}

fn using(body: &[u8], driver: &str) -> Vec<Using> {
    // Ids go into a request path: Docker's own shape only.
    let plain = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
    decode(body, driver)
        .into_iter()
        .filter(|u| !u.name.is_empty() && plain(&u.id))
        .collect()
}

/// Stops container `id` (10 s for it to end, as `docker stop` gives) and starts it again:
/// Docker unmounts its volumes and mounts them anew.
pub fn restart(docker_socket: &Path, id: &str) -> std::io::Result<()> {
    post(docker_socket, &format!("/containers/{id}/stop?t=10"))?;
    post(docker_socket, &format!("/containers/{id}/start"))
}

/// `POST path` with an empty body; 2xx and 304 (already so) are success.
fn post(socket: &Path, path: &str) -> std::io::Result<()> {
    let resp = call(
        socket,
        format!("POST {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"),
        Duration::from_secs(40),
    )?;
    let head = String::from_utf8_lossy(&resp[..resp.len().min(64)]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if (200..300).contains(&status) || status == 304 {
        return Ok(());
    }
    let body = body_of(&resp).unwrap_or_default();
    Err(std::io::Error::other(format!(
        "Docker answered {status}: {}",
        String::from_utf8_lossy(&body).trim()
    )))
}

fn fetch(socket: &Path) -> std::io::Result<Vec<u8>> {
    let resp = call(
        socket,
        "GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n".into(),
        Duration::from_secs(2),
    )?;
    body_of(&resp)
}

/// One request; HTTP/1.0, so the answer comes unchunked and the connection closes at its end.
fn call(socket: &Path, request: String, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(request.as_bytes())?;
    let mut resp = Vec::new();
    s.take(16 << 20).read_to_end(&mut resp)?;
    Ok(resp)
}

fn body_of(resp: &[u8]) -> std::io::Result<Vec<u8>> {
    let start = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .ok_or_else(|| std::io::Error::other("no HTTP body"))?;
    Ok(resp[start..].to_vec())
}

fn parse(body: &[u8], driver: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in decode(body, driver) {
        for v in u.volumes {
            out.entry(v).or_default().push(u.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_volumes_to_container_names() {
        let body = br#"[
          {"Names":["/web"],"Mounts":[{"Type":"volume","Name":"db","Driver":"dm"},
                                      {"Type":"volume","Name":"other","Driver":"local"}]},
          {"Names":["/job"],"Mounts":[{"Type":"volume","Name":"db","Driver":"dm"}]}
        ]"#;
        let m = parse(body, "dm");
        assert_eq!(
            m.get("db").unwrap(),
            &vec!["web".to_string(), "job".to_string()]
        );
        assert!(!m.contains_key("other"));
        assert!(parse(b"garbage", "dm").is_empty());
    }

    #[test]
    fn containers_using_our_volumes_with_plain_ids_only() {
        let body = br#"[
          {"Id":"ab12","Names":["/web"],"Mounts":[{"Name":"db","Driver":"dm"}]},
          {"Id":"../x","Names":["/evil"],"Mounts":[{"Name":"db","Driver":"dm"}]},
          {"Id":"cd34","Names":["/other"],"Mounts":[{"Name":"db","Driver":"local"}]}
        ]"#;
        let u = using(body, "dm");
        assert_eq!(
            u,
            [Using {
                id: "ab12".into(),
                name: "web".into(),
                volumes: vec!["db".into()],
            }]
        );
    }
}
