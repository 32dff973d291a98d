//! A tiny read-only client for the Docker Engine API on its unix socket: which running
//! containers use which of our volumes, so dm can name containers instead of mount ids.
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

fn fetch(socket: &Path) -> std::io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    // HTTP/1.0: the answer comes unchunked and the connection closes at its end.
    s.write_all(b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut resp = Vec::new();
    s.take(16 << 20).read_to_end(&mut resp)?;
    let start = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .ok_or_else(|| std::io::Error::other("no HTTP body"))?;
    Ok(resp[start..].to_vec())
}

fn parse(body: &[u8], driver: &str) -> BTreeMap<String, Vec<String>> {
    let containers: Vec<Container> = serde_json::from_slice(body).unwrap_or_default();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in containers {
        let name = c
            .names
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        for m in c.mounts.iter().filter(|m| m.driver == driver) {
            out.entry(m.name.clone()).or_default().push(name.clone());
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
}
