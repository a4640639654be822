"""The COG referential: loaded exactly, and a bad package never replaces a good one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from npm_test_helpers import make_tarball

from sources import npm
from sources.packages import referential_pin
from warehouse.db import connect_writer
from warehouse.referential import ReferentialError, load_referential, loaded_version, referential_counts

PACKAGE = "@etalab/decoupage-administratif"


def _fake_package(path: Path, files: dict[str, bytes], version: str = "9.9.9") -> npm.NpmPackage:
    make_tarball(path, files)
    return npm.NpmPackage(PACKAGE, version, npm.integrity_of(path), path, downloaded=False)


def _manifest(version: str = "9.9.9", name: str = PACKAGE) -> bytes:
    return json.dumps({"name": name, "version": version}).encode()


SMALL_DATA = {
    "package.json": _manifest(),
    "data/regions.json": json.dumps([{"code": "84", "nom": "Auvergne-Rhône-Alpes", "zone": "metro"}]).encode(),
    "data/departements.json": json.dumps([{"code": "01", "nom": "Ain", "region": "84", "zone": "metro"}]).encode(),
    "data/communes.json": json.dumps(
        [
            {
                "code": "01004",
                "nom": "Ambérieu-en-Bugey",
                "type": "commune-actuelle",
                "departement": "01",
                "region": "84",
                "zone": "metro",
                "codesPostaux": ["01500"],
                "population": 14000,
            }
        ]
    ).encode(),
    "data/epci.json": json.dumps(
        [{"code": "240100883", "nom": "CC de la Plaine de l'Ain", "type": "CC", "membres": [{"code": "01004"}]}]
    ).encode(),
}


def test_truncated_archive_is_rejected_naming_package_and_version(warehouse, tmp_path):
    good = make_tarball(tmp_path / "good.tgz", SMALL_DATA).read_bytes()
    truncated = tmp_path / "truncated.tgz"
    truncated.write_bytes(good[: len(good) // 2])
    package = npm.NpmPackage(PACKAGE, "9.9.9", npm.integrity_of(truncated), truncated, downloaded=False)
    with (
        connect_writer(warehouse) as conn,
        pytest.raises(ReferentialError, match=rf"{PACKAGE} 9\.9\.9 : archive illisible"),
    ):
        load_referential(conn, package)


def test_package_that_is_not_the_expected_one_is_rejected(warehouse, tmp_path):
    package = _fake_package(tmp_path / "p.tgz", {**SMALL_DATA, "package.json": _manifest(name="left-pad")})
    with connect_writer(warehouse) as conn, pytest.raises(ReferentialError, match="se déclare left-pad"):
        load_referential(conn, package)


def test_missing_data_file_is_named(warehouse, tmp_path):
    files = {k: v for k, v in SMALL_DATA.items() if k != "data/epci.json"}
    package = _fake_package(tmp_path / "p.tgz", files)
    with connect_writer(warehouse) as conn, pytest.raises(ReferentialError, match="data/epci.json"):
        load_referential(conn, package)


def test_malformed_json_is_rejected_and_nothing_is_loaded(warehouse, tmp_path):
    package = _fake_package(tmp_path / "p.tgz", {**SMALL_DATA, "data/communes.json": b'[{"code": "01004", "nom": '})
    with connect_writer(warehouse) as conn:
        with pytest.raises(ReferentialError, match=r"9\.9\.9 : données inattendues"):
            load_referential(conn, package)
        assert loaded_version(conn) is None
        assert conn.execute("SELECT count(*) FROM ref_communes").fetchone()[0] == 0


def test_well_formed_but_incomplete_package_is_rejected(warehouse, tmp_path):
    package = _fake_package(tmp_path / "p.tgz", SMALL_DATA)
    with connect_writer(warehouse) as conn:
        with pytest.raises(ReferentialError, match=r"ref_regions n'a que 1 lignes \(au moins 18"):
            load_referential(conn, package)
        assert conn.execute("SELECT count(*) FROM ref_regions").fetchone()[0] == 0


@pytest.mark.registry
def test_pinned_package_loads_the_whole_cog(warehouse, referential_package):
    with connect_writer(warehouse) as conn:
        summary = load_referential(conn, referential_package)
        counts = referential_counts(conn)
        departements = {row[0] for row in conn.execute("SELECT code FROM ref_departements").fetchall()}
        paris = conn.execute("SELECT * FROM v_communes_territoires WHERE commune = '75056'").fetchone()
        ajaccio = conn.execute(
            "SELECT epci, departement, region FROM v_communes_territoires WHERE commune = '2A004'"
        ).fetchone()
        arrondissement = conn.execute(
            "SELECT commune FROM ref_communes_rattachees WHERE code = '69381' AND type = 'arrondissement-municipal'"
        ).fetchone()
        shared_postcode = conn.execute("SELECT count(*) FROM ref_codes_postaux WHERE code_postal = '01400'").fetchone()[
            0
        ]
        deleguee = conn.execute(
            "SELECT commune FROM ref_communes_rattachees WHERE code = '01039' AND type = 'commune-deleguee'"
        ).fetchone()
        siren = conn.execute("SELECT siren FROM ref_communes WHERE code = '14118'").fetchone()[0]
        epci_types = {row[0] for row in conn.execute("SELECT DISTINCT type FROM ref_epci").fetchall()}
    assert summary.loaded
    assert counts["communes"] == 34_969
    assert counts["epci"] == 1_255
    assert counts["arrondissements_municipaux"] == 45
    assert counts["regions"] == 26
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= departements
    assert paris[:8] == (
        "75056",
        "Paris",
        "200054781",
        "Métropole du Grand Paris",
        "75",
        "Paris",
        "11",
        "Île-de-France",
    )
    assert paris[8] == "99100"
    assert ajaccio == ("242010056", "2A", "94")
    assert arrondissement == ("69123",)  # Lyon 1er → Lyon
    assert shared_postcode > 1  # 01400 is shared by several communes
    assert deleguee == ("01138",)  # Béon → Valromey-sur-Séran
    assert siren == "211401187"  # Caen
    assert epci_types == {"CC", "CA", "CU", "METRO", "MET69"}


@pytest.mark.registry
def test_same_version_is_not_loaded_twice(warehouse, referential_package):
    with connect_writer(warehouse) as conn:
        assert load_referential(conn, referential_package).loaded
        assert not load_referential(conn, referential_package).loaded


@pytest.mark.registry
def test_a_bad_package_leaves_the_previous_referential_intact(warehouse, referential_package, tmp_path):
    with connect_writer(warehouse) as conn:
        load_referential(conn, referential_package)
        before = referential_counts(conn)
        bad = _fake_package(tmp_path / "bad.tgz", {**SMALL_DATA, "data/communes.json": b"{not json"}, version="6.0.1")
        with pytest.raises(ReferentialError, match=r"6\.0\.1"):
            load_referential(conn, bad)
        assert referential_counts(conn) == before
        assert loaded_version(conn)[1] == referential_package.version


@pytest.mark.registry
def test_cached_package_is_not_downloaded_again_and_corruption_is_healed(tmp_path):
    pin = referential_pin()
    first = npm.fetch(pin.name, pin.version, pin.integrity, tmp_path)
    second = npm.fetch(pin.name, pin.version, pin.integrity, tmp_path)
    assert first.downloaded and not second.downloaded
    second.tarball.write_bytes(b"corrupted")
    healed = npm.fetch(pin.name, pin.version, pin.integrity, tmp_path)
    assert healed.downloaded and npm.integrity_of(healed.tarball) == pin.integrity


@pytest.mark.registry
def test_wrong_integrity_is_refused(tmp_path):
    pin = referential_pin()
    with pytest.raises(npm.NpmPackageError, match=rf"{pin.name} {pin.version} : intégrité inattendue"):
        npm.fetch(pin.name, pin.version, "sha512-" + "A" * 86 + "==", tmp_path)
    assert not list((tmp_path / "npm").glob("*.tgz"))
