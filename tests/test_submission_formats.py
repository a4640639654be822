"""Issue 16, point 1: submitted files are read as French offices write them, every interpretation is
stated, what stays ambiguous is an error, and every error is counted.

On the hand-made referential of tests/test_submissions.py (Paris, Lyon…).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import Workbook
from test_submissions import only, rows_csv, valid_row
from warehouse_test_helpers import load_minimal_referential

from warehouse.db import connect_reader
from warehouse.normalise.geography import GeoResolver
from warehouse.settings import WarehousePaths
from warehouse.submissions.checks import AVERTISSEMENT, ERREUR, submission_columns, validate_submission
from warehouse.submissions.interpret import read_choice, read_datetime, read_number


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> GeoResolver:
    paths = WarehousePaths(tmp_path_factory.mktemp("formats-warehouse"))
    load_minimal_referential(paths)
    with connect_reader(paths) as conn:
        return GeoResolver.from_warehouse(conn)


def excel_csv(rows: list[dict[str, str]], encoding: str = "cp1252") -> bytes:
    """What « Enregistrer sous > CSV (séparateur : point-virgule) » gives in a French Excel."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, submission_columns(), delimiter=";", lineterminator="\r\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def office_row(**changes: str) -> dict[str, str]:
    """A row as an agent types it: French dates and amounts, labels rather than codes."""
    office = {
        "action": "Ajout",
        "date_ouverture": "01/01/2026",
        "date_cloture": "31/12/2026",
        "date_mise_a_jour": "15/10/2025",
        "montant_max": "1 500 €",
        "taux_max": "33,5 %",
        "cibles": "Particuliers, Associations",
        "thematiques": "Déchets",
        "echelle": "Commune",
    }
    return valid_row(**{**office, **changes})


def test_an_excel_file_with_semicolons_windows_1252_and_french_values_is_accepted_with_its_warnings(resolver):
    report = validate_submission(excel_csv([office_row(titre="Aide à l'achat d'un vélo")]), "aides.csv", resolver)
    assert report.valid, report.errors
    warnings = {(p.colonne, p.valeur): p.message for p in report.warnings}
    assert warnings[("date_cloture", "31/12/2026")] == (
        "lu 31/12/2026 comme 2026-12-31 (écrit 2026-12-31T00:00:00+01:00 : minuit, heure de Paris)."
    )
    assert warnings[("montant_max", "1 500 €")] == "lu 1 500 € comme 1500."
    assert warnings[("taux_max", "33,5 %")] == "lu 33,5 % comme 33.5."
    assert warnings[("cibles", "Particuliers, Associations")] == (
        "lu « Particuliers, Associations » comme « particuliers|associations »."
    )
    assert warnings[("thematiques", "Déchets")] == "lu « Déchets » comme « dechet »."
    assert warnings[("action", "Ajout")] == "lu « Ajout » comme « ajout »."
    assert "Windows-1252" in only(report, nature="encodage").message
    assert "points-virgules" in only(report, nature="delimiteur").message
    assert all(p.gravite == AVERTISSEMENT for p in report.problems)
    # What the store keeps: the documented format, values as read.
    stored = list(csv.DictReader(io.StringIO(report.canonical.decode("utf-8"))))
    assert stored[0]["titre"] == "Aide à l'achat d'un vélo" and stored[0]["action"] == "ajout"
    assert stored[0]["date_cloture"] == "2026-12-31T00:00:00+01:00" and stored[0]["montant_max"] == "1500"
    assert stored[0]["cibles"] == "particuliers|associations" and stored[0]["taux_max"] == "33.5"
    assert validate_submission(report.canonical, "relu.csv", resolver).problems == []


def test_an_xlsx_workbook_is_read_like_its_csv(resolver):
    book = Workbook()
    sheet = book.active
    sheet.title = "Aides 2026"
    columns = submission_columns()
    sheet.append(columns)
    row = office_row(date_cloture="")
    values = [row.get(c, "") or None for c in columns]
    values[columns.index("date_cloture")] = datetime(2026, 12, 31)  # a real Excel date
    values[columns.index("montant_max")] = 1500.0  # a number cell
    sheet.append(values)
    buffer = io.BytesIO()
    book.save(buffer)
    report = validate_submission(buffer.getvalue(), "aides.xlsx", resolver)
    assert report.valid, report.errors
    assert "« Aides 2026 »" in only(report, nature="classeur").message
    assert only(report, colonne="date_cloture").message.startswith("lu 2026-12-31 comme 2026-12-31T00:00:00+01:00")
    assert not [p for p in report.problems if p.colonne == "montant_max"]  # 1500.0 is written 1500
    stored = next(csv.DictReader(io.StringIO(report.canonical.decode("utf-8"))))
    assert stored["montant_max"] == "1500" and stored["date_cloture"] == "2026-12-31T00:00:00+01:00"


