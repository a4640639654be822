"""The generic dispositif-aide CSV adapter, on Mission Transition Écologique's real export and on
small fixtures reproducing other producers' variants (delimiter, encoding, BOM) and defects."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from collect_test_helpers import context as _context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES as FIXTURES_ROOT
from paths import MTE, OFFICIAL_SCHEMA, OFFICIAL_SCHEMA_DIR

from sources.adapters import dispositif_aide_csv as adapter
from sources.base import Payload, SourceSpec
from sources.csv_table import read_table
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

MTE_CSV = MTE / "data_gouv_export.csv"
FIXTURES = FIXTURES_ROOT / "mission-transition-ecologique-csv"
FIXTURE_URL = "https://producteur.example/dispositifs/"

SPEC = get_spec("mission-transition-ecologique-csv")
COLUMNS = [field["name"] for field in json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))["fields"]]


def _spec(**config: str) -> SourceSpec:
    return dataclasses.replace(SPEC, config=config)


def _parse_bytes(content: bytes, name: str = "fichier.csv", **config: str):
    return adapter.parse(_spec(url=name, **config), Payload.build([(name, content, "text/csv")]))


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    """The real export, collected through the declared URL and replayed from ../shared."""
    tmp_path = tmp_path_factory.mktemp("mte-csv")
    transport = ReplayTransport.from_files({SPEC.config["url"]: MTE_CSV})
    payload = adapter.collect(SPEC, _context(tmp_path, transport))
    assert transport.requested[-1] == SPEC.config["url"]
    return payload, adapter.parse(SPEC, payload)


def _by_id(result, native_id: str):
    return next(record for record in result.records if record.native_id == native_id)


# -- the real export ---------------------------------------------------------------------------
def test_real_export_gives_its_190_aids(real) -> None:
    payload, result = real
    assert [doc.name for doc, _ in payload.documents] == [SPEC.config["url"]]
    assert payload.documents[0][1] == MTE_CSV.read_bytes()
    assert len(result.records) == 190
    assert result.rejections == []
    assert len({record.native_id for record in result.records}) == 190
    assert {record.source for record in result.records} == {"mission-transition-ecologique-csv"}


def test_real_first_row_transcribed_as_stated(real) -> None:
    _, result = real
    record = result.records[0]
    assert record.native_id == "e08d1f36-3fae-4ced-8236-c262752bccd5"
    assert record.titre == "Accélérateur décarbonation"
    assert record.promesse == "Définissez une stratégie bas carbone"
    assert record.description.startswith("Profitez d’un accompagnement pour structurer une trajectoire")
    assert "29 000 € HT" in record.description
    assert record.eligibilite.startswith("Eligibilité Sectorielle : Tous secteurs d’activité")
    assert record.types_aides == ["étude"]
    assert record.porteurs == ["BPIFRANCE"]
    assert record.financeurs == []
    assert record.cibles == ["professionnels"]
    assert record.programmes_parents == []
    assert record.geo_inclusions == [GeoMention("pays", code="99100")]
    assert record.geo_exclusions == []
    assert record.url_source == (
        "https://mission-transition-ecologique.beta.gouv.fr/aides-entreprise/accelerateur-decarbonation"
        "?utm_campaign=openData"
    )
    # Dates as stated: Paris midnight of 2 June 2023, shifted to UTC by the producer.
    assert record.date_ouverture == "2023-06-01T22:00:00.000Z"
    assert record.date_cloture is None
    assert record.date_mise_a_jour == "2025-10-06T13:54:53.599Z"
    assert record.raw["porteurs"] == '[{"nom":"BPIFRANCE","siren":"483790069","roles":["instructeur","diffuseur"]}]'
    assert list(record.raw) == COLUMNS


def test_real_long_description_kept_whole(real) -> None:
    """Row 149 (the 148th aid) exceeds the schema's 5,000 characters: transcribed, not truncated."""
    _, result = real
    record = result.records[147]
    assert record.native_id == "9e8c4219-0789-4082-a4df-ad52a58dabdd"
    assert record.titre == "Prêt transition écologique Île-de-France"
    assert len(record.description) == 5182
    assert record.description == record.raw["description"]


