"""Mission Transition Écologique's programme YAML files: the 264 real files from ../shared,
served behind a GitHub contents API listing built here, and small malformed fixtures."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from collect_test_helpers import context as _context
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import FIXTURES as FIXTURES_ROOT
from paths import MTE

from sources.adapters import mte_programmes as adapter
from sources.base import Payload
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

PROGRAMS = sorted((MTE / "programs").glob("*.yaml"))
FIXTURES = FIXTURES_ROOT / "mission-transition-ecologique-programmes"

SPEC = get_spec("mission-transition-ecologique-programmes")
RAW_BASE = "https://raw.githubusercontent.com/betagouv/mission-transition-ecologique/main/libs/data/programs/"
DDMMYYYY = re.compile(r"\d{2}/\d{2}/\d{4}")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    """The 264 real files behind a contents API listing shaped like GitHub's."""
    tmp_path = tmp_path_factory.mktemp("mte-programmes")
    listing = [
        {
            "name": path.name,
            "path": f"libs/data/programs/{path.name}",
            "sha": f"{index:040x}",
            "size": path.stat().st_size,
            "type": "file",
            "download_url": RAW_BASE + path.name,
        }
        for index, path in enumerate(PROGRAMS)
    ]
    listing.append({"name": "schema", "path": "libs/data/programs/schema", "type": "dir", "download_url": None})
    listing_file = tmp_path / "listing.json"
    listing_file.write_text(json.dumps(listing), encoding="utf-8")
    files = {SPEC.config["url"]: listing_file} | {RAW_BASE + path.name: path for path in PROGRAMS}
    transport = ReplayTransport.from_files(files)
    payload = adapter.collect(SPEC, _context(tmp_path, transport))
    return payload, adapter.parse(SPEC, payload), transport


def _record(result, native_id: str):
    return next(record for record in result.records if record.native_id == native_id)


# -- the real files ----------------------------------------------------------------------------
def test_real_files_all_become_records(real) -> None:
    payload, result, transport = real
    assert len(PROGRAMS) == 264
    names = [doc.name for doc, _ in payload.documents]
    assert names[0] == SPEC.config["url"]
    assert names[1:] == [path.name for path in PROGRAMS]
    assert RAW_BASE + "accelerateur-decarbonation.yaml" in transport.requested
    assert len(result.records) + len(result.rejections) == 264
    assert result.rejections == []
    assert [r.native_id for r in result.records] == [path.stem for path in PROGRAMS]
    json.dumps([record.to_row() for record in result.records])


def test_real_accelerateur_decarbonation(real) -> None:
    _, result, _ = real
    record = _record(result, "accelerateur-decarbonation")
    assert record.source == "mission-transition-ecologique-programmes"
    assert record.titre == "Accélérateur décarbonation"
    assert record.promesse == "Définissez une stratégie bas carbone"
    assert record.description.startswith("Profitez d’un accompagnement pour structurer une trajectoire")
    assert "- de 29 jours de conseil personnalisé par Bpifrance" in record.description
    assert record.porteurs == ["Banque Publique d'Investissement France"]
    assert record.types_aides == ["étude"]
    assert record.montants == ["29 000 € HT"]
    assert record.date_ouverture == "06/02/2023"
    assert record.date_cloture == "31/12/2025"
    assert record.geo_inclusions == [GeoMention(None, nom="France et territoires d'outre-mer")]
    assert record.url_demarche == (
        "https://www.bpifrance.fr/nos-appels-a-projets-concours/"
        "candidatez-a-la-3e-promotion-de-laccelerateur-decarbonation"
    )
    assert (
        record.url_source
        == "https://mission-transition-ecologique.beta.gouv.fr/aides-entreprise/accelerateur-decarbonation"
    )
    assert record.cibles == ["entreprises"]
    assert record.eligibilite.splitlines()[:3] == [
        "taille de l'entreprise :",
        "  - Plus de 50 salariés",
        "  - Non éligible aux micro-entreprises",
    ]
    assert "  - Avoir réalisé un bilan carbone datant de moins de 2 ans" in record.eligibilite
    assert record.raw["aide temporairement indisponible"] == "oui"
    effectif = record.raw["publicodes"]["entreprise . a un effectif éligible"]
    assert effectif == {"toutes ces conditions": ["effectif >= 50"]}


def test_real_act_pas_a_pas_and_conditional_fields(real) -> None:
    _, result, _ = real
    act = _record(result, "act-pas-a-pas")
    assert act.titre == "ACT - Pas à pas (hors industrie)"
    assert act.porteurs == ["ADEME"]
    assert act.montants == ["Jusqu'à 80% du coût de l'étude, dans un maximum de 30 000 €"]
    assert act.cibles == ["entreprises", "administrations publiques"]
    assert (act.date_ouverture, act.date_cloture) == ("13/11/2023", "31/12/2026")
    cii = _record(result, "credit-impot-innovation")
    assert cii.montants == [
        "Crédit d'impôt entre 20 à 60% selon localisation",
        "Crédit d'impôt de 35% à 40%",
        "Crédit d'impôt de 60%",
        "Crédit d'impôt de 20%",
    ]
    assert _record(result, "imprim-vert").porteurs == [
        "Chambre des Métiers et de l'Artisanat",
        "Chambre de Commerce et de l'Industrie",
        "CCI ou CMA",
    ]


