"""Command line for what collectivités submit: access tokens, file validation, pre-filled files.

Registered by ``aides_cli/main.py``:

- ``tokens_app`` as ``aides tokens``: ``create --siren … --email …`` (prints the token ONCE: only its
  sha256 is stored), ``revoke TOKEN_OR_ID``, ``list [--json]``;
- ``validate_command`` as ``aides validate FILE [--json] [--territoire SIREN] [--catalogue]``: exit 0
  when the file is valid, 1 when it is not, 2 when it cannot be checked (no file, no referential);
  ``--json`` prints ``{"valide", "lignes", "problemes": [{"ligne", "colonne", "valeur", "message",
  "gravite", "nature"}], "hors_territoire", …}``;
- ``prefill_command`` as ``aides prefill SIREN [-o FILE]``: the pre-filled file of a collectivité.

They read the warehouse read-only, except ``tokens create`` / ``revoke`` (the single writer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from warehouse.db import WarehouseMissingError, connect_reader, connect_writer
from warehouse.normalise.geography import GeoResolver

tokens_app = typer.Typer(help="Jetons d'accès des collectivités (soumission de fichiers).", no_args_is_help=True)
console = Console(width=160)
err = Console(width=160, stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(code)


def _resolver(conn: duckdb.DuckDBPyConnection) -> GeoResolver:
    """The resolver of the warehouse's referential; exit 2 with a clear message when there is none."""
    try:
        count = conn.execute("SELECT count(*) FROM ref_communes").fetchone()[0]
    except duckdb.CatalogException as exc:
        raise _fail(f"L'entrepôt n'a pas de référentiel géographique ({exc}) : lancez `make run`.") from exc
    if count == 0:
        raise _fail("Le référentiel géographique n'est pas chargé dans l'entrepôt : lancez `make run`.")
    return GeoResolver.from_warehouse(conn)


# --------------------------------------------------------------------------- aides tokens


@tokens_app.command("create")
def create_command(
    siren: str = typer.Option(
        ..., "--siren", help="SIREN de la commune ou de l'EPCI ; DEP-xx ou REG-xx pour un département ou une région."
    ),
    email: str = typer.Option(..., "--email", help="Adresse de la personne qui reçoit le jeton."),
) -> None:
    """Create an access token for one person of a collectivité; it is printed once, never stored."""
    from warehouse.submissions.prefill import collectivite_code
    from warehouse.submissions.tokens import TokenError, create_token

    with connect_writer() as conn:
        try:
            known = collectivite_code(conn, siren.strip())
        except duckdb.CatalogException:
            known = None
        if known is None:
            raise _fail(
                f"Collectivité inconnue du référentiel : {siren!r} (SIREN d'une commune ou d'un EPCI, "
                "DEP-xx, REG-xx ; le référentiel doit être chargé : `make run`)."
            )
        try:
            token = create_token(conn, siren.strip(), email)
        except TokenError as exc:
            raise _fail(str(exc)) from exc
    err.print(
        f"Jeton créé pour {known} ({email}). Il ne sera plus jamais affiché : transmettez-le maintenant.",
        highlight=False,
    )
    print(token)


@tokens_app.command("revoke")
def revoke_command(
    token: str = typer.Argument(..., help="Le jeton, son identifiant (aides tokens list) ou le début de celui-ci."),
) -> None:
    """Revoke a token: it never authenticates again."""
    from warehouse.submissions.tokens import TokenError, revoke_token

    with connect_writer() as conn:
        try:
            info = revoke_token(conn, token)
        except TokenError as exc:
            raise _fail(str(exc)) from exc
    console.print(
        f"Jeton {info.id} ({info.siren}, {info.email}) révoqué le {info.revoked_at:%Y-%m-%d %H:%M:%S %Z}.",
        highlight=False,
    )


