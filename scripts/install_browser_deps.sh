#!/usr/bin/env bash
# Installs what the browser test needs from the registries: Debian's chromium, Playwright's Python driver and
# JupyterLab. Without root (or without apt-get) it says so and the browser test skips with that reason.
set -u
PY=${1:-python3}
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "install_browser_deps: apt-get could not install chromium; the browser test will be skipped"
  else
    echo "install_browser_deps: chromium is not installed and this user cannot apt-get it; the browser test will be skipped"
  fi
fi
"$PY" -m pip install -q --disable-pip-version-check "playwright==1.65.2" "jupyterlab>=4,<5" \
  || echo "install_browser_deps: pip could not install playwright/jupyterlab; the browser test will be skipped"
exit 0
