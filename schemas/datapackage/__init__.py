"""The project's validator of a whole data package: frictionless's rules, at the speed of DuckDB.

Why it exists: frictionless reads a release row by row in Python (16,000 rows/s at 100,000
records: 38 % of the end-to-end time). This validator checks the same Table Schema rules over the
same files with set-based SQL in DuckDB and is the gate of every release
(:mod:`warehouse.publication.release`); frictionless keeps validating each published release,
as consumers will (the ``publication_valide`` asset check).

What it checks, as frictionless does, with frictionless's error types and coordinates
(:class:`PackageError`): every resource's ``bytes``, ``hash`` and ``rows``; for CSV tables,
read by DuckDB in the dialect frictionless would use (:mod:`~schemas.datapackage.dialect`,
:mod:`~schemas.datapackage.csv_reader`), the header's labels (``extra-``, ``missing-``,
``blank-``, ``duplicate-``, ``incorrect-label``), blank rows, extra and missing cells, each
cell's type and format (string/uri/uuid, number, integer, boolean, date, datetime, any) and
constraints (required, pattern, enum, minLength/maxLength, minimum/maximum and their exclusive
forms) with ``missingValues``, ``unique`` fields, the ``primaryKey`` and the ``foreignKeys``
(:mod:`~schemas.datapackage.table`, :mod:`~schemas.datapackage.cells`,
:mod:`~schemas.datapackage.package`).

Where it differs from frictionless, on purpose and only there (``tests/test_validator_differential.py``
compares both on generated corruptions of a release and covers everything else):

- **Odd cells are decided by frictionless itself.** A cell outside the canonical forms
  (``' 5 '``, ``1e3``, a week date, a pattern RE2 cannot express exactly) goes, once per distinct
  text, through frictionless's own cell reader: same verdict by construction, in Python, but on
  a handful of values (none in a release the project writes).
- **Malformed quoting is refused** (``source-error``), where Python's csv module (frictionless)
  reads on and may find the cells valid: text after a closing quote (``"ab"c``), a quote never
  closed, a space between a lone quote and the delimiter (``1, "y",3``: DuckDB would drop the
  space and read ``y``, Python reads `` "y"``), a header DuckDB would not read as Python does.
  No CSV writer produces these; stricter, never more lenient.
- **Not reproduced, reported as such** (``dialect-error``, ``schema-error``): an escape character,
  ``skipInitialSpace`` (declared, or guessed by Python's ``csv.Sniffer`` when not declared: the
  release declares it false), comment characters or rows, several header rows, ``skipBlankRows``,
  an encoding other than UTF-8, compressed, remote, multipart or inline resources, tables in
  another format than CSV/TSV, ``fieldsMatch`` other than ``exact``, a field type frictionless
  does not know.
- **Descriptor validity** (the Data Package profile, field examples) is not checked: the
  release's descriptor is written by code and tested; frictionless checks it after publication.
- **No error limit.** frictionless stops a resource at its 1,000th error and then skips the
  ``rows``/``bytes``/``hash`` checks; every error is counted here (``limit`` only caps the
  detailed ones). A record longer than 2 MB (DuckDB's line limit) is reported unreadable.
- **A foreign key to a missing resource** is one ``resource-error`` added to the resource's
  other errors (frictionless reports only that error for the resource).
- **Parquet files** (``"type": "file"``: frictionless checks only bytes and digest) also have
  their footer checked against the declared schema and ``num_rows`` (``extension`` errors).
- ``NaN`` in a ``unique`` or key number field is treated as standing for nothing.

How fast, and why: a valid file is decided in one streaming pass of DuckDB's parallel CSV
reader, aggregates only (no row kept: memory does not grow with the file), plus one pass over its
bytes (digest, line breaks, misplaced quotes) in a thread; only a file with something to report is
read again, kept as a table of numbered records, to say which row and field. At 20,000 records
(69,177 CSV rows) on the shared 2-core machine: 150,000 to 180,000 rows/s, frictionless 12,000
to 16,000 rows/s.
"""

from schemas.datapackage.errors import PackageError, PackageReport
from schemas.datapackage.package import validate_package

__all__ = ["PackageError", "PackageReport", "validate_package"]
