"""Validate the files collectivités submit, and pre-fill the file they download.

Format du fichier de soumission
===============================

Un fichier CSV, ou un classeur Excel (``.xlsx`` : sa première feuille est lue comme un CSV) :

- encodé en **UTF-8** (avec ou sans BOM) ou en **Windows-1252 / Latin-1** (l'encodage d'Excel
  sous Windows : détecté, et dit dans le rapport) ; un fichier qui mélange les deux est refusé ;
- séparé par des **virgules** (``,``) ou des **points-virgules** (``;``, l'Excel français ; dit
  dans le rapport), cellules entre guillemets doubles si elles contiennent le séparateur, un
  guillemet ou un retour à la ligne ;
- dont la première ligne (ligne 1) est l'en-tête, avec les colonnes du schéma publié
  (``schemas/schema.json``) **sauf** celles que le catalogue calcule (``statut``, ``sources``,
  ``date_collecte``), **plus** une colonne ``action`` ; :func:`submission_columns` les donne
  dans l'ordre du schéma (``action, id, titre, promesse, description…``), l'ordre des colonnes
  du fichier est libre ; la colonne d'un champ facultatif peut manquer (lue comme vide), pour
  que les fichiers déjà remis aux collectivités restent valides quand le schéma gagne un champ ;
- une ligne par aide, avec dans ``action`` :

  - ``ajout`` : une aide nouvelle ; ``id`` vide ou un UUID nouveau ;
  - ``correction`` : une aide du catalogue à corriger ; ``id`` = son identifiant au catalogue ;
    la ligne donne l'aide entière, telle qu'elle doit être publiée ;
  - ``retrait`` : « cette aide n'existe plus » ; ``id`` = son identifiant au catalogue ; seul
    ``id`` est obligatoire (les autres colonnes peuvent rester telles quelles ou vides), plus
    ``eligibilite_geographique`` quand le territoire est vérifié sans le catalogue sous la main ;

  une aide n'apparaît qu'une fois par fichier (même ``id`` deux fois, deux lignes identiques, ou
  deux ajouts sans ``id`` de même titre : erreur) ;

- chaque valeur suit le schéma publié (dates ISO 8601 avec heure et fuseau
  ``2025-10-15T00:00:00+02:00``, codes géographiques ``COM-75056|EPCI-200046977|DEP-69|REG-84``,
  listes séparées par ``|``, nombres avec un point décimal) **ou s'écrit comme on l'écrit en
  France**, et elle est alors lue ainsi, avec un avertissement qui dit comment
  (:mod:`warehouse.submissions.interpret`) : dates ``31/12/2026``, ``31 décembre 2026`` ou
  ``2026-12-31`` (minuit, heure de Paris), montants ``1 500 €`` ou ``1500,50``, taux ``33 %``,
  valeurs des listes en toutes casses, avec ou sans accents, et leurs libellés usuels
  (``Particuliers``, ``EPCI``, ``déchets``), séparées par ``;`` ou ``,`` ; actions ``Ajout``… ;
  une valeur qui se lit de deux façons (``1,500``, ``31/12/26``) est une erreur qui dit quoi
  écrire, avec la valeur autorisée la plus proche (« vouliez-vous dire ``dechet`` ? ») ;
  un fichier valide écrit autrement est conservé tel qu'il a été lu
  (:attr:`SubmissionReport.canonical`), à côté des octets de l'agent ;
- aucune cellule ne commence par ``=``, ``+``, ``-``, ``@``, une tabulation ou un retour chariot
  (un tableur l'exécuterait comme une formule) ; pour écrire un tel texte, mettez une apostrophe
  devant (``'- premier critère``) : l'apostrophe est retirée à la lecture, comme dans les
  publications du catalogue ;
- 5 Mo au plus (``max_bytes``) : au-delà, le fichier est refusé avant toute lecture.

Chaque problème nomme la ligne du fichier où commence l'enregistrement (l'en-tête est la ligne 1 ;
une cellule sur plusieurs lignes ne décale pas ce repère ; la ligne Excel pour un classeur), la
colonne, la valeur, et dit en français quoi corriger, sans jamais montrer d'expression régulière.
Tous les problèmes sont rapportés et comptés (25 000 erreurs : 25 000 lignes au rapport).

Le fichier pré-rempli (:func:`warehouse.submissions.prefill.prefilled_submission`) contient les aides publiées du territoire de
la collectivité, colonne ``action`` vide : remplissez-la pour les lignes à transmettre et
supprimez les autres lignes (une ligne sans action est une erreur).

Territoire
----------

``territory`` désigne la collectivité qui soumet : son SIREN (commune : ``ref_communes.siren`` ;
EPCI : ``ref_epci.siren``), ou, pour un département ou une région qui n'ont pas de SIREN dans le
référentiel, ``DEP-xx`` / ``REG-xx`` (un code ``COM-…`` / ``EPCI-…`` est accepté aussi). Chaque code
de ``eligibilite_geographique`` de chaque ligne doit couvrir des communes toutes situées dans ce
territoire (un département ou une région se compare par ses communes : ``DEP-75`` est dans le
territoire de la commune de Paris, ``PAYS-99100`` n'est dans celui d'aucune collectivité) ; sinon le
problème est de nature ``territoire`` et le rapport porte ``hors_territoire=True`` (l'application
web répond alors 403). Avec ``catalogue``, une correction ou un retrait doit aussi porter sur une
aide dont la géographie actuelle au catalogue est dans le territoire.

Why one module: the web application, ``aides validate`` and the store all take the same
:class:`SubmissionReport`; per-field checks come from ``schemas.validate.validate_relation`` (the
project's one set-based validator), run over the decoded CSV loaded into an in-memory DuckDB
table of VARCHAR columns plus the line number where each record starts (header = line 1).
``validate_submission`` never raises, whatever the bytes.
"""

from __future__ import annotations

import codecs
import copy
import csv
import dataclasses
import functools
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from schemas import GEO_CODE_PATTERN, field_names, load_schema, published_field, published_fields
from schemas.formulas import FORMULA_START_PATTERN, NEUTRALISED_PATTERN
from schemas.validate import _DATETIME, validate_relation
from sources.folding import fold
from sources.text_files import (
    decode,
    has_utf16_bom,
    looks_binary,
    physical_lines,
    sniff_delimiter,
    strict_utf8,
    strip_bom,
)
from warehouse.normalise.geography import RESOLVED, GeoResolver
from warehouse.submissions import interpret
from warehouse.submissions.spreadsheet import SpreadsheetError, is_xlsx, read_xlsx

