"""Jobs of the code location."""

import dagster as dg

catalogue_complet = dg.define_asset_job(
    name="catalogue_complet",
    selection=dg.AssetSelection.all(),
    description="Toute la chaîne : référentiel, sources, normalisation et publication (ce que lance `make run`).",
)
