"""The verification reports of submitted files, kept for a while so that they can be paged and downloaded.

Why: a file with 25,000 errors must say 25,000 and let the agent read every one; a page of
25,000 table rows is unreadable (and heavy on a phone), so the report page shows counts per
column, then the problems a page at a time, and offers the whole report as a CSV file. The
report is made once, at upload; it stays in this process's memory (a few dozen reports, one
hour) under an unguessable id, readable only by the session that sent the file.
"""

from __future__ import annotations

import csv
import io
import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from warehouse.submissions.checks import AVERTISSEMENT, ERREUR, Problem, SubmissionReport

PAGE_SIZE = 100
KEPT_REPORTS = 64
KEPT_SECONDS = 3600.0
GRAVITES = (ERREUR, AVERTISSEMENT)


@dataclass(frozen=True)
class KeptReport:
    """A report and what the page needs to show it again: who may read it, and the outcome."""

    id: str
    owner: str  # the session's login id (or siren): only it may read the report
    report: SubmissionReport
    filename: str
    issue: str  # acceptee, invalide, hors_territoire
    receipt: Any = None
    created: float = 0.0


class ReportCache:
    """The last reports of this process, by id; thread-safe, bounded in count and age."""

    def __init__(self, size: int = KEPT_REPORTS, seconds: float = KEPT_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self._items: OrderedDict[str, KeptReport] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, owner: str, report: SubmissionReport, filename: str, issue: str, receipt: Any = None) -> KeptReport:
        kept = KeptReport(secrets.token_urlsafe(16), owner, report, filename, issue, receipt, time.monotonic())
        with self._lock:
            self._items[kept.id] = kept
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return kept

    def get(self, report_id: str, owner: str) -> KeptReport | None:
        """The report ``report_id`` if ``owner`` sent it and it is not too old; None otherwise."""
        with self._lock:
            kept = self._items.get(report_id)
            if kept is None or time.monotonic() - kept.created > self.seconds:
                self._items.pop(report_id, None)
                return None
        return kept if secrets.compare_digest(kept.owner, owner) else None


@dataclass(frozen=True)
class ReportPage:
    """One page of a report's problems, with the counts shown above it."""

    problems: list[Problem]
    page: int
    pages: int
    gravite: str | None  # the filter: erreur, avertissement or None (all)
    shown: int  # problems under the filter
    errors: int
    warnings: int
    by_column: list[tuple[str, int, int]]  # (column or « fichier », errors, warnings), most errors first

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.problems else 0

    @property
    def last(self) -> int:
        return self.first + len(self.problems) - 1 if self.problems else 0


def report_page(report: SubmissionReport, page: int = 1, gravite: str | None = None) -> ReportPage:
    """Page ``page`` (1-based, clamped) of the problems, errors and warnings or one of them."""
    gravite = gravite if gravite in GRAVITES else None
    selected = [p for p in report.problems if gravite is None or p.gravite == gravite]
    pages = max(1, -(-len(selected) // PAGE_SIZE))
    page = min(max(1, page), pages)
    errors = Counter(p.colonne or "fichier" for p in report.problems if p.gravite == ERREUR)
    warnings = Counter(p.colonne or "fichier" for p in report.problems if p.gravite != ERREUR)
    columns = sorted(set(errors) | set(warnings), key=lambda c: (-errors[c], -warnings[c], c))
    return ReportPage(
        problems=selected[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        page=page,
        pages=pages,
        gravite=gravite,
        shown=len(selected),
        errors=sum(errors.values()),
        warnings=sum(warnings.values()),
        by_column=[(c, errors[c], warnings[c]) for c in columns],
    )


def report_csv(report: SubmissionReport) -> bytes:
    """Every problem as a CSV file for a spreadsheet: UTF-8 with a BOM and « ; » separators, so
    that Excel in French opens it as columns, accents intact."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["ligne", "colonne", "valeur", "gravite", "nature", "message"])
    writer.writerows(
        [
            p.ligne if p.ligne is not None else "fichier",
            p.colonne or "",
            _spreadsheet_safe(p.valeur or ""),
            p.gravite,
            p.nature,
            p.message,
        ]
        for p in report.problems
    )
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def _spreadsheet_safe(value: str) -> str:
    """A value quoted back from the agent's file must not run as a formula when the report opens."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
