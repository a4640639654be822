"""The Dagster code location of the catalogue: everything under ``pipelines/defs``, run by the
executor ``AIDES_EXECUTEUR`` chooses (``pipelines/execution.py``)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.execution import executor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent),
        dg.Definitions(executor=executor()),
    )
