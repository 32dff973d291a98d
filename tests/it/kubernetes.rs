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

/// A `dm` process serving Kubernetes (`dm provisioner`, `dm csi`) for node `n` and cluster
/// `k`, logging to `<n>/<log>`; stopped when dropped.
struct Running(std::process::Child);

impl Running {
    fn start(n: &TestNode, k: &Kube, log: &str, args: &[&std::ffi::OsStr]) -> Running {
        let log = std::fs::File::create(n.path(log)).unwrap();
        let child = std::process::Command::new(dm_bin())
            .args(args)
            .env("KUBECONFIG", k.kubeconfig())
            .env("DM_API_HOST", &n.addr)
            .env("DM_API_PORT", n.port.to_string())
            .env("DOTMESH_API_KEY", n.api_key())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Running(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provisioner(n: &TestNode, k: &Kube) -> Running {
    Running::start(n, k, "provisioner.log", &["provisioner".as_ref()])
}

fn claim_yaml(name: &str, class: &str, notes: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
  namespace: default
  annotations: {{{notes}}}
spec:
  storageClassName: {class}
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

#[test]
fn the_provisioner_makes_volumes_for_claims_and_honours_reclaim() {
    let plugins = tempfile::tempdir().unwrap();
    let n = TestNode::with_args(
        "256M",
        &["--flexvolume-dir", &plugins.path().display().to_string()],
    );
    let k = Kube::start(plugins.path());
    let _p = provisioner(&n, &k);
    k.apply(
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: dotmesh}
provisioner: dotmesh/dotmesh-dynamic-provisioner
parameters: {dotmeshNamespace: k8s}
reclaimPolicy: Delete
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: dotmesh-retain}
provisioner: dotmesh/dotmesh-dynamic-provisioner
reclaimPolicy: Retain
"#,
    );
    k.apply(&claim_yaml(
        "grapes",
        "dotmesh",
        "dotmeshName: dynamic-grapes, dotmeshSubdot: static-html",
    ));
    let provisioner_log = || std::fs::read_to_string(n.path("provisioner.log")).unwrap_or_default();
    assert!(
        eventually(60, || k.get("pvc/grapes", "{.status.phase}") == "Bound"),
        "never bound: {}\n{}",
        provisioner_log(),
        k.log("kube-controller-manager")
    );
    let uid = k.get("pvc/grapes", "{.metadata.uid}");
    let pv = format!("pv/pvc-{uid}");
    assert_eq!(
        k.get(
            &pv,
            "{.metadata.annotations.pv\\.kubernetes\\.io/provisioned-by}"
        ),
        "dotmesh/dotmesh-dynamic-provisioner"
    );
    assert_eq!(k.get(&pv, "{.spec.flexVolume.driver}"), "dotmesh.io/dm");
    assert_eq!(k.get(&pv, "{.spec.flexVolume.options.namespace}"), "k8s");
    assert_eq!(
        k.get(&pv, "{.spec.flexVolume.options.name}"),
        "dynamic-grapes"
    );
    assert_eq!(
        k.get(&pv, "{.spec.persistentVolumeReclaimPolicy}"),
        "Delete"
    );
    assert_eq!(k.get(&pv, "{.spec.claimRef.name}"), "grapes");
    let (_, events, _) = k.kubectl(
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=grapes",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
        None,
    );
    assert!(events.contains("ProvisioningSucceeded"), "{events}");

    // A pod writes through it into the dot in the class's namespace.
    k.apply(&pod_yaml(
        &k.node,
        "web",
        "grapes",
        "echo grapes > /data/index.html && sleep 3600",
    ));
    let file = || {
        let p = n.dm(&["dot", "path", "k8s/dynamic-grapes.static-html"]);
        p.code == 0 && PathBuf::from(p.stdout.trim()).join("index.html").exists()
    };
    assert!(
        eventually(120, file),
        "the pod never wrote: {}",
        k.log("kubelet")
    );
    assert!(n.ok(&["list"]).contains("k8s/dynamic-grapes"));

    // Pod and claim go: the volume is released, and with reclaim Delete it goes, and the dot.
    let (code, out, err) = k.kubectl(&["delete", "pod", "web", "--wait=true"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = k.kubectl(&["delete", "pvc", "grapes", "--wait=true"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        eventually(60, || k.kubectl(&["get", &pv], None).0 != 0),
        "the released volume stayed: {}",
        provisioner_log()
    );
    assert!(
        eventually(30, || !n.ok(&["list"]).contains("k8s/dynamic-grapes")),
        "the dot stayed: {}",
        provisioner_log()
    );

    // Retain keeps the volume (and so the dot) after the claim goes.
    k.apply(&claim_yaml("kept", "dotmesh-retain", ""));
    assert!(eventually(60, || k.get("pvc/kept", "{.status.phase}") == "Bound"));
    let kept = format!("pv/pvc-{}", k.get("pvc/kept", "{.metadata.uid}"));
    assert_eq!(
        k.get(&kept, "{.spec.flexVolume.options.namespace}"),
        "admin"
    );
    k.kubectl(&["delete", "pvc", "kept", "--wait=true"], None);
    assert!(eventually(30, || k.get(&kept, "{.status.phase}") == "Released"));
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(
        k.get(&kept, "{.status.phase}"),
        "Released",
        "a Retain volume stays"
    );

    // A claim naming a dot that cannot exist is refused, with an event saying why.
    k.apply(&claim_yaml("bad", "dotmesh", "dotmeshName: 'no way!'"));
    let refused = || {
        let (_, out, _) = k.kubectl(
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=bad",
                "-o",
                "jsonpath={.items[*].message}",
            ],
            None,
        );
        out.contains("dot name 'no way!'")
    };
    assert!(
        eventually(30, refused),
        "no refusal event: {}",
        provisioner_log()
    );
    assert_eq!(k.get("pvc/bad", "{.status.phase}"), "Pending");
}

#[test]
fn the_install_manifests_are_accepted_and_give_the_provisioner_what_it_uses() {
    let plugins = tempfile::tempdir().unwrap();
    let k = Kube::start(plugins.path());
    let manifests = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/dm.yaml");
    // The namespace for real (a dry run cannot create what the rest lives in), then all of it
    // as the API server would take it.
    k.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: dotmesh}\n");
    let (code, out, err) = k.kubectl(&["apply", "--dry-run=server", "-f", manifests], None);
    assert_eq!(code, 0, "{out}{err}");
    for kind in [
        "daemonset.apps/dm",
        "deployment.apps/dotmesh-dynamic-provisioner",
        "storageclass.storage.k8s.io/dotmesh",
        "clusterrole.rbac.authorization.k8s.io/dotmesh-provisioner-runner",
        "csidriver.storage.k8s.io/csi.dotmesh.io",
    ] {
        assert!(out.contains(kind), "{kind} missing: {out}");
    }
    // The provisioner's service account may do exactly what `dm provisioner` does.
    let (code, out, err) = k.kubectl(&["apply", "-f", manifests, "--prune=false"], None);
    assert_eq!(code, 0, "{out}{err}");
    let sa = "system:serviceaccount:dotmesh:dotmesh-provisioner";
    for (verb, what) in [
        ("list", "persistentvolumeclaims"),
        ("list", "storageclasses.storage.k8s.io"),
        ("list", "persistentvolumes"),
        ("create", "persistentvolumes"),
        ("delete", "persistentvolumes"),
        ("create", "events"),
    ] {
        let (_, out, err) = k.kubectl(&["auth", "can-i", verb, what, "--as", sa, "-A"], None);
        assert_eq!(out.trim(), "yes", "{verb} {what}: {err}");
    }
    let (_, out, _) = k.kubectl(&["auth", "can-i", "delete", "pods", "--as", sa, "-A"], None);
    assert_eq!(out.trim(), "no", "nothing beyond what it needs");
}

fn csi(n: &TestNode, k: &Kube, plugins: &std::path::Path) -> Running {
    let (endpoint, kubelet) = (n.path("csi/csi.sock"), k.kubelet_dir());
    let args: [&std::ffi::OsStr; 7] = [
        "csi".as_ref(),
        "--endpoint".as_ref(),
        endpoint.as_os_str(),
        "--kubelet-dir".as_ref(),
        kubelet.as_os_str(),
        "--plugin-dir".as_ref(),
        plugins.as_os_str(),
    ];
    Running::start(n, k, "csi.log", &args)
}

#[test]
fn a_pod_writes_to_a_dot_through_the_csi_driver() {
    let plugins = tempfile::tempdir().unwrap();
    let n = TestNode::with_args(
        "256M",
        &["--flexvolume-dir", &plugins.path().display().to_string()],
    );
    let k = Kube::start(plugins.path());
    let _csi = csi(&n, &k, plugins.path());
    let csi_log = || std::fs::read_to_string(n.path("csi.log")).unwrap_or_default();
    // Kubelet registers the driver through its plugin registry: the node lists it.
    assert!(
        eventually(60, || k
            .get(&format!("csinode/{}", k.node), "{.spec.drivers[*].name}")
            == "csi.dotmesh.io"),
        "kubelet never registered the driver: {}\n{}",
        csi_log(),
        k.log("kubelet")
    );
    k.apply(
        r#"apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: csi.dotmesh.io}
spec: {attachRequired: false, podInfoOnMount: true}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: berries, labels: {dot: berries}}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  csi:
    driver: csi.dotmesh.io
    volumeHandle: admin/berries
    volumeAttributes: {namespace: admin, name: berries, subdot: web}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: berries, namespace: default}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  selector: {matchLabels: {dot: berries}}
"#,
    );
    assert!(eventually(60, || k.get("pvc/berries", "{.status.phase}") == "Bound"));
    k.apply(&pod_yaml(
        &k.node,
        "csi-writer",
        "berries",
        "echo through csi > /data/hello && sleep 3600",
    ));
    let wrote = || {
        let p = n.dm(&["dot", "path", "berries.web"]);
        p.code == 0 && PathBuf::from(p.stdout.trim()).join("hello").exists()
    };
    assert!(
        eventually(120, wrote),
        "the pod never wrote through CSI: {}\n{}\n{}",
        k.get("pod/csi-writer", "{.status}"),
        csi_log(),
        k.log("kubelet")
    );
    let dir = PathBuf::from(n.ok(&["dot", "path", "berries.web"]).trim().to_string());
    assert_eq!(
        std::fs::read_to_string(dir.join("hello")).unwrap(),
        "through csi\n"
    );
    n.ok(&["commit", "--dot", "berries", "-m", "via csi"]);
    let err = n.fails(&["dot", "delete", "-y", "berries"]);
    assert!(err.contains("Kubernetes pod"), "{err}");
    let (code, out, err) = k.kubectl(&["delete", "pod", "csi-writer", "--wait=true"], None);
    assert_eq!(code, 0, "{out}{err}");
    let held = || {
        std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .any(|l| l.contains("kubernetes.io~csi/berries"))
    };
    assert!(eventually(60, || !held()), "left mounted: {}", csi_log());
    n.ok(&["dot", "delete", "-y", "berries"]);

    // Dynamically: a class asking the provisioner for CSI volumes.
    let _p = provisioner(&n, &k);
    k.apply(
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: dotmesh-csi}
provisioner: dotmesh/dotmesh-dynamic-provisioner
parameters: {dotmeshNamespace: k8s, dotmeshVolumeSource: csi}
"#,
    );
    k.apply(&claim_yaml("cherries", "dotmesh-csi", ""));
    assert!(eventually(60, || k.get("pvc/cherries", "{.status.phase}") == "Bound"));
    let pv = format!("pv/pvc-{}", k.get("pvc/cherries", "{.metadata.uid}"));
    assert_eq!(k.get(&pv, "{.spec.csi.driver}"), "csi.dotmesh.io");
    assert_eq!(k.get(&pv, "{.spec.csi.volumeHandle}"), "k8s/cherries");
    k.apply(&pod_yaml(
        &k.node,
        "csi-dynamic",
        "cherries",
        "echo dynamic > /data/hello && sleep 3600",
    ));
    let wrote = || {
        let p = n.dm(&["dot", "path", "k8s/cherries"]);
        p.code == 0 && PathBuf::from(p.stdout.trim()).join("hello").exists()
    };
    assert!(eventually(120, wrote), "{}", csi_log());
    k.kubectl(&["delete", "pod", "csi-dynamic", "--wait=true"], None);
    k.kubectl(&["delete", "pvc", "cherries", "--wait=true"], None);
    assert!(
        eventually(60, || !n.ok(&["list"]).contains("k8s/cherries")),
        "the reclaimed CSI volume's dot stayed"
    );
}
