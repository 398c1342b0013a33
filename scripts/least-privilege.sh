#!/usr/bin/env bash
# Least privilege, proven (docs/RELIABILITY.md): checks every permission the
# functions' code used in the emulator suites (target/least-privilege/uses,
# written by each emulator stack) against each function's role as
# CloudFormation creates it from template.yaml. Fails on a use the role
# denies and on a granted action no use needs (unless waived, with the
# reason, in tools/iam/waivers.json). Run after the emulator suites
# (`make test-emulator` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
cd "$root"
mkdir -p target/least-privilege
# aws-sam-translator expands SAM's policy templates and event permissions,
# exactly as `sam deploy` would.
AWS_DEFAULT_REGION=us-east-1 "$bin/python" tools/iam/expand.py template.yaml target/least-privilege/policies.json
(cd tools/iam && npm ci --no-audit --no-fund --silent)
node tools/iam/check.mjs target/least-privilege
