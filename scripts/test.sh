#!/usr/bin/env bash
# `make test`: unit tests, then the integration and browser tests against an isolated compose
# project (coursehub-test on 127.0.0.1:18000). In CI a missing Docker engine is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p test-artifacts
echo "==> unit tests"
$PY -m pytest tests/unit -q -p no:cacheprovider
if ! docker info >/dev/null 2>&1; then
    echo "error: integration tests need a Docker engine and none answers" >&2
    exit 1
fi
echo "==> integration and browser tests (isolated compose project coursehub-test)"
$PY -m pytest tests/integration tests/e2e -v -p no:cacheprovider --junitxml=test-artifacts/integration.xml "$@"