def test_real_dates_and_geography_as_stated(real) -> None:
    _, result, _ = real
    openings = [r.date_ouverture for r in result.records if r.date_ouverture]
    closings = [r.date_cloture for r in result.records if r.date_cloture]
    assert (len(openings), len(closings)) == (111, 140)
    assert all(DDMMYYYY.fullmatch(date) for date in openings + closings)
    places = [mention.nom for r in result.records for mention in r.geo_inclusions]
    assert all(mention.niveau is None and mention.code is None for r in result.records for mention in r.geo_inclusions)
    assert places.count("France et territoires d'outre-mer") == 142
    assert places.count("Landes, Nouvelle-Aquitaine, Occitanie") == 7
    assert {tuple(r.types_aides) for r in result.records} == {
        ("étude",),
        ("financement",),
        ("formation",),
        ("prêt",),
        ("avantage fiscal",),
    }


def test_real_csv_export_rows_are_programmes(real) -> None:
    """The dispositif-aide export links each row to its programme by the slug of url_source;
    it states opening dates read month-first (06/02/2023 → 2023-06-01T22:00:00.000Z)."""
    _, result, _ = real
    ids = {record.native_id for record in result.records}
    rows = list(csv.DictReader(io.StringIO((MTE / "data_gouv_export.csv").read_text(encoding="utf-8"), newline="")))
    slugs = [re.search(r"/aides-entreprise/([^?]+)", row["url_source"]).group(1) for row in rows]
    assert len(slugs) == 190 and set(slugs) <= ids
    row = rows[slugs.index("accelerateur-decarbonation")]
    assert (row["date_ouverture"], _record(result, "accelerateur-decarbonation").date_ouverture) == (
        "2023-06-01T22:00:00.000Z",
        "06/02/2023",
    )


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def fixture_run(tmp_path: Path):
    transport = ReplayTransport.from_folder(FIXTURES)
    payload = adapter.collect(SPEC, _context(tmp_path, transport))
    return payload, adapter.parse(SPEC, payload), transport


def test_fixture_collect_skips_non_yaml_entries(fixture_run) -> None:
    payload, _, transport = fixture_run
    assert [doc.name for doc, _ in payload.documents] == [
        SPEC.config["url"],
        "aide-valide.yaml",
        "date-iso-non-citee.yaml",
        "liste.yaml",
        "sans-titre.yaml",
        "titre-mapping.yaml",
        "yaml-casse.yaml",
    ]
    assert not any(url.endswith(("README.md", "sous-dossier")) for url in transport.requested)


def test_fixture_valid_programmes(fixture_run) -> None:
    _, result, _ = fixture_run
    valid, iso = result.records
    assert valid.native_id == "aide-valide"
    assert valid.porteurs == ["ADEME", "CCI Grand Est", "Région Grand Est"]
    assert valid.montants == ["1 500 € HT", "750 € HT après subvention de 50 %"]
    assert valid.geo_inclusions == [
        GeoMention(None, nom="Landes, Nouvelle-Aquitaine, Occitanie"),
        GeoMention(None, nom="Grand Est"),
    ]
    assert valid.url_demarche == "https://exemple.invalid/diagnostic-eco-flux"
    assert valid.url_source == "https://mission-transition-ecologique.beta.gouv.fr/aides-entreprise/aide-valide"
    assert valid.cibles == ["entreprises", "administrations publiques"]
    assert (valid.date_ouverture, valid.date_cloture) == ("15/01/2024", "31/12/2026")
    assert iso.native_id == "date-iso-non-citee"
    assert iso.date_ouverture == "2024-02-01"  # YAML read it as a date: given back as ISO text
    assert iso.date_cloture is None
    assert iso.raw["début de validité"] == "2024-02-01"
    assert iso.porteurs == ["Bpifrance"] and iso.types_aides == ["prêt"]
    assert iso.montants == ["De 50 000 € à 5 M€"]
    assert iso.eligibilite == "Être une PME implantée en région" and iso.geo_inclusions == []


def test_fixture_malformed_programmes_rejected_with_reasons(fixture_run) -> None:
    _, result, _ = fixture_run
    assert result.items_seen == 6
    assert [(r.location, r.reason) for r in result.rejections] == [
        ("fichier liste.yaml", "le programme n'est pas un dictionnaire YAML (un list)"),
        ("fichier sans-titre.yaml", "titre absent"),
        ("fichier titre-mapping.yaml", "titre vide ou qui n'est pas un texte"),
        ("fichier yaml-casse.yaml, ligne 5", "YAML invalide : expected ',' or ']', but got '<stream end>'"),
    ]
    assert result.rejections[1].excerpt.startswith("# Fixture: a programme mapping without titre.")


