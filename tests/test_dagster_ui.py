"""`make dev` for real: the Dagster UI and its daemon start, and the asset graph is drawn.

The test launches ``dagster dev -w workspace.yaml`` from the repository root, exactly as the
Makefile does, but on a free port, with DAGSTER_HOME pointing to a temporary copy of the
repository's ``dagster.yaml`` (the real instance is never touched) and on a temporary
warehouse. It waits for the webserver, checks through GraphQL that the daemon reports healthy,
then opens the global asset lineage in Debian's Chromium (Playwright, headless) and saves
``data/screenshots/graphe-des-assets.png`` for a human to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_test_helpers import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, free_port, needs_chromium

from warehouse.settings import WarehousePaths

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 120.0
DAEMON_TIMEOUT = 90.0
DAEMON_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
# Asset names the lineage graph must draw: one per end of the chain.
EXPECTED_GROUPS = ("referentiel", "ingestion", "catalogue", "publication", "qualite")

pytestmark = needs_chromium


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local server only
        return response.read()


def _graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server only
        return json.loads(response.read())


def _wait_for_server(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev s'est arrêté (code {process.returncode}) :\n{log.read_text()[-4000:]}")
        try:
            _get(f"{base_url}/server_info", timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.5)
    pytest.fail(f"l'interface Dagster ne répond pas après {STARTUP_TIMEOUT:.0f} s :\n{log.read_text()[-4000:]}")


def _wait_for_daemon(base_url: str) -> list[dict]:
    """The required daemons (scheduler, sensors, run queue…) all report a heartbeat as healthy."""
    deadline = time.monotonic() + DAEMON_TIMEOUT
    statuses: list[dict] = []
    while time.monotonic() < deadline:
        answer = _graphql(base_url, DAEMON_QUERY)
        statuses = answer["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = [status for status in statuses if status["required"]]
        if required and all(status["healthy"] for status in required):
            return statuses
        time.sleep(1)
    pytest.fail(f"le démon Dagster n'est pas en bonne santé après {DAEMON_TIMEOUT:.0f} s : {statuses}")


def test_dagster_ui_shows_the_asset_graph(warehouse: WarehousePaths, tmp_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}  # AIDES_WAREHOUSE_DIR comes from `warehouse`
    assert env["AIDES_WAREHOUSE_DIR"] == str(warehouse.root)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dagster-dev.log"
    dagster = Path(sys.executable).parent / "dagster"

    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_server(base_url, process, log)
            statuses = _wait_for_daemon(base_url)
            assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= {s["daemonType"] for s in statuses}

            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1920, "height": 1200})
                    # The global asset lineage ("Global asset lineage" in the UI of Dagster 1.13).
                    page.goto(f"{base_url}/asset-groups", wait_until="domcontentloaded", timeout=60_000)
                    # First visit of a fresh instance: the "Join the Dagster community" dialog.
                    skip = page.get_by_role("button", name="Skip")
                    try:
                        skip.wait_for(state="visible", timeout=15_000)
                        skip.click()
                    except PlaywrightTimeoutError:
                        pass
                    # The global lineage opens with one box per asset group (referentiel → ingestion →
                    # catalogue → publication, and qualite): the whole graph fits on one screen.
                    for name in EXPECTED_GROUPS:
                        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
                    page.wait_for_timeout(1500)  # let the layout settle (edges, zoom to fit)
                    page.screenshot(path=str(SCREENSHOTS / "graphe-des-assets.png"), full_page=True)
                finally:
                    browser.close()
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
