"""``aides qualite``: the quality report's detail on the command line, section by section."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from warehouse.db import WarehouseMissingError, connect_reader
from warehouse.quality.sections import HOLDS, SECTIONS, rows, section

console = Console(width=200)


def qualite_command(
    nom: str | None = typer.Argument(
        None, help=f"Section à lister en entier : {', '.join(s.name for s in (*SECTIONS, HOLDS))} (toutes sinon)."
    ),
    limite: int = typer.Option(20, "--limite", "-n", help="Lignes par section (0 : toutes)."),
    as_json: bool = typer.Option(False, "--json", help="Sortie JSON."),
) -> None:
    """Show what normalisation could not do, most frequent first (exit 0; 2 without a warehouse)."""
    try:
        items = [section(nom)] if nom else [*SECTIONS, HOLDS]
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc
    try:
        with connect_reader() as conn:
            found = {item.name: rows(conn, item) for item in items}
    except WarehouseMissingError as exc:
        console.print(f"[red]{exc}[/red] : lancez `make run` d'abord.")
        raise typer.Exit(2) from exc
    if as_json:
        document = {
            name: {"nb": len(lines), "lignes": [dict(zip(columns, map(_plain, line), strict=True)) for line in lines]}
            for name, (columns, lines) in found.items()
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return
    for item in items:
        columns, lines = found[item.name]
        shown = lines if limite <= 0 else lines[:limite]
        table = Table(title=f"{item.title} — {len(lines)} ligne(s)", title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for line in shown:
            table.add_row(*("" if value is None else str(value) for value in line))
        console.print(table)
        if len(shown) < len(lines):
            console.print(f"… {len(lines) - len(shown)} de plus : aides qualite {item.name} --limite 0")


def _plain(value: object) -> object:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
