"""The data of the organisations referential (``warehouse/organisations/*.csv``), read as files.

Checks the shape of each CSV, the SIRENs (nine digits, Luhn, one organisation per SIREN), the
territory codes, that every SIREN said to be checked in a ``../shared`` file is there under the
same organisation's name, and that the names the real sources give to their financers and
operators (other than collectivités) are all covered by a row or a template.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from paths import AT_API, MTE, OFFICIAL_SCHEMA_DIR, REAL_SOURCES

from sources.folding import fold

DATA = Path(__file__).resolve().parents[1] / "warehouse" / "organisations"
AIDES_JEUNES_INSTITUTIONS = REAL_SOURCES / "aides-jeunes" / "data" / "institutions"

ORG_COLUMNS = ["nom", "siren", "type", "niveau", "perimetre", "alias", "verification"]
MODEL_COLUMNS = ["modele", "type", "niveau"]
ORG_TYPES = {"operateur_national", "etat", "agence_eau", "epf", "chambre", "europe", "autre"}
MODEL_TYPES = {"etat_deconcentre", "collectivite", "organisme_departemental", "organisme_regional"}

# Where a SIREN was checked: a file of ../shared (checked below), a Sirene record consulted outside
# ../shared (not checkable offline), or nothing but memory.
CHECKED_IN_MTE = "mission-transition-ecologique data_gouv_export.csv"
CHECKED_IN_AIDES_JEUNES = "aides-jeunes institutions"
CHECKED_IN_SCHEMA_EXAMPLE = "schema-dispositif-aide exemple.csv"
CHECKED_IN_SIRENE = "Sirene, recoupé hors ../shared"
NOT_CHECKED = "non vérifié"
VERIFICATIONS = {CHECKED_IN_MTE, CHECKED_IN_AIDES_JEUNES, CHECKED_IN_SCHEMA_EXAMPLE, CHECKED_IN_SIRENE, NOT_CHECKED}

LA_POSTE = "356000000"  # the one SIREN that fails the Luhn check
DEPARTEMENT = r"DEP-(?:0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-6])"
REGION = r"REG-(?:0[1-46]|11|24|27|28|32|44|52|53|75|76|84|93|94)"
PERIMETRE_OF_NIVEAU = {
    "national": re.compile(r"PAYS-FR"),
    "europe": re.compile(r"PAYS-FR"),
    "region": re.compile(rf"{REGION}(?:\|{REGION})*"),
    "departement": re.compile(rf"{DEPARTEMENT}(?:\|{DEPARTEMENT})*"),
}
METROPOLE = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}

# Names the sources use that designate no one organisation: left out of the referential on purpose.
NOT_AN_ORGANISATION = {
    "Agence de l'Eau",  # MTE programmes: one of the six agencies, which one is not said
    "CCI ou CMA",  # MTE programmes: either network
    "Les conseils départementaux",  # aides-jeunes: every département (fake SIREN 999999999)
    "Départements et métropoles de France",  # aides-jeunes: a grouping (fake SIREN 999999998)
}


def _read(name: str, columns: list[str]) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == columns, f"{name}: columns {reader.fieldnames}, expected {columns}"
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        assert None not in row and all(value is not None for value in row.values()), f"{name}:{number}: {row}"
    return rows


ORGANISATIONS = _read("organisations.csv", ORG_COLUMNS)
LOCAUX = _read("organismes_locaux.csv", ORG_COLUMNS)
MODELES = _read("modeles_departementaux.csv", MODEL_COLUMNS)
ALL_ORGS = [("organisations.csv", row) for row in ORGANISATIONS] + [("organismes_locaux.csv", row) for row in LOCAUX]


def _names(row: dict[str, str]) -> set[str]:
    return {fold(name) for name in [row["nom"], *row["alias"].split("|")] if name}


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _template_pattern(modele: str) -> re.Pattern[str]:
    """A template as a regular expression over folded names, each placeholder any non-empty text."""
    folded = fold(modele.replace("{nom}", " zzznomzzz ").replace("{de}", " zzzdezzz "))
    return re.compile(re.escape(folded).replace("zzznomzzz", ".+").replace("zzzdezzz", ".+"))


TEMPLATES = [_template_pattern(row["modele"]) for row in MODELES]
NAME_INDEX: dict[str, list[str]] = defaultdict(list)
for _, _row in ALL_ORGS:
    for _name in _names(_row):
        NAME_INDEX[_name].append(_row["nom"])


def _covered(name: str) -> bool:
    folded = fold(name)
    return folded in NAME_INDEX or any(pattern.fullmatch(folded) for pattern in TEMPLATES)


# --- the names each ../shared source gives to a SIREN


def _mte_porteurs() -> list[tuple[str, str]]:
    with (MTE / "data_gouv_export.csv").open(encoding="utf-8", newline="") as handle:
        return [
            (porteur["nom"], porteur.get("siren") or "")
            for row in csv.DictReader(handle)
            for porteur in json.loads(row["porteurs"] or "[]")
        ]


def _aides_jeunes_institutions() -> list[dict[str, str]]:
    return [
        yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(AIDES_JEUNES_INSTITUTIONS.glob("*.yml"))
    ]


def _schema_example_porteurs() -> list[tuple[str, str]]:
    text = (OFFICIAL_SCHEMA_DIR / "exemple.csv").read_text(encoding="utf-8")
    return re.findall(r"nom: '([^']+)', siren: '(\d{9})'", text)


def _names_by_siren(pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = defaultdict(set)
    for name, siren in pairs:
        if siren:
            names[siren].add(fold(name))
    return names


def _shared_names() -> dict[str, dict[str, set[str]]]:
    institutions = [(str(item["name"]), str(item.get("code_siren") or "")) for item in _aides_jeunes_institutions()]
    return {
        CHECKED_IN_MTE: _names_by_siren(_mte_porteurs()),
        CHECKED_IN_AIDES_JEUNES: _names_by_siren(institutions),
        CHECKED_IN_SCHEMA_EXAMPLE: _names_by_siren(_schema_example_porteurs()),
    }


def _same_organisation(source_names: set[str], row_names: set[str]) -> bool:
    """One of the source's names is one of the row's, or one holds the other as whole words."""
    return any(
        a == b or f" {a} " in f" {b} " or f" {b} " in f" {a} " for a in source_names for b in row_names if a and b
    )


# --- tests


@pytest.mark.parametrize(("file", "row"), ALL_ORGS, ids=lambda value: value if isinstance(value, str) else value["nom"])
def test_an_organisation_row_is_well_formed(file: str, row: dict[str, str]) -> None:
    assert row["nom"].strip() == row["nom"] and row["nom"], f"{file}: empty or padded name {row['nom']!r}"
    assert row["type"] in ORG_TYPES, f"{file}: {row['nom']}: type {row['type']!r}"
    assert row["niveau"] in PERIMETRE_OF_NIVEAU, f"{file}: {row['nom']}: niveau {row['niveau']!r}"
    assert PERIMETRE_OF_NIVEAU[row["niveau"]].fullmatch(row["perimetre"]), (
        f"{file}: {row['nom']}: perimetre {row['perimetre']!r} is not a list of codes of niveau {row['niveau']}"
    )
    codes = row["perimetre"].split("|")
    assert len(codes) == len(set(codes)), f"{file}: {row['nom']}: a code repeated in {row['perimetre']}"
    assert (row["type"] == "europe") == (row["niveau"] == "europe"), f"{file}: {row['nom']}: europe is type and niveau"
    aliases = row["alias"].split("|") if row["alias"] else []
    assert all(alias.strip() == alias and alias for alias in aliases), f"{file}: {row['nom']}: empty alias"
    if row["siren"]:
        assert re.fullmatch(r"\d{9}", row["siren"]), f"{file}: {row['nom']}: SIREN {row['siren']!r}"
        assert _luhn(row["siren"]) or row["siren"] == LA_POSTE, f"{file}: {row['nom']}: {row['siren']} fails Luhn"
        assert row["verification"] in VERIFICATIONS, f"{file}: {row['nom']}: verification {row['verification']!r}"
    else:
        assert row["verification"] == "", f"{file}: {row['nom']}: a verification without a SIREN"


def test_one_organisation_per_siren() -> None:
    noms: dict[str, set[str]] = defaultdict(set)
    for _, row in ALL_ORGS:
        if row["siren"]:
            noms[row["siren"]].add(fold(row["nom"]))
    shared = {siren: names for siren, names in noms.items() if len(names) > 1}
    assert not shared, f"SIRENs given to different organisations: {shared}"


def test_one_organisation_per_name() -> None:
    ambiguous = {name: noms for name, noms in NAME_INDEX.items() if len(set(noms)) > 1}
    assert not ambiguous, f"names (folded) given to several organisations: {ambiguous}"


def test_a_siren_said_checked_in_a_shared_file_is_there_under_the_organisations_name() -> None:
    shared = _shared_names()
    checked = 0
    for file, row in ALL_ORGS:
        source = shared.get(row["verification"])
        if source is None:
            continue
        checked += 1
        assert row["siren"] in source, f"{file}: {row['nom']}: {row['siren']} is not in {row['verification']}"
        assert _same_organisation(source[row["siren"]], _names(row)), (
            f"{file}: {row['nom']}: {row['verification']} gives {row['siren']} to {sorted(source[row['siren']])}"
        )
    assert checked >= 30


def test_the_two_bpifrance_are_told_apart() -> None:
    by_siren = {row["siren"]: row["nom"] for _, row in ALL_ORGS if row["siren"]}
    assert by_siren["320252489"] == "Bpifrance"  # the SA, the bank: the schema's example
    assert by_siren["483790069"] == "EPIC Bpifrance"  # the EPIC, its shareholder: MTE's export
    assert NAME_INDEX[fold("BPIFRANCE")] == ["Bpifrance"]


@pytest.mark.parametrize(
    "name",
    [
        "ADEME",
        "Anah",
        "Bpifrance",
        "EPIC Bpifrance",
        "Banque des Territoires",
        "Caisse des Dépôts",
        "ANCT",
        "Cerema",
        "Agence de services et de paiement",
        "Commission européenne",
        "Office français de la biodiversité",
        "Voies navigables de France",
        "CCI France",
        "CMA France",
        "Ministère de la Transition écologique",
        "France Travail",
        *(
            f"Agence de l'eau {basin}"
            for basin in [
                "Adour-Garonne",
                "Artois-Picardie",
                "Loire-Bretagne",
                "Rhin-Meuse",
                "Rhône-Méditerranée-Corse",
                "Seine-Normandie",
            ]
        ),
        *(
            f"EPF {territory}"
            for territory in [
                "Normandie",
                "Île-de-France",
                "Hauts-de-France",
                "Grand Est",
                "Bretagne",
                "Nouvelle-Aquitaine",
                "Occitanie",
                "Provence-Alpes-Côte d'Azur",
                "Vendée",
                "Mayotte",
                "Guyane",
            ]
        ),
        "EPORA",
    ],
)
def test_the_organisations_asked_for_are_there(name: str) -> None:
    assert fold(name) in {fold(row["nom"]) for row in ORGANISATIONS} | {
        alias for row in ORGANISATIONS for alias in _names(row)
    }, name


def test_the_water_agencies_share_out_metropolitan_france() -> None:
    agencies = [row for row in ORGANISATIONS if row["type"] == "agence_eau"]
    assert len(agencies) == 6
    codes = [code.removeprefix("DEP-") for row in agencies for code in row["perimetre"].split("|")]
    assert len(codes) == len(set(codes)), "a département in two basins"
    assert set(codes) == METROPOLE


@pytest.mark.parametrize("row", MODELES, ids=lambda row: row["modele"])
def test_a_template_is_well_formed(row: dict[str, str]) -> None:
    modele = row["modele"]
    assert "{nom}" in modele or "{de}" in modele, modele
    assert not re.search(r"[{}]", re.sub(r"\{nom\}|\{de\}", "", modele)), f"unknown placeholder in {modele}"
    assert row["type"] in MODEL_TYPES, row
    assert row["niveau"] in {"departement", "region"}, row
    if row["type"] == "organisme_departemental":
        assert row["niveau"] == "departement", row
    if row["type"] == "organisme_regional":
        assert row["niveau"] == "region", row


def test_no_template_is_written_twice() -> None:
    seen = [(fold(row["modele"].replace("{", "zzz").replace("}", "zzz")), row["niveau"]) for row in MODELES]
    assert len(seen) == len(set(seen))


def test_mte_porteurs_are_covered() -> None:
    """Every porteur of MTE's export: by SIREN, or by name (a row's or a template's: the régions)."""
    sirens = {row["siren"] for _, row in ALL_ORGS if row["siren"]}
    missing = {(name, siren) for name, siren in _mte_porteurs() if siren not in sirens and not _covered(name)}
    assert not missing, sorted(missing)


