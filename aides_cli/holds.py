"""``aides holds``, ``aides acknowledge``, ``aides refuse``: decide about held changes, one at a time.

Why: a held change is accepted by its id, after someone looked at its evidence; accepting one
never accepts another (warehouse/holds.py). The release's own hold (``aides acknowledge
publication``) has no id: there is one catalogue, and its hold is acknowledged as before.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import duckdb

    from warehouse.holds import Hold

PUBLICATION = "publication"
STATUS_LABELS = {
    "pending": "en attente",
    "accepted": "acquittée, à appliquer",
    "refused": "refusée",
    "applied": "appliquée",
}
console = Console(width=160)
errors = Console(width=160, stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _with_holds(read: Callable[[duckdb.DuckDBPyConnection], list[Hold]]) -> list[Hold]:
    """Read holds without waiting for the writer; a warehouse from before migration 0020 is migrated first."""
    import duckdb

    from warehouse.db import WarehouseMissingError, connect_reader, connect_writer

    try:
        with connect_reader() as conn:
            return read(conn)
    except WarehouseMissingError as exc:
        raise _fail(str(exc), 2) from None
    except duckdb.CatalogException:
        with connect_writer() as conn:
            return read(conn)


def _when(hold: Hold) -> str:
    return f"{hold.created_at:%Y-%m-%d %H:%M}" + (f"\n(×{hold.times_held})" if hold.times_held > 1 else "")


def _evidence(hold: Hold) -> str:
    rejections = "\n".join(f"• {r.location} : {r.reason}" for r in hold.first_rejections)
    return "\n".join(part for part in (hold.reason, rejections) if part)


def _decision(hold: Hold) -> str:
    parts = []
    if hold.decided_by:
        parts.append(f"{hold.decided_by}, {hold.decided_at:%Y-%m-%d %H:%M}" if hold.decided_at else hold.decided_by)
    if hold.applied_run_id or hold.applied_at:
        parts.append(f"run {hold.applied_run_id or '?'}")
    if hold.decision_note and hold.status == "pending":
        parts.append(hold.decision_note)
    if hold.blocking:
        parts.append(f"`{hold.acknowledge_command()}`")
    return "\n".join(parts)


def holds_command(
    source: str | None = typer.Argument(None, help="Nom de la source (toutes les sources sans ce nom)."),
    as_json: bool = typer.Option(False, "--json", help="Réponse en JSON."),
) -> None:
    """List held changes, pending first, with their evidence (counts, first rejections, payload)."""
    from warehouse.holds import list_holds

    holds = _with_holds(lambda conn: list_holds(conn, source))
    pending = sum(hold.status == "pending" for hold in holds)
    if as_json:
        answer = {
            "source": source,
            "nombre": len(holds),
            "en_attente": pending,
            "retenues": [hold.evidence() for hold in holds],
        }
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    if not holds:
        console.print(f"Aucun changement retenu{f' pour {source}' if source else ''}.")
        return
    table = Table(title=f"Changements retenus{f' de {source}' if source else ''} : {pending} en attente")
    for column in ("id", "source", "statut", "retenu le", "avant → après", "rejets", "raison et premiers rejets"):
        table.add_column(column, overflow="fold")
    table.add_column("décision", overflow="fold")
    for hold in holds:
        table.add_row(
            hold.hold_id,
            hold.source,
            STATUS_LABELS[hold.status],
            _when(hold),
            f"{hold.records_before} → {hold.records_after}",
            "?" if hold.rejected is None else str(hold.rejected),
            _evidence(hold),
            _decision(hold),
        )
    console.print(table)


def _decide_on_source_hold(source: str, hold_id: str | None, verb: str) -> Hold:
    """Record one decision about one hold of ``source``; without an id, say which ones wait."""
    from warehouse.db import connect_writer
    from warehouse.holds import HoldError, acknowledge_hold, pending_holds, refuse_hold

    decide = acknowledge_hold if verb == "acknowledge" else refuse_hold
    with connect_writer() as conn:
        if hold_id is None:
            waiting = pending_holds(conn, source)
            listed = "".join(f"\n  {h.hold_id} : {h.reason}" for h in waiting)
            raise _fail(
                f"Précisez le changement retenu : `aides {verb} {source} HOLD_ID` ; "
                + (f"en attente pour {source} :{listed}" if waiting else f"aucun n'est en attente pour {source}.")
                + f"\nLes preuves de chacun : `aides holds {source}`.",
                2,
            )
        try:
            return decide(conn, source, hold_id, getpass.getuser())
        except HoldError as exc:
            raise _fail(str(exc)) from None


def acknowledge_command(
    source: str = typer.Argument(
        ..., help="Nom de la source dont le changement retenu est accepté, ou « publication » pour le catalogue."
    ),
    hold_id: str | None = typer.Argument(
        None, help="Identifiant du changement retenu (R-…, voir `aides holds SOURCE`) ; aucun pour la publication."
    ),
) -> None:
    """Accept one held change by its id (or the held release): the next run applies it, and only it."""
    if source == PUBLICATION:
        _acknowledge_publication(hold_id)
        return
    hold = _decide_on_source_hold(source, hold_id, "acknowledge")
    console.print(
        f"Changement {hold.hold_id} de {source} acquitté ({hold.records_before} → {hold.records_after} "
        "enregistrements) : il sera appliqué au prochain run qui sert ce contenu, et lui seul ; "
        f"les autres changements retenus restent retenus (`aides holds {source}`).",
        highlight=False,
        soft_wrap=True,
    )


def refuse_command(
    source: str = typer.Argument(..., help="Nom de la source dont le changement retenu est refusé."),
    hold_id: str | None = typer.Argument(None, help="Identifiant du changement retenu (R-…, voir `aides holds`)."),
) -> None:
    """Refuse one held change by its id: its payload stays held each time it is served, until accepted."""
    hold = _decide_on_source_hold(source, hold_id, "refuse")
    console.print(
        f"Changement {hold.hold_id} de {source} refusé : ce contenu restera retenu tant qu'il n'est pas acquitté.",
        highlight=False,
        soft_wrap=True,
    )


def _acknowledge_publication(hold_id: str | None) -> None:
    from warehouse.db import connect_writer
    from warehouse.publication.release import acknowledge_publication_hold

    if hold_id is not None:
        raise _fail("La publication retenue n'a pas d'identifiant : `aides acknowledge publication`.", 2)
    with connect_writer() as conn:
        count = acknowledge_publication_hold(conn, getpass.getuser())
    if not count:
        raise _fail("Aucun changement retenu pour publication.")
    console.print(f"{count} changement(s) de publication acquitté(s) : ils seront appliqués au prochain run.")
