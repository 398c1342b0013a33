#!/usr/bin/env bash
# Creates (or refreshes) the project-local virtualenv .venv with the pinned
# Python tools of scripts/requirements.lock. Idempotent and quiet when the
# venv already matches the lock. Prints the venv's bin directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
lock="$root/scripts/requirements.lock"
stamp="$venv/.lock.sha256"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing Python tools into .venv (moto, cfn-lint, sam, cargo-lambda, zig)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$lock" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin"
