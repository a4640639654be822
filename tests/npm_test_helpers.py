"""Shared helpers for the tests of adapters that read a publicodes model out of an npm package.

The aides-velo and mesaidesreno adapters work alike: ``collect`` takes one JSON member
out of an npm package, ``parse`` turns its rules into records. Their tests use the
helpers below, bound to one adapter, its spec and its member through :class:`NpmModel`.
:func:`make_tarball` builds a small npm tarball for any test (the COG referential's too).
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from collect_test_helpers import context
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import FIXTURES

from sources.base import CollectContext, Payload, SourceSpec
from sources.fetch import FetchPolicy, SnapshotStore
from sources.npm import NpmPackage
from sources.record import ParseResult


def fixture_models(folder: str) -> tuple[Path, Path]:
    """The well-formed ``model.json`` and the ``model-malformed.json`` of a source's fixture folder."""
    fixtures = FIXTURES / folder
    return fixtures / "model.json", fixtures / "model-malformed.json"


def payload_of(content: bytes, name: str) -> Payload:
    """A payload holding ``content`` as its one document, called ``name``."""
    return Payload.build([(name, content, "application/json")], version="0.0.0-test")


def by_id(result: ParseResult) -> dict[str, Any]:
    return {record.native_id: record for record in result.records}


def pinned(spec: SourceSpec, version: str) -> SourceSpec:
    """``spec`` with its package pinned at ``version``."""
    return type(spec)(**{**spec.__dict__, "config": {**spec.config, "version": version}})


@dataclass(frozen=True)
class NpmModel:
    """One adapter under test, with its spec and the package member that holds its model."""

    adapter: ModuleType
    spec: SourceSpec
    member: str

    def payload_of(self, content: bytes, name: str | None = None) -> Payload:
        """A payload holding ``content`` under the model's member name (or under ``name``)."""
        return payload_of(content, self.member if name is None else name)

    def parse_bytes(self, content: bytes) -> ParseResult:
        return self.adapter.parse(self.spec, self.payload_of(content))

    def parse_model(self, model: Any, ensure_ascii: bool = True) -> ParseResult:
        """Parse ``model`` once written out as JSON."""
        return self.parse_bytes(json.dumps(model, ensure_ascii=ensure_ascii).encode())

    def collect_and_parse(self, tmp_path: Path, version: str | None = None) -> tuple[Payload, ParseResult]:
        """Collect the real package (the latest, or ``version``) through the npm client, then parse it."""
        spec = self.spec if version is None else pinned(self.spec, version)
        payload = self.adapter.collect(spec, context(tmp_path))
        if version is not None:
            assert payload.version == version
        return payload, self.adapter.parse(spec, payload)

    def assert_one_document_rejection(self, result: ParseResult) -> None:
        """Nothing came out but one rejection of the whole model member."""
        assert result.records == []
        assert [rejection.location for rejection in result.rejections] == [self.member]

    # The two hypothesis tests below are the same for every such adapter: a test module
    # takes them in as ``test_… = MODEL.…_test(…)``.

    def random_bytes_test(self, items_of: Callable[[dict], list[str]]) -> Callable[[], None]:
        """Random bytes never raise: no JSON object is one rejection, a JSON object a record or a rejection
        per item (the rule names ``items_of`` finds in it)."""

        @settings(max_examples=150, deadline=None)
        @given(st.binary(max_size=400))
        def test_random_bytes_never_raise(content: bytes) -> None:
            result = self.parse_bytes(content)
            model = decoded_model(content)
            if not isinstance(model, dict):
                self.assert_one_document_rejection(result)
            else:
                assert len(result.records) + len(result.rejections) == len(items_of(model))

        return test_random_bytes_never_raise

    def truncated_models_test(self, valid: bytes) -> Callable[[], None]:
        """The model ``valid`` cut anywhere before its end is one rejection of the document."""

        @settings(max_examples=150, deadline=None)
        @given(st.integers(min_value=0, max_value=len(valid.rstrip()) - 1))
        def test_truncated_models_are_one_rejection(cut: int) -> None:
            self.assert_one_document_rejection(self.parse_bytes(valid[:cut]))

        return test_truncated_models_are_one_rejection


# --------------------------------------------------------------------------- hypothesis


def json_values_with(geo_strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, with ``geo_strings`` (the model's geographic conditions) among its leaves."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | geo_strings,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
        max_leaves=12,
    )


def decoded_model(content: bytes) -> Any:
    """What ``content`` holds as JSON, or None when it is not JSON at all."""
    try:
        return json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def with_field(rule: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of ``rule`` with ``field`` set to ``value``."""
    rule = copy.deepcopy(rule)
    rule[field] = value
    return rule


def accounted_for(result: ParseResult) -> list[str]:
    """The rule names of the records and of the rejected rules."""
    return [r.native_id for r in result.records] + [r.location[len("règle '") : -1] for r in result.rejections]


def assert_no_unexpected_error(result: ParseResult) -> None:
    assert not any(r.reason.startswith("erreur inattendue") for r in result.rejections), result.rejections


# --------------------------------------------------------------------------- collect


class LocalPackages(CollectContext):
    """A context whose npm packages are tarballs on disk: collect without the registry."""

    def __init__(self, tmp_path: Path, tarball: Path, version: str) -> None:
        super().__init__(SnapshotStore(tmp_path / "snap"), tmp_path / "npm", FetchPolicy(user_agent="test"))
        self.tarball = tarball
        self.version = version
        self.asked: list[tuple[str, str]] = []

    def npm_package(self, name: str, spec_or_version: str = "latest") -> NpmPackage:
        self.asked.append((name, spec_or_version))
        return NpmPackage(name, self.version, "sha512-test", self.tarball, downloaded=False)


def make_tarball(path: Path, members: dict[str, bytes]) -> Path:
    """A gzipped npm tarball at ``path`` holding ``members`` (names relative to ``package/``)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path
