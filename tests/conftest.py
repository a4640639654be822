"""Shared fixtures: a throw-away warehouse per test, the real referential package once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sources import npm
from sources.packages import referential_pin
from warehouse.settings import WarehousePaths


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehousePaths:
    """An empty warehouse in a temporary folder, used by everything the test calls."""
    root = tmp_path / "warehouse"
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(root))
    return WarehousePaths(root)


@pytest.fixture(scope="session")
def referential_package(tmp_path_factory: pytest.TempPathFactory) -> npm.NpmPackage:
    """The pinned COG package, fetched once through the npm client (needs the registry)."""
    pin = referential_pin()
    return npm.fetch(pin.name, pin.version, pin.integrity, tmp_path_factory.mktemp("npm-cache"))


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's Chromium, headless, driven by Playwright: one per test module (the browser tests)."""
    from browser_test_helpers import chromium

    with chromium() as instance:
        yield instance
