"""aides-jeunes' ecological-transition benefits: the real repository files of ../shared (commit
8843e65) packed at test time into the .tar.gz GitHub's codeload serves (top folder
``aides-jeunes-<ref>/``), replayed at the configured archive URL; and archives made wrong on
purpose from the same files."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import yaml
from collect_test_helpers import context
from paths import FIXTURES

from sources.adapters import aides_jeunes as adapter
from sources.base import Payload
from sources.config import config_errors
from sources.fetch.transport import ReplayTransport
from sources.record import GeoMention
from sources.registry import get_spec

AIDES_JEUNES = Path(__file__).resolve().parents[1].parent / "shared" / "real-sources" / "aides-jeunes"
TOP = "aides-jeunes-8843e65"
SPEC = get_spec("aides-jeunes-mobilite")
URL = SPEC.config["archive_url"]
BENEFITS = AIDES_JEUNES / "data" / "benefits" / "javascript"
CAMPAIGNS = "data/benefits/dynamic/incitations-covoiturage.json"


def make_archive(path: Path, changes: dict[str, bytes | None] | None = None) -> Path:
    """The shared folder as a .tar.gz, with ``changes`` (path → new content, None: left out)."""
    changes = dict(changes or {})
    with tarfile.open(path, "w:gz") as archive:
        archive.add(AIDES_JEUNES, arcname=TOP, recursive=False)
        for file in sorted(AIDES_JEUNES.rglob("*")):
            relative = file.relative_to(AIDES_JEUNES).as_posix()
            if relative in changes:
                content = changes.pop(relative)
                if content is not None:
                    _add(archive, relative, content)
            elif file.is_file() or file.is_dir():
                archive.add(file, arcname=f"{TOP}/{relative}", recursive=False)
        for relative, content in changes.items():
            if content is not None:
                _add(archive, relative, content)
    return path


def _add(archive: tarfile.TarFile, relative: str, content: bytes) -> None:
    info = tarfile.TarInfo(f"{TOP}/{relative}")
    info.size = len(content)
    archive.addfile(info, io.BytesIO(content))


def collect_and_parse(tmp_path: Path, archive: Path, spec=SPEC):  # noqa: ANN001, ANN201 - test helper
    transport = ReplayTransport.from_files({URL: archive})
    payload = adapter.collect(spec, context(tmp_path, transport))
    return payload, adapter.parse(spec, payload), transport


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aides-jeunes")
    archive = make_archive(tmp / "main.tar.gz")
    payload, result, transport = collect_and_parse(tmp, archive)
    return archive, payload, result, transport


def _record(result, native_id: str):
    return next(record for record in result.records if record.native_id == native_id)


def _campaigns(result):
    return [r for r in result.records if r.native_id.startswith("incitation-covoiturage-")]


# -- collect -------------------------------------------------------------------------------------
def test_collect_is_one_get_of_the_archive(real) -> None:
    archive, payload, _, transport = real
    assert [url for url in transport.requested if not url.endswith("/robots.txt")] == [URL]
    assert URL == "https://codeload.github.com/betagouv/aides-jeunes/tar.gz/refs/heads/main"
    [(document, content)] = payload.documents
    assert (document.name, document.media_type) == (URL, "application/gzip")
    assert content == archive.read_bytes()


def test_declared_as_a_daily_multi_level_http_source_of_1jeune1solution() -> None:
    assert (SPEC.adapter, SPEC.level, SPEC.transport, SPEC.schedule, SPEC.precedence) == (
        "aides_jeunes",
        "multi",
        "http",
        "0 4 * * *",
        45,
    )
    assert SPEC.publisher == "1jeune1solution (aides-jeunes)"
    assert SPEC.homepage == "https://www.1jeune1solution.gouv.fr/mes-aides"
    assert SPEC.licence.startswith("AGPL-3.0")
    assert config_errors(adapter, SPEC.config) == []


def test_config_refuses_unknown_keys_and_unreadable_patterns() -> None:
    assert config_errors(adapter, {**SPEC.config, "archive": "x"}) == ["clé inconnue : archive"]
    assert config_errors(adapter, {k: v for k, v in SPEC.config.items() if k != "archive_url"}) == [
        "clé obligatoire absente : archive_url"
    ]
    bad_rule = {**SPEC.config, "selection": [{"thematiques": ["vélo"], "label_patterns": ["("]}]}
    assert any("motif illisible" in error for error in config_errors(adapter, bad_rule))
    empty_rule = {**SPEC.config, "selection": [{"thematiques": ["vélo"]}]}
    assert any("slugs ou des motifs" in error for error in config_errors(adapter, empty_rule))


# -- the real repository --------------------------------------------------------------------------
def test_every_campaign_and_every_selected_benefit_is_a_record(real) -> None:
    _, payload, result, _ = real
    assert result.unreadable == [] and result.rejections == []
    # the 111 campaigns: every code_siren is an EPCI of data/institutions, so none is rejected
    campaigns = _campaigns(result)
    assert len(json.loads((AIDES_JEUNES / CAMPAIGNS).read_text(encoding="utf-8"))) == 111
    assert len(campaigns) == 111
    assert len({r.native_id for r in campaigns}) == 111
    assert Counter(m.niveau for r in campaigns for m in r.geo_inclusions) == {"epci": 111}
    # the 431 benefit files, sorted by the configuration
    selection = adapter.selected_benefits(SPEC, payload)
    assert len(selection.status) == len(list(BENEFITS.glob("*.yml"))) == 431
    assert selection.counts == {
        adapter.SELECTED: 54,
        adapter.NOT_MATCHED: 307,
        adapter.EXCLUDED: 62,  # driving licence, studies and internships abroad
        adapter.PRIVATE: 8,  # hidden by aides-jeunes itself
    }
    assert selection.missing == []
    benefits = [r for r in result.records if not r.native_id.startswith("incitation-covoiturage-")]
    assert sorted(r.native_id for r in benefits) == selection.slugs(adapter.SELECTED)
    assert len(result.records) == 54 + 111
    assert Counter(t for r in benefits for t in r.thematiques) == {
        "transports": 35,
        "mobilité": 13,
        "énergie": 2,
        "climat": 2,
        "vélo": 1,
        "véhicule électrique": 1,
    }
    assert all(r.geo_inclusions and r.porteurs and r.url_source for r in result.records)
    json.dumps([record.to_row() for record in result.records])


def test_bafa_scholarships_and_driving_licence_are_not_selected(real) -> None:
    _, payload, result, _ = real
    selection = adapter.selected_benefits(SPEC, payload)
    bafa = [slug for slug in selection.status if "bafa" in slug.lower()]
    assert len(bafa) > 100
    assert {selection.status[slug] for slug in bafa} == {adapter.NOT_MATCHED}
    assert selection.status["union-europeenne-bourse-erasmus"] == adapter.EXCLUDED
    assert selection.status["bretagne-aide-code-permis"] == adapter.EXCLUDED
    assert selection.status["auvergne-rhone-alpes-bourse-merite"] == adapter.NOT_MATCHED
    assert selection.status["union_europeenne_discovereu"] == adapter.NOT_MATCHED
    # hidden by aides-jeunes: the State's 2023 carpooling premium, Île-de-France's clean vehicles
    assert selection.status["cohesion_territoires-aide-covoiturage-du-quotidien"] == adapter.PRIVATE
    assert selection.status["region-ile-de-france-vehicules-propres"] == adapter.PRIVATE
    ids = {record.native_id for record in result.records}
    assert not ids & {slug for slug, status in selection.status.items() if status != adapter.SELECTED}


def test_real_campaign_of_sarreguemines(real) -> None:
    _, _, result, _ = real
    record = _record(result, "incitation-covoiturage-200070746")
    assert record.titre == "Incitation au covoiturage de la Communauté d'agglomération de Sarreguemines Confluences"
    assert record.porteurs == ["Communauté d'agglomération de Sarreguemines Confluences"]
    assert record.niveau == "epci"
    assert record.geo_inclusions == [GeoMention("epci", code="200070746")]
    assert record.montants == [
        "1 € par trajet et par passager",
        "4 € par trajet et par passager",
        "jusqu'à 150 € par mois",
    ]
    assert record.conditions == ["distance du trajet : de 2 à 80 km"]
    assert record.url_source == "https://www.agglo-sarreguemines.fr/covoiturage/"
    assert "BlablaCarDaily" in record.description
    assert "trajets gratuits, dans la limite de 60 par mois" in record.description
    assert "entre 2 et 80 kilomètres" in record.eligibilite
    assert (record.date_ouverture, record.date_cloture) == (None, None)  # the campaigns state no dates
    assert (record.thematiques, record.cibles, record.types_aides) == (["mobilité"], ["particuliers"], ["Aide"])


def test_real_campaign_with_a_platform_and_no_monthly_ceiling(real) -> None:
    _, _, result, _ = real
    record = _record(result, "incitation-covoiturage-200068948")
    assert record.porteurs == ["Communauté de communes Albret Communauté"]
    assert record.montants == ["2 € par trajet et par passager", "8 € par trajet et par passager"]
    assert "Covoit'Albret, opérée par Karos" in record.description
    assert "0,50 € + 0,10 € par kilomètre" in record.description


def test_real_campaign_stating_its_minimum_above_its_maximum(real) -> None:
    _, _, result, _ = real
    campaign = json.loads((AIDES_JEUNES / CAMPAIGNS).read_text(encoding="utf-8"))[71]
    assert (campaign["code_siren"], campaign["conducteur_montant_min_par_passager"]) == ("200070316", 8)
    assert campaign["conducteur_montant_max_par_passager"] == 1.5
    record = _record(result, "incitation-covoiturage-200070316")
    assert record.montants == [
        "1,5 € par trajet et par passager",
        "8 € par trajet et par passager",
        "jusqu'à 150 € par mois",
    ]


def test_real_eco_cheque_mobilite_of_occitanie(real) -> None:
    _, _, result, _ = real
    slug = "region_occitanie-éco-chèque-mobilité-achat-d’une-voiture-électrique-ou-hybride-rechargeable-d’occasion"
    record = _record(result, slug)
    assert record.titre == ('"Éco-chèque mobilité" - Achat d’une voiture électrique ou hybride rechargeable d’occasion')
    assert record.porteurs == ["Occitanie"] and record.niveau == "region"
    assert record.geo_inclusions == [GeoMention("region", code="76")]
    assert record.geo_expression is None
    # age >= 18; quotient_familial <= 14089 per year (RFR / parts)
    assert record.conditions == ["age_min : 18", "plafond_rfr_par_part : 14089", "plafond_rfr_periode : an"]
    assert record.montants == ["4000 € maximum"]
    assert record.thematiques == ["véhicule électrique"]
    assert record.url_demarche.startswith("https://mesaidesenligne.laregion.fr/")


def test_real_energy_fund_of_the_var_excludes_one_epci(real) -> None:
    _, _, result, _ = real
    record = _record(result, "departement-var-fonds-de-solidarite-energie")
    assert record.porteurs == ["Département Var"]
    # attached_to_institution → the département by its code_insee; excluded_epcis → exclusion
    assert record.geo_inclusions == [GeoMention("departement", code="83")]
    assert record.geo_exclusions == [GeoMention("epci", code="248300543")]
    assert record.geo_expression == {
        "toutes": [
            {"lieu": {"niveau": "departement", "code": "83", "nom": None}},
            {"non": {"lieu": {"niveau": "epci", "code": "248300543", "nom": None}}},
        ]
    }
    assert record.conditions == [
        "difficultés importantes pour accéder à un logement ou pour payer les frais liés à un logement"
    ]
    assert record.montants == [] and record.thematiques == ["énergie"]


def test_real_freevelov_loan_and_tag_fare(real) -> None:
    _, _, result, _ = real
    velo = _record(result, "intercommunalite_metropole_lyon-pret-d-un-velo-freevelo-v")
    assert velo.porteurs == ["Métropole de Lyon"]
    assert velo.geo_inclusions == [GeoMention("epci", code="200046977")]  # attached_to_institution
    assert velo.conditions == [
        "age_min : 18",
        "age_max : 25",
        "une de ces conditions : situations : étudiant",
        "une de ces conditions : situations : demandeur d'emploi",
        "une de ces conditions : situations : bénéficiaire du RSA",
        "une de ces conditions : profil : inactif ou inactive",
    ]
    assert velo.thematiques == ["vélo"]
    tag = _record(result, "etat-abonnement-transports-sur-le-reseau-tag")
    assert tag.porteurs == ["Grenoble-Alpes Métropole"]
    assert tag.geo_inclusions == [GeoMention("epci", code="200040715")]
    assert tag.conditions == ["plafond_rfr_par_part : 755", "plafond_rfr_periode : mois"]
    # the amount is the reduced price the user pays: no aid amount, a promise
    assert tag.montants == [] and tag.promesse == "Tarif réduit : 20 € par mois au lieu de 64 €"


def test_real_carpooling_benefit_of_a_syndicate_lists_its_communes(real) -> None:
    _, _, result, _ = real
    record = _record(result, "sm_de_touraine_aide_covoiturage")
    assert record.porteurs == ["Syndicat des mobilités de Touraine"] and record.niveau == "autre"
    assert len(record.geo_inclusions) == 25
    assert {m.niveau for m in record.geo_inclusions} == {"commune"}
    assert GeoMention("commune", code="37261") in record.geo_inclusions
    assert record.conditions == ["age_min : 18"]


def test_an_equals_operator_reads_as_js_yaml_reads_it(tmp_path, real) -> None:
    """``operator: =`` (DiscoverEU) is YAML 1.1's ``value`` tag for PyYAML alone: read as "="."""
    archive, *_ = real
    spec = dataclasses.replace(
        SPEC,
        config={
            "archive_url": URL,
            "selection": [{"thematiques": ["transports"], "slugs": ["union_europeenne_discovereu"]}],
        },
    )
    _, result, _ = collect_and_parse(tmp_path, archive, spec)
    record = _record(result, "union_europeenne_discovereu")
    assert record.conditions == ["age_min : 18", "age_max : 18"]
    assert record.porteurs == ["L'Union européenne"]
    assert record.geo_inclusions == [GeoMention("pays", nom="France")]  # no geographic condition


