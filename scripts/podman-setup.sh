#!/usr/bin/env bash
# `make up ENGINE=podman`, first step: rootful Podman installed, set up for this host, and its
# Docker-compatible API answering on /run/podman/podman.sock (COURSEHUB_PODMAN_SOCKET), where the
# Compose tool and the hub's DockerSpawner talk to it. Idempotent: each step says what it found.
#   scripts/podman-setup.sh            all three steps
#   scripts/podman-setup.sh service    only the API service (compose.sh, when it does not answer)
# Needs root: user servers get per-user uids, memory/CPU/pids limits and bind mounts of the data
# volume's host path, which rootless Podman cannot give them (docs/operations.md#podman).
set -euo pipefail
cd "$(dirname "$0")/.."
COURSEHUB_ENGINE=podman
. scripts/lib.sh
HOST_CONF=/etc/containers/containers.conf.d/50-coursehub.conf
SERVICE_LOG="${COURSEHUB_PODMAN_SERVICE_LOG:-/var/log/coursehub-podman-api.log}"
# The API service this script started (no systemd), so that a changed host setting restarts it.
SERVICE_PID="$(dirname "$PODMAN_SOCKET")/coursehub-api.pid"
settings_changed=no

[ "$(id -u)" -eq 0 ] || fail "coursehub runs on rootful Podman: run this as root (sudo make up ENGINE=podman)"

packages() {
    if command -v podman >/dev/null 2>&1; then
        echo "    $(podman --version)"
        return
    fi
    if command -v apt-get >/dev/null 2>&1; then
        # netavark + aardvark-dns: networks whose containers find each other by name (the hub
        # reaches postgres and the graders so); runc: see host_settings.
        echo "    installing Debian's podman, netavark, aardvark-dns, runc (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            podman netavark aardvark-dns crun runc conmon catatonit >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        echo "    installing podman (dnf)"
        dnf install -y -q podman
    else
        fail "install Podman 4 with your distribution's packages, then run make up ENGINE=podman again"
    fi
    echo "    $(podman --version)"
}

# What this host needs beyond Podman's defaults, in one drop-in file that names the reason for
# each line; on an ordinary host there is nothing to write and the file is removed.
host_settings() {
    local containers=() engine=() reason=()
    # Rootful Podman 4.3 gives every container nofile and nproc limits of 1048576; raising a
    # hard limit needs CAP_SYS_RESOURCE, which a nested host (this project's CI) may not grant:
    # `crun: setrlimit RLIMIT_NOFILE: Operation not permitted`. Docker passes its own limits
    # on instead; so do these: the hard limits Podman itself runs with (it lowers nproc to
    # the kernel's pid_max).
    local caps
    caps=$((16#$(awk '/^CapEff/ {print $2}' /proc/self/status)))
    if (( !(caps >> 24 & 1) )); then
        local nofile nproc pid_max
        nofile="$(ulimit -Hn)" nproc="$(ulimit -Hu)" pid_max="$(cat /proc/sys/kernel/pid_max)"
        if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc="$pid_max"; fi
        containers+=("default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]")
        reason+=("# no CAP_SYS_RESOURCE here: container limits no higher than Podman's own")
    fi
    # crun (Podman's default runtime) refuses a cgroup v1 host whose cgroup2 hierarchy holds
    # controllers: `crun: cgroups in hybrid mode not supported, drop all controllers from
    # cgroupv2`. runc, Docker's runtime, runs there.
    # (cgroup files report size 0: read them.)
    local hybrid
    hybrid="$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)"
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ -n "$hybrid" ]; then
        engine+=('runtime = "runc"')
        reason+=("# hybrid cgroups with cgroup2 controllers ($hybrid): crun refuses them, runc does not")
    fi
    if [ ${#containers[@]} -eq 0 ] && [ ${#engine[@]} -eq 0 ]; then
        [ ! -e "$HOST_CONF" ] || { rm -f "$HOST_CONF"; settings_changed=yes; }
        echo "    none needed"
        return
    fi
    local wanted
    wanted="$(
        echo "# Written by coursehub's scripts/podman-setup.sh for this host; rewritten on every make up ENGINE=podman."
        printf '%s\n' "${reason[@]}"
        [ ${#containers[@]} -eq 0 ] || printf '[containers]\n%s\n' "${containers[@]}"
        [ ${#engine[@]} -eq 0 ] || printf '[engine]\n%s\n' "${engine[@]}"
    )"
    if [ "$(cat "$HOST_CONF" 2>/dev/null)" = "$wanted" ]; then
        echo "    $HOST_CONF is current"
    else
        mkdir -p "$(dirname "$HOST_CONF")"
        printf '%s\n' "$wanted" > "$HOST_CONF"
        settings_changed=yes
        echo "    wrote $HOST_CONF:"
        sed 's/^/      /' "$HOST_CONF"
    fi
}

service() {
    # A running service read the host settings when it started.
    if [ "$settings_changed" = yes ]; then
        if [ -d /run/systemd/system ]; then
            systemctl try-restart podman.service
        elif [ -s "$SERVICE_PID" ] && kill "$(cat "$SERVICE_PID")" 2>/dev/null; then
            echo "    stopped the API service started earlier (pid $(cat "$SERVICE_PID")): the settings changed"
            sleep 1
        fi
    fi
    if podman_api_answers; then
        echo "    answering on $PODMAN_SOCKET"
        return
    fi
    if [ -d /run/systemd/system ]; then
        # The packages ship a socket unit that starts the service on demand and after reboots.
        systemctl enable --now podman.socket >/dev/null
        echo "    systemctl enable --now podman.socket"
    else
        # No systemd (containers, some CI machines): a detached service that never times out.
        # It lasts until the host stops; every make up ENGINE=podman starts it again if needed.
        mkdir -p "$(dirname "$PODMAN_SOCKET")"
        setsid nohup podman system service --time=0 "unix://$PODMAN_SOCKET" >>"$SERVICE_LOG" 2>&1 < /dev/null &
        echo $! > "$SERVICE_PID"
        echo "    started podman system service (pid $!, log $SERVICE_LOG)"
    fi
    local deadline=$((SECONDS + 30))
    until podman_api_answers; do
        [ $SECONDS -lt $deadline ] || { tail -n 20 "$SERVICE_LOG" >&2 2>/dev/null || true; fail "Podman's API did not answer on $PODMAN_SOCKET within 30 s"; }
        sleep 0.5
    done
}

if [ "${1:-all}" = service ]; then
    step "Podman API service"
    service
    exit 0
fi
step "Podman packages"
packages
step "Podman settings for this host"
host_settings
step "Podman API service"
service
