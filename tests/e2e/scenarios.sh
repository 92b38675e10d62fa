# shellcheck shell=bash
# The end-to-end scenarios (issue 8), sourced by run.sh. Each `scenario_*` function runs in its
# own subshell with `set -e`; it passes when it returns 0. Namespaces are named after the
# scenario, so the diagnostics printed on failure find them (see SCENARIO_NAMESPACES).

REPO="${REPO:?}"
TESTING="$REPO/config/overlays/testing"
MWC="model-validation-mutating-webhook-configuration"

# The scenarios, in order (name function namespaces...)
SCENARIOS=(
  "upstream-operator-switch scenario_upstream_switch e2e-upstream"
  "install-testing-overlay scenario_install"
  "key-signed-model-verified scenario_key_verified e2e-key"
  "metrics-and-probes scenario_metrics e2e-metrics"
  "tampered-and-unsigned-blocked scenario_tampered_unsigned e2e-bad"
  "certificate-chain-verified scenario_certificate e2e-cert"
  "sigstore-verified-and-wrong-identity scenario_sigstore e2e-sigstore"
  "warn-mode-reports-and-runs scenario_warn e2e-warn"
  "label-true-single-and-several scenario_label_true e2e-any"
  "missing-cr-denied scenario_missing_cr e2e-missing"
  "ignored-namespace-untouched scenario_ignored_ns e2e-ignored"
  "deleted-cr-never-blocks-pods scenario_deleted_cr e2e-deleted"
  "operator-restart-rebuilds-status scenario_restart e2e-key"
  "uninjected-pod-reported scenario_uninjected e2e-uninjected"
  "webhook-certificate-rotation scenario_rotation e2e-rotation"
  "two-replicas-leader-failover scenario_ha e2e-ha"
  "verifier-image-replaces-model-signing-cli scenario_dropin e2e-dropin"
  "crd-cel-rules-enforced-by-api-server scenario_cel e2e-cel"
  "pod-security-restricted-namespace scenario_psa_restricted e2e-psa"
  "deployment-two-replicas-verified scenario_deployment e2e-deploy"
  "deployment-missing-cr-failedcreate scenario_deployment_denied e2e-deploy-denied"
  "several-signers-keys-and-identity-regexp scenario_several_signers e2e-signers"
  "required-namespace-and-pod-selector scenario_required_namespace e2e-required"
  "native-sidecar-and-download-init scenario_native_sidecar e2e-sidecar"
  "image-volume-by-digest scenario_image_volume e2e-imgvol"
  "verify-once-per-digest scenario_digest_cache e2e-digest"
  "spec-change-moves-observed-generation scenario_observed_generation e2e-generation"
  "continuous-validation-drift-and-restore scenario_continuous e2e-continuous"
  "development-overlay scenario_development"
  "production-and-olm-dry-run scenario_dry_run"
)

# --- 1. install -------------------------------------------------------------------------------
scenario_install() {
  # kubectl's schema validation stays on (no --validate=false): the server knows the CRD's CEL rules.
  "$REPO/config/components/manual-tls/generate-certs.sh"
  # a previous run's uninstall may still be finalizing the namespace
  if [ "$(jp namespace "$OP_NS" '{.status.phase}' 2>/dev/null)" = Terminating ]; then
    k wait --for=delete "namespace/$OP_NS" --timeout=180s
  fi
  k apply -k "$TESTING"
  k wait --for=condition=Established --timeout=60s crd/modelvalidations.ml.sigstore.dev
  wait_until 180 "operator Deployment available and webhook endpoint ready" operator_ready
  # the controller runs on the Lease holder: wait for it, so that the first scenarios do not race
  # a leader hand-over after a re-install (verifications finished while no replica led are
  # counted in status, but get no Event)
  wait_until 60 "a running operator replica holds the Lease" holder_is_running_replica none
  local bundle; bundle="$(jp mutatingwebhookconfiguration model-validation-mutating-webhook-configuration '{.webhooks[0].clientConfig.caBundle}')"
  [ -n "$bundle" ] || fail "the webhook has no caBundle after apply"
  note "operator pod $(operator_pod) ready"
}

# --- 0. switching from the upstream operator (issue 14) -----------------------------------------
UPSTREAM="$REPO/tests/e2e/upstream"

# upstream_pod NAME [EXTRA_FINALIZER]: a pod as the upstream operator left it: labelled for
# ModelValidation "up-key", its finalizer, its annotations, an init container "model-validation"
# (here a no-op standing in for its agent, which ran and exited 0)
upstream_pod() {
  local name="$1" extra="${2:-}"
  pod_yaml e2e-upstream "$name" up-key Always | python3 -c '
import sys, yaml
pod = yaml.safe_load(sys.stdin)
meta = pod["metadata"]
meta["finalizers"] = ([sys.argv[1]] if sys.argv[1] else []) + ["validation.ml.sigstore.dev/finalizer"]
meta["annotations"] = {
    "validation.ml.sigstore.dev/injected-at": "2026-11-30T10:00:00Z",
    "validation.ml.sigstore.dev/auth-method": "public-key",
    "validation.ml.sigstore.dev/config-hash": "0f1e2d3c4b5a6978",
    "validation.ml.sigstore.dev/continuous-validation": "false",
}
pod["spec"]["initContainers"].append({
    "name": "model-validation", "image": pod["spec"]["containers"][0]["image"], "imagePullPolicy": "Never",
    "command": ["/bin/busybox", "true"],
    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]})
print(yaml.safe_dump(pod))' "$extra"
}

finalizers_are() { [ "$(jp -n e2e-upstream pod "$1" '{.metadata.finalizers}')" = "$2" ]; }
ready_reason_is() { [ "$(jp -n e2e-upstream modelvalidation "$1" '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')" = "$2" ]; }
pod_gone() { ! k -n e2e-upstream get pod "$1" >/dev/null 2>&1; }
pod_lists_gone() { [ -z "$(jp -n e2e-upstream modelvalidation "$1" '{.status.injectedPods}{.status.uninjectedPods}{.status.orphanedPods}')" ]; }

