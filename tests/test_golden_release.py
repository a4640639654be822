"""The release built from the recorded fixtures is the reference one (needs the npm registry).

The reference, ``tests/golden/release.json``, was built before the code was laid out by stage;
a difference means behaviour changed. When a change is intended, regenerate it with
``.venv/bin/python -m tests.golden_release --write`` and review the diff."""

from __future__ import annotations

import json

import pytest
from golden_release import GOLDEN, build

pytestmark = pytest.mark.registry


def test_release_from_the_recorded_fixtures_is_the_reference_one(tmp_path, referential_package):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(build(tmp_path, referential_package), ensure_ascii=False))
    assert actual.keys() == expected.keys()
    for name in expected:
        if isinstance(expected[name], list):
            missing = [r for r in expected[name] if r not in actual[name]]
            extra = [r for r in actual[name] if r not in expected[name]]
            assert not missing and not extra, (
                f"{name} : {len(missing)} lignes attendues absentes, {len(extra)} lignes nouvelles ; "
                f"première attendue {missing[:1]}, première nouvelle {extra[:1]}"
            )
        else:
            assert actual[name] == expected[name], name
