"""Reading a CSV file as producers publish it: one table of rows with their line numbers.

Shared by the adapters of tabular files (``dispositif_aide_csv``, ``csv``, submissions).
Producers differ in delimiter, encoding and BOM, and their files carry real defects
(quoted multi-line cells, broken quoting, a truncated last row, Excel's ``sep=;`` line):
:func:`read_table` decodes the file (``sources.text_files``), finds the header and yields
each record with the physical lines it spans, so that a broken record is one item with its
location and never swallows its neighbours.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sources.text_files import decode, physical_lines, sniff_delimiter

_SEP_LINE = re.compile(r"sep=(.)")


class Row:
    """One CSV record: its cells and the physical lines it spans (1-based)."""

    __slots__ = ("cells", "start", "end", "error")

    def __init__(self, cells: list[str] | None, start: int, end: int, error: str | None = None) -> None:
        self.cells, self.start, self.end, self.error = cells, start, end, error


def _lines_from(lines: list[str], index: int) -> Iterator[str]:
    return (lines[position] for position in range(index, len(lines)))


def _starts_row(lines: list[str], index: int, delimiter: str, width: int, like: int | None = None) -> bool:
    """Whether line ``index`` starts a row rather than continuing a broken one.

    A row starts where a record of the right width begins, or, after a broken single-line
    row of ``like`` cells, a single-line record of the same shape (a file whose rows all
    have a cell too many gives one rejection per row, not one for the whole file).
    """
    reader = csv.reader(_lines_from(lines, index), delimiter=delimiter)
    try:
        cells = next(reader)
    except (StopIteration, csv.Error):
        return False
    return len(cells) == width or (like is not None and reader.line_num == 1 and len(cells) == like)


def _unclosed_at_end(record_lines: list[str], delimiter: str) -> bool:
    """Whether the file's last record ends inside a quoted cell (a truncated download)."""
    try:
        for _ in csv.reader(iter(record_lines), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def records(lines: list[str], first: int, delimiter: str, width: int) -> Iterator[Row]:
    """Records from line index ``first`` on, resynchronising after a broken quote.

    A record of the wrong width is a broken item. When a quote was not closed it swallowed
    its neighbours; when a stray quote closed a cell early, the cell's tail is left behind
    as orphan lines. Either way the broken item runs to the next line where a row starts
    (see ``_starts_row``), reading resumes there so that the following rows are not lost,
    and the broken item is one rejection.
    """
    position = first
    while position < len(lines):
        reader = csv.reader(_lines_from(lines, position), delimiter=delimiter)
        consumed = 0
        restart: int | None = None
        while True:
            start = position + consumed + 1  # 1-based line number of the record's first line
            try:
                cells: list[str] | None = next(reader)
                error = None
            except StopIteration:
                break
            except csv.Error as exc:
                cells, error = None, f"CSV illisible ({exc})"
            consumed = reader.line_num
            end = position + consumed
            if error is None and end == len(lines) and _unclosed_at_end(lines[start - 1 : end], delimiter):
                error = "fichier tronqué : guillemet non fermé en fin de fichier"
                if len(cells or []) == width:  # cut inside its last cell: nothing follows
                    yield Row(cells, start, end, error)
                    return
            blank = cells is not None and end == start and not any(cell.strip() for cell in cells)
            if error is None and (len(cells or []) == width or blank):
                yield Row(cells, start, end)
                continue
            # A broken item: it runs from its first line to the next line where a row starts
            # (a stray quote may have swallowed the following rows, or left their tails behind).
            like = len(cells) if cells is not None and end == start else None
            resume = next(
                (i for i in range(start, len(lines)) if _starts_row(lines, i, delimiter, width, like)), len(lines)
            )
            quoting = "guillemets mal fermés" if resume != end else None
            yield Row(cells, start, max(resume, start), error or quoting)
            if resume != end or error is not None:
                restart = resume
                break
        if restart is None:
            return
        position = restart


def unique_header(names: list[str]) -> list[str]:
    """Column names stripped; empty or repeated ones made unique so that raw keeps every cell."""
    seen: set[str] = set()
    header = []
    for position, name in enumerate(names, start=1):
        name = name.strip().lstrip("\ufeff").strip()
        if not name or name in seen:
            name = f"{name or 'colonne'} ({position})"
        seen.add(name)
        header.append(name)
    return header


class TableError(ValueError):
    """The file has no table to read (empty, no header, an unreadable header, a bad delimiter)."""

    def __init__(self, location: str, reason: str, excerpt: str = "") -> None:
        super().__init__(f"{location} : {reason}")
        self.location, self.reason, self.excerpt = location, reason, excerpt


@dataclass
class Table:
    """A CSV file's header and lines; :meth:`rows` reads its records."""

    name: str
    header: list[str]
    lines: list[str]
    header_line: int  # 1-based line of the header
    body_start: int  # index of the first line after the header
    delimiter: str
    encoding: str

    @property
    def width(self) -> int:
        return len(self.header)

    @property
    def header_excerpt(self) -> str:
        return "".join(self.lines[self.header_line - 1 : self.body_start])

    def rows(self) -> Iterator[Row]:
        """Every record after the header, blank ones included (``Row.is_blank``)."""
        return records(self.lines, self.body_start, self.delimiter, self.width)

    def excerpt(self, row: Row) -> str:
        return "".join(self.lines[row.start - 1 : row.end])

    def location(self, row: Row) -> str:
        return f"{self.name}, ligne {row.start}"

    def readable_rows(self, reject: Callable[[str, str, str], None]) -> Iterator[tuple[Row, str, str, dict[str, str]]]:
        """Every non-blank record that reads as a row: (row, location, excerpt, cells by column).
        A broken one is handed to ``reject(location, reason, excerpt)`` instead, never dropped."""
        for row in self.rows():
            if is_blank(row):
                continue
            location, excerpt = self.location(row), self.excerpt(row)
            broken = broken_reason(row, self.width)
            if broken is not None or row.cells is None:
                reject(location, broken or "ligne illisible", excerpt)
                continue
            yield row, location, excerpt, dict(zip(self.header, row.cells, strict=False))

    def items(self) -> list[tuple[str, str]]:
        """(location, excerpt) of every non-blank record: what a file of the wrong shape loses."""
        return [(self.location(row), self.excerpt(row)) for row in self.rows() if not is_blank(row)]


def is_blank(row: Row) -> bool:
    """A blank line or a row of empty cells: not an item."""
    return row.cells is not None and not any(cell.strip() for cell in row.cells)


def broken_reason(row: Row, width: int) -> str | None:
    """Why a record cannot be read as a row of ``width`` cells (its cell count, the lines it spans,
    the quoting problem); None when it can."""
    if row.cells is not None and not row.error and len(row.cells) == width:
        return None
    details = []
    if row.cells is not None and len(row.cells) != width:
        details.append(f"{len(row.cells)} cellules au lieu de {width}")
    if row.end > row.start:
        details.append(f"lignes {row.start} à {row.end}")
    if not row.error:
        return ", ".join(details)
    return f"{row.error} ({', '.join(details)})" if details else row.error


def read_table(name: str, content: bytes, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """The table of a CSV document: decoded, its delimiter configured or sniffed, its header read.
    Raises :class:`TableError` when there is no table to read."""
    text, found_encoding = decode(content, encoding)
    lines = physical_lines(text)
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise TableError(name, "document vide", text[:200])
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise TableError(name, f"délimiteur configuré invalide : {delimiter!r} (un seul caractère)")
    sep_line = _SEP_LINE.fullmatch(lines[first].rstrip("\r\n"))
    if sep_line:  # Excel's "sep=;" hint before the header
        delimiter = delimiter or sep_line.group(1)
        first += 1
    if first >= len(lines):
        raise TableError(name, "document sans en-tête", text[:200])
    delimiter = delimiter or sniff_delimiter(lines[first])
    try:
        reader = csv.reader(iter(lines[first:]), delimiter=delimiter)
        header = unique_header(next(reader))
        body_start = first + reader.line_num
    except (csv.Error, StopIteration) as exc:
        raise TableError(f"{name}, ligne {first + 1}", f"en-tête CSV illisible ({exc})", lines[first]) from exc
    return Table(name, header, lines, first + 1, body_start, delimiter, found_encoding)
