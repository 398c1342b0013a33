#!/usr/bin/env bash
# Proves the SAM build path end to end for one function: `sam build` with
# BuildMethod rust-cargolambda (SAM drives cargo-lambda, which cross-builds
# with zig), the way `sam deploy` will, not only `make package`. The
# dispatch function is the smallest. Needs no AWS account.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
export PATH="$bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
cd "$root"
start=$(date +%s)
sam build DispatchFunction --beta-features --build-in-source --no-cached --build-dir target/sam-build
artifact=target/sam-build/DispatchFunction/bootstrap
test -x "$artifact" || { echo "sam build made no $artifact" >&2; exit 1; }
# An ELF binary for AArch64 (e_machine 183), as Lambda's arm64 runtime runs.
python3 -c 'import sys; h = open(sys.argv[1], "rb").read(20); sys.exit(h[:4] != b"\x7fELF" or int.from_bytes(h[18:20], "little") != 183)' "$artifact" \
  || { echo "$artifact is not an arm64 ELF binary" >&2; exit 1; }
echo "sam build DispatchFunction: $(stat -c %s "$artifact") bytes, arm64, in $(( $(date +%s) - start ))s"
