#!/usr/bin/env bash
# End-to-end suite (issue 8): the operator and the verifier on a real Kubernetes cluster.
#
#   tests/e2e/run.sh [SCENARIO...]        (make e2e)   default: every scenario, in order
#   tests/e2e/run.sh --list
#
# Cluster: when $KUBECONFIG points at a reachable cluster, that cluster is used (images are then
# loaded with MV_E2E_LOAD, e.g. "kind load image-archive", or must already be available to its
# nodes). Otherwise a local single-node cluster is booted with tests/e2e/cluster/cluster.sh (real
# etcd 3.6, kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy v1.37 with
# containerd 2, all built once from Go modules by tests/e2e/cluster/build-k8s.sh and cached under
# ~/.cache, keyed by the versions and the build script's hash; Debian's runc and CNI plugins; a
# local OCI registry on 127.0.0.1 for the model images of the image-volume scenario).
#
# Steps: build the images (images/build.sh, tag "testing"; the model image with
# tests/e2e/model-image.sh), load them, run the scenarios, print a summary ending with the line
# "e2e: N passed, N failed". On a failed scenario it prints the operator logs, the pod
# descriptions and the events. It stops only what it started (the local cluster, unless it was
# already running or MV_E2E_KEEP=1).
#
# Environment:
#   MV_E2E_KEEP=1        leave the local cluster running afterwards (fast re-runs)
#   MV_E2E_SKIP_BUILD=1  reuse the images built by an earlier run
#   MV_E2E_LOAD          command that loads an OCI archive into an external cluster (archive path appended)
#   MV_E2E_REGISTRY      registry (host[/path]) for the model images on an external cluster: pushed
#                        there with skopeo, pulled from there by its nodes
#   MV_PYTHON_VENV       the Python model_signing venv used to sign the test models
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export REPO
CACHE="${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}"
IMAGES_OUT="$CACHE/images"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/containers.conf}"
CLUSTER="$HERE/cluster/cluster.sh"
BUILD_K8S="$HERE/cluster/build-k8s.sh"
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/scenarios.sh
. "$HERE/scenarios.sh"

say() { echo "[e2e] $*" >&2; }
die() { echo "[e2e] error: $*" >&2; echo "e2e: 0 passed, 1 failed"; exit 1; }

if [ "${1:-}" = "--list" ]; then
  for s in "${SCENARIOS[@]}"; do echo "${s%% *}"; done
  exit 0
fi
WANT=("$@")

