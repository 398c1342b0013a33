#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint`, from the
# project-local virtualenv. Both must be clean.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/python-tools.sh")
cd "$root"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0
# The global regions and the AWS China regions (a Shenzhen deployment on
# AWS would be in cn-north-1 or cn-northwest-1): what exists in one
# partition but not the other shows here, not in the emulator.
# With the serverless rules (cfn-lint-serverless): each remaining finding is
# fixed or waived in the template with the reason beside it.
"$bin/cfn-lint" --regions us-east-1 cn-north-1 cn-northwest-1 -a cfn_lint_serverless.rules -- template.yaml
"$bin/sam" validate --lint --template-file template.yaml
echo "template.yaml: cfn-lint with the serverless rules (us-east-1, cn-north-1, cn-northwest-1) and sam validate --lint are clean"
