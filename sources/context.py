"""The collection context the pipeline uses, from the environment.

``AIDES_REPLAY_DIR`` makes every web source replay ``<dir>/<source>/`` instead of the
network (demonstrations, offline runs, tests); otherwise sources are fetched live. The
link check follows the same rule: in replay it answers from ``<dir>/liens/`` when that
recording exists, and otherwise reaches no server at all (every link « non vérifié »).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sources.base import CollectContext
from sources.fetch.client import FetchPolicy
from sources.fetch.snapshots import SnapshotStore
from sources.fetch.transport import INDEX_FILE, LiveTransport, ReplayTransport, Transport
from sources.registry import fetch_policy


def pipeline_policy() -> FetchPolicy:
    """The declared fetch policy; in replay no publisher's server is involved: no spacing."""
    policy = fetch_policy()
    if os.environ.get("AIDES_REPLAY_DIR"):
        policy = dataclasses.replace(policy, min_interval_s=0.0)
    return policy


def pipeline_context(snapshots_dir: Path, npm_cache_dir: Path) -> CollectContext:
    replay = os.environ.get("AIDES_REPLAY_DIR")
    policy = pipeline_policy()
    return CollectContext(
        store=SnapshotStore(snapshots_dir),
        npm_cache_dir=npm_cache_dir,
        policy=policy,
        replay_root=Path(replay).resolve() if replay else None,
    )


def link_transport() -> Transport:
    """The transport of the link check: live, or the replayed ``liens`` recording (maybe none)."""
    replay = os.environ.get("AIDES_REPLAY_DIR")
    if not replay:
        return LiveTransport()
    folder = Path(replay).resolve() / "liens"
    if (folder / INDEX_FILE).exists():
        return ReplayTransport.from_folder(folder)
    return ReplayTransport({}, folder)
