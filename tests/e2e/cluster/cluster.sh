#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for the end-to-end suite: etcd 3.6 +
# kube-apiserver + kube-controller-manager + kube-scheduler + kubelet + kube-proxy (Kubernetes
# v1.37) with containerd 2 (all built from Go modules by build-k8s.sh), runc and the
# CNI bridge plugin from Debian, and a local OCI registry (Debian's docker-registry) on loopback.
# Pod Security Admission is active (the API server's default); the ImageVolume feature is on.
# No internet: images are imported into this cluster's own containerd with "load-image", or
# pushed to the registry with "push-image".
#
#   cluster.sh up                  start everything (idempotent); prints "export KUBECONFIG=..."
#   cluster.sh down                stop exactly what "up" started; remove its containers, mounts,
#                                  iptables chains and bridge (idempotent)
#   cluster.sh status              exit 0 when every component runs
#   cluster.sh env                 print the export line again
#   cluster.sh load-image ARCHIVE  import an oci-archive/docker-archive into the node (ns k8s.io)
#   cluster.sh push-image ARCHIVE NAME  push an oci-archive to the local registry as NAME
#                                  (e.g. mv-e2e/model:signed); prints the pullable reference by
#                                  digest, REGISTRY/NAME@sha256:...
#   cluster.sh registry            print the registry's host:port (pods pull from it over plain HTTP)
#   cluster.sh logs                print the tail of every component's log
#
# Environment:
#   K8S_BIN        dir with the binaries of build-k8s.sh (default: its --bin-dir; run
#                  build-k8s.sh first, it caches them outside the repository)
#   MV_E2E_STATE   state root: certificates, kubeconfig, logs, pid files, containerd root
#                  (default /tmp/mv-e2e)
#   API_PORT       kube-apiserver secure port (default 16443); ETCD_PORT (default 12379);
#                  REGISTRY_PORT (default 15000, on 127.0.0.1)
#   NODE_NAME      default mv-e2e-node
#   CONTAINERS_CONF  podman/buildah settings (default tests/e2e/containers.conf)
#
# Needs root (containerd, kubelet, iptables, CNI) and the Debian packages installed by
# .ci/install.sh. On a cgroup v1 host the kubelet runs with failCgroupV1: false (Kubernetes
# >= 1.35 refuses cgroup v1 otherwise). Test use only: the kubelet reuses the admin client
# certificate and allows anonymous access. Do not run it on a machine that is already a Kubernetes node, nor next to
# another local node (one kube-proxy owns the KUBE-* iptables chains of a machine).
# Only processes whose pid this script recorded (and whose command line still matches) are ever
# signalled.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_BIN="${K8S_BIN:-$("$HERE/build-k8s.sh" --bin-dir)}"
ROOT="${MV_E2E_STATE:-/tmp/mv-e2e}"
CP="$ROOT/control"
NODE="$ROOT/node"
PKI="$CP/pki"
API_PORT="${API_PORT:-16443}"
ETCD_PORT="${ETCD_PORT:-12379}"
ETCD_PEER_PORT="$((ETCD_PORT + 1))"
REGISTRY_PORT="${REGISTRY_PORT:-15000}"
REGISTRY="127.0.0.1:$REGISTRY_PORT"
NODE_NAME="${NODE_NAME:-mv-e2e-node}"
BRIDGE="mve2e0"
POD_CIDR="10.244.0.0/24"
SERVICE_CIDR="10.0.0.0/24"
PAUSE_IMAGE="localhost/pause:local"
SOCK="$NODE/containerd.sock"
if [ -z "${CONTAINERS_CONF:-}" ]; then export CONTAINERS_CONF="$HERE/../containers.conf"; fi

log() { echo "[cluster] $*" >&2; }
die() { echo "[cluster] error: $*" >&2; exit 2; }

host_ip() { ip -4 -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}' || true; }

