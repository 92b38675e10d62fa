#!/usr/bin/env bash
# Scale benchmark of the operator on a real API server (issue 16): 10,000 labelled pods in 100
# namespaces with 100 ModelValidations, then churn of 50 pod operations per second.
#
#   make bench-scale                         # or: benches/scale.sh
#   MV_SCALE_NAMESPACES=100 MV_SCALE_PODS=100 MV_SCALE_CHURN_RATE=50 MV_SCALE_CHURN_SECONDS=60
#
# Cluster: the one KUBECONFIG points at, or else the local e2e cluster (tests/e2e/cluster,
# booted and stopped by this script; the same binaries the e2e suite caches). The operator runs
# as a local release binary (webhook on 127.0.0.1 with a throw-away CA, controller, metrics),
# registered by a MutatingWebhookConfiguration limited to the benchmark's namespaces. Pods are
# bound to a Node object without a kubelet, so they stay Pending and cost the cluster nothing
# but API objects. scale-load (benches/src/bin/scale-load.rs) creates the load, samples the
# operator's RSS and reads its histograms; this script prints its JSON report and a table, and
# exits 1 when a goal is missed: RSS <= 128 MiB, webhook p99 <= 10 ms, every status correct
# within 10 s of the last change.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}
namespaces=${MV_SCALE_NAMESPACES:-100}
pods=${MV_SCALE_PODS:-100}
rate=${MV_SCALE_CHURN_RATE:-50}
seconds=${MV_SCALE_CHURN_SECONDS:-60}
cluster=tests/e2e/cluster/cluster.sh

for tool in jq curl openssl kubectl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (.ci/install.sh)" >&2; exit 2; }
done

echo "Building release binaries (model-validation-operator, scale-load)..." >&2
nice -n 10 "$cargo" build --release --locked -q \
    -p model-validation-operator --bin model-validation-operator \
    -p model-verifier-benches --bin scale-load
target_dir=$("$cargo" metadata --format-version 1 --no-deps | jq -r .target_directory)
operator_bin=$target_dir/release/model-validation-operator
load_bin=$target_dir/release/scale-load
results=$target_dir/bench-scale
mkdir -p "$results"

