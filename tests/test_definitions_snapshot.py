"""The code location matches its reviewed snapshot, and each group lives in its own folder."""

from __future__ import annotations

import difflib

from definitions_snapshot import SNAPSHOT, snapshot

from pipelines.definitions import defs


def test_the_code_location_is_the_reviewed_one():
    expected = SNAPSHOT.read_text(encoding="utf-8")
    actual = snapshot(defs())
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "attendu", "obtenu"))
    assert actual == expected, f"la code location a changé (python -m tests.definitions_snapshot --write) :\n{diff}"


def test_every_group_is_the_folder_its_assets_are_defined_in():
    for line in snapshot(defs()).splitlines():
        if line.startswith("groupe "):
            group = line.removeprefix("groupe ")
        elif line.startswith("  asset "):
            assert f"(pipelines/defs/{group}/)" in line, line
