#!/usr/bin/env bash
# Regenerates testdata/: a small model, its keys and certificate chain (TEST ONLY: the private
# keys are published here on purpose), signatures made by this project's own signer, and a
# tampered copy of the model.
#
#   testdata/generate.sh [path/to/model-verifier]     (default: builds it with cargo)
#
# The model's bytes are deterministic (the large file is an AES-CTR keystream of a fixed key),
# so regenerating changes only the keys, certificates and signatures (ECDSA is randomised).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${1:-}" ]; then
  MV="$(realpath "$1")"
else
  (cd "$here/.." && cargo build -q --release -p model-verifier)
  MV="$here/../target/release/model-verifier"
fi
cd "$here"

rm -rf model model-tampered keys signatures
mkdir -p model/weights keys signatures

# --- the model: a few small files and a 2 MiB weights file ---------------------------------
cat > model/config.json <<'EOF'
{"architectures": ["TinyDemoModel"], "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 256}
EOF
cat > model/tokenizer.json <<'EOF'
{"version": "1.0", "model": {"type": "ByteLevel"}, "added_tokens": []}
EOF
cat > model/README.md <<'EOF'
# tiny-demo-model
A made-up model for the model-validation-operator examples and tests. Not a real network.
EOF
head -c $((2 * 1024 * 1024)) /dev/zero \
  | openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
  > model/weights/model.safetensors

# --- keys and a root -> intermediate -> leaf chain (P-384 root, P-256 below) --------------------
days=7300
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out keys/signing-key.pem
openssl pkey -in keys/signing-key.pem -pubout -out keys/signing-key.pub
openssl ecparam -name secp384r1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out keys/root-ca-key.pem
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out keys/intermediate-ca-key.pem

openssl req -x509 -new -key keys/root-ca-key.pem -sha384 -days "$days" -subj "/O=model-validation-operator testdata/CN=Test Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out keys/root-ca.pem
openssl req -new -key keys/intermediate-ca-key.pem -subj "/O=model-validation-operator testdata/CN=Test Intermediate CA" \
  | openssl x509 -req -CA keys/root-ca.pem -CAkey keys/root-ca-key.pem -CAcreateserial -sha384 -days "$days" \
      -extfile <(printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n') \
      -out keys/intermediate-ca.pem
openssl req -new -key keys/signing-key.pem -subj "/O=model-validation-operator testdata/CN=Test Model Signer" \
  | openssl x509 -req -CA keys/intermediate-ca.pem -CAkey keys/intermediate-ca-key.pem -CAcreateserial -sha256 -days "$days" \
      -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n') \
      -out keys/signing-cert.pem
rm -f keys/*.srl
chmod 644 keys/*
cp keys/signing-key.pub ../examples/offline/signing-key.pub

# --- signatures (outside the model, so they need no --ignore-paths) -----------------------------
"$MV" sign key model --private_key keys/signing-key.pem --signature signatures/key.sig
"$MV" sign certificate model --private_key keys/signing-key.pem --signing_certificate keys/signing-cert.pem \
  --certificate_chain keys/intermediate-ca.pem --signature signatures/certificate.sig

# --- a tampered copy: one byte of the weights flipped ------------------------------------------
cp -r model model-tampered
printf '\xff' | dd of=model-tampered/weights/model.safetensors bs=1 seek=1048576 conv=notrunc status=none

# --- check -------------------------------------------------------------------------------------
"$MV" verify key model --signature signatures/key.sig --public_key keys/signing-key.pub
"$MV" verify certificate model --signature signatures/certificate.sig --certificate_chain keys/root-ca.pem
if "$MV" verify key model-tampered --signature signatures/key.sig --public_key keys/signing-key.pub 2>/dev/null; then
  echo "generate.sh: the tampered copy verified" >&2
  exit 1
fi
echo "testdata regenerated"
