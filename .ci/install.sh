#!/usr/bin/env bash
# Installs everything the tests need. Idempotent; safe to run on a developer machine.
#   install.sh          everything: `make test`, the fuzz smoke pass, the manifest checks, images
#                       and the e2e suite
#   install.sh --test   only what `make test` needs (run by `make test` itself)
#   install.sh --fuzz   only cargo-fuzz (run by `make fuzz-build`, `fuzz`, `fuzz-smoke`)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all
case "${1:-}" in
  --test) mode=test ;;
  --fuzz) mode=fuzz ;;
  "") ;;
  *) echo "usage: install.sh [--test|--fuzz]" >&2; exit 2 ;;
esac

# cargo-fuzz for the fuzz targets (fuzz/), pinned; kept when some version is already installed.
if [ "$mode" != test ]; then
  CARGO_FUZZ_VERSION=0.13.2
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
  if [ "$mode" = fuzz ]; then exit 0; fi
fi

need_apt=()
command -v make >/dev/null || need_apt+=(make)
command -v openssl >/dev/null || need_apt+=(openssl)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v fincore >/dev/null || need_apt+=(util-linux-extra)  # page-cache residency in the cold-read tests
command -v umoci >/dev/null || need_apt+=(umoci)    # OCI layouts built by real tools (verifier tests)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || need_apt+=(python3-venv)  # the Python peer's virtualenv
if ((${#need_apt[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# Python model_signing 1.1.1 (+ pyOpenSSL, which it imports without declaring it) in a venv.
VENV="${MV_PYTHON_VENV:-$HOME/.cache/model-validation-operator/venv}"
if ! "$VENV/bin/python" -c 'import model_signing, OpenSSL' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check 'model-signing==1.1.1' pyOpenSSL
fi
"$VENV/bin/model_signing" --version >/dev/null
[ "$mode" = test ] && exit 0

# The Go implementation (Go module github.com/sigstore/model-signing), peer of the OCI-manifest
# interop tests, is not installed here: the Go module proxy these machines reach refuses it (403).
# Its tests are #[ignore]d with that reason; tests/interop/build-go-model-signing.sh builds it
# where the proxy serves it.

# ---- end-to-end suite, images, manifests (owner: tests/e2e, images/, config/) ------------------
# Debian packages for: the local cluster (runc, CNI plugins, iptables, conntrack, and its OCI
# registry docker-registry), image builds without a Docker daemon (podman, buildah, skopeo), the
# test model image (static busybox), the manifest checks (python3-yaml), the static pause binary
# (gcc). Kubernetes, etcd and containerd themselves are built from Go modules with the machine's
# Go (>= 1.26.6) by tests/e2e/cluster/build-k8s.sh, which caches them under
# ~/.cache/model-validation-operator.
e2e_pkgs=(runc containernetworking-plugins conntrack iptables iproute2 curl
  podman buildah skopeo umoci uidmap fuse-overlayfs busybox-static python3-yaml file binutils gcc libc6-dev
  jq docker-registry)
e2e_missing=()
for p in "${e2e_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || e2e_missing+=("$p"); done
if ((${#e2e_missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${e2e_missing[@]}"
fi
# kubectl with kustomize >= v4 (config/ uses kustomize components). Debian's kubernetes-client is
# 1.20 with kustomize v2, which cannot render them; the "kubectl" package of Google's Cloud SDK apt
# repository (1.32, kustomize v5.5) can, and works against the test server (with a skew warning).
kustomize_version() { kubectl version --client 2>/dev/null | awk '/Kustomize Version/ {print $3}'; }
case "$(kustomize_version)" in
  v[4-9].*) ;;
  *)
    if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubectl
    fi
    case "$(kustomize_version)" in
      v[4-9].*) ;;
      *) echo "install.sh: kubectl with kustomize >= v4 needed (found: '$(kustomize_version)')" >&2; exit 1 ;;
    esac ;;
esac
