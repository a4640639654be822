"""``aides geo``: resolve stated territories into the published schema's geography codes.

``aides geo resolve --json "Ville de Caen" "CC des Monts du Pilat" 1004`` prints one JSON
object per input, in order (query, status, codes, candidates, reason, flags); without
``--json`` a readable table. The resolver is built once per call from the warehouse's
referential, so hundreds of inputs (or a list read from standard input with ``-``) are
answered in one call.
"""

from __future__ import annotations

import json
import sys

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from warehouse.db import WarehouseMissingError, connect_reader
from warehouse.normalise.geography import MENTION_LEVELS, GeoContext, GeoResolver, Resolution

geo_app = typer.Typer(help="Géographie : résoudre des territoires en codes du schéma.", no_args_is_help=True)

_STATUS_LABELS = {
    "resolved": "[green]résolu[/green]",
    "ambiguous": "[yellow]ambigu[/yellow]",
    "unresolved": "[red]non résolu[/red]",
}


def _texts(arguments: list[str]) -> list[str]:
    """The inputs, with ``-`` replaced by the non-empty lines of standard input."""
    texts: list[str] = []
    for argument in arguments:
        if argument == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            texts.append(argument)
    return texts


def _load_resolver(console: Console) -> GeoResolver:
    try:
        with connect_reader() as conn:
            if conn.execute("SELECT count(*) FROM ref_communes").fetchone()[0] == 0:
                raise WarehouseMissingError("le référentiel géographique n'est pas chargé : lancez `make run`.")
            return GeoResolver.from_warehouse(conn)
    except WarehouseMissingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except duckdb.CatalogException as exc:
        console.print(f"[red]L'entrepôt n'a pas de référentiel géographique ({exc}) : lancez `make run`.[/red]")
        raise typer.Exit(2) from exc


def _table(results: list[Resolution]) -> Table:
    table = Table(title="Résolution géographique")
    for column in ("requête", "statut", "codes", "candidats", "raison", "indicateurs"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.query,
            _STATUS_LABELS.get(result.status, result.status),
            "\n".join(result.codes),
            "\n".join(result.candidates[:12]) + (" …" if len(result.candidates) > 12 else ""),
            result.reason or "",
            ", ".join(result.flags),
        )
    return table


@geo_app.command("resolve")
def resolve(
    texts: list[str] = typer.Argument(
        ..., help="Territoires tels que la source les énonce (code ou nom) ; « - » lit l'entrée standard."
    ),
    as_json: bool = typer.Option(False, "--json", help="Écrire un tableau JSON (un objet par entrée, dans l'ordre)."),
    niveau: str | None = typer.Option(None, "--niveau", help=f"Niveau énoncé : {', '.join(MENTION_LEVELS)}."),
    departement: str | None = typer.Option(
        None, "--departement", help="Département connu de l'enregistrement (départage les homonymes)."
    ),
    region: str | None = typer.Option(
        None, "--region", help="Région connue de l'enregistrement (départage les homonymes)."
    ),
) -> None:
    """Resolve each TEXT into schema geography codes (COM-, EPCI-, DEP-, REG-, PAYS-)."""
    console = Console(width=160, stderr=as_json)
    if niveau is not None and niveau not in MENTION_LEVELS:
        console.print(f"[red]niveau inconnu : {niveau!r} (attendu : {', '.join(MENTION_LEVELS)})[/red]")
        raise typer.Exit(2)
    resolver = _load_resolver(console)
    context = GeoContext(departement, region) if (departement or region) else None
    results = [resolver.resolve(text, niveau, context) for text in _texts(texts)]
    if as_json:
        typer.echo(json.dumps([result.as_json() for result in results], ensure_ascii=False, indent=2))
    else:
        console.print(_table(results))
