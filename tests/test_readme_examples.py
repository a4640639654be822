"""The README's examples, read from README.md itself and checked against the project (issue 16, point 5).

Everything is extracted from the README's fenced blocks and inline code, never copied here:

- every ``aides …`` command exists with the options it is given (typer's ``--help`` through
  CliRunner on ``aides_cli.main:app``), and so does every ``make`` target; ``make serve`` installs
  the DSFR, and a paragraph that runs ``.venv/bin/aides serve`` by hand says ``make web`` first;
- every repository path and environment variable it names exists in the code;
- every address of the API, feeds and downloads is a GET route of the application, with query
  parameters that route declares, and every filter of ``/api/v1/aides`` is documented;
- on the real COG referential (``registry``): each example code or SIREN names what the README
  says (« couvrent Paris », « les aides de Lyon », the token of ``agent@angers.fr``…), the
  read-only commands run, and every API example answers 200 on a warehouse with a release.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import typer.main
from starlette.routing import Mount, Route
from typer.testing import CliRunner

from aides_cli.main import app as cli
from warehouse.settings import PROJECT_ROOT, WarehousePaths

README = PROJECT_ROOT / "README.md"
REPOSITORY_FOLDERS = ("sources", "warehouse", "webapp", "schemas", "tests", "pipelines", "aides_cli", "benchmarks")
CODE_FOLDERS = ("sources", "warehouse", "webapp", "schemas", "aides_cli", "pipelines")
RUNNABLE = {
    ("lookup",),
    ("geo", "resolve"),
    ("orgs", "resolve"),
    ("tokens", "create"),
    ("tokens", "list"),
    ("sources",),
}
"""The example commands run for real on the test warehouse: they read it, or only add a token."""

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


# --------------------------------------------------------------------------- reading the README


@cache
def readme() -> str:
    return README.read_text(encoding="utf-8")


@cache
def code_lines() -> tuple[str, ...]:
    """The lines of the fenced blocks, comments removed, then every inline code span."""
    text = readme()
    fenced = [line.split("  #")[0].strip() for block in _FENCE.findall(text) for line in block.splitlines()]
    inline = re.findall(r"`([^`\n]+)`", _FENCE.sub("", text))
    return tuple(line for line in [*fenced, *inline] if line)


def commented(pattern: str) -> re.Match[str]:
    """A fenced line of the README and its comment, e.g. a command and what it returns."""
    for block in _FENCE.findall(readme()):
        match = re.search(pattern, block)
        if match:
            return match
    raise AssertionError(f"README.md : exemple introuvable ({pattern}) ; mettez ce test à jour")


def cli_examples() -> list[list[str]]:
    """Every ``aides …`` command of the README, as arguments (« … » and what follows dropped)."""
    examples = []
    for line in code_lines():
        match = re.fullmatch(r"(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/)?aides\s+(.*)", line)  # not the asset `aides`
        if match:
            arguments = shlex.split(match.group(1))
            examples.append(arguments[: arguments.index("…")] if "…" in arguments else arguments)
    # the table row of `.venv/bin/aides --help` names the subcommands: (`aides run`, `sources`, …)
    row = next(line for line in readme().splitlines() if "`.venv/bin/aides --help`" in line)
    listed = re.search(r"\(([^)]*)\)", row.split("`.venv/bin/aides --help`", 1)[1])
    assert listed, "README.md : la ligne de `.venv/bin/aides --help` ne liste plus les sous-commandes"
    examples += [name.removeprefix("aides ").split() for name in re.findall(r"`([^`]+)`", listed.group(1))]
    return [list(arguments) for arguments in dict.fromkeys(tuple(arguments) for arguments in examples)]


def addresses() -> list[str]:
    """The application's addresses the README gives: curl examples, /api/…, /flux/…, /telechargements/…
    (a prefix such as « sous `/api/v1/` » is not an address: see :func:`prefixes`)."""
    found = []
    for line in code_lines():
        for url in re.findall(r"https?://127\.0\.0\.1:8000[^\s'\"`]*", line):
            found.append(url.split("127.0.0.1:8000", 1)[1] or "/")
        if re.fullmatch(r"/(?:api|flux|telechargements)\S*", line) and line not in prefixes():
            found.append(line)
    return sorted(set(found))


@cache
def prefixes() -> frozenset[str]:
    """The inline addresses that name a part of the site: « sous `/api/v1/` »."""
    return frozenset(re.findall(r"sous `(/[^`]*/)`", readme()))


def _folded(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(c))


# --------------------------------------------------------------------------- commands


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _command(arguments: list[str]) -> tuple[list[str], Any, list[str]]:
    """The subcommand path the arguments name, the click command, and the arguments left."""
    command: Any = typer.main.get_command(cli)
    path: list[str] = []
    rest = list(arguments)
    while _is_group(command) and rest and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def test_the_readme_gives_commands_to_check():
    paths = {tuple(_command(arguments)[0]) for arguments in cli_examples()}
    assert {("run",), ("lookup",), ("geo", "resolve"), ("tokens", "create"), ("serve",), ("validate",)} <= paths


@pytest.mark.parametrize("arguments", cli_examples(), ids=lambda a: " ".join(a) or "aides")
def test_cli_example_names_a_command_and_its_options(arguments):
    path, command, rest = _command(arguments)
    if _is_group(command):
        assert not rest or rest[0].startswith("-"), (
            f"README.md : « aides {' '.join(arguments)} » : sous-commande inconnue"
        )
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    for word in rest:
        if word.startswith("-") and word != "-":
            assert word.split("=")[0] in options, (
                f"README.md : « aides {' '.join(arguments)} » : option {word} inconnue"
            )
    shown = CliRunner().invoke(cli, [*path, "--help"])
    assert shown.exit_code == 0, shown.output


def test_make_targets_exist_and_make_serve_installs_the_dsfr():
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = dict(re.findall(r"^([a-z][\w-]*):(.*)$", makefile, re.M))
    named = {target for line in code_lines() for target in re.findall(r"(?:^|\s)make ([a-z][\w-]*)", line)}
    assert {"run", "test", "serve", "dev"} <= named
    assert named <= set(targets), f"README.md nomme des cibles absentes du Makefile : {named - set(targets)}"
    assert "web" in targets["serve"].split(), "Makefile : `make serve` doit installer le DSFR (cible web)"
    for paragraph in readme().split("\n\n"):
        if "`.venv/bin/aides serve" in paragraph:  # run by hand: the pages need the DSFR first
            assert "make web" in paragraph, f"README.md : « aides serve » sans « make web » : {paragraph[:120]}"


def test_repository_paths_and_environment_variables_exist():
    missing = []
    for line in code_lines():
        for word in line.split():
            if word.split("/")[0] in REPOSITORY_FOLDERS and "/" in word:
                pattern = "/".join(
                    "*" if re.fullmatch(r"<[^>]+>|[A-Z]{3,}", part) else re.sub(r"<[^>]+>", "*", part)
                    for part in word.rstrip(".,;:").split("/")
                )
                if not list(PROJECT_ROOT.glob(pattern.rstrip("/"))):
                    missing.append(word)
    assert missing == [], f"README.md nomme des chemins absents : {missing}"
    code = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in CODE_FOLDERS
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.suffix in (".py", ".toml", ".yaml") and "node_modules" not in path.parts
    ) + (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    variables = {v for line in code_lines() for v in re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=?", line)}
    assert "AIDES_WAREHOUSE_DIR" in variables
    assert {v for v in variables if v not in code} == set(), "README.md : variables d'environnement inconnues"


# --------------------------------------------------------------------------- addresses


def _app(root: Path):
    from webapp.app import create_app

    return create_app(WarehousePaths(root))


def _route(routes, path: str) -> Route | None:
    """The GET route (or the route of a mounted application) that serves ``path``."""
    for route in routes:
        if isinstance(route, Mount) and path.startswith(route.path + "/") and hasattr(route.app, "routes"):
            found = _route(route.app.routes, path[len(route.path) :])
            if found is not None:
                return found
        elif isinstance(route, Route) and "GET" in (route.methods or ()) and route.path_regex.fullmatch(path):
            return route
    return None


def test_the_readme_gives_addresses_to_check():
    shown = addresses()
    assert "/api/v1/aides" in {urlsplit(a).path for a in shown} and "/api/openapi.json" in shown
    assert any(a.startswith("/flux/") for a in shown) and any(a.startswith("/telechargements/") for a in shown)


def test_addresses_are_routes_with_their_parameters(tmp_path):
    application = _app(tmp_path / "warehouse")
    for prefix in prefixes():
        assert any(a.startswith(prefix) for a in addresses()), f"README.md : aucune adresse sous {prefix}"
    for address in addresses():
        parts = urlsplit(re.sub(r"<[^>]+>", "x", address))
        route = _route(application.routes, parts.path)
        assert route is not None, f"README.md : {address} ne correspond à aucune page ni route de l'API"
        declared = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", [])}
        for name, _value in parse_qsl(parts.query):
            assert name in declared, f"README.md : {address} : paramètre {name} inconnu de {route.path}"


def test_every_filter_of_the_aids_api_is_documented(tmp_path):
    route = _route(_app(tmp_path / "warehouse").routes, "/api/v1/aides")
    assert route is not None
    bullet = next(p for p in readme().split("\n- ") if p.startswith("Filtres de `/api/v1/aides`"))
    documented = {name.rstrip("=") for name in re.findall(r"`([^`]+)`", bullet)}
    undocumented = {p.alias for p in route.dependant.query_params} - documented  # type: ignore[attr-defined]
    assert undocumented == set(), f"README.md, « Filtres de /api/v1/aides » : {undocumented} non documentés"


# --------------------------------------------------------------------------- on the real referential


@pytest.fixture(scope="module")
def real(referential_package, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The real COG, the hand-made aids of test_webapp.py and their release (2026-11-29.1)."""
    from test_webapp import NOW, insert_catalogue
    from warehouse_test_helpers import warehouse_with_referential

    from warehouse.db import connect_writer
    from warehouse.normalise.geography import GeoResolver
    from warehouse.publication.release import publish_release

    paths = warehouse_with_referential(tmp_path_factory.mktemp("readme") / "warehouse", referential_package)
    with connect_writer(paths) as conn:
        insert_catalogue(conn)
        publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=NOW)
    return {"paths": paths}


