#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (tests/test_jupyterlab.py,
# tests/test_plots_page.py): Debian's chromium + chromium-driver (same source package, so their
# versions always match), fonts so screenshots show text, and npm, with which scripts/setup.sh
# fetches the vega bundles of the offline `dvc plots show` page. Idempotent: does nothing when
# chromium, chromedriver and npm are already on PATH. Installing needs root and apt-get (CI runs this as root, see .ci/run).
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-liberation npm)

if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v npm >/dev/null; then
  echo "[browser] present: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2), npm $(npm --version)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "[browser] chromium, chromedriver or npm is not installed, and installing them needs root and apt-get." >&2
  echo "          Run: sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}" >&2
  echo "          (without them tests/test_jupyterlab.py is skipped, except under CI=true where it fails)." >&2
  exit 1
fi
echo "[browser] installing ${PACKAGES[*]} (Debian packages; about a minute)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "[browser] installed: $(chromium --version 2>/dev/null), $(chromedriver --version | cut -d' ' -f1-2), npm $(npm --version)"
