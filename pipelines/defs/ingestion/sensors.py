"""New submissions of collectivités are ingested, normalised and published without waiting."""

import dagster as dg

from warehouse.settings import warehouse_paths

soumissions_collectivites = dg.define_asset_job(
    name="soumissions_collectivites",
    selection=dg.AssetSelection.assets("records_soumissions_collectivites"),
    description="Ingère les fichiers acceptés des collectivités ; catalogue et publication suivent par automatisation.",
)


@dg.sensor(job=soumissions_collectivites, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def nouvelles_soumissions(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Starts a run when the append-only store has a file newer than the last one seen.

    Stored names begin with their UTC arrival time, so the greatest name is the newest file
    and serves as the cursor."""
    folder = warehouse_paths().submissions_dir
    newest = max((p.name for p in folder.glob("*.csv")), default="") if folder.exists() else ""
    if not newest or newest <= (context.cursor or ""):
        return dg.SkipReason("aucune nouvelle soumission")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=newest)], cursor=newest)
