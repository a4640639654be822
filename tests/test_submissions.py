"""The validator of submitted files (warehouse/submissions/checks.py) and ``aides validate``.

Hermetic tests run on the files of ``tests/fixtures/soumissions/`` (described in its README) and
a hand-made referential (``referentiel-minimal.sql``: Paris, Lyon, Villeurbanne, Caen, the
Métropole de Lyon, CU Caen la Mer), loaded into a temporary warehouse; the test marked
``registry`` checks the same files against the real COG referential.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES as FIXTURES_ROOT
from typer.testing import CliRunner
from warehouse_test_helpers import load_minimal_referential, warehouse_with_referential

from aides_cli.collectivites import prefill_command, validate_command
from schemas import published_field
from warehouse.db import connect_reader, connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.settings import WarehousePaths
from warehouse.submissions.checks import (
    AVERTISSEMENT,
    ERREUR,
    Problem,
    SubmissionReport,
    submission_columns,
    territory_code,
    validate_submission,
)
from warehouse.submissions.prefill import catalogue_geography, collectivite_code, prefilled_submission

FIXTURES = FIXTURES_ROOT / "soumissions"
PARIS, LYON_METROPOLE = "217500016", "200046977"
ID_A = "65d5b6c7-102c-4440-ac3b-768f708edc0a"


@pytest.fixture(scope="module")
def mini_warehouse(tmp_path_factory) -> WarehousePaths:
    paths = WarehousePaths(tmp_path_factory.mktemp("soumissions-warehouse"))
    load_minimal_referential(paths)
    return paths


@pytest.fixture(scope="module")
def resolver(mini_warehouse) -> GeoResolver:
    with connect_reader(mini_warehouse) as conn:
        return GeoResolver.from_warehouse(conn)


def check(resolver: GeoResolver, name: str, **kwargs) -> SubmissionReport:
    path = FIXTURES / name
    return validate_submission(path.read_bytes(), path.name, resolver, **kwargs)


def only(report: SubmissionReport, **where) -> Problem:
    """The single problem matching ``where`` (ligne, colonne, nature…)."""
    found = [p for p in report.problems if all(getattr(p, k) == v for k, v in where.items())]
    assert len(found) == 1, (where, report.problems)
    return found[0]


def rows_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    columns = columns or submission_columns()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def valid_row(**changes: str) -> dict[str, str]:
    """The first row of valide.csv (an addition for Paris), with changes."""
    with (FIXTURES / "valide.csv").open(encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle))
    return {**row, **changes}


# --------------------------------------------------------------------------- the format


def test_the_format_is_the_published_schema_minus_computed_fields_plus_action():
    columns = submission_columns()
    assert columns[0] == "action" and columns[1] == "id"
    assert not {"statut", "sources", "date_collecte"} & set(columns)
    assert {"titre", "eligibilite_geographique", "montant_max", "recurrence"} <= set(columns)
    header = (FIXTURES / "valide.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    # valide.csv may predate an optional field of the schema: its columns are the format's, in
    # order, and any it lacks is optional (an optional column may be absent)
    assert [c for c in columns if c in header] == header
    assert all(not published_field(c).required for c in columns if c not in header and c != "action")


def test_a_valid_file_with_all_three_actions_is_valid(resolver):
    report = check(resolver, "valide.csv")
    assert report.valid and report.problems == []
    assert report.rows == 3 and report.actions == {"ajout": 1, "correction": 1, "retrait": 1}
    assert report.as_json()["valide"] is True and report.as_json()["lignes"] == 3
    assert len(report.sha256) == 64 and report.filename == "valide.csv"


def test_a_bom_is_accepted_silently(resolver):
    report = check(resolver, "valide-bom.csv")
    assert report.valid and report.problems == []


def test_semicolons_are_read_and_stated(resolver):
    report = check(resolver, "point-virgule.csv")
    problem = only(report, nature="delimiteur")
    assert problem.gravite == AVERTISSEMENT and "points-virgules « ; »" in problem.message
    assert report.valid, report.errors
    assert report.canonical is not None and report.canonical.startswith(b"action,id,titre,")


def test_windows_1252_is_read_and_stated(resolver):
    report = check(resolver, "windows-1252.csv")
    problem = only(report, nature="encodage")
    assert problem.gravite == AVERTISSEMENT and "Windows-1252" in problem.message
    assert report.valid, report.errors
    assert report.canonical is not None and "vélo".encode() in report.canonical


def test_mixed_encodings_are_an_error_naming_the_first_line(resolver):
    content = rows_csv([valid_row(), valid_row(titre="Aide au vélo cargo")])
    content = content.replace("vélo cargo".encode(), "v\xe9lo cargo".encode("latin-1"), 1)
    report = validate_submission(content, "f.csv", resolver)
    problem = only(report, nature="encodage")
    assert problem.gravite == ERREUR and problem.ligne == 2 and "encodage mélangé" in problem.message
    assert "Enregistrez le fichier en UTF-8" in problem.message and not report.valid


def test_missing_and_extra_columns_are_named(resolver):
    report = check(resolver, "colonnes.csv")
    assert not [p for p in report.problems if p.colonne == "promesse"]  # optional: its column may be absent
    unknown = only(report, colonne="commentaire")
    assert unknown.gravite == ERREUR and "colonne inconnue « commentaire »" in unknown.message
    computed = only(report, colonne="statut")
    assert computed.gravite == AVERTISSEMENT and "calculée par le catalogue" in computed.message
    assert not report.valid


def test_a_file_without_the_optional_columns_is_valid_and_a_required_one_is_named(resolver):
    optional = [c for c in submission_columns() if c != "action" and not published_field(c).required]
    assert {"promesse", "programmes_parents", "url_demarche"} <= set(optional)
    kept = [c for c in submission_columns() if c not in optional]
    row = {k: v for k, v in valid_row().items() if k in kept}
    report = validate_submission(rows_csv([row], kept), "sans-optionnelles.csv", resolver)
    assert report.valid, report.problems

    without_description = [c for c in kept if c != "description"]
    row.pop("description")
    report = validate_submission(rows_csv([row], without_description), "sans-description.csv", resolver)
    missing = only(report, colonne="description")
    assert missing.ligne == 1 and missing.gravite == ERREUR and "colonne manquante : « description »" in missing.message
    assert not report.valid


def test_a_column_in_another_case_or_with_accents_is_read_with_a_warning(resolver):
    renamed = {"titre": "Titre", "date_cloture": "Date clôture"}
    columns = [renamed.get(c, c) for c in submission_columns()]
    row = valid_row()
    for old, new in renamed.items():
        row[new] = row.pop(old)
    report = validate_submission(rows_csv([row], columns), "f.csv", resolver)
    assert report.valid, report.errors
    assert only(report, colonne="titre").message == "colonne « Titre » lue comme « titre » (nom du schéma)."
    assert only(report, colonne="date_cloture").gravite == AVERTISSEMENT


def test_unknown_and_misspelt_geography_codes_name_line_and_code(resolver):
    report = check(resolver, "codes-geographiques.csv")
    commune = only(report, ligne=2, colonne="eligibilite_geographique")
    assert commune.valeur == "COM-99999" and "code COM-99999 inconnu du référentiel" in commune.message
    epci = only(report, ligne=4, colonne="eligibilite_geographique")
    assert epci.valeur == "EPCI-123456789" and "inconnu du référentiel" in epci.message
    bare = only(report, ligne=4, colonne="eligibilite_geographique_exclusions")
    assert bare.valeur == "75056" and "écrivez COM-75056" in bare.message
    arrondissement = only(report, ligne=6, colonne="eligibilite_geographique")
    assert "arrondissement municipal" in arrondissement.message and "écrivez COM-75056" in arrondissement.message
    assert {p.nature for p in report.problems} == {"geographie"}  # no second, generic pattern message


def test_dates_in_other_formats_are_read_and_an_impossible_one_is_an_error(resolver):
    report = check(resolver, "dates.csv")
    # Row 1 spans lines 2-3 (a multi-line cell): row 2 starts at line 4.
    opening = only(report, ligne=4, colonne="date_ouverture")
    assert opening.valeur == "15/10/2025" and opening.gravite == AVERTISSEMENT
    assert (
        opening.message == "lu 15/10/2025 comme 2025-10-15 (écrit 2025-10-15T00:00:00+02:00 : minuit, heure de Paris)."
    )
    closing = only(report, ligne=4, colonne="date_cloture")
    assert "2025-12-31T00:00:00+01:00" in closing.message and closing.gravite == AVERTISSEMENT  # winter time
    impossible = only(report, ligne=4, colonne="date_mise_a_jour")
    assert impossible.gravite == ERREUR and "date impossible (31/02/2025)" in impossible.message
    assert {p.nature for p in report.errors} == {"date"} and len(report.errors) == 1


def test_a_closing_date_before_the_opening_date_is_an_error(resolver):
    row = valid_row(date_ouverture="2025-06-01T00:00:00+02:00", date_cloture="2025-05-01T00:00:00+02:00")
    report = validate_submission(rows_csv([row]), "f.csv", resolver)
    assert "précède la date d'ouverture" in only(report, colonne="date_cloture").message


def test_duplicate_rows_and_ids_point_at_the_first_occurrence(resolver):
    report = check(resolver, "doublons.csv")
    identical = only(report, ligne=5, nature="doublon")
    assert identical.message == "ligne en double : identique à la ligne 2 ; supprimez-la."
    same_id = only(report, ligne=7, nature="doublon")
    assert same_id.colonne == "id" and same_id.valeur == ID_A and "identifiant déjà utilisé ligne 4" in same_id.message
    assert len(report.problems) == 2


def test_two_additions_without_id_and_with_the_same_title_are_refused(resolver):
    report = validate_submission(rows_csv([valid_row(), valid_row(description="Autre texte.")]), "f.csv", resolver)
    problem = only(report, nature="doublon")
    assert problem.colonne == "titre" and "même titre que l'aide ajoutée ligne 2" in problem.message


def test_formulas_are_refused_and_a_quoted_one_is_accepted(resolver):
    report = check(resolver, "formules.csv")
    title = only(report, ligne=2, colonne="titre")
    assert title.nature == "formule" and "formule interdite" in title.message and "« = »" in title.message
    assert "apostrophe" in title.message
    assert "« @ »" in only(report, ligne=2, colonne="description").message
    assert [p for p in report.problems if p.ligne == 3] == []  # "'=ceci n'est pas une formule" is neutralised


def test_a_leading_dash_is_a_formula_with_a_bullet_hint(resolver):
    report = validate_submission(rows_csv([valid_row(eligibilite="- Résider à Paris")]), "f.csv", resolver)
    problem = only(report, colonne="eligibilite")
    assert "« - »" in problem.message and "« • »" in problem.message


def test_invalid_and_missing_actions_and_missing_ids(resolver):
    report = check(resolver, "actions.csv")
    assert "action « modifier » inconnue" in only(report, ligne=2, colonne="action").message
    assert only(report, ligne=4, colonne="action").message.startswith("action manquante")
    missing_id = only(report, ligne=6, colonne="id")
    assert missing_id.message.startswith("identifiant manquant : une correction désigne une aide du catalogue")


def test_a_withdrawal_needs_only_its_id(resolver):
    row = {"action": "retrait", "id": ID_A}
    assert validate_submission(rows_csv([row]), "f.csv", resolver).valid
    report = validate_submission(rows_csv([{"action": "retrait", "titre": "x"}]), "f.csv", resolver)
    problem = only(report, colonne="id")
    assert problem.message.startswith("identifiant manquant : un retrait désigne une aide du catalogue")
    assert problem.ligne == 2 and problem.nature == "identifiant"


def test_an_addition_needs_the_schema_required_fields(resolver):
    report = validate_submission(rows_csv([valid_row(titre="", cibles="tout le monde")]), "f.csv", resolver)
    assert only(report, colonne="titre").message.startswith(
        "valeur obligatoire manquante : remplissez la colonne titre"
    )
    cibles = only(report, colonne="cibles")
    assert "n'est pas une valeur de cibles" in cibles.message and "particuliers" in cibles.message
    assert "^(" not in cibles.message and "\\|" not in cibles.message  # never a regular expression


@pytest.mark.parametrize(
    ("content", "nature", "words"),
    [
        (b"", "vide", "le fichier est vide"),
        (b"\xef\xbb\xbf  \n", "vide", "le fichier est vide"),
        ((FIXTURES / "en-tete-seul.csv").read_bytes(), "vide", "il n'a que la ligne d'en-tête"),
        (b"PK\x03\x04\x14\x00\x06\x00binary", "binaire", "OpenDocument (.ods)"),
        (b"%PDF-1.7\n%\xe2\xe3", "binaire", "document PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binaire", "n'est pas un fichier CSV"),
        ("action,id\n".encode("utf-16"), "encodage", "UTF-16"),
    ],
)
def test_empty_and_non_csv_files_get_one_precise_error(resolver, content, nature, words):
    report = validate_submission(content, "f", resolver)
    assert not report.valid and report.rows == 0
    problem = only(report, nature=nature)
    assert words in problem.message and problem.ligne is None


def test_an_unclosed_quote_names_its_line(resolver):
    report = check(resolver, "guillemets.csv")
    problem = only(report, nature="csv")
    assert problem.ligne == 2 and "guillemet ouvert jamais fermé" in problem.message
    assert not any(p.nature == "vide" for p in report.problems)


def test_a_row_with_a_cell_too_many_is_named(resolver):
    width = len(submission_columns())
    content = rows_csv([valid_row()]) + b"ajout,,en trop" + b"," * width + b"\n"
    report = validate_submission(content, "f.csv", resolver)
    problem = only(report, nature="csv")
    assert problem.ligne == 4 and f"{width + 3} cellules au lieu de {width}" in problem.message


def test_a_file_over_the_limit_is_refused_before_parsing(resolver):
    content = (FIXTURES / "valide.csv").read_bytes()
    report = validate_submission(content + b"\x00" * 10, "gros.csv", resolver, max_bytes=len(content))
    assert [p.nature for p in report.problems] == ["taille"] and report.rows == 0
    assert "fichier trop volumineux" in report.problems[0].message and "découpez-le" in report.problems[0].message
    assert validate_submission(content, "f.csv", resolver, max_bytes=len(content)).valid


def test_every_problem_is_counted(resolver):
    rows = [valid_row(titre=f"=A{i}", description=f"=B{i}") for i in range(700)]
    report = validate_submission(rows_csv(rows), "f.csv", resolver)
    assert len(report.errors) == 1400 and {p.nature for p in report.problems} == {"formule"}


# --------------------------------------------------------------------------- territory


def test_territory_of_a_siren_a_departement_or_a_region(resolver):
    assert territory_code(resolver, PARIS) == "COM-75056"
    assert territory_code(resolver, LYON_METROPOLE) == "EPCI-200046977"
    assert territory_code(resolver, "DEP-69") == "DEP-69" and territory_code(resolver, "REG-84") == "REG-84"
    assert territory_code(resolver, "999999999") is None and territory_code(resolver, "../x") is None


def test_a_commune_submitting_for_another_commune_is_out_of_territory(resolver):
    report = check(resolver, "hors-territoire.csv", territory=PARIS)
    assert report.hors_territoire and not report.valid
    lyon = only(report, ligne=2, colonne="eligibilite_geographique")
    assert lyon.nature == "territoire" and lyon.valeur == "COM-69123"
    assert "COM-69123 (Lyon, 69) est hors du territoire de la collectivité, COM-75056 (Paris, 75)" in lyon.message
    assert only(report, ligne=6, nature="territoire").valeur == "PAYS-99100"
    assert not [p for p in report.problems if p.ligne == 4]  # DEP-75 holds Paris only: inside
    assert check(resolver, "valide.csv", territory=PARIS).valid


def test_an_epci_a_departement_and_a_region_cover_their_communes(resolver):
    lyon = rows_csv(
        [
            valid_row(eligibilite_geographique="COM-69123|COM-69266"),
            valid_row(titre="Aide métropolitaine", eligibilite_geographique="EPCI-200046977"),
        ]
    )
    for territory in (LYON_METROPOLE, "DEP-69", "REG-84"):
        assert validate_submission(lyon, "f.csv", resolver, territory=territory).valid, territory
    report = validate_submission(lyon, "f.csv", resolver, territory="216902668")  # Villeurbanne alone
    assert report.hors_territoire and {p.valeur for p in report.problems} == {"COM-69123", "EPCI-200046977"}
    assert not validate_submission(lyon, "f.csv", resolver, territory="DEP-14").valid


def test_an_unknown_collectivite_is_a_territory_problem(resolver):
    report = check(resolver, "valide.csv", territory="123456789")
    assert (
        report.hors_territoire and "collectivité inconnue du référentiel" in only(report, nature="territoire").message
    )


def test_the_catalogue_checks_ids_and_the_current_geography_of_corrected_aids(resolver):
    ok = check(
        resolver,
        "valide.csv",
        territory=PARIS,
        catalogue={ID_A: ("COM-75056",), "2b1f0c3e-8a44-4d5e-9f10-0c2f6b7a9d31": ("COM-75056",)},
    )
    assert ok.valid
    unknown = check(resolver, "valide.csv", catalogue={ID_A: ("COM-75056",)})
    assert "identifiant inconnu du catalogue" in only(unknown, ligne=5, colonne="id").message
    not_mine = check(
        resolver,
        "valide.csv",
        territory=PARIS,
        catalogue={ID_A: ("COM-69123",), "2b1f0c3e-8a44-4d5e-9f10-0c2f6b7a9d31": ("COM-75056",)},
    )
    problem = only(not_mine, ligne=4, nature="territoire")
    assert "couvre au catalogue COM-69123 (Lyon, 69)" in problem.message and not_mine.hors_territoire
    existing = validate_submission(rows_csv([valid_row(id=ID_A)]), "f.csv", resolver, catalogue={ID_A: ()})
    assert "déjà celui d'une aide du catalogue" in only(existing, colonne="id").message


# --------------------------------------------------------------------------- never raises


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=3000))
def test_validate_never_raises_on_arbitrary_bytes(resolver, content):
    report = validate_submission(content, "x", resolver, territory=PARIS)
    assert isinstance(report, SubmissionReport)
    assert not report.valid or report.rows > 0
    assert all(p.nature != "interne" for p in report.problems), report.problems


_CSVISH = st.text(
    alphabet=st.sampled_from(list(",;\"'\n\r|=-+@ aé0123456789-COMDEPREGPAYSIajoutcrectionrait/:T\t")), max_size=400
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_CSVISH, keep=st.integers(min_value=0, max_value=22))
def test_validate_never_raises_on_csv_like_text_under_a_real_header(resolver, body, keep):
    header = ",".join(submission_columns()[: keep or None])
    report = validate_submission(
        (header + "\n" + body).encode("utf-8"), "x.csv", resolver, territory="DEP-69", catalogue={ID_A: ("COM-75056",)}
    )
    assert all(p.nature != "interne" for p in report.problems), report.problems
    json.dumps(report.as_json())


# --------------------------------------------------------------------------- pre-filled file


def _insert_aid(conn, aid_id: str, titre: str, geo: list[str], publiable: bool = True) -> None:
    conn.execute(
        "INSERT INTO aides (id, titre, promesse, description, eligibilite, types_aides, porteurs, cibles, "
        "eligibilite_geographique, date_ouverture, date_mise_a_jour, echelle, thematiques, montant_max, url_source, "
        "statut, recurrence, sources, date_collecte, geo_statut, publiable) VALUES "
        "(?, ?, 'Financez votre projet', ?, '- Être résident', ['financement'], ['VILLE'], ['particuliers'], ?, "
        "DATE '2025-01-01', TIMESTAMPTZ '2025-10-15 15:00:00+00', 'commune', ['transport'], 600, "
        "'https://exemple.fr/aide', 'ouverte', 'permanente', ['aides-velo'], TIMESTAMPTZ '2026-11-29 06:00:00+00', "
        "'resolved', ?)",
        [aid_id, titre, f"Description de {titre}.", geo, publiable],
    )


@pytest.fixture
def catalogue_warehouse(warehouse) -> WarehousePaths:
    load_minimal_referential(warehouse)
    with connect_writer(warehouse) as conn:
        _insert_aid(conn, ID_A, "Aide parisienne", ["COM-75056"])
        _insert_aid(conn, "11111111-1111-4111-8111-111111111111", "Aide départementale de Paris", ["DEP-75"])
        _insert_aid(conn, "22222222-2222-4222-8222-222222222222", "Aide lyonnaise", ["COM-69123"])
        _insert_aid(conn, "33333333-3333-4333-8333-333333333333", "Aide nationale", ["PAYS-99100"])
        _insert_aid(conn, "44444444-4444-4444-8444-444444444444", "Aide mixte", ["COM-75056", "COM-69123"])
        _insert_aid(conn, "55555555-5555-4555-8555-555555555555", "Aide non publiable", ["COM-75056"], False)
    return warehouse


def test_the_prefilled_file_holds_the_territory_published_aids_and_validates_once_filled(catalogue_warehouse):
    with connect_reader(catalogue_warehouse) as conn:
        content = prefilled_submission(conn, PARIS)
        resolver = GeoResolver.from_warehouse(conn)
        known = catalogue_geography(conn)
        with pytest.raises(ValueError, match="collectivité inconnue"):
            prefilled_submission(conn, "123456789", resolver)
    assert not content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert [r["titre"] for r in rows] == ["Aide départementale de Paris", "Aide parisienne"]  # sorted by id
    assert all(r["action"] == "" for r in rows) and list(rows[0]) == submission_columns()
    assert rows[0]["eligibilite"] == "'- Être résident"  # neutralised as in the releases
    assert not validate_submission(content, "prerempli.csv", resolver, territory=PARIS).valid  # actions to fill
    filled = content.decode("utf-8").replace("\n,", "\ncorrection,").encode("utf-8")
    report = validate_submission(filled, "prerempli.csv", resolver, territory=PARIS, catalogue=known)
    assert report.valid, report.problems
    assert report.actions == {"correction": 2}


def test_collectivite_code_reads_the_referential(catalogue_warehouse):
    with connect_reader(catalogue_warehouse) as conn:
        assert collectivite_code(conn, PARIS) == "COM-75056"
        assert collectivite_code(conn, LYON_METROPOLE) == "EPCI-200046977"
        assert collectivite_code(conn, "DEP-69") == "DEP-69" and collectivite_code(conn, "REG-11") == "REG-11"
        assert collectivite_code(conn, "DEP-13") is None and collectivite_code(conn, "217500017") is None


# --------------------------------------------------------------------------- aides validate


def cli() -> typer.Typer:
    """The commands registered as the lead registers them in aides_cli/main.py."""
    app = typer.Typer()
    app.command("validate")(validate_command)
    app.command("prefill")(prefill_command)
    return app


def test_cli_validate_exit_codes_and_json_report(warehouse):
    load_minimal_referential(warehouse)
    runner = CliRunner()
    ok = runner.invoke(cli(), ["validate", str(FIXTURES / "valide.csv"), "--json", "--territoire", PARIS])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) | {"problemes": []} == json.loads(ok.stdout)
    assert json.loads(ok.stdout)["valide"] is True and json.loads(ok.stdout)["lignes"] == 3
    bad = runner.invoke(cli(), ["validate", str(FIXTURES / "hors-territoire.csv"), "--json", "--territoire", PARIS])
    assert bad.exit_code == 1
    answer = json.loads(bad.stdout)
    assert answer["valide"] is False and answer["hors_territoire"] is True
    assert {"ligne", "colonne", "valeur", "message", "gravite"} <= set(answer["problemes"][0])
    readable = runner.invoke(cli(), ["validate", str(FIXTURES / "dates.csv")])
    assert readable.exit_code == 1 and "invalide" in readable.stdout and "date impossible" in readable.stdout
    missing = runner.invoke(cli(), ["validate", str(FIXTURES / "absent.csv")])
    assert missing.exit_code == 2 and "Fichier introuvable" in missing.stderr


def test_cli_validate_without_a_referential_exits_2_with_a_clear_message(warehouse):
    runner = CliRunner()
    result = runner.invoke(cli(), ["validate", str(FIXTURES / "valide.csv"), "--json"])
    assert result.exit_code == 2 and "make run" in result.stderr and result.stdout == ""
    with connect_writer(warehouse):
        pass  # an empty warehouse: tables, no referential
    result = runner.invoke(cli(), ["validate", str(FIXTURES / "valide.csv"), "--json"])
    assert result.exit_code == 2 and "référentiel géographique n'est pas chargé" in result.stderr


def test_cli_prefill_writes_the_file(catalogue_warehouse, tmp_path):
    out = tmp_path / "prerempli.csv"
    result = CliRunner().invoke(cli(), ["prefill", PARIS, "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sorted(r["titre"] for r in rows) == ["Aide départementale de Paris", "Aide parisienne"]
    to_stdout = CliRunner().invoke(cli(), ["prefill", "DEP-75"])
    assert to_stdout.exit_code == 0 and to_stdout.stdout.startswith("action,id,titre,")
    assert CliRunner().invoke(cli(), ["prefill", "DEP-13"]).exit_code == 2


# --------------------------------------------------------------------------- the real referential


@pytest.fixture(scope="session")
def real_referential_warehouse(referential_package, tmp_path_factory) -> WarehousePaths:
    return warehouse_with_referential(tmp_path_factory.mktemp("soumissions-real"), referential_package)


@pytest.mark.registry
def test_the_fixtures_against_the_real_referential(real_referential_warehouse, monkeypatch):
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(real_referential_warehouse.root))
    runner = CliRunner()
    ok = runner.invoke(cli(), ["validate", str(FIXTURES / "valide.csv"), "--json", "--territoire", PARIS])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli(), ["validate", str(FIXTURES / "hors-territoire.csv"), "--json", "--territoire", PARIS])
    assert bad.exit_code == 1
    problems = json.loads(bad.stdout)["problemes"]
    assert {(p["ligne"], p["valeur"]) for p in problems} == {(2, "COM-69123"), (6, "PAYS-99100")}
    with connect_reader(real_referential_warehouse) as conn:
        real = GeoResolver.from_warehouse(conn)
    codes = check(real, "codes-geographiques.csv")
    assert {(p.ligne, p.valeur) for p in codes.problems} == {
        (2, "COM-99999"),
        (4, "EPCI-123456789"),
        (4, "75056"),
        (6, "COM-75101"),
    }
    lyon = rows_csv(
        [valid_row(eligibilite_geographique="COM-69123|COM-69266|COM-69034")]
    )  # Lyon, Villeurbanne, Caluire
    assert validate_submission(lyon, "f.csv", real, territory=LYON_METROPOLE).valid
    report = validate_submission(lyon, "f.csv", real, territory="216901231")  # the commune of Lyon
    assert report.hors_territoire and {p.valeur for p in report.problems} == {"COM-69034", "COM-69266"}
    assert re.match(
        r"COM-69266 \(Villeurbanne, 69\) est hors du territoire de la collectivité, COM-69123 \(Lyon, 69\)",
        only(report, valeur="COM-69266").message,
    )
