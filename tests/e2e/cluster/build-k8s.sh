#!/usr/bin/env bash
# Builds the Kubernetes v1.20.2 server binaries the end-to-end suite needs (kube-apiserver, kubelet,
# kube-scheduler, kube-controller-manager, kube-proxy) from Debian bookworm's "kubernetes" SOURCE
# package (1.20.5+really1.20.2-1.1+deb12u1: the full upstream tree including vendor/), with
# Debian's Go. Only Debian's package archive is contacted: no GitHub, no Go module proxy.
#
#   build-k8s.sh                      build all five into the default cache directory
#   build-k8s.sh OUT_DIR [WHAT...]    build WHAT (cmd/<name>, default: all five) into OUT_DIR
#   build-k8s.sh --cache-key [WHAT...]  print the cache key (hash of this script + WHAT) and exit
#   build-k8s.sh --bin-dir            print the default cache directory for all five and exit
#   build-k8s.sh --help
#
# The binaries are cached OUTSIDE the repository, keyed by --cache-key:
#   ${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}/k8s-1.20.2-<key>
# A second run with the same key returns at once. Never commit the binaries.
#
# Environment:
#   MV_CACHE_DIR             cache root (default $XDG_CACHE_HOME or $HOME/.cache, + /model-validation-operator)
#   WORK                     source tree + Go build cache, kept so rebuilds are incremental
#                            (default $MV_CACHE_DIR/k8s-debsrc; about 3 GB)
#   DEBIAN_ARCHIVE           archive base URL for the private deb-src list (default: first "URIs:"
#                            of /etc/apt/sources.list.d/debian.sources, else the first "deb" line of
#                            /etc/apt/sources.list)
#   DEBIAN_SECURITY_ARCHIVE  security archive base URL (default: the stanza whose Suites contain
#                            "-security", else "$DEBIAN_ARCHIVE-security")
#   FORCE=1                  rebuild even if OUT_DIR holds binaries with the same key
#
# Also writes OUT_DIR/pause (static, from build/pause/linux/pause.c) for the node's sandbox image.
# Cold build of all five on 2 cores: about 11 minutes of CPU. Run it niced on shared machines.
# The system's apt configuration is never modified (the deb-src list lives in $WORK).
set -euo pipefail

PKGVER="1.20.5+really1.20.2-1.1+deb12u1"
SELF="${BASH_SOURCE[0]}"

die() { echo "[build-k8s] error: $*" >&2; exit 1; }
log() { echo "[build-k8s] $*" >&2; }

usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$SELF"; }

cache_key() { # WHAT...
  { sha256sum < "$SELF"; printf '%s\n' "$PKGVER" "$@"; } | sha256sum | cut -c1-16
}

ALL=(cmd/kube-apiserver cmd/kubelet cmd/kube-scheduler cmd/kube-controller-manager cmd/kube-proxy)
CACHE="${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}"

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --cache-key)
    shift
    [ $# -eq 0 ] && set -- "${ALL[@]}"
    cache_key "$@"; exit 0 ;;
  --bin-dir)
    echo "$CACHE/k8s-1.20.2-$(cache_key "${ALL[@]}")"; exit 0 ;;
esac

