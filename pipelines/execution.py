"""How a run's steps are executed, for the CLI, the UI and the schedules alike.

Why not Dagster's default (a subprocess per step): here the steps are short and share one
DuckDB file that only one process may write at a time; a fresh process per step costs ≈ 6 s of
imports and start-up for a few hundred milliseconds of work (a 12-step run took 47–67 s for
5–8 s of work). ``AIDES_EXECUTEUR`` chooses:

- ``in_process`` (default): every step in the run's own process, one after the other;
- ``forkserver``: a process per step, forked from a warm server (imports paid once), at most
  ``AIDES_EXECUTEUR_PARALLELE`` steps at a time (default 2): for heavier deployments.
"""

from __future__ import annotations

import os

import dagster as dg

KINDS = ("in_process", "forkserver")


def executor(kind: str | None = None) -> dg.ExecutorDefinition:
    kind = (kind or os.environ.get("AIDES_EXECUTEUR") or "in_process").strip()
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "forkserver":
        parallel = int(os.environ.get("AIDES_EXECUTEUR_PARALLELE", "2"))
        return dg.multiprocess_executor.configured(
            {"start_method": {"forkserver": {}}, "max_concurrent": parallel}, name="forkserver_executor"
        )
    raise ValueError(f"AIDES_EXECUTEUR={kind!r} inconnu : {' ou '.join(KINDS)}")
