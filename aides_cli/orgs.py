"""``aides orgs``: which organisation a financer's or porteur's name designates.

``aides orgs resolve --json ADEME "DDT du Tarn" "Conseil départemental du Gers;CAUE du Gers"``
prints one JSON object per input, in order (query, status, organisations with their SIREN,
type, level and territory, codes, the parts of a list, reason), as ``aides geo resolve`` does
for territories; without ``--json`` a readable table. The referential is
``warehouse/normalise/organisations.py``: the repository's data and the warehouse's COG.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from aides_cli.geo import _load_resolver, _texts
from warehouse.normalise.organisations import OrgResolution

orgs_app = typer.Typer(
    help="Organisations : reconnaître financeurs et porteurs, avec leur SIREN.", no_args_is_help=True
)

_STATUS_LABELS = {
    "resolved": "[green]reconnu[/green]",
    "partial": "[yellow]en partie[/yellow]",
    "ambiguous": "[yellow]ambigu[/yellow]",
    "unresolved": "[red]inconnu[/red]",
}


@orgs_app.command("resolve")
def resolve(
    names: list[str] = typer.Argument(..., help="Noms tels que la source les écrit ; « - » lit l'entrée standard."),
    as_json: bool = typer.Option(False, "--json", help="Écrire un tableau JSON (un objet par entrée, dans l'ordre)."),
) -> None:
    """Resolve each NAME into organisations (SIREN, type, territory)."""
    console = Console(width=160, stderr=as_json)
    index = _load_resolver(console).organisations
    assert index is not None  # GeoResolver.from_warehouse always loads it
    results = [index.resolve(name) for name in _texts(names)]
    if as_json:
        typer.echo(json.dumps([result.as_json() for result in results], ensure_ascii=False, indent=2))
    else:
        console.print(_table(results))


def _table(results: list[OrgResolution]) -> Table:
    table = Table(title="Organisations")
    for column in ("nom lu", "statut", "organisations", "SIREN", "territoire", "raison"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.query,
            _STATUS_LABELS.get(result.status, result.status),
            "\n".join(org.nom for org in result.organisations),
            "\n".join(org.siren or "—" for org in result.organisations),
            " ".join(result.codes[:8]) + (" …" if len(result.codes) > 8 else ""),
            result.reason or "",
        )
    return table
