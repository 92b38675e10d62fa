# shellcheck shell=bash
# Helpers for the end-to-end scenarios (sourced by run.sh). Every helper either succeeds or calls
# `fail`, which ends the current scenario (each scenario runs in its own subshell with set -e).

OP_NS="model-validation-operator-test"
OP_DEPLOY="model-validation-controller-manager"
OP_SELECTOR="control-plane=controller-manager"
MODEL_IMAGE="localhost/mv-e2e-models:e2e"
VERIFIER_IMAGE="localhost/model-verifier:testing"
POD_LABEL="validation.ml.sigstore.dev/ml"
IGNORE_LABEL="validation.ml.sigstore.dev/ignore"
ENFORCE_LABEL="validation.ml.sigstore.dev/enforce"
INIT_NAME="model-validation"
E2E_NS_LABEL="mv-e2e=true"     # every namespace the suite creates carries it (cleanup)
# what every container of the suite's pods sets: with the pod's securityContext, the
# "restricted" Pod Security Standard
RESTRICTED='{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "  - $*" >&2; }

# k ARGS...: kubectl with a request timeout, so a hung call cannot hang the suite
k() { kubectl --request-timeout=30s "$@"; }

# server_minor: the API server's minor version (37 for v1.37.2)
server_minor() { k version -o json 2>/dev/null | python3 -c 'import json, re, sys; print(re.sub(r"\D", "", json.load(sys.stdin)["serverVersion"]["minor"]))'; }

# needs_minor N: the scenario needs Kubernetes >= 1.N; on an older (external) server it is
# SKIPPED, loudly. The local cluster is always new enough.
needs_minor() {
  local m; m="$(server_minor)"
  if [ -z "$m" ] || [ "$m" -lt "$1" ]; then
    echo "SKIP: needs Kubernetes >= 1.$1, the server is 1.$m"
    exit 77
  fi
}

# wait_until TIMEOUT_S DESCRIPTION CMD...: poll CMD (quietly) every second
wait_until() {
  local t="$1" desc="$2"; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out after ${t}s waiting for: $desc"
    sleep 1
  done
}

jp() { # RESOURCE-ARGS... JSONPATH (last argument)
  local path="${*: -1}"
  k get "${@:1:$#-1}" -o "jsonpath=$path"
}

# new_ns NAME [LABEL=VALUE...]: a fresh namespace with its default ServiceAccount
new_ns() {
  local ns="$1"; shift
  k delete namespace "$ns" --ignore-not-found --wait=true --timeout=120s >/dev/null
  k create namespace "$ns" >/dev/null
  k label namespace "$ns" "$E2E_NS_LABEL" "$@" --overwrite >/dev/null
  wait_until 60 "ServiceAccount default in $ns" k -n "$ns" get serviceaccount default
}

# mv_apply NS NAME METHOD MODEL [MODE]: a ModelValidation for /data/models/MODEL.
# METHOD: key | wrong-key | two-keys | certificate | sigstore | sigstore-wrong-identity |
#         sigstore-regexp | sigstore-near-miss
mv_apply() {
  local ns="$1" name="$2" method="$3" model="$4" mode="${5:-Enforce}" config
  case "$method" in
    key) config="publicKeyConfig: {keyPath: /data/keys/key.pub}" ;;
    wrong-key) config="publicKeyConfig: {keyPath: /data/keys/wrong.pub}" ;;
    two-keys) config="publicKeyConfig: {keyPath: /data/keys/key.pub, keyPaths: [/data/keys/wrong.pub]}" ;;
    certificate) config="pkiConfig: {certificateAuthority: /data/keys/ca-root.pem}" ;;
    sigstore|sigstore-wrong-identity)
      local id="stefanb@us.ibm.com"
      [ "$method" = sigstore ] || id="someone@example.com"
      config="sigstoreConfig: {certificateIdentity: \"$id\", certificateOidcIssuer: \"https://sigstore.verify.ibm.com/oauth2\"}
    clientTrustConfig: {trustConfigPath: /data/keys/trust_config.json}" ;;
    sigstore-regexp|sigstore-near-miss)
      # the vector's identity is stefanb@us.ibm.com; the near miss would match a prefix of it if
      # regular expressions were not anchored
      local re='[a-z]+@us\\.ibm\\.com'
      [ "$method" = sigstore-regexp ] || re='stefanb@us\\.ibm'
      config="sigstoreConfig: {identities: [{certificateIdentityRegExp: \"$re\", certificateOidcIssuerRegExp: \"https://sigstore\\\\.verify\\\\.ibm\\\\.com/.*\"}]}
    clientTrustConfig: {trustConfigPath: /data/keys/trust_config.json}" ;;
    *) fail "mv_apply: unknown method $method" ;;
  esac
  k apply -f - >/dev/null <<EOF
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata:
  name: $name
  namespace: $ns
