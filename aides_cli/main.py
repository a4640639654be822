"""The ``aides`` command line: run the pipeline, record sources, query what it built."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from aides_cli.collectivites import prefill_command, tokens_app, validate_command
from aides_cli.geo import geo_app
from aides_cli.holds import acknowledge_command, holds_command, refuse_command
from aides_cli.orgs import orgs_app
from aides_cli.qualite import qualite_command
from warehouse.settings import PROJECT_ROOT, warehouse_paths

app = typer.Typer(help="Catalogue national des aides à la transition écologique.", no_args_is_help=True)
app.add_typer(geo_app, name="geo")
app.add_typer(orgs_app, name="orgs")
app.add_typer(tokens_app, name="tokens")
app.command("validate")(validate_command)
app.command("prefill")(prefill_command)
app.command("holds")(holds_command)
app.command("acknowledge")(acknowledge_command)
app.command("refuse")(refuse_command)
app.command("qualite")(qualite_command)
console = Console(width=160)


@app.callback()
def main() -> None:
    """Catalogue national des aides à la transition écologique."""


def _shorten(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _outcome_row(asset: str, meta: dict) -> tuple[str, str, str, str, str]:
    if "statut" in meta:  # a source
        status = str(meta["statut"]) + (" (instantané précédent)" if meta.get("perime") else "")
        detail = ", ".join(
            part
            for part in (
                f"version {meta['version']}" if meta.get("version") else "",
                "analysée"
                if meta.get("modifie")
                else "non ré-analysée (inchangée)"
                if meta["statut"] == "unchanged"
                else "",
                f"{meta['duree_s']} s",
                _shorten(str(meta.get("erreur") or "")),
            )
            if part
        )
        return asset, status, str(meta.get("nb_enregistrements", "")), str(meta.get("nb_rejets", "")), detail
    if "publiee" in meta:  # the release
        status = f"publiée {meta['version_publication']}" if meta["publiee"] else "inchangée (pas de nouvelle version)"
        counts = ", ".join(
            f"{k.removeprefix('changements_')}={v}" for k, v in meta.items() if k.startswith("changements_")
        )
        return asset, status, str(meta.get("nb_aides", "")), "", f"{meta.get('dossier', '')} ; {counts}"
    counts = ", ".join(f"{k.removeprefix('nb_')}={v}" for k, v in meta.items() if k.startswith("nb_"))
    flags = ", ".join(f"{k}={meta[k]}" for k in ("version", "telecharge", "recharge") if k in meta)
    return asset, "ok", str(meta.get("dagster/row_count", "")), "", "; ".join(p for p in (flags, counts) if p)


@app.command()
def run() -> None:
    """Run the whole pipeline (référentiel, sources, catalogue, exports) and print a summary."""
    from pipelines.run import default_dagster_home, run_pipeline

    home = default_dagster_home()
    summary = run_pipeline()
    paths = warehouse_paths()
    table = Table(title=f"Run {summary.run_id[:8]} — {'réussi' if summary.success else 'en échec'}")
    for column in ("asset", "statut", "enregistrements", "rejets", "détail"):
        table.add_column(column, overflow="fold")
    for outcome in summary.assets:
        table.add_row(*_outcome_row(outcome.asset, outcome.metadata))
    console.print(table)
    failed_checks = [name for name, passed in summary.checks if not passed]
    console.print(
        f"Contrôles : {len(summary.checks) - len(failed_checks)} réussis, {len(failed_checks)} en échec"
        + (f" ({', '.join(failed_checks)})" if failed_checks else "")
    )
    for failure in summary.failures:
        console.print(f"[red]échec[/red] {failure}")
    console.print(f"Entrepôt DuckDB : {paths.database}")
    console.print(f"Instantanés bruts : {paths.snapshots_dir}")
    console.print(f"Exports : {paths.exports_dir}")
    console.print(f"Instance Dagster (make dev pour l'interface) : {home}")
    if not summary.success:
        raise typer.Exit(1)


@app.command("sources")
def list_sources() -> None:
    """List the declared sources."""
    from sources.registry import load_specs

    table = Table(title="Sources déclarées")
    for column in ("nom", "niveau", "éditeur", "transport", "calendrier", "licence"):
        table.add_column(column, overflow="fold")
    for spec in load_specs():
        table.add_row(spec.name, spec.level, spec.publisher, spec.transport, spec.schedule, spec.licence)
    console.print(table)


@app.command()
def record(
    source: str = typer.Argument(..., help="Nom de la source, tel que déclaré (aides sources)."),
    into: Path = typer.Option(PROJECT_ROOT / "tests" / "fixtures", help="Dossier des jeux enregistrés."),
) -> None:
    """Record a web source's live responses into ``INTO/SOURCE/`` for replay (needs a network)."""
    from sources.base import CollectContext, adapter_module
    from sources.fetch import FetchError, SnapshotStore
    from sources.registry import fetch_policy, get_spec

    try:
        spec = get_spec(source)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc
    if spec.transport != "http":
        console.print(
            f"[red]{source} n'est pas une source web (transport {spec.transport}) : rien à enregistrer.[/red]"
        )
        raise typer.Exit(2)
    paths = warehouse_paths()
    ctx = CollectContext(SnapshotStore(paths.snapshots_dir), paths.cache_dir, fetch_policy(), record_root=into)
    try:
        payload = adapter_module(spec).collect(spec, ctx)
    except FetchError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"{len(payload.documents)} réponses enregistrées dans {into / spec.name}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8000, help="Port d'écoute."),
) -> None:
    """Start the collectivités' web application (territories, aids, downloads, submissions)."""
    from webapp.app import serve as run_server

    run_server(host, port)


