#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint`, from the
# project-local virtualenv. Both must be clean.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
cd "$root"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0
"$bin/cfn-lint" template.yaml
"$bin/sam" validate --lint --template-file template.yaml
echo "template.yaml: cfn-lint and sam validate --lint are clean"