def _one(paths: WarehousePaths, sql: str, params: list) -> tuple | None:
    from warehouse.db import connect_reader

    with connect_reader(paths) as conn:
        return conn.execute(sql, params).fetchone()


@pytest.mark.registry
def test_example_codes_name_what_the_readme_says(real):
    paths = real["paths"]
    code, place = commented(r"aides lookup (\d{5})\b.*#[^\n]*couvrent (\w+)").groups()
    assert _one(paths, "SELECT nom FROM ref_communes WHERE code = ?", [code]) == (place,), f"{code} n'est pas {place}"
    code, place = commented(r"/communes/(\w+)/aides'\s*#[^\n]*arrondissement : les aides de (\w+)").groups()
    row = _one(
        paths,
        "SELECT r.type, c.nom FROM ref_communes_rattachees r JOIN ref_communes c ON c.code = r.commune WHERE r.code = ?",
        [code],
    )
    assert row == ("arrondissement-municipal", place), f"{code} : {row}"
    for line in code_lines():
        for siren, name in re.findall(r"--siren (\d{9}) --email [\w.-]+@([\w-]+)\.", line):
            found = _one(
                paths,
                "SELECT nom FROM ref_communes WHERE siren = ? UNION ALL SELECT nom FROM ref_epci WHERE siren = ?",
                [siren, siren],
            )
            assert found and _folded(name) in _folded(found[0]), (
                f"README.md : le SIREN {siren} n'est pas {name} ({found})"
            )
        for code in re.findall(r"\bCOM-(\w+)", line):
            assert _one(paths, "SELECT 1 FROM ref_communes WHERE code = ?", [code]), f"COM-{code} inconnu"
    for address in addresses():
        query = dict(parse_qsl(urlsplit(address).query))
        if "commune" in query:
            assert _one(
                paths,
                "SELECT 1 FROM ref_communes WHERE code = ? UNION ALL SELECT 1 FROM ref_communes_rattachees WHERE code = ?",
                [query["commune"]] * 2,
            ), f"{address} : commune inconnue"
        if re.fullmatch(r"\d{5}", query.get("q", "")) and urlsplit(address).path.endswith("/territoires"):
            assert _one(paths, "SELECT 1 FROM ref_codes_postaux WHERE code_postal = ?", [query["q"]]), address


