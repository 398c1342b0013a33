#!/usr/bin/env bash
# The dependency rule: subsidy-core knows nothing of AWS, Lambda, HTTP or SQL.
# Fails if any crate of those kinds is in core's normal dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(aws-|aws_|lambda|http|hyper|axum|tower|reqwest|rusqlite|libsqlite3|sqlx|diesel|postgres|tokio-postgres|mysql|redis)'
deps=$(cargo tree -p subsidy-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=$(printf '%s\n' "$deps" | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
  echo "subsidy-core must not depend on AWS, Lambda, HTTP or SQL crates, but depends on:" >&2
  printf '  %s\n' $bad >&2
  exit 1
fi
echo "core dependency rule holds: $(printf '%s\n' "$deps" | wc -l) crates, none of AWS, Lambda, HTTP or SQL"

# The standalone binary (`make run`) must not compile the AWS SDK: only the
# Lambda entry points (feature `lambda` of the function crates) use it.
sdk=$(cargo tree -p subsidy-standalone -e normal --prefix none --format '{p}' | awk '{print $1}' | grep -E '^aws-(sdk|config)' | sort -u || true)
if [ -n "$sdk" ]; then
  echo "the standalone binary must not depend on the AWS SDK, but depends on:" >&2
  printf '  %s\n' $sdk >&2
  exit 1
fi
echo "standalone stays free of the AWS SDK"
