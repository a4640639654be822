"""The configurable `csv` adapter: an aggregator's export with its own columns, declared by one
configuration entry (no Python), and the validation of configuration keys at load time."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect_test_helpers import context
from paths import FIXTURES

from sources.base import CollectContext, adapter_module
from sources.fetch.transport import ReplayTransport
from sources.ingest import IngestStatus, ingest
from sources.record import GeoMention
from sources.registry import SourceConfigError, get_spec, load_specs

EXPORT = "https://aides.agregateur.example/export/"

# What a data team writes to add such an export: one entry, in a deployment's own folder.
DECLARATION = """
[[source]]
name = "agregateur-test"
adapter = "csv"
level = "multi"
publisher = "Agrégateur (test)"
licence = "Licence Ouverte v2.0 (Etalab)"
homepage = "https://aides.agregateur.example/"
transport = "http"
schedule = "0 4 * * *"

[source.config]
url = "https://aides.agregateur.example/export/aides.csv"
split = ";"
geo_from_financeurs = true

[source.config.fields]
native_id = "Lien"
titre = "Nom"
url_source = "Lien"
financeurs = "Financeurs"
cibles = "Bénéficiaire"
types_aides = "Types d'aides"
recurrence = "Récurrence"
description = "Descriptif"
date_cloture = "Date Clôture"

[source.config.dates]
date_cloture = "%d/%m/%Y"

