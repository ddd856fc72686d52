#!/usr/bin/env bash
# The benchmark the performance work is judged by (see bench/README.md; `make bench` runs this).
#
#   bench/run.sh                 HTTP: optimized vs naive side by side, every dashboard of both
#                                projects (examples/sales, bench/projects/rides), 1M and 10M rows,
#                                200 states each; then the browser benchmark at 10M rows
#   bench/run.sh --big           also 100M rows (HTTP only; hours and ~40 GB of RAM, see README)
#   bench/run.sh --verify        compare every answer of the optimized and the naive server
#                                instead of timing (same sizes; exit code 1 on a mismatch)
#   bench/run.sh --no-browser    skip the browser benchmark (builds without the web UI)
#
# Environment: ROWS (default 1000000,10000000), STATES (200), BROWSER_STATES (60), SEED (1).
set -euo pipefail
cd "$(dirname "$0")/.."
big=() verify=0 browser=1
for a in "$@"; do
  case "$a" in
    --big) big=(--big) ;;
    --verify) verify=1 ;;
    --no-browser) browser=0 ;;
    *) echo "unknown option $a (--big, --verify, --no-browser)" >&2; exit 2 ;;
  esac
done
args=(--rows "${ROWS:-1000000,10000000}" --states "${STATES:-200}" --seed "${SEED:-1}" "${big[@]}")
if [[ $verify == 1 ]]; then
  exec node bench/dashboard.mjs --verify "${args[@]}"
fi
node bench/dashboard.mjs "${args[@]}"
if [[ $browser == 1 ]]; then
  node bench/browser.mjs --rows 10000000 --states "${BROWSER_STATES:-60}"
fi
