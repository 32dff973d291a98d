//! dm under a real kubelet (`common::kube`): a FlexVolume PV bound to a claim, a pod that
//! writes through it, and what dm sees of that; the pod's end unmounts it.

use std::path::PathBuf;

use crate::common::kube::Kube;
use crate::common::*;

fn pod_yaml(node: &str, name: &str, claim: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeName: {node}
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: docker.io/local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "{script}"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes:
  - name: data
    persistentVolumeClaim: {{claimName: {claim}}}
"#
    )
}

#[test]
fn a_pod_writes_to_a_dot_through_a_flexvolume_pv() {
    let plugins = tempfile::tempdir().unwrap();
    let n = TestNode::with_args(
        "256M",
        &["--flexvolume-dir", &plugins.path().display().to_string()],
    );
    let k = Kube::start(plugins.path());
    // A static PV naming the dot (as Dotmesh's acceptance test does), bound to a claim.
    k.apply(
        r#"apiVersion: v1
kind: PersistentVolume
metadata: {name: apples, labels: {dot: apples}}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  flexVolume:
    driver: dotmesh.io/dm
    fsType: zfs
    options: {namespace: admin, name: apples, subdot: site}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: apples, namespace: default}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  selector: {matchLabels: {dot: apples}}
"#,
    );
    assert!(
        eventually(60, || k.get("pvc/apples", "{.status.phase}") == "Bound"),
        "the claim never bound: {}",
        k.log("kube-controller-manager")
    );
    k.apply(&pod_yaml(
        &k.node,
        "writer",
        "apples",
        "echo written in a pod > /data/hello && sleep 3600",
    ));
    let wrote = || {
        let p = n.dm(&["dot", "path", "apples.site"]);
        p.code == 0 && PathBuf::from(p.stdout.trim()).join("hello").exists()
    };
    assert!(
        eventually(120, wrote),
        "the pod's file never reached the dot: pod {}\nkubelet: {}",
        k.get("pod/writer", "{.status}"),
        k.log("kubelet")
    );
    assert!(eventually(30, || k.get("pod/writer", "{.status.phase}") == "Running"));
    let dir = PathBuf::from(n.ok(&["dot", "path", "apples.site"]).trim().to_string());
    assert_eq!(
        std::fs::read_to_string(dir.join("hello")).unwrap(),
        "written in a pod\n"
    );
    n.ok(&["commit", "--dot", "apples", "-m", "what the pod wrote"]);
    assert!(n.ok(&["log", "apples"]).contains("what the pod wrote"));
    // While the pod runs, the dot is held.
    let err = n.fails(&["dot", "delete", "-y", "apples"]);
    assert!(err.contains("Kubernetes pod"), "{err}");

    // The pod goes: kubelet unmounts through the driver, and the dot is free again.
    let (code, out, err) = k.kubectl(&["delete", "pod", "writer", "--wait=true"], None);
    assert_eq!(code, 0, "{out}{err}");
    let volume_mounts = || {
        std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .any(|l| l.contains("dotmesh.io~dm/apples"))
    };
    assert!(
        eventually(60, || !volume_mounts()),
        "kubelet left the volume mounted: {}",
        k.log("kubelet")
    );
    // A second pod sees what the first one committed.
    k.apply(&pod_yaml(
        &k.node,
        "reader",
        "apples",
        "cat /data/hello > /data/seen && sleep 3600",
    ));
    assert!(
        eventually(120, || dir.join("seen").exists()),
        "the second pod never ran: {}",
        k.log("kubelet")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("seen")).unwrap(),
        "written in a pod\n"
    );
    let (code, out, err) = k.kubectl(&["delete", "pod", "reader", "--wait=true"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(eventually(60, || !volume_mounts()));
    n.ok(&["dot", "delete", "-y", "apples"]);
}