def test_real_porteurs_without_siren(real) -> None:
    _, result = real
    assert _by_id(result, "480f5e54-73d3-49e3-9c66-de437a945466").porteurs == [
        "BREIZH FAB",
        "AGENCE DE L ENVIRONNEMENT ET DE LA MAITRISE DE L ENERGIE (ADEME)",
        "CHAMBRE DE COMMERCE ET D'INDUSTRIE DE REGION BRETAGNE (CCIR)",
        "CENTRE TECHNIQUE DES INDUSTRIES MECANIQUES ET DU DECOLLETAGE (CETIM-CTDEC)",
        "REGION BRETAGNE",
        "UNION DES INDUSTRIES ET DES METIERS DE LA METALLURGIE (UIMM)",
    ]
    assert _by_id(result, "3829e70f-07d1-4730-a2bd-f8017f4d820e").porteurs == ["BPIFRANCE", "INVESTEU"]
    # The export gives roles instructeur / diffuseur only: nobody is stated as financeur.
    assert all(record.financeurs == [] for record in result.records)
    assert sum("DIRECTION DEPARTEMENTALE FINANCES PUBLIQUES" in r.porteurs for r in result.records) >= 2


def test_real_dates_kept_as_stated_utc_strings(real) -> None:
    _, result = real
    openings = [r.date_ouverture for r in result.records if r.date_ouverture]
    assert len(openings) == 73
    assert sum(d.endswith("T23:00:00.000Z") for d in openings) == 69
    assert sum(d.endswith("T22:00:00.000Z") for d in openings) == 4
    assert sum(1 for r in result.records if r.date_cloture) == 12
    assert all(r.date_mise_a_jour.startswith("2025-10-06T13:54:53.") for r in result.records)


def test_real_geography_codes(real) -> None:
    _, result = real
    assert _by_id(result, "456b943f-da01-475b-a550-617524956bd1").geo_inclusions == [
        GeoMention("departement", code="77"),
        GeoMention("departement", code="39"),
    ]
    ecoconception = _by_id(result, "cc563ef1-c955-43ac-a890-75055b60b734").geo_inclusions
    # COM-987 / COM-988 are Polynésie française and Nouvelle-Calédonie, written with the COM prefix.
    assert ecoconception[:4] == [
        GeoMention("region", code="93"),
        GeoMention("commune", code="987"),
        GeoMention("region", code="52"),
        GeoMention("commune", code="988"),
    ]
    assert len(ecoconception) == 19
    tourisme = _by_id(result, "79028c3d-813e-4314-8662-8dc895eba99e").geo_inclusions
    assert tourisme[-1] == GeoMention("departement", code="978")
    national = [r for r in result.records if r.geo_inclusions == [GeoMention("pays", code="99100")]]
    assert len(national) == 109


def test_schema_example_file_and_pseudo_json_porteurs() -> None:
    """The schema's own example: ',' CSV, multi-line eligibility, pseudo-JSON porteurs."""
    result = _parse_bytes((OFFICIAL_SCHEMA_DIR / "exemple.csv").read_bytes(), "exemple.csv")
    assert result.rejections == []
    (record,) = result.records
    assert record.native_id == "65d5b6c7-102c-4440-ac3b-768f708edc0a"
    assert record.porteurs == ["ADEME", "BPIFRANCE (BPIFRANCE)"]
    assert record.financeurs == ["BPIFRANCE (BPIFRANCE)"]
    assert record.programmes_parents == ["Fonds Chaleur", "Fonds vert 2024"]
    assert record.cibles == ["professionnels", "associations"]
    assert record.types_aides == ["information", "financement"]
    assert record.geo_exclusions == [
        GeoMention("region", code="84"),
        GeoMention("departement", code="01"),
        GeoMention("commune", code="83141"),
    ]
    assert record.date_ouverture == "2025-10-15T15:00:00Z"


# -- fixtures: producer variants ---------------------------------------------------------------
def _collect_fixture(tmp_path: Path, name: str, **config: str):
    spec = _spec(url=FIXTURE_URL + name, **config)
    payload = adapter.collect(spec, _context(tmp_path, ReplayTransport.from_folder(FIXTURES)))
    assert payload.documents[0][0].name == FIXTURE_URL + name
    return adapter.parse(spec, payload)


def test_semicolon_bom_crlf_multiline_and_extra_column(tmp_path: Path) -> None:
    result = _collect_fixture(tmp_path, "semicolon-bom.csv")
    assert result.rejections == []
    corse, idf = result.records
    assert corse.native_id == "aide-corse-01"  # the BOM is not part of the first column's name
    assert corse.description == 'Première ligne.\r\nDeuxième ligne avec ; point-virgule et "guillemets".'
    assert corse.porteurs == ["Collectivité de Corse", "ADEME"]
    assert corse.financeurs == ["Collectivité de Corse"]
    assert corse.geo_inclusions == [
        GeoMention("departement", code="2A"),
        GeoMention("departement", code="2B"),
        GeoMention("epci", code="200076958"),
    ]
    assert corse.geo_exclusions == [GeoMention("commune", code="2A004")]
    assert corse.raw["commentaire_interne"] == "à relire"
    assert corse.date_ouverture == "2024-01-15"
    assert idf.porteurs == idf.financeurs == ["Région Île-de-France"]
    assert idf.geo_inclusions == [
        GeoMention("region", code="11"),
        GeoMention(None, code="ZONE-7"),
        GeoMention(None, nom="Quartiers prioritaires"),
    ]
    assert idf.promesse is None and idf.url_source is None and idf.date_ouverture is None


