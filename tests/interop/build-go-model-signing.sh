#!/usr/bin/env bash
# Builds the CLI of the Go implementation of OpenSSF model signing (Go module
# github.com/sigstore/model-signing, command cmd/model-signing) with the ordinary `go` client and
# the Go module proxy, for the interoperability tests of OCI-manifest signatures
# (verifier/tests/it/interop_go.rs). Nothing else is downloaded, nothing lands in the repository.
#
#   build-go-model-signing.sh           build (or reuse) the binary; print its path
#   build-go-model-signing.sh --path    print the stable path the tests look at, and exit
#   build-go-model-signing.sh --help
#
# The binary is cached OUTSIDE the repository, keyed by the module version and this script's
# sha256:
#   ${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}/go-model-signing-<version>-<key>/model-signing
# and linked from the stable path the tests use by default:
#   .../model-validation-operator/go-model-signing/model-signing   (override: MV_GO_MODEL_SIGNING)
# The Go module and build caches are $MV_CACHE_DIR/go/{mod,build} (shared with the cluster build).
#
# Environment:
#   GO_MODEL_SIGNING_VERSION  module version (default: latest; the resolved version keys the cache)
#   GO                        the go command (default: go on PATH, else /usr/local/go/bin/go).
#                             The module's go.mod asks for Go 1.25; if a later release needs a newer
#                             Go than the machine's, the one approved way is: export GOTOOLCHAIN=go1.27.3
#   NICE                      niceness of the build (default 15)
#   GO_BUILD_P                packages built in parallel (default 1: the machine is shared)
#
# Exit status: 0 built or cached; 3 the module (version) cannot be resolved, e.g. the Go module
# proxy refuses to serve it (the message says so); other non-zero: the build failed.
set -euo pipefail

MODULE=github.com/sigstore/model-signing
COMMAND=$MODULE/cmd/model-signing
SELF="${BASH_SOURCE[0]}"
CACHE="${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}"
STABLE="$CACHE/go-model-signing/model-signing"

log() { echo "[build-go-model-signing] $*" >&2; }
usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$SELF"; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --path) echo "$STABLE"; exit 0 ;;
  "") ;;
  *) log "unknown argument $1 (see --help)"; exit 2 ;;
esac

if [ -z "${GO:-}" ]; then
  if command -v go >/dev/null 2>&1; then GO=go; else GO=/usr/local/go/bin/go; fi
fi
command -v "$GO" >/dev/null 2>&1 || { log "no go command (set GO)"; exit 1; }
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-modcacherw
mkdir -p "$GOMODCACHE" "$GOCACHE"

WANT="${GO_MODEL_SIGNING_VERSION:-latest}"
if ! VERSION="$("$GO" list -m -f '{{.Version}}' "$MODULE@$WANT" 2>"$CACHE/go-model-signing.err")"; then
  log "cannot resolve $MODULE@$WANT through the Go module proxy ($("$GO" env GOPROXY)):"
  sed 's/^/    /' "$CACHE/go-model-signing.err" >&2
  log "the Go interop tests will report themselves as skipped (or fail with MV_REQUIRE_GO_INTEROP=1)"
  exit 3
fi
KEY="$({ sha256sum < "$SELF"; echo "$VERSION"; } | sha256sum | cut -c1-16)"
OUT="$CACHE/go-model-signing-$VERSION-$KEY"
if [ -x "$OUT/model-signing" ]; then
  log "up to date: $OUT/model-signing ($MODULE $VERSION)"
else
  WORK="$CACHE/go-model-signing-work"
  rm -rf "$WORK" && mkdir -p "$WORK"
  (
    cd "$WORK"
    "$GO" mod init mv-interop/go-model-signing >/dev/null 2>&1
    "$GO" get "$COMMAND@$VERSION"
    log "building $COMMAND@$VERSION (nice ${NICE:-15}, -p ${GO_BUILD_P:-1})"
    nice -n "${NICE:-15}" "$GO" build -p "${GO_BUILD_P:-1}" -trimpath -o "$OUT/model-signing.tmp" "$COMMAND"
  )
  mv "$OUT/model-signing.tmp" "$OUT/model-signing"
  echo "$MODULE $VERSION" > "$OUT/VERSION"
fi
mkdir -p "$(dirname "$STABLE")"
ln -sfn "$OUT/model-signing" "$STABLE"
echo "$STABLE"
