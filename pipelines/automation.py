"""When the assets after ingestion rebuild themselves: once, after their inputs really changed.

Why: the nightly source runs used to each rebuild the catalogue, the link check and a release
(up to 13 releases a night), and an acknowledged hold waited for an unrelated schedule. With
declarative automation, the daemon's sensor ``propagation`` requests a rebuild of the catalogue
once any of its inputs has a new data version (a source whose payload changed, the referential),
no input is missing and none is being computed: the night's sources coalesce into one rebuild,
then one release. An unchanged source keeps its data version (its payload digest), so it
triggers nothing.
"""

from __future__ import annotations

import dagster as dg

ON_INPUT_CHANGE = (
    (
        dg.AutomationCondition.any_deps_match(dg.AutomationCondition.data_version_changed()).since_last_handled()
        | dg.AutomationCondition.missing().newly_true()
    )
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("après un changement de ses entrées")
"""Rebuild once after an input's data version changed (or when never built), inputs complete and idle."""
