"""Alerts without an account (issue 15): the Atom feeds of a theme and of a territory.

Theme feeds read releases of the golden aids written by ``api_releases`` (no referential
needed); territory feeds read the small hand-made referential of ``test_webapp`` with two
releases published by the real publisher. Every feed is parsed by ``feedparser`` and its
RFC 4287 structure checked element by element.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import polars as pl
import pytest
from api_releases import golden_aids, write_release
from test_webapp import AVRILLE, NOW, SIREN_ALM, VELO, TestClient, _aid, build_warehouse

from warehouse.db import connect_writer
from warehouse.normalise.geography import GeoResolver
from warehouse.publication.release import publish_release
from warehouse.settings import WarehousePaths
from webapp.app import create_app

PARIS = ZoneInfo("Europe/Paris")
V2_AT = datetime(2026, 11, 8, 5, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ADDED_OPEN = "aaaaaaaa-0000-4000-8000-000000000001"
ADDED_CLOSED = "aaaaaaaa-0000-4000-8000-000000000002"


def _client(paths: WarehousePaths) -> TestClient:
    return TestClient(create_app(paths, session_key=b"k" * 32, api_rate=(1e6, 10**6)), raise_server_exceptions=False)


def parse(answer) -> feedparser.FeedParserDict:
    """The feed of an answer, after checking it is served and built as RFC 4287 requires."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(answer.content)
    assert root.tag == f"{ATOM}feed"

    def one(parent: ET.Element, name: str) -> ET.Element:
        found = parent.findall(f"{ATOM}{name}")
        assert len(found) == 1, f"{name}: {len(found)} elements in {parent.tag}"
        return found[0]

    for name in ("id", "title", "updated", "author"):
        one(root, name)
    assert one(one(root, "author"), "name").text
    assert RFC3339.match(one(root, "updated").text)
    rels = [(link.get("rel"), link.get("href")) for link in root.findall(f"{ATOM}link")]
    assert sorted(rel for rel, _ in rels) == ["alternate", "self"]
    for entry in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated", "summary"):
            assert one(entry, name).text
        assert RFC3339.match(one(entry, "updated").text)
        assert [link.get("rel") for link in entry.findall(f"{ATOM}link")] == ["alternate"]
    feed = feedparser.parse(answer.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    for href in [feed.feed.id, *(link.href for link in feed.feed.links)]:
        assert href.startswith(("http://testserver/", "tag:")), href
    ids = [entry.id for entry in feed.entries]
    assert len(ids) == len(set(ids)), "entry ids must be unique"
    for entry in feed.entries:
        assert entry.id.startswith("tag:catalogue-aides,2026:aide/")
        assert entry.link.startswith("http://testserver/aide/")
    return feed


def events(feed: feedparser.FeedParserDict) -> list[tuple[str, str]]:
    """(event, aid id) of each entry, in the feed's order."""
    found = []
    for entry in feed.entries:
        kind = next(t.term for t in entry.tags if t.scheme == "tag:catalogue-aides,2026:evenement")
        found.append((kind, entry.link.rsplit("/", 1)[1]))
    return found


def assert_problem(answer, status: int, parameter: str | None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status and answer.json()["parametre"] == parameter


# --------------------------------------------------------------------------- theme feeds


@pytest.fixture
def paths(tmp_path: Path) -> WarehousePaths:
    paths = WarehousePaths(tmp_path / "warehouse")
    paths.exports_dir.mkdir(parents=True)
    return paths


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T23:59:59").replace(tzinfo=PARIS)


def _set(frame: pl.DataFrame, aid: str, **values) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col("id") == aid).then(pl.lit(v, frame.schema[k])).otherwise(pl.col(k)).alias(k)
        for k, v in values.items()
    )


