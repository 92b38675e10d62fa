#!/usr/bin/env bash
# Builds the binaries of the end-to-end suite's local cluster from Go modules, with the ordinary
# `go` client and the Go module proxy (nothing else is downloaded):
#   Kubernetes  k8s.io/kubernetes           kube-apiserver kube-controller-manager kube-scheduler
#                                           kubelet kube-proxy (+ "pause" compiled from its tree)
#   etcd        go.etcd.io/etcd/server/v3   etcd
#   containerd  github.com/containerd/containerd/v2   containerd containerd-shim-runc-v2 ctr
# runc and the CNI plugins come from Debian (runc, containernetworking-plugins).
#
#   build-k8s.sh              build everything into the default cache directory
#   build-k8s.sh OUT_DIR      build into OUT_DIR
#   build-k8s.sh --bin-dir    print the default cache directory and exit
#   build-k8s.sh --versions   print the pinned versions and exit
#   build-k8s.sh --help
#
# Why v1.37.2: the newest release the Go module proxy serves whose go.mod the installed Go
# (1.26) builds (v1.38 is a beta). Cold build of everything on 2 shared cores, GO_BUILD_P=1:
# about 15 minutes; afterwards it returns at once, and a change of this script relinks from
# the kept Go build cache (see tests/e2e/README.md for the measured times).
#
# k8s.io/kubernetes cannot be built as a dependency as published: its go.mod requires the k8s.io/*
# staging modules at v0.0.0 and replaces them with ./staging/... directories that the module
# does not contain. The script therefore generates a go.mod (in a work directory outside the
# repository) that requires k8s.io/kubernetes and replaces every staging module with its published
# v0.<minor>.<patch> version. etcd and containerd get a work module each, so that their
# dependencies do not mix with Kubernetes'.
#
# The binaries are cached OUTSIDE the repository, keyed by the versions and this script's sha256:
#   ${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}/cluster-<k8s version>-<key>
# A second run with the same key returns at once. The Go module and build caches stay in
# $MV_CACHE_DIR/go (about 4 GB), so a rebuild after a change is incremental. Never commit them.
#
# Environment:
#   MV_CACHE_DIR   cache root (default $XDG_CACHE_HOME or $HOME/.cache, + /model-validation-operator)
#   GO             the go command (default: the first of "go" on PATH and /usr/local/go/bin/go that
#                  is Go >= 1.26.6, the newest "go" line of the three modules)
#   GO_BUILD_P     packages built in parallel (go build -p; default: the number of CPUs). On a
#                  machine shared with other work: GO_BUILD_P=1 GOMAXPROCS=2
#   NICE           niceness of the build (default 15)
#   FORCE=1        rebuild even if OUT_DIR holds binaries with the same key
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
CONTAINERD_VERSION=v2.4.2
SELF="${BASH_SOURCE[0]}"

die() { echo "[build-k8s] error: $*" >&2; exit 1; }
log() { echo "[build-k8s] $*" >&2; }
usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$SELF"; }

CACHE="${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}"
cache_key() { { sha256sum < "$SELF"; printf '%s\n' "$K8S_VERSION" "$ETCD_VERSION" "$CONTAINERD_VERSION"; } | sha256sum | cut -c1-16; }
KEY="$(cache_key)"
BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy pause
  etcd containerd containerd-shim-runc-v2 ctr)

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --bin-dir) echo "$CACHE/cluster-$K8S_VERSION-$KEY"; exit 0 ;;
  --versions) printf 'kubernetes %s\netcd %s\ncontainerd %s\n' "$K8S_VERSION" "$ETCD_VERSION" "$CONTAINERD_VERSION"; exit 0 ;;
  -*) die "unknown option $1 (see --help)" ;;
esac
OUT="${1:-$CACHE/cluster-$K8S_VERSION-$KEY}"

all_present() { local b; for b in "${BINS[@]}"; do [ -x "$OUT/$b" ] || return 1; done; }
if [ "${FORCE:-0}" != 1 ] && [ "$(cat "$OUT/.build-key" 2>/dev/null)" = "$KEY" ] && all_present; then
  log "up to date in $OUT (key $KEY); FORCE=1 rebuilds"
  exit 0
fi

# ---- prerequisites -------------------------------------------------------------------------
GO_MIN=1.26.6
go_ok() { # go command: its version is >= GO_MIN
  local v; v="$("$1" env GOVERSION 2>/dev/null | sed 's/^go//')" || return 1
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}
if [ -z "${GO:-}" ]; then
  for g in go /usr/local/go/bin/go; do
    if command -v "$g" >/dev/null 2>&1 && go_ok "$g"; then GO="$g"; break; fi
  done
fi
[ -n "${GO:-}" ] && go_ok "$GO" || die "no Go >= $GO_MIN found (tried: ${GO:-go on PATH, /usr/local/go/bin/go}); set GO"
command -v gcc >/dev/null 2>&1 || die "gcc not found (apt-get install -y gcc libc6-dev): it compiles the static pause binary"