ACTIONS: tuple[str, ...] = ("ajout", "correction", "retrait")
"""Allowed values of the ``action`` column."""

COMPUTED_FIELDS: tuple[str, ...] = ("statut", "sources", "date_collecte")
"""Fields of the published schema the catalogue computes: not in a submission."""

ERREUR, AVERTISSEMENT = "erreur", "avertissement"
MAX_BYTES = 5_000_000

GEO_FIELDS: tuple[str, ...] = ("eligibilite_geographique", "eligibilite_geographique_exclusions")

_ONE_CODE = re.compile(GEO_CODE_PATTERN)
_TERRITORY_ID = re.compile(r"\d{9}|(COM|EPCI|DEP|REG)-[0-9AB]{2,9}")
_VALUE_MAX = 200
_RESOLVE_MAX = 300  # distinct malformed geography tokens looked up for a suggestion, at most
_DELIMITER_NAMES = {";": "points-virgules « ; »", "\t": "tabulations", "|": "barres « | »", ",": "virgules « , »"}
_SAVE_AS_CSV = (
    "dans Excel, « Fichier > Enregistrer sous > CSV UTF-8 (délimité par des virgules) » ; "
    "dans LibreOffice, « Enregistrer sous > Texte CSV », jeu de caractères « Unicode (UTF-8) », "
    "séparateur de champ « , »"
)


@dataclass(frozen=True)
class Problem:
    """One problem of a submitted file, in French, saying what to fix.

    ``ligne``: the CSV line where the record starts (header = 1), None for the whole file;
    ``colonne``: the column, None when not about one; ``valeur``: the offending value (cut to
    200 characters); ``gravite``: ``erreur`` (the file is refused) or ``avertissement``;
    ``nature``: a stable machine key (``encodage``, ``delimiteur``, ``colonnes``, ``schema``,
    ``date``, ``geographie``, ``territoire``, ``doublon``, ``formule``, ``action``,
    ``identifiant``, ``taille``, ``vide``, ``binaire``, ``csv``, ``bom``…).
    """

    ligne: int | None
    colonne: str | None
    valeur: str | None
    message: str
    gravite: str = ERREUR
    nature: str = "schema"

    def as_json(self) -> dict[str, Any]:
        return {
            "ligne": self.ligne,
            "colonne": self.colonne,
            "valeur": self.valeur,
            "message": self.message,
            "gravite": self.gravite,
            "nature": self.nature,
        }


@dataclass(frozen=True)
class SubmissionReport:
    """What the validator found in one file.

    ``valid``: no ``erreur`` problem; ``rows``: data rows read; ``hors_territoire``: at least one
    problem of nature ``territoire`` (the web app answers 403); ``sha256``: of the bytes validated
    (the store checks it); ``actions``: rows per action value.
    """

    valid: bool
    rows: int
    problems: list[Problem]
    hors_territoire: bool = False
    sha256: str = ""
    filename: str = ""
    actions: dict[str, int] = field(default_factory=dict)
    canonical: bytes | None = field(default=None, repr=False)
    """A valid file rewritten in the documented format when it was written otherwise (None:
    the bytes already are): what the store keeps for the catalogue."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.gravite == ERREUR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.gravite == AVERTISSEMENT]

    def as_json(self) -> dict[str, Any]:
        """``{"valide", "lignes", "problemes": [{"ligne","colonne","valeur","message","gravite","nature"}],
        "hors_territoire", "sha256", "fichier", "actions"}``."""
        return {
            "valide": self.valid,
            "lignes": self.rows,
            "problemes": [p.as_json() for p in self.problems],
            "hors_territoire": self.hors_territoire,
            "sha256": self.sha256,
            "fichier": self.filename,
            "actions": dict(self.actions),
        }


def submission_columns() -> list[str]:
    """The header of a submission file: ``action`` then the schema's fields minus the computed ones."""
    return ["action", *(name for name in field_names() if name not in COMPUTED_FIELDS)]


def territory_code(resolver: GeoResolver, territory: str) -> str | None:
    """The schema code of a collectivité: a SIREN (commune or EPCI), ``DEP-xx``, ``REG-xx``,
    ``COM-…`` or ``EPCI-…``; None when the referential knows no such territory."""
    text = (territory or "").strip() if isinstance(territory, str) else ""
    if not _TERRITORY_ID.fullmatch(text):
        return None
    if text.isdigit():  # a SIREN: the EPCI's, or a commune's (ref_communes.siren)
        resolution = resolver.resolve(text)
        if (
            resolution.status == RESOLVED
            and len(resolution.codes) == 1
            and resolution.codes[0].split("-")[0] in ("COM", "EPCI")
        ):
            return resolution.codes[0]
        return None
    return text if resolver.is_known(text) else None


# --------------------------------------------------------------------------- the report under construction


class _Problems:
    """Collects problems, all of them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(
        self,
        ligne: int | None,
        colonne: str | None,
        valeur: Any,
        message: str,
        gravite: str = ERREUR,
        nature: str = "schema",
    ) -> None:
        text = None if valeur is None else str(valeur)
        if text is not None and len(text) > _VALUE_MAX:
            text = text[: _VALUE_MAX - 1] + "…"
        self.items.append(Problem(ligne, colonne, text, message, gravite, nature))

    def sorted(self) -> list[Problem]:
        """Every problem once, the whole file's first, then by line and column: all of them, so
        that a file with 25,000 errors says 25,000 (the web app pages them, the CSV lists them)."""
        ordered = sorted(self.items, key=lambda p: (p.ligne is not None, p.ligne or 0, p.colonne or "", p.message))
        return list(dict.fromkeys(ordered))


def _report(
    problems: _Problems, rows: int, digest: str, filename: str, actions: dict[str, int] | None = None
) -> SubmissionReport:
    items = problems.sorted()
    return SubmissionReport(
        valid=not any(p.gravite == ERREUR for p in items),
        rows=rows,
        problems=items,
        hors_territoire=any(p.nature == "territoire" for p in items),
        sha256=digest,
        filename=filename,
        actions=actions or {},
    )


# --------------------------------------------------------------------------- bytes → text


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "un classeur OpenDocument (.ods) ou une archive, ni un fichier CSV ni un classeur Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "un classeur Excel ancien format (.xls), pas un fichier CSV"),
    (b"%PDF", "un document PDF, pas un fichier CSV"),
    (b"\x1f\x8b", "une archive compressée (gzip), pas un fichier CSV"),
)


def _not_text(content: bytes, problems: _Problems) -> bool:
    """Spreadsheets, PDFs, UTF-16 and other binary content: one precise error, True."""
    for magic, what in _MAGIC:
        if content.startswith(magic):
            problems.add(None, None, None, f"ce fichier est {what} : {_SAVE_AS_CSV}.", nature="binaire")
            return True
    if has_utf16_bom(content):
        problems.add(
            None,
            None,
            None,
            f"fichier encodé en UTF-16 (« Texte Unicode » d'Excel) : enregistrez-le en CSV UTF-8 : {_SAVE_AS_CSV}.",
            nature="encodage",
        )
        return True
    if looks_binary(content):
        problems.add(
            None,
            None,
            None,
            f"ce fichier n'est pas un fichier CSV (contenu binaire, illisible comme du texte) : {_SAVE_AS_CSV}.",
            nature="binaire",
        )
        return True
    return False


def _line_of(text: str) -> int:
    """1-based number of the physical line at the end of ``text`` (\\r\\n, \\r, \\n end lines)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n") + 1


