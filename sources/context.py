"""The collection context the pipeline uses, from the environment.

``AIDES_REPLAY_DIR`` makes every web source replay ``<dir>/<source>/`` instead of the
network (demonstrations, offline runs); otherwise sources are fetched live.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sources.base import CollectContext
from sources.fetch.snapshots import SnapshotStore
from sources.registry import fetch_policy


def pipeline_context(snapshots_dir: Path, npm_cache_dir: Path) -> CollectContext:
    replay = os.environ.get("AIDES_REPLAY_DIR")
    policy = fetch_policy()
    if replay:  # no publisher's server is involved: no need to space requests
        policy = dataclasses.replace(policy, min_interval_s=0.0)
    return CollectContext(
        store=SnapshotStore(snapshots_dir),
        npm_cache_dir=npm_cache_dir,
        policy=policy,
        replay_root=Path(replay).resolve() if replay else None,
    )