# component -> pid file and the string its command line must contain (guards against pid reuse)
pidfile() { case "$1" in etcd|apiserver|registry) echo "$CP/$1.pid" ;; *) echo "$NODE/$1.pid" ;; esac; }
cmd_of() {
  case "$1" in
    etcd) echo "$CP/etcd-data" ;;
    registry) echo "$CP/registry.yaml" ;;
    apiserver) echo "$K8S_BIN/kube-apiserver" ;;
    containerd) echo "$NODE/containerd.toml" ;;
    kubelet) echo "$K8S_BIN/kubelet" ;;
    scheduler) echo "$K8S_BIN/kube-scheduler" ;;
    controller-manager) echo "$K8S_BIN/kube-controller-manager" ;;
    kube-proxy) echo "$K8S_BIN/kube-proxy" ;;
  esac
}
COMPONENTS=(etcd apiserver registry containerd kubelet scheduler controller-manager kube-proxy)
# the containerd of this cluster, and its shim (found on PATH), are the ones built with it
CTR() { "$K8S_BIN/ctr" -a "$SOCK" -n k8s.io "$@"; }

pid_alive() { # component
  local f p
  f="$(pidfile "$1")"
  [ -f "$f" ] || return 1
  p="$(cat "$f" 2>/dev/null)"; [ -n "$p" ] || return 1
  kill -0 "$p" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$(cmd_of "$1")"
}

stop_one() { # component
  local f p
  f="$(pidfile "$1")"
  if pid_alive "$1"; then
    p="$(cat "$f")"
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    log "stopped $1 (pid $p)"
  fi
  rm -f "$f"
}

bg() { # component logfile cmd...
  local name="$1" logf="$2"; shift 2
  "$@" > "$logf" 2>&1 &
  echo $! > "$(pidfile "$name")"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # url timeout_s component [curl args...]  (gives up early when the process died)
  local url="$1" t="$2" c="$3"; shift 3
  local end=$((SECONDS + t))
  until curl -fsS "$@" "$url" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1
    # the process exists (not pid_alive: right after the fork the child may not have exec'd yet)
    kill -0 "$(cat "$(pidfile "$c")" 2>/dev/null)" 2>/dev/null || return 1
    sleep 0.2
  done
}

check_prereqs() {
  [ "$(id -u)" = 0 ] || die "must run as root (containerd, kubelet, iptables, CNI)"
  local missing=() c
  for c in openssl curl runc buildah skopeo iptables conntrack ip kubectl docker-registry; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (run .ci/install.sh)"
  for c in bridge host-local portmap loopback; do
    [ -x "/usr/lib/cni/$c" ] || die "CNI plugin /usr/lib/cni/$c missing (apt-get install -y containernetworking-plugins)"
  done
  for c in kube-apiserver kubelet kube-scheduler kube-controller-manager kube-proxy pause etcd containerd containerd-shim-runc-v2 ctr; do
    [ -x "$K8S_BIN/$c" ] || die "$K8S_BIN/$c missing; build and cache the binaries first: $HERE/build-k8s.sh"
  done
  [ -n "$(host_ip)" ] || die "no global IPv4 address (ip -4 addr); pods reach the API server through it"
  if ! pid_alive kube-proxy && iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1; then
    die "iptables chain KUBE-SERVICES exists but not from this cluster: another Kubernetes node runs here"
  fi
}

# Feature gates the suite needs, where the binary does not turn them on by default:
# "--feature-gates=ImageVolume=true", or nothing when ImageVolume is on by default (beta since
# 1.35, GA later: a GA gate is locked and must not be set).
feature_gates() { # binary
  local line
  line="$("$1" --help 2>/dev/null | grep -oE 'ImageVolume=true\|false \([A-Z]+ - default=(true|false)\)' | head -1 || true)"
  case "$line" in
    *default=true*) ;;
    *default=false*) echo "--feature-gates=ImageVolume=true" ;;
    *) ;;  # not listed: GA and locked on
  esac
}

# ---- control plane -----------------------------------------------------------------------------
gen_certs() {
  local hip="$1"
  if [ -f "$PKI/admin.crt" ] && [ "$(cat "$PKI/host-ip" 2>/dev/null)" = "$hip" ]; then return 0; fi
  rm -rf "$PKI"; mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=mv-e2e-ca" 2>/dev/null
    local san="DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1,IP:$hip"
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf "subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n" "$san" > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    printf "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n" > admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile admin.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf '%s' "$hip" > host-ip
  )
}