# Before this operator is installed, the cluster holds what the upstream operator left: its CRD,
# ModelValidations in its 2026 API with a status listing pods, and pods with its finalizer and
# annotations (one already terminating). After the install the operator is ready, the old pods
# delete cleanly (only upstream's finalizer is removed), new pods are injected and verified, and
# upstream's sample ModelValidations apply unchanged.
scenario_upstream_switch() {
  # a clean slate: no operator of this project, no CRD (a reused cluster may have them)
  if k get crd modelvalidations.ml.sigstore.dev >/dev/null 2>&1; then
    note "removing an earlier install first"
    k delete --ignore-not-found -k "$TESTING" --wait=false >/dev/null 2>&1 || true
    k wait --for=delete crd/modelvalidations.ml.sigstore.dev --timeout=180s
  fi
  ! k get mutatingwebhookconfigurations "$MWC" >/dev/null 2>&1 || fail "a webhook of this operator is still installed"
  k apply -f "$UPSTREAM/crd.yaml" >/dev/null
  k wait --for=condition=Established --timeout=60s crd/modelvalidations.ml.sigstore.dev
  new_ns e2e-upstream
  local sig=/data/models/key-signed/model.sig
  k apply -n e2e-upstream -f - >/dev/null <<EOF
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata: {name: up-key}
spec:
  model: {path: /data/models/key-signed, signaturePath: $sig, ignoreGitPaths: true, ignoreUnsignedFiles: false, allowSymlinks: false}
  config: {publicKeyConfig: {keyPath: /data/keys/key.pub}}
  imagePullPolicy: IfNotPresent
  continuousValidation: {enabled: false, interval: 5m}
---
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata: {name: up-continuous}
spec:
  model: {path: /data/models/key-signed, signaturePath: $sig}
  config: {publicKeyConfig: {keyPath: /data/keys/key.pub}}
  continuousValidation: {enabled: true, interval: 10m}
---
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata: {name: up-remote}
spec:
  model: {path: "s3://models/key-signed", signaturePath: "s3://models/key-signed/model.sig"}
  config: {publicKeyConfig: {keyPath: /data/keys/key.pub}}
EOF
  local entry='{"uid":"00000000-0000-0000-0000-00000000000a","injectedAt":"2026-11-30T10:00:00Z"'
  local status='{"status":{"injectedPodCount":2,"uninjectedPodCount":1,"orphanedPodCount":1,"authMethod":"public-key",'
  status+='"injectedPods":[{"name":"old-a",'"${entry#\{}"'},{"name":"old-b",'"${entry#\{}"'}],'
  status+='"uninjectedPods":[{"name":"old-u",'"${entry#\{}"'}],"orphanedPods":[{"name":"old-o",'"${entry#\{}"'}],'
  status+='"lastUpdated":"2026-11-30T10:00:00Z","conditions":[]}}'
  local mv
  for mv in up-key up-continuous up-remote; do
    k -n e2e-upstream patch modelvalidation "$mv" --subresource=status --type=merge -p "$status" >/dev/null
  done
  [ "$(jp -n e2e-upstream modelvalidation up-key '{.status.injectedPods[1].name}')" = old-b ] || fail "the upstream-shaped status was not stored"
  upstream_pod old-a | k create -f - >/dev/null
  upstream_pod old-b | k create -f - >/dev/null
  upstream_pod old-terminating | k create -f - >/dev/null
  upstream_pod old-shared e2e.example.com/keep | k create -f - >/dev/null
  wait_until 120 "the upstream-era pod old-a Running" phase_is e2e-upstream old-a Running
  k -n e2e-upstream delete pod old-terminating --wait=false >/dev/null
  sleep 5
  k -n e2e-upstream get pod old-terminating >/dev/null 2>&1 || fail "old-terminating is gone although it carries upstream's finalizer"
  note "upstream state stored; old-terminating hangs in Terminating"

  scenario_install

  # the stored status does not break the operator: it is ready and rewrites the status as counts
  wait_until 90 "up-key Ready=True/Valid" ready_reason_is up-key True/Valid
  wait_until 60 "up-key's pod lists removed" pod_lists_gone up-key
  note "up-key status: $(jp -n e2e-upstream modelvalidation up-key '{.status}')"
  wait_until 60 "up-key counts the upstream-injected pods as orphaned" count_at_least e2e-upstream up-key orphanedPodCount 3
  wait_until 60 "up-continuous Ready=True (continuous validation)" ready_reason_is up-continuous True/Valid
  wait_until 60 "up-remote Ready=False (remote path)" ready_reason_is up-remote False/UnsupportedRemoteLocation
  note "up-continuous: $(jp -n e2e-upstream modelvalidation up-continuous '{.status.conditions[?(@.type=="Ready")].message}')"
  # upstream's finalizer is removed, nothing else
  wait_until 60 "old-terminating deleted" pod_gone old-terminating
  wait_until 60 "old-shared keeps only the foreign finalizer" finalizers_are old-shared '["e2e.example.com/keep"]'
  k -n e2e-upstream patch pod old-shared --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
  local p
  for p in old-a old-b old-shared; do
    k -n e2e-upstream delete pod "$p" --wait=true --timeout=60s >/dev/null || fail "pod $p did not delete cleanly"
  done
  # new pods: injected by this operator and verified
  pod_create e2e-upstream new up-key
  expect_verified e2e-upstream new up-key
  wait_until 60 "no orphaned pods left" count_is e2e-upstream up-key orphanedPodCount 0
  # a pod for a ModelValidation whose model is remote: denied with the reason
  pod_create_denied e2e-upstream remote up-remote "not supported"
  # upstream's samples apply unchanged, with kubectl's default (strict) field validation
  k -n e2e-upstream apply -f "$UPSTREAM/samples.yaml" || fail "upstream's sample ModelValidations do not apply"
  k -n e2e-upstream get modelvalidations
  metrics_text | grep '^model_validation_operator_modelvalidation_pod_count{namespace="e2e-upstream",model_validation="up-key",pod_state="injected"}' >/dev/null \
    || fail "upstream's metric model_validation_operator_modelvalidation_pod_count is missing"
}

# --- 2. public key ----------------------------------------------------------------------------
scenario_key_verified() {
  new_ns e2e-key
  mv_apply e2e-key key key key-signed
  pod_create e2e-key signed key
  expect_verified e2e-key signed key
  [ "$(jp -n e2e-key modelvalidation key '{.status.authMethod}')" != "" ] || fail "status.authMethod is empty"
}

# metrics (through the API server's service proxy, so it works on any cluster) and probes
# (whole output read by grep: grep -q would stop early, kubectl get SIGPIPE, and pipefail fail the check)
metrics_text() { k get --raw "/api/v1/namespaces/$OP_NS/services/model-validation-metrics:8080/proxy/metrics"; }
# metric_value NAME LABELS: the sample's value, 0 when the series does not exist yet
metric_value() {
  metrics_text | awk -v m="$1{$2}" '$1 == m {v = $2} END {print (v == "" ? 0 : v)}'
}
metric_above() { awk -v a="$(metric_value "$1" "$2")" -v b="$3" 'BEGIN {exit !(a > b)}'; }

scenario_metrics() {
  local pod; pod="$(operator_pod)"
  [ "$(k get --raw "/api/v1/namespaces/$OP_NS/pods/$pod:8081/proxy/healthz")" = ok ] || fail "/healthz is not ok"
  [ "$(k get --raw "/api/v1/namespaces/$OP_NS/pods/$pod:8081/proxy/readyz")" = ok ] || fail "/readyz is not ok"
  local verified injected
  verified="$(metric_value model_validation_verifications_total 'method="key",outcome="verified"')"
  injected="$(metric_value model_validation_admission_requests_total 'result="injected"')"
  note "before: verifications(key, verified)=$verified admissions(injected)=$injected"
  new_ns e2e-metrics
  mv_apply e2e-metrics key key key-signed
  pod_create e2e-metrics signed key
  expect_verified e2e-metrics signed key
  wait_until 60 "verifications counter above $verified" metric_above model_validation_verifications_total 'method="key",outcome="verified"' "$verified"
  metric_above model_validation_admission_requests_total 'result="injected"' "$injected" || fail "the injected-admissions counter did not move"
  metrics_text | grep '^model_validation_admission_duration_seconds_bucket' >/dev/null || fail "no admission latency histogram"
  note "after: verifications(key, verified)=$(metric_value model_validation_verifications_total 'method="key",outcome="verified"') admissions(injected)=$(metric_value model_validation_admission_requests_total 'result="injected"')"
}

# --- 3. tampered and unsigned ------------------------------------------------------------------
scenario_tampered_unsigned() {
  new_ns e2e-bad
  mv_apply e2e-bad tampered key key-tampered
  mv_apply e2e-bad unsigned key unsigned
  pod_create e2e-bad tampered tampered
  pod_create e2e-bad unsigned unsigned
  expect_blocked e2e-bad tampered tampered weights.bin     # the file whose digest differs
  expect_blocked e2e-bad unsigned unsigned model.sig       # the signature that is missing
}

# --- 4. certificate chain, Sigstore ------------------------------------------------------------
scenario_certificate() {
  new_ns e2e-cert
  mv_apply e2e-cert chain certificate cert-signed
  pod_create e2e-cert signed chain
  expect_verified e2e-cert signed chain
}

scenario_sigstore() {
  new_ns e2e-sigstore
  mv_apply e2e-sigstore genuine sigstore sigstore
  mv_apply e2e-sigstore wrong-identity sigstore-wrong-identity sigstore
  pod_create e2e-sigstore genuine genuine
  pod_create e2e-sigstore impostor wrong-identity
  expect_verified e2e-sigstore genuine genuine
  expect_blocked e2e-sigstore impostor wrong-identity someone@example.com
}