def _decode(content: bytes, problems: _Problems) -> str:
    """UTF-8 text (a BOM is fine); a file entirely in Windows-1252 / Latin-1 (Excel's « CSV
    (séparateur : point-virgule) ») is read as such, with a warning saying so; a file mixing
    both is an error naming the first line concerned (its accents cannot be read for sure)."""
    body, _bom = strip_bom(content)
    try:
        return strict_utf8(content)
    except UnicodeDecodeError as exc:  # its offsets count from after the BOM, as in body
        before = body[: exc.start].decode("utf-8", "replace")
        line = _line_of(before)
        text, how = decode(body)
        excerpt = physical_lines(text)[line - 1].rstrip("\r\n") if line <= len(physical_lines(text)) else ""
        if how in ("cp1252", "latin-1", "windows-1252", "iso-8859-1", "iso8859_1"):
            problems.add(
                None,
                None,
                None,
                "fichier lu en Windows-1252 (l'encodage d'Excel sous Windows) : vérifiez que les accents "
                "s'affichent correctement dans ce rapport ; l'UTF-8 évite toute ambiguïté.",
                AVERTISSEMENT,
                "encodage",
            )
            return text
        problems.add(
            line,
            None,
            excerpt,
            f"encodage mélangé : dès la ligne {line}, des caractères ne sont pas en UTF-8 alors que d'autres "
            "le sont ; les accents ne peuvent pas être lus sûrement. "
            f"Enregistrez le fichier en UTF-8 : {_SAVE_AS_CSV}.",
            nature="encodage",
        )
        return text


# --------------------------------------------------------------------------- text → records


@dataclass
class _Parsed:
    header: list[str]
    header_line: int
    delimiter: str
    records: list[tuple[int, list[str]]]  # (line where the record starts, cells)


