#!/usr/bin/env bash
# Installs what building and testing Sightline needs, and nothing twice:
#  - Debian packages (compiler, CMake, the -dev libraries, Node.js for tests and the pinned DuckDB);
#  - the pinned DuckDB C library and header (npm lockfile in third_party/duckdb);
#  - the web UI's packages (npm lockfile in web/) and the JavaScript packages the tests use
#    (tests/js);
#  - with --browser (make test): Debian's Chromium, which the end-to-end tests drive,
#    Redis and mosquitto (stream sources read from them in tests), Prometheus (its server
#    scrapes /metrics in a test; promtool checks the exposition), and podman, debootstrap and
#    curl (scripts/container-test.sh builds and proves the image).
# Safe to run repeatedly: each step checks first and does nothing when already satisfied.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
with_browser=0
for arg in "$@"; do
  case $arg in
    --browser) with_browser=1 ;;
    *) echo "install-deps: unknown option $arg (known: --browser)" >&2; exit 2 ;;
  esac
done

packages=(build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libboost-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev libcurl4-openssl-dev
  libflatbuffers-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libexpected-dev libroaring-dev
  libhiredis-dev nodejs npm)
# Test servers (started by the tests on loopback, never as services): Prometheus, Redis, mosquitto
# (with mosquitto_passwd; mosquitto-clients has mosquitto_pub, which the tests publish with).
if ((with_browser)); then packages+=(chromium fonts-liberation prometheus redis-server mosquitto mosquitto-clients podman debootstrap curl); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may carry its own Node.js outside Debian's packages; that is fine when new enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  sudo=""
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm_install DIR: installs DIR's lockfile when node_modules is missing or older than the
# lockfile. `npm ci` refuses a lockfile whose packages have platform-only optional dependencies
# (Vite's rollup and esbuild binaries) unless every platform's entry is recorded, and a registry
# may carry only this platform's; `npm install --no-save` installs the same pinned versions from
# the lockfile without rewriting it.
npm_install() {
  local dir=$1
  local stamp="$dir/node_modules/.sightline-installed"
  if [[ -f $stamp && $stamp -nt $dir/package-lock.json ]]; then return 0; fi
  echo "install-deps: npm install (from the lockfile) in ${dir#"$root"/}"
  (cd "$dir" && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$stamp"
}
npm_install "$root/third_party/duckdb"
npm_install "$root/web"
npm_install "$root/tests/js"