def test_cp1252_file_decoded_without_loss(tmp_path: Path) -> None:
    result = _collect_fixture(tmp_path, "cp1252.csv")
    assert result.rejections == []
    assert [r.titre for r in result.records] == ["Prime à l'éco-conception", "Diagnostic « déchets »"]
    assert result.records[0].description == "Aide de la Région Hauts-de-France – 50 % des dépenses"
    assert result.records[1].description == "Coût : 1 500 € HT"
    configured = _parse_bytes((FIXTURES / "cp1252.csv").read_bytes(), encoding="cp1252", delimiter=";")
    assert [r.to_row() for r in configured.records] == [r.to_row() for r in result.records]


def test_utf8_with_a_stray_cp1252_byte_keeps_its_utf8_text() -> None:
    header = ",".join(COLUMNS)
    row = ",".join(["s-1", "Aide à l’éco"] + [""] * (len(COLUMNS) - 2))
    content = f"{header}\n{row}\n".encode().replace("’".encode(), b"\x92")  # one cp1252 apostrophe
    (record,) = _parse_bytes(content).records
    assert record.titre == "Aide à l’éco"
    assert read_table("t.csv", content).encoding == "utf-8+cp1252"


def test_missing_required_column_rejects_every_row_and_marks_the_document_unreadable(tmp_path: Path) -> None:
    result = _collect_fixture(tmp_path, "missing-column.csv")
    assert result.records == []
    (rejection,) = result.rejections  # the file holds one row: one aid lost, counted
    assert rejection.location == FIXTURE_URL + "missing-column.csv, ligne 2"
    reason = "colonnes obligatoires du schéma dispositif-aide absentes : cibles, eligibilite_geographique"
    assert rejection.reason == reason
    assert result.unreadable == [f"{FIXTURE_URL}missing-column.csv, ligne 1 : {reason}"]


def test_a_wrong_header_without_rows_is_one_rejection_of_the_document() -> None:
    result = _parse_bytes(b"Nom,Lien\n")
    assert [(r.location.rsplit(", ", 1)[-1], r.reason.split(" : ")[0]) for r in result.rejections] == [
        ("ligne 1", "colonnes obligatoires du schéma dispositif-aide absentes")
    ]
    assert len(result.unreadable) == 1


def test_broken_quoting_loses_no_neighbour(tmp_path: Path) -> None:
    result = _collect_fixture(tmp_path, "broken-quoting.csv")
    assert [r.native_id for r in result.records] == ["b-01", "b-02", "b-04", "b-09"]
    assert result.records[1].description == "Ligne A\nLigne B"
    where = FIXTURE_URL + "broken-quoting.csv, ligne "
    assert [(r.location, r.reason) for r in result.rejections] == [
        (where + "5", "guillemets mal fermés (18 cellules au lieu de 15)"),
        (where + "7", "16 cellules au lieu de 15"),
        (where + "8", "identifiant (id) vide"),
        (where + "9", "titre vide (id 'b-07')"),
        (where + "10", "identifiant 'b-01' déjà utilisé ligne 2"),
    ]
    assert result.rejections[0].excerpt.startswith("b-03,Aide au guillemet non fermé")
    # 9 non-blank rows (lines 2, 3-4, 5, 6, 7, 8, 9, 10, 12)
    assert result.items_seen == 9


