# Shared by the scripts behind the Makefile (sourced, not run): where a stack's files are,
# and how progress and errors are printed. Every value can be overridden from the environment.
export COURSEHUB_IMAGE_TAG="${COURSEHUB_IMAGE_TAG:-$(cat VERSION)}"
STACK="${COURSEHUB_STACK:-coursehub}"
ENV_FILE="${COURSEHUB_ENV_FILE:-env/coursehub.env}"
SETTINGS_FILE="${COURSEHUB_SETTINGS_FILE:-settings.yaml}"
SECRETS_DIR="${COURSEHUB_SECRETS_DIR:-env/secrets}"
TLS_DIR="${COURSEHUB_TLS_DIR:-tls}"
HELPER_IMAGE="coursehub/python:$COURSEHUB_IMAGE_TAG"
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
