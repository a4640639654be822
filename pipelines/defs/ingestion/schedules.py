"""When sources are collected: one schedule per cadence, one run for all the sources sharing it.

Each run only collects; the catalogue, the quality report, the link check and the release
follow by declarative automation (``pipelines/automation.py``), once, after the run: the
night's web sources make one run, one rebuild, at most one release. Each source also has its
own job (``collecte_<source>``) to collect it alone from the UI. The collectivités' submissions
(transport ``local``) have no schedule: the sensor ``nouvelles_soumissions`` starts their run
as soon as a file is accepted.
"""

from __future__ import annotations

import re

import dagster as dg

from pipelines.defs.ingestion.assets import asset_name
from sources.base import SourceSpec
from sources.registry import load_specs

_DAYS = ("dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi")


def cadence_name(cron: str) -> str:
    """``0 4 * * *`` → ``quotidien_04h00``; ``0 5 * * 1`` → ``lundi_05h00``; otherwise the cron, spelt safely."""
    match = re.fullmatch(r"(\d{1,2}) (\d{1,2}) \* \* (\*|[0-6])", cron.strip())
    if match:
        minute, hour, day = match.groups()
        when = "quotidien" if day == "*" else _DAYS[int(day)]
        return f"{when}_{int(hour):02d}h{int(minute):02d}"
    return "cron_" + re.sub(r"[^0-9a-z]+", "_", cron.strip().lower()).strip("_")


def source_job(spec: SourceSpec) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=f"collecte_{spec.name.replace('-', '_')}",
        selection=dg.AssetSelection.assets(asset_name(spec)),
        description=f"Collecte de « {spec.name} » seule ; catalogue et publication suivent par automatisation.",
        tags={"source": spec.name},
    )


def cadence_schedule(
    cron: str, specs: list[SourceSpec]
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    name = cadence_name(cron)
    names = ", ".join(spec.name for spec in specs)
    job = dg.define_asset_job(
        name=f"collecte_{name}",
        selection=dg.AssetSelection.assets(*(asset_name(spec) for spec in specs)),
        description=f"Collecte, en un run, des sources au calendrier « {cron} » : {names}.",
        tags={"cadence": cron},
    )
    schedule = dg.ScheduleDefinition(
        name=f"calendrier_{name}",
        job=job,
        cron_schedule=cron,
        execution_timezone="Europe/Paris",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"{cron} (heure de Paris) : {names}",
    )
    return job, schedule


def by_cadence(specs: list[SourceSpec]) -> dict[str, list[SourceSpec]]:
    """The scheduled sources (all but ``local`` ones) grouped by their cron expression."""
    groups: dict[str, list[SourceSpec]] = {}
    for spec in specs:
        if spec.transport != "local":
            groups.setdefault(spec.schedule.strip(), []).append(spec)
    return groups


_SPECS = load_specs()
_CADENCES = [cadence_schedule(cron, specs) for cron, specs in by_cadence(_SPECS).items()]

defs = dg.Definitions(
    jobs=[source_job(spec) for spec in _SPECS if spec.transport != "local"] + [job for job, _ in _CADENCES],
    schedules=[schedule for _, schedule in _CADENCES],
)