def test_ambiguous_values_are_errors_that_say_what_to_write(resolver):
    rows = [
        office_row(montant_max="1,500"),
        office_row(titre="B", date_cloture="31/12/26"),
        office_row(titre="C", date_cloture="12/31/2026"),
        office_row(titre="D", thematiques="dechat"),
        office_row(titre="E", montant_max="30 %"),
        office_row(titre="F", echelle="Métropole|Région"),
    ]
    report = validate_submission(excel_csv(rows), "aides.csv", resolver)
    # each row spans two lines (a multi-line eligibilite cell): rows start at lines 2, 4, 6…
    errors = {((p.ligne - 2) // 2 + 2, p.colonne): p.message for p in report.errors}
    assert errors[(2, "montant_max")] == (
        "nombre ambigu (1,500) : « , » suivi de trois chiffres peut séparer les milliers ou les décimales ; "
        "écrivez 1500 ou 1.5."
    )
    assert "écrivez l'année en entier, par exemple 31/12/2026" in errors[(3, "date_cloture")]
    assert "31/12/2026 pour le 31 du mois 12" in errors[(4, "date_cloture")]
    assert "vouliez-vous dire « dechet » ?" in errors[(5, "thematiques")]
    assert "un taux (%) va dans la colonne taux_max" in errors[(6, "montant_max")]
    assert "^(" not in " ".join(errors.values())  # no regular expression, ever
    assert len(report.errors) == 6 and not report.valid and report.canonical is None


def test_a_5000_row_file_with_5_errors_per_row_reports_25000_errors(resolver):
    row = valid_row(
        titre="",  # required
        date_cloture="32/13/2026",  # impossible
        montant_max="beaucoup",  # not a number
        cibles="tout le monde",  # not a value
        url_source="pas une adresse",  # not a link
    )
    rows = [{**row, "description": f"Aide n° {i}"} for i in range(5000)]
    report = validate_submission(rows_csv(rows), "aides.csv", resolver)
    assert len(report.errors) == 25_000 and report.rows == 5000
    assert {p.colonne for p in report.errors} == {"titre", "date_cloture", "montant_max", "cibles", "url_source"}
    assert len({p.ligne for p in report.errors}) == 5000


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("31/12/2026", "2026-12-31T00:00:00+01:00"),
        ("1.7.2026", "2026-07-01T00:00:00+02:00"),
        ("2026-07-01", "2026-07-01T00:00:00+02:00"),
        ("1er juillet 2026", "2026-07-01T00:00:00+02:00"),
        ("31/12/2026 18h30", "2026-12-31T18:30:00+01:00"),
    ],
)
def test_dates_as_written_in_france(written, read):
    assert read_datetime(written).value == read


@pytest.mark.parametrize(
    ("written", "unit", "read"),
    [
        ("1 500 €", "€", "1500"),
        ("1\u202f500,50\u00a0€", "€", "1500.50"),
        ("1.500,5", "€", "1500.5"),
        ("40 %", "%", "40"),
    ],
)
def test_amounts_as_written_in_france(written, unit, read):
    assert read_number(written, False, unit).value == read


@pytest.mark.parametrize(
    ("field", "written", "read"),
    [
        ("cibles", "EPCI", "secteur public"),
        ("cibles", "PARTICULIERS", "particuliers"),
        ("echelle", "EPCI", "epci"),
        ("echelle", "Département", "departement"),
        ("thematiques", "déchets|Mobilité", "dechet|transport"),
        ("recurrence", "Récurrent", "récurrente"),
        ("situations", "etudiant", "étudiant"),
    ],
)
def test_labels_any_case_with_or_without_accents(field, written, read):
    assert read_choice(field, written).value == read


def test_a_known_label_without_a_schema_value_is_an_error():
    reading = read_choice("thematiques", "Culture")
    assert reading.value is None and "ne correspond à aucune valeur de thematiques" in reading.message


def test_warnings_never_make_a_file_invalid_and_errors_are_errors(resolver):
    report = validate_submission(excel_csv([office_row()]), "aides.csv", resolver)
    assert report.valid and report.errors == [] and report.warnings
    bad = validate_submission(excel_csv([office_row(montant_max="1,500")]), "aides.csv", resolver)
    assert [p.gravite for p in bad.problems if p.colonne == "montant_max"] == [ERREUR]