def _parse(text: str, problems: _Problems) -> _Parsed | None:
    lines = physical_lines(text)
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is None:
        problems.add(
            None,
            None,
            None,
            f"le fichier est vide : il doit commencer par la ligne d'en-tête ({','.join(submission_columns())}).",
            nature="vide",
        )
        return None
    if first > 0:
        problems.add(
            first + 1,
            None,
            None,
            f"{first} ligne(s) vide(s) avant l'en-tête : l'en-tête doit être la "
            "ligne 1 ; supprimez les lignes vides du début.",
            nature="csv",
        )
    sep = re.fullmatch(r"\s*sep=([,;\t|])\s*", lines[first])
    forced = None
    if sep:
        problems.add(
            first + 1,
            None,
            lines[first].strip(),
            f"ligne « {lines[first].strip()} » (ajoutée par Excel) avant l'en-tête : ignorée.",
            AVERTISSEMENT,
            "csv",
        )
        forced = sep.group(1)
        first += 1
        if first >= len(lines) or not lines[first].strip():
            problems.add(None, None, None, "le fichier n'a pas de ligne d'en-tête.", nature="vide")
            return None
    delimiter = forced or sniff_delimiter(lines[first])
    if delimiter != ",":
        problems.add(
            None,
            None,
            None,
            f"colonnes séparées par des {_DELIMITER_NAMES.get(delimiter, repr(delimiter))} (et non des virgules) : "
            "le fichier est lu ainsi.",
            AVERTISSEMENT,
            "delimiteur",
        )
    reader = csv.reader(iter(lines[first:]), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    consumed = 0
    while True:
        start = first + consumed + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(
                start,
                None,
                lines[start - 1].rstrip("\r\n") if start <= len(lines) else None,
                f"CSV illisible à partir de la ligne {start} ({_csv_reason(exc)}) : vérifiez les guillemets "
                "de cette ligne ; une cellule qui contient une virgule, un guillemet ou un retour à la "
                "ligne s'écrit entre guillemets doubles, un guillemet à l'intérieur se double (\"\").",
                nature="csv",
            )
            break
        consumed = reader.line_num
        if header is None:
            header = cells
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells as spreadsheets leave at the end
        records.append((start, cells))
    if header is None:
        problems.add(None, None, None, "le fichier n'a pas de ligne d'en-tête.", nature="vide")
        return None
    return _Parsed([name.strip() for name in header], first + 1, delimiter, records)


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return "guillemet ouvert jamais fermé"
    if "expected" in text and "after" in text:
        return "guillemet suivi d'autre chose qu'un séparateur"
    if "field larger than field limit" in text:
        return "cellule trop longue"
    return text


def _check_header(parsed: _Parsed, problems: _Problems) -> dict[str, int]:
    """Column name → position, for the expected columns present; problems for the others."""
    expected = submission_columns()
    line = parsed.header_line
    positions: dict[str, int] = {}
    seen: Counter[str] = Counter(parsed.header)
    for name, count in seen.items():
        if count > 1 and name:
            problems.add(
                line,
                name,
                name,
                f"la colonne « {name} » apparaît {count} fois dans l'en-tête : gardez-en une seule.",
                nature="colonnes",
            )
    folded = {fold(name): name for name in expected}
    for position, name in enumerate(parsed.header):
        if name in expected:
            positions.setdefault(name, position)
        elif name in COMPUTED_FIELDS:
            problems.add(
                line,
                name,
                name,
                f"colonne « {name} » ignorée : elle est calculée par le catalogue ; vous pouvez la supprimer.",
                AVERTISSEMENT,
                "colonnes",
            )
        elif not name:
            problems.add(
                line,
                None,
                None,
                f"la colonne n° {position + 1} n'a pas de nom : nommez-la ou supprimez-la.",
                nature="colonnes",
            )
        elif fold(name) in folded and folded[fold(name)] not in parsed.header:
            column = folded[fold(name)]
            if column not in positions:
                positions[column] = position
                problems.add(
                    line,
                    column,
                    name,
                    f"colonne « {name} » lue comme « {column} » (nom du schéma).",
                    AVERTISSEMENT,
                    "colonnes",
                )
            else:
                problems.add(
                    line,
                    name,
                    name,
                    f"la colonne « {column} » apparaît deux fois dans l'en-tête (« {name} ») : gardez-en une seule.",
                    nature="colonnes",
                )
        else:
            problems.add(
                line,
                name,
                name,
                f"colonne inconnue « {name} » : supprimez-la ou corrigez son nom "
                f"(colonnes attendues : {', '.join(expected)}).",
                nature="colonnes",
            )
    for name in expected:
        if name not in positions and _column_required(name):
            problems.add(
                line,
                name,
                None,
                f"colonne manquante : « {name} » ; ajoutez-la à l'en-tête (le schéma l'exige).",
                nature="colonnes",
            )
    return positions


def _column_required(name: str) -> bool:
    """``action`` and the schema's required fields must have a column; an optional field's column
    may be absent (read as empty), so that a file made before the field existed stays valid."""
    return name == "action" or published_field(name).required


# --------------------------------------------------------------------------- the table


def _load(conn: duckdb.DuckDBPyConnection, parsed: _Parsed, positions: dict[str, int], problems: _Problems) -> int:
    """Rows of the right width into table ``raw`` (VARCHAR columns + ``_ligne``); returns rows read."""
    width = len(parsed.header)
    lines: list[int] = []
    columns: dict[str, list[str | None]] = {name: [] for name in positions}
    for start, cells in parsed.records:
        if len(cells) != width:
            problems.add(
                start,
                None,
                parsed.delimiter.join(cells),
                f"ligne {start} : {len(cells)} cellules au lieu de {width} (une par colonne de l'en-tête) : "
                "vérifiez les séparateurs et les guillemets de cette ligne.",
                nature="csv",
            )
            continue
        lines.append(start)
        for name, position in positions.items():
            columns[name].append(cells[position])
    arrays = {"_ligne": pa.array(lines, pa.int64())}
    arrays.update({name: pa.array(values, pa.string()) for name, values in columns.items()})
    conn.register("raw_arrow", pa.table(arrays))
    conn.execute("CREATE TABLE raw AS SELECT * FROM raw_arrow")
    conn.unregister("raw_arrow")
    # The table the checks read: the quote neutralising a formula removed (as the releases write
    # it), empty cells as NULL.
    cleaned = ", ".join(
        f"NULLIF(CASE WHEN regexp_matches({_q(name)}, {_lit(NEUTRALISED_PATTERN)}) THEN substr({_q(name)}, 2) "
        f"ELSE {_q(name)} END, '') AS {_q(name)}"
        for name in positions
    )
    conn.execute(f"CREATE TABLE t AS SELECT _ligne{', ' + cleaned if cleaned else ''} FROM raw")
    return len(parsed.records)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return conn.execute(sql, params or []).fetchall()


# --------------------------------------------------------------------------- checks


def _check_formulas(conn: duckdb.DuckDBPyConnection, columns: list[str], problems: _Problems) -> set[tuple[int, str]]:
    """Cells a spreadsheet would run as a formula; returns their (line, column)."""
    if not columns:
        return set()
    union = " UNION ALL ".join(
        f"SELECT _ligne, {_lit(name)} AS col, {_q(name)} AS value FROM raw "
        f"WHERE regexp_matches({_q(name)}, {_lit(FORMULA_START_PATTERN)})"
        for name in columns
    )
    found = set()
    for line, column, value in _rows(conn, union + " ORDER BY 1, 2"):
        first = {"\t": "une tabulation", "\r": "un retour chariot"}.get(value[0], f"« {value[0]} »")
        hint = " ; pour une liste à puces, utilisez « • »" if value[0] == "-" else ""
        problems.add(
            line,
            column,
            value,
            f"formule interdite : la cellule commence par {first}, un tableur l'exécuterait comme une "
            f"formule. Mettez une apostrophe devant ('{value[:12]}…) ou reformulez{hint}.",
            nature="formule",
        )
        found.add((line, column))
    return found


# --------------------------------------------------------------------------- values as agents write them

_URL = r"^https?://.+"


def _readers(present: set[str]) -> list[tuple[str, str, str, Callable[[str], interpret.Reading]]]:
    """(column, SQL predicate true when a cell may not be canonical, nature, reader) for the
    columns whose values are interpreted (choices are filtered again in Python)."""
    columns: list[tuple[str, str, str, Callable[[str], interpret.Reading]]] = []
    choices = set(interpret.choice_fields())
    for item in published_fields():
        name = item.name
        if name not in present or name in COMPUTED_FIELDS:
            continue
        cell = f"trim({_q(name)})"
        if item.type == "datetime":
            columns.append((name, f"NOT regexp_full_match({cell}, {_lit(_DATETIME)})", "date", interpret.read_datetime))
        elif item.type in ("number", "integer"):
            integer, unit = item.type == "integer", interpret.field_unit(name)
            pattern = r"^\d+$" if integer else r"^\d+(\.\d+)?$"
            columns.append(
                (
                    name,
                    f"NOT regexp_full_match({cell}, {_lit(pattern)})",
                    "nombre",
                    functools.partial(interpret.read_number, integer=integer, unit=unit),
                )
            )
        elif name in choices:
            columns.append((name, "true", "valeur", functools.partial(interpret.read_choice, name)))
        elif item.format == "uri":
            columns.append((name, f"NOT regexp_full_match({cell}, {_lit(_URL)})", "lien", interpret.read_url))
    return columns


def _interpret(conn: duckdb.DuckDBPyConnection, present: set[str], problems: _Problems) -> set[tuple[int, str]]:
    """Read each value written another way than the schema's (module ``interpret``): readable
    ones are rewritten in tables ``raw`` and ``t``, each with a warning saying how it was read;
    the others are errors saying what to write. Works on distinct values, applied by joins.
    Returns the (line, column) cells that got an error (no second, vaguer message for them)."""
    handled: set[tuple[int, str]] = set()
    if "action" in present:
        _interpret_actions(conn, problems)
    for name, predicate, nature, reader in _readers(present):
        values = [
            value
            for (value,) in _rows(
                conn, f"SELECT DISTINCT {_q(name)} FROM t WHERE {_q(name)} IS NOT NULL AND {predicate}"
            )
            if nature != "valeur" or not interpret.canonical_choice(name, value)
        ]
        if not values:
            continue
        readings = {value: reader(value) for value in values}
        table = pa.table(
            {
                "value": list(readings),
                "canonical": pa.array([r.value for r in readings.values()], pa.string()),
                "message": [r.message for r in readings.values()],
            }
        )
        conn.register("readings", table)
        try:
            for line, value, canonical, message in _rows(
                conn,
                f"SELECT _ligne, {_q(name)}, canonical, message FROM t JOIN readings r ON t.{_q(name)} = r.value "
                "ORDER BY 1",
            ):
                if canonical is None:
                    problems.add(line, name, value, message, nature=nature)
                    handled.add((line, name))
                elif canonical != value:
                    problems.add(line, name, value, message, AVERTISSEMENT, "interpretation")
            read = (
                f"SELECT t._ligne, r.canonical FROM t JOIN readings r ON t.{_q(name)} = r.value "
                "WHERE r.canonical IS NOT NULL"
            )
            conn.execute(f"UPDATE raw SET {_q(name)} = x.canonical FROM ({read}) x WHERE raw._ligne = x._ligne")
            conn.execute(f"UPDATE t SET {_q(name)} = x.canonical FROM ({read}) x WHERE t._ligne = x._ligne")
        finally:
            conn.unregister("readings")
    return handled


def _interpret_actions(conn: duckdb.DuckDBPyConnection, problems: _Problems) -> None:
    """``Ajout``, `` CORRECTION `` → ``ajout``, ``correction``, with a warning; unknown values are
    left to :func:`_check_actions`."""
    cases = " ".join(f"WHEN lower(trim(action)) = {_lit(a)} THEN {_lit(a)}" for a in ACTIONS)
    read = f"CASE {cases} END"
    for line, value, canonical in _rows(
        conn, f"SELECT _ligne, action, {read} FROM t WHERE action IS DISTINCT FROM {read} AND {read} IS NOT NULL"
    ):
        problems.add(line, "action", value, f"lu « {value} » comme « {canonical} ».", AVERTISSEMENT, "interpretation")
    for table in ("raw", "t"):
        conn.execute(f"UPDATE {table} SET action = {read} WHERE {read} IS NOT NULL")


def _check_actions(conn: duckdb.DuckDBPyConnection, present: set[str], problems: _Problems) -> dict[str, int]:
    if "action" not in present:
        return {}
    allowed = ", ".join(_lit(a) for a in ACTIONS)
    for line, value in _rows(
        conn,
        f"SELECT _ligne, action FROM t WHERE action IS NULL OR trim(action) = '' "
        f"OR trim(action) NOT IN ({allowed}) ORDER BY 1",
    ):
        if value is None or not value.strip():
            problems.add(
                line,
                "action",
                value,
                "action manquante : écrivez ajout, correction ou retrait (ou "
                "supprimez la ligne si l'aide ne change pas).",
                nature="action",
            )
        else:
            closest = interpret.closest_action(value, ACTIONS)
            hint = f"vouliez-vous dire « {closest} » ? " if closest else ""
            problems.add(
                line,
                "action",
                value,
                f"action « {value} » inconnue : {hint}écrivez ajout, correction ou retrait.",
                nature="action",
            )
    counts = _rows(conn, f"SELECT trim(action), count(*) FROM t WHERE trim(action) IN ({allowed}) GROUP BY 1")
    return {action: int(n) for action, n in counts}


def _action(present: set[str]) -> str:
    return "trim(action)" if "action" in present else "NULL"


def _check_ids(conn: duckdb.DuckDBPyConnection, present: set[str], has_catalogue: bool, problems: _Problems) -> None:
    if "id" not in present:
        return
    action = _action(present)
    for line, kind in _rows(
        conn,
        f"SELECT _ligne, {action} FROM t WHERE id IS NULL OR trim(id) = '' "
        f"AND {action} IN ('correction', 'retrait') ORDER BY 1",
    ):
        if kind in ("correction", "retrait"):
            article = "une" if kind == "correction" else "un"
            problems.add(
                line,
                "id",
                None,
                f"identifiant manquant : {article} {kind} désigne une aide du catalogue "
                "par son id (colonne id du fichier pré-rempli).",
                nature="identifiant",
            )
    if not has_catalogue:
        return
    for line, value, kind in _rows(
        conn,
        f"SELECT _ligne, id, {action} FROM t WHERE id IS NOT NULL AND "
        f"(({action} IN ('correction', 'retrait') AND lower(trim(id)) NOT IN (SELECT id FROM catalogue_geo)) OR "
        f"({action} = 'ajout' AND lower(trim(id)) IN (SELECT id FROM catalogue_geo))) ORDER BY 1",
    ):
        if kind == "ajout":
            problems.add(
                line,
                "id",
                value,
                "cet identifiant est déjà celui d'une aide du catalogue : pour la "
                "modifier, écrivez l'action correction ; pour une aide nouvelle, "
                "laissez id vide.",
                nature="identifiant",
            )
        else:
            article = "une" if kind == "correction" else "un"
            problems.add(
                line,
                "id",
                value,
                f"identifiant inconnu du catalogue : {article} {kind} porte sur une "
                "aide publiée ; reprenez son id dans le fichier pré-rempli.",
                nature="identifiant",
            )


def _register_catalogue(conn: duckdb.DuckDBPyConnection, catalogue: Mapping[str, Sequence[str]]) -> None:
    """Table ``catalogue_geo(id, code)``: one row per aid and code (code NULL for an aid without any)."""
    ids: list[str] = []
    codes: list[str | None] = []
    for aid_id, geo in catalogue.items():
        stated: list[str | None] = [str(c) for c in (geo or ()) if c] or [None]
        ids.extend([str(aid_id).lower()] * len(stated))
        codes.extend(stated)
    conn.register("catalogue_arrow", pa.table({"id": pa.array(ids, pa.string()), "code": pa.array(codes, pa.string())}))
    conn.execute("CREATE TABLE catalogue_geo AS SELECT * FROM catalogue_arrow")
    conn.unregister("catalogue_arrow")


def _check_duplicates(conn: duckdb.DuckDBPyConnection, present: set[str], problems: _Problems) -> set[int]:
    """Identical rows, ids used twice, id-less additions with the same title; returns the lines that
    repeat an earlier line exactly (their other problems are those of the first one: not repeated)."""
    columns = sorted(present)
    if not columns:
        return set()
    everything = ", ".join(_q(c) for c in columns)
    identical = _rows(
        conn,
        f"SELECT _ligne, first_line FROM (SELECT _ligne, min(_ligne) OVER (PARTITION BY "
        f"{everything}) AS first_line FROM t) WHERE _ligne > first_line ORDER BY 1",
    )
    repeated = {line for line, _first in identical}
    for line, first_line in identical:
        problems.add(
            line, None, None, f"ligne en double : identique à la ligne {first_line} ; supprimez-la.", nature="doublon"
        )
    if "id" in present:
        for line, value, first_line in _rows(
            conn,
            "SELECT _ligne, id, first_line FROM (SELECT _ligne, id, min(_ligne) OVER (PARTITION BY "
            "lower(trim(id))) AS first_line FROM t WHERE id IS NOT NULL) WHERE _ligne > first_line ORDER BY 1",
        ):
            if line not in repeated:
                problems.add(
                    line,
                    "id",
                    value,
                    f"identifiant déjà utilisé ligne {first_line} : une aide n'apparaît qu'une fois par fichier.",
                    nature="doublon",
                )
    if "titre" in present and "id" in present and "action" in present:
        for line, value, first_line in _rows(
            conn,
            "SELECT _ligne, titre, first_line FROM (SELECT _ligne, titre, min(_ligne) OVER (PARTITION BY "
            "lower(trim(titre))) AS first_line FROM t WHERE id IS NULL AND trim(action) = 'ajout' "
            "AND titre IS NOT NULL) WHERE _ligne > first_line ORDER BY 1",
        ):
            if line not in repeated:
                problems.add(
                    line,
                    "titre",
                    value,
                    f"même titre que l'aide ajoutée ligne {first_line}, toutes deux "
                    "sans identifiant : donnez-leur des id distincts (UUID) ou des "
                    "titres distincts.",
                    nature="doublon",
                )
    return repeated


def _check_dates(conn: duckdb.DuckDBPyConnection, present: set[str], problems: _Problems) -> set[tuple[int, str]]:
    """A closing date before the opening date (other date problems are :func:`_interpret`'s)."""
    handled: set[tuple[int, str]] = set()
    if {"date_ouverture", "date_cloture"} <= present:
        for line, opening, closing in _rows(
            conn,
            "SELECT _ligne, date_ouverture, date_cloture FROM t WHERE TRY_CAST(trim(date_cloture) AS TIMESTAMPTZ) "
            "< TRY_CAST(trim(date_ouverture) AS TIMESTAMPTZ) "
            f"AND regexp_full_match(trim(date_cloture), {_lit(_DATETIME)}) "
            f"AND regexp_full_match(trim(date_ouverture), {_lit(_DATETIME)}) ORDER BY 1",
        ):
            problems.add(
                line,
                "date_cloture",
                closing,
                f"la date de clôture ({closing}) précède la date d'ouverture ({opening}) : vérifiez les deux dates.",
                nature="date",
            )
    return handled


_FLAG_LABELS = {
    "arrondissement_municipal": "c'est un arrondissement municipal",
    "commune_deleguee": "c'est une commune déléguée",
    "commune_associee": "c'est une commune associée",
    "ancien_code": "c'est l'ancien code d'une commune fusionnée",
    "code_sans_zero": "zéro initial manquant",
    "collectivite_outre_mer": "collectivité d'outre-mer",
    "code_departement": "c'est un département",
}


def _geo_token_message(resolver: GeoResolver, token: str, budget: list[int]) -> str | None:
    """Why one token of a geography cell is wrong (French); None when it is a known code."""
    stripped = token.strip()
    if not stripped:
        return (
            "code vide : deux « | » se suivent, ou la cellule commence ou finit par « | » ; "
            "séparez les codes par un seul « | »."
        )
    if _ONE_CODE.fullmatch(token):
        if resolver.is_known(token):
            return None
        resolution = resolver.resolve(token)
        if resolution.status == RESOLVED and resolution.codes and list(resolution.codes) != [token]:
            flags = [_FLAG_LABELS.get(flag, flag.replace("_", " ")) for flag in resolution.flags]
            why = f" ({', '.join(flags)})" if flags else ""
            return f"{token} n'est pas le code d'un territoire actuel{why} : écrivez {'|'.join(resolution.codes)}."
        return f"code {token} inconnu du référentiel géographique (Code officiel géographique) : vérifiez-le."
    suggestion = None
    if budget[0] > 0 and len(stripped) <= 100:
        budget[0] -= 1
        resolution = resolver.resolve(stripped)
        if resolution.status == RESOLVED and resolution.codes:
            suggestion = "|".join(resolution.codes)
    if suggestion and suggestion != token:
        return f"« {token} » n'est pas écrit comme un code du schéma : écrivez {suggestion}."
    return (
        f"« {token} » n'est pas un code géographique du schéma : écrivez NIVEAU-CODE, par exemple "
        "COM-75056 (commune), EPCI-200046977 (EPCI), DEP-69, REG-84, PAYS-99100 ; plusieurs codes séparés "
        "par « | »."
    )


def _check_geography(
    conn: duckdb.DuckDBPyConnection, present: set[str], resolver: GeoResolver, problems: _Problems
) -> set[tuple[int, str]]:
    """Every code of the two geography columns must be a known schema code; returns the cells concerned."""
    handled: set[tuple[int, str]] = set()
    budget = [_RESOLVE_MAX]
    for name in GEO_FIELDS:
        if name not in present:
            continue
        tokens = [
            v
            for (v,) in _rows(
                conn, f"SELECT DISTINCT unnest(string_split({_q(name)}, '|')) FROM t WHERE {_q(name)} IS NOT NULL"
            )
        ]
        messages = {token: message for token in tokens if (message := _geo_token_message(resolver, token, budget))}
        if not messages:
            continue
        conn.register("geo_messages", pa.table({"token": list(messages), "message": list(messages.values())}))
        try:
            for line, token, message in _rows(
                conn,
                f"SELECT DISTINCT _ligne, token, message FROM (SELECT _ligne, unnest(string_split({_q(name)}, "
                f"'|')) AS token FROM t WHERE {_q(name)} IS NOT NULL) JOIN geo_messages USING (token) ORDER BY 1",
            ):
                problems.add(line, name, token, message, nature="geographie")
                handled.add((line, name))
        finally:
            conn.unregister("geo_messages")
    return handled


def _check_territory(
    conn: duckdb.DuckDBPyConnection,
    present: set[str],
    resolver: GeoResolver,
    territory: str,
    has_catalogue: bool,
    problems: _Problems,
) -> None:
    """Every code of eligibilite_geographique must cover only communes of the collectivité's territory."""
    code = territory_code(resolver, territory)
    if code is None:
        problems.add(
            None,
            None,
            territory,
            f"collectivité inconnue du référentiel : « {territory} » (attendu : le "
            "SIREN d'une commune ou d'un EPCI, ou DEP-xx / REG-xx).",
            nature="territoire",
        )
        return
    mine = frozenset(resolver.commune_codes(code))
    label = resolver.label(code)
    cache: dict[str, bool] = {}

    def inside(geo: str) -> bool:
        if geo not in cache:
            communes = resolver.commune_codes(geo) if resolver.is_known(geo) else []
            cache[geo] = bool(communes) and mine.issuperset(communes)
        return cache[geo]

    name = "eligibilite_geographique"
    if name in present:
        tokens = [
            v
            for (v,) in _rows(
                conn, f"SELECT DISTINCT unnest(string_split({_q(name)}, '|')) FROM t WHERE {_q(name)} IS NOT NULL"
            )
        ]
        outside = [t for t in tokens if resolver.is_known(t) and not inside(t)]
        if outside:
            conn.register("outside", pa.table({"token": outside}))
            try:
                for line, token in _rows(
                    conn,
                    f"SELECT DISTINCT _ligne, token FROM (SELECT _ligne, unnest(string_split({_q(name)}, '|')) "
                    "AS token FROM t WHERE eligibilite_geographique IS NOT NULL) JOIN outside USING (token) "
                    "ORDER BY 1, 2",
                ):
                    problems.add(
                        line,
                        name,
                        token,
                        f"{resolver.label(token)} est hors du territoire de la "
                        f"collectivité, {label} : vous ne pouvez soumettre que des aides "
                        "de votre territoire.",
                        nature="territoire",
                    )
            finally:
                conn.unregister("outside")
    if "id" not in present:
        return
    action = _action(present)
    changes = f"SELECT _ligne, trim(id) AS id, {action} AS action FROM t WHERE {action} IN ('correction', 'retrait')"
    if has_catalogue:  # the aid's current geography, as the catalogue has it, must be inside too
        current = [
            c
            for (c,) in _rows(
                conn,
                f"SELECT DISTINCT c.code FROM ({changes}) r JOIN catalogue_geo c "
                "ON lower(r.id) = c.id WHERE c.code IS NOT NULL",
            )
        ]
        conn.register("outside", pa.table({"code": pa.array([c for c in current if not inside(c)], pa.string())}))
        try:
            for line, aid_id, wrong in _rows(
                conn,
                f"SELECT r._ligne, r.id, list(DISTINCT c.code ORDER BY c.code) FROM ({changes}) r "
                "JOIN catalogue_geo c ON lower(r.id) = c.id JOIN outside USING (code) GROUP BY ALL ORDER BY 1",
            ):
                problems.add(
                    line,
                    "id",
                    aid_id,
                    f"l'aide {aid_id} couvre au catalogue "
                    f"{', '.join(resolver.label(c) for c in wrong[:5])}, hors du "
                    f"territoire de la collectivité, {label} : vous ne pouvez la "
                    "modifier ni la retirer.",
                    nature="territoire",
                )
        finally:
            conn.unregister("outside")
    known = "lower(r.id) IN (SELECT id FROM catalogue_geo)" if has_catalogue else "false"
    stated = f"t.{_q(name)} IS NULL" if name in present else "true"
    for line, kind in _rows(
        conn,
        f"SELECT r._ligne, r.action FROM ({changes}) r JOIN t USING (_ligne) "
        f"WHERE r.id <> '' AND {stated} AND NOT {known} ORDER BY 1",
    ):
        problems.add(
            line,
            name,
            None,
            f"{kind} sans eligibilite_geographique : indiquez la couverture "
            "géographique de l'aide pour qu'on vérifie qu'elle relève de votre "
            "territoire.",
            nature="territoire",
        )


def _schema_for(withdrawal: bool, present: set[str]) -> dict[str, Any]:
    """The published schema for a submission row: computed and absent fields out, ``id`` neither required
    nor unique (checked here with precise messages), nothing else required for a ``retrait``."""
    schema = copy.deepcopy(load_schema())
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in COMPUTED_FIELDS and f["name"] in present]
    for item in schema["fields"]:
        constraints = item.get("constraints", {})
        constraints.pop("unique", None)
        if item["name"] == "id" or withdrawal:
            constraints.pop("required", None)
    return schema


