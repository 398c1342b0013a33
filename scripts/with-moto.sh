#!/usr/bin/env bash
# Runs a command with the moto AWS emulator listening on a free loopback
# port, then stops it. The command sees AWS_ENDPOINT_URL and dummy
# credentials; nothing leaves the machine.
#   scripts/with-moto.sh cargo test -p subsidy-tests --test emulator
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$root/target/moto.log"
mkdir -p "$root/target"
# moto_serial.py: moto with requests handled one at a time, so conditional
# writes are atomic as in DynamoDB (see the file).
"$bin/python" "$root/scripts/moto_serial.py" 127.0.0.1 "$port" > "$log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/moto-api/" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$moto" 2>/dev/null; then echo "moto failed to start; see $log" >&2; exit 1; fi
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "moto on $AWS_ENDPOINT_URL (pid $moto)" >&2
"$@"