# -- archives made wrong ----------------------------------------------------------------------------
def test_a_corrupted_yaml_and_an_unknown_institution_are_rejected_by_file(tmp_path) -> None:
    changes: dict[str, bytes | None] = {
        # a selected benefit (label "incitation au covoiturage…") broken
        "data/benefits/javascript/region-occitanie-aide-covoiturage.yml": b"label: [incitation au covoiturage\n",
        # a bike aid of an institution nobody declared
        "data/benefits/javascript/nulle-part-aide-velo.yml": (
            "label: aide à l'achat d'un vélo\ninstitution: nulle_part\ndescription: x\nlink: https://exemple.fr\n"
        ).encode(),
        # a benefit nobody can classify: rejected, since it might be in scope
        "data/benefits/javascript/caf-test-illisible.yml": b"label: 'non ferm\xc3\xa9\n",
        # an in-scope benefit without a label
        "data/benefits/javascript/sans-titre.yml": b"institution: region_occitanie\nlabel: ''\n",
    }
    spec = dataclasses.replace(
        SPEC,
        config={
            **SPEC.config,
            "selection": [
                *SPEC.config["selection"],
                {"thematiques": ["mobilité"], "slugs": ["sans-titre", "disparue"]},
            ],
        },
    )
    _, result, _ = collect_and_parse(tmp_path, make_archive(tmp_path / "a.tar.gz", changes), spec)
    rejected = {r.location: r.reason for r in result.rejections}
    occitanie = "fichier data/benefits/javascript/region-occitanie-aide-covoiturage.yml"
    assert rejected[occitanie].startswith("YAML invalide (ligne 2) :")
    assert rejected[occitanie].endswith("impossible de savoir si l'aide relève de la sélection")
    assert rejected["fichier data/benefits/javascript/nulle-part-aide-velo.yml"] == (
        "champ 'institution' : institution 'nulle_part' inconnue (aucun fichier data/institutions/nulle_part.yml)"
    )
    assert rejected["fichier data/benefits/javascript/caf-test-illisible.yml"].startswith("YAML invalide")
    assert rejected["fichier data/benefits/javascript/sans-titre.yml"] == "champ 'label' absent ou vide"
    assert rejected["configuration, aide 'disparue'"] == (
        "aucun fichier data/benefits/javascript/disparue.yml dans l'archive"
    )
    assert len(result.rejections) == 5
    assert result.unreadable == []
    assert len(result.records) == 54 - 1 + 111
    assert "region-occitanie-aide-covoiturage" not in {r.native_id for r in result.records}