# --- 5. Warn ------------------------------------------------------------------------------------
scenario_warn() {
  new_ns e2e-warn
  mv_apply e2e-warn warn key key-tampered Warn
  pod_create e2e-warn tampered warn
  expect_injected e2e-warn tampered
  wait_until 180 "pod e2e-warn/tampered Running (Warn mode)" phase_is e2e-warn tampered Running
  [ "$(init_exit e2e-warn tampered)" = 0 ] || fail "Warn mode: $INIT_NAME exited $(init_exit e2e-warn tampered), expected 0"
  expect_event e2e-warn Pod tampered ModelVerificationFailed weights.bin
  expect_count e2e-warn warn failedPodCount 1
}

# --- 6. label semantics, CR lifecycle, operator lifecycle ---------------------------------------
scenario_label_true() {
  new_ns e2e-any
  mv_apply e2e-any alpha-mv key key-signed
  pod_create e2e-any by-true true
  expect_verified e2e-any by-true alpha-mv
  # a second ModelValidation makes "true" ambiguous: creation is denied, naming the candidates
  mv_apply e2e-any beta-mv key key-signed
  wait_until 30 "the webhook sees the second ModelValidation" dry_run_denied e2e-any probe true
  pod_create_denied e2e-any ambiguous true alpha-mv beta-mv
}

scenario_missing_cr() {
  new_ns e2e-missing
  pod_create_denied e2e-missing orphan does-not-exist does-not-exist
  # "true" with no ModelValidation at all is denied too
  pod_create_denied e2e-missing none true ModelValidation
}

scenario_ignored_ns() {
  new_ns e2e-ignored "$IGNORE_LABEL=true"
  mv_apply e2e-ignored key key key-tampered
  pod_create e2e-ignored labelled key
  expect_not_injected e2e-ignored labelled
  wait_until 120 "pod e2e-ignored/labelled Running" phase_is e2e-ignored labelled Running
}

scenario_deleted_cr() {
  new_ns e2e-deleted
  mv_apply e2e-deleted key key key-signed
  pod_create e2e-deleted signed key Always
  expect_verified e2e-deleted signed key
  k -n e2e-deleted delete modelvalidation key --wait=true --timeout=60s
  # UPDATE and DELETE of an injected pod whose ModelValidation is gone are never blocked
  k -n e2e-deleted label pod signed relabelled=yes --overwrite
  k -n e2e-deleted annotate pod signed e2e/touched=yes --overwrite
  k -n e2e-deleted label pod signed "$POD_LABEL-" 
  k -n e2e-deleted delete pod signed --wait=true --timeout=60s
}

scenario_restart() {
  # needs the verified pod of key-signed-model-verified
  local want; want="$(mv_count e2e-key key verifiedPodCount)"
  [ -n "$want" ] && [ "$want" -ge 1 ] || fail "precondition: e2e-key/key has no verified pod (verifiedPodCount='$want')"
  local old; old="$(operator_pod)"
  k -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=0
  k -n "$OP_NS" wait --for=delete "pod/$old" --timeout=90s
  # with the webhook down, failurePolicy Fail keeps unverified pods out
  if out="$(pod_yaml e2e-key while-down key | k create -f - 2>&1)"; then
    fail "a labelled pod was admitted while the webhook was down"
  fi
  note "webhook down, creation refused: $out"
  # wipe the status while nobody runs; the restarted operator must rebuild it from the pods
  k -n e2e-key patch modelvalidation key --subresource=status --type=merge \
    -p '{"status":{"injectedPodCount":0,"verifiedPodCount":0,"failedPodCount":0}}'
  [ "$(mv_count e2e-key key verifiedPodCount)" = 0 ] || fail "could not reset the status"
  k -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=1
  wait_until 180 "operator ready after restart" operator_ready
  wait_until 120 "status rebuilt (verifiedPodCount back to $want)" count_is e2e-key key verifiedPodCount "$want"
  # and it works again: a new pod is injected and verified
  pod_create e2e-key after-restart key
  expect_injected e2e-key after-restart
  wait_until 180 "pod e2e-key/after-restart Running" phase_is e2e-key after-restart Running
}

set_failure_policy() {
  k patch mutatingwebhookconfiguration "$MWC" --type=json -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/failurePolicy\",\"value\":\"$1\"}]" >/dev/null
}

# A labelled pod that slipped through un-injected (webhook down with failurePolicy Ignore) is
# reported: a ModelValidationNotInjected Event and the uninjectedPodCount count.
scenario_uninjected() {
  trap 'set_failure_policy Fail; kubectl -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=1 >/dev/null 2>&1' EXIT
  new_ns e2e-uninjected
  mv_apply e2e-uninjected key key key-signed
  set_failure_policy Ignore
  local old; old="$(operator_pod)"
  k -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=0
  k -n "$OP_NS" wait --for=delete "pod/$old" --timeout=90s
  pod_create e2e-uninjected slipped key
  expect_not_injected e2e-uninjected slipped
  set_failure_policy Fail
  k -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=1
  wait_until 180 "operator ready" operator_ready
  expect_event e2e-uninjected Pod slipped ModelValidationNotInjected
  expect_count e2e-uninjected key uninjectedPodCount 1
  [ "$(jp mutatingwebhookconfiguration "$MWC" '{.webhooks[0].failurePolicy}')" = Fail ] || fail "failurePolicy not restored"
}

serving_serial() { # the serial number of the certificate the operator serves right now
  local ip; ip="$(jp -n "$OP_NS" pod "$1" '{.status.podIP}')"
  openssl s_client -connect "$ip:9443" -servername "model-validation-webhook.$OP_NS.svc" </dev/null 2>/dev/null \
    | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

serial_is() { [ "$(serving_serial "$1")" = "$2" ]; }

scenario_rotation() {
  new_ns e2e-rotation
  mv_apply e2e-rotation key key key-signed
  local pod uid restarts before after
  pod="$(operator_pod)"
  uid="$(jp -n "$OP_NS" pod "$pod" '{.metadata.uid}')"
  restarts="$(jp -n "$OP_NS" pod "$pod" '{.status.containerStatuses[0].restartCount}')"
  before="$(serving_serial "$pod")"
  # a new serving certificate from the same CA (the caBundle stays valid), applied in place
  "$REPO/config/components/manual-tls/generate-certs.sh"
  after="$(openssl x509 -in "$REPO/config/components/manual-tls/certs/tls.crt" -noout -serial | cut -d= -f2)"
  [ "$before" != "$after" ] || fail "generate-certs.sh did not issue a new certificate"
  k apply -k "$TESTING" >/dev/null
  if [ -n "$before" ]; then
    note "serving serial $before, waiting for $after (the kubelet refreshes Secret volumes within ~1-2 min)"
    wait_until 240 "the operator serves the rotated certificate" serial_is "$pod" "$after"
  else
    note "the operator pod IP is not reachable from here; checking admission only"
    sleep 90
  fi
  [ "$(jp -n "$OP_NS" pod "$pod" '{.metadata.uid}')" = "$uid" ] || fail "the operator pod was replaced"
  [ "$(jp -n "$OP_NS" pod "$pod" '{.status.containerStatuses[0].restartCount}')" = "$restarts" ] || fail "the operator restarted"
  pod_create e2e-rotation after-rotation key
  expect_verified e2e-rotation after-rotation key
}

lease_holder() { jp -n "$OP_NS" lease model-validation-operator '{.spec.holderIdentity}'; }
# holder_is_running_replica EXCEPT: the Lease holder is a running, not terminating operator pod
# other than EXCEPT
holder_is_running_replica() {
  local h; h="$(lease_holder)"
  [ -n "$h" ] && [ "$h" != "$1" ] \
    && [ "$(jp -n "$OP_NS" pod "$h" '{.status.phase}/{.metadata.deletionTimestamp}')" = Running/ ]
}

# HA as in production: two replicas serve the webhook, the Lease holder runs the controller; when
# the holder goes away the other replica takes over and keeps status and Events coming.
scenario_ha() {
  trap 'kubectl -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=1 >/dev/null 2>&1' EXIT
  k -n "$OP_NS" scale "deployment/$OP_DEPLOY" --replicas=2
  wait_until 180 "two operator replicas ready" \
    bash -c "[ \"\$(kubectl -n $OP_NS get deployment $OP_DEPLOY -o jsonpath='{.status.readyReplicas}')\" = 2 ]"
  [ "$(jp -n "$OP_NS" endpoints model-validation-webhook '{.subsets[0].addresses[*].ip}' | wc -w)" = 2 ] \
    || fail "the webhook Service does not have both replicas as endpoints"
  wait_until 60 "a Lease holder" holder_is_running_replica none
  local leader; leader="$(lease_holder)"
  note "leader: $leader"
  k -n "$OP_NS" delete pod "$leader" --wait=true --timeout=90s
  wait_until 120 "another replica holds the Lease" holder_is_running_replica "$leader"
  note "new leader: $(lease_holder)"
  new_ns e2e-ha
  mv_apply e2e-ha key key key-signed
  pod_create e2e-ha after-failover key
  expect_verified e2e-ha after-failover key
}

# The verifier image as a drop-in for the Python CLI image in deployments of the upstream operator:
# command /usr/local/bin/model_signing with the arguments upstream injects (its spelling).
scenario_dropin() {
  new_ns e2e-dropin
  local model args
  for model in key-signed key-tampered; do
    args='["verify", "key", "--signature=/data/models/'$model'/model.sig", "--public_key", "/data/keys/key.pub", "/data/models/'$model'"]'
    pod_yaml e2e-dropin "$model" - Never | python3 -c '
import sys, yaml
pod = yaml.safe_load(sys.stdin)
pod["spec"]["initContainers"].append({
    "name": "model-transparency", "image": sys.argv[1], "imagePullPolicy": "IfNotPresent",
    "command": ["/usr/local/bin/model_signing"], "args": yaml.safe_load(sys.argv[2]),
    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]})
print(yaml.safe_dump(pod))' "$VERIFIER_IMAGE" "$args" | k create -f - >/dev/null
  done
  wait_until 120 "the signed model's pod Running" phase_is e2e-dropin key-signed Running
  wait_until 120 "the tampered model's pod Failed" phase_is e2e-dropin key-tampered Failed
  local out; out="$(k -n e2e-dropin logs key-signed -c model-transparency)"
  [ "$out" = "Verification succeeded" ] || fail "model_signing-compatible output expected, got: $out"
  out="$(k -n e2e-dropin logs key-tampered -c model-transparency)"
  grep -q '^Verification failed with error: ' <<<"$out" || fail "model_signing-compatible failure expected, got: $out"
  note "$out"
}

