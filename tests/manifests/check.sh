#!/usr/bin/env bash
# Renders every overlay of config/ with kustomize (offline) and checks the output: kinds present,
# namespaces and name prefix, images pinned (no :latest), webhook rules and selectors, the
# certificate wiring of each overlay, least-privilege RBAC, the Deployment's security settings.
# Then a self-test: broken variants of the rendered testing overlay must all be rejected.
#
#   tests/manifests/check.sh            (make manifests-check)
#
# Environment:
#   KUSTOMIZE   render command (default "kubectl kustomize"; needs kustomize >= v4 for
#               `components:` — Debian's kubernetes-client 1.20 bundles v2 and cannot)
# Works on a temporary copy of config/, so the testing certificates it generates never touch the
# working tree. Needs python3 with PyYAML (python3-yaml) and openssl.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/manifests"
KUSTOMIZE="${KUSTOMIZE:-kubectl kustomize}"
OVERLAYS=(production testing development olm production-monitoring)

die() { echo "manifests-check: error: $*" >&2; exit 2; }
command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null || die "python3 with PyYAML needed (apt-get install -y python3-yaml)"
command -v openssl >/dev/null || die "openssl needed"
ver="$($KUSTOMIZE --help >/dev/null 2>&1 && kubectl version --client 2>/dev/null | awk '/Kustomize Version/ {print $3}' || true)"
case "$ver" in v2.*|v3.[0-6].*) die "kustomize $ver cannot render components; install a newer kubectl (see .ci/install.sh) or set KUSTOMIZE" ;; esac
[ -f "$REPO/config/crd/bases/ml.sigstore.dev_modelvalidations.yaml" ] \
  || die "config/crd/bases/ml.sigstore.dev_modelvalidations.yaml is missing: generate it with the operator's crdgen binary"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mv-manifests.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cp -r "$REPO/config" "$WORK/config"
rm -rf "$WORK/config/components/manual-tls/certs"
"$WORK/config/components/manual-tls/generate-certs.sh" 2>/dev/null
# production plus the optional service-monitor component, as a user would add it to an overlay
cp -r "$WORK/config/overlays/production" "$WORK/config/overlays/production-monitoring"
python3 - "$WORK/config/overlays/production-monitoring/kustomization.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
with open(path) as f:
    k = yaml.safe_load(f)
k["components"].append("../../components/service-monitor")
with open(path, "w") as f:
    yaml.safe_dump(k, f)
PY

passed=0; failed=0
for o in "${OVERLAYS[@]}"; do
  if ! $KUSTOMIZE "$WORK/config/overlays/$o" > "$WORK/$o.yaml" 2> "$WORK/$o.err"; then
    echo "FAIL $o: kustomize failed:"; sed 's/^/  /' "$WORK/$o.err"; failed=$((failed + 1)); continue
  fi
  if python3 "$HERE/check_manifests.py" "$o" "$WORK/$o.yaml" "$WORK/config/components/manual-tls/certs"; then
    echo "ok   $o ($(grep -c '^kind:' "$WORK/$o.yaml") objects)"; passed=$((passed + 1))
  else
    echo "FAIL $o"; failed=$((failed + 1))
  fi
done
if [ -s "$WORK/testing.yaml" ]; then
  if python3 "$HERE/check_manifests.py" --self-test "$WORK/testing.yaml"; then passed=$((passed + 1)); else echo "FAIL self-test"; failed=$((failed + 1)); fi
fi
echo "manifests: $passed passed, $failed failed"
[ "$failed" = 0 ]