def test_mte_programme_operators_are_covered() -> None:
    names: set[str] = set()
    for path in sorted((MTE / "programs").glob("*.yaml")):
        programme = yaml.safe_load(path.read_text(encoding="utf-8"))
        contact = programme.get("opérateur de contact")
        others = programme.get("autres opérateurs") or []
        names.update(name for name in [contact, *(others if isinstance(others, list) else [others])] if name)
    missing = sorted(name for name in names if name not in NOT_AN_ORGANISATION and not _covered(name))
    assert not missing, missing


def test_aides_jeunes_bodies_that_are_not_collectivites_are_covered() -> None:
    kinds = {"national", "europeen", "msa"}
    names = {str(item["name"]) for item in _aides_jeunes_institutions() if item.get("type") in kinds}
    missing = sorted(name for name in names if name not in NOT_AN_ORGANISATION and not _covered(name))
    assert not missing, missing


def test_aides_territoires_financers_are_covered() -> None:
    drome = json.loads((AT_API / "departement_drome_data.json").read_text(encoding="utf-8"))
    europe = json.loads((AT_API / "welcom_europe_data.json").read_text(encoding="utf-8"))
    names = {item["financers"] for item in drome["results"] if item.get("financers")}
    names |= {item["info_responsible"] for item in europe if item.get("info_responsible")}
    assert names
    missing = sorted(name for name in names if not _covered(name))
    assert not missing, missing
