"""run.ipynb in a real browser: JupyterLab on 127.0.0.1 with a token, driven by headless Chromium.

The test runs all cells from the Run menu, moves the render_factor slider with the keyboard, waits until the
plot beside it changes, and saves screenshots to ``artifacts/``. It needs Debian's ``chromium`` (used through
Playwright's ``executable_path``; Playwright's own browser download is never used), the ``playwright`` Python
package and JupyterLab: ``scripts/install_browser_deps.sh`` installs them and the test skips, saying which one
is missing, without them. The notebooks are copied to a temporary folder first, so JupyterLab's autosave
never writes outputs into the repository.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

WAIT_MS = 240_000  # for the cells to run, and for a redraw after the slider moved

pytestmark = pytest.mark.browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Debian's chromium is not installed (scripts/install_browser_deps.sh installs it)")


def _need_modules() -> None:
    for mod in ("playwright", "jupyterlab", "ipykernel"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"the Python package {mod} is not installed (scripts/install_browser_deps.sh installs it)")
    for task in ("restoration_lib.colorize", "restoration_lib.repair", "restoration_lib.interpolate"):
        if importlib.util.find_spec(task) is None:
            pytest.skip(f"{task} is not in this checkout yet (run.ipynb calls it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebooks/; yields (base_url, token, folder)."""
    _need_modules()
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        env[var] = str(tmp_path / sub)
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no pop-up over the notebook
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, folder
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _in_chromium(lab, drive, failure_png: str):
    """``drive(page, url)`` on run.ipynb in headless Chromium; a screenshot goes to artifacts/ on failure."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    base, token, _folder = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})  # the whole tour in one screenshot
            try:
                return drive(page, f"{base}/lab/tree/run.ipynb?token={token}")
            except Exception:
                page.screenshot(path=str(ARTIFACTS / failure_png), full_page=True)
                raise
        finally:
            browser.close()


def test_run_notebook_in_chromium_slider_redraws_plot(lab):
    before, after = _in_chromium(lab, _drive, "browser_failure.png")
    assert before.startswith("data:image/png;base64,") and after.startswith("data:image/png;base64,")
    assert after != before


def _wait_idle(page, idle, deadline: float, dialog=None, quiet: float = 2.0) -> None:
    """Wait until the kernel has been idle for ``quiet`` seconds (accepting ``dialog`` if it pops up)."""
    quiet_since = None
    while quiet_since is None or time.monotonic() - quiet_since < quiet:
        if dialog is not None and dialog.is_visible():
            dialog.click()
            quiet_since = None
        elif idle.is_visible():
            quiet_since = quiet_since or time.monotonic()
        else:
            quiet_since = None
        assert time.monotonic() < deadline, "the kernel did not become idle"
        page.wait_for_timeout(250)


def _drive(page, url):
    """Open the notebook, run all cells, move the slider; returns the plot's src before and after."""
    page.goto(url, wait_until="domcontentloaded")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    accept = page.locator(".jp-Dialog button.jp-mod-accept")  # "Select Kernel", when Lab asks
    _wait_idle(page, idle, time.monotonic() + 90, dialog=accept)

    # Run → Run All Cells, like a user
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()

    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="render_factor"))
    slider.wait_for(timeout=WAIT_MS)
    panel = page.locator(".widget-vbox", has=slider).last
    plot = panel.locator(".widget-output img").first
    plot.wait_for(timeout=WAIT_MS)
    _wait_idle(page, idle, time.monotonic() + WAIT_MS / 1000)  # all cells ran
    assert page.locator(".widget-output img").count() >= 3  # repair, colorize and interpolation plots
    before = plot.get_attribute("src")
    readout = slider.locator(".widget-readout")
    assert readout.inner_text().strip() == "35"

    # move the slider with the keyboard: focus its handle, three steps left
    slider.locator(".noUi-handle").focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    deadline = time.monotonic() + WAIT_MS / 1000
    while readout.inner_text().strip() != "32" or plot.get_attribute("src") == before:
        assert time.monotonic() < deadline, f"the plot did not change (readout {readout.inner_text()!r})"
        page.wait_for_timeout(500)
    _wait_idle(page, idle, deadline)  # each key press re-rendered once; wait for the last one
    after = plot.get_attribute("src")

    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(ARTIFACTS / "browser_colorize_panel.png"))
    page.screenshot(path=str(ARTIFACTS / "browser_run_ipynb.png"), full_page=True)
    assert page.locator("text=Error displaying widget").count() == 0
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                        has_text="Traceback").count() == 0
    return before, after


def test_run_notebook_in_chromium_click_places_a_hint(lab):
    """The colour-from-hints panel (ipyevents on the photo): a click places a hint and the plot changes."""
    if importlib.util.find_spec("ipyevents") is None:
        pytest.skip("the Python package ipyevents is not installed (pip install restoration-lib[notebooks])")
    before, after = _in_chromium(lab, _click_hint, "browser_hints_failure.png")
    assert before.startswith("data:image/png;base64,") and after != before


def _click_hint(page, url):
    """Open the notebook, run all cells, click on the hints panel's photo; returns the plot's src before/after."""
    page.goto(url, wait_until="domcontentloaded")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    accept = page.locator(".jp-Dialog button.jp-mod-accept")
    _wait_idle(page, idle, time.monotonic() + 90, dialog=accept)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()

    panel = page.locator(".widget-vbox", has=page.locator(".widget-colorpicker")).last
    photo = panel.locator("img.widget-image").first
    plot = panel.locator(".widget-output img").first
    plot.wait_for(timeout=WAIT_MS)
    _wait_idle(page, idle, time.monotonic() + WAIT_MS / 1000)
    before = plot.get_attribute("src")
    photo.scroll_into_view_if_needed()
    box = photo.bounding_box()
    photo.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.15})  # the wall behind, top right
    deadline = time.monotonic() + WAIT_MS / 1000
    while plot.get_attribute("src") == before:
        assert time.monotonic() < deadline, "the plot did not change after the click"
        page.wait_for_timeout(500)
    _wait_idle(page, idle, deadline)
    after = plot.get_attribute("src")
    panel.screenshot(path=str(ARTIFACTS / "browser_hints_panel.png"))
    assert page.locator("text=Error displaying widget").count() == 0
    return before, after
