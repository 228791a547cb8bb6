#!/usr/bin/env bash
# Installs what the browser test needs from the registries: Debian's chromium, Playwright's Python driver and
# JupyterLab. Without root (or without apt-get) it says so and the browser test skips with that reason.
# It says what it installs system-wide before doing it; SKIP_BROWSER=1 make test does not run it at all.
set -u
PY=${1:-python3}
if [ "${SKIP_BROWSER:-0}" = 1 ]; then
  echo "install_browser_deps: SKIP_BROWSER=1, nothing installed; the browser test is skipped"
  exit 0
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install_browser_deps: installing Debian's chromium system-wide with apt-get (for the browser test only;"
    echo "install_browser_deps: SKIP_BROWSER=1 make test skips it and installs nothing system-wide)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "install_browser_deps: apt-get could not install chromium; the browser test will be skipped"
  else
    echo "install_browser_deps: chromium is not installed and this user cannot apt-get it; the browser test will be skipped"
  fi
fi
echo "install_browser_deps: installing playwright and jupyterlab into $PY's environment"
"$PY" -m pip install -q --disable-pip-version-check "playwright==1.65.2" "jupyterlab>=4,<5" \
  || echo "install_browser_deps: pip could not install playwright/jupyterlab; the browser test will be skipped"
exit 0