T0=$SECONDS
STARTED_CLUSTER=0
cleanup() {
  if [ "$STARTED_CLUSTER" = 0 ] && [ "${MV_E2E_KEEP:-0}" != 1 ] && [ -n "${KUBECONFIG:-}" ]; then
    # a cluster we did not start: remove the namespaces the scenarios created (not the install)
    kubectl delete namespace -l "$E2E_NS_LABEL" --wait=false >/dev/null 2>&1 || true
  fi
  if [ "$STARTED_CLUSTER" = 1 ] && [ "${MV_E2E_KEEP:-0}" != 1 ]; then
    say "stopping the local cluster this run started"
    "$CLUSTER" down >/dev/null 2>&1 || true
    STARTED_CLUSTER=0
  elif [ "$STARTED_CLUSTER" = 1 ]; then
    say "MV_E2E_KEEP=1: the cluster keeps running; stop it with: tests/e2e/cluster/cluster.sh down"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for c in kubectl openssl python3; do command -v "$c" >/dev/null || die "$c not found (run .ci/install.sh)"; done
python3 -c 'import yaml' 2>/dev/null || die "python3-yaml not found (run .ci/install.sh)"

# ---- cluster -------------------------------------------------------------------------------------
LOCAL=0
LOCAL_KUBECONFIG="$("$CLUSTER" env | sed 's/^export KUBECONFIG=//')"
if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$LOCAL_KUBECONFIG" ] && kubectl --request-timeout=5s version >/dev/null 2>&1; then
  say "using the cluster of KUBECONFIG=$KUBECONFIG"
else
  LOCAL=1
  if "$CLUSTER" status >/dev/null 2>&1; then
    say "local cluster already running (left running afterwards)"
  else
    t=$SECONDS
    say "building/finding the cached Kubernetes server binaries"
    nice -n 10 "$BUILD_K8S" >&2 || die "building the Kubernetes server binaries failed"
    say "booting the local cluster"
    STARTED_CLUSTER=1
    "$CLUSTER" up >/dev/null || { "$CLUSTER" logs >&2; die "the local cluster did not start"; }
    say "cluster up in $((SECONDS - t))s"
  fi
  eval "$("$CLUSTER" env)"
  export KUBECONFIG
fi
kubectl version 2>/dev/null | sed 's/^/[e2e]   /' >&2

# ---- images ------------------------------------------------------------------------------------
OPERATOR_ARCHIVE="$IMAGES_OUT/model-validation-operator-testing.oci.tar"
VERIFIER_ARCHIVE="$IMAGES_OUT/model-verifier-testing.oci.tar"
DEV_ARCHIVE="$IMAGES_OUT/model-validation-operator-dev.oci.tar"
MODEL_ARCHIVE="$IMAGES_OUT/mv-e2e-models.oci.tar"
# the models alone as OCI images (for image volumes), signed and tampered, and the public keys
VOLUME_ARCHIVES=("$IMAGES_OUT/mv-e2e-model-signed.oci.tar" "$IMAGES_OUT/mv-e2e-model-tampered.oci.tar"
  "$IMAGES_OUT/mv-e2e-keys.oci.tar")
if [ "${MV_E2E_SKIP_BUILD:-0}" != 1 ]; then
  t=$SECONDS
  say "building the images (static release binaries; first build takes minutes)"
  TAG=testing "$REPO/images/build.sh" >&2 || die "images/build.sh failed"
  # the development overlay runs the same binary under the :dev tag
  skopeo copy -q "containers-storage:localhost/model-validation-operator:testing" \
    "oci-archive:$DEV_ARCHIVE:localhost/model-validation-operator:dev" || die "tagging the :dev image failed"
  "$HERE/model-image.sh" "$MODEL_IMAGE" "$MODEL_ARCHIVE" "$IMAGES_OUT" >&2 || die "building the model image failed"
  say "images built in $((SECONDS - t))s"
fi
for a in "$OPERATOR_ARCHIVE" "$VERIFIER_ARCHIVE" "$DEV_ARCHIVE" "$MODEL_ARCHIVE"; do
  [ -f "$a" ] || die "$a missing (run without MV_E2E_SKIP_BUILD=1)"
  if [ "$LOCAL" = 1 ]; then
    "$CLUSTER" load-image "$a" >/dev/null || die "loading $a into the node failed"
  elif [ -n "${MV_E2E_LOAD:-}" ]; then
    $MV_E2E_LOAD "$a" >&2 || die "MV_E2E_LOAD $a failed"
  fi
done
[ "$LOCAL" = 1 ] || [ -n "${MV_E2E_LOAD:-}" ] || say "external cluster and no MV_E2E_LOAD: the images must already be on its nodes"
# the model images for image volumes go to a registry, pulled by digest: the local cluster's, or
# MV_E2E_REGISTRY (host[/path], reachable by skopeo and by the nodes) for an external cluster
push_model() { # archive name -> prints REGISTRY/NAME@sha256:...
  if [ "$LOCAL" = 1 ] && "$CLUSTER" registry >/dev/null 2>&1; then
    "$CLUSTER" push-image "$1" "$2"
  elif [ -n "${MV_E2E_REGISTRY:-}" ]; then
    local d; d="$(mktemp)"
    skopeo copy -q --digestfile "$d" "oci-archive:$1" "docker://$MV_E2E_REGISTRY/$2" >&2 && echo "$MV_E2E_REGISTRY/${2%%:*}@$(cat "$d")"
    rm -f "$d"
  fi
}
for a in "${VOLUME_ARCHIVES[@]}"; do [ -f "$a" ] || die "$a missing (run without MV_E2E_SKIP_BUILD=1)"; done
MV_E2E_MODEL_SIGNED_REF="$(push_model "${VOLUME_ARCHIVES[0]}" mv-e2e/model:signed)" || true
MV_E2E_MODEL_TAMPERED_REF="$(push_model "${VOLUME_ARCHIVES[1]}" mv-e2e/model:tampered)" || true
MV_E2E_KEYS_REF="$(push_model "${VOLUME_ARCHIVES[2]}" mv-e2e/keys:v1)" || true
export MV_E2E_MODEL_SIGNED_REF MV_E2E_MODEL_TAMPERED_REF MV_E2E_KEYS_REF
[ -n "$MV_E2E_MODEL_SIGNED_REF" ] && say "model images: $MV_E2E_MODEL_SIGNED_REF, $MV_E2E_MODEL_TAMPERED_REF" \
  || say "no registry for the model images (local cluster without one, or MV_E2E_REGISTRY unset): the image-volume scenario will fail"

# ---- scenarios ---------------------------------------------------------------------------------
passed=0; failed=0; skipped=0
RESULTS=()
install_ok=1
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/mv-e2e-logs.XXXXXX")"
for entry in "${SCENARIOS[@]}"; do
  read -r name fn namespaces <<<"$entry"
  if [ ${#WANT[@]} -gt 0 ] && [ "$name" != install-testing-overlay ]; then
    keep=0; for w in "${WANT[@]}"; do [ "$w" = "$name" ] && keep=1; done
    [ "$keep" = 1 ] || continue
  fi
  echo "=== RUN   $name"
  t=$SECONDS
  if [ "$install_ok" = 0 ] && [ "$name" != development-overlay ] && [ "$name" != production-and-olm-dry-run ]; then
    echo "--- FAIL  $name (not run: the operator was not installed)"
    RESULTS+=("FAIL $name (not run)"); failed=$((failed + 1)); continue
  fi
  ( set -eo pipefail; "$fn" ) > "$LOGDIR/$name.log" 2>&1
  rc=$?
  sed 's/^/    /' "$LOGDIR/$name.log"
  d=$((SECONDS - t))
  if [ $rc = 0 ]; then
    echo "--- PASS  $name (${d}s)"; RESULTS+=("PASS $name (${d}s)"); passed=$((passed + 1))
  elif [ $rc = 77 ]; then
    echo "--- SKIP  $name (${d}s)"; RESULTS+=("SKIP $name"); skipped=$((skipped + 1))
  else
    echo "--- FAIL  $name (${d}s)"; RESULTS+=("FAIL $name (${d}s)"); failed=$((failed + 1))
    [ "$name" = install-testing-overlay ] && install_ok=0
    # shellcheck disable=SC2086  # namespaces is a list
    diagnostics $namespaces 2>&1 | sed 's/^/    | /'
  fi
done
rm -rf "$LOGDIR"
cleanup            # before the summary, so that its last line is the closing line
trap - EXIT

echo
echo "e2e summary ($((SECONDS - T0))s in total):"
for r in "${RESULTS[@]}"; do echo "  $r"; done
[ "$skipped" = 0 ] || echo "  ($skipped skipped: see SKIP lines above)"
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
