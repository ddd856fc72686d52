#!/usr/bin/env bash
# Builds and proves the container image the way this machine can (no image registry, containers
# may not start): a Debian 12 base image made from Debian's packages (debootstrap, podman import),
# the real Dockerfile built with podman (--isolation=chroot), then the image's filesystem exported
# and its entrypoint and default command run in a chroot of it as the image's user, probed on
# /readyz, /healthz and a widget query, and stopped with SIGTERM (exit 0 expected).
#
#   scripts/container-test.sh            (make test runs it; BUILD_DIR/container keeps the work)
#
# The base image is kept between runs (rebuilt weekly); podman's layer cache makes a rebuild
# after a source change recompile only from `COPY . .` on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${CONTAINER_WORK:-$root/build/container}
base=localhost/sightline-base:bookworm
image=localhost/sightline:test
mkdir -p "$work"
say() { echo "container-test: $*"; }

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { say "missing $tool (scripts/install-deps.sh --container installs it)"; exit 1; }
done

# 1. The base image, from Debian's packages; made again when missing or a week old (podman's
# layer cache then keeps the build's package layers between runs).
fresh=0
if podman image exists "$base"; then
  created=$(podman image inspect "$base" --format '{{.Created.Unix}}')
  (( $(date +%s) - created < 7 * 86400 )) && fresh=1
fi
if ((fresh == 0)); then
  say "building the Debian 12 base image with debootstrap"
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | podman import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

# 2. The real Dockerfile.
say "building the image (podman build --isolation=chroot)"
started=$(date +%s)
# This machine's trusted CAs go to the build as a secret (never into the image), for networks
# that inspect TLS.
secret=()
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && secret=(--secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt)
if ! podman build --isolation=chroot --format docker --build-arg BASE="$base" "${secret[@]}" -t "$image" "$root" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  exit 1
fi
say "image built in $(( $(date +%s) - started )) s"

# 3. Its filesystem, exported.
rootfs="$work/image-rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"
cid=$(podman create "$image")
podman export "$cid" | tar -C "$rootfs" -x
podman rm "$cid" >/dev/null

# The image's own settings: entrypoint, command, user, environment, health check.
config=$(podman image inspect "$image")
read_config() { node -e "const i=JSON.parse(process.argv[1])[0], c=i.Config; console.log($2)" "$config"; }
user=$(read_config "$config" 'c.User')
[[ $user == 10001:10001 ]] || { say "the image must run as 10001:10001, not '$user'"; exit 1; }
read_config "$config" '((i.Healthcheck || c.Healthcheck || {}).Test || []).join(" ")' | grep -q /healthz || { say "no HEALTHCHECK on /healthz"; exit 1; }
mapfile -t argv < <(read_config "$config" '[...c.Entrypoint, ...c.Cmd].join("\n")')
tmpdir=$(read_config "$config" '(c.Env||[]).find(e=>e.startsWith("TMPDIR="))?.slice(7) ?? ""')
[[ $tmpdir == /var/lib/sightline/tmp ]] || { say "TMPDIR must point at the state volume, not '$tmpdir'"; exit 1; }

# 4. Run the entrypoint in a chroot as the image's user, with its command but a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
args=()
for a in "${argv[@]}"; do args+=("$a"); done
for i in "${!args[@]}"; do [[ ${args[$i]} == 8501 ]] && args[$i]=$port; done
mkdir -p "$rootfs/dev" "$rootfs/proc"
for dev in null zero random urandom; do [[ -e $rootfs/dev/$dev ]] || cp -a "/dev/$dev" "$rootfs/dev/$dev" 2>/dev/null || true; done
# The root filesystem read-only in spirit: only the state volume is written (checked below).
chmod -R a-w "$rootfs/opt"
# /proc for the memory figures (best effort: without it the server still runs).
mounted=0
mount --bind /proc "$rootfs/proc" 2>/dev/null && mounted=1
cleanup() { ((mounted)) && umount "$rootfs/proc" 2>/dev/null || true; }
trap cleanup EXIT
chroot_bin=$(command -v chroot)
env -i PATH=/usr/bin:/bin TMPDIR="$tmpdir" HOME=/var/lib/sightline \
  "$chroot_bin" --userspec=10001:10001 "$rootfs" "${args[@]}" >"$work/run.log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q '"status":"ready"'; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if ((ok == 0)); then
  say "the image's server did not become ready"; tail -30 "$work/run.log"; kill "$pid" 2>/dev/null || true; exit 1
fi
curl -fsS "http://127.0.0.1:$port/healthz" | grep -q '"ok"'
answer=$(curl -fsS -X POST -H 'content-type: application/json' -H 'accept: application/json' -d '{}' \
  "http://127.0.0.1:$port/api/v1/dashboards/sales/widgets/orders/query")
echo "$answer" | grep -q '"rows":\[\[' || { say "no answer from the demo: $answer"; exit 1; }
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
((status == 0)) || { say "the server exited $status on SIGTERM"; tail -20 "$work/run.log"; exit 1; }
written=$(find "$rootfs" -xdev -newer "$work/build.log" -type f -not -path "$rootfs/var/lib/sightline/*" -not -path "$rootfs/dev/*" | head -5)
[[ -z $written ]] || { say "files written outside the state volume: $written"; exit 1; }
say "ok: the image serves the demo as user 10001 from its entrypoint, answers /readyz, /healthz and a query, and exits 0 on SIGTERM"
