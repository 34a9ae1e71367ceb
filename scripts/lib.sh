# Shared by the scripts behind the Makefile (sourced, not run): where a stack's files are,
# and how progress and errors are printed. Every value can be overridden from the environment.
export COURSEHUB_IMAGE_TAG="${COURSEHUB_IMAGE_TAG:-$(cat VERSION)}"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The container engine (ENGINE in the Makefile): docker, or rootful podman, whose Docker-compatible
# API on PODMAN_SOCKET serves the Compose tool and the hub (scripts/podman-setup.sh). A Podman
# stack has its own name and env file (its own secrets, and port 8100 when that file is first
# written), so on a host with both engines it never meets the Docker stack's port or files.
# ON_ENGINE is what a make command printed as a next step needs to reach this engine's stack.
ENGINE="${COURSEHUB_ENGINE:-docker}"
case "$ENGINE" in
    docker) default_stack=coursehub default_env_file=env/coursehub.env ON_ENGINE="" ;;
    podman)
        default_stack=coursehub-podman default_env_file=env/coursehub-podman.env ON_ENGINE=" ENGINE=podman"
        export COURSEHUB_NEW_ENV_PORT="${COURSEHUB_NEW_ENV_PORT:-8100}"
        PODMAN_SOCKET="${COURSEHUB_PODMAN_SOCKET:-/run/podman/podman.sock}" ;;
    *) fail "ENGINE must be docker or podman, not '$ENGINE'" ;;
esac
export COURSEHUB_ENGINE="$ENGINE"
export COURSEHUB_STACK="${COURSEHUB_STACK:-$default_stack}"
export COURSEHUB_ENV_FILE="${COURSEHUB_ENV_FILE:-$default_env_file}"
# The engine's command line. Every subcommand and flag the scripts use means the same in both.
engine() { command "$ENGINE" "$@"; }
# Whether Podman's API service answers on its socket (a GET /_ping without curl).
podman_api_answers() {
    [ -S "$PODMAN_SOCKET" ] && python3 - "$PODMAN_SOCKET" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
    sys.exit(0 if s.recv(64).split(b" ")[1:2] == [b"200"] else 1)
except OSError:
    sys.exit(1)
PY
}

STACK="$COURSEHUB_STACK"
ENV_FILE="$COURSEHUB_ENV_FILE"
SETTINGS_FILE="${COURSEHUB_SETTINGS_FILE:-settings.yaml}"
SECRETS_DIR="${COURSEHUB_SECRETS_DIR:-env/secrets}"
TLS_DIR="${COURSEHUB_TLS_DIR:-tls}"
HELPER_IMAGE="coursehub/python:$COURSEHUB_IMAGE_TAG"

# A setting as compose resolves it: the environment first, then the env file.
setting() {
    if [ -n "${!1+set}" ]; then printf '%s\n' "${!1}"
    elif [ -e "$ENV_FILE" ]; then sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1; fi
}
CONFIG_D="${COURSEHUB_CONFIG_D:-jupyterhub_config.d}"

# A digest of everything the hub reads at start but Compose and Swarm cannot see change: the
# settings file, the env file, the secrets and jupyterhub_config.d are mounted or read by
# content. The hub's service carries it (COURSEHUB_CONFIG_HASH), so an edit of any of them makes
# `make up` restart the hub, and an unchanged stack stays untouched.
config_hash() {
    local files=()
    for path in "$SETTINGS_FILE" "$ENV_FILE"; do [ -e "$path" ] && files+=("$path"); done
    for dir in "$SECRETS_DIR" "$CONFIG_D"; do
        [ -d "$dir" ] && while IFS= read -r -d '' file; do files+=("$file"); done \
            < <(find "$dir" -maxdepth 1 -type f -print0 | sort -z)
    done
    { for file in "${files[@]}"; do printf '%s\0' "${file##*/}"; cat "$file"; done; } \
        | sha256sum | cut -c1-16
}
# Host port $1 as Compose publishes it on COURSEHUB_BIND: [address:]port.
# NOTE: through Podman 4.3's Docker API an explicit 0.0.0.0 publishes a port that nobody
# reaches (netavark 1.4 matches the destination 0.0.0.0/32 literally); without an address
# Podman listens on all of them, which is what 0.0.0.0 means on Docker.
publish() {
    local bind
    bind="$(setting COURSEHUB_BIND)"
    bind="${bind:-0.0.0.0}"
    if [ "$ENGINE" = podman ] && [ "$bind" = 0.0.0.0 ]; then echo "$1"; else echo "$bind:$1"; fi
}
tls_on() { [ -s "$TLS_DIR/tls.crt" ] && [ -s "$TLS_DIR/tls.key" ]; }
# Whether something already listens on 127.0.0.1:$1.
port_in_use() { python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $1)) != 0)"; }
# The hub's address printed for the LMS: COURSEHUB_PUBLIC_URL, else $SCHEME://this host:$PORT.
lms_url() { printf '%s\n' "${COURSEHUB_PUBLIC_URL:-$SCHEME://$(hostname -f 2>/dev/null || hostname):$PORT}"; }
# Where plain HTTP is redirected to HTTPS while TLS is on: COURSEHUB_HTTP_PORT, or "off".
# By default 80 when the public port is 443, since a bare host name in a browser tries port
# 80; on any other public port nobody reaches an HTTP port without typing it, so off.
http_redirect_port() {
    local port http
    port="$(setting COURSEHUB_PORT)"
    http="$(setting COURSEHUB_HTTP_PORT)"
    if [ -z "$http" ]; then
        if [ "${port:-8000}" = 443 ]; then http=80; else http=off; fi
    fi
    printf '%s\n' "$http"
}