# --- 7. the other overlays ----------------------------------------------------------------------
scenario_development() {
  # overlays are alternatives (they share cluster-scoped names): remove the testing install first
  # (namespaces finalize slowly on this cluster; only the cluster-scoped objects must be gone)
  k delete namespace -l "$E2E_NS_LABEL" --wait=false >/dev/null || true
  k delete --ignore-not-found -k "$TESTING" --wait=false
  k wait --for=delete crd/modelvalidations.ml.sigstore.dev --timeout=180s 2>/dev/null || true
  ! k get crd modelvalidations.ml.sigstore.dev >/dev/null 2>&1 || fail "the CRD of the testing install is still there"
  trap 'kubectl delete --ignore-not-found -k "$REPO/config/overlays/development" --wait=false >/dev/null 2>&1' EXIT
  k apply -k "$REPO/config/overlays/development"
  k wait --for=condition=Established --timeout=60s crd/modelvalidations.ml.sigstore.dev
  k -n model-validation-operator-dev rollout status deployment/model-validation-controller-manager --timeout=180s
  ! k get mutatingwebhookconfigurations model-validation-mutating-webhook-configuration >/dev/null 2>&1 \
    || fail "the development overlay installed a webhook"
  k delete -k "$REPO/config/overlays/development" --wait=true --timeout=180s
}

scenario_dry_run() {
  # Server-side dry run of the production and olm overlays, for the kinds this server serves
  # (cert-manager and OLM kinds are skipped, and said so).
  local o tmp served
  tmp="$(mktemp -d)"
  # "group/version" served, and "group/Kind" served (in some version)
  served="$(kubectl api-versions | tr '\n' ' ') $(kubectl api-resources --no-headers --verbs=create \
    | awk '{v = $(NF-2); g = (v ~ /\//) ? substr(v, 1, index(v, "/") - 1) : ""; print g "/" $NF}' | tr '\n' ' ')"
  for o in production olm; do
    kubectl kustomize "$REPO/config/overlays/$o" > "$tmp/$o.yaml"
    SERVED="$served" python3 - "$tmp/$o.yaml" "$tmp/$o-served.yaml" <<'EOF'
import os, sys, yaml
served = set(os.environ["SERVED"].split())
def is_served(d):
    api = d["apiVersion"]
    group = api.split("/")[0] if "/" in api else ""
    return api in served and f"{group}/{d['kind']}" in served
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
keep, skipped = [], []
for d in docs:
    (keep if is_served(d) else skipped).append(d)
yaml.safe_dump_all(keep, open(sys.argv[2], "w"))
for d in skipped:
    print(f"  - SKIPPED (not served by this cluster): {d['apiVersion']} {d['kind']} {d['metadata']['name']}", file=sys.stderr)
EOF
    local ns; ns="$(awk '/^namespace:/ {print $2}' "$REPO/config/overlays/$o/kustomization.yaml")"
    # the namespace must exist for a dry run of the objects inside it
    k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
    k apply --dry-run=server -f "$tmp/$o-served.yaml" || { k delete namespace "$ns" --wait=false >/dev/null; fail "server-side dry run of $o failed"; }
    k delete namespace "$ns" --wait=true --timeout=120s >/dev/null
  done
  rm -rf "$tmp"
}

# --- 8. current Kubernetes: CEL, Pod Security Admission, workloads, native sidecars, image volumes

# mv_create_denied NS NAME SPEC_YAML EXPECTED_TEXT: the API server itself refuses the
# ModelValidation (CRD schema and CEL rules), with EXPECTED_TEXT in its message
mv_create_denied() {
  local ns="$1" name="$2" spec="$3" want="$4" out
  if out="$(printf 'apiVersion: ml.sigstore.dev/v1alpha1\nkind: ModelValidation\nmetadata: {name: %s, namespace: %s}\nspec: %s\n' \
      "$name" "$ns" "$spec" | k create -f - 2>&1)"; then
    fail "ModelValidation $name was accepted, expected the API server to refuse it: $spec"
  fi
  grep -qF -- "$want" <<<"$out" || fail "the refusal of $name does not say '$want': $out"
  note "$name refused: $(grep -oF -- "$want" <<<"$out" | head -1)"
}

mv_create_ok() { # NS NAME SPEC_YAML
  local out
  out="$(printf 'apiVersion: ml.sigstore.dev/v1alpha1\nkind: ModelValidation\nmetadata: {name: %s, namespace: %s}\nspec: %s\n' \
    "$2" "$1" "$3" | k create -f - 2>&1)" || fail "a valid ModelValidation $2 was refused: $out"
}

