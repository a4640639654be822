"""The distributions the synthetic payloads follow, and where each one comes from.

Why constants rather than a fit at run time: the generator must be deterministic and
hermetic (no registry, no ../shared at benchmark time). Each constant says whether it was
*measured* on the real payloads — the adapters' own ``parse`` run over
``../shared/real-sources`` (264 Mission Transition Écologique programmes, the feeds
aides-territoires imported) and the npm models aides-velo 3.6.1 (341 aids) and
mesaidesreno 2.3.1 (15 aids) — or *assumed* (a modelling choice, documented in
``benchmarks/README.md``). ``python -m benchmarks.distributions`` re-measures them
(the npm part needs the registry).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

# --------------------------------------------------------------------------- levels
# Share of *aids* by the level of the territory they cover.
# Local split commune : EPCI = 45 : 55 is measured on aides-velo (150 commune-level rules,
# 180 intercommunalité-level ones). The national / regional / departmental shares are
# assumed from the number of publishers per level for a ~100k-aid national catalogue
# (≈ 1,500 national aids, 18 régions × 250, 101 départements × 150): the national share
# drives the size of aides-communes.parquet (each national aid covers ~35,000 communes).
LEVEL_SHARES: dict[str, float] = {
    "commune": 0.355,
    "epci": 0.435,
    "departement": 0.15,
    "region": 0.045,
    "national": 0.015,
}
# National aids come from a bounded set of State publishers (ADEME, Anah, Bpifrance,
# ministries…): their count stops growing past this (assumed), whatever the size.
NATIONAL_AIDS_CAP = 2_000
# Aids stating several territories of one level ("Landes, Nouvelle-Aquitaine, Occitanie",
# "DEP-26|DEP-07"): measured 1 % on aides-velo, 20 % of MTE programmes (regional lists);
# 3 % of départemental / régional aids here.
MULTI_TERRITORY_SHARE = 0.03
# Départemental / régional aids of a CSV producer excluding one commune (assumed).
EXCLUSION_SHARE = 0.01

# --------------------------------------------------------------------------- sources
# Which source first publishes an aid, by level (assumed; aides-territoires aggregates
# every level, MTE only national and regional business aids, the other aids come from
# one dispositif-aide CSV per région, the open-data portals of issue 3).
PRIMARY_SOURCE_SHARES: dict[str, dict[str, float]] = {
    "national": {"mte": 0.5, "at": 0.5, "platform": 0.0},
    "region": {"mte": 0.15, "at": 0.40, "platform": 0.45},
    "departement": {"mte": 0.0, "at": 0.25, "platform": 0.75},
    "epci": {"mte": 0.0, "at": 0.25, "platform": 0.75},
    "commune": {"mte": 0.0, "at": 0.25, "platform": 0.75},
}
# Share of *records* that are a second copy of an aid published elsewhere (the aggregator
# re-publishing a producer's aid). Measured: aides-territoires imported 6 of the feeds in
# ../shared (all their aids) and the MTE CSV and YAML are 100 % the same 264 aids; in a
# catalogue where most aids come from producers that the aggregator does not import, a
# 16.5 % cross-source duplicate rate of records is assumed (the project's quality gate
# ``taux_de_doublons`` warns above 30 %).
CROSS_SOURCE_DUPLICATE_SHARE = 0.165
# The same aid twice in one source under two ids (assumed; the fixture broken-quoting.csv
# shows a duplicated id, the MTE export has none).
WITHIN_SOURCE_DUPLICATE_SHARE = 0.005

# --------------------------------------------------------------------------- how geography is stated
# Dispositif-aide CSV producers write schema codes; some write a bare postal code, a name
# or a code without its leading zero (fixture semicolon-bom.csv, measured forms of the
# real feeds: Manche gives département codes, aides-velo commune INSEE codes).
CSV_COMMUNE_FORMS = {"code": 0.92, "code_sans_zero": 0.02, "code_postal": 0.03, "nom": 0.03}
CSV_EPCI_FORMS = {"code": 0.90, "siren_nu": 0.05, "nom": 0.05}
CSV_OTHER_NAME_SHARE = 0.05  # DEP / REG / national given by name instead of code
# aides-territoires gives names with a scale; aides-velo names 242 of its 244 EPCI
# mentions (measured); commune names carry the département in parentheses (assumed 60 %).
AT_COMMUNE_WITH_DEPARTEMENT = 0.60
# Territories no referential knows ("ZONE-7", "Quartiers prioritaires" — fixture
# semicolon-bom.csv; measured 0 on the real feeds, assumed 1 %), and names with a typo
# (assumed 0.2 % of names: they go through the resolver's fuzzy matching).
UNRESOLVABLE_GEO_SHARE = 0.01
TYPO_SHARE = 0.002
UNRESOLVABLE_GEOGRAPHIES = (
    "Quartiers prioritaires de la politique de la ville",
    "ZONE-7",
    "Territoires d'industrie",
    "Zones rurales",
    "Communes littorales",
    "Massif central",
    "Hors agglomération",
)

# --------------------------------------------------------------------------- texts
# Character lengths, measured (median / p90): titles MTE 28 / 45, aides-velo 23 / 44,
# aides-territoires-shaped feeds 45–86; descriptions MTE 452 / 740, aides-velo 175 / 305,
# Drôme 1,442 / 2,166, ADEME 1,440 / 1,959, Île-de-France 803 / 894. Log-normal with
# median 450 and p90 ≈ 1,450; a few go past the schema's 5,000 (MTE row 149 does).
DESCRIPTION_MEDIAN = 450
DESCRIPTION_SIGMA = 0.9
DESCRIPTION_MAX = 6_500
ELIGIBILITE_MEDIAN = 150
ELIGIBILITE_SIGMA = 0.8
# HTML descriptions: measured 100 % of the JSON feeds (aides-territoires, Drôme, ADEME,
# Île-de-France), 0 % of MTE and aides-velo.
MULTILINE_CSV_SHARE = 0.10  # quoted multi-line cells (fixture semicolon-bom.csv)
MISSING_DESCRIPTION_SHARE = 0.02  # measured: 5 of 10 Manche aids have none; 2 % assumed overall

# --------------------------------------------------------------------------- dates
# Presence measured on aides-velo (26 % of date fields filled) and MTE (47 %): opening
# 45 %, closing 45 %. Formats measured: JJ/MM/AAAA (MTE YAML, aides-velo), ISO dates
# (aides-territoires), ISO datetimes with offset (aides-territoires updates, ADEME),
# UTC timestamps of Paris midnight (MTE CSV, Manche, Île-de-France).
OPENING_SHARE = 0.45
CLOSING_SHARE = 0.45
# Per CSV producer, its usual format (assumed split): ISO, JJ/MM/AAAA, Paris midnight in UTC.
PLATFORM_DATE_FORMATS = {"iso": 0.6, "jj/mm/aaaa": 0.3, "utc_minuit": 0.1}
MALFORMED_DATE_SHARE = 0.005  # "31/02/2024", "9999-12-31"… (assumed)
MALFORMED_DATES = ("31/02/2024", "2024-13-01", "9999-12-31", "à définir", "00/00/0000")
SPACED_TIMESTAMP_SHARE = 0.01  # "2022-07-28T11: 40: 47+02: 00", measured in Ministère de la Culture's feed

# --------------------------------------------------------------------------- other defects
BROKEN_URL_SHARE = 0.01  # "https: //…", measured in the aides-territoires fixtures and real feeds
MISSING_URL_SHARE = 0.03  # measured: 40 % of mesaidesreno rules have no link, 0 % elsewhere
UNKNOWN_VOCABULARY_SHARE = 0.01  # labels absent from warehouse/normalise/vocab/*.csv (assumed)
MISSING_CIBLES_SHARE = 0.01
BROKEN_CSV_ROW_SHARE = 0.001  # a cell too many (fixture broken-quoting.csv)
EMPTY_TITLE_SHARE = 0.001  # rejected by the adapters
DUPLICATE_ID_SHARE = 0.0005  # a native id used twice in one CSV (rejected)


# --------------------------------------------------------------------------- re-measuring
def _shape(value: str | None) -> str | None:
    if value is None:
        return None
    for pattern, label in (
        (r"\d{4}-\d{2}-\d{2}", "iso"),
        (r"\d{2}/\d{2}/\d{4}", "jj/mm/aaaa"),
        (r"\d{4}-\d{2}-\d{2}T.*Z", "utc"),
        (r"\d{4}-\d{2}-\d{2}T.*", "iso-datetime"),
    ):
        if re.fullmatch(pattern, value.strip()):
            return label
    return "autre"


def _summary(records: list) -> dict:
    """Distributions of one source's records (the adapters' AidRecords)."""
    titles = sorted(len(r.titre) for r in records)
    descriptions = sorted(len(r.description or "") for r in records)
    geo = Counter((g.niveau, "code" if g.code else "nom") for r in records for g in r.geo_inclusions)
    dates = Counter(_shape(d) for r in records for d in (r.date_ouverture, r.date_cloture, r.date_mise_a_jour))

    def pick(values: list[int], share: float) -> int:
        return values[int(share * (len(values) - 1))] if values else 0

    return {
        "records": len(records),
        "titre_mediane": statistics.median(titles) if titles else 0,
        "titre_p90": pick(titles, 0.9),
        "description_mediane": statistics.median(descriptions) if descriptions else 0,
        "description_p90": pick(descriptions, 0.9),
        "html": sum(1 for r in records if r.description and re.search(r"<[a-z]", r.description)),
        "geo": {f"{level}/{kind}": n for (level, kind), n in geo.most_common()},
        "niveau": dict(Counter(r.niveau for r in records)),
        "dates": {str(k): v for k, v in dates.most_common()},
        "sans_lien": sum(1 for r in records if not r.url_source),
    }


def measure_real_sources(shared: Path, with_npm: bool = True) -> dict[str, dict]:
    """Run the project's adapters over the real payloads and summarise their records."""
    from sources.adapters import ademe_agir, departement_drome, departement_manche, ile_de_france, mte_programmes
    from sources.base import Payload
    from sources.registry import get_spec

    real = shared / "real-sources"
    feeds = real / "aides-territoires" / "api-responses"
    runs = {
        "mission-transition-ecologique-programmes": (
            mte_programmes,
            [
                (p.name, p.read_bytes(), "application/yaml")
                for p in sorted((real / "mission-transition-ecologique" / "programs").glob("*.yaml"))
            ],
        ),
        "departement-drome": (departement_drome, [("drome", (feeds / "departement_drome_data.json").read_bytes(), "")]),
        "departement-manche": (
            departement_manche,
            [("manche", (feeds / "departement_manche_data.json").read_bytes(), "")],
        ),
        "region-ile-de-france": (ile_de_france, [("idf", (feeds / "ile_de_france_data.json").read_bytes(), "")]),
        "ademe-agir": (ademe_agir, [("ademe", (feeds / "ademe_agir_data.json").read_bytes(), "")]),
    }
    out = {}
    for name, (adapter, parts) in runs.items():
        out[name] = _summary(adapter.parse(get_spec(name), Payload.build(parts)).records)
    if with_npm:
        import tempfile

        from sources.adapters import aides_velo, mesaidesreno
        from sources.base import CollectContext
        from sources.fetch.snapshots import SnapshotStore
        from sources.registry import fetch_policy

        with tempfile.TemporaryDirectory() as tmp:
            ctx = CollectContext(SnapshotStore(Path(tmp) / "s"), Path(tmp) / "npm", fetch_policy())
            for name, adapter in (("aides-velo", aides_velo), ("mesaidesreno", mesaidesreno)):
                spec = get_spec(name)
                payload = adapter.collect(spec, ctx)
                out[f"{name} {payload.version}"] = _summary(adapter.parse(spec, payload).records)
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2] / "shared"
    print(json.dumps(measure_real_sources(root, with_npm="--sans-npm" not in sys.argv), ensure_ascii=False, indent=2))
