"""Issue 16, point 1, in the web application: an Excel-style file is accepted with its warnings, a
file with 25,000 errors says 25,000, the report is paged and downloadable as CSV, and only the
session that sent the file can read its report."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_webapp import SIREN_ANGERS, build_warehouse, csrf_of, log_in

from warehouse.settings import WarehousePaths
from webapp.app import create_app
from webapp.reports import PAGE_SIZE

REQUIRED = ["action", "id", "titre", "description", "eligibilite", "types_aides", "porteurs", "cibles"]
REQUIRED += ["eligibilite_geographique", "date_mise_a_jour", "echelle", "date_cloture", "montant_max", "url_source"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_warehouse(tmp_path_factory.mktemp("rapport") / "warehouse")


@pytest.fixture
def own(built, tmp_path: Path) -> dict:
    root = tmp_path / "warehouse"
    shutil.copytree(built["paths"].root, root, symlinks=True)
    paths = WarehousePaths(root)
    client = TestClient(create_app(paths, session_key=b"r" * 32), raise_server_exceptions=False)
    log_in(client, built["tokens"]["angers"])
    return {"paths": paths, "tokens": built["tokens"], "client": client}


def angers_row(**changes: str) -> dict[str, str]:
    row = {
        "action": "ajout",
        "id": "",
        "titre": "Aide au compostage partagé",
        "description": "La Ville d'Angers aide les habitants à composter.",
        "eligibilite": "Habiter Angers.",
        "types_aides": "financement",
        "porteurs": "[{ nom: 'VILLE D''ANGERS', roles: [ 'financeur' ]}]",
        "cibles": "particuliers",
        "eligibilite_geographique": "COM-49007",
        "date_mise_a_jour": "2026-10-01T00:00:00+02:00",
        "echelle": "commune",
        "date_cloture": "",
        "montant_max": "",
        "url_source": "",
    }
    return {**row, **changes}


def rows_with_five_errors(count: int) -> list[dict[str, str]]:
    """``count`` distinct rows, each with exactly five errors (no duplicate, nothing else wrong)."""
    wrong = {
        "titre": "",
        "date_cloture": "32/13/2026",
        "montant_max": "beaucoup",
        "cibles": "tout le monde",
        "url_source": "pas une adresse",
    }
    return [angers_row(description=f"Aide n° {i}", **wrong) for i in range(count)]


def as_csv(rows: list[dict[str, str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, REQUIRED, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(client: TestClient, content: bytes, filename: str = "aides.csv"):
    csrf = csrf_of(client.get("/soumettre").text)
    return client.post("/soumettre", data={"csrf": csrf}, files={"fichier": (filename, content, "text/csv")})


def report_link(html: str) -> str:
    start = html.index("/soumettre/rapport/")
    return html[start : html.index(".csv", start)]


def test_an_excel_style_file_is_accepted_with_its_warnings(own):
    rows = [angers_row(action="Ajout", date_cloture="31/12/2026", montant_max="1 500 €", cibles="Particuliers")]
    answer = upload(own["client"], as_csv(rows, ";", "cp1252"))
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "Fichier accepté" in html and "0 erreur" in html
    assert "lu 31/12/2026 comme 2026-12-31" in html and "lu 1 500 € comme 1500." in html
    assert "lu « Particuliers » comme « particuliers »." in html and "Windows-1252" in html
    stored = sorted((own["paths"].root / "submissions").glob("*.csv"))
    assert len(stored) == 1 and "2026-12-31T00:00:00+01:00" in stored[0].read_text(encoding="utf-8")
    assert (own["paths"].root / "submissions" / "originaux" / stored[0].name).read_bytes() == as_csv(
        rows, ";", "cp1252"
    )


def test_25000_errors_are_counted_paged_and_downloadable(own):
    client = own["client"]
    answer = upload(client, as_csv(rows_with_five_errors(5000)))
    assert answer.status_code == 422
    html = answer.text
    assert "Fichier refusé : 25\u202f000 erreurs à corriger" in html
    assert f"Problèmes 1 à {PAGE_SIZE} sur 25\u202f000 (page 1 sur {25_000 // PAGE_SIZE})" in html
    assert html.count("<tr data-nature") == PAGE_SIZE
    link = report_link(html)

    last = client.get(f"{link}?page={25_000 // PAGE_SIZE}")
    assert last.status_code == 200 and "Problèmes 24\u202f901 à 25\u202f000 sur 25\u202f000" in last.text
    assert last.headers["cache-control"] == "no-store"
    errors_only = client.get(f"{link}?gravite=erreur&page=2")
    assert "Problèmes 101 à 200 sur 25\u202f000" in errors_only.text

    download = client.get(f"{link}.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["ligne", "colonne", "valeur", "gravite", "nature", "message"]
    assert len(lines) == 25_001 and {line[3] for line in lines[1:]} == {"erreur"}


def test_a_report_is_readable_only_by_the_session_that_sent_the_file(own):
    answer = upload(own["client"], as_csv([angers_row(cibles="tout le monde")]))
    link = report_link(answer.text)
    other = TestClient(create_app(own["paths"], session_key=b"r" * 32), raise_server_exceptions=False)
    log_in(other, own["tokens"]["angers"])  # same collectivité, another login
    assert other.get(link).status_code == 404 and other.get(f"{link}.csv").status_code == 404
    anonymous = TestClient(create_app(own["paths"], session_key=b"r" * 32), raise_server_exceptions=False)
    assert anonymous.get(link).status_code == 403
    assert own["client"].get("/soumettre/rapport/inconnu").status_code == 404


def test_the_report_never_shows_a_regular_expression_and_suggests_the_closest_value(own):
    answer = upload(own["client"], as_csv([angers_row(cibles="particulers", echelle="comunne")]))
    assert answer.status_code == 422
    assert "vouliez-vous dire « particuliers » ?" in answer.text
    assert "vouliez-vous dire « commune » ?" in answer.text
    assert "^(" not in answer.text and "\\|" not in answer.text
    assert SIREN_ANGERS in answer.text or "Angers" in answer.text
