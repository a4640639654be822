"""Load the official geography referential (COG) into the warehouse.

The referential comes from the npm package ``@etalab/decoupage-administratif``. Its JSON
files are read by DuckDB in set-based statements, inside one transaction that is
checked before it is committed: a corrupted, truncated or unexpected package leaves the
previous referential in place and raises ReferentialError naming package, version and fault.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from sources.npm import NpmPackage
from warehouse.db import scalar

REQUIRED_FILES = ("communes.json", "epci.json", "departements.json", "regions.json")

# Lower bounds that any real COG vintage clears by far; a package below them is not
# the referential we expect (truncated file, wrong package, empty data).
MINIMUM_COUNTS = {
    "ref_regions": 18,
    "ref_departements": 101,
    "ref_communes": 34_000,
    "ref_epci": 1_000,
    "ref_epci_membres": 33_000,
    "ref_codes_postaux": 34_000,
}
ARRONDISSEMENTS_MUNICIPAUX = 45  # Paris 20, Marseille 16, Lyon 9

TERRITORY_COMMUNES_SQL = """
    SELECT 'COM-' || code AS code, code AS commune FROM ref_communes
    UNION ALL SELECT 'EPCI-' || m.epci, m.commune FROM ref_epci_membres m SEMI JOIN ref_communes c ON c.code = m.commune
    UNION ALL SELECT 'DEP-' || departement, code FROM ref_communes
    UNION ALL SELECT 'REG-' || region, code FROM ref_communes
    UNION ALL SELECT 'PAYS-99100', code FROM ref_communes
"""
"""(code, commune): every published territory code and each current commune it covers (another
country than France covers none). The one definition of what a code covers, for the exact
geography of the catalogue and the per-commune file of a release."""

REFERENTIAL_TABLES = (
    "ref_regions",
    "ref_departements",
    "ref_communes",
    "ref_codes_postaux",
    "ref_epci",
    "ref_epci_membres",
    "ref_communes_rattachees",
    "ref_version",
)


class ReferentialError(RuntimeError):
    """The referential package is unusable; the previous referential is kept."""


@dataclass
class ReferentialSummary:
    package: str
    version: str
    loaded: bool  # False when the same version was already in the warehouse
    counts: dict[str, int] = field(default_factory=dict)


def loaded_version(conn: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(package, version, integrity) of the referential in the warehouse, if any."""
    row = conn.execute("SELECT package, version, integrity FROM ref_version LIMIT 1").fetchone()
    return (row[0], row[1], row[2]) if row else None


def referential_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row counts that describe the loaded referential."""
    queries = {
        "regions": "SELECT count(*) FROM ref_regions",
        "departements": "SELECT count(*) FROM ref_departements",
        "communes": "SELECT count(*) FROM ref_communes",
        "epci": "SELECT count(*) FROM ref_epci",
        "arrondissements_municipaux": "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'arrondissement-municipal'",
        "communes_deleguees": "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'commune-deleguee'",
        "communes_associees": "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'commune-associee'",
        "anciens_codes": "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'ancien-code'",
        "codes_postaux": "SELECT count(DISTINCT code_postal) FROM ref_codes_postaux",
    }
    return {name: scalar(conn, sql) for name, sql in queries.items()}


def _extract(package: NpmPackage, where: Path) -> Path:
    label = f"{package.name} {package.version}"
    try:
        with tarfile.open(package.tarball, "r:gz") as archive:
            archive.extractall(where, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ReferentialError(f"{label} : archive illisible ou tronquée ({exc}).") from exc
    root = where / "package"
    manifest = root / "package.json"
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReferentialError(f"{label} : package.json absent ou illisible ({exc}).") from exc
    if meta.get("name") != package.name or meta.get("version") != package.version:
        raise ReferentialError(
            f"{label} : le paquet se déclare {meta.get('name')} {meta.get('version')}, pas celui attendu."
        )
    missing = [name for name in REQUIRED_FILES if not (root / "data" / name).is_file()]
    if missing:
        raise ReferentialError(f"{label} : fichiers absents du paquet : {', '.join('data/' + m for m in missing)}.")
    return root / "data"


def _insert_all(conn: duckdb.DuckDBPyConnection, data: Path) -> None:
    """Fill the referential tables from the package's JSON files (set-based)."""
    communes = str(data / "communes.json")
    conn.execute(
        f"""
        CREATE TEMP TABLE src_communes AS
        SELECT * FROM read_json('{communes}', format = 'array', columns = {{
            code: 'VARCHAR', nom: 'VARCHAR', type: 'VARCHAR', siren: 'VARCHAR',
            departement: 'VARCHAR', region: 'VARCHAR', arrondissement: 'VARCHAR', zone: 'VARCHAR',
            population: 'INTEGER', codesPostaux: 'VARCHAR[]', commune: 'VARCHAR', chefLieu: 'VARCHAR',
            anciensCodes: 'VARCHAR[]'
        }})
        """
    )
    conn.execute(
        f"""
        INSERT INTO ref_regions (code, nom, chef_lieu, zone, type_liaison)
        SELECT code, nom, chefLieu, zone, typeLiaison FROM read_json('{data / "regions.json"}', format = 'array',
            columns = {{code: 'VARCHAR', nom: 'VARCHAR', chefLieu: 'VARCHAR', zone: 'VARCHAR', typeLiaison: 'INTEGER'}})
        """
    )
    conn.execute(
        f"""
        INSERT INTO ref_departements (code, nom, region, chef_lieu, zone, type_liaison)
        SELECT code, nom, region, chefLieu, zone, typeLiaison FROM read_json('{data / "departements.json"}',
            format = 'array', columns = {{code: 'VARCHAR', nom: 'VARCHAR', region: 'VARCHAR', chefLieu: 'VARCHAR',
            zone: 'VARCHAR', typeLiaison: 'INTEGER'}})
        """
    )
    conn.execute(
        """
        INSERT INTO ref_communes
        SELECT code, nom, siren, departement, region, arrondissement, zone, population,
               coalesce(codesPostaux, []::VARCHAR[])
        FROM src_communes WHERE type = 'commune-actuelle'
        """
    )
    conn.execute(
        """
        INSERT INTO ref_codes_postaux
        SELECT DISTINCT unnest(codes_postaux) AS code_postal, code FROM ref_communes
        """
    )
    conn.execute(
        """
        INSERT INTO ref_communes_rattachees
        SELECT code, nom, 'arrondissement-municipal', commune FROM src_communes
        WHERE type = 'arrondissement-municipal'
        UNION ALL
        SELECT code, nom, type, chefLieu FROM src_communes
        WHERE type IN ('commune-deleguee', 'commune-associee')
        UNION ALL
        SELECT DISTINCT ancien, NULL, 'ancien-code', code
        FROM (SELECT code, unnest(anciensCodes) AS ancien FROM src_communes WHERE type = 'commune-actuelle')
        """
    )
    epci = str(data / "epci.json")
    conn.execute(
        f"""
        CREATE TEMP TABLE src_epci AS
        SELECT * FROM read_json('{epci}', format = 'array', columns = {{
            code: 'VARCHAR', nom: 'VARCHAR', type: 'VARCHAR', modeFinancement: 'VARCHAR',
            populationTotale: 'INTEGER', membres: 'STRUCT(code VARCHAR)[]'
        }})
        """
    )
    conn.execute("INSERT INTO ref_epci SELECT code, nom, type, modeFinancement, populationTotale FROM src_epci")
    conn.execute("INSERT INTO ref_epci_membres SELECT DISTINCT code, unnest(membres).code FROM src_epci")
    conn.execute("DROP TABLE src_communes")
    conn.execute("DROP TABLE src_epci")