@tokens_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Réponse en JSON.")) -> None:
    """List the tokens (never the secrets): id, collectivité, email, creation and revocation dates."""
    from warehouse.submissions.tokens import list_tokens

    try:
        with connect_reader() as conn:
            tokens = list_tokens(conn)
    except WarehouseMissingError as exc:
        raise _fail(str(exc)) from exc
    except duckdb.CatalogException:
        tokens = []
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": t.id,
                        "siren": t.siren,
                        "email": t.email,
                        "cree_le": t.created_at.isoformat(),
                        "revoque_le": t.revoked_at.isoformat() if t.revoked_at else None,
                    }
                    for t in tokens
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table(title=f"Jetons des collectivités ({len(tokens)})")
    for column in ("id", "collectivité", "email", "créé le", "révoqué le"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.id,
            t.siren,
            t.email,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


# --------------------------------------------------------------------------- aides validate


def validate_command(
    file: Path = typer.Argument(..., help="Le fichier de soumission à vérifier (CSV ou classeur Excel .xlsx)."),
    as_json: bool = typer.Option(False, "--json", help="Rapport en JSON."),
    territoire: str | None = typer.Option(
        None,
        "--territoire",
        help="SIREN de la collectivité qui soumet (ou "
        "DEP-xx / REG-xx) : vérifie que chaque aide "
        "relève de son territoire.",
    ),
    catalogue: bool = typer.Option(
        False,
        "--catalogue",
        help="Vérifier aussi les id des corrections et retraits contre le catalogue de l'entrepôt.",
    ),
) -> None:
    """Validate a submission file: exit 0 if valid, 1 if not, 2 if it cannot be checked."""
    from warehouse.submissions.checks import validate_submission
    from warehouse.submissions.prefill import catalogue_geography

    if not file.is_file():
        raise _fail(f"Fichier introuvable : {file}")
    content = file.read_bytes()
    try:
        with connect_reader() as conn:
            resolver = _resolver(conn)
            known = None
            if catalogue:
                try:
                    known = catalogue_geography(conn)
                except duckdb.CatalogException as exc:
                    raise _fail("L'entrepôt n'a pas encore de catalogue : lancez `make run`.") from exc
    except WarehouseMissingError as exc:
        raise _fail(f"{exc} (le référentiel géographique est nécessaire pour vérifier les codes)") from exc
    report = validate_submission(content, file.name, resolver, territory=territoire, catalogue=known)
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, file)
    raise typer.Exit(0 if report.valid else 1)


def _print_report(report, file: Path) -> None:  # noqa: ANN001 — SubmissionReport
    verdict = "[green]valide[/green]" if report.valid else "[red]invalide[/red]"
    console.print(
        f"{file.name} : {verdict}, {report.rows} ligne(s), {len(report.errors)} erreur(s), "
        f"{len(report.warnings)} avertissement(s)" + (" — hors territoire" if report.hors_territoire else "")
    )
    if not report.problems:
        return
    table = Table()
    for column in ("ligne", "colonne", "gravité", "message", "valeur"):
        table.add_column(column, overflow="fold")
    for p in report.problems:
        table.add_row("" if p.ligne is None else str(p.ligne), p.colonne or "", p.gravite, p.message, p.valeur or "")
    console.print(table)


# --------------------------------------------------------------------------- aides prefill


def prefill_command(
    siren: str = typer.Argument(..., help="SIREN de la collectivité (ou DEP-xx / REG-xx)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Fichier à écrire (sinon la sortie standard)."),
) -> None:
    """Write the pre-filled submission file of a collectivité (its territory's published aids)."""
    from warehouse.submissions.prefill import prefilled_submission

    try:
        with connect_reader() as conn:
            resolver = _resolver(conn)
            content = prefilled_submission(conn, siren, resolver)
    except WarehouseMissingError as exc:
        raise _fail(str(exc)) from exc
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    except duckdb.CatalogException as exc:
        raise _fail("L'entrepôt n'a pas encore de catalogue : lancez `make run`.") from exc
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        output.write_bytes(content)
        err.print(f"{output} écrit.", highlight=False)