spec:
  model:
    path: /data/models/$model
  config:
    $config
  mode: $mode
  imagePullPolicy: IfNotPresent
EOF
}

# pod_yaml NS NAME LABEL_VALUE [RESTART_POLICY]: the model-server pattern: an init container copies
# the model (and keys) from the model image into an emptyDir; the server mounts it read-only.
# LABEL_VALUE "-" means no label.
pod_yaml() {
  local ns="$1" name="$2" label="$3" restart="${4:-Never}" labels=""
  [ "$label" = "-" ] || labels="labels: {$POD_LABEL: \"$label\"}"
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $ns
  $labels
spec:
  restartPolicy: $restart
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  initContainers:
  - name: fetch-model
    image: $MODEL_IMAGE
    imagePullPolicy: Never
    command: ["/bin/busybox", "cp", "-R", "/payload/.", "/data/"]
    securityContext: $RESTRICTED
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: server
    image: $MODEL_IMAGE
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    securityContext: $RESTRICTED
    volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
  volumes: [{name: data, emptyDir: {}}]
EOF
}

# pod_create NS NAME LABEL_VALUE [RESTART_POLICY]: create and succeed, or fail with the server's message
pod_create() {
  local out
  out="$(pod_yaml "$@" | k create -f - 2>&1)" || fail "creating pod $1/$2 was refused: $out"
}

# pod_create_denied NS NAME LABEL_VALUE EXPECTED_TEXT...: creation must be refused, and the
# message must contain every EXPECTED_TEXT
pod_create_denied() {
  local ns="$1" name="$2" label="$3" out; shift 3
  if out="$(pod_yaml "$ns" "$name" "$label" | k create -f - 2>&1)"; then
    k -n "$ns" delete pod "$name" --wait=false >/dev/null 2>&1 || true
    fail "pod $ns/$name was admitted, expected a denial"
  fi
  note "denied: $out"
  local want
  for want in "$@"; do
    grep -qiF -- "$want" <<<"$out" || fail "the denial does not mention '$want': $out"
  done
}

# dry_run_denied NS NAME LABEL_VALUE: a server-side dry run of the pod is refused
dry_run_denied() { ! pod_yaml "$@" | k create --dry-run=server -f - >/dev/null 2>&1; }

init_names() { jp -n "$1" pod "$2" '{range .spec.initContainers[*]}{.name}{" "}{end}'; }

expect_injected() { # NS POD
  local names; names="$(init_names "$1" "$2")"
  [ "$(awk '{print $NF}' <<<"$names")" = "$INIT_NAME" ] \
    || fail "pod $1/$2: expected $INIT_NAME as the last init container, got: $names"
  local sc
  sc="$(jp -n "$1" pod "$2" "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].securityContext}")"
  grep -q '"readOnlyRootFilesystem":true' <<<"$sc" || fail "injected container is not read-only: $sc"
  grep -q '"allowPrivilegeEscalation":false' <<<"$sc" || fail "injected container allows privilege escalation: $sc"
  local ro
  ro="$(jp -n "$1" pod "$2" "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].volumeMounts[*].readOnly}")"
  [ -n "$ro" ] && ! grep -q false <<<"$ro" || fail "injected container has a writable mount: $ro"
}

expect_not_injected() { # NS POD
  local names; names="$(init_names "$1" "$2")"
  ! grep -qw "$INIT_NAME" <<<"$names" || fail "pod $1/$2 was injected (init containers: $names)"
}

pod_phase() { jp -n "$1" pod "$2" '{.status.phase}'; }
phase_is() { [ "$(pod_phase "$1" "$2")" = "$3" ]; }
init_exit() { jp -n "$1" pod "$2" "{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].state.terminated.exitCode}"; }
init_message() { jp -n "$1" pod "$2" "{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].state.terminated.message}"; }
server_started() { # the main container has run at some point
  local s; s="$(jp -n "$1" pod "$2" '{.status.containerStatuses[0].state.running.startedAt}{.status.containerStatuses[0].state.terminated.startedAt}')"
  [ -n "$s" ]
}

