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