def _releases() -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    """V1 and V2 of the golden aids, and the aids whose events the transport feed must list.

    Among the open aids of the theme transport only: one closing 12 days after V2, one exactly 30
    days after, one 31 days after (not listed), one closed with a later date (not listed); in
    V2 two retitled, one closed (listed: its closure is news), one changed in ``date_collecte``
    only (not listed), one removed (not listed), one open aid added (listed, also in
    « energie »), one aid added already closed (not listed).
    """
    v1 = golden_aids()
    pick = v1.filter((pl.col("thematiques") == "transport") & (pl.col("statut") == "ouverte"))["id"].to_list()
    aids = dict(
        zip(
            ("closing", "edge_in", "edge_out", "closed_later", "retitled_a", "retitled_b", "collected", "closed")
            + ("removed", "model"),
            pick,
            strict=False,
        )
    )
    v1 = _set(v1, aids["closing"], date_cloture=_at("2026-11-20"))
    v1 = _set(v1, aids["edge_in"], date_cloture=_at("2026-12-08"))
    v1 = _set(v1, aids["edge_out"], date_cloture=_at("2026-12-09"))
    v1 = _set(v1, aids["closed_later"], date_cloture=_at("2026-11-15"), statut="clôturée")
    v2 = v1.filter(pl.col("id") != aids["removed"])
    for key in ("retitled_a", "retitled_b"):
        old = v1.filter(pl.col("id") == aids[key])["titre"][0]
        v2 = _set(v2, aids[key], titre=f"{old} (nouvelle édition)")
    v2 = _set(v2, aids["collected"], date_collecte=datetime(2026, 11, 8, 4, tzinfo=UTC))
    v2 = _set(v2, aids["closed"], statut="clôturée")
    model = v1.filter(pl.col("id") == aids["model"])
    added = pl.concat(
        [
            model.with_columns(
                pl.lit(ADDED_OPEN).alias("id"),
                pl.lit("Aide ajoutée en V2").alias("titre"),
                pl.lit("Jusqu'à 500 € pour un vélo cargo.").alias("promesse"),
                pl.lit("transport|energie").alias("thematiques"),
            ),
            model.with_columns(pl.lit(ADDED_CLOSED).alias("id"), pl.lit("clôturée").alias("statut")),
        ]
    )
    return v1, pl.concat([v2, added]).sort("id"), aids


def test_a_theme_feed_lists_added_changed_and_closing_aids(paths) -> None:
    v1, v2, aids = _releases()
    write_release(paths, "2026-09-01.1", v1, datetime(2026, 9, 1, 5, tzinfo=UTC))  # older than 30 days
    write_release(paths, "2026-11-08.1", v2, V2_AT)
    client = _client(paths)
    feed = parse(client.get("/flux/thematique/transport.atom"))
    retitled = sorted(
        (aids["retitled_a"], aids["retitled_b"], aids["closed"]),
        key=lambda i: v2.row(by_predicate=pl.col("id") == i, named=True)["titre"],
    )
    assert events(feed) == [
        ("cloture", aids["closing"]),
        ("cloture", aids["edge_in"]),  # 30 days after the release: still listed
        ("ajout", ADDED_OPEN),
        *(("modification", i) for i in retitled),
    ]
    assert feed.feed.title == "Aides à la transition écologique — thématique transport"
    assert feed.feed.id == "tag:catalogue-aides,2026:flux/thematique/transport"
    assert feed.feed.updated == "2026-11-08T05:00:00Z"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == "http://testserver/flux/thematique/transport.atom"
    assert links["alternate"] == "http://testserver/api/v1/aides?thematique=transport"
    assert feed.feed.author == "Catalogue des aides à la transition écologique"
    by_aid = {entry.link.rsplit("/", 1)[1]: entry for entry in feed.entries if "cloture" not in entry.id}

    closing = feed.entries[0]
    assert closing.title.startswith("Clôture proche : ") and closing.title.endswith("(ferme le 20/11/2026)")
    assert closing.id == f"tag:catalogue-aides,2026:aide/{aids['closing']}/cloture/2026-11-20"
    assert closing.summary.startswith("Ferme le 20/11/2026.")
    assert closing.updated == "2026-10-20T22:00:00Z"  # when it entered the 30 days (midnight in Paris)
    assert feed.entries[1].updated == "2026-11-07T23:00:00Z"

    added = by_aid[ADDED_OPEN]
    assert added.title == "Nouvelle aide : Aide ajoutée en V2"
    assert added.id == f"tag:catalogue-aides,2026:aide/{ADDED_OPEN}/2026-11-08.1/ajout"
    assert added.link == f"http://testserver/aide/{ADDED_OPEN}"
    assert added.updated == "2026-11-08T05:00:00Z"
    assert added.summary == "Jusqu'à 500 € pour un vélo cargo."
    assert {t.term for t in added.tags} == {"ajout", "transport", "energie"}

    retitled_entry = by_aid[aids["retitled_a"]]
    assert retitled_entry.title.startswith("Aide modifiée : ") and retitled_entry.title.endswith(
        "(nouvelle édition) (titre)"
    )
    assert retitled_entry.summary.startswith("Champs modifiés : titre.")
    assert retitled_entry.id == f"tag:catalogue-aides,2026:aide/{aids['retitled_a']}/2026-11-08.1/modification"
    closed = by_aid[aids["closed"]]
    assert closed.title.endswith("(statut)") and "Statut : clôturée." in closed.summary

    energie = parse(client.get("/flux/thematique/energie.atom"))
    assert ("ajout", ADDED_OPEN) in events(energie)
    assert not {aids["retitled_a"], aids["closing"]} & {aid for _, aid in events(energie)}


