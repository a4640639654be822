"""The append-only store of submissions (warehouse/submissions/store.py) and the source reading it
(sources/adapters/soumissions.py, entry ``soumissions-collectivites``)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import stat
import uuid

import pytest
from paths import FIXTURES as FIXTURES_ROOT
from warehouse_test_helpers import load_minimal_referential

from sources.adapters import soumissions as adapter
from sources.base import CollectContext, adapter_module
from sources.fetch.snapshots import SnapshotStore
from sources.ingest import IngestStatus, ingest
from sources.registry import fetch_policy, get_spec
from warehouse.db import connect_reader, connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.submissions.checks import validate_submission
from warehouse.submissions.store import (
    SubmissionRefused,
    list_submissions,
    log_refused,
    store_submission,
    submissions_dir,
)
from warehouse.submissions.tokens import Identity

FIXTURES = FIXTURES_ROOT / "soumissions"
PARIS = Identity("217500016", "agent@paris.fr")
ID_A = "65d5b6c7-102c-4440-ac3b-768f708edc0a"
ID_B = "2b1f0c3e-8a44-4d5e-9f10-0c2f6b7a9d31"
STORED_NAME = re.compile(r"\d{8}T\d{12}Z-217500016-[0-9a-f]{12}(-\d+)?\.csv")


@pytest.fixture
def ready(warehouse):
    """A warehouse with the minimal referential, and its resolver."""
    load_minimal_referential(warehouse)
    with connect_writer(warehouse) as conn:
        resolver = GeoResolver.from_warehouse(conn)
    return warehouse, resolver


def _store(paths, resolver, content: bytes, filename: str | None = "soumission.csv"):
    report = validate_submission(content, filename or "", resolver, territory=PARIS.siren)
    with connect_writer(paths) as conn:
        return store_submission(paths, conn, content, filename, PARIS, report)


def test_a_valid_file_is_written_once_read_only_and_recorded(ready):
    paths, resolver = ready
    content = (FIXTURES / "valide.csv").read_bytes()
    receipt = _store(paths, resolver, content, "Aides 2026 (v2).csv")
    assert receipt.path.parent == submissions_dir(paths) and STORED_NAME.fullmatch(receipt.path.name)
    assert receipt.path.read_bytes() == content and receipt.sha256 == hashlib.sha256(content).hexdigest()
    assert receipt.path.name.endswith(f"-{receipt.sha256[:12]}.csv")
    assert not receipt.path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    with connect_reader(paths) as conn:
        row = conn.execute("SELECT siren, email, sha256, filename, rows, path FROM soumissions").fetchone()
    assert row == (
        PARIS.siren,
        PARIS.email,
        receipt.sha256,
        "Aides 2026 (v2).csv",
        3,
        f"submissions/{receipt.path.name}",
    )
    assert receipt.as_json()["lignes"] == 3


def test_the_same_file_twice_makes_two_entries_and_never_overwrites(ready):
    paths, resolver = ready
    content = (FIXTURES / "valide.csv").read_bytes()
    first = _store(paths, resolver, content)
    first_stat = first.path.stat()
    second = _store(paths, resolver, content)
    assert first.path != second.path and first.id != second.id
    assert first.path.stat().st_mtime_ns == first_stat.st_mtime_ns and first.path.read_bytes() == content
    assert sorted(p.name for p in submissions_dir(paths).iterdir()) == sorted([first.path.name, second.path.name])
    with connect_reader(paths) as conn:
        assert conn.execute("SELECT count(*) FROM soumissions").fetchone()[0] == 2
        listed = list_submissions(paths, conn, PARIS.siren)
        assert [r.id for r in listed] == [first.id, second.id] and listed[0].path == first.path
        assert list_submissions(paths, conn, "200046977") == []


def test_a_name_collision_gets_a_suffix_instead_of_overwriting(ready, monkeypatch):
    from warehouse.submissions import store as submission_store

    paths, resolver = ready
    folder = submissions_dir(paths)
    folder.mkdir(parents=True)
    (folder / "taken.csv").write_bytes(b"earlier")
    path = submission_store._write_once(folder, "taken", b"later")
    assert path.name == "taken-2.csv" and (folder / "taken.csv").read_bytes() == b"earlier"


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a/b.csv", "/tmp/absolu.csv", "..\\..\\win.csv", None])
def test_the_uploaded_name_is_metadata_never_a_path(ready, filename):
    paths, resolver = ready
    receipt = _store(paths, resolver, (FIXTURES / "valide.csv").read_bytes(), filename)
    assert receipt.path.parent == submissions_dir(paths) and STORED_NAME.fullmatch(receipt.path.name)
    assert [p.name for p in paths.root.rglob("*") if p.is_file() and p.parent.name == "submissions"] == [
        receipt.path.name
    ]
    assert not (paths.root / "etc").exists() and not (submissions_dir(paths) / "a").exists()
    with connect_reader(paths) as conn:
        assert conn.execute("SELECT filename FROM soumissions").fetchone()[0] == filename


def test_only_a_valid_report_of_these_very_bytes_is_accepted(ready):
    paths, resolver = ready
    bad = (FIXTURES / "dates.csv").read_bytes()
    good = (FIXTURES / "valide.csv").read_bytes()
    with connect_writer(paths) as conn:
        with pytest.raises(SubmissionRefused, match="seul un fichier valide"):
            store_submission(paths, conn, bad, "dates.csv", PARIS, validate_submission(bad, "dates.csv", resolver))
        other = validate_submission(good, "valide.csv", resolver)
        with pytest.raises(SubmissionRefused, match="empreintes différentes"):
            store_submission(paths, conn, good + b"\n", "valide.csv", PARIS, other)
        with pytest.raises(SubmissionRefused, match="collectivité invalide"):
            store_submission(paths, conn, good, "valide.csv", Identity("../x", "a@b.fr"), other)
        assert conn.execute("SELECT count(*) FROM soumissions").fetchone()[0] == 0
    assert not submissions_dir(paths).exists() or not any(submissions_dir(paths).iterdir())


def test_refused_attempts_are_logged(ready):
    paths, _resolver = ready
    with connect_writer(paths) as conn:
        log_refused(conn, None, "jeton inconnu", "a.csv")
        log_refused(conn, PARIS, "hors territoire : COM-69123", "../../etc/passwd")
        rows = conn.execute(
            "SELECT siren, email, reason, filename FROM soumissions_refusees ORDER BY received_at"
        ).fetchall()
    assert rows == [
        (None, None, "jeton inconnu", "a.csv"),
        (PARIS.siren, PARIS.email, "hors territoire : COM-69123", "../../etc/passwd"),
    ]


# --------------------------------------------------------------------------- the source


def _context(paths) -> CollectContext:
    return CollectContext(SnapshotStore(paths.snapshots_dir), paths.cache_dir, fetch_policy())


def test_the_source_is_declared_with_the_highest_precedence():
    spec = get_spec("soumissions-collectivites")
    assert spec.precedence == 100 and spec.level == "multi" and spec.licence == "etalab-2.0"
    assert spec.publisher == "Collectivités (soumissions)" and spec.transport == "local"
    assert adapter_module(spec) is adapter


def test_an_empty_store_is_an_empty_source_not_an_unavailable_one(warehouse):
    spec = get_spec("soumissions-collectivites")
    assert adapter.collect(spec, _context(warehouse)).documents == []
    outcome = ingest(spec, _context(warehouse), None)
    assert outcome.status == IngestStatus.PARSED and outcome.result.records == [] and outcome.error is None


def test_the_folder_must_stay_inside_the_warehouse(warehouse):
    spec = dataclasses.replace(get_spec("soumissions-collectivites"), config={"folder": "../ailleurs"})
    with pytest.raises(ValueError, match="hors de l'entrepôt"):
        adapter.collect(spec, _context(warehouse))


def test_submissions_become_records_the_latest_one_winning(ready):
    paths, resolver = ready
    spec = get_spec("soumissions-collectivites")
    _store(paths, resolver, (FIXTURES / "valide.csv").read_bytes(), "premier.csv")
    later = (FIXTURES / "valide.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, first_row = later[0], "".join(later[1:3])  # the addition spans two lines
    correction = later[3].replace("Aide à la rénovation énergétique des copropriétés", "Aide corrigée")
    _store(paths, resolver, (header + correction + first_row).encode("utf-8"), "second.csv")

    payload = adapter.collect(spec, _context(paths))
    assert [doc.name for doc, _ in payload.documents] == sorted(p.name for p in submissions_dir(paths).iterdir())
    result = adapter.parse(spec, payload)
    by_id = {r.native_id: r for r in result.records}
    assert len(result.records) == 3 and result.items_seen == 5  # 3 rows, then 2
    assert by_id[ID_A].titre == "Aide corrigée" and by_id[ID_A].raw["soumission"] == payload.documents[1][0].name
    assert by_id[ID_A].raw["action"] == "correction" and by_id[ID_A].raw["siren"] == PARIS.siren
    assert by_id[ID_A].eligibilite == "- Copropriété située à Paris"  # the neutralising quote is removed
    assert [(m.niveau, m.code) for m in by_id[ID_A].geo_inclusions] == [("departement", "75")]
    assert by_id[ID_A].taux == ["50 %"] and by_id[ID_A].niveau == "departement"
    withdrawal = by_id[ID_B]
    assert withdrawal.raw["action"] == "retrait" and withdrawal.titre == "Prime au compostage"
    derived = str(uuid.uuid5(adapter.NAMESPACE, f"{PARIS.siren}|aide à l'achat d'un vélo cargo"))
    addition = by_id[derived]
    assert addition.raw["action"] == "ajout" and addition.montants == ["600 €"] and addition.raw["ligne"] == 3
    assert addition.porteurs == ["VILLE DE PARIS"] and addition.financeurs == ["VILLE DE PARIS"]
    assert all(r.reason.startswith("remplacée par ") for r in result.rejections)
    assert len(result.rejections) == 2  # the first file's correction and addition
    assert adapter.parse(spec, payload).records[0].native_id == result.records[0].native_id  # stable


def test_a_withdrawal_without_title_gets_one_and_bad_rows_are_rejected(warehouse):
    spec = get_spec("soumissions-collectivites")
    from sources.base import Payload

    content = ("action,id,titre\nretrait," + ID_B + ",\nmodifier," + ID_A + ",x\ncorrection,,x\n,,\n").encode()
    result = adapter.parse(
        spec, Payload.build([("20260101T000000000000Z-DEP-69-0123456789ab.csv", content, "text/csv")])
    )
    assert [r.titre for r in result.records] == [f"Aide retirée {ID_B}"]
    assert result.records[0].raw["siren"] == "DEP-69"
    assert sorted(r.reason for r in result.rejections) == [
        "action 'modifier' inconnue (ajout, correction, retrait)",
        "correction sans identifiant",
    ]


def test_a_file_written_otherwise_is_stored_as_read_and_its_own_bytes_are_kept(ready):
    """Issue 16: an Excel-style file (« ; », Windows-1252, 31/12/2026) is accepted; the catalogue
    reads it in the documented format, and the agent's own bytes are kept, write-once, beside it."""
    paths, resolver = ready
    text = (FIXTURES / "valide.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerows([[c.replace("2025-01-01T00:00:00+01:00", "01/01/2025") for c in row] for row in rows])
    excel = buffer.getvalue().encode("cp1252")
    receipt = _store(paths, resolver, excel, "aides.csv")
    stored = receipt.path.read_bytes().decode("utf-8")
    assert (
        stored.startswith("action,id,titre,") and "2025-01-01T00:00:00+01:00" in stored and "01/01/2025" not in stored
    )
    original = submissions_dir(paths) / "originaux" / receipt.path.name
    assert original.read_bytes() == excel and receipt.sha256 == hashlib.sha256(excel).hexdigest()
    assert not original.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    result = adapter.parse(
        get_spec("soumissions-collectivites"), adapter.collect(get_spec("soumissions-collectivites"), _context(paths))
    )
    assert len(result.records) == 3 and not [r for r in result.rejections if not r.reason.startswith("remplacée")]