write_kubeconfig() {
  cat > "$CP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mv-e2e
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority: ${PKI}/ca.crt
users:
- name: admin
  user:
    client-certificate: ${PKI}/admin.crt
    client-key: ${PKI}/admin.key
contexts:
- name: mv-e2e
  context: {cluster: mv-e2e, user: admin, namespace: default}
current-context: mv-e2e
EOF
}

control_plane_up() {
  if pid_alive apiserver && pid_alive etcd; then return 0; fi
  stop_one apiserver; stop_one etcd
  rm -rf "$CP/etcd-data"
  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    port_busy "$p" && die "port $p is already in use by another process (set API_PORT / ETCD_PORT)"
  done
  local hip; hip="$(host_ip)"
  gen_certs "$hip"
  write_kubeconfig
  # a throw-away test store: on tmpfs when there is one, and no fsync
  mkdir -p "$CP"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    rm -rf /dev/shm/mv-e2e-etcd; mkdir -p /dev/shm/mv-e2e-etcd
    ln -sfn /dev/shm/mv-e2e-etcd "$CP/etcd-data"
  fi
  bg etcd "$CP/etcd.log" "$K8S_BIN/etcd" --name mv-e2e --data-dir "$CP/etcd-data" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "mv-e2e=http://127.0.0.1:${ETCD_PEER_PORT}" --log-level warn
  wait_http "http://127.0.0.1:${ETCD_PORT}/health" 30 etcd || { tail -20 "$CP/etcd.log" >&2; die "etcd did not start; see $CP/etcd.log"; }
  # 0.0.0.0: pods reach the API server through the "kubernetes" Service (10.0.0.1 -> host IP).
  # --enable-aggregator-routing: webhook calls go straight to the Service's endpoint (pod) IPs.
  bg apiserver "$CP/apiserver.log" "$K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=0.0.0.0 --advertise-address="$hip" --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --api-audiences=https://kubernetes.default.svc \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=RBAC --allow-privileged=true \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --enable-aggregator-routing=true $(feature_gates "$K8S_BIN/kube-apiserver") ${EXTRA_APISERVER_FLAGS:-}
  if ! wait_http "https://127.0.0.1:${API_PORT}/readyz" 90 apiserver --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key"; then
    tail -20 "$CP/apiserver.log" >&2; die "kube-apiserver not ready; see $CP/apiserver.log"
  fi
}

registry_up() {
  if pid_alive registry; then return 0; fi
  stop_one registry
  port_busy "$REGISTRY_PORT" && die "port $REGISTRY_PORT is already in use by another process (set REGISTRY_PORT)"
  mkdir -p "$CP/registry"
  cat > "$CP/registry.yaml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $CP/registry}
  delete: {enabled: true}
http:
  addr: $REGISTRY
EOF
  bg registry "$CP/registry.log" docker-registry serve "$CP/registry.yaml"
  wait_http "http://$REGISTRY/v2/" 30 registry || { tail -20 "$CP/registry.log" >&2; die "the registry did not start; see $CP/registry.log"; }
}

# ---- node --------------------------------------------------------------------------------------
containerd_cfg() {
  mkdir -p "$NODE/cni/net.d" "$NODE/containerd/certs.d/$REGISTRY"
  # containerd 2 configuration (version 3): only what differs from the defaults
  cat > "$NODE/containerd.toml" <<EOF
version = 3
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"

[grpc]
  address = "$SOCK"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$PAUSE_IMAGE"

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "$NODE/containerd/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  disable_apparmor = true

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = "$NODE/cni/net.d"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "$(command -v runc)"
EOF
  # the local registry: plain HTTP on loopback
  cat > "$NODE/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  cat > "$NODE/cni/net.d/10-mv-e2e.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "mv-e2e", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}

