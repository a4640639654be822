"""Run the whole pipeline in-process on the repo-local Dagster instance, and summarise it.

``make run`` goes through here, so its runs appear in the Dagster UI of ``make dev``.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from warehouse.locks import exclusive_lock
from warehouse.settings import DATA_ROOT

FULL_JOB = "catalogue_complet"
# Who runs an in-process run: lets the next run tell a run whose process died from a live one.
HOST_TAG, PID_TAG = "aides/hote", "aides/pid"


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


INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")


def default_dagster_home() -> str:
    """Use ``data/dagster/`` unless DAGSTER_HOME is already set; the instance's configuration is
    the versioned ``pipelines/dagster.yaml``, copied there when the folder has none or an older one."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DATA_ROOT / "dagster")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or (home == DATA_ROOT / "dagster" and config.read_bytes() != INSTANCE_CONFIG.read_bytes()):
        shutil.copyfile(INSTANCE_CONFIG, config)
    return str(home)


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def _reason(error: object | None) -> str:
    """The project's own message, not Dagster's wrapper (« Error occurred while executing op »)."""
    if error is None:
        return "échec"
    while getattr(error, "cause", None) is not None and "DagsterExecutionStepExecutionError" in error.cls_name:
        error = error.cause
    return error.message.strip()


def _open_instance(home: Path) -> dg.DagsterInstance:
    """The repo-local instance, its storages created by one process at a time: two `make run`
    started together on a fresh DAGSTER_HOME would otherwise both create the SQLite schemas
    (« UNIQUE constraint failed: alembic_version »)."""
    with exclusive_lock(home / ".initialisation.lock", timeout_s=300):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # runs.db
        instance.get_latest_materialization_event(dg.AssetKey("territoires"))  # the event log index
        instance.all_instigator_state()  # schedules.db
    return instance


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-process runs of this machine whose process died without finishing
    (killed, machine stopped): the UI would otherwise show them « en cours » for ever."""
    started = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING], tags={HOST_TAG: socket.gethostname()}
        )
    )
    orphaned = []
    for run in started:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and pid != os.getpid() and not _alive(pid):
            instance.report_run_failed(
                run,
                message=(
                    f"Le processus {pid} de ce run s'est arrêté sans finir (arrêt brutal) ; "
                    "ce qu'il n'avait pas terminé n'a pas été publié, la publication précédente est restée en ligne."
                ),
            )
            # its pool slots (the `duckdb` pool: the single writer) would otherwise stay taken for ever
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            orphaned.append(run.run_id)
    return orphaned


def run_pipeline(instance: dg.DagsterInstance | None = None, job_name: str = FULL_JOB) -> RunSummary:
    """Execute ``job_name`` in-process and collect each asset's metadata and each check's outcome."""
    from pipelines.definitions import defs

    if instance is None:
        instance = _open_instance(Path(default_dagster_home()))
    fail_orphaned_runs(instance)
    job = defs().resolve_job_def(job_name)
    # The step-by-step log stays in the Dagster UI; the terminal gets errors and the summary.
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    result = job.execute_in_process(run_config=quiet, instance=instance, raise_on_error=False, tags=tags)
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
        f"{event.step_key}: {_reason(event.step_failure_data.error)}"
        for event in result.all_events
        if event.is_step_failure
    ]
    return RunSummary(result.run_id, result.success, assets, checks, failures)
