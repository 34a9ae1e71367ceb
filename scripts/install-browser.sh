#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver for the browser tests (tests/e2e) when they are
# missing. Selenium is pointed at /usr/bin/chromedriver, so it never downloads a browser.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
echo "==> installing chromium and chromium-driver (Debian packages) for the browser tests"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