def test_unreadable_listing_is_one_rejection() -> None:
    url = SPEC.config["url"]
    broken = adapter.parse(SPEC, Payload.build([(url, b"<html>rate limited", "application/json")]))
    assert [r.location for r in broken.rejections] == [url]
    assert broken.rejections[0].reason.startswith("liste des fichiers illisible (JSON invalide")
    message = adapter.parse(SPEC, Payload.build([(url, b'{"message": "Not Found"}', "application/json")]))
    assert [r.reason for r in message.rejections] == ["réponse inattendue de l'API GitHub : Not Found"]
    empty = adapter.parse(SPEC, Payload.build([(url, b"[]", "application/json")]))
    assert empty.items_seen == 0


# -- hypothesis --------------------------------------------------------------------------------
def _parse_files(files: list[tuple[str, bytes]]):
    return adapter.parse(SPEC, Payload.build([(name, content, "application/yaml") for name, content in files]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.binary(max_size=400), min_size=1, max_size=4))
def test_random_bytes_one_item_per_file(contents: list[bytes]) -> None:
    result = _parse_files([(f"p{i}.yaml", content) for i, content in enumerate(contents)])
    assert result.items_seen == len(contents)
    for record in result.records:
        json.dumps(record.to_row())


_REAL_BYTES = (MTE / "programs" / "accelerateur-decarbonation.yaml").read_bytes()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=len(_REAL_BYTES)))
def test_truncated_real_file(cut: int) -> None:
    result = _parse_files([("accelerateur-decarbonation.yaml", _REAL_BYTES[:cut])])
    assert result.items_seen == 1
    if result.records:  # a cut file is still a programme, its text cut where the file was
        assert "Accélérateur décarbonation".startswith(result.records[0].titre)
        assert result.records[0].native_id == "accelerateur-decarbonation"
    else:
        assert result.rejections[0].location.startswith("fichier accelerateur-decarbonation.yaml")


_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.dates()
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "promesse",
        "description",
        "opérateur de contact",
        "autres opérateurs",
        "nature de l'aide",
        "conditions d'éligibilité",
        "début de validité",
        "fin de validité",
        "montant du financement",
        "coût de l'accompagnement",
        "url",
        "champs conditionnels",
        "ouvert aux administrations publiques",
    ]
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(titre=_VALUE, fields=st.dictionaries(_KEYS, _VALUE, max_size=8), geo=_VALUE)
def test_wrong_types_never_raise(titre, fields, geo) -> None:
    """A valid programme structure whose values have arbitrary types."""
    data = {"titre": titre, **fields}
    if isinstance(data.get("conditions d'éligibilité"), dict):
        data["conditions d'éligibilité"]["secteur géographique"] = geo
    content = yaml.safe_dump(data, allow_unicode=True).encode()
    result = _parse_files([("genere.yaml", content)])
    assert result.items_seen == 1
    if result.records:
        row = result.records[0].to_row()
        json.dumps(row)
        assert all(isinstance(value, str) for value in row["montants"] + row["porteurs"] + row["types_aides"])
    elif isinstance(titre, (str, int, float, bool, dt.date)) and str(titre).strip():
        pytest.fail(f"rejet inattendu : {result.rejections}")


def test_self_referencing_yaml_is_rejected_not_raised() -> None:
    result = _parse_files([("ancre.yaml", b"titre: Boucle\ndescription: &a [*a]\n")])
    assert result.items_seen == 1
    assert result.rejections and result.rejections[0].location == "fichier ancre.yaml"
    assert dt.date(2024, 1, 1).isoformat() == adapter.jsonable(dt.date(2024, 1, 1))


def test_real_company_size_conditions_become_the_headcount_fields(real) -> None:
    """Every programme states its company size, sector and age as conditions, and the sizes the
    programmes write are read as headcounts (vocab/conditions.csv)."""
    import polars as pl

    from warehouse.normalise.conditions import eligibility_fields, map_conditions

    _, result, _ = real
    assert all(any(c.startswith("taille de l'entreprise : ") for c in r.conditions) for r in result.records)
    records = pl.DataFrame(
        {
            "record_key": [r.native_id for r in result.records],
            "source": [SPEC.name] * len(result.records),
            "conditions": [r.conditions for r in result.records],
        }
    )
    mapped, unmapped = map_conditions(records)
    fields = {row["record_key"]: row for row in eligibility_fields(mapped).to_dicts()}
    sizes = [c for r in result.records for c in r.conditions if c.startswith("taille de l'entreprise : ")]
    read = sizes.count("taille de l'entreprise : Moins de 250 salariés")
    assert read == 33 and sum(1 for f in fields.values() if f["effectif_max"] == 249) == 33
    assert sum(1 for f in fields.values() if f["effectif_min"] == 20) >= 4  # « Entre 20 et 250 / 500 salariés »
    left = set(unmapped.filter(pl.col("valeur").str.starts_with("taille"))["valeur"])
    # what the table leaves (listed, not lost): micro-enterprise eligibility and class names
    assert left <= {
        "taille de l'entreprise : Non éligible aux micro-entreprises",
        "taille de l'entreprise : PME",
        "taille de l'entreprise : PME avec un CA supérieur à 5M€.",
        "taille de l'entreprise : TPE et PME",
        "taille de l'entreprise : TPE, PME, entrepreneurs salariés",
    }
