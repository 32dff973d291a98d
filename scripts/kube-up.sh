#!/usr/bin/env bash
# Starts a one-node Kubernetes 1.20 on loopback for the end-to-end tests: its own etcd,
# kube-apiserver, kube-controller-manager, containerd and kubelet, all under DIR (pids in
# DIR/pids, logs in DIR/*.log, kubectl config in DIR/kubeconfig). No CNI and no scheduler:
# pods use hostNetwork and name their node, and the node (never network-ready) is not tainted. Kubelet looks for FlexVolume drivers in
# PLUGIN_DIR. Stop everything with scripts/kube-down.sh DIR.
# Usage: scripts/kube-up.sh DIR PLUGIN_DIR   (binaries from scripts/kube-build.sh)
set -euo pipefail
dir=$(realpath -m "$1")
plugins=$(realpath -m "$2")
cache=${DM_KUBE_CACHE:-/var/cache/dm-kube}
bin=$cache/bin
mkdir -p "$dir" "$plugins"
: > "$dir/pids"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # NAME COMMAND…: runs detached, logs to DIR/NAME.log, remembers the pid
    local name=$1; shift
    setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
    echo "$! $name" >> "$dir/pids"
}
wait_for() { # WHAT SECONDS COMMAND…
    local what=$1 secs=$2; shift 2
    for _ in $(seq $((secs * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "kube-up: $what did not come up; see $dir/*.log" >&2
    tail -n 20 "$dir"/*.log >&2 || true
    exit 1
}

# Credentials: one token for everything (the system:masters group), a service-account key.
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,dm-e2e,dm-e2e,system:masters" > "$dir/tokens.csv"
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
chmod 600 "$dir/tokens.csv" "$dir/sa.key"

etcd_port=$(port); etcd_peer=$(port); api_port=$(port); kcm_port=$(port)
kubelet_port=$(port)
start etcd etcd --name kube --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "kube=http://127.0.0.1:$etcd_peer"
wait_for etcd 30 etcdctl --endpoints "127.0.0.1:$etcd_port" endpoint health

start kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --insecure-port 0 --cert-dir "$dir/apiserver" --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
    --service-cluster-ip-range 10.96.0.0/24 --enable-admission-plugins "" --allow-privileged=true
cat > "$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: e2e
  user:
    token: $token
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e}
current-context: e2e
EOF
chmod 600 "$dir/kubeconfig"
export KUBECONFIG=$dir/kubeconfig
wait_for kube-apiserver 60 kubectl get --raw /readyz

start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" \
    --leader-elect=false --service-account-private-key-file "$dir/sa.key" \
    --root-ca-file "$dir/apiserver/apiserver.crt" --port 0 --secure-port "$kcm_port" \
    --bind-address 127.0.0.1 --flex-volume-plugin-dir "$plugins" --use-service-account-credentials=false \
    --controllers '*,-nodelifecycle'   # no CNI: the node never reports its network ready

# containerd of its own (CRI; its oom_score_adj left alone, which this machine refuses).
mkdir -p "$dir/containerd"
cat > "$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "docker.io/local/pause:1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$dir/cni/bin"
    conf_dir = "$dir/cni/conf"
EOF
start containerd containerd --config "$dir/containerd/config.toml"
ctr() { command ctr --address "$dir/containerd/containerd.sock" -n k8s.io "$@"; }
wait_for containerd 30 ctr version

# Images from busybox-static, made offline: a pause container and a shell.
rootfs=$dir/rootfs
mkdir -p "$rootfs/bin"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for a in sh sleep cat echo ls; do ln -sf busybox "$rootfs/bin/$a"; done
if ! docker image inspect local/pause:1 >/dev/null 2>&1; then
    tar -C "$rootfs" -c . | docker import --change 'ENTRYPOINT ["/bin/sleep","2147483647"]' - local/pause:1 >/dev/null
fi
if ! docker image inspect local/busybox:1 >/dev/null 2>&1; then
    tar -C "$rootfs" -c . | docker import - local/busybox:1 >/dev/null
fi
docker save local/pause:1 local/busybox:1 | ctr images import --all-platforms - >/dev/null

node=$(hostname | tr '[:upper:]_' '[:lower:]-')
start kubelet "$bin/kubelet" --kubeconfig "$dir/kubeconfig" --root-dir "$dir/kubelet" \
    --cert-dir "$dir/kubelet-pki" --container-runtime remote \
    --container-runtime-endpoint "unix://$dir/containerd/containerd.sock" \
    --volume-plugin-dir "$plugins" --hostname-override "$node" --port "$kubelet_port" \
    --read-only-port 0 --healthz-port 0 --address 127.0.0.1 --cgroup-driver cgroupfs \
    --cgroups-per-qos=false --enforce-node-allocatable "" --fail-swap-on=false \
    --eviction-hard "" --image-gc-high-threshold 100 --pod-infra-container-image docker.io/local/pause:1
# Registered is enough: without CNI the node never turns Ready, but it runs hostNetwork pods.
wait_for "the node" 120 kubectl get node "$node"
echo "$node" > "$dir/node"
echo "kube-up: node $node registered; KUBECONFIG=$dir/kubeconfig"
