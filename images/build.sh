#!/usr/bin/env bash
# Builds the two container images from static release binaries, without a Docker daemon:
#   localhost/model-validation-operator:$TAG   (images/Containerfile.operator)
#   localhost/model-verifier:$TAG              (images/Containerfile.verifier; also answers to
#                                               /usr/local/bin/model_signing and
#                                               /usr/local/bin/validation-agent)
# and writes each as an OCI archive, ready for "ctr images import" / "podman load".
#
#   images/build.sh [operator|verifier]...      default: both
#
# Environment:
#   TAG          image tag (default: dev; the testing overlay and the e2e suite use "testing")
#   IMAGE_REPO   repository prefix (default: localhost)
#   OUT          where the OCI archives go (default: $MV_CACHE_DIR/images)
#   MV_CACHE_DIR default ${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator
#   CARGO_TARGET_DIR  default $MV_CACHE_DIR/target-static (a separate target dir: the static
#                release build must not thrash the shared development target dir)
#   CONTAINER_TOOL    podman, buildah or docker (default: the first one found, in that order)
#   CONTAINERS_CONF   default tests/e2e/containers.conf (runc + fixed ulimits; see that file)
#   SKIP_CARGO=1 reuse the binaries already in CARGO_TARGET_DIR
#
# The binaries are linked statically against glibc (-C target-feature=+crt-static) for the
# x86_64-unknown-linux-gnu target, so the images are FROM scratch and run as user 65532.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
TAG="${TAG:-dev}"
IMAGE_REPO="${IMAGE_REPO:-localhost}"
MV_CACHE_DIR="${MV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/model-validation-operator}"
OUT="${OUT:-$MV_CACHE_DIR/images}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MV_CACHE_DIR/target-static}"
TARGET=x86_64-unknown-linux-gnu
if [ -z "${CONTAINERS_CONF:-}" ]; then export CONTAINERS_CONF="$REPO/tests/e2e/containers.conf"; fi

log() { echo "[images] $*" >&2; }
die() { echo "[images] error: $*" >&2; exit 2; }

WHICH=("$@"); [ ${#WHICH[@]} -eq 0 ] && WHICH=(operator verifier)
for w in "${WHICH[@]}"; do case "$w" in operator|verifier) ;; *) die "unknown image '$w' (operator|verifier)" ;; esac; done

TOOL="${CONTAINER_TOOL:-}"
if [ -z "$TOOL" ]; then
  for t in podman buildah docker; do command -v "$t" >/dev/null 2>&1 && { TOOL="$t"; break; }; done
fi
[ -n "$TOOL" ] || die "no podman, buildah or docker found (apt-get install -y podman buildah skopeo)"

# package -> binary -> image name
pkg_of() { case "$1" in operator) echo model-validation-operator ;; verifier) echo model-verifier ;; esac; }
bin_of() { case "$1" in operator) echo model-validation-operator ;; verifier) echo model-verifier ;; esac; }
image_of() { echo "$IMAGE_REPO/$(bin_of "$1"):$TAG"; }

if [ "${SKIP_CARGO:-0}" != 1 ]; then
  args=()
  for w in "${WHICH[@]}"; do args+=(-p "$(pkg_of "$w")" --bin "$(bin_of "$w")"); done
  log "cargo build --release (static) ${args[*]} -> $CARGO_TARGET_DIR"
  t0=$SECONDS
  (cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" nice -n 10 \
    cargo build --release --locked --target "$TARGET" "${args[@]}")
  log "cargo done in $((SECONDS - t0))s"
fi

mkdir -p "$OUT"
for w in "${WHICH[@]}"; do
  bin="$(bin_of "$w")"; img="$(image_of "$w")"
  src="$CARGO_TARGET_DIR/$TARGET/release/$bin"
  [ -x "$src" ] || die "$src missing (build failed, or SKIP_CARGO=1 without a previous build)"
  if file "$src" 2>/dev/null | grep -q 'dynamically linked'; then die "$src is dynamically linked; it cannot run FROM scratch"; fi
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/mv-image-$w.XXXXXX")"
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/rootfs/usr/local/bin"
  install -m 0755 "$src" "$ctx/rootfs/usr/local/bin/$bin"
  # symbols are of no use in the image (about -15%); panics still print their message
  if command -v strip >/dev/null 2>&1; then strip "$ctx/rootfs/usr/local/bin/$bin"; fi
  # The verifier also answers as upstream's two programs: model_signing (one-shot) and
  # validation-agent (continuous; it picks its arguments by the name it is run under).
  if [ "$w" = verifier ]; then
    ln -s "$bin" "$ctx/rootfs/usr/local/bin/model_signing"
    ln -s "$bin" "$ctx/rootfs/usr/local/bin/validation-agent"
  fi
  cp "$HERE/Containerfile.$w" "$ctx/Containerfile"
  log "building $img with $TOOL"
  case "$TOOL" in
    podman) podman build -q --layers=false -t "$img" -f "$ctx/Containerfile" "$ctx" >/dev/null ;;
    buildah) buildah bud -q --layers=false -t "$img" -f "$ctx/Containerfile" "$ctx" >/dev/null ;;
    docker) docker build -q -t "$img" -f "$ctx/Containerfile" "$ctx" >/dev/null ;;
  esac
  archive="$OUT/$bin-$TAG.oci.tar"
  rm -f "$archive"
  case "$TOOL" in
    podman|buildah) skopeo copy -q "containers-storage:$img" "oci-archive:$archive:$img" ;;
    docker) docker save -o "$archive" "$img" ;;
  esac
  size="$($TOOL image inspect --format '{{.Size}}' "$img" 2>/dev/null || echo '?')"
  log "$img: binary $(du -h "$ctx/rootfs/usr/local/bin/$bin" | cut -f1) stripped, image $size bytes, archive $archive ($(du -h "$archive" | cut -f1))"
  rm -rf "$ctx"; trap - EXIT
done
