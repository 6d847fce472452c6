#!/usr/bin/env bash
# A real Podman serving the Docker Engine API on a socket of its own, for the container tests.
# See ../shared/notes/container-engine.md for why each setting is here.
#
#   scripts/podman-test-env.sh start DIR   writes DIR/containers.conf, makes sure the image
#                                          localhost/fleet-test:1 exists, starts
#                                          `podman system service` on unix://DIR/podman.sock and
#                                          prints the socket path once it answers
#   scripts/podman-test-env.sh stop DIR    stops that service (by the pid in DIR/podman.pid)
#
# Containers the tests create must be run with CONTAINERS_CONF=DIR/containers.conf too.
# Exit codes: 0 ok, 2 usage, 3 podman missing, 4 image build failed, 5 service did not come up.
set -euo pipefail

IMAGE=localhost/fleet-test:1
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

stop_service() {
  local pidfile="$dir/podman.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  stop)
    stop_service
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac

if ! command -v podman >/dev/null 2>&1; then
  echo "podman is not installed: apt-get install -y podman runc busybox-static" >&2
  exit 3
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# crun rejects hybrid cgroups and raising RLIMIT_NPROC is not allowed on these machines.
cat >"$dir/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
EOF
export CONTAINERS_CONF="$dir/containers.conf"

# No registry can be reached: the image is busybox imported from a tarball.
if ! podman image exists "$IMAGE" 2>/dev/null; then
  busybox=$(command -v busybox || true)
  [ -x /bin/busybox ] && busybox=/bin/busybox
  if [ -z "$busybox" ]; then
    echo "busybox is not installed: apt-get install -y busybox-static" >&2
    exit 4
  fi
  root="$dir/image-root"
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for tool in sh echo sleep cat printf date; do ln -sf busybox "$root/bin/$tool"; done
  tar -C "$root" -cf "$dir/image.tar" .
  if ! podman import "$dir/image.tar" "$IMAGE" >"$dir/import.log" 2>&1; then
    # Another process may have imported it at the same moment.
    if ! podman image exists "$IMAGE"; then
      echo "podman import failed:" >&2
      cat "$dir/import.log" >&2
      exit 4
    fi
  fi
  rm -rf "$root" "$dir/image.tar"
fi

stop_service
sock="$dir/podman.sock"
rm -f "$sock"
# setsid: the service must not die with (or hold on to) the shell that started it.
setsid podman system service --time=0 "unix://$sock" >"$dir/service.log" 2>&1 </dev/null &
echo $! >"$dir/podman.pid"

for _ in $(seq 1 150); do
  # The socket appears once the service listens; with curl at hand, also check that it answers.
  if [ -S "$sock" ] && { ! command -v curl >/dev/null 2>&1 || curl -sf --unix-socket "$sock" http://d/v1.41/_ping >/dev/null 2>&1; }; then
    echo "$sock"
    exit 0
  fi
  if ! kill -0 "$(cat "$dir/podman.pid")" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "podman system service did not come up on $sock:" >&2
cat "$dir/service.log" >&2 || true
stop_service
exit 5