scenario_cel() {
  new_ns e2e-cel
  local key='{publicKeyConfig: {keyPath: /k/key.pub}}' path='{path: /data/models/m}'
  local one="exactly one of sigstoreConfig, pkiConfig or publicKeyConfig"
  local abs="must be an absolute path (starting with /)"
  # name | spec | what the server says
  mv_create_denied e2e-cel two-methods "{model: $path, config: {publicKeyConfig: {keyPath: /k/key.pub}, pkiConfig: {certificateAuthority: /k/ca.pem}}}" "$one"
  mv_create_denied e2e-cel no-method "{model: $path, config: {}}" "$one"
  mv_create_denied e2e-cel both-spellings "{model: $path, config: {publicKeyConfig: {keyPath: /k/a.pub}, privateKeyConfig: {keyPath: /k/a.pub}}}" "privateKeyConfig is the deprecated spelling of publicKeyConfig"
  mv_create_denied e2e-cel relative-model "{model: {path: models/m}, config: $key}" "$abs"
  mv_create_denied e2e-cel relative-key "{model: $path, config: {publicKeyConfig: {keyPath: keys/key.pub}}}" "$abs"
  mv_create_denied e2e-cel relative-ignore "{model: {path: /m, ignorePaths: [/m/a, b]}, config: $key}" "every entry must be an absolute path"
  mv_create_denied e2e-cel bad-mode "{model: $path, config: $key, mode: Audit}" 'Unsupported value: "Audit"'
  # and valid ones are accepted
  mv_create_ok e2e-cel valid-key "{model: $path, config: $key, mode: Warn}"
  # upstream's API allows clientTrustConfig next to any method (only Sigstore reads it)
  mv_create_ok e2e-cel valid-trust-with-key "{model: $path, config: {publicKeyConfig: {keyPath: /k/key.pub}, clientTrustConfig: {trustConfigPath: /k/trust.json}}}"
  mv_create_ok e2e-cel valid-deprecated "{model: $path, config: {privateKeyConfig: {keyPath: /k/key.pub}}}"
  mv_create_ok e2e-cel valid-sigstore "{model: $path, config: {sigstoreConfig: {certificateIdentity: a@example.com, certificateOidcIssuer: 'https://accounts.google.com'}, clientTrustConfig: {trustConfigPath: /k/trust.json}}}"
  [ "$(k -n e2e-cel get modelvalidations -o name | wc -l)" = 4 ] || fail "expected exactly the 4 valid ModelValidations, got: $(k -n e2e-cel get modelvalidations -o name)"
}

scenario_psa_restricted() {
  new_ns e2e-psa pod-security.kubernetes.io/enforce=restricted
  mv_apply e2e-psa key key key-signed
  # Pod Security Admission is active: a pod that is not restricted-compliant is refused
  local out
  if out="$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: loose, namespace: e2e-psa}\nspec: {containers: [{name: c, image: %s, imagePullPolicy: Never}]}\n' "$MODEL_IMAGE" | k create -f - 2>&1)"; then
    fail "a pod violating the restricted standard was admitted: Pod Security Admission is not active"
  fi
  grep -q 'violates PodSecurity "restricted' <<<"$out" || fail "unexpected refusal: $out"
  note "PSA active: $(head -c 160 <<<"$out")"
  # the injected pod passes the restricted standard (PSA judges the pod after the webhook)
  pod_create e2e-psa signed key
  expect_verified e2e-psa signed key
}

# deploy_yaml NS NAME LABEL_VALUE REPLICAS: a Deployment whose pods are pod_yaml's
deploy_yaml() {
  pod_yaml "$1" "$2" "$3" Always | python3 -c '
import sys, yaml
pod = yaml.safe_load(sys.stdin)
name, replicas = sys.argv[1], int(sys.argv[2])
labels = dict(pod["metadata"].get("labels") or {}, app=name)
print(yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": name, "namespace": pod["metadata"]["namespace"]},
    "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
             "template": {"metadata": {"labels": labels}, "spec": pod["spec"]}}}))' "$2" "$4"
}

deployment_ready() { [ "$(jp -n "$1" deployment "$2" '{.status.readyReplicas}')" = "$3" ]; }

scenario_deployment() {
  new_ns e2e-deploy
  mv_apply e2e-deploy key key key-signed
  deploy_yaml e2e-deploy model-server key 2 | k apply -f - >/dev/null
  wait_until 240 "Deployment e2e-deploy/model-server has 2 ready replicas" deployment_ready e2e-deploy model-server 2
  local pods p
  pods="$(jp -n e2e-deploy pods -l app=model-server '{range .items[*]}{.metadata.name}{" "}{end}')"
  [ "$(wc -w <<<"$pods")" = 2 ] || fail "expected 2 pods, got: $pods"
  for p in $pods; do
    [ -n "$(jp -n e2e-deploy pod "$p" '{.metadata.generateName}')" ] || fail "pod $p has no generateName (not made by a ReplicaSet?)"
    expect_verified e2e-deploy "$p" key
  done
  wait_until 90 "both replicas counted (injectedPodCount and verifiedPodCount = 2)" \
    bash -c "[ \"\$(kubectl -n e2e-deploy get modelvalidation key -o jsonpath='{.status.injectedPodCount}/{.status.verifiedPodCount}')\" = 2/2 ]"
}

replicaset_of() { jp -n "$1" replicasets -l "app=$2" '{.items[0].metadata.name}'; }

scenario_deployment_denied() {
  new_ns e2e-deploy-denied
  # kubectl apply prints the webhook's warning, and the Deployment is created all the same
  local out
  out="$(deploy_yaml e2e-deploy-denied orphan does-not-exist 1 | k apply -f - 2>&1 >/dev/null)" \
    || fail "applying the Deployment was refused: $out"
  note "kubectl apply said: $out"
  grep -qF 'Warning: the pods of Deployment e2e-deploy-denied/orphan would be denied by the model-validation webhook: ModelValidation "does-not-exist" named by label' <<<"$out" \
    || fail "kubectl apply printed no warning about the missing ModelValidation: $out"
  wait_until 60 "the ReplicaSet of e2e-deploy-denied/orphan" replicaset_of e2e-deploy-denied orphan
  local rs; rs="$(replicaset_of e2e-deploy-denied orphan)"
  expect_event e2e-deploy-denied ReplicaSet "$rs" FailedCreate 'ModelValidation "does-not-exist" named by label'
  [ -z "$(jp -n e2e-deploy-denied pods -l app=orphan '{.items[*].metadata.name}')" ] || fail "a pod of the denied Deployment exists"
}

# --- policy (issue 17) ----------------------------------------------------------------------------
# release_pods NS...: delete the scenario's pods once it passed: the single test node has 2 CPUs
# and every verified pod that keeps running holds its verifier's 100m request (later scenarios
# failed with "Insufficient cpu" when these stayed)
release_pods() {
  local ns
  for ns in "$@"; do
    k -n "$ns" delete pods --all --wait=true --timeout=60s >/dev/null || fail "the pods of $ns did not go away"
  done
}

# Several signers: two trusted keys (a model signed by either verifies, the second key is what
# admits wrong-signed), and a Sigstore identity as an anchored regular expression: the genuine
# upstream vector matches, a near miss (a prefix of the identity) does not.
scenario_several_signers() {
  new_ns e2e-signers
  mv_apply e2e-signers either two-keys key-signed
  mv_apply e2e-signers either-second two-keys wrong-signed
  mv_apply e2e-signers first-only key wrong-signed
  mv_apply e2e-signers regexp sigstore-regexp sigstore
  mv_apply e2e-signers near-miss sigstore-near-miss sigstore
  pod_create e2e-signers by-first either
  pod_create e2e-signers by-second either-second
  pod_create e2e-signers untrusted first-only
  pod_create e2e-signers genuine regexp
  pod_create e2e-signers near near-miss
  expect_verified e2e-signers by-first either
  expect_verified e2e-signers by-second either-second
  expect_blocked e2e-signers untrusted first-only "Key mismatch"
  expect_verified e2e-signers genuine regexp
  expect_blocked e2e-signers near near-miss "matches no trusted signer"
  grep -qF -- '--identity-regexp' <<<"$(jp -n e2e-signers pod genuine "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].args}")" \
    || fail "the verifier of e2e-signers/genuine was not given --identity-regexp"
  release_pods e2e-signers
}

# pod_with_labels NS NAME LABELS_JSON: pod_yaml's pod without the verification label, with LABELS
pod_with_labels() {
  pod_yaml "$1" "$2" - | python3 -c '
import json, sys, yaml
pod = yaml.safe_load(sys.stdin)
pod["metadata"]["labels"] = json.loads(sys.argv[1])
print(yaml.safe_dump(pod))' "$3"
}

# selector_seen NS MV: a server-side dry run of a pod labelled app=llm gets the label naming MV
selector_seen() {
  pod_with_labels "$1" probe '{"app": "llm"}' | k create --dry-run=server -o jsonpath="{.metadata.labels.validation\.ml\.sigstore\.dev/ml}" -f - 2>/dev/null | grep -qx "$2"
}

