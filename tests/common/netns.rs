//! Network namespaces for partition tests: a bridge in the host namespace, and one namespace per
//! node joined to it by a veth pair. A node's daemon (and its etcd) run in its namespace through
//! `nsenter --net`, not `ip netns exec`, whose private mount namespace would hide zfs-fuse's
//! mounts. Clients run on the host and reach every node over the bridge, or inside a node's
//! namespace when it is cut off. Cutting a node's link isolates it from every other node.

use std::process::{Command, Stdio};

use super::{Run, TestNode, dm_bin};

pub struct Net {
    id: u32,
    nodes: usize,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Net {
    /// A bridge `dmb<id>` on 10.213.<id>.0/24 (the host is .1) and `nodes` namespaces.
    pub fn new(nodes: usize) -> Net {
        let id = std::process::id() % 200 + 20;
        let net = Net { id, nodes };
        net.remove();
        let br = net.bridge();
        ip(&["link", "add", &br, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.213.{id}.1/24"), "dev", &br]);
        ip(&["link", "set", &br, "up"]);
        for i in 0..nodes {
            let ns = net.ns(i);
            let veth = net.veth(i);
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["link", "set", &veth, "master", &br]);
            ip(&["link", "set", &veth, "up"]);
            for args in [
                vec!["link", "set", "lo", "up"],
                vec!["addr", "add", &format!("{}/24", net.addr(i)), "dev", "eth0"],
                vec!["link", "set", "eth0", "up"],
            ] {
                let mut all = vec!["-n", ns.as_str()];
                all.extend(args.iter().map(|s| &**s));
                ip(&all);
            }
        }
        net
    }

    fn bridge(&self) -> String {
        format!("dmb{}", self.id)
    }

    fn veth(&self, i: usize) -> String {
        format!("dmv{}n{i}", self.id)
    }

    pub fn ns(&self, i: usize) -> String {
        format!("dmn{}n{i}", self.id)
    }

    pub fn addr(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.id, 10 + i)
    }

    /// An uninitialised node that will live in namespace `i`.
    pub fn node(&self, i: usize) -> TestNode {
        let mut n = TestNode::uninitialised();
        n.addr = self.addr(i);
        n.port = 32607;
        n.etcd_client_port = 42379;
        n.etcd_peer_port = 42380;
        n
    }

    /// `dm ARGS` for node `n`, run inside namespace `i` (its daemon starts there too).
    pub fn dm<S: AsRef<str>>(&self, i: usize, n: &TestNode, args: &[S]) -> Run {
        self.dm_env(i, n, args, &[])
    }

    pub fn dm_env<S: AsRef<str>>(
        &self,
        i: usize,
        n: &TestNode,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Run {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns(i)))
            .arg(dm_bin())
            .args(args.iter().map(|a| a.as_ref()))
            .env_remove("DM_CONFIG")
            .env_remove("DM_LOG")
            .env("HOME", n.path("home"))
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    }

    /// Cuts node `i` off from every other node and the host (no reset: packets just vanish).
    pub fn cut(&self, i: usize) {
        ip(&["link", "set", &self.veth(i), "down"]);
    }

    pub fn heal(&self, i: usize) {
        ip(&["link", "set", &self.veth(i), "up"]);
    }

    fn remove(&self) {
        for i in 0..self.nodes {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}
