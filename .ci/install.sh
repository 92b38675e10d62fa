#!/usr/bin/env bash
# Installs everything the tests need. Idempotent; safe to run on a developer machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v make >/dev/null || need_apt+=(make)
command -v openssl >/dev/null || need_apt+=(openssl)
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
"$VENV/bin/model_signing" --version
