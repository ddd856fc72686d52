#!/usr/bin/env bash
# The README's benchmark: full dashboard interactions at 1M and 10M rows (200 random states each).
set -euo pipefail
cd "$(dirname "$0")/.."
for rows in 1000000 10000000; do
  node bench/dashboard.mjs --rows "$rows" --states "${STATES:-200}"
done
