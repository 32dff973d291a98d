//! A one-node Kubernetes 1.20 for the end-to-end tests (`scripts/kube-up.sh`: its own etcd,
//! API server, controller manager, containerd and kubelet on loopback), stopped by pid when
//! dropped (`scripts/kube-down.sh`). The binaries come from `scripts/kube-build.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Kube {
    dir: tempfile::TempDir,
    pub node: String,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

impl Kube {
    /// Starts it, with kubelet's FlexVolume drivers in `plugin_dir`.
    pub fn start(plugin_dir: &Path) -> Kube {
        let cache = std::env::var("DM_KUBE_CACHE").unwrap_or("/var/cache/dm-kube".into());
        assert!(
            Path::new(&cache).join("bin/kubelet").exists(),
            "no Kubernetes binaries in {cache}/bin: run scripts/kube-build.sh (scripts/test.sh does)"
        );
        let dir = tempfile::Builder::new().prefix("dmkube").tempdir().unwrap();
        let mut k = Kube {
            dir,
            node: String::new(),
        };
        let out = Command::new(script("kube-up.sh"))
            .arg(k.dir.path())
            .arg(plugin_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kube-up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        k.node = std::fs::read_to_string(k.dir.path().join("node"))
            .unwrap()
            .trim()
            .to_string();
        k
    }

    /// Kubelet's root directory (`--root-dir`).
    pub fn kubelet_dir(&self) -> PathBuf {
        self.dir.path().join("kubelet")
    }

    /// Its kubectl config (the API server's address and a token).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs kubectl against it; (exit code, stdout, stderr).
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        use std::io::Write as _;
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `kubectl apply -f -` of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) {
        let (code, out, err) = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert_eq!(code, 0, "kubectl apply failed: {out}{err}\n{yaml}");
    }

    /// A jsonpath of one object, or "" when it cannot be read.
    pub fn get(&self, what: &str, jsonpath: &str) -> String {
        let jp = format!("jsonpath={jsonpath}");
        let (_, out, _) = self.kubectl(&["get", what, "-o", &jp], None);
        out
    }

    /// The last lines of one component's log, for failure messages.
    pub fn log(&self, component: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{component}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        let _ = Command::new(script("kube-down.sh"))
            .arg(self.dir.path())
            .status();
    }
}