pause_image() {
  CTR images ls -q | grep -qx "$PAUSE_IMAGE" && return 0
  local d="$NODE/pause"; mkdir -p "$d"
  cp "$K8S_BIN/pause" "$d/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$d/Containerfile"
  buildah bud -q --layers=false -t "$PAUSE_IMAGE" "$d" >/dev/null
  rm -f "$d/pause.tar"
  skopeo copy -q "containers-storage:$PAUSE_IMAGE" "oci-archive:$d/pause.tar:$PAUSE_IMAGE"
  CTR images import "$d/pause.tar" >/dev/null
}

node_up() {
  if pid_alive containerd && pid_alive kubelet && pid_alive scheduler && pid_alive controller-manager && pid_alive kube-proxy; then
    return 0
  fi
  local c hip; hip="$(host_ip)"
  for c in kube-proxy controller-manager scheduler kubelet containerd; do stop_one "$c"; done
  mkdir -p "$NODE"
  containerd_cfg
  # PATH: containerd starts the containerd-shim-runc-v2 built with it
  PATH="$K8S_BIN:$PATH" bg containerd "$NODE/containerd.log" "$K8S_BIN/containerd" --config "$NODE/containerd.toml"
  for _ in $(seq 50); do CTR version >/dev/null 2>&1 && break; sleep 0.2; done
  CTR version >/dev/null 2>&1 || { tail -20 "$NODE/containerd.log" >&2; die "containerd did not start; see $NODE/containerd.log"; }
  # The socket answers before the CRI service has recovered its state (seconds with many stale
  # sandboxes of earlier runs); a kubelet started then exits ("server is not initialized yet").
  for _ in $(seq 150); do grep -q "containerd successfully booted" "$NODE/containerd.log" && break; sleep 0.2; done
  grep -q "containerd successfully booted" "$NODE/containerd.log" \
    || { tail -20 "$NODE/containerd.log" >&2; die "containerd's CRI service did not come up in 30 s; see $NODE/containerd.log"; }
  pause_image
  # failCgroupV1: false: Kubernetes >= 1.35 refuses cgroup v1 hosts otherwise (these VMs have
  # cgroup v1, hybrid). The kubelet runs inside the cgroup it was started in.
  local gates; gates="$(feature_gates "$K8S_BIN/kubelet" | sed -n 's/^--feature-gates=\(.*\)=true$/featureGates: {\1: true}/p')"
  cat > "$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
clusterDNS: []
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
protectKernelDefaults: false
serializeImagePulls: false
$gates
EOF
  # test-only shortcut: the admin client certificate (system:masters) is the kubelet's identity
  bg kubelet "$NODE/kubelet.log" "$K8S_BIN/kubelet" --config="$NODE/kubelet.yaml" --kubeconfig="$CP/kubeconfig" \
    --root-dir="$NODE/kubelet" --cert-dir="$NODE/kubelet-pki" \
    --hostname-override="$NODE_NAME" --node-ip="$hip" --v=1
  bg scheduler "$NODE/scheduler.log" "$K8S_BIN/kube-scheduler" --kubeconfig="$CP/kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1
  # shellcheck disable=SC2046  # feature_gates prints zero or one word
  bg controller-manager "$NODE/controller-manager.log" "$K8S_BIN/kube-controller-manager" --kubeconfig="$CP/kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=false --controllers='*,-nodeipam,-csrsigning,-bootstrapsigner,-tokencleaner' \
    $(feature_gates "$K8S_BIN/kube-controller-manager")
  bg kube-proxy "$NODE/kube-proxy.log" "$K8S_BIN/kube-proxy" --kubeconfig="$CP/kubeconfig" --hostname-override="$NODE_NAME" \
    --proxy-mode=iptables --cluster-cidr=10.244.0.0/16 --conntrack-max-per-core=0 \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
  local ready=""
  for _ in $(seq 120); do
    if KUBECONFIG="$CP/kubeconfig" kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
      ready=1; break
    fi
    sleep 0.5
  done
  [ -n "$ready" ] || { tail -20 "$NODE/kubelet.log" >&2; die "node $NODE_NAME not Ready after 60 s; see $NODE/kubelet.log"; }
  # the "default" ServiceAccount appears once the controller-manager runs; pods need it
  for _ in $(seq 60); do
    KUBECONFIG="$CP/kubeconfig" kubectl -n default get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.5
  done
}