if [ $# -gt 0 ]; then OUT="$1"; shift; else OUT="$CACHE/k8s-1.20.2-$(cache_key "${ALL[@]}")"; fi
WHAT=("$@"); [ ${#WHAT[@]} -eq 0 ] && WHAT=("${ALL[@]}")
WORK="${WORK:-$CACHE/k8s-debsrc}"
for w in "${WHAT[@]}"; do
  case "$w" in cmd/*) ;; *) die "WHAT must look like cmd/<name>, got '$w'" ;; esac
done

KEY="$(cache_key "${WHAT[@]}")"
all_present() {
  for w in "${WHAT[@]}"; do [ -x "$OUT/$(basename "$w")" ] || return 1; done
  [ -x "$OUT/pause" ]
}
if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/.build-key" ] && [ "$(cat "$OUT/.build-key")" = "$KEY" ] && all_present; then
  log "up to date in $OUT (key $KEY); FORCE=1 rebuilds"
  exit 0
fi

# ---- prerequisites -------------------------------------------------------------------------
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs a Debian bookworm system"
if [ -r /etc/os-release ] && ! grep -q 'VERSION_CODENAME=bookworm' /etc/os-release; then
  log "warning: not Debian bookworm; the source package and Go version may not match"
fi

mkdir -p "$WORK/lists/partial" "$OUT"
exec 9>"$WORK/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || die "another build is using $WORK (lock $WORK/.lock)"
fi

avail_kb="$(df -Pk "$WORK" | awk 'NR==2 {print $4}')"
[ "${avail_kb:-0}" -ge 3500000 ] || log "warning: less than 3.5 GB free under $WORK; the build needs about 3 GB"

export DEBIAN_FRONTEND=noninteractive
need=()
for p in golang-go make rsync jq dpkg-dev gcc libc6-dev golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}); install them as root: apt-get install -y --no-install-recommends ${need[*]}"
  log "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for p in github.com/modern-go/reflect2 github.com/json-iterator/go; do
  [ -d "/usr/share/gocode/src/$p" ] || die "/usr/share/gocode/src/$p missing (Debian Go source package not installed?)"
done

# ---- archive location (taken from the existing apt configuration) ---------------------------
default_archive() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -r "$f" ]; then
    awk '/^URIs:/ {print $2; exit}' "$f"
  elif [ -r /etc/apt/sources.list ]; then
    awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list
  fi
}
default_security_archive() {
  local f=/etc/apt/sources.list.d/debian.sources
  [ -r "$f" ] || return 0
  # stanzas are separated by blank lines; print the URIs of the first stanza with a -security suite
  awk 'BEGIN {RS=""} /Suites:[^\n]*-security/ {if (match($0, /URIs:[ \t]*[^ \t\n]+/)) {s = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit}}' "$f"
}

SRC="$WORK/k8s-src"
if [ ! -f "$SRC/.prepared" ]; then
  ARCHIVE="${DEBIAN_ARCHIVE:-$(default_archive)}"
  [ -n "$ARCHIVE" ] || die "cannot find a Debian archive URL in /etc/apt; set DEBIAN_ARCHIVE"
  SEC_ARCHIVE="${DEBIAN_SECURITY_ARCHIVE:-$(default_security_archive)}"
  SEC_ARCHIVE="${SEC_ARCHIVE:-${ARCHIVE%/}-security}"
  # private deb-src list: does not touch /etc/apt. Pin the archive keyring when it is installed.
  local_opt=""
  [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] && local_opt="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
  printf 'deb-src %s%s bookworm main\ndeb-src %s%s bookworm-security main\n' \
    "$local_opt" "$ARCHIVE" "$local_opt" "$SEC_ARCHIVE" > "$WORK/sources.list"
  O=(-o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$WORK/lists")
  log "downloading source package kubernetes=$PKGVER"
  apt-get "${O[@]}" update -qq > "$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; die "apt-get update (deb-src) failed"; }
  (cd "$WORK" && apt-get "${O[@]}" source --download-only "kubernetes=$PKGVER") >> "$WORK/apt.log" 2>&1 \
    || { tail -20 "$WORK/apt.log" >&2; die "apt-get source kubernetes=$PKGVER failed"; }
  [ -f "$WORK/kubernetes_${PKGVER}.dsc" ] || die "kubernetes_${PKGVER}.dsc not downloaded; see $WORK/apt.log"
  rm -rf "$SRC"
  (cd "$WORK" && dpkg-source -x "kubernetes_${PKGVER}.dsc" "$SRC" >/dev/null)
  # k8s 1.20 vendors reflect2 v1.0.1 / json-iterator v1.1.10, which crash under Go >= 1.18
  # ("fatal error: fault" in reflect2 map iteration the first time the apiserver serialises a
  # custom resource). Swap in Debian's reflect2 1.0.2 / json-iterator 1.1.12 (API compatible).
  for p in github.com/modern-go/reflect2 github.com/json-iterator/go; do
    rm -rf "${SRC:?}/vendor/$p"; mkdir -p "$SRC/vendor/$p"
    cp -a "/usr/share/gocode/src/$p/." "$SRC/vendor/$p/"
    find "$SRC/vendor/$p" -name '*_test.go' -delete
  done
  touch "$SRC/.prepared"
fi

# ---- build ---------------------------------------------------------------------------------
cd "$SRC"
export HOME="$WORK/home" GOFLAGS= CGO_ENABLED=0
mkdir -p "$HOME"
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
       KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
# 1.20 builds in GOPATH mode: hack/lib/init.sh sets GO111MODULE=off. A plain
# "go build ./cmd/kube-apiserver" fails with "updates to go.mod needed, disabled by -mod=vendor".
log "building ${WHAT[*]} (cold: ~11 min for all five on 2 cores)"
t0=$SECONDS
make WHAT="${WHAT[*]}" GOLDFLAGS="-s -w"
for w in "${WHAT[@]}"; do
  b="$(basename "$w")"
  [ -x "_output/bin/$b" ] || die "_output/bin/$b was not produced"
  install -m 0755 "_output/bin/$b" "$OUT/$b"
  "$OUT/$b" --version 2>/dev/null || true
done
# The node's sandbox ("pause") image: compiled from the same source tree, static, so the node
# scripts need nothing but $OUT.
gcc -Os -static -DVERSION=v3.4.1-local -o "$OUT/pause" build/pause/linux/pause.c
echo "$KEY" > "$OUT/.build-key"
log "done in $((SECONDS - t0))s: ${WHAT[*]} -> $OUT (key $KEY)"
