"""Sources' labels → cibles / types_aides / thematiques through the CSV tables of warehouse/normalise/vocab.

The tables are checked against the schema, then used on the labels the adapters emit (their
constants and fixtures) and on the real payloads aides-territoires recorded; whatever does not
map must come back in ``unmapped``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from normalise_test_helpers import WHITE_SPACE
from paths import AT_API, FIXTURES, REAL_SOURCES

import schemas
from sources.adapters import aides_velo, mesaidesreno
from warehouse.normalise import vocabulary
from warehouse.normalise.vocabulary import FIELDS, allowed_values, load_vocabulary, map_vocabulary, normalise_key

CROSSWALKS = REAL_SOURCES / "aides-territoires" / "vocabulary"


def _frame(field: str, rows: list[tuple[str, str, list[str] | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"record_key": pl.String, "source": pl.String, field: pl.List(pl.String)}, orient="row"
    )


def _mapped(field: str, rows: list[tuple[str, str, list[str] | None]]) -> tuple[dict[str, list[str]], pl.DataFrame]:
    mapped, unmapped = map_vocabulary(_frame(field, rows), field)
    target = FIELDS[field][0]
    return dict(zip(mapped["record_key"], mapped[target].to_list(), strict=False)), unmapped


# -- the tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", list(FIELDS))
def test_tables_only_hold_schema_values(field: str) -> None:
    table = load_vocabulary(field)
    assert table.columns == ["source", "valeur_source", "valeur_cible", "cle"]
    assert table.height > 30
    assert set(table["valeur_cible"].drop_nulls()) <= set(allowed_values(field))
    # no label is listed twice with different spellings for the same source and target
    assert table.select("source", "cle", "valeur_cible").is_duplicated().sum() == 0


def test_enumerations_come_from_the_schema() -> None:
    assert allowed_values("cibles") == ("professionnels", "particuliers", "associations", "secteur public")
    assert allowed_values("thematiques") == schemas.THEMATIQUES
    assert set(allowed_values("types_aides")) >= {"financement", "information", "prêt", "avantage fiscal"}
    with pytest.raises(ValueError, match="champ sans vocabulaire"):
        map_vocabulary(_frame("porteurs", []), "porteurs")


def test_declared_sources_only() -> None:
    """A source-specific line names a declared source (a typo would never match)."""
    from sources.registry import load_specs

    names = {spec.name for spec in load_specs()} | {"*"}
    for field in FIELDS:
        assert set(load_vocabulary(field)["source"]) <= names


def test_a_bad_table_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "thematiques.csv").write_text(
        "# x\nsource,valeur_source,valeur_cible\n*,Vélo,mobilite\n", encoding="utf-8"
    )
    monkeypatch.setattr(vocabulary, "VOCAB_DIR", tmp_path)
    vocabulary._load.cache_clear()
    try:
        with pytest.raises(ValueError, match="hors du vocabulaire thematiques : \\['mobilite'\\]"):
            load_vocabulary("thematiques")
    finally:
        vocabulary._load.cache_clear()


def test_normalise_key() -> None:
    frame = pl.DataFrame({"v": ["  Énergies   /  Déchets ", "ŒUVRE", "Qualité de l’air", None]})
    got = frame.select(normalise_key(pl.col("v"))).to_series().to_list()
    assert got == ["energies / dechets", "oeuvre", "qualite de l'air", None]


# -- matching rules --------------------------------------------------------------------------------


def test_constants_the_adapters_emit() -> None:
    rows = [
        ("velo", "aides-velo", list(aides_velo.THEMATIQUES)),
        ("reno", "mesaidesreno", list(mesaidesreno.THEMATIQUES)),
    ]
    got, unmapped = _mapped("thematiques", rows)
    assert got == {"velo": ["transport"], "reno": ["energie", "logement"]}
    assert unmapped.height == 0
    got, _ = _mapped(
        "types_aides",
        [
            ("velo", "aides-velo", list(aides_velo.TYPES_AIDE)),
            ("ptz", "mesaidesreno", ["prêt"]),
            ("tf", "mesaidesreno", ["exonération fiscale"]),
            ("mpr", "mesaidesreno", ["remboursement"]),
        ],
    )
    assert got == {"velo": ["financement"], "ptz": ["prêt"], "tf": ["avantage fiscal"], "mpr": ["financement"]}
    got, _ = _mapped(
        "cibles",
        [
            ("velo", "aides-velo", list(aides_velo.PUBLICS)),
            ("mte", "mission-transition-ecologique-programmes", ["entreprises", "administrations publiques"]),
            ("csv", "mission-transition-ecologique-csv", ["professionnels"]),
        ],
    )
    assert got == {"velo": ["particuliers"], "mte": ["professionnels", "secteur public"], "csv": ["professionnels"]}


def test_case_accents_and_spaces_do_not_matter() -> None:
    stated = ["  ASSOCIATIONS ", "etablissement public", "Intercommunalités  /  Pays"]
    got, unmapped = _mapped("cibles", [("a", "x", stated)])
    assert got == {"a": ["associations", "secteur public"]}
    assert unmapped.height == 0


def test_source_lines_win_over_generic_lines() -> None:
    # "Aménagement du territoire" is urbanisme for any source, but a broad theme of Nouvelle-Aquitaine's site
    got, unmapped = _mapped(
        "thematiques",
        [
            ("na", "region-nouvelle-aquitaine", ["Aménagement du territoire"]),
            ("idf", "region-ile-de-france", ["Aménagement du territoire"]),
        ],
    )
    assert got == {"na": [], "idf": ["urbanisme"]}
    assert unmapped.height == 0  # known, deliberately without a target: not unmapped
    # ADEME's codes only mean something for ADEME
    got, unmapped = _mapped("cibles", [("ademe", "ademe-agir", ["SCA2", "SCA3"]), ("autre", "x", ["SCA2"])])
    assert got == {"ademe": ["professionnels", "secteur public"], "autre": []}
    assert unmapped.rows() == [("autre", "x", "cibles", "SCA2")]


def test_theme_and_category_values() -> None:
    got, unmapped = _mapped(
        "thematiques",
        [
            ("cat", "aides-territoires", ["Énergies / Déchets|Réseaux de chaleur"]),  # the category decides
            (
                "none",
                "aides-territoires",
                ["Urbanisme / logement / aménagement|Cimetières et funéraire"],
            ),  # known, none
            ("theme", "aides-territoires", ["Nature / environnement|Catégorie inconnue"]),  # falls back to the theme
            ("lost", "aides-territoires", ["Thème inconnu|Catégorie inconnue"]),
        ],
    )
    assert got == {"cat": ["energie"], "none": [], "theme": ["biodiversite"], "lost": []}
    assert unmapped.rows() == [("lost", "aides-territoires", "thematiques", "Thème inconnu|Catégorie inconnue")]


def test_one_value_several_targets_deduplicated_and_sorted() -> None:
    got, _ = _mapped(
        "thematiques",
        [
            (
                "r",
                "aides-territoires",
                ["Urbanisme / logement / aménagement", "Logement et habitat", "Économie circulaire", "Déchets"],
            )
        ],
    )
    assert got == {"r": ["consommation", "dechet", "logement", "urbanisme"]}


def test_unmapped_values_are_listed_never_dropped() -> None:
    mapped, unmapped = map_vocabulary(
        _frame(
            "thematiques",
            [
                ("a", "region-occitanie", ["Transport et mobilité", "Astronautique", "", None, "  "]),
                ("b", "region-occitanie", None),
                ("c", "region-occitanie", []),
                ("a", "region-occitanie", ["Sport"]),
            ],
        ),
        "thematiques",
    )
    assert mapped.rows() == [("a", ["loisir", "transport"]), ("b", []), ("c", [])]
    assert unmapped.rows() == [("a", "region-occitanie", "thematiques", "Astronautique")]
    assert mapped.schema["thematiques"] == pl.List(pl.String)


def test_empty_frame() -> None:
    mapped, unmapped = map_vocabulary(_frame("types_aides", []), "types_aides")
    assert mapped.height == 0 and unmapped.height == 0
    assert mapped.columns == ["record_key", "types_aides"]
    assert unmapped.columns == ["record_key", "source", "field", "valeur"]


# -- real vocabularies -----------------------------------------------------------------------------


def _crosswalk_labels(name: str, column: int = 0) -> list[str]:
    with open(CROSSWALKS / name, encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))[1:]
    return sorted({row[column].strip() for row in rows if len(row) > column and row[column].strip()})


@pytest.mark.parametrize(
    ("source", "field", "crosswalk", "column"),
    [
        ("ademe-agir", "cibles", "ademe_agir_audiences_mapping.csv", 0),
        ("ademe-agir", "thematiques", "ademe_agir_categories_mapping.csv", 1),
        ("region-ile-de-france", "cibles", "ile_de_france_audiences_mapping.csv", 0),
        ("region-ile-de-france", "thematiques", "ile_de_france_categories_mapping.csv", 0),
        ("departement-manche", "thematiques", "departement_manche_categories_mapping.csv", 1),
        ("region-occitanie", "thematiques", "occitanie_categories_mapping.csv", 0),
        ("region-nouvelle-aquitaine", "cibles", "nouvelle_aquitaine_rss_audiences_mapping.csv", 0),
        ("region-pays-de-la-loire", "cibles", "pays_de_la_loire_audiences_mapping.csv", 0),
        ("region-pays-de-la-loire", "thematiques", "pays_de_la_loire_categories_mapping.csv", 2),
        ("region-pays-de-la-loire", "types_aides", "pays_de_la_loire_types_mapping.csv", 0),
    ],
)
def test_every_crosswalk_label_of_a_declared_source_is_known(
    source: str, field: str, crosswalk: str, column: int
) -> None:
    labels = _crosswalk_labels(crosswalk, column)
    _, unmapped = _mapped(field, [(label, source, [label]) for label in labels])
    assert unmapped.height == 0, unmapped["valeur"].to_list()


def test_aides_territoires_own_vocabulary_on_the_right_of_the_crosswalks() -> None:
    labels: set[str] = set()
    for path in CROSSWALKS.glob("*_mapping.csv"):
        with open(path, encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
        header = rows[0]
        for row in rows[1:]:
            for index, value in enumerate(row):
                if index < len(header) and " AT" in header[index] and value.strip():
                    labels.add(value.strip())
    labels.discard("Plusieurs sous thématiques ?")  # a question in aides-territoires' own sheet
    audiences = {label for label in labels if label in _crosswalk_values("Bénéficiaires")}
    types = {label for label in labels if label in _crosswalk_values("Types")}
    themes = labels - audiences - types
    for field, values in (("cibles", audiences), ("types_aides", types), ("thematiques", themes)):
        _, unmapped = _mapped(field, [(v, "aides-territoires", [v]) for v in sorted(values)])
        assert unmapped.height == 0, (field, unmapped["valeur"].to_list())
    assert len(themes) >= 90 and len(audiences) >= 12


def _crosswalk_values(kind: str) -> set[str]:
    values: set[str] = set()
    for path in CROSSWALKS.glob("*_mapping.csv"):
        with open(path, encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
        for index, name in enumerate(rows[0]):
            if name.startswith(kind) and " AT" in name:
                values |= {row[index].strip() for row in rows[1:] if len(row) > index and row[index].strip()}
    return values


def test_real_payload_labels_all_map() -> None:
    ademe = json.loads((AT_API / "ademe_agir_data.json").read_text(encoding="utf-8"))["ListeDispositifs"]
    drome = json.loads((AT_API / "departement_drome_data.json").read_text(encoding="utf-8-sig"))["results"]
    manche = json.loads((AT_API / "departement_manche_data.json").read_text(encoding="utf-8"))["aides"]
    idf = json.loads((AT_API / "ile_de_france_data.json").read_text(encoding="utf-8"))
    publics = (
        [(f"a{i['id']}", "ademe-agir", i["cible_projet"]) for i in ademe]
        + [(f"d{i['id']}", "departement-drome", i["targeted_audiences"]) for i in drome]
        + [(f"m{i['id']}", "departement-manche", i["targeted_audiences"]) for i in manche]
        + [(f"i{i['reference']}", "region-ile-de-france", [p["title"] for p in i["publicsBeneficiaire"]]) for i in idf]
    )
    themes = (
        [(f"a{i['id']}", "ademe-agir", i["thematiques"]) for i in ademe]
        + [(f"d{i['id']}", "departement-drome", i["categories"]) for i in drome]
        + [(f"m{i['id']}", "departement-manche", i["categories"]) for i in manche]
        + [(f"i{i['reference']}", "region-ile-de-france", [c["title"] for c in i["competences"]]) for i in idf]
    )
    types = (
        [(f"a{i['id']}", "ademe-agir", [t for t in (i["type"], i.get("sous_type_aap")) if t]) for i in ademe]
        + [(f"d{i['id']}", "departement-drome", i["aid_types"]) for i in drome]
        + [(f"m{i['id']}", "departement-manche", i["aid_types"]) for i in manche]
    )
    cibles, unmapped = _mapped("cibles", publics)
    assert unmapped.height == 0, unmapped
    assert cibles[f"a{ademe[0]['id']}"] == ["associations", "professionnels", "secteur public"]  # SCA1-3
    thematiques, unmapped = _mapped("thematiques", themes)
    assert unmapped.height == 0, unmapped
    assert thematiques[f"a{ademe[3]['id']}"] == ["energie"]  # ENR, GEOTER, ENRAUT
    assert thematiques[f"d{drome[0]['id']}"] == ["alimentation"]
    _, unmapped = _mapped("types_aides", types)
    assert unmapped.height == 0, unmapped


def _split(item: dict, *names: str) -> list[str]:
    """The values of fields the source's entry splits on ";" (sources/catalogue/web.toml)."""
    return [part for name in names for part in (item[name] or "").split(";")]