@pytest.mark.parametrize(
    ("old", "new", "location", "reason"),
    [
        # a stray quote inside a quoted description: the cell's tail is left as orphan lines
        (
            "Pendant 24 mois, vous",
            'Pendant "24 mois, vous',
            "ligne 2",
            "guillemets mal fermés (5 cellules au lieu de 15, lignes 2 à 32)",
        ),
        # a closing quote lost at the end of a row: the row swallows the next one
        (
            '"2025-10-06T13:54:53.599Z"\n"7c786cd9',
            '"2025-10-06T13:54:53.599Z\n"7c786cd9',
            "ligne 2",
            "guillemets mal fermés (29 cellules au lieu de 15, lignes 2 à 32)",
        ),
    ],
)
def test_corrupted_real_export_loses_only_the_broken_row(old: str, new: str, location: str, reason: str) -> None:
    text = MTE_CSV.read_text(encoding="utf-8")
    assert text.count(old) == 1
    result = _parse_bytes(text.replace(old, new).encode())
    assert len(result.records) == 189
    assert "e08d1f36-3fae-4ced-8236-c262752bccd5" not in {r.native_id for r in result.records}
    assert [(r.location, r.reason) for r in result.rejections] == [(f"fichier.csv, {location}", reason)]


def test_unreadable_documents_are_one_rejection_each() -> None:
    assert [r.reason for r in _parse_bytes(b"").rejections] == ["document vide"]
    assert [r.reason for r in _parse_bytes(b"  \r\n\n").rejections] == ["document vide"]
    garbage = _parse_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    # not the declared shape: what stands below the « header » is counted line by line, all rejected
    assert garbage.records == [] and len(garbage.unreadable) == 1 and garbage.rejections
    assert all(
        r.reason.startswith("colonnes obligatoires du schéma dispositif-aide absentes : id, ")
        for r in garbage.rejections
    )


def test_excel_sep_hint_and_header_case() -> None:
    header = ";".join(column.upper() if column == "id" else column for column in COLUMNS)
    row = ";".join(["x-1", "Titre"] + [""] * (len(COLUMNS) - 2))
    result = _parse_bytes(f"sep=;\n{header}\n{row}\n".encode())
    assert [r.native_id for r in result.records] == ["x-1"]
    assert result.records[0].raw["ID"] == "x-1"


def test_porteurs_formats() -> None:
    example = next(f for f in json.loads(OFFICIAL_SCHEMA.read_text())["fields"] if f["name"] == "porteurs")
    assert adapter.read_porteurs(example["example"]) == (["ADEME", "BPIFRANCE (BPIFRANCE)"], ["BPIFRANCE (BPIFRANCE)"])
    assert adapter.read_porteurs("[{ nom: 'Région', roles: 'financeur' }]") == (["Région"], ["Région"])
    assert adapter.read_porteurs("[{ nom: 'ADEME', roles: [ 'financeur' ]}") == (["ADEME"], ["ADEME"])  # truncated
    assert adapter.read_porteurs("[{ nom: ADEME, roles: [financeur] }]") == (["ADEME"], ["ADEME"])  # bare names
    assert adapter.read_porteurs('[{ "nom": "Ville", rôles: ["porteur"] }]') == (["Ville"], [])
    assert adapter.read_porteurs("ADEME|Bpifrance") == (["ADEME", "Bpifrance"], [])
    assert adapter.read_porteurs("") == ([], [])


# -- hypothesis: corrupt payloads never raise, and every item is accounted for ----------------
_REAL_BYTES = MTE_CSV.read_bytes()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(content: bytes) -> None:
    result = _parse_bytes(content)
    assert result.items_seen == len(result.records) + len(result.rejections)
    assert all(r.location.startswith("fichier.csv") for r in result.rejections)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(_REAL_BYTES)))
def test_truncated_real_export(real, cut: int) -> None:
    _, full = real
    result = _parse_bytes(_REAL_BYTES[:cut])
    full_rows = {r.native_id: r for r in full.records}
    assert len(result.records) <= 190
    # Rows before the cut are whole; the row the cut went through is rejected (cut inside a
    # quoted cell, or too few cells) unless the cut fell just before its last cell.
    for record in result.records[:-1]:
        assert record.to_row() == full_rows[record.native_id].to_row()
    assert all(record.native_id in full_rows for record in result.records)
    assert len(result.rejections) <= 1


_CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    rows=st.lists(st.tuples(_CELL, st.lists(_CELL, min_size=14, max_size=14)), max_size=12),
    delimiter=st.sampled_from([",", ";"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
)
def test_generated_rows_all_accounted_for(rows, delimiter: str, quoting: int, bom: bool) -> None:
    """Valid structure, arbitrary (wrongly typed) cell contents: one record or rejection per row."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting)
    writer.writerow(COLUMNS)
    for identifier, cells in rows:
        writer.writerow(["id-" + identifier] + cells)
    content = buffer.getvalue().encode("utf-8")
    result = _parse_bytes(b"\xef\xbb\xbf" + content if bom else content)
    assert result.items_seen == len(rows)
    assert all(r.reason for r in result.rejections)
    for record in result.records:
        json.dumps(record.to_row())