def _check_schema(
    conn: duckdb.DuckDBPyConnection, present: set[str], skip: set[tuple[int, str]], problems: _Problems
) -> None:
    action = _action(present)
    conn.execute(f"CREATE VIEW t_retrait AS SELECT * FROM t WHERE {action} = 'retrait'")
    conn.execute(f"CREATE VIEW t_autres AS SELECT * FROM t WHERE {action} IS DISTINCT FROM 'retrait'")
    for view, withdrawal in (("t_autres", False), ("t_retrait", True)):
        for v in validate_relation(conn, view, "_ligne", _schema_for(withdrawal, present), limit=None):
            if (v.row, v.field) in skip:
                continue  # a more precise message was given for this cell
            problems.add(v.row, v.field, v.value, _plain_message(v.field, v.constraint, v.message), nature="schema")


def _plain_message(name: str, constraint: str, message: str) -> str:
    """What to write, in plain French: never the regular expression of a pattern."""
    item = published_field(name)
    if constraint == "required":
        return f"valeur obligatoire manquante : remplissez la colonne {name} ({item.title})."
    if constraint in ("pattern", "enum"):
        if item.values:
            several = " (plusieurs séparées par « | »)" if item.multi_valued else ""
            return f"valeur non autorisée ; valeurs possibles : {', '.join(item.values)}{several}."
        if item.format == "uri":
            return "adresse web attendue, complète, commençant par https:// (ou http://)."
        return f"valeur mal écrite pour la colonne {name} ({item.title}) : voir sa description dans le schéma."
    return f"{message}."