def test_the_events_of_every_release_of_the_last_30_days_are_kept_newest_first_capped_at_100(paths) -> None:
    v1, v2, aids = _releases()
    v1_at = datetime(2026, 10, 25, 5, tzinfo=UTC)
    write_release(paths, "2026-10-25.1", v1, v1_at)  # the first release: every aid is new
    client = _client(paths)
    first = parse(client.get("/flux/thematique/transport.atom"))
    kinds = [kind for kind, _ in events(first)]
    assert len(kinds) == 100 and kinds[0] == "cloture" and set(kinds[1:]) == {"ajout"}  # 30 days from V1
    assert first.entries[0].updated == "2026-10-25T05:00:00Z"  # published after it entered the 30 days

    write_release(paths, "2026-11-08.1", v2, V2_AT)
    feed = parse(client.get("/flux/thematique/transport.atom"))  # the new release, without a restart
    listed = events(feed)
    assert len(listed) == 100
    assert listed[:6] == [
        ("cloture", aids["closing"]),
        ("cloture", aids["edge_in"]),
        ("ajout", ADDED_OPEN),
        *listed[3:6],
    ]
    assert {kind for kind, _ in listed[3:6]} == {"modification"}
    older = feed.entries[6:]
    assert all(e.id.endswith("/2026-10-25.1/ajout") and e.updated == "2026-10-25T05:00:00Z" for e in older)
    assert aids["removed"] not in {aid for _, aid in listed}  # removed since: not listed any more
    assert aids["closed"] not in {aid for kind, aid in listed if kind == "ajout"}  # closed now


def test_unknown_theme_is_a_404_problem_and_nothing_published_a_503(paths) -> None:
    client = _client(paths)
    assert_problem(client.get("/flux/thematique/transport.atom"), 503, None)
    write_release(paths, "2026-11-08.1", golden_aids(), V2_AT)
    answer = client.get("/flux/thematique/velo.atom")
    assert_problem(answer, 404, "thematique")
    assert "transport" in answer.json()["detail"]
    assert_problem(client.get("/flux/thematique/Transport.atom"), 404, "thematique")