# A required namespace: a pod no ModelValidation covers is denied with a message naming what is
# missing; a pod a podSelector selects is verified without the label (and gets the label).
scenario_required_namespace() {
  new_ns e2e-required "$ENFORCE_LABEL=true"
  mv_apply e2e-required llm key key-signed
  k -n e2e-required patch modelvalidation llm --type=merge -p '{"spec":{"podSelector":{"matchLabels":{"app":"llm"}}}}' >/dev/null
  wait_until 30 "the webhook sees the podSelector" selector_seen e2e-required llm
  local out
  if out="$(pod_with_labels e2e-required stray '{"app": "web"}' | k create -f - 2>&1)"; then
    fail "an uncovered pod was admitted in a required namespace"
  fi
  note "denied: $out"
  for want in "namespace e2e-required requires model verification" "no ModelValidation covers this pod" "(the namespace has: llm)"; do
    grep -qF -- "$want" <<<"$out" || fail "the denial does not say '$want': $out"
  done
  out="$(pod_with_labels e2e-required selected '{"app": "llm"}' | k create -f - 2>&1)" \
    || fail "the pod the podSelector selects was refused: $out"
  expect_verified e2e-required selected llm
  [ "$(jp -n e2e-required pod selected "{.metadata.labels.validation\.ml\.sigstore\.dev/ml}")" = llm ] \
    || fail "the selected pod does not carry the label naming its ModelValidation"
  # an unlabelled pod outside a required namespace is not the webhook's (no object selector match)
  new_ns e2e-required-not
  pod_with_labels e2e-required-not free '{"app": "llm"}' | k create -f - >/dev/null || fail "a pod of a namespace that is not required was refused"
  expect_not_injected e2e-required-not free
  release_pods e2e-required e2e-required-not
}

# A native sidecar (init container with restartPolicy Always) and a model-download init container:
# the verifier runs after the download, the app starts, the sidecar keeps running.
scenario_native_sidecar() {
  new_ns e2e-sidecar
  mv_apply e2e-sidecar key key key-signed
  pod_yaml e2e-sidecar with-sidecar key | python3 -c '
import sys, yaml
pod = yaml.safe_load(sys.stdin)
fetch = pod["spec"]["initContainers"][0]
sidecar = {"name": "log-shipper", "image": fetch["image"], "imagePullPolicy": "Never",
           "restartPolicy": "Always", "command": ["/bin/busybox", "sleep", "3600"],
           "securityContext": fetch["securityContext"]}
pod["spec"]["initContainers"] = [sidecar, fetch]
print(yaml.safe_dump(pod))' | k create -f - >/dev/null
  expect_verified e2e-sidecar with-sidecar key
  local names; names="$(init_names e2e-sidecar with-sidecar)"
  [ "$names" = "log-shipper fetch-model $INIT_NAME " ] || fail "init containers: '$names', expected the verifier after the sidecar and the download"
  local fetched verify_started
  fetched="$(jp -n e2e-sidecar pod with-sidecar '{.status.initContainerStatuses[?(@.name=="fetch-model")].state.terminated.finishedAt}')"
  verify_started="$(jp -n e2e-sidecar pod with-sidecar "{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].state.terminated.startedAt}")"
  [ -n "$fetched" ] && [ -n "$verify_started" ] && [[ ! "$verify_started" < "$fetched" ]] \
    || fail "the verifier started at '$verify_started', before the download finished at '$fetched'"
  note "download finished $fetched, verifier started $verify_started"
  server_started e2e-sidecar with-sidecar || fail "the app container did not start"
  local sidecar
  sidecar="$(jp -n e2e-sidecar pod with-sidecar '{.status.initContainerStatuses[?(@.name=="log-shipper")].started}/{.status.initContainerStatuses[?(@.name=="log-shipper")].state.running.startedAt}/{.status.initContainerStatuses[?(@.name=="log-shipper")].restartCount}')"
  [[ "$sidecar" == true/?*/0 ]] || fail "the sidecar is not running (started/startedAt/restarts: $sidecar)"
}

# image_volume_pod NS NAME LABEL IMAGE_REF: the model is an OCI image mounted with volumes[].image
# at /models/llm; the keys come from an init container into an emptyDir
image_volume_pod() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {$POD_LABEL: "$3"}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  initContainers:
  - name: fetch-keys
    image: $MODEL_IMAGE
    imagePullPolicy: Never
    command: ["/bin/busybox", "cp", "-R", "/payload/keys", "/data/"]
    securityContext: $RESTRICTED
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: server
    image: $MODEL_IMAGE
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    securityContext: $RESTRICTED
    volumeMounts:
    - {name: model, mountPath: /models/llm}
    - {name: data, mountPath: /data, readOnly: true}
  volumes:
  - {name: model, image: {reference: "$4", pullPolicy: IfNotPresent}}
  - {name: data, emptyDir: {}}
EOF
}

scenario_image_volume() {
  needs_minor 33
  local signed="${MV_E2E_MODEL_SIGNED_REF:-}" tampered="${MV_E2E_MODEL_TAMPERED_REF:-}"
  [ -n "$signed" ] && [ -n "$tampered" ] || fail "the model images were not pushed to a registry (MV_E2E_MODEL_SIGNED_REF / MV_E2E_MODEL_TAMPERED_REF unset)"
  [[ "$signed" == *@sha256:* && "$tampered" == *@sha256:* ]] || fail "model image references are not by digest: $signed $tampered"
  new_ns e2e-imgvol
  local out
  out="$(printf '%s\n' 'apiVersion: ml.sigstore.dev/v1alpha1' 'kind: ModelValidation' \
    'metadata: {name: llm, namespace: e2e-imgvol}' \
    'spec: {model: {path: /models/llm}, config: {publicKeyConfig: {keyPath: /data/keys/key.pub}}, imagePullPolicy: IfNotPresent}' \
    | k apply -f - 2>&1)" || fail "ModelValidation llm: $out"
  image_volume_pod e2e-imgvol signed llm "$signed" | k create -f - >/dev/null
  image_volume_pod e2e-imgvol tampered llm "$tampered" | k create -f - >/dev/null
  note "signed: $signed"
  note "tampered: $tampered"
  local m
  m="$(jp -n e2e-imgvol pod signed "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].volumeMounts[?(@.name==\"model\")].readOnly}")"
  [ "$m" = true ] || fail "the verifier's mount of the image volume is not read-only: '$m'"
  expect_verified e2e-imgvol signed llm
  expect_blocked e2e-imgvol tampered llm weights.bin
}

# image_keys_pod NS NAME LABEL MODEL_REF KEYS_REF: the model and the public keys both as image
# volumes (every input of the verifier addressed by the references)
image_keys_pod() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {$POD_LABEL: "$3"}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: server
    image: $MODEL_IMAGE
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
    securityContext: $RESTRICTED
    volumeMounts:
    - {name: model, mountPath: /models/llm}
    - {name: keys, mountPath: /keys}
  volumes:
  - {name: model, image: {reference: "$4", pullPolicy: $(pull_policy "$4")}}
  - {name: keys, image: {reference: "$5", pullPolicy: $(pull_policy "$5")}}
EOF
}
# by digest: IfNotPresent; by tag: Always (the node may hold an older image under the same tag,
# from an earlier run whose models were signed with other keys)
pull_policy() { if [[ "$1" == *@sha256:* ]]; then echo IfNotPresent; else echo Always; fi; }
# "GENERATION:POD " for each status.verifiedImages record
digest_records() { jp -n "$1" modelvalidation "$2" '{range .status.verifiedImages[*]}{.generation}:{.pod}{" "}{end}'; }
has_record() { grep -qw -- "$3" <<<"$(digest_records "$1" "$2")"; }
only_generation() { # NS MV G: every record is of generation G (or there is none)
  local r; r="$(digest_records "$1" "$2" | tr ' ' '\n' | grep . || true)"
  [ -z "$r" ] || ! grep -qv "^$3:" <<<"$r"
}
running_in() { # NS POD: seconds from the pod's creation to its server's start
  local t; t="$(jp -n "$1" pod "$2" '{.metadata.creationTimestamp} {.status.containerStatuses[0].state.running.startedAt}')"
  echo $(( $(date -d "${t#* }" +%s) - $(date -d "${t% *}" +%s) ))
}

