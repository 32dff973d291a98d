//! Partitions: three nodes in their own network namespaces, links cut mid-replication and
//! mid-handoff (packets vanish, nothing resets). At most one node ever holds a writable copy of
//! a branch, the cut-off minority refuses commits, and every acknowledged commit survives.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::netns::Net;
use crate::common::{TestNode, assert_consistent, eventually, md5, snapshots, write_random};

fn has(n: &TestNode, id: &str) -> bool {
    snapshots(&n.pool).iter().any(|s| s == id)
}

fn head(n: &TestNode, dot: &str) -> String {
    n.json(&["log", "--json", dot])[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn writable(n: &TestNode, fs: &str) -> bool {
    crate::common::writable(&n.pool, fs)
}

fn receiving(n: &TestNode) -> bool {
    let o = Command::new("pgrep")
        .args(["-f", &format!("zfs receive.*{}/dmfs", n.pool)])
        .output()
        .unwrap();
    !o.stdout.is_empty()
}

#[test]
fn partitions_mid_replication_and_mid_handoff_lose_nothing_acknowledged() {
    let net = Net::new(3);
    let nodes: Vec<TestNode> = (0..3).map(|i| net.node(i)).collect();
    let idle = ["--stream-idle-timeout", "3"];
    let mut init = nodes[0].init_args("1G");
    init.extend(idle.iter().map(|s| s.to_string()));
    let r = net.dm(0, &nodes[0], &init);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (i, n) in nodes.iter().enumerate().skip(1) {
        let mut join = vec![
            "cluster".to_string(),
            "join".to_string(),
            format!("{}:{}", nodes[0].addr, nodes[0].port),
        ];
        join.extend(n.node_args("1G"));
        join.extend(idle.iter().map(|s| s.to_string()));
        join.push("--insecure".into());
        let token = nodes[0].join_token();
        let r = net.dm_env(i, n, &join, &[("DM_JOIN_TOKEN", &token)]);
        assert_eq!(r.code, 0, "join {i}: {}", r.stderr);
    }
    let (n0, n1, n2) = (&nodes[0], &nodes[1], &nodes[2]);
    n0.ok(&["init", "p"]);
    let dir0 = PathBuf::from(n0.ok(&["dot", "path", "p"]).trim());
    let fs = n0.json(&["dot", "show", "--json", "p"])["branches"][0]["filesystem_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut acked = Vec::new();

    // 1. Mid-replication: n2 is cut off while it receives a big commit. The majority goes on
    //    committing; the minority cannot; after healing, n2 has everything acknowledged.
    write_random(&dir0.join("big"), 150);
    n0.ok(&["commit", "-m", "big"]);
    acked.push(head(n0, "p"));
    assert!(
        eventually(60, || receiving(n2)),
        "n2 never started receiving"
    );
    net.cut(2);
    std::fs::write(dir0.join("during"), "cut").unwrap();
    n0.ok(&["commit", "-m", "while n2 is cut off"]);
    acked.push(head(n0, "p"));
    let minority = net.dm(2, n2, &["commit", "--dot", "p", "-m", "from the minority"]);
    assert_ne!(
        minority.code, 0,
        "the cut-off node committed: {}",
        minority.stdout
    );
    net.heal(2);
    for n in &nodes {
        assert!(
            eventually(120, || acked.iter().all(|id| has(n, id))),
            "{} lacks acknowledged commits after healing",
            n.pool
        );
    }

    // 2. Mid-handoff: n1 asks for the branch with 150 MB uncommitted on n0 and is cut off once
    //    n0 has released it. Never two writable copies; n0 takes the branch back when n1's lease
    //    is gone; after healing n1 gets it, uncommitted changes included.
    write_random(&dir0.join("dirty"), 150);
    let want = md5(&dir0.join("dirty"));
    let twice = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (twice, stop, fs) = (twice.clone(), stop.clone(), fs.clone());
        let pools: Vec<String> = nodes.iter().map(|n| n.pool.clone()).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let open = pools
                    .iter()
                    .filter(|p| crate::common::writable(p, &fs))
                    .count();
                if open > 1 {
                    twice.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut take = n1.command().args(["dot", "path", "p"]).spawn().unwrap();
    assert!(
        eventually(60, || !writable(n0, &fs)),
        "n0 never released the branch"
    );
    assert!(
        eventually(60, || receiving(n1)),
        "n1 never started receiving"
    );
    net.cut(1);
    // The majority side settles the handoff once n1's lease is gone: n0 is writable again,
    // and commits there.
    let mut last = String::new();
    let back = eventually(90, || {
        let r = n0.dm(&["dot", "path", "p"]);
        last = r.stderr;
        r.code == 0
    });
    assert!(
        back,
        "n0 did not take the branch back: {last}\n{}",
        crate::common::log_tail(n0, 30)
    );
    // n1's client gets no answer from a node that is cut off; it is not waited for.
    let _ = take.kill();
    let _ = take.wait();
    std::fs::write(dir0.join("after"), "x").unwrap();
    n0.ok(&["commit", "-m", "after the handoff failed"]);
    acked.push(head(n0, "p"));
    assert_eq!(
        md5(&dir0.join("dirty")),
        want,
        "uncommitted data changed on n0"
    );
    net.heal(1);
    std::fs::write(dir0.join("dirty2"), "more").unwrap();
    let mut last = String::new();
    assert!(
        eventually(120, || {
            let r = n1.dm(&["dot", "path", "p"]);
            last = r.stderr;
            r.code == 0
        }),
        "n1 could not take the branch after healing: {last}\n{}",
        [n0, n1]
            .iter()
            .map(|n| {
                format!(
                    "--- {}:\n{}\n{}",
                    n.pool,
                    crate::common::log_tail(n, 8),
                    crate::common::zfs_tree(&n.pool, "name,readonly,origin")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert!(
        !twice.load(Ordering::SeqCst),
        "two nodes held writable copies at once"
    );
    let dir1 = PathBuf::from(n1.ok(&["dot", "path", "p"]).trim());
    assert_eq!(md5(&dir1.join("dirty")), want);
    assert_eq!(
        std::fs::read_to_string(dir1.join("dirty2")).unwrap(),
        "more"
    );
    for n in &nodes {
        assert!(
            eventually(120, || acked.iter().all(|id| has(n, id))),
            "{} lacks acknowledged commits",
            n.pool
        );
        assert_consistent(n);
    }
}
