"""What the browser tests (Dagster UI, web app) share: Debian's Chromium, its flags, where
screenshots go, a free local port, and the skip when Chromium is absent."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from warehouse.settings import DATA_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = DATA_ROOT / "screenshots"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium absent (/usr/bin/chromium) : `make browser` installe le paquet Debian"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