# Verify once per digest (issue 20): the first pod of a layout (model and keys as images pinned by
# digest) runs the verifier and its success is recorded; a second pod with the same digests starts
# without it; a tag reference is verified every time; a tampered image fails; a spec change makes
# the next pod verify again.
scenario_digest_cache() {
  needs_minor 33
  local signed="${MV_E2E_MODEL_SIGNED_REF:-}" tampered="${MV_E2E_MODEL_TAMPERED_REF:-}" keys="${MV_E2E_KEYS_REF:-}"
  [ -n "$signed" ] && [ -n "$tampered" ] && [ -n "$keys" ] \
    || fail "the model and key images were not pushed to a registry (MV_E2E_MODEL_SIGNED_REF / MV_E2E_MODEL_TAMPERED_REF / MV_E2E_KEYS_REF unset)"
  local ns=e2e-digest out
  new_ns "$ns"
  out="$(printf '%s\n' 'apiVersion: ml.sigstore.dev/v1alpha1' 'kind: ModelValidation' \
    "metadata: {name: once, namespace: $ns}" \
    'spec: {model: {path: /models/llm}, config: {publicKeyConfig: {keyPath: /keys/key.pub}}, imagePullPolicy: IfNotPresent}' \
    | k apply -f - 2>&1)" || fail "ModelValidation once: $out"
  # (1) the first pod: the verifier runs, its success is recorded for generation 1
  image_keys_pod "$ns" first once "$signed" "$keys" | k create -f - >/dev/null
  expect_verified "$ns" first once
  wait_until 60 "a status.verifiedImages record of generation 1 by pod first" has_record "$ns" once 1:first
  sleep 2 # the webhook's cache follows the status through its watch
  note "first pod: server running $(running_in "$ns" first)s after creation (verifier ran)"
  # (2) the same digests again: admitted without the verifier, reported verified by digest
  image_keys_pod "$ns" second once "$signed" "$keys" | k create -f - >/dev/null
  expect_not_injected "$ns" second
  local claim
  claim="$(jp -n "$ns" pod second '{.metadata.annotations.validation\.ml\.sigstore\.dev/verified-by-digest}')"
  [[ "$claim" == sha256:* ]] || fail "pod second carries no verified-by-digest annotation: '$claim'"
  wait_until 120 "pod $ns/second Running" phase_is "$ns" second Running
  note "second pod: server running $(running_in "$ns" second)s after creation (no verifier)"
  expect_event "$ns" Pod second ModelVerified "by image digest"
  expect_count "$ns" once verifiedPodCount 2
  # (3) a tag reference is never cached: both pods run the verifier
  local tag="${signed%@*}:signed" p
  for p in tag-1 tag-2; do
    image_keys_pod "$ns" "$p" once "$tag" "$keys" | k create -f - >/dev/null
    expect_injected "$ns" "$p"
    wait_until 180 "pod $ns/$p Running" phase_is "$ns" "$p" Running
    [ "$(init_exit "$ns" "$p")" = 0 ] || fail "$INIT_NAME of $p exited $(init_exit "$ns" "$p")"
  done
  # (4) the tampered image, by digest: verified, and blocked
  image_keys_pod "$ns" tampered once "$tampered" "$keys" | k create -f - >/dev/null
  expect_blocked "$ns" tampered once weights.bin
  # (5) a spec change drops the records: the next pod verifies again, then the one after skips
  k -n "$ns" patch modelvalidation once --type=merge \
    -p '{"spec":{"model":{"ignorePaths":["/models/llm/README.md"]}}}' >/dev/null
  wait_until 60 "the records of generation 1 dropped" only_generation "$ns" once 2
  image_keys_pod "$ns" third once "$signed" "$keys" | k create -f - >/dev/null
  expect_injected "$ns" third
  wait_until 180 "pod $ns/third Running" phase_is "$ns" third Running
  [ "$(init_exit "$ns" third)" = 0 ] || fail "$INIT_NAME of third exited $(init_exit "$ns" third)"
  wait_until 60 "a record of generation 2 by pod third" has_record "$ns" once 2:third
  image_keys_pod "$ns" fourth once "$signed" "$keys" | k create -f - >/dev/null
  expect_not_injected "$ns" fourth
}

# A spec change moves status.observedGeneration and the Ready condition (its observedGeneration
# and message) on the real server.
# --- continuous validation (issue 15) ----------------------------------------------------------
pod_ready_is() { [ "$(jp -n "$1" pod "$2" '{.status.conditions[?(@.type=="Ready")].status}')" = "$3" ]; }
sidecar_state() { # NS POD: started/ready/restartCount/running since
  jp -n "$1" pod "$2" "{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].started}/{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].ready}/{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].restartCount}/{.status.initContainerStatuses[?(@.name==\"$INIT_NAME\")].state.running.startedAt}"
}

