#!/usr/bin/env bash
# The house rules of issue 19 that neither rustfmt nor clippy check (clippy checks the
# function length: too_many_lines, threshold in clippy.toml):
#   - no source file over 800 lines of non-test code (lines before `#[cfg(test)]`; a file that
#     is itself a test module, `tests.rs`, is test code);
#   - at most two integration test binaries per crate (files in <crate>/tests/*.rs and
#     directories <crate>/tests/<name>/main.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
max_lines=800
fail=0
while IFS= read -r f; do
  n=$(awk '/^#\[cfg\(test\)\]/{exit} {c++} END{print c+0}' "$f")
  if [ "$n" -gt "$max_lines" ]; then
    echo "structure: $f has $n lines of non-test code (at most $max_lines)" >&2
    fail=1
  fi
done < <(find verifier/src operator/src shared/src benches/src -name '*.rs' ! -name tests.rs | sort)
for crate in verifier operator shared benches; do
  [ -d "$crate/tests" ] || continue
  count=$( { find "$crate/tests" -maxdepth 1 -name '*.rs'; find "$crate/tests" -mindepth 2 -maxdepth 2 -name main.rs; } | wc -l)
  if [ "$count" -gt 2 ]; then
    echo "structure: $crate has $count integration test binaries (at most 2)" >&2
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "structure: ok (files <= $max_lines non-test lines, <= 2 test binaries per crate)"
exit "$fail"
