"""Publicodes models from anywhere (issue 14, point 5): npm by default, or a URL, a repository
archive (``.tar.gz``, ``.zip``), a model written in YAML; configured per source, no Python."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from collect_test_helpers import context
from paths import FIXTURES

from sources.adapters import aides_velo
from sources.archives import ArchiveError, archive_files
from sources.base import Payload
from sources.fetch.transport import ReplayTransport
from sources.ingest import IngestStatus, ingest
from sources.registry import SourceConfigError, get_spec, load_specs

MODEL = FIXTURES / "aides-velo" / "model.json"
FORK = "https://depot.example/fork-aides-velo/"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _ingest(tmp_path: Path, config: dict, url: str, content: bytes):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "served"
    path.write_bytes(content)
    spec = replace(get_spec("aides-velo"), transport="http", config={**config, "url": url})
    return ingest(spec, context(tmp_path, ReplayTransport.from_files({url: path})), None)


def _titles(outcome) -> list[str]:
    assert outcome.status == IngestStatus.PARSED, outcome.error
    return sorted(record.native_id for record in outcome.result.records)


def test_a_model_file_an_archive_and_a_yaml_model_give_the_same_aids_as_npm(tmp_path: Path) -> None:
    content = MODEL.read_bytes()
    member = "publicodes-build/aides-velo.model.json"
    from_npm = aides_velo.parse(get_spec("aides-velo"), Payload.build([(member, content, "application/json")]))
    plain = _titles(_ingest(tmp_path / "a", {"member": member}, FORK + "model.json", content))
    assert plain == sorted(record.native_id for record in from_npm.records) and len(plain) > 5
    tar = _tar({f"fork-aides-velo-main/{member}": content, "fork-aides-velo-main/README.md": b"fork"})
    assert _titles(_ingest(tmp_path / "b", {"member": member}, FORK + "main.tar.gz", tar)) == plain
    zipped = _zip({f"fork-aides-velo-main/{member}": content})
    assert _titles(_ingest(tmp_path / "c", {"member": member}, FORK + "main.zip", zipped)) == plain
    written = yaml.safe_dump(json.loads(content), allow_unicode=True).encode()
    assert _titles(_ingest(tmp_path / "d", {"member": "modele.yaml"}, FORK + "modele.yaml", written)) == plain


def test_an_archive_without_the_model_leaves_the_source_unavailable_saying_why(tmp_path: Path) -> None:
    tar = _tar({"fork-main/README.md": b"rien"})
    outcome = _ingest(tmp_path, {"member": "modele.json"}, FORK + "main.tar.gz", tar)
    assert outcome.status == IngestStatus.UNAVAILABLE
    assert "'modele.json' est absent de l'archive" in outcome.error
    with pytest.raises(ArchiveError, match="archive illisible"):
        archive_files(b"\x1f\x8bpas une archive")


def test_withdrawn_aids_and_model_location_are_declared_and_checked(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "declarations"
    folder.mkdir()
    entry = """
[[source]]
name = "aides-velo-historique"
adapter = "aides_velo"
level = "multi"
publisher = "Historique"
licence = "Apache-2.0"
homepage = "https://depot.example/"
transport = "http"
schedule = "0 5 * * 1"

[source.config]
url = "https://depot.example/historique.tar.gz"
member = "modele.json"
retrait = "aides arrêtées (modèle historique)"
"""
    (folder / "historique.toml").write_text(entry, encoding="utf-8")
    monkeypatch.setenv("AIDES_SOURCES_DIR", str(folder))
    spec = get_spec("aides-velo-historique")
    assert spec.config["retrait"] == "aides arrêtées (modèle historique)"
    (folder / "historique.toml").write_text(entry.replace("retrait", "retire"), encoding="utf-8")
    with pytest.raises(SourceConfigError, match="clé inconnue : retire"):
        load_specs()