def test_fixture_labels_all_map() -> None:
    """Labels of the sources' replay fixtures (Gironde, Angers, Pays de la Loire, Occitanie…)."""
    pdl = json.loads((FIXTURES / "region-pays-de-la-loire" / "records-all.json").read_text(encoding="utf-8"))
    rows = {"cibles": [], "thematiques": [], "types_aides": []}
    for item in pdl["results"]:
        key = str(item["intervention_id"])
        rows["cibles"].append((key, "region-pays-de-la-loire", _split(item, "aid_benef")))
        rows["thematiques"].append(
            (key, "region-pays-de-la-loire", _split(item, "thematique_libelle", "ss_thematique_libelle"))
        )
        rows["types_aides"].append((key, "region-pays-de-la-loire", _split(item, "type_aide", "type_de_subvention")))
    rows["thematiques"] += [
        (
            "angers",
            "ville-angers",
            ["Déchets", "Jardin", "Eau", "Mobilité", "Vélo", "Nature en ville", "Énergie", "Logement"],
        ),
        ("gironde", "departement-gironde", ["Environnement", "Agriculture", "Énergie", "Alimentation", "Eau"]),
    ]
    rows["cibles"] += [
        (
            "angers",
            "ville-angers",
            ["Particuliers résidant à Angers", "Copropriétés", "Commerçants", "Propriétaires occupants"],
        ),
        (
            "gironde",
            "departement-gironde",
            ["Communes de moins de 5 000 habitants", "EPCI", "Syndicats de bassin versant", "Agriculteurs"],
        ),
    ]
    for field, field_rows in rows.items():
        _, unmapped = _mapped(field, field_rows)
        assert unmapped.height == 0, (field, unmapped)


# -- never raises ----------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=5),
            st.sampled_from(["*", "ademe-agir", "x"]),
            st.one_of(st.none(), st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=5)),
        ),
        max_size=15,
    ),
    st.sampled_from(list(FIELDS)),
)
def test_never_raises_and_every_value_is_accounted_for(rows, field: str) -> None:
    mapped, unmapped = map_vocabulary(_frame(field, rows), field)
    target = FIELDS[field][0]
    assert set(mapped["record_key"]) == {key for key, _, _ in rows}
    allowed = set(allowed_values(field))
    assert all(set(values) <= allowed and values == sorted(set(values)) for values in mapped[target].to_list())
    stated = sum(1 for _, _, values in rows for v in (values or []) if v is not None and v.strip(WHITE_SPACE))
    assert unmapped.height <= stated