@pytest.mark.registry
def test_read_only_example_commands_run_on_the_real_referential(real, monkeypatch):
    monkeypatch.setenv("AIDES_WAREHOUSE_DIR", str(real["paths"].root))
    ran = set()
    for arguments in cli_examples():
        path, command, rest = _command(arguments)
        if tuple(path) not in RUNNABLE or any(re.fullmatch(r"[A-Z]{2,}|<[^>]+>", a) for a in arguments):
            continue  # a command that writes, or an example with placeholders
        if not rest and any(param.required for param in command.params):
            continue  # a command named in a sentence (« `aides lookup` lit la dernière publication »)
        result = CliRunner().invoke(cli, arguments)
        assert result.exit_code == 0, f"aides {' '.join(arguments)} : {result.output}"
        ran.add(tuple(path))
        if "--json" in arguments and tuple(path) == ("geo", "resolve"):
            answers = json.loads(result.output)
            assert all(a["status"] != "unresolved" for a in answers), answers
        if "--json" in arguments and tuple(path) == ("orgs", "resolve"):
            assert "siren" in result.output
    assert {("lookup",), ("geo", "resolve"), ("tokens", "create")} <= ran


@pytest.mark.registry
def test_api_examples_answer_on_a_release(real):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from starlette.testclient import TestClient
    from test_webapp import VELO

    client = TestClient(_app(real["paths"].root), raise_server_exceptions=False)
    placeholders = {"<id>": VELO, "<version>": "latest", "<fichier>": "datapackage.json"}
    for address in addresses():
        for placeholder, value in placeholders.items():
            address = address.replace(placeholder, value)
        answer = client.get(address, follow_redirects=False)
        assert answer.status_code == 200, f"README.md : {address} répond {answer.status_code} : {answer.text[:300]}"
    postal = client.get("/api/v1/territoires", params={"q": "49000"}).json()
    assert "COM-49007" in json.dumps(postal)  # Angers, for the README's postal code