# --------------------------------------------------------------------------- entry point


def validate_submission(
    content: bytes,
    filename: str,
    resolver: GeoResolver,
    territory: str | None = None,
    max_bytes: int = MAX_BYTES,
    catalogue: Mapping[str, Sequence[str]] | None = None,
) -> SubmissionReport:
    """Validate one submitted file; never raises.

    ``territory``: the submitting collectivité (see the module docstring), None to skip the
    territory rule. ``catalogue``: optional ``{aid id: its eligibilite_geographique codes}``
    (:func:`catalogue_geography`); when given, ``correction`` / ``retrait`` ids must exist in it,
    ``ajout`` ids must not, and with ``territory`` the aid's current geography must lie within
    the territory too (one cannot correct or withdraw another territory's aid).
    """
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    data = bytes(content) if isinstance(content, (bytes, bytearray, memoryview)) else b""
    name = filename if isinstance(filename, str) else ""
    digest = hashlib.sha256(data).hexdigest()
    problems = _Problems()
    try:
        return _validate(data, name, digest, resolver, territory, max_bytes, catalogue, problems)
    except Exception as exc:  # noqa: BLE001 — the contract is "never raises": say so instead
        problems.add(
            None,
            None,
            None,
            f"erreur interne du validateur ({type(exc).__name__} : {exc}) : le fichier "
            "n'a pas pu être vérifié ; signalez-le à l'équipe du catalogue.",
            nature="interne",
        )
        return _report(problems, 0, digest, name)


