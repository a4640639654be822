"""The Dagster code location as a reviewable text: groups, assets, checks, jobs, schedules, sensors.

``tests/golden/definitions.txt`` holds it; ``tests/test_definitions_snapshot.py`` fails on any
difference, so that a change to the code location shows in review. After an intended change:

    .venv/bin/python -m tests.definitions_snapshot --write
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).resolve().parent / "golden" / "definitions.txt"


def _module_folder(assets_def: dg.AssetsDefinition) -> str:
    """The folder under ``pipelines/defs/`` where the asset is defined."""
    fn = assets_def.op.compute_fn
    module = getattr(fn, "decorated_fn", fn).__module__
    return module.split(".")[2] if module.startswith("pipelines.defs.") else module


def snapshot(definitions: dg.Definitions) -> str:
    graph = definitions.resolve_asset_graph()
    lines: list[str] = []
    groups: dict[str, list[dg.AssetKey]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, []).append(key)
    for group in sorted(groups):
        lines.append(f"groupe {group}")
        for key in sorted(groups[group], key=lambda k: k.to_user_string()):
            node = graph.get(key)
            folder = _module_folder(definitions.resolve_assets_def(key))
            parents = ", ".join(sorted(k.to_user_string() for k in node.parent_keys)) or "—"
            lines.append(
                f"  asset {key.to_user_string()} [{', '.join(sorted(node.kinds))}] "
                f"(pipelines/defs/{folder}/) ← {parents}"
            )
    lines.append("contrôles")
    checks = sorted(
        ((spec.key, spec.blocking) for assets in graph.assets_defs for spec in assets.check_specs),
        key=lambda item: str(item[0]),
    )
    for key, blocking in sorted(checks, key=lambda item: (item[0].asset_key.to_user_string(), item[0].name)):
        lines.append(f"  {key.asset_key.to_user_string()} : {key.name}{' (bloquant)' if blocking else ''}")
    lines.append("jobs")
    lines += [f"  {job.name}" for job in sorted(definitions.jobs, key=lambda j: j.name)]
    lines.append("calendriers")
    lines += [
        f"  {s.name} : {s.cron_schedule} → {s.job_name}" for s in sorted(definitions.schedules, key=lambda s: s.name)
    ]
    lines.append("capteurs")
    lines += [f"  {s.name} → {_sensor_target(s)}" for s in sorted(definitions.sensors, key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def _sensor_target(sensor: object) -> str:
    """What a sensor starts: its jobs, or « assets » (automation, asset selections), or « alerte »."""
    if getattr(sensor, "has_jobs", False):
        return ", ".join(job.name for job in sensor.jobs)  # type: ignore[attr-defined]
    kind = type(sensor).__name__
    return {"AutomationConditionSensorDefinition": "automatisation", "RunStatusSensorDefinition": "alerte"}.get(
        kind, "assets ou alerte"
    )


def main() -> None:
    from pipelines.definitions import defs

    text = snapshot(defs())
    if "--write" in sys.argv:
        SNAPSHOT.write_text(text, encoding="utf-8")
        print(f"écrit {SNAPSHOT}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
