"""Run the whole pipeline in-process on the repo-local Dagster instance, and summarise it.

``make run`` goes through here, so its runs appear in the Dagster UI of ``make dev``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg

from warehouse.settings import PROJECT_ROOT

FULL_JOB = "catalogue_complet"


@dataclass
class AssetOutcome:
    asset: str
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class RunSummary:
    run_id: str
    success: bool
    assets: list[AssetOutcome]
    checks: list[tuple[str, bool]]
    failures: list[str]


def default_dagster_home() -> str:
    """Use the repository's ``dagster_home/`` unless DAGSTER_HOME is already set."""
    home = os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    os.makedirs(home, exist_ok=True)
    return home


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def run_pipeline(instance: dg.DagsterInstance | None = None, job_name: str = FULL_JOB) -> RunSummary:
    """Execute ``job_name`` in-process and collect each asset's metadata and each check's outcome."""
    from pipelines.definitions import defs

    if instance is None:
        default_dagster_home()
        instance = dg.DagsterInstance.get()
    job = defs().resolve_job_def(job_name)
    # The step-by-step log stays in the Dagster UI; the terminal gets errors and the summary.
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    result = job.execute_in_process(run_config=quiet, instance=instance, raise_on_error=False)
    assets = [
        AssetOutcome(
            asset=event.asset_key.to_user_string(),
            metadata={k: _plain(v) for k, v in event.step_materialization_data.materialization.metadata.items()},
        )
        for event in result.get_asset_materialization_events()
    ]
    checks = [
        (f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", evaluation.passed)
        for evaluation in result.get_asset_check_evaluations()
    ]
    failures = [
        f"{event.step_key}: {event.step_failure_data.error.message.strip() if event.step_failure_data.error else 'échec'}"
        for event in result.all_events
        if event.is_step_failure
    ]
    return RunSummary(result.run_id, result.success, assets, checks, failures)