[source.config.values.cibles]
"Collectivités" = "collectivites"
"Bailleurs sociaux" = ["bailleurs-sociaux"]
"""


@pytest.fixture
def declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "declarations"
    folder.mkdir()
    (folder / "agregateur.toml").write_text(DECLARATION, encoding="utf-8")
    monkeypatch.setenv("AIDES_SOURCES_DIR", str(folder))
    return folder


def _context(tmp_path: Path) -> CollectContext:
    return context(tmp_path, ReplayTransport.from_folder(FIXTURES / "agregateur-csv"))


def test_an_aggregator_export_is_ingested_from_one_configuration_entry(declared: Path, tmp_path: Path) -> None:
    spec = get_spec("agregateur-test")
    outcome = ingest(spec, _context(tmp_path), None)
    assert outcome.status == IngestStatus.PARSED
    result = outcome.result
    assert result is not None
    assert result.items_seen == 7  # records in = parsed + rejected
    by_title = {record.titre: record for record in result.records}
    assert len(by_title) == 6
    gers = by_title["Diagnostic énergétique des bâtiments communaux"]
    assert gers.native_id == "https://aides.agregateur.example/aides/diagnostic-energie"
    assert gers.financeurs == ["Conseil départemental du Gers", "CAUE du Gers"]  # a list, split on ';'
    assert gers.geo_inclusions == [  # no geography column: the financers' names, for the referential
        GeoMention("organisme", nom="Conseil départemental du Gers"),
        GeoMention("organisme", nom="CAUE du Gers"),
    ]
    assert gers.cibles == ["collectivites"] and gers.types_aides == ["Ingénierie"]
    assert gers.recurrence == "Permanente" and gers.date_cloture is None
    velo = by_title["Plan vélo - aménagements cyclables"]
    assert velo.description == "Appel à projets pour les aménagements cyclables.\nDépôt des dossiers en ligne."
    assert velo.date_cloture == "2026-06-30"  # read with the declared format
    assert velo.cibles == ["collectivites", "Entreprises"]  # a label the table does not know stays as stated
    assert by_title["Rénovation énergétique des logements sociaux"].cibles == ["bailleurs-sociaux"]
    # a date that does not match its format is kept as stated, for normalisation to report
    assert by_title["Aide aux bornes de recharge"].date_cloture == "15/13/2026"
    (rejection,) = result.rejections
    assert rejection.location == EXPORT + "aides.csv, ligne 8"  # the multi-line cell above counts its two lines
    assert "titre absent ou vide (champ Nom)" in rejection.reason


def test_a_file_with_a_wrong_header_rejects_every_row_and_fails_the_source(declared: Path, tmp_path: Path) -> None:
    spec = get_spec("agregateur-test")
    renamed = type(spec)(**{**spec.__dict__, "config": {**spec.config, "url": EXPORT + "entete-renomme.csv"}})
    outcome = ingest(renamed, _context(tmp_path), None)
    assert outcome.status == IngestStatus.FAILED  # the availability check reads this status: red
    assert outcome.result is not None and outcome.result.records == []
    rows = 7
    assert len(outcome.result.rejections) == rows  # N rejections for N rows
    assert {r.location for r in outcome.result.rejections} == {
        f"{EXPORT}entete-renomme.csv, ligne {n}" for n in (2, 3, 4, 6, 7, 8, 9)
    }
    assert all(
        "colonnes absentes de l'en-tête" in r.reason and "Financeurs" in r.reason for r in outcome.result.rejections
    )
    assert outcome.error is not None and "7 éléments rejetés" in outcome.error


def test_parse_never_raises_on_an_empty_or_binary_file(declared: Path) -> None:
    from sources.base import Payload

    spec = get_spec("agregateur-test")
    module = adapter_module(spec)
    for content in (b"", b"\x00\x01\x02PK"):
        result = module.parse(spec, Payload.build([(EXPORT + "x.csv", content, "text/csv")]))
        assert result.records == [] and len(result.rejections) == 1 and result.unreadable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('split = ";"', 'separateur = ";"'), "clé inconnue : separateur"),
        (('titre = "Nom"', 'tittre = "Nom"'), "champs inconnus de l'enregistrement : tittre"),
        (('native_id = "Lien"\n', ""), "champs obligatoires non configurés : native_id"),
        (('date_cloture = "%d/%m/%Y"', 'recurrence = "%d/%m/%Y"'), "pas des dates : recurrence"),
        (('url = "https://aides.agregateur.example/export/aides.csv"\n', ""), "clé obligatoire absente : url"),
        (("geo_from_financeurs = true", 'geo_from_financeurs = "oui"'), "geo_from_financeurs"),
    ],
)
def test_unknown_or_wrong_configuration_keys_are_errors_at_load_time(
    declared: Path, change: tuple[str, str], message: str
) -> None:
    path = declared / "agregateur.toml"
    path.write_text(DECLARATION.replace(*change), encoding="utf-8")
    with pytest.raises(SourceConfigError) as error:
        load_specs()
    assert "agregateur.toml, source n° 1 (agregateur-test) : configuration invalide" in str(error.value)
    assert message in str(error.value)


def test_every_repository_declaration_is_valid_for_its_adapter() -> None:
    specs = load_specs()  # raises on any unknown key
    assert {spec.adapter for spec in specs} >= {"opendatasoft", "html_scraper", "dispositif_aide_csv", "aides_velo"}


def test_a_replay_folder_needs_only_the_fixtures_of_the_sources_it_replays(tmp_path: Path) -> None:
    """Point 7: a source without fixtures in the replay folder keeps its state, or is unavailable
    (saying why) when it never had one; it is never sent to the network."""
    import shutil

    from sources.registry import get_spec as spec_of

    partial = tmp_path / "replay"
    shutil.copytree(FIXTURES / "region-occitanie", partial / "region-occitanie")
    occitanie, gironde = spec_of("region-occitanie"), spec_of("departement-gironde")
    full = context(tmp_path, replay_root=FIXTURES)
    first = ingest(gironde, full, None)
    assert first.status == IngestStatus.PARSED
    only_occitanie = context(tmp_path, replay_root=partial)  # same snapshot store
    assert ingest(occitanie, only_occitanie, None).status == IngestStatus.PARSED
    kept = ingest(gironde, only_occitanie, first.digest)
    assert kept.status == IngestStatus.UNCHANGED and kept.digest == first.digest and not kept.stale
    assert "non rejouée" in (kept.error or "")
    never = ingest(spec_of("departement-drome"), only_occitanie, None)
    assert never.status == IngestStatus.UNAVAILABLE and "pas de departement-drome/index.json" in never.error
