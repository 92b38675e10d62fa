#!/usr/bin/env bash
# Builds the end-to-end suite's model image, FROM scratch with Debian's static busybox:
#   /bin/busybox                     to copy the models into an emptyDir (init container) and to
#                                    sleep (the "model server" main container)
#   /payload/models/key-signed/      a small model (3 files, one of 2 MiB) + model.sig, signed
#                                    with an EC P-256 key
#   /payload/models/key-tampered/    the same model and signature, one byte of the weights changed
#   /payload/models/wrong-signed/    the same model signed with the other key (wrong.pub): a second
#                                    trusted signer
#   /payload/models/unsigned/        the same model, no signature
#   /payload/models/cert-signed/     signed with a certificate (leaf <- intermediate <- root)
#   /payload/models/sigstore/        upstream's genuine Sigstore-signed vector v1.1.0-sigstore,
#                                    vendored in testdata/upstream/
#   /payload/keys/key.pub, wrong.pub, ca-root.pem, trust_config.json (public-good, offline)
# Models are signed at build time with the real Python `model_signing` 1.1.1 (the interop peer
# installed by .ci/install.sh), so the in-cluster verifier checks signatures it did not make.
#
#   tests/e2e/model-image.sh IMAGE ARCHIVE [VOLUME_DIR]
#
# With VOLUME_DIR it also writes the model alone as two OCI images, for image volumes (FROM
# scratch, the files of key-signed/ at the image's root): VOLUME_DIR/mv-e2e-model-signed.oci.tar
# and VOLUME_DIR/mv-e2e-model-tampered.oci.tar (the key-tampered/ files); and the public keys
# alone (payload/keys/ at the root) as VOLUME_DIR/mv-e2e-keys.oci.tar.
#
# Environment: MV_PYTHON_VENV (default $HOME/.cache/model-validation-operator/venv), CONTAINERS_CONF.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
IMAGE="${1:?usage: model-image.sh IMAGE ARCHIVE}"
ARCHIVE="${2:?usage: model-image.sh IMAGE ARCHIVE}"
VENV="${MV_PYTHON_VENV:-$HOME/.cache/model-validation-operator/venv}"
VECTORS="$REPO/testdata/upstream"
if [ -z "${CONTAINERS_CONF:-}" ]; then export CONTAINERS_CONF="$HERE/containers.conf"; fi
log() { echo "[model-image] $*" >&2; }
die() { echo "[model-image] error: $*" >&2; exit 2; }

SIGNER="$VENV/bin/model_signing"
[ -x "$SIGNER" ] || die "$SIGNER not found; run .ci/install.sh (installs model_signing 1.1.1 in a venv)"
BUSYBOX="$(command -v busybox || true)"
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' \
  || die "a static busybox is needed (apt-get install -y busybox-static)"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/mv-e2e-model.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
P="$ctx/payload"; M="$P/models"; K="$P/keys"; S="$ctx/secret"
mkdir -p "$ctx/bin" "$M" "$K" "$S"
cp "$BUSYBOX" "$ctx/bin/busybox"

# --- the model: a config, a tokenizer, 2 MiB of "weights" (deterministic bytes)
mkdir -p "$M/unsigned"
printf '{"architectures": ["TinyModel"], "hidden_size": 64, "num_layers": 2}\n' > "$M/unsigned/config.json"
printf '{"version": "1.0", "vocab": {"<s>": 0, "</s>": 1, "hello": 2}}\n' > "$M/unsigned/tokenizer.json"
head -c $((2 * 1024 * 1024)) /dev/zero | openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff \
  -iv 00000000000000000000000000000000 -nosalt > "$M/unsigned/weights.bin"

# --- keys: the signing key, an unrelated key, a certificate chain
openssl ecparam -name prime256v1 -genkey -noout -out "$S/key.pem"
openssl ec -in "$S/key.pem" -pubout -out "$K/key.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$S/wrong.pem"
openssl ec -in "$S/wrong.pem" -pubout -out "$K/wrong.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$S/root.key"
openssl req -x509 -new -key "$S/root.key" -sha256 -days 3650 -subj "/CN=mv-e2e-root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$K/ca-root.pem"
openssl ecparam -name prime256v1 -genkey -noout -out "$S/int.key"
openssl req -new -key "$S/int.key" -subj "/CN=mv-e2e-intermediate" -out "$S/int.csr"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$S/int.ext"
openssl x509 -req -in "$S/int.csr" -CA "$K/ca-root.pem" -CAkey "$S/root.key" -CAcreateserial -CAserial "$S/root.srl" -sha256 -days 3650 -extfile "$S/int.ext" -out "$S/int.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$S/leaf.key"
openssl req -new -key "$S/leaf.key" -subj "/CN=mv-e2e-signer" -out "$S/leaf.csr"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$S/leaf.ext"
openssl x509 -req -in "$S/leaf.csr" -CA "$S/int.pem" -CAkey "$S/int.key" -CAcreateserial -CAserial "$S/int.srl" -sha256 -days 365 -extfile "$S/leaf.ext" -out "$S/leaf.pem" 2>/dev/null

