"""Seconds and peak RSS per stage, inside one process.

Why peaks per stage: ``ru_maxrss`` only gives the process's high-water mark. Linux lets a
process reset its own (``echo 5 > /proc/self/clear_refs`` resets ``VmHWM``), so each stage
starts from the current RSS and reads its own peak at the end; nested stages fold their
peak into the enclosing ones first. Where the reset is refused, a thread samples
``VmRSS`` every 10 ms instead (peaks shorter than that may be missed).

Sub-stages of the project's functions are timed by wrapping the module attributes they
are looked up through (``Meter.wrapped``), so ``build_catalogue`` and ``publish_release``
run unchanged, exactly as the pipeline runs them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


def _status_kb(field: str, status: Path = _STATUS) -> int:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", status.read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def rss_mb(pid: int | None = None) -> float:
    """Current resident set size of this process (or of ``pid``), in MiB."""
    status = _STATUS if pid is None else Path(f"/proc/{pid}/status")
    return _status_kb("VmRSS", status) / 1024


def _can_reset() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class Meter:
    """Stages of one process: name, seconds, rows, peak RSS (MiB); progress written as JSON lines."""

    def __init__(self, progress: Path | None = None) -> None:
        self.stages: list[dict[str, Any]] = []
        self.process_peak_mb = 0.0
        self._open: list[dict[str, Any]] = []
        self._progress = progress
        self._resettable = _can_reset()
        self._sampled = rss_mb()
        self._stop = threading.Event()
        if not self._resettable:
            threading.Thread(target=self._sample, daemon=True).start()

    # -- peaks -------------------------------------------------------------------------
    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._sampled = max(self._sampled, rss_mb())

    def _high_water_mb(self) -> float:
        return _status_kb("VmHWM") / 1024 if self._resettable else max(self._sampled, rss_mb())

    def _fold(self) -> None:
        peak = self._high_water_mb()
        self.process_peak_mb = max(self.process_peak_mb, peak)
        for entry in self._open:
            entry["peak_rss_mb"] = max(entry["peak_rss_mb"], peak)

    def _reset(self) -> None:
        if self._resettable:
            _CLEAR_REFS.write_text("5")
        else:
            self._sampled = rss_mb()

    def close(self) -> None:
        self._fold()
        self._stop.set()

    # -- stages ------------------------------------------------------------------------
    def _log(self, **event: Any) -> None:
        if self._progress is not None:
            with open(self._progress, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"t": time.time(), "rss_mb": round(rss_mb(), 1), **event}) + "\n")

    @contextmanager
    def stage(self, name: str, rows: int | None = None) -> Iterator[dict[str, Any]]:
        """Time a block; the yielded dict may receive ``rows`` and other facts."""
        self._fold()
        self._reset()
        entry: dict[str, Any] = {
            "stage": name,
            "rows": rows,
            "peak_rss_mb": 0.0,
            "start_rss_mb": round(rss_mb(), 1),
            "order": len(self.stages) + len(self._open),
        }
        self._open.append(entry)
        self._log(stage=name, event="start")
        started = time.perf_counter()
        try:
            yield entry
        finally:
            entry["seconds"] = time.perf_counter() - started
            self._fold()
            self._open.remove(entry)
            entry["peak_rss_mb"] = round(entry["peak_rss_mb"], 1)
            self.stages.append(entry)
            self._log(stage=name, event="end", seconds=round(entry["seconds"], 3))

    @contextmanager
    def wrapped(
        self, owner: Any, attribute: str, name: str, rows: Callable[[Any, tuple, dict], int | None] | None = None
    ) -> Iterator[None]:
        """While inside, every call of ``owner.attribute`` is a stage ``name``."""
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name) as entry:
                result = original(*args, **kwargs)
                if rows is not None:
                    entry["rows"] = rows(result, args, kwargs)
                return result

        setattr(owner, attribute, timed)
        try:
            yield
        finally:
            setattr(owner, attribute, original)

    def merged(self) -> list[dict[str, Any]]:
        """Stages of the same name added up (seconds, rows), peaks kept at their maximum, in start order."""
        out: dict[str, dict[str, Any]] = {}
        for entry in sorted(self.stages, key=lambda e: e["order"]):
            name = entry["stage"]
            merged = out.setdefault(name, {"stage": name, "seconds": 0.0, "rows": None, "peak_rss_mb": 0.0, "calls": 0})
            merged["seconds"] += entry["seconds"]
            merged["calls"] += 1
            if entry.get("rows") is not None:
                merged["rows"] = (merged["rows"] or 0) + entry["rows"]
            merged["peak_rss_mb"] = max(merged["peak_rss_mb"], entry["peak_rss_mb"])
            for key, value in entry.items():
                if key not in ("stage", "seconds", "rows", "peak_rss_mb", "start_rss_mb", "order"):
                    merged[key] = value
        return list(out.values())