ECO_CHEQUE = "region_occitanie-éco-chèque-mobilité-achat-d’une-voiture-électrique-ou-hybride-rechargeable-d’occasion"


def _only_benefit(data: object) -> bytes:
    """An archive of the real institutions and campaigns with one benefit file, ECO_CHEQUE's."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in sorted((AIDES_JEUNES / "data" / "institutions").glob("*.yml")):
            _add(archive, f"data/institutions/{file.name}", file.read_bytes())
        _add(archive, CAMPAIGNS, (AIDES_JEUNES / CAMPAIGNS).read_bytes())
        _add(archive, f"data/benefits/javascript/{ECO_CHEQUE}.yml", yaml.safe_dump(data, allow_unicode=True).encode())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("label", ["a"], "champ 'label' : texte attendu, trouvé list"),
        ("institution", "region_inconnue", "champ 'institution' : institution 'region_inconnue' inconnue"),
        ("conditions_generales", "tout le monde", "champ 'conditions_generales' : liste attendue, trouvé str"),
        (
            "conditions_generales",
            [{"type": "age", "operator": "~", "value": 3}],
            "conditions_generales n° 1 (age) : opérateur '~'",
        ),
        (
            "conditions_generales",
            [{"type": "age", "operator": "<", "value": "vingt"}],
            "conditions_generales n° 1 (age) : valeur 'vingt'",
        ),
        (
            "conditions_generales",
            [{"type": "regions", "values": "76"}],
            "conditions_generales n° 1 (regions) : 'values'",
        ),
        ("conditions_generales", [{"operator": "<"}], "conditions_generales n° 1 : condition sans 'type'"),
        (
            "conditions_generales",
            [{"type": "quotient_familial", "operator": "<=", "value": 1, "period": "week"}],
            "conditions_generales n° 1 (quotient_familial) : période 'week'",
        ),
        ("profils", [{"conditions": []}], "profils n° 1 : profil sans 'type'"),
        ("profils", [{"type": "salarie", "conditions": 4}], "profils n° 1 : champ 'conditions' : liste attendue"),
        ("montant", "beaucoup", "champ 'montant' : nombre attendu, trouvé 'beaucoup'"),
        ("description", {"texte": "x"}, "champ 'description' : texte attendu, trouvé dict"),
    ],
)
def test_a_benefit_with_a_wrong_field_is_one_rejection_naming_the_field(field: str, value: object, reason: str) -> None:
    spec = dataclasses.replace(
        SPEC,
        config={"archive_url": URL, "selection": [{"thematiques": ["véhicule électrique"], "slugs": [ECO_CHEQUE]}]},
    )
    data = yaml.safe_load((BENEFITS / f"{ECO_CHEQUE}.yml").read_text(encoding="utf-8"))
    assert adapter.parse(spec, Payload.build([(URL, _only_benefit(data), "application/gzip")])).rejections == []
    data[field] = value
    result = adapter.parse(spec, Payload.build([(URL, _only_benefit(data), "application/gzip")]))
    [rejection] = result.rejections
    assert rejection.location == f"fichier data/benefits/javascript/{ECO_CHEQUE}.yml"
    assert rejection.reason.startswith(reason)
    assert len(result.records) == 111 and result.unreadable == []


def test_campaigns_that_cannot_be_read_are_rejected_one_by_one(tmp_path) -> None:
    campaigns = json.loads((AIDES_JEUNES / CAMPAIGNS).read_text(encoding="utf-8"))[:3]
    campaigns[0]["code_siren"] = "123456789"
    campaigns[1]["conducteur_montant_max_par_mois"] = "beaucoup"
    campaigns.append("pas une campagne")
    changes: dict[str, bytes | None] = {CAMPAIGNS: json.dumps(campaigns).encode()}
    _, result, _ = collect_and_parse(tmp_path, make_archive(tmp_path / "a.tar.gz", changes))
    assert [(r.location, r.reason) for r in result.rejections] == [
        (
            f"{CAMPAIGNS}, campagne n° 1 (SIREN 123456789)",
            "champ 'code_siren' : SIREN 123456789 d'aucune institution de data/institutions "
            "(aides-jeunes n'en fait pas d'aide non plus)",
        ),
        (
            f"{CAMPAIGNS}, campagne n° 2 (SIREN 200070449)",
            "champ 'conducteur_montant_max_par_mois' : nombre attendu, trouvé 'beaucoup'",
        ),
        (f"{CAMPAIGNS}, campagne n° 4", "la campagne devrait être un objet, trouvé str"),
    ]
    assert len(_campaigns(result)) == 1


def test_a_missing_campaign_file_makes_the_archive_unreadable_but_keeps_the_benefits(tmp_path) -> None:
    _, result, _ = collect_and_parse(tmp_path, make_archive(tmp_path / "a.tar.gz", {CAMPAIGNS: None}))
    assert result.unreadable == [f"{CAMPAIGNS} : fichier absent de l'archive"]
    assert [(r.location, r.reason) for r in result.rejections] == [(CAMPAIGNS, "fichier absent de l'archive")]
    assert len(result.records) == 54


@pytest.mark.parametrize(
    "content",
    [
        b"<!DOCTYPE html><html><body>Not Found</body></html>",
        gzip.compress(b"plain text, gzipped, but no tar inside" * 20),
        b"",
    ],
    ids=["html", "gzip-sans-tar", "vide"],
)
def test_an_archive_that_is_not_a_tar_gz_is_unreadable(content: bytes) -> None:
    payload = Payload.build([(URL, content, "application/gzip")])
    result = adapter.parse(SPEC, payload)
    assert len(result.unreadable) == 1 and result.unreadable[0].startswith(f"{URL} : archive illisible")
    assert len(result.rejections) == 1 and result.records == []
    assert adapter.selected_benefits(SPEC, payload).status == {}


# -- through ingestion and normalisation ------------------------------------------------------------
@pytest.mark.registry
def test_ingested_and_normalised_aids_have_geography_conditions_and_amounts(tmp_path, referential_package) -> None:
    from datetime import date

    from sources.ingest import IngestStatus, ingest
    from sources.registry import load_specs
    from warehouse.db import connect_writer
    from warehouse.ingestion import previous_digest, store_outcome
    from warehouse.normalise.catalogue import build_catalogue
    from warehouse.referential import load_referential
    from warehouse.settings import WarehousePaths

    paths = WarehousePaths(tmp_path / "warehouse")
    transport = ReplayTransport.from_files({URL: make_archive(tmp_path / "main.tar.gz")})
    with connect_writer(paths) as conn:
        load_referential(conn, referential_package)
    with connect_writer(paths) as conn:
        outcome = ingest(SPEC, context(tmp_path, transport), previous_digest(conn, SPEC.name))
        assert outcome.status is IngestStatus.PARSED and len(outcome.result.records) == 165
        store_outcome(conn, outcome, "test")
    with connect_writer(paths) as conn:
        build_catalogue(conn, [spec for spec in load_specs() if spec.name == SPEC.name], date(2026, 11, 29))
        rows = conn.execute(
            """SELECT p.native_id, a.eligibilite_geographique, a.eligibilite_geographique_exclusions,
                      a.age_min, a.age_max, a.plafond_rfr_par_part, a.plafond_rfr_periode, a.montant_max,
                      a.thematiques, a.types_aides, a.cibles, a.geo_statut, a.description, a.eligibilite
               FROM aides_provenance p JOIN aides a ON a.id = p.aid_id WHERE p.source = ?""",
            [SPEC.name],
        ).fetchall()
    aids = {row[0]: row[1:] for row in rows}
    assert len(aids) == 165
    sarreguemines = aids["incitation-covoiturage-200070746"]
    assert sarreguemines[0] == ["EPCI-200070746"]
    assert sarreguemines[7:10] == (["transport"], ["financement"], ["particuliers"])
    cheque = aids[
        "region_occitanie-éco-chèque-mobilité-achat-d’une-voiture-électrique-ou-hybride-rechargeable-d’occasion"
    ]
    assert cheque[0] == ["REG-76"]
    assert cheque[2:7] == (18, None, 14089, "an", 4000)
    lyon = aids["ville_lyon_bourse_jeunes_2030_agir"]
    assert lyon[0] == ["COM-69123"] and lyon[2:4] == (16, 25) and lyon[6] == 5000
    assert lyon[7] == ["climat"]
    freevelov = aids["intercommunalite_metropole_lyon-pret-d-un-velo-freevelo-v"]
    assert freevelov[0] == ["EPCI-200046977"] and freevelov[2:4] == (18, 25)
    tag = aids["etat-abonnement-transports-sur-le-reseau-tag"]
    assert tag[0] == ["EPCI-200040715"] and tag[4:7] == (755, "mois", None)  # a reduced price is no amount
    # HTML as stated (descriptions, the eligibility list built from the free-text conditions) → text
    ter = aids["artois-mobilite-acces-gratuit-illimite-aux-ter"]
    assert "<a" not in ter[11] and "réseau Tadao (bus, Allobus, Proxibus, Chronopro et TER)" in ter[11]
    assert sarreguemines[12].splitlines()[0] == "• Réserver le trajet depuis l'application BlablaCarDaily."
    unresolved = [native for native, row in aids.items() if row[10] != "resolved"]
    assert unresolved == []


# -- the shipped fixture, for replayed runs -----------------------------------------------------
SHIPPED = FIXTURES / "aides-jeunes-mobilite"


def test_the_shipped_archive_holds_exactly_its_readable_source_files() -> None:
    from sources.archives import archive_files

    depot = SHIPPED / "depot"
    expected = {path.relative_to(depot).as_posix(): path.read_bytes() for path in depot.rglob("*") if path.is_file()}
    assert archive_files((SHIPPED / "main.tar.gz").read_bytes()) == expected


def test_a_replayed_run_collects_the_shipped_fixture_at_the_configured_url(tmp_path) -> None:
    from sources.ingest import IngestStatus, ingest

    outcome = ingest(SPEC, context(tmp_path, replay_root=FIXTURES), None)
    assert outcome.status is IngestStatus.PARSED
    # the transport passes the configuration names one by one are not in this small repository:
    # each is reported, as a renamed file of the real one would be
    assert {r.location.split(",")[0] for r in outcome.result.rejections} == {"configuration"}
    assert all("dans l'archive" in r.reason for r in outcome.result.rejections)
    records = {record.native_id: record for record in outcome.result.records}
    assert sorted(records) == [
        "agglo-exemple-aide-covoiturage",
        "incitation-covoiturage-200070746",
        "region-exemple-voiture-electrique",
    ]  # the BAFA benefit is not selected
    car = records["region-exemple-voiture-electrique"]
    assert car.porteurs == ["Région Occitanie"] and car.montants == ["2000 € maximum"]
    assert "age_min : 18" in car.conditions and "plafond_rfr_par_part : 14089" in car.conditions
    campaign = records["incitation-covoiturage-200070746"]
    assert campaign.geo_inclusions == [GeoMention("epci", code="200070746")]