# --- signed variants (model.sig inside the model directory, the operator's default)
cp -a "$M/unsigned" "$M/key-signed"
"$SIGNER" sign key --private_key "$S/key.pem" --signature "$M/key-signed/model.sig" "$M/key-signed" >/dev/null
cp -a "$M/unsigned" "$M/wrong-signed"
"$SIGNER" sign key --private_key "$S/wrong.pem" --signature "$M/wrong-signed/model.sig" "$M/wrong-signed" >/dev/null
cp -a "$M/key-signed" "$M/key-tampered"
printf '\x01' | dd of="$M/key-tampered/weights.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
cp -a "$M/unsigned" "$M/cert-signed"
"$SIGNER" sign certificate --private_key "$S/leaf.key" --signing_certificate "$S/leaf.pem" \
  --certificate_chain "$S/int.pem" --signature "$M/cert-signed/model.sig" "$M/cert-signed" >/dev/null
# sanity: the reference tool accepts what it signed (a broken fixture must not look like a bug)
"$SIGNER" verify key --public_key "$K/key.pub" --signature "$M/key-signed/model.sig" "$M/key-signed" >/dev/null
"$SIGNER" verify key --public_key "$K/wrong.pub" --signature "$M/wrong-signed/model.sig" "$M/wrong-signed" >/dev/null
"$SIGNER" verify certificate --certificate_chain "$K/ca-root.pem" --signature "$M/cert-signed/model.sig" "$M/cert-signed" >/dev/null
if "$SIGNER" verify key --public_key "$K/key.pub" --signature "$M/key-tampered/model.sig" "$M/key-tampered" >/dev/null 2>&1; then
  die "the tampered model still verifies with model_signing"
fi

[ -f "$VECTORS/v1.1.0-sigstore/model.sig" ] && [ -f "$VECTORS/public_good_trust_config.json" ] \
  || die "the vendored Sigstore vector is missing from $VECTORS"
cp -a "$VECTORS/v1.1.0-sigstore" "$M/sigstore"
cp "$VECTORS/public_good_trust_config.json" "$K/trust_config.json"
chmod -R a+rX "$P"

cat > "$ctx/Containerfile" <<'EOF'
FROM scratch
COPY bin/busybox /bin/busybox
COPY payload/ /payload/
USER 65532:65532
ENTRYPOINT ["/bin/busybox"]
EOF
rm -rf "$S"
buildah bud -q --layers=false -t "$IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
rm -f "$ARCHIVE"
skopeo copy -q "containers-storage:$IMAGE" "oci-archive:$ARCHIVE:$IMAGE"
log "$IMAGE -> $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1))"

if [ -n "${3:-}" ]; then
  mkdir -p "$3"
  for v in signed tampered; do
    printf 'FROM scratch\nCOPY payload/models/key-%s/ /\n' "$v" > "$ctx/Containerfile.$v"
    buildah bud -q --layers=false -t "localhost/mv-e2e-model:$v" -f "$ctx/Containerfile.$v" "$ctx" >/dev/null
    rm -f "$3/mv-e2e-model-$v.oci.tar"
    skopeo copy -q "containers-storage:localhost/mv-e2e-model:$v" "oci-archive:$3/mv-e2e-model-$v.oci.tar:localhost/mv-e2e-model:$v"
    log "localhost/mv-e2e-model:$v -> $3/mv-e2e-model-$v.oci.tar"
  done
  printf 'FROM scratch\nCOPY payload/keys/ /\n' > "$ctx/Containerfile.keys"
  buildah bud -q --layers=false -t "localhost/mv-e2e-keys:v1" -f "$ctx/Containerfile.keys" "$ctx" >/dev/null
  rm -f "$3/mv-e2e-keys.oci.tar"
  skopeo copy -q "containers-storage:localhost/mv-e2e-keys:v1" "oci-archive:$3/mv-e2e-keys.oci.tar:localhost/mv-e2e-keys:v1"
  log "localhost/mv-e2e-keys:v1 -> $3/mv-e2e-keys.oci.tar"
fi