# A pod with continuous validation: the verifier runs as a native sidecar; another container of
# the pod (mounting the model's emptyDir writable) changes a model file in place, then restores it.
scenario_continuous() {
  local ns=e2e-continuous pod=watched model=/data/models/key-signed
  new_ns "$ns"
  mv_apply "$ns" watched key key-signed
  k -n "$ns" patch modelvalidation watched --type=merge \
    -p '{"spec":{"continuousValidation":{"enabled":true,"interval":"1m"}}}' >/dev/null
  wait_until 60 "ModelValidation $ns/watched Ready=True" mv_state_is "$ns" watched 2/2/True/2/public-key
  pod_yaml "$ns" "$pod" watched | python3 -c '
import sys, yaml
pod = yaml.safe_load(sys.stdin)
server = pod["spec"]["containers"][0]
editor = {"name": "editor", "image": server["image"], "imagePullPolicy": "Never",
          "command": ["/bin/busybox", "sleep", "3600"], "securityContext": server["securityContext"],
          "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
pod["spec"]["containers"].append(editor)
print(yaml.safe_dump(pod))' | k create -f - >/dev/null
  expect_injected "$ns" "$pod"
  local policy args
  policy="$(jp -n "$ns" pod "$pod" "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].restartPolicy}")"
  [ "$policy" = Always ] || fail "the verifier is not a native sidecar (restartPolicy '$policy')"
  args="$(jp -n "$ns" pod "$pod" "{.spec.initContainers[?(@.name==\"$INIT_NAME\")].args}")"
  grep -qF '"watch","--interval=60s"' <<<"$args" || fail "the sidecar does not run watch every 60s: $args"
  note "sidecar args: $args"
  wait_until 180 "pod $ns/$pod Ready" pod_ready_is "$ns" "$pod" True
  note "sidecar started/ready/restarts/since: $(sidecar_state "$ns" "$pod")"
  # the app containers started only after the first verification passed (the sidecar's startup
  # probe): the server's start is not before the sidecar's "verified" state line
  local verified_at server_since
  verified_at="$(k -n "$ns" logs "$pod" -c "$INIT_NAME" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if isinstance(e, dict) and e.get("event") == "verified":
        print(e["unixTime"]); break')"
  server_since="$(jp -n "$ns" pod "$pod" '{.status.containerStatuses[?(@.name=="server")].state.running.startedAt}')"
  [ -n "$verified_at" ] && [ -n "$server_since" ] && [ "$(date -d "$server_since" +%s)" -ge "$verified_at" ] \
    || fail "the server started at '$server_since', before the first verification ($verified_at)"
  note "first verification at $(date -u -d "@$verified_at" +%FT%TZ), server started $server_since"
  expect_event "$ns" Pod "$pod" ModelVerified
  expect_count "$ns" watched verifiedPodCount 1

  # change one byte of the weights in place (the key-tampered model differs in exactly this byte)
  k -n "$ns" exec "$pod" -c editor -- /bin/busybox sh -c \
    "/bin/busybox cp $model/weights.bin /data/weights.bin.orig && printf '\\001' | /bin/busybox dd of=$model/weights.bin bs=1 seek=1000 conv=notrunc 2>/dev/null"
  local t0=$SECONDS
  wait_until 30 "pod $ns/$pod NotReady after the change" pod_ready_is "$ns" "$pod" False
  note "NotReady $((SECONDS - t0))s after the change (interval 60s: inotify)"
  expect_event "$ns" Pod "$pod" ModelDriftDetected weights.bin
  expect_event "$ns" ModelValidation watched ModelDriftDetected weights.bin
  expect_count "$ns" watched driftedPodCount 1
  local logs; logs="$(k -n "$ns" logs "$pod" -c "$INIT_NAME" 2>&1 || true)"
  note "sidecar log: $(tail -2 <<<"$logs")"
  grep -qF weights.bin <<<"$logs" || fail "the sidecar log does not name weights.bin: $logs"
  # /healthz stayed up: no restart
  [[ "$(sidecar_state "$ns" "$pod")" == true/false/0/?* ]] || fail "sidecar state after drift: $(sidecar_state "$ns" "$pod")"

  # restore the file: Ready again, and reported
  k -n "$ns" exec "$pod" -c editor -- /bin/busybox cp /data/weights.bin.orig "$model/weights.bin"
  t0=$SECONDS
  wait_until 30 "pod $ns/$pod Ready again after the restore" pod_ready_is "$ns" "$pod" True
  note "Ready $((SECONDS - t0))s after the restore"
  expect_event "$ns" Pod "$pod" ModelDriftResolved
  wait_until 60 "driftedPodCount back to 0" count_is "$ns" watched driftedPodCount 0
  expect_count "$ns" watched verifiedPodCount 1
  metric_above model_validation_model_drift_total 'event="detected"' 0 || fail "model_validation_model_drift_total{event=\"detected\"} did not move"
}

mv_generation_state() { # NS NAME: generation/observedGeneration/Ready status/Ready observedGeneration/authMethod
  jp -n "$1" modelvalidation "$2" '{.metadata.generation}/{.status.observedGeneration}/{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].observedGeneration}/{.status.authMethod}'
}
mv_state_is() { [ "$(mv_generation_state "$1" "$2")" = "$3" ]; }

scenario_observed_generation() {
  new_ns e2e-generation
  mv_apply e2e-generation gen key key-signed
  wait_until 60 "generation 1 observed, Ready, method public-key" mv_state_is e2e-generation gen 1/1/True/1/public-key
  note "before: $(mv_generation_state e2e-generation gen)"
  mv_apply e2e-generation gen certificate cert-signed
  wait_until 60 "generation 2 observed, Ready, method pki (was: $(mv_generation_state e2e-generation gen))" \
    mv_state_is e2e-generation gen 2/2/True/2/pki
  note "after: $(mv_generation_state e2e-generation gen)"
  local msg; msg="$(jp -n e2e-generation modelvalidation gen '{.status.conditions[?(@.type=="Ready")].message}')"
  grep -qF /data/models/cert-signed <<<"$msg" || fail "the Ready message does not describe the new spec: $msg"
  note "Ready: $msg"
}

# --- benchmark (issue 20, `make bench-digest`; not in the default list) ------------------------
# A 2 GiB model (4 files of 512 MiB) and its public key as two images pinned by digest in the
# local registry. Start-up time of a pod (kubectl create until Ready, the server container has no
# probe) for: an unlabelled pod (pulls the image: not measured), a second unlabelled pod
# (baseline), the first labelled pod (the verifier hashes 2 GiB), a second labelled pod (verified
# by digest, no verifier). Prints one JSON line "bench-digest: {...}".
[ "${MV_E2E_BENCH_DIGEST:-0}" = 1 ] && SCENARIOS+=("bench-digest-2gib scenario_bench_digest e2e-bench-digest")

start_seconds() { # NS POD-YAML-ON-STDIN: seconds from create to Ready (pod named $2)
  local t0 t1; t0="$(date +%s.%N)"
  k create -f - >/dev/null
  kubectl -n "$1" wait --for=condition=Ready "pod/$2" --timeout=600s >/dev/null || fail "pod $1/$2 not Ready"
  t1="$(date +%s.%N)"
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

scenario_bench_digest() {
  needs_minor 33
  local registry; registry="$("$REPO/tests/e2e/cluster/cluster.sh" registry)" || fail "no local registry"
  local work; work="$(mktemp -d "${MV_BENCH_DIR:-/var/tmp}/mv-bench-digest.XXXXXX")"
  trap 'rm -rf "$work"; buildah rmi -f localhost/mv-bench-model:2g localhost/mv-bench-keys:v1 >/dev/null 2>&1 || true' RETURN
  mkdir -p "$work/model" "$work/keys"
  local i
  for i in 0 1 2 3; do
    head -c $((512 * 1024 * 1024)) /dev/zero | openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff \
      -iv "0000000000000000000000000000000$i" -nosalt > "$work/model/shard-$i.bin"
  done
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem"
  openssl ec -in "$work/key.pem" -pubout -out "$work/keys/key.pub" 2>/dev/null
  "${MV_PYTHON_VENV:-$HOME/.cache/model-validation-operator/venv}/bin/model_signing" sign key \
    --private_key "$work/key.pem" --signature "$work/model/model.sig" "$work/model" >/dev/null
  chmod -R a+rX "$work/model" "$work/keys"
  local what refs=()
  for what in model keys; do
    printf 'FROM scratch\nCOPY %s/ /\n' "$what" > "$work/Containerfile.$what"
    buildah bud -q --layers=false -t "localhost/mv-bench-$what:v1" -f "$work/Containerfile.$what" "$work" >/dev/null
    buildah push -q --tls-verify=false --disable-compression --digestfile "$work/$what.digest" \
      "localhost/mv-bench-$what:v1" "docker://$registry/mv-bench/$what:v1" >/dev/null
    refs+=("$registry/mv-bench/$what@$(cat "$work/$what.digest")")
  done
  rm -rf "$work/model"
  note "model ${refs[0]}, keys ${refs[1]}"
  local ns=e2e-bench-digest
  new_ns "$ns"
  printf '%s\n' 'apiVersion: ml.sigstore.dev/v1alpha1' 'kind: ModelValidation' \
    "metadata: {name: big, namespace: $ns}" \
    'spec: {model: {path: /models/llm}, config: {publicKeyConfig: {keyPath: /keys/key.pub}}, imagePullPolicy: IfNotPresent}' \
    | k apply -f - >/dev/null
  unlabelled() { image_keys_pod "$ns" "$1" big "${refs[0]}" "${refs[1]}" | sed 's/labels: {[^}]*}/labels: {}/'; }
  local pull baseline first second
  pull="$(unlabelled pull | start_seconds "$ns" pull)"
  baseline="$(unlabelled baseline | start_seconds "$ns" baseline)"
  first="$(image_keys_pod "$ns" first big "${refs[0]}" "${refs[1]}" | start_seconds "$ns" first)"
  expect_injected "$ns" first
  wait_until 60 "the layout recorded" has_record "$ns" big 1:first
  sleep 2 # the webhook's cache follows the status through its watch
  second="$(image_keys_pod "$ns" second big "${refs[0]}" "${refs[1]}" | start_seconds "$ns" second)"
  expect_not_injected "$ns" second
  note "verifier report of the first pod: $(init_message "$ns" first)"
  echo "bench-digest: {\"model_bytes\": $((2048 * 1024 * 1024)), \"model_files\": 4, \"first_pull_s\": $pull, \"baseline_s\": $baseline, \"first_verified_s\": $first, \"later_by_digest_s\": $second, \"first_overhead_s\": $(python3 -c "print(f'{$first - $baseline:.2f}')"), \"later_overhead_s\": $(python3 -c "print(f'{$second - $baseline:.2f}')")}"
  k delete ns "$ns" --wait=false >/dev/null 2>&1 || true
}