def _validate(
    content: bytes,
    filename: str,
    digest: str,
    resolver: GeoResolver,
    territory: str | None,
    max_bytes: int,
    catalogue: Mapping[str, Sequence[str]] | None,
    problems: _Problems,
) -> SubmissionReport:
    if len(content) > max_bytes:
        problems.add(
            None,
            None,
            None,
            f"fichier trop volumineux : {_size(len(content))}, au plus {_size(max_bytes)} ; "
            "découpez-le en plusieurs fichiers.",
            nature="taille",
        )
        return _report(problems, 0, digest, filename)
    if not content.strip() or content.strip() == codecs.BOM_UTF8:
        problems.add(
            None,
            None,
            None,
            "le fichier est vide : il doit contenir la ligne d'en-tête puis une ligne par aide.",
            nature="vide",
        )
        return _report(problems, 0, digest, filename)
    if is_xlsx(content):
        parsed = _parse_xlsx(content, problems)
    elif _not_text(content, problems):
        return _report(problems, 0, digest, filename)
    else:
        parsed = _parse(_decode(content, problems), problems)
    if parsed is None:
        return _report(problems, 0, digest, filename)
    positions = _check_header(parsed, problems)
    if not parsed.records:
        if not any(p.nature == "csv" and p.ligne is not None and p.ligne > parsed.header_line for p in problems.items):
            problems.add(
                None, None, None, "aucune aide dans le fichier : il n'a que la ligne d'en-tête.", nature="vide"
            )
        return _report(problems, 0, digest, filename)
    conn = duckdb.connect(":memory:")
    canonical = None
    try:
        rows = _load(conn, parsed, positions, problems)
        present = set(positions)
        skip = _check_formulas(conn, list(positions), problems)
        skip |= _interpret(conn, present, problems)
        actions = _check_actions(conn, present, problems)
        if catalogue is not None:
            _register_catalogue(conn, catalogue)
        _check_ids(conn, present, catalogue is not None, problems)
        repeated = _check_duplicates(conn, present, problems)
        skip |= _check_dates(conn, present, problems)
        skip |= _check_geography(conn, present, resolver, problems)
        if territory is not None:
            _check_territory(conn, present, resolver, territory, catalogue is not None, problems)
        _check_schema(conn, present, skip, problems)
        if not any(p.gravite == ERREUR for p in problems.items) and any(
            p.gravite == AVERTISSEMENT and p.nature in _READ_OTHERWISE for p in problems.items
        ):
            canonical = _canonical_csv(conn, present)
    finally:
        conn.close()
    if repeated:
        problems.items = [p for p in problems.items if p.ligne not in repeated or p.nature == "doublon"]
    report = _report(problems, rows, digest, filename, actions)
    return dataclasses.replace(report, canonical=canonical)


