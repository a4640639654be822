"""Every place that handles the published fields agrees with ``schemas/schema.json``.

The schema declares the fields once; the record, the warehouse tables, the build, the
published projection, the submission format and the aid page follow from it. Each test
names the place that disagrees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from schemas import field_names, published_fields
from sources.record import CATALOGUE_FIELDS, LIST_FIELDS, OTHER_FIELDS, TEXT_FIELDS, AidRecord
from warehouse.db import connect_writer
from warehouse.normalise import vocabulary
from warehouse.normalise.fields import COMPUTED_BY_STAGE, carried_fields
from warehouse.publication.projection import published_frame
from warehouse.published_columns import sql_type
from warehouse.submissions.checks import COMPUTED_FIELDS, submission_columns
from webapp.queries import AID_PAGE_FIELDS

SCHEMA = set(field_names())
TEMPLATE = Path(__file__).resolve().parents[1] / "webapp" / "templates" / "aide.html"


def test_every_published_field_is_computed_by_a_stage_or_carried():
    unknown = set(COMPUTED_BY_STAGE) - SCHEMA
    assert not unknown, (
        f"warehouse/normalise/fields.py : COMPUTED_BY_STAGE nomme des champs absents du schéma : {unknown}"
    )
    carried = {f.name for f in carried_fields()}
    assert carried | set(COMPUTED_BY_STAGE) == SCHEMA and not carried & set(COMPUTED_BY_STAGE)
    assert carried == {
        "titre",
        "promesse",
        "description",
        "eligibilite",
        "programmes_parents",
        "url_source",
        "url_demarche",
    }


def test_the_record_states_every_carried_field_under_its_schema_name():
    attributes = {f.name for f in dataclasses.fields(AidRecord)}
    for field in carried_fields():
        assert field.name in attributes or field.name in OTHER_FIELDS, f"sources/record.py : {field.name} sans place"
        kind = LIST_FIELDS if field.multi_valued else TEXT_FIELDS
        assert field.name in kind, f"sources/record.py : {field.name} n'a pas la forme que le schéma lui donne"
    assert set(CATALOGUE_FIELDS) <= set(COMPUTED_BY_STAGE), "sources/record.py : CATALOGUE_FIELDS hors des étapes"
    legacy = {"url_information", "publics", "types_aide", "programmes"} & attributes
    assert not legacy, f"sources/record.py : noms d'avant le schéma {legacy}"
    # the stated vocabularies are named as the schema's fields they map to
    assert set(vocabulary.FIELDS) <= SCHEMA and set(vocabulary.FIELDS) <= attributes


def test_other_published_fields_are_checked_by_name_and_shape():
    with pytest.raises(ValueError, match="champ 'champ_inexistant' inconnu"):
        AidRecord("s", "1", "Titre", other_fields={"champ_inexistant": "x"})
    with pytest.raises(ValueError, match="champ 'statut' inconnu"):
        AidRecord("s", "1", "Titre", other_fields={"statut": "ouverte"})


def test_a_field_the_schema_gains_is_held_by_the_record_in_its_shape(monkeypatch):
    """As sources/record.py derives them when the schema has an optional ``contact`` (text) and
    ``mots_cles`` (multi-valued) field with no attribute."""
    from sources import record

    monkeypatch.setattr(record, "OTHER_FIELDS", ("contact", "mots_cles"))
    monkeypatch.setattr(record, "TEXT_FIELDS", (*TEXT_FIELDS, "contact"))
    monkeypatch.setattr(record, "LIST_FIELDS", (*LIST_FIELDS, "mots_cles"))
    aid = AidRecord.from_values("s", "1", "Titre", contact="mairie@example.fr", mots_cles=["vélo"], description="d")
    assert aid.other_fields == {"contact": "mairie@example.fr", "mots_cles": ["vélo"]} and aid.description == "d"
    assert (
        AidRecord("s", "2", "Titre").value("mots_cles") == [] and AidRecord("s", "2", "Titre").value("contact") is None
    )
    row = aid.to_row()
    assert row["contact"] == "mairie@example.fr" and row["mots_cles"] == ["vélo"] and "other_fields" not in row
    with pytest.raises(ValueError, match="'mots_cles' : liste de textes attendue"):
        AidRecord("s", "1", "Titre", other_fields={"mots_cles": "vélo"})
    with pytest.raises(ValueError, match="'contact' : texte attendu"):
        AidRecord("s", "1", "Titre", other_fields={"contact": ["a"]})


def test_the_warehouse_tables_have_a_column_for_every_field(warehouse):
    with connect_writer(warehouse) as conn:

        def columns(table: str) -> dict[str, str]:
            return dict(
                conn.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?", [table]
                ).fetchall()
            )

        records, aides = columns("source_records"), columns("aides")
        for name in (*TEXT_FIELDS, *LIST_FIELDS):
            assert name in records, f"source_records (warehouse/migrations) : colonne {name} absente"
        for field in published_fields():
            assert field.name in aides, f"aides (warehouse/migrations) : colonne {field.name} absente"
        for field in carried_fields():  # the stages type their own columns (dates as DATE, porteurs as a list…)
            assert aides[field.name] == sql_type(field), (
                f"aides (warehouse/migrations/0004_catalogue.sql) : {field.name} est {aides.get(field.name)}, "
                f"le schéma dit {sql_type(field)}"
            )
        assert published_frame(conn).columns == field_names(), "warehouse/publication/projection.py"


def test_the_submission_format_is_the_schema_without_the_computed_fields():
    assert set(COMPUTED_FIELDS) <= SCHEMA, "warehouse/submissions/checks.py : COMPUTED_FIELDS hors du schéma"
    assert submission_columns() == ["action", *(n for n in field_names() if n not in COMPUTED_FIELDS)]


def test_the_aid_page_shows_every_field_in_its_place_or_under_other_information():
    assert {"titre", "eligibilite", "montant_max", "eligibilite_geographique", "date_collecte"} <= AID_PAGE_FIELDS
    assert "a.autres_champs" in TEMPLATE.read_text(encoding="utf-8")
    # and the page lists any published field the template does not name (webapp/queries.py aid_detail)


def test_the_values_code_writes_or_expects_are_the_schema_s():
    """Enumerations spelled in code (mappings to the schema's values, status groups, badges)
    stay within the schema's vocabularies; each failure names its module."""
    from datetime import date

    import polars as pl

    from schemas import ECHELLES, RECURRENCES, STATUTS
    from warehouse.normalise import catalogue, statut
    from warehouse.publication import lookup
    from warehouse.quality import links
    from webapp.app import STATUT_BADGES

    assert set(statut.RECURRENCES.values()) <= set(RECURRENCES), "warehouse/normalise/statut.py RECURRENCES"
    assert set(catalogue._ECHELLE_OF_NIVEAU.values()) <= set(ECHELLES), "warehouse/normalise/catalogue.py"
    assert set(links.OPEN_STATUTS) <= set(STATUTS), "warehouse/quality/links.py OPEN_STATUTS"
    assert set(lookup.OPEN_STATUSES) <= set(STATUTS), "warehouse/publication/lookup.py OPEN_STATUSES"
    assert set(STATUT_BADGES) == set(STATUTS), "webapp/app.py STATUT_BADGES"
    today = date(2026, 6, 1)
    frame = pl.DataFrame(
        {
            "date_ouverture": [None, date(2027, 1, 1), None, None],
            "date_cloture": [date(2026, 1, 1), None, None, None],
            "recurrence": [None, None, "permanente", None],
        }
    )
    produced = frame.select(statut.statut_expr(today)).to_series().to_list()
    assert sorted(produced) == sorted(STATUTS), "warehouse/normalise/statut.py statut_expr"
