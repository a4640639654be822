"""The ``aides`` command line: run the pipeline and query what it built."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from warehouse.settings import warehouse_paths

app = typer.Typer(help="Catalogue national des aides à la transition écologique.", no_args_is_help=True)
console = Console()

# Metadata keys shown in the run summary; the rest stays in the Dagster UI.
_SHOWN = ("version", "telecharge", "recharge", "dagster/row_count")


@app.callback()
def main() -> None:
    """Catalogue national des aides à la transition écologique."""


@app.command()
def run() -> None:
    """Run the whole pipeline (référentiel, sources, catalogue, exports) and print a summary."""
    from pipelines.run import default_dagster_home, run_pipeline

    home = default_dagster_home()
    summary = run_pipeline()
    paths = warehouse_paths()
    table = Table(title=f"Run {summary.run_id[:8]} — {'réussi' if summary.success else 'en échec'}")
    table.add_column("asset")
    table.add_column("résultat")
    for outcome in summary.assets:
        meta = outcome.metadata
        shown = ", ".join(f"{key.removeprefix('nb_')}={meta[key]}" for key in meta if key.startswith("nb_"))
        flags = ", ".join(f"{key}={meta[key]}" for key in _SHOWN if key in meta)
        table.add_row(outcome.asset, "; ".join(part for part in (flags, shown) if part))
    for name, passed in summary.checks:
        table.add_row(f"contrôle {name}", "ok" if passed else "ÉCHEC")
    console.print(table)
    for failure in summary.failures:
        console.print(f"[red]échec[/red] {failure}")
    console.print(f"Entrepôt DuckDB : {paths.database}")
    console.print(f"Exports : {paths.exports_dir}")
    console.print(f"Instance Dagster (make dev pour l'interface) : {home}")
    if not summary.success:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