# Each check is a query returning offending rows; a non-empty result is a fault.
_CONSISTENCY_CHECKS = {
    "communes sans code, nom, département ou région valides": """
        SELECT code FROM ref_communes
        WHERE code IS NULL OR NOT regexp_full_match(code, '(\\d{5}|2[AB]\\d{3})') OR nom IS NULL
           OR departement NOT IN (SELECT code FROM ref_departements)
           OR region NOT IN (SELECT code FROM ref_regions)""",
    "départements rattachés à une région inconnue": """
        SELECT code FROM ref_departements WHERE region NOT IN (SELECT code FROM ref_regions)""",
    "EPCI sans SIREN valide ou sans nom": """
        SELECT siren FROM ref_epci
        WHERE siren IS NULL OR NOT regexp_full_match(siren, '\\d{9}') OR nom IS NULL OR type IS NULL""",
    "membres d'EPCI qui ne sont pas des communes actuelles": """
        SELECT commune FROM ref_epci_membres WHERE commune NOT IN (SELECT code FROM ref_communes)""",
    "communes rattachées à une commune actuelle inconnue": """
        SELECT code FROM ref_communes_rattachees
        WHERE commune IS NULL OR commune NOT IN (SELECT code FROM ref_communes)""",
}


def _check(conn: duckdb.DuckDBPyConnection, label: str) -> None:
    for table, minimum in MINIMUM_COUNTS.items():
        count = scalar(conn, f"SELECT count(*) FROM {table}")
        if count < minimum:
            raise ReferentialError(f"{label} : {table} n'a que {count} lignes (au moins {minimum} attendues).")
    arrondissements = scalar(
        conn, "SELECT count(*) FROM ref_communes_rattachees WHERE type = 'arrondissement-municipal'"
    )
    if arrondissements != ARRONDISSEMENTS_MUNICIPAUX:
        raise ReferentialError(
            f"{label} : {arrondissements} arrondissements municipaux au lieu de {ARRONDISSEMENTS_MUNICIPAUX}."
        )
    for fault, sql in _CONSISTENCY_CHECKS.items():
        rows = conn.execute(sql + " LIMIT 5").fetchall()
        if rows:
            sample = ", ".join(str(r[0]) for r in rows)
            raise ReferentialError(f"{label} : {fault} (par exemple : {sample}).")


def load_referential(conn: duckdb.DuckDBPyConnection, package: NpmPackage, force: bool = False) -> ReferentialSummary:
    """Replace the referential with ``package``'s, atomically; skip it if already loaded."""
    label = f"{package.name} {package.version}"
    if not force and loaded_version(conn) == (package.name, package.version, package.integrity):
        return ReferentialSummary(package.name, package.version, loaded=False, counts=referential_counts(conn))
    with tempfile.TemporaryDirectory() as tmp:
        data = _extract(package, Path(tmp))
        conn.execute("BEGIN TRANSACTION")
        try:
            for table in REFERENTIAL_TABLES:
                conn.execute(f"DELETE FROM {table}")
            try:
                _insert_all(conn, data)
            except duckdb.Error as exc:
                raise ReferentialError(f"{label} : données inattendues ({exc}).") from exc
            _check(conn, label)
            conn.execute(
                "INSERT INTO ref_version VALUES (?, ?, ?, now())",
                [package.name, package.version, package.integrity],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return ReferentialSummary(package.name, package.version, loaded=True, counts=referential_counts(conn))