def test_a_feed_is_revalidated_with_the_release_validators_and_served_to_any_origin(paths) -> None:
    write_release(paths, "2026-11-08.1", golden_aids(), V2_AT)
    client = _client(paths)
    answer = client.get("/flux/thematique/energie.atom", headers={"Origin": "https://lecteur.example"})
    parse(answer)
    assert answer.headers["etag"] == 'W/"2026-11-08.1"'
    assert answer.headers["last-modified"] == "Sun, 08 Nov 2026 05:00:00 GMT"
    assert answer.headers["access-control-allow-origin"] == "*"
    again = client.get("/flux/thematique/energie.atom", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == 'W/"2026-11-08.1"'
    since = client.get("/flux/thematique/energie.atom", headers={"If-Modified-Since": answer.headers["last-modified"]})
    assert since.status_code == 304
    stale = client.get("/flux/thematique/energie.atom", headers={"If-None-Match": 'W/"2026-11-01.1"'})
    assert stale.status_code == 200
    head = client.head("/flux/thematique/energie.atom")
    assert (
        head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("application/atom")
    )


# --------------------------------------------------------------------------- territory feeds

NOUVELLE = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://exemple.test/webapp/nouvelle"))
SECOND = NOW + timedelta(days=35)  # the first release is then out of the 30 days


@pytest.fixture(scope="module")
def territories(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """``test_webapp``'s warehouse and release, then a second release: VELO's amount changed,
    AVRILLE closing 17 days after it, a new aid in Angers."""
    built = build_warehouse(tmp_path_factory.mktemp("feeds") / "warehouse")
    paths = built["paths"]
    with connect_writer(paths) as conn:
        conn.execute("UPDATE aides SET montant_max = 800 WHERE id = ?", [VELO])
        conn.execute("UPDATE aides SET date_cloture = '2027-01-20' WHERE id = ?", [AVRILLE])
        row = _aid(NOUVELLE, "Prime au vélo cargo", ["COM-49007"], thematiques=["transport", "energie"])
        conn.execute(f"INSERT INTO aides ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        conn.execute(
            "INSERT INTO aides_provenance VALUES (?, 'ville-angers:cargo', 'ville-angers', 'cargo', true, "
            "'Vélo cargo', 'https://exemple.test/aide')",
            [NOUVELLE],
        )
        conn.execute(
            "INSERT INTO source_records (source, native_id, digest, titre, url_source) "
            "VALUES ('ville-angers', 'cargo', 'd', 'Vélo cargo', 'https://exemple.test/aide')"
        )
        result = publish_release(conn, paths, GeoResolver.from_warehouse(conn), now=SECOND)
    assert result.version == "2027-01-03.1"
    return _client(paths)


def test_a_commune_feed_lists_the_events_of_the_aids_that_apply_there(territories) -> None:
    feed = parse(territories.get("/flux/territoire/49007.atom"))
    assert events(feed) == [("ajout", NOUVELLE), ("modification", VELO)]  # not Avrillé's closing
    assert feed.feed.title == "Aides à la transition écologique — Angers"
    assert feed.feed.id == "tag:catalogue-aides,2026:flux/territoire/COM-49007"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {
        "self": "http://testserver/flux/territoire/49007.atom",
        "alternate": "http://testserver/territoire/49007",
    }
    assert feed.entries[1].title == "Aide modifiée : Aide à l'achat d'un vélo (montant maximal)"
    assert feed.entries[0].title == "Nouvelle aide : Prime au vélo cargo"
    assert {t.term for t in feed.entries[0].tags} == {"ajout", "transport", "energie"}


@pytest.mark.parametrize("code", ["COM-49007", "com-49007", " 49007"])
def test_every_form_of_a_commune_code_answers_its_canonical_feed(territories, code) -> None:
    feed = parse(territories.get(f"/flux/territoire/{code}.atom"))
    assert feed.feed.id == "tag:catalogue-aides,2026:flux/territoire/COM-49007"
    assert {link.rel: link.href for link in feed.feed.links}["self"] == "http://testserver/flux/territoire/49007.atom"


def test_an_arrondissement_answers_the_feed_of_its_commune(territories) -> None:
    feed = parse(territories.get("/flux/territoire/69381.atom"))
    assert feed.feed.id == "tag:catalogue-aides,2026:flux/territoire/COM-69123"
    assert feed.feed.title == "Aides à la transition écologique — Lyon" and feed.entries == []


def test_epci_departement_and_region_feeds_cover_their_communes(territories) -> None:
    epci = parse(territories.get(f"/flux/territoire/EPCI-{SIREN_ALM}.atom"))
    assert events(epci) == [
        ("cloture", AVRILLE),
        ("ajout", NOUVELLE),
        ("modification", AVRILLE),
        ("modification", VELO),
    ]
    assert epci.feed.title == "Aides à la transition écologique — CU Angers Loire Métropole"
    closing = epci.entries[0]
    assert closing.title == "Clôture proche : Aide vélo d'Avrillé (ferme le 20/01/2027)"
    assert closing.updated == "2027-01-03T06:00:00Z"  # its closing date was published then (later than 30 days before)
    assert epci.entries[2].title == "Aide modifiée : Aide vélo d'Avrillé (date de fin)"
    for code in ("DEP-49", "dep-49", "REG-52", "PAYS-99100"):
        assert events(parse(territories.get(f"/flux/territoire/{code}.atom"))) == events(epci), code
    ain = parse(territories.get("/flux/territoire/DEP-01.atom"))  # nothing happened there: an empty feed
    assert ain.entries == [] and ain.feed.title == "Aides à la transition écologique — Ain"


@pytest.mark.parametrize("code", ["99999", "DEP-00", "EPCI-123456789", "nimportequoi", "PAYS-99999", "REG-5"])
def test_unknown_territory_is_a_404_problem(territories, code) -> None:
    assert_problem(territories.get(f"/flux/territoire/{code}.atom"), 404, "code")


def test_territory_feed_revalidation(territories) -> None:
    answer = territories.get("/flux/territoire/49007.atom")
    assert answer.headers["etag"] == 'W/"2027-01-03.1"'
    again = territories.get("/flux/territoire/49007.atom", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert_problem(
        territories.get("/flux/territoire/99999.atom", headers={"If-None-Match": answer.headers["etag"]}), 404, "code"
    )


@pytest.mark.parametrize(
    ("page", "feed"),
    [("/territoire/49007", "/flux/territoire/49007.atom"), ("/territoire/69381", "/flux/territoire/69123.atom")]
    + [(f"/territoire/EPCI-{SIREN_ALM}", f"/flux/territoire/EPCI-{SIREN_ALM}.atom")]
    + [("/territoire/DEP-49", "/flux/territoire/DEP-49.atom"), ("/territoire/REG-52", "/flux/territoire/REG-52.atom")],
)
def test_a_territory_page_links_to_its_feed(territories, page, feed) -> None:
    html = territories.get(page).text
    head = html[: html.index("</head>")]
    assert '<link rel="alternate" type="application/atom+xml" title="Nouveautés des aides — ' in head
    assert f'href="{feed}">' in head
    body = html[html.index("<body>") :]
    assert f'href="{feed}" type="application/atom+xml">Suivre les nouveautés de ce territoire' in body
    parse(territories.get(feed))
