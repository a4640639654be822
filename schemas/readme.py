"""The tables of fields of ``schemas/README.md``, generated from ``schemas/schema.json`` (« Champs »)
and ``schemas/couverture.json`` (the columns of ``couverture.csv``).

Each table is written between two markers; ``tests/test_schema.py`` fails when one differs from
what its schema gives. After a change to a schema:

    .venv/bin/python -m schemas.readme --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from schemas import (
    GEO_CODES_PATTERN,
    OFFICIAL_FIELDS,
    PublishedField,
    load_coverage_schema,
    load_schema,
    published_fields,
)

README = Path(__file__).with_name("README.md")
BEGIN = "<!-- champs : début (généré par `python -m schemas.readme --write`, ne pas modifier à la main) -->"
END = "<!-- champs : fin -->"
COVERAGE_BEGIN = (
    "<!-- couverture : début (généré par `python -m schemas.readme --write`, ne pas modifier à la main) -->"
)
COVERAGE_END = "<!-- couverture : fin -->"


def _number(value: float) -> str:
    return f"{value:,}".replace(",", " ") if float(value).is_integer() else str(value).replace(".", ",")


def _constraints(field: PublishedField, raw: dict, primary_key: str | None) -> str:
    constraints = raw.get("constraints", {})
    parts: list[str] = []
    if constraints.get("unique"):
        parts.append("unique")
    if field.name == primary_key:
        parts.append("clé primaire")
    if field.max_length is not None:
        parts.append(f"{_number(field.max_length)} caractères au plus")
    pattern = constraints.get("pattern")
    if field.values is not None:
        values = ", ".join(f"`{v}`" for v in field.values)
        parts.append(f"{values}, séparées par des pipes" if field.multi_valued else values)
    elif pattern == GEO_CODES_PATTERN:
        parts.append("codes `NIVEAU-CODE` séparés par des pipes (voir les écarts)")
    elif field.multi_valued:
        parts.append("valeurs séparées par des pipes")
    if pattern and field.values is None and pattern != GEO_CODES_PATTERN:
        parts.append(f"motif `{pattern}`")
    if "minimum" in constraints and "maximum" in constraints:
        parts.append(f"de {_number(constraints['minimum'])} à {_number(constraints['maximum'])}")
    elif "minimum" in constraints:
        parts.append(f"≥ {_number(constraints['minimum'])}")
    if field.type == "datetime":
        parts.append("ISO 8601")
    return " ; ".join(parts)


def fields_table() -> str:
    """The Markdown table of every published field, in column order."""
    schema = load_schema()
    raw = {f["name"]: f for f in schema["fields"]}
    lines = ["| Champ | Titre | Type | Obligatoire | Contraintes | Origine |", "| --- | --- | --- | --- | --- | --- |"]
    for field in published_fields():
        kind = f"{field.type} (format `{field.format}`)" if field.format else field.type
        origin = "dispositif-aide" if field.name in OFFICIAL_FIELDS else "catalogue"
        constraints = _constraints(field, raw[field.name], schema.get("primaryKey"))
        lines.append(
            f"| `{field.name}` | {field.title} | {kind} | {'oui' if field.required else 'non'} | "
            f"{constraints} | {origin} |"
        )
    return "\n".join(lines)


def coverage_table() -> str:
    """The Markdown table of the columns of ``couverture.csv``, in order."""
    schema = load_coverage_schema()
    lines = ["| Champ | Titre | Type | Obligatoire | Contraintes |", "| --- | --- | --- | --- | --- |"]
    for raw in schema["fields"]:
        constraints = raw.get("constraints", {})
        parts: list[str] = []
        if raw["name"] == schema.get("primaryKey"):
            parts.append("clé primaire")
        if "enum" in constraints:
            parts.append(", ".join(f"`{value}`" for value in constraints["enum"]))
        elif "pattern" in constraints:
            parts.append(f"motif `{constraints['pattern']}`".replace("|", "\\|"))
        if "minimum" in constraints:
            parts.append(f"≥ {_number(constraints['minimum'])}")
        if raw.get("type") == "datetime":
            parts.append("ISO 8601, UTC")
        required = "oui" if constraints.get("required") else "non"
        lines.append(
            f"| `{raw['name']}` | {raw['title']} | {raw.get('type', 'string')} | {required} | {' ; '.join(parts)} |"
        )
    return "\n".join(lines)


def _between(text: str, begin: str, end: str, table: str) -> str:
    try:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise ValueError(f"{README} : marqueurs {begin!r} et {end!r} absents") from None
    return f"{head}{begin}\n{table}\n{end}{tail}"


def expected_readme(text: str) -> str:
    """``text`` (the README) with the generated tables between their markers."""
    return _between(_between(text, BEGIN, END, fields_table()), COVERAGE_BEGIN, COVERAGE_END, coverage_table())


def main() -> None:
    text = README.read_text(encoding="utf-8")
    expected = expected_readme(text)
    if "--write" in sys.argv:
        README.write_text(expected, encoding="utf-8")
        print(f"écrit {README}")
    elif expected != text:
        sys.exit(
            f"{README} : une table des champs ne suit plus schema.json ou couverture.json ; "
            "lancez `python -m schemas.readme --write`"
        )


if __name__ == "__main__":
    main()
