#!/usr/bin/env bash
# Builds the offline example's model image: FROM scratch, a static busybox (to copy the model
# into the pod's emptyDir), and testdata/model with its key signature as /model/model.sig.
# No registry and no internet: the base is the host's static busybox (Debian: busybox-static).
#
#   examples/offline/build.sh [IMAGE]        (default localhost/tiny-demo-model:1)
# Then load it into your cluster's runtime (kind load / ctr images import / push to your registry).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
IMAGE="${1:-localhost/tiny-demo-model:1}"
BUSYBOX="$(command -v busybox)" || { echo "busybox not found (apt-get install busybox-static)" >&2; exit 2; }
file -L "$BUSYBOX" | grep -q 'statically linked' || { echo "$BUSYBOX is not static" >&2; exit 2; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
cp "$BUSYBOX" "$ctx/bin/busybox"
cp -r "$here/../../testdata/model" "$ctx/model"
cp "$here/../../testdata/signatures/key.sig" "$ctx/model/model.sig"
cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY bin/busybox /bin/busybox
COPY model /model
USER 65532:65532
ENTRYPOINT ["/bin/busybox"]
CF
if command -v podman >/dev/null; then
  podman build -q -t "$IMAGE" "$ctx"
elif command -v buildah >/dev/null; then
  buildah bud -q -t "$IMAGE" "$ctx"
else
  docker build -q -t "$IMAGE" "$ctx"
fi
echo "built $IMAGE"
