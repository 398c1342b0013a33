#!/usr/bin/env bash
# Fuzzes the API from its OpenAPI document (docs/openapi.yaml) with
# schemathesis against a fresh standalone server on a free loopback port,
# as a company, a district reviewer and an administrator, with a fixed seed and a
# bounded number of cases per operation. Fails on any 5xx, any answer that
# does not match the document (status, content type, body schema: every 4xx
# must carry the error body), and on any answer carrying a full phone or
# bank account number of the demo data (scripts/fuzz_hooks.py). Report:
# target/reliability/fuzz-<role>.txt.
# The server logs at debug level meanwhile, and the log is then searched
# for the demo data's phone and bank account numbers: none may appear.
#   scripts/fuzz.sh            (make test runs it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
cargo build --quiet -p subsidy-standalone --bin subsidy
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out="$root/target/reliability"
# The demo data's full phone and account numbers: no answer (fuzz_hooks.py)
# and no log line may carry one.
pii="13800138001 13800138002 13900139001 13900139002 4000021234567890123 6222020200001234567"
mkdir -p "$out"
RUST_LOG=debug "$root/target/debug/subsidy" --data-dir "$data" serve --demo --addr "127.0.0.1:$port" \
  --web-dir "$data/no-web" --nightly-every-hours 0 > "$out/fuzz-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  if curl -sf "$base/api/v1/health" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "the server failed to start; see $out/fuzz-server.log" >&2; exit 1; fi
  sleep 0.1
done
status=0
for user in company-a district-futian admin-futian; do
  token=$(curl -sf -X POST "$base/api/v1/auth/dev-login" -H 'content-type: application/json' \
    -d "{\"username\":\"$user\"}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')
  if PYTHONPATH="$root/scripts" SCHEMATHESIS_HOOKS=fuzz_hooks FUZZ_PII="${FUZZ_PII:-$pii}" "$bin/schemathesis" run "$root/docs/openapi.yaml" --url "$base" -H "Authorization: Bearer $token" \
      --max-examples "${FUZZ_EXAMPLES:-10}" --seed 20201127 \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,no_full_personal_numbers \
      > "$out/fuzz-$user.txt" 2>&1; then
    echo "fuzz as $user: $(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$out/fuzz-$user.txt" | tail -1)" >&2
  else
    status=1
    echo "fuzz as $user FAILED; see $out/fuzz-$user.txt" >&2
    tail -60 "$out/fuzz-$user.txt" >&2
  fi
done
# Personal data never reaches a log line (the demo's phones and accounts).
lines=$(wc -l < "$out/fuzz-server.log")
if grep -nE "${pii// /|}" "$out/fuzz-server.log" > "$out/fuzz-pii.txt"; then
  status=1
  echo "personal data in the server log ($(wc -l < "$out/fuzz-pii.txt") lines); see $out/fuzz-pii.txt" >&2
  head -5 "$out/fuzz-pii.txt" >&2
else
  echo "server log: $lines lines, no phone or bank account number" >&2
fi
exit $status
