#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser test (tests/test_jupyterlab.py):
# Debian's chromium + chromium-driver (same source package, so their versions always match), and
# fonts so screenshots show text. Idempotent: does nothing when chromium and chromedriver are
# already on PATH. Installing needs root and apt-get (CI runs this as root, see .ci/run).
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-liberation)

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "[browser] present: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[browser] chromium and chromedriver are not installed, and installing them needs root and apt-get." >&2
  echo "          Run: sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}" >&2
  echo "          (without them tests/test_jupyterlab.py is skipped, except under CI=true where it fails)." >&2
  exit 1
fi
echo "[browser] installing ${PACKAGES[*]} (Debian packages; about a minute)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "[browser] installed: $(chromium --version 2>/dev/null), $(chromedriver --version | cut -d' ' -f1-2)"