# event_for NS KIND NAME REASON: an Event with REASON about the object exists; prints its message
event_for() {
  k -n "$1" get events --field-selector "involvedObject.kind=$2,involvedObject.name=$3,reason=$4" \
    -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' 2>/dev/null | grep .
}

expect_event() { # NS KIND NAME REASON [TEXT]
  wait_until 90 "Event $4 on $2 $1/$3" event_for "$1" "$2" "$3" "$4"
  local msg; msg="$(event_for "$1" "$2" "$3" "$4")"
  note "event $4 on $2 $3: $msg"
  if [ -n "${5:-}" ]; then grep -qiF -- "$5" <<<"$msg" || fail "Event $4 on $2 $3 does not mention '$5': $msg"; fi
}

mv_count() { jp -n "$1" modelvalidation "$2" "{.status.$3}"; }
count_at_least() { local v; v="$(mv_count "$1" "$2" "$3")"; [ -n "$v" ] && [ "$v" -ge "$4" ]; }
count_is() { [ "$(mv_count "$1" "$2" "$3")" = "$4" ]; }
expect_count() { # NS MV FIELD MIN
  wait_until 90 "ModelValidation $1/$2 status.$3 >= $4 (now: $(mv_count "$1" "$2" "$3" 2>/dev/null))" count_at_least "$@"
}

# expect_verified NS POD MV: injected, verification passed, the server runs, status and Event say so
expect_verified() {
  local ns="$1" pod="$2" mv="$3"
  expect_injected "$ns" "$pod"
  wait_until 180 "pod $ns/$pod Running" phase_is "$ns" "$pod" Running
  [ "$(init_exit "$ns" "$pod")" = 0 ] || fail "$INIT_NAME exited $(init_exit "$ns" "$pod")"
  note "termination message: $(init_message "$ns" "$pod")"
  expect_event "$ns" Pod "$pod" ModelVerified
  expect_count "$ns" "$mv" injectedPodCount 1
  expect_count "$ns" "$mv" verifiedPodCount 1
}

# expect_blocked NS POD MV TEXT: injected, verification failed, the server never started, and the
# init container's log and the Event both name the reason (TEXT)
expect_blocked() {
  local ns="$1" pod="$2" mv="$3" text="$4"
  expect_injected "$ns" "$pod"
  wait_until 180 "pod $ns/$pod Failed" phase_is "$ns" "$pod" Failed
  local code; code="$(init_exit "$ns" "$pod")"
  [ -n "$code" ] && [ "$code" != 0 ] || fail "$INIT_NAME exit code '$code', expected a failure"
  ! server_started "$ns" "$pod" || fail "the main container of $ns/$pod started although verification failed"
  local logs; logs="$(k -n "$ns" logs "$pod" -c "$INIT_NAME" 2>&1 || true)"
  note "$INIT_NAME log: $(tail -3 <<<"$logs")"
  grep -qiF -- "$text" <<<"$logs" || fail "the $INIT_NAME log does not name the reason ('$text'): $logs"
  expect_event "$ns" Pod "$pod" ModelVerificationFailed "$text"
  expect_count "$ns" "$mv" failedPodCount 1
}

operator_pod() { jp -n "$OP_NS" pods -l "$OP_SELECTOR" --field-selector=status.phase=Running '{.items[0].metadata.name}'; }

operator_ready() {
  k -n "$OP_NS" rollout status "deployment/$OP_DEPLOY" --timeout=5s
  # the webhook Service has a ready endpoint
  [ -n "$(jp -n "$OP_NS" endpoints model-validation-webhook '{.subsets[0].addresses[0].ip}')" ]
}

# diagnostics NS...: what a human needs when a scenario fails
diagnostics() {
  echo "---- operator logs ($OP_NS)"
  k -n "$OP_NS" logs -l "$OP_SELECTOR" --all-containers --tail=120 --prefix 2>&1 || true
  echo "---- operator pods"
  k -n "$OP_NS" get pods -o wide 2>&1 || true
  local ns
  for ns in "$@"; do
    k get namespace "$ns" >/dev/null 2>&1 || continue
    echo "---- ModelValidations in $ns"
    k -n "$ns" get modelvalidations -o yaml 2>&1 | sed -n '/^  status:/,/^- /p' | head -60 || true
    echo "---- pods in $ns"
    k -n "$ns" describe pods 2>&1 | head -150 || true
    echo "---- events in $ns"
    k -n "$ns" get events --sort-by=.lastTimestamp 2>&1 | tail -30 || true
  done
}
