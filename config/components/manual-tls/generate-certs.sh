#!/usr/bin/env bash
# Makes the webhook's TLS material for the manual-tls component (testing overlay):
#   certs/ca.crt, certs/ca.key    a self-signed EC P-256 CA (kept if it exists; --new-ca replaces it)
#   certs/tls.crt, certs/tls.key  a serving certificate for the webhook Service, signed by the CA,
#                                 always newly issued (so a re-run + re-apply is a rotation)
#
#   generate-certs.sh [--new-ca] [NAMESPACE] [SERVICE]
#     NAMESPACE  default model-validation-operator-test (the testing overlay's namespace)
#     SERVICE    default model-validation-webhook (namePrefix + the webhook Service)
#   CERT_DAYS    validity of the serving certificate (default 30)
#
# The certificate names SERVICE.NAMESPACE.svc (what the API server checks) and
# SERVICE.NAMESPACE.svc.cluster.local. Needs openssl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
new_ca=0
if [ "${1:-}" = "--new-ca" ]; then new_ca=1; shift; fi
NS="${1:-model-validation-operator-test}"
SVC="${2:-model-validation-webhook}"
DAYS="${CERT_DAYS:-30}"
command -v openssl >/dev/null || { echo "generate-certs: openssl not found" >&2; exit 2; }
mkdir -p certs
umask 077
if [ "$new_ca" = 1 ] || [ ! -s certs/ca.crt ] || [ ! -s certs/ca.key ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out certs/ca.key
  openssl req -x509 -new -key certs/ca.key -sha256 -days 3650 -subj "/CN=model-validation-webhook-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out certs/ca.crt
fi
openssl ecparam -name prime256v1 -genkey -noout -out certs/tls.key.new
openssl req -new -key certs/tls.key.new -subj "/CN=$SVC.$NS.svc" -out certs/tls.csr
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\n' \
  "$SVC" "$NS" "$SVC" "$NS" > certs/tls.ext
openssl x509 -req -in certs/tls.csr -CA certs/ca.crt -CAkey certs/ca.key -CAcreateserial -sha256 \
  -days "$DAYS" -extfile certs/tls.ext -out certs/tls.crt.new 2>/dev/null
mv certs/tls.key.new certs/tls.key
mv certs/tls.crt.new certs/tls.crt
rm -f certs/tls.csr certs/tls.ext certs/ca.srl
chmod 0644 certs/ca.crt certs/tls.crt
echo "generate-certs: certs/tls.crt for $SVC.$NS.svc, serial $(openssl x509 -in certs/tls.crt -noout -serial | cut -d= -f2)" >&2