up() {
  check_prereqs
  mkdir -p "$CP" "$NODE"
  local t0=$SECONDS
  control_plane_up
  registry_up
  node_up
  log "cluster ready in $((SECONDS - t0))s (API https://127.0.0.1:$API_PORT, node $NODE_NAME, state $ROOT)"
  echo "export KUBECONFIG=$CP/kubeconfig"
}

down() {
  local c t
  for c in kube-proxy controller-manager scheduler kubelet; do stop_one "$c"; done
  # our own containerd: kill and delete its tasks and containers (the shims then exit)
  if pid_alive containerd && [ -S "$SOCK" ]; then
    for t in $(CTR tasks ls -q 2>/dev/null); do CTR tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $(CTR tasks ls -q 2>/dev/null); do CTR tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for c in $(CTR containers ls -q 2>/dev/null); do CTR containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_one containerd
  # mounts under our own node dir (pod volumes, sandboxes)
  if [ -d "$NODE" ] && grep -q " $NODE/" /proc/mounts; then
    awk -v n="$NODE/" 'index($2, n) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  # iptables state of our kubelet / kube-proxy (check_prereqs refuses to start next to another node)
  if [ -x "$K8S_BIN/kube-proxy" ]; then "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  if command -v iptables >/dev/null 2>&1; then
    local chains
    for t in filter nat mangle; do
      iptables -t "$t" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' | sed 's/^-A/-D/' \
        | while read -r r; do eval iptables -t "$t" "$r" 2>/dev/null || true; done || true
      chains="$(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}' || true)"
      for c in $chains; do iptables -t "$t" -F "$c" 2>/dev/null || true; done
      for c in $chains; do iptables -t "$t" -X "$c" 2>/dev/null || true; done
    done
  fi
  ip link delete "$BRIDGE" 2>/dev/null || true
  rm -rf /var/lib/cni/networks/mv-e2e
  stop_one registry
  rm -rf "$CP/registry"
  stop_one apiserver
  stop_one etcd
  [ -L "$CP/etcd-data" ] && rm -rf /dev/shm/mv-e2e-etcd
  rm -rf "$CP/etcd-data"
  log "stopped"
}

status() {
  local rc=0 c
  for c in "${COMPONENTS[@]}"; do
    if pid_alive "$c"; then echo "$c: running (pid $(cat "$(pidfile "$c")"))"; else echo "$c: not running"; rc=1; fi
  done
  return $rc
}

load_image() { # archive
  [ -n "${1:-}" ] || die "usage: $0 load-image ARCHIVE"
  [ -f "$1" ] || die "no such file: $1"
  pid_alive containerd && [ -S "$SOCK" ] || die "this cluster's containerd is not running; run '$0 up' first"
  CTR images import "$1"
}

push_image() { # archive name
  [ -n "${2:-}" ] || die "usage: $0 push-image ARCHIVE NAME"
  [ -f "$1" ] || die "no such file: $1"
  pid_alive registry || die "this cluster's registry is not running; run '$0 up' first"
  local d; d="$(mktemp)"
  skopeo copy -q --dest-tls-verify=false --digestfile "$d" "oci-archive:$1" "docker://$REGISTRY/$2" \
    || { rm -f "$d"; die "skopeo could not push $1 to $REGISTRY/$2"; }
  echo "$REGISTRY/${2%%:*}@$(cat "$d")"
  rm -f "$d"
}

logs() {
  local f
  for f in "$CP"/*.log "$NODE"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $f (last 30 lines)"; tail -30 "$f"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$CP/kubeconfig" ;;
  load-image) load_image "${2:-}" ;;
  push-image) push_image "${2:-}" "${3:-}" ;;
  registry) echo "$REGISTRY" ;;
  logs) logs ;;
  -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0" ;;
  *) echo "usage: $0 up|down|status|env|load-image ARCHIVE|push-image ARCHIVE NAME|registry|logs" >&2; exit 2 ;;
esac
