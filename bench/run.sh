#!/usr/bin/env bash
# The README's benchmarks: full dashboard interactions over HTTP at 1M and 10M rows (200 random
# states each), then the browser-level measurement at 10M rows (60 states).
set -euo pipefail
cd "$(dirname "$0")/.."
for rows in 1000000 10000000; do
  node bench/dashboard.mjs --rows "$rows" --states "${STATES:-200}"
done
node bench/browser.mjs --rows 10000000 --states "${BROWSER_STATES:-60}"
