"""Read a submitted Excel workbook (.xlsx) as the rows of a CSV file.

Why: agents keep their aids in Excel; asking them to export to CSV first is one more step
where accents and dates get lost. openpyxl reads the first worksheet (values, not formulas:
``data_only``); each cell becomes the text a CSV export would hold, so that the same checks,
interpretations and messages apply. Dates stay dates (``2026-12-31``, read as midnight in Paris
with a warning like any other date), whole numbers lose Excel's ``.0``.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from decimal import Decimal

XLSX_PART = "xl/workbook.xml"


class SpreadsheetError(ValueError):
    """The workbook cannot be read; the message says why, in French."""


def is_xlsx(content: bytes) -> bool:
    """Whether the bytes are an Office Open XML workbook (a zip holding ``xl/workbook.xml``)."""
    if not content.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return XLSX_PART in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def cell_text(value: object) -> str:
    """The text of one cell, as a CSV export would write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.replace(tzinfo=None).isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    return str(value)


def read_xlsx(content: bytes) -> tuple[str, list[tuple[int, list[str]]]]:
    """The first worksheet's name and its non-empty rows as ``(row number, cells)``; the row
    number is Excel's (the header is usually row 1). Raises :class:`SpreadsheetError`."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds for a damaged file
        raise SpreadsheetError(
            f"classeur Excel illisible ({type(exc).__name__}) : réenregistrez-le dans Excel."
        ) from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise SpreadsheetError("le classeur n'a aucune feuille.")
        rows: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [cell_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()
            if any(cell.strip() for cell in cells):
                rows.append((number, cells))
        return sheet.title, rows
    finally:
        workbook.close()