work=$(mktemp -d)
started_cluster=0
operator_pid=
cleanup() {
    set +e
    if [[ -n ${KUBECONFIG:-} ]]; then
        kubectl delete mutatingwebhookconfiguration mv-scale-bench --ignore-not-found >/dev/null 2>&1
        "$load_bin" --cleanup --node mv-scale-node >/dev/null 2>&1
    fi
    if [[ -n $operator_pid ]] && kill -0 "$operator_pid" 2>/dev/null; then
        kill -TERM "$operator_pid"; wait "$operator_pid" 2>/dev/null
    fi
    [[ -f $work/operator.log ]] && cp "$work/operator.log" "$results/operator.log"
    [[ $started_cluster = 1 ]] && "$cluster" down >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

local_kubeconfig=$("$cluster" env | sed 's/^export KUBECONFIG=//')
if [[ -n ${KUBECONFIG:-} && $KUBECONFIG != "$local_kubeconfig" ]] && kubectl --request-timeout=5s version >/dev/null 2>&1; then
    echo "Using the cluster of KUBECONFIG=$KUBECONFIG" >&2
else
    if ! "$cluster" status >/dev/null 2>&1; then
        echo "Booting the local cluster (tests/e2e/cluster)..." >&2
        nice -n 10 tests/e2e/cluster/build-k8s.sh >&2
        started_cluster=1
        "$cluster" up >/dev/null || { "$cluster" logs >&2; exit 2; }
    fi
    eval "$("$cluster" env)"
    export KUBECONFIG
fi
"$load_bin" --cleanup --node mv-scale-node >/dev/null 2>&1 || true

kubectl apply --server-side -f config/crd/bases/ml.sigstore.dev_modelvalidations.yaml >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/modelvalidations.ml.sigstore.dev >/dev/null

# webhook serving certificate for 127.0.0.1, from a throw-away CA
mkdir -p "$work/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mv-scale-ca \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$work/certs/tls.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/ext" -out "$work/certs/tls.crt" 2>/dev/null

read -r webhook_port probe_port metrics_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

"$operator_bin" \
    --webhook-bind-address "127.0.0.1:$webhook_port" --webhook-cert-dir "$work/certs" \
    --health-probe-bind-address "127.0.0.1:$probe_port" \
    --metrics-bind-address "127.0.0.1:$metrics_port" \
    --verifier-image registry.invalid/model-verifier:bench \
    --log-format json --log-level warn \
    </dev/null >/dev/null 2> >(cat >"$work/operator.log") &
operator_pid=$!
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$operator_pid" 2>/dev/null || { cat "$work/operator.log" >&2; echo "error: the operator exited" >&2; exit 2; }
    sleep 0.2
done
curl -sf "http://127.0.0.1:$probe_port/readyz" >/dev/null || { echo "error: /readyz never became ready" >&2; exit 2; }

ca_bundle=$(base64 -w0 "$work/ca.crt")
kubectl apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mv-scale-bench
webhooks:
- name: pods.validation.ml.sigstore.dev
  admissionReviewVersions: ["v1"]
  clientConfig:
    url: https://127.0.0.1:$webhook_port/mutate-v1-pod
    caBundle: $ca_bundle
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE"]
    resources: ["pods"]
  failurePolicy: Fail
  sideEffects: None
  timeoutSeconds: 5
  reinvocationPolicy: IfNeeded
  namespaceSelector:
    matchLabels:
      mv-scale: mv-scale
  objectSelector:
    matchExpressions:
    - key: validation.ml.sigstore.dev/ml
      operator: Exists
EOF

echo "Load: $namespaces namespaces x $pods pods, then churn $rate ops/s for $seconds s..." >&2
"$load_bin" --namespaces "$namespaces" --pods-per-namespace "$pods" \
    --churn-rate "$rate" --churn-seconds "$seconds" --node mv-scale-node \
    --operator-pid "$operator_pid" --metrics-url "http://127.0.0.1:$metrics_port/metrics" \
    >"$results/report.json"
cat "$results/report.json"
date=$(date -u +%Y-%m-%d)
cpus=$(nproc)
jq -r --arg date "$date" --arg cpus "$cpus" '
  "| date | pods | load s | RSS after load MiB | RSS max MiB | churn ops/s | create p99 ms (client) | webhook p99 | reconcile p50 / p99 | status correct after last change s |",
  "|---|---|---|---|---|---|---|---|---|---|",
  "| \($date), \($cpus) CPUs | \(.pods) | \(.load_seconds|floor) | \(.operator_rss_mib_after_load*10|floor/10) | \(.operator_rss_mib_max*10|floor/10) | \(.churn_ops_per_second_achieved*10|floor/10) | \(.pod_create_p99_ms_client|floor) | \(.webhook_p99_during_churn) | \(.reconcile_p50_during_churn) / \(.reconcile_p99_during_churn) | \(.status_correct_after_last_change_seconds*10|floor/10) |"' \
  "$results/report.json"

fail=0
jq -e '.operator_rss_mib_max <= 128' "$results/report.json" >/dev/null || { echo "goal missed: operator RSS <= 128 MiB" >&2; fail=1; }
jq -e '.status_correct_after_last_change_seconds <= 10' "$results/report.json" >/dev/null || { echo "goal missed: statuses correct within 10 s" >&2; fail=1; }
webhook_p99=$(jq -r '.webhook_p99_during_churn // "none"' "$results/report.json" | sed 's/^<= //; s/ s$//')
python3 -c "import sys; sys.exit(0 if '$webhook_p99' != 'none' and float('$webhook_p99') <= 0.010 else 1)" \
    || { echo "goal missed: webhook p99 <= 10 ms (bucket bound $webhook_p99 s)" >&2; fail=1; }
exit $fail