_READ_OTHERWISE = frozenset({"interpretation", "encodage", "delimiteur", "colonnes", "classeur", "csv"})
"""Natures of the warnings saying the file was read otherwise than written: it is then stored as read."""


def _canonical_csv(conn: duckdb.DuckDBPyConnection, present: set[str]) -> bytes:
    """The file as the documented format writes it (UTF-8, commas, values as read): what the
    store keeps for the catalogue, the agent's own bytes being kept beside it."""
    columns = [name for name in submission_columns() if name in present]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    select = ", ".join(f"coalesce({_q(name)}, '')" for name in columns)
    writer.writerows(_rows(conn, f"SELECT {select} FROM raw ORDER BY _ligne"))
    return buffer.getvalue().encode("utf-8")


def _parse_xlsx(content: bytes, problems: _Problems) -> _Parsed | None:
    """The first worksheet as a CSV file's header and records (row numbers are Excel's)."""
    try:
        sheet, rows = read_xlsx(content)
    except SpreadsheetError as exc:
        problems.add(None, None, None, str(exc), nature="binaire")
        return None
    if not rows:
        problems.add(None, None, None, "le classeur est vide : sa première feuille n'a aucune ligne.", nature="vide")
        return None
    problems.add(
        None,
        None,
        None,
        f"classeur Excel : sa première feuille, « {sheet} », est lue (les autres sont ignorées).",
        AVERTISSEMENT,
        "classeur",
    )
    header_line, header = rows[0]
    width = len(header)
    records = [(line, cells + [""] * (width - len(cells))) for line, cells in rows[1:]]
    return _Parsed([name.strip() for name in header], header_line, ",", records)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} Mo".replace(".", ",")
    if n >= 1000:
        return f"{n / 1000:.0f} ko"
    return f"{n} octets"
