"""What the package validator reports: frictionless's error types, French messages.

Each problem carries frictionless's own error type (``type-error``, ``constraint-error``,
``unique-error``, ``primary-key``, ``foreign-key``, ``blank-row``, ``extra-cell``,
``missing-cell``, the label errors, ``hash-count``, ``byte-count``, ``row-count``…) and the
same coordinates frictionless gives it (``rowNumber``, ``fieldName``, ``fieldNumber``; the
constraint's name for a ``constraint-error``), so that both validators' reports can be compared
error by error; the message, for the people who read it, is in French.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PackageError:
    """One problem of a data package, located as frictionless locates it."""

    resource: str | None  # the resource's name; None for the package itself
    type: str  # frictionless's error type
    message: str  # French, says what is wrong and where
    row: int | None = None  # frictionless's rowNumber: the header is row 1
    field: str | None = None  # fieldName ("" for an extra cell or label, as frictionless)
    field_number: int | None = None  # 1-based position in the row
    constraint: str | None = None  # for constraint-error: required, pattern, enum, maxLength…
    cell: str | None = None  # the cell's text as read
    extension: bool = False  # a check frictionless does not make (a Parquet file's columns and rows)

    @property
    def key(self) -> tuple[str | None, str, int | None, str | None, int | None, str | None]:
        """What identifies the error across validators (the message aside)."""
        number = self.field_number if not self.field else None
        return (self.resource, self.type, self.row, self.field or None, number, self.constraint)


@dataclass
class PackageReport:
    """The verdict on a package: its errors (the first ``limit`` of them, in row order per
    resource), how many there are of each type, and the data rows read per resource."""

    errors: list[PackageError] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, errors: list[PackageError], total_by_type: Counter[str] | None = None) -> None:
        """Add ``errors`` (all of them, or the first ones of ``total_by_type``)."""
        self.errors.extend(errors)
        self.counts.update(total_by_type if total_by_type is not None else Counter(e.type for e in errors))


CONSTRAINT_MESSAGES: dict[str, str] = {
    "required": "valeur obligatoire manquante",
    "unique": "valeur déjà présente",
    "pattern": "valeur qui ne respecte pas le motif {value}",
    "enum": "valeur non autorisée (valeurs possibles : {value})",
    "minLength": "texte trop court (au moins {value} caractères)",
    "maxLength": "texte trop long (au plus {value} caractères)",
    "minimum": "valeur trop petite (au moins {value})",
    "maximum": "valeur trop grande (au plus {value})",
    "exclusiveMinimum": "valeur trop petite (strictement plus de {value})",
    "exclusiveMaximum": "valeur trop grande (strictement moins de {value})",
}

TYPE_WORDS: dict[str, str] = {
    "string": "texte",
    "number": "nombre (séparateur décimal : le point)",
    "integer": "nombre entier",
    "boolean": "booléen",
    "date": "date AAAA-MM-JJ",
    "datetime": "date et heure ISO 8601",
    "time": "heure",
    "year": "année",
    "yearmonth": "année et mois",
    "duration": "durée ISO 8601",
}
FORMAT_WORDS: dict[str, str] = {"uri": "adresse (URI)", "uuid": "identifiant UUID", "email": "adresse électronique"}


def constraint_message(name: str, constraints: dict[str, object]) -> str:
    value = constraints.get(name)
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return CONSTRAINT_MESSAGES.get(name, "contrainte « {name} » non respectée").format(value=value, name=name)


def type_message(kind: str, fmt: str) -> str:
    word = FORMAT_WORDS.get(fmt) if fmt != "default" else None
    return f"valeur illisible : {word or TYPE_WORDS.get(kind, kind)} attendu(e)"
