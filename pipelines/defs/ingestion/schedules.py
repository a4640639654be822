"""One schedule per source, at the cadence its declarative entry gives (``schedule``).

Each run ingests its source, then rebuilds what depends on it (catalogue, quality report,
publication), so a change at one publisher reaches the release the same day.
"""

import dagster as dg

from pipelines.defs.ingestion.assets import asset_name
from sources.base import SourceSpec
from sources.registry import load_specs


def _schedule(spec: SourceSpec) -> tuple[object, dg.ScheduleDefinition]:
    name = asset_name(spec)
    job = dg.define_asset_job(
        name=f"collecte_{spec.name.replace('-', '_')}",
        selection=dg.AssetSelection.assets(name).downstream(),
        description=f"Collecte de « {spec.name} » puis catalogue et publication.",
        tags={"source": spec.name},
    )
    schedule = dg.ScheduleDefinition(
        name=f"calendrier_{spec.name.replace('-', '_')}",
        job=job,
        cron_schedule=spec.schedule,
        execution_timezone="Europe/Paris",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"{spec.publisher} : {spec.schedule} (heure de Paris)",
    )
    return job, schedule


_pairs = [_schedule(spec) for spec in load_specs()]

defs = dg.Definitions(jobs=[job for job, _ in _pairs], schedules=[schedule for _, schedule in _pairs])