WORK="$CACHE/go"
mkdir -p "$WORK" "$OUT"
exec 9>"$WORK/.lock"
flock -n 9 || die "another build is using $WORK (lock $WORK/.lock)"

export GOMODCACHE="$WORK/mod" GOCACHE="$WORK/build" GOPATH="$WORK/path"
export GOFLAGS="-modcacherw -buildvcs=false -trimpath" GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
export GO111MODULE=on
P="${GO_BUILD_P:-$(nproc)}"
NICE="${NICE:-15}"

log "$("$GO" env GOVERSION); building with -p $P${GOMAXPROCS:+, GOMAXPROCS=$GOMAXPROCS}, nice $NICE; caches in $WORK"

gobuild() { nice -n "$NICE" "$GO" build -p "$P" "$@"; }

# ---- Kubernetes ----------------------------------------------------------------------------
k8s() {
  local d="$WORK/k8s-$K8S_VERSION" minor patch mod m
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"; patch="$(echo "$K8S_VERSION" | cut -d. -f3)"
  mkdir -p "$d"
  if [ ! -f "$d/.resolved" ]; then
    rm -f "$d/go.mod" "$d/go.sum"
    (cd "$d" && "$GO" mod init mv-e2e-kubernetes >/dev/null 2>&1 && "$GO" mod edit -go=1.26.0 -require="k8s.io/kubernetes@$K8S_VERSION")
    # the staging modules are the ones k8s.io/kubernetes replaces with ./staging/src/<module>
    mod="$(cd "$d" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
    [ -f "$mod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION through the Go module proxy"
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$mod"); do
      case "$m" in k8s.io/sample-*) continue ;; esac   # examples, not published and not needed
      (cd "$d" && "$GO" mod edit -replace="$m=$m@v0.$minor.$patch")
    done
    # the main module decides the GODEBUG defaults: the same as upstream's
    grep '^godebug' "$mod" >> "$d/go.mod" || true
    (cd "$d" && "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy) >&2
    touch "$d/.resolved"
  fi
  # version stamps, as upstream's hack/lib/version.sh sets them
  local ld="-s -w" pkg date
  date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    # gitCommit: the module proxy does not tell it; empty rather than upstream's "$Format:%H$"
    ld+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "building Kubernetes $K8S_VERSION"
  (cd "$d" && gobuild -ldflags "$ld" -o "$OUT/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  # the node's sandbox ("pause") image: compiled from the same module, static
  local src
  src="$(cd "$d" && "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [ -f "$src" ] || die "$src not found in the k8s.io/kubernetes module"
  gcc -Os -static -DVERSION="$K8S_VERSION-local" -o "$OUT/pause" "$src"
}

# ---- etcd ----------------------------------------------------------------------------------
etcd() {
  local d="$WORK/etcd-$ETCD_VERSION"
  mkdir -p "$d"
  if [ ! -f "$d/.resolved" ]; then
    rm -f "$d/go.mod" "$d/go.sum"
    (cd "$d" && "$GO" mod init mv-e2e-etcd >/dev/null 2>&1 && "$GO" mod edit -go=1.26.0 \
      && "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
        "go.etcd.io/etcd/api/v3@$ETCD_VERSION" "go.etcd.io/etcd/client/pkg/v3@$ETCD_VERSION" \
        "go.etcd.io/etcd/client/v3@$ETCD_VERSION" "go.etcd.io/etcd/pkg/v3@$ETCD_VERSION") >&2
    touch "$d/.resolved"
  fi
  log "building etcd $ETCD_VERSION"
  # the etcd server's main package is the module root (server/main.go upstream)
  (cd "$d" && gobuild -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
}

# ---- containerd ----------------------------------------------------------------------------
containerd() {
  local d="$WORK/containerd-$CONTAINERD_VERSION" m=github.com/containerd/containerd/v2
  mkdir -p "$d"
  if [ ! -f "$d/.resolved" ]; then
    rm -f "$d/go.mod" "$d/go.sum"
    (cd "$d" && "$GO" mod init mv-e2e-containerd >/dev/null 2>&1 && "$GO" mod edit -go=1.26.6 \
      && "$GO" get "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr") >&2
    touch "$d/.resolved"
  fi
  log "building containerd $CONTAINERD_VERSION"
  # no cgo: the btrfs snapshotter (cgo) is left out; overlayfs and native remain
  (cd "$d" && gobuild -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Revision=$CONTAINERD_VERSION" \
    -o "$OUT/" "$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr")
}

t0=$SECONDS
rm -f "$OUT/.build-key"
etcd; log "etcd done at $((SECONDS - t0))s"
containerd; log "containerd done at $((SECONDS - t0))s"
k8s; log "kubernetes done at $((SECONDS - t0))s"
all_present || die "not every binary was produced in $OUT (${BINS[*]})"
"$OUT/kube-apiserver" --version >&2
"$OUT/etcd" --version | head -1 >&2
"$OUT/containerd" --version >&2
echo "$KEY" > "$OUT/.build-key"
log "done in $((SECONDS - t0))s -> $OUT (key $KEY)"