@app.command("lookup")
def lookup_command(
    code: str = typer.Argument(
        ..., help="Code INSEE de la commune (ou d'un arrondissement municipal, d'une commune déléguée)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Réponse en JSON."),
    all_statuses: bool = typer.Option(False, "--all", help="Toutes les aides, y compris clôturées et à venir."),
) -> None:
    """The aids whose eligibility covers a commune, from the latest release (never the network)."""
    import json
    import sys

    from warehouse.db import WarehouseMissingError, connect_reader
    from warehouse.publication.lookup import CatalogueIndex, UnknownCommuneError, lookup

    paths = warehouse_paths()
    release = paths.exports_dir / "latest"
    if not (release / "aides-communes.parquet").exists():
        print(f"Aucune publication dans {release} : lancez `make run`.", file=sys.stderr)
        raise typer.Exit(2)
    index = CatalogueIndex(release)
    try:
        with connect_reader(paths) as conn:
            answer = lookup(index, code, conn, include_closed=all_statuses)
    except WarehouseMissingError:
        answer = None
    except UnknownCommuneError:
        print(f"Code de commune inconnu : {code!r} (attendu : un code INSEE, par exemple 75056).", file=sys.stderr)
        raise typer.Exit(2) from None
    if answer is None:  # no referential at hand: the release alone
        try:
            answer = lookup(index, code, None, include_closed=all_statuses)
        except UnknownCommuneError:
            print(f"Code de commune inconnu : {code!r}.", file=sys.stderr)
            raise typer.Exit(2) from None
    if as_json:
        print(
            json.dumps(
                {
                    "commune": answer.commune,
                    "demande": answer.requested,
                    "publication": release.resolve().name,
                    "nombre": len(answer.aides),
                    "aides": answer.aides,
                },
                ensure_ascii=False,
                default=str,
                indent=2,
            )
        )
        return
    table = Table(title=f"Aides pour la commune {answer.commune} ({len(answer.aides)})")
    for column in ("échelle", "titre", "statut", "sources"):
        table.add_column(column, overflow="fold")
    for aide in answer.aides:
        table.add_row(
            str(aide.get("echelle")), str(aide.get("titre")), str(aide.get("statut")), str(aide.get("sources"))
        )
    console.print(table)


if __name__ == "__main__":
    app()
