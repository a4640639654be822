"""Access tokens of collectivités (warehouse/submissions/tokens.py) and ``aides tokens``."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager

import pytest
import typer
from typer.testing import CliRunner
from warehouse_test_helpers import load_minimal_referential

from aides_cli.collectivites import tokens_app
from warehouse.db import connect_reader, connect_writer
from warehouse.submissions.tokens import (
    Authenticator,
    Identity,
    TokenAuthenticator,
    TokenError,
    authenticator_from_config,
    create_token,
    list_tokens,
    revoke_token,
    verify_token,
)

PARIS = "217500016"


def _all_text(conn) -> str:
    """Every value of every table of the warehouse, as text."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    return "\n".join(str(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"').fetchall())


def test_a_token_verifies_until_revoked_and_only_its_hash_is_stored(warehouse):
    with connect_writer(warehouse) as conn:
        token = create_token(conn, PARIS, "agent@paris.fr")
        other = create_token(conn, "DEP-69", "agent@rhone.fr")
        assert len(token) >= 43 and token != other
        info = verify_token(conn, token)
        assert info is not None and info.identity == Identity(PARIS, "agent@paris.fr") and info.active
        assert info.id == hashlib.sha256(token.encode()).hexdigest()[:12]
        assert verify_token(conn, token + "x") is None and verify_token(conn, "") is None
        assert verify_token(conn, info.id) is None  # the id is not a credential
        stored = conn.execute("SELECT token_sha256 FROM collectivite_jetons WHERE id = ?", [info.id]).fetchone()[0]
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        everything = _all_text(conn)
        assert token not in everything and other not in everything
        revoked = revoke_token(conn, token)
        assert revoked.revoked_at is not None and verify_token(conn, token) is None
        assert verify_token(conn, other) is not None
        again = revoke_token(conn, info.id)  # revoking twice keeps the first date
        assert again.revoked_at == revoked.revoked_at
    database = warehouse.database.read_bytes()
    assert token.encode() not in database and other.encode() not in database


def test_revoke_by_id_prefix_and_clear_errors(warehouse):
    with connect_writer(warehouse) as conn:
        token = create_token(conn, PARIS, "agent@paris.fr")
        token_id = verify_token(conn, token).id
        assert revoke_token(conn, token_id[:6]).id == token_id
        assert verify_token(conn, token) is None
        with pytest.raises(TokenError, match="aucun jeton"):
            revoke_token(conn, "ffffff" if not token_id.startswith("ffffff") else "000000")
        with pytest.raises(TokenError, match="au moins 6"):
            revoke_token(conn, "abc")
        assert [t.id for t in list_tokens(conn)] == [token_id]


@pytest.mark.parametrize(
    ("siren", "email", "words"),
    [
        ("21750001", "a@b.fr", "collectivité invalide"),
        ("../etc", "a@b.fr", "collectivité invalide"),
        (PARIS, "pas-une-adresse", "adresse électronique invalide"),
    ],
)
def test_bad_siren_or_email_are_refused(warehouse, siren, email, words):
    with connect_writer(warehouse) as conn:
        with pytest.raises(TokenError, match=words):
            create_token(conn, siren, email)
        assert list_tokens(conn) == []


def test_the_token_authenticator_is_the_login_seam(warehouse):
    with connect_writer(warehouse) as conn:
        token = create_token(conn, "200046977", "agent@grandlyon.fr")

    @contextmanager
    def connect():
        with connect_reader(warehouse) as conn:
            yield conn

    auth = TokenAuthenticator(connect)
    assert isinstance(auth, Authenticator)
    assert auth.authenticate(token) == Identity("200046977", "agent@grandlyon.fr")
    assert auth.authenticate("mauvais") is None
    default = TokenAuthenticator()  # the warehouse of AIDES_WAREHOUSE_DIR, read-only
    assert default.authenticate(token) == Identity("200046977", "agent@grandlyon.fr")
    assert isinstance(authenticator_from_config(), TokenAuthenticator)
    with pytest.raises(NotImplementedError, match="ProConnect"):
        authenticator_from_config("proconnect")
    with pytest.raises(ValueError, match="inconnu"):
        authenticator_from_config("ldap")


def test_cli_create_prints_the_token_once_list_never_shows_it_revoke(warehouse):
    load_minimal_referential(warehouse)
    app = typer.Typer()
    app.add_typer(tokens_app, name="tokens")
    runner = CliRunner()
    created = runner.invoke(app, ["tokens", "create", "--siren", PARIS, "--email", "agent@paris.fr"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert len(token) >= 43 and "ne sera plus jamais affiché" in created.stderr
    listed = runner.invoke(app, ["tokens", "list", "--json"])
    assert listed.exit_code == 0 and token not in listed.stdout
    [entry] = json.loads(listed.stdout)
    assert entry["siren"] == PARIS and entry["revoque_le"] is None
    unknown = runner.invoke(app, ["tokens", "create", "--siren", "123456789", "--email", "a@b.fr"])
    assert unknown.exit_code == 2 and "Collectivité inconnue" in unknown.stderr
    revoked = runner.invoke(app, ["tokens", "revoke", entry["id"]])
    assert revoked.exit_code == 0 and "révoqué" in revoked.stdout
    assert json.loads(runner.invoke(app, ["tokens", "list", "--json"]).stdout)[0]["revoque_le"] is not None
    assert runner.invoke(app, ["tokens", "revoke", "zz"]).exit_code == 2
    with connect_reader(warehouse) as conn:
        assert verify_token(conn, token) is None