# Every image, built or brought up to date (a cached no-op when nothing changed), unless the
# caller built them a moment ago (make upgrade, make restore set COURSEHUB_IMAGES_BUILT=1).
build_images() {
    if [ "${COURSEHUB_IMAGES_BUILT:-}" = 1 ]; then
        step "images: built a moment ago by the caller"
    else
        step "images (cached layers are reused${1:+; $1})"
        scripts/build-images.sh
    fi
}

# The HTTPS port that redirect sends browsers to: the port of an https COURSEHUB_PUBLIC_URL
# (443 when it names none: a NAT or port mapping may publish COURSEHUB_PORT under another
# number), else COURSEHUB_PORT.
https_redirect_target() {
    local url
    url="$(setting COURSEHUB_PUBLIC_URL)"
    if [[ "$url" =~ ^https://[^/:@]+(:([0-9]+))?(/|$) ]]; then
        printf '%s\n' "${BASH_REMATCH[2]:-443}"
    else
        local port
        port="$(setting COURSEHUB_PORT)"
        printf '%s\n' "${port:-8000}"
    fi
}

# The steps `make up` shares between its compose and swarm modes.
# Writes the env file and keys when missing (never overwrites) and loads the env file; refuses
# a freshly generated env file beside an older install's database volume, whose Postgres
# password it cannot know.
prepare_settings() {
    local had_env_file=no
    [ -e "$ENV_FILE" ] && had_env_file=yes
    scripts/secrets.sh
    if [ "$had_env_file" = no ] && engine volume inspect "$STACK-pgdata" >/dev/null 2>&1; then
        fail "the volume $STACK-pgdata exists from an earlier install, but $ENV_FILE was just generated with new secrets, which that database will refuse. Copy the earlier install's env file, settings.yaml and env/secrets/ here and run make up again - or, to start over and DELETE that data, run make clean first."
    fi
    set -a; . "$ENV_FILE"; set +a
    PORT="${COURSEHUB_PORT:-8000}"
    [[ "$PORT" =~ ^[0-9]+$ ]] || fail "COURSEHUB_PORT in $ENV_FILE must be a port number, not '$PORT'"
}

# The hub image validates the env file and settings.yaml and names every wrong key, before
# anything starts. A one-shot container needs no health check (Podman without systemd would log
# an error for each check timer it cannot make).
check_settings() {
    step "checking $ENV_FILE and $SETTINGS_FILE"
    engine run --rm --no-healthcheck --network none --env-file "$ENV_FILE" \
        -e COURSEHUB_SETTINGS=/srv/coursehub/settings.yaml -e COURSEHUB_IMAGE_TAG -e COURSEHUB_TLS \
        -v "$(realpath "$SETTINGS_FILE")":/srv/coursehub/settings.yaml:ro \
        "coursehub/hub:$COURSEHUB_IMAGE_TAG" python3 -m coursehub.cli.check \
        || fail "fix the settings named above, then run make up again"
}

# Waits (COURSEHUB_UP_TIMEOUT, default 180 s) for /hub/health through the proxy on port $1;
# on timeout runs the rest of the arguments (a command showing the stack's state) and fails.
wait_for_hub() {
    local port="$1" deadline=$((SECONDS + ${COURSEHUB_UP_TIMEOUT:-180}))
    shift
    step "waiting for the hub through the proxy on port $port"
    until python3 - "$port" <<'PY'
import sys, ssl, urllib.request
ctx = ssl._create_unverified_context()  # health probe only: the cert may be self-signed
for scheme in ("http", "https"):
    try:
        urllib.request.urlopen(f"{scheme}://127.0.0.1:{sys.argv[1]}/hub/health", timeout=3, context=ctx)
        sys.exit(0)
    except Exception:
        pass
sys.exit(1)
PY
    do
        if [ $SECONDS -ge $deadline ]; then
            "$@"
            fail "the hub did not become healthy in time; the logs above say why"
        fi
        sleep 2
    done
}

# Podman 4.3 runs health checks from systemd timers; without systemd they never run, a container
# stays "starting", and Compose waits forever on `depends_on: condition: service_healthy`. This
# runs the services' own checks (`podman healthcheck run` records each result, which Compose
# then reads) until each passes, within COURSEHUB_UP_TIMEOUT (default 180 s) in all.
podman_wait_healthy() {
    local service id deadline=$((SECONDS + ${COURSEHUB_UP_TIMEOUT:-180}))
    for service in "$@"; do
        id="$(scripts/compose.sh ps -q "$service")"
        [ -n "$id" ] || fail "no $service container in $STACK: scripts/compose.sh ps"
        until podman healthcheck run "$id" >/dev/null 2>&1; do
            if [ $SECONDS -ge $deadline ]; then
                scripts/compose.sh logs --tail 40 "$service"
                fail "$service did not pass its health check in time; its logs above say why"
            fi
            sleep 1
        done
        echo "    $service: healthy"
    done
}
