"""Synthetic source payloads, deterministic from a seed, over the real COG of the warehouse.

Why payloads and not rows: the parse stage must be the adapters' own work on bytes shaped
like the real feeds. Three kinds of source are written, in the proportions of
``benchmarks.distributions``:

- ``aides-territoires`` (the real declaration): JSON pages of 100 results shaped like the
  API (names with a ``perimeter_scale``, HTML texts, ISO dates, the aggregator's copies of
  producers' aids with tracking parameters on their links);
- ``mission-transition-ecologique-csv`` (the real declaration): a fully quoted comma CSV
  of national and regional business aids, dates as Paris midnight in UTC;
- ``bench-region-<code>``: one dispositif-aide CSV per région (``;`` with BOM or ``,``),
  schema codes with their real variants (bare postal codes, names, codes without their
  leading zero, bare SIREN), each producer with its own date format.

Everything is computed with polars expressions over whole columns; randomness is a seeded
hash of the row index (``_uniform``), so a (size, seed) pair gives the same bytes with the
same polars version. Territories, names and postal codes are drawn from the ``ref_*``
tables of the warehouse (the real COG), communes and EPCI weighted by √population.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from benchmarks import distributions as d
from schemas import OFFICIAL_FIELDS
from sources.base import SourceSpec
from sources.registry import get_spec
from warehouse.db import query_frame
from warehouse.normalise.vocabulary import VOCAB_DIR

AT_SOURCE = "aides-territoires"
MTE_SOURCE = "mission-transition-ecologique-csv"
PLATFORM_PREFIX = "bench-region-"
AT_PAGE_SIZE = 100
CSV_COLUMNS = OFFICIAL_FIELDS  # the dispositif-aide export's columns

# ---------------------------------------------------------------------------- French texts
_HEADS = (
    "Aide pour",
    "Subvention pour",
    "Prime pour",
    "Soutien pour",
    "Appel à projets pour",
    "Chèque pour",
    "Fonds pour",
    "Accompagnement pour",
    "Prêt à taux zéro pour",
    "Programme pour",
    "Bonus pour",
    "Dispositif pour",
    "Aide à l'investissement pour",
    "Appel à manifestation d'intérêt pour",
    "Aide exceptionnelle pour",
    "Forfait pour",
    "Aide forfaitaire pour",
    "Contrat d'objectifs pour",
)
_OBJECTS = (
    "l'achat d'un vélo à assistance électrique",
    "la rénovation énergétique des logements",
    "l'installation d'un composteur",
    "l'achat d'un vélo cargo",
    "la réparation des vélos",
    "l'isolation des combles",
    "l'installation d'une pompe à chaleur",
    "la plantation de haies",
    "la récupération des eaux de pluie",
    "la conversion des véhicules thermiques",
    "l'achat d'un véhicule électrique",
    "la rénovation des bâtiments publics",
    "l'éclairage public économe",
    "la décarbonation des procédés industriels",
    "l'économie circulaire",
    "la méthanisation agricole",
    "l'autoconsommation photovoltaïque",
    "le chauffage au bois performant",
    "les mobilités douces",
    "les études de faisabilité",
    "la gestion des biodéchets",
    "la désimperméabilisation des sols",
    "la biodiversité en ville",
    "l'alimentation durable",
    "les circuits courts",
    "la sobriété énergétique",
    "l'écoconception des produits",
    "le réemploi des matériaux",
    "l'autopartage",
    "l'achat d'un récupérateur d'eau",
    "le broyage des végétaux",
    "la végétalisation des cours d'école",
    "les réseaux de chaleur",
    "la géothermie",
    "le solaire thermique",
    "les bornes de recharge",
    "la rénovation des copropriétés",
    "les diagnostics énergétiques",
    "la réduction des déchets",
    "la préservation des zones humides",
    "la restauration des cours d'eau",
    "l'agroforesterie",
    "les jardins partagés",
    "le covoiturage",
    "les pistes cyclables",
    "l'achat de couches lavables",
    "l'achat d'un vélo pliant",
    "le remplacement des chaudières au fioul",
    "la ventilation performante",
    "l'audit énergétique",
    "le stockage de l'énergie",
    "l'hydrogène renouvelable",
    "la mobilité électrique des artisans",
)
_QUALIFIERS = (
    "des particuliers",
    "des entreprises",
    "des associations",
    "des communes rurales",
    "en copropriété",
    "des agriculteurs",
    "des TPE et PME",
    "des bailleurs sociaux",
    "des jeunes de moins de 25 ans",
    "sous conditions de ressources",
    "en quartier prioritaire",
    "des collectivités",
    "des artisans et commerçants",
    "des établissements scolaires",
    "des exploitations agricoles",
    "des ménages modestes",
    "des industriels",
    "en zone de montagne",
    "des structures de l'économie sociale et solidaire",
    "des gîtes et campings",
)
_SYLLABLES = (
    "ca",
    "lo",
    "ve",
    "ra",
    "ni",
    "to",
    "mé",
    "su",
    "pa",
    "ri",
    "gé",
    "no",
    "va",
    "li",
    "sé",
    "ta",
    "bo",
    "ré",
    "ma",
    "di",
    "cé",
    "lu",
    "fa",
    "po",
    "zé",
    "ci",
    "mo",
    "ne",
    "ga",
    "ru",
    "vi",
    "da",
)
_SENTENCES = (
    "Cette aide soutient les projets qui réduisent la consommation d'énergie du territoire.",
    "Le montant est calculé selon le coût des travaux ; il est plafonné par foyer.",
    "Les dépenses doivent être engagées après le dépôt de la demande.",
    "Le dossier comprend un devis daté, un justificatif de domicile et un relevé d'identité bancaire.",
    "L'aide est cumulable avec les dispositifs nationaux « MaPrimeRénov' » et « Coup de pouce ».",
    "Les demandes sont instruites par ordre d'arrivée, dans la limite des crédits disponibles.",
    "Un conseiller France Rénov' accompagne gratuitement les ménages dans leur projet.",
    "Le matériel doit être neuf, acheté auprès d'un professionnel situé sur le territoire.",
    "Les entreprises de moins de 250 salariés sont prioritaires.",
    "Un bilan des actions menées est demandé au plus tard un an après le versement.",
    "Le taux d'aide varie de 20 % à 50 % des dépenses éligibles, selon la taille du projet.",
    "Sont exclus les projets déjà réalisés et les équipements d'occasion.",
    "La subvention est versée en une fois, sur présentation de la facture acquittée.",
    "Le projet doit s'inscrire dans le plan climat-air-énergie territorial.",
    "Les collectivités peuvent déposer un dossier commun pour plusieurs communes.",
    "Une visite technique préalable est obligatoire pour les installations de plus de 36 kVA.",
    'Le "bonus" est majoré pour les ménages aux revenus modestes.',
    "La plateforme de dépôt ferme à minuit le dernier jour de l'appel à projets.",
    "Les associations doivent être déclarées depuis au moins un an.",
    "Le comité de sélection se réunit chaque trimestre ; les lauréats sont informés par courrier.",
    "L'aide couvre les études préalables, l'ingénierie et les travaux.",
    "Les véhicules doivent être immatriculés dans le département.",
    "La commune verse l'aide dans un délai de deux mois après la réception du dossier complet.",
    "Un même bénéficiaire ne peut recevoir qu'une aide tous les cinq ans.",
)
_CORPUS_BASE = " ".join(_SENTENCES)
_CORPUS = " ".join([_CORPUS_BASE] * (math.ceil(2 * d.DESCRIPTION_MAX / len(_CORPUS_BASE)) + 2))
_SENTENCE_STARTS = tuple(str(sum(len(x) + 1 for x in _SENTENCES[:k])) for k in range(len(_SENTENCES)))
_NATIONAL_PUBLISHERS = (
    ("ADEME", "agirpourlatransition.ademe.fr"),
    ("Anah", "www.anah.gouv.fr"),
    ("Bpifrance", "www.bpifrance.fr"),
    ("Ministère de la Transition écologique", "www.ecologie.gouv.fr"),
    ("Agence de l'eau", "www.eaufrance.fr"),
    ("Banque des Territoires", "www.banquedesterritoires.fr"),
    ("Mission Transition Écologique", "mission-transition-ecologique.beta.gouv.fr"),
    ("Office français de la biodiversité", "www.ofb.gouv.fr"),
)
_SCHEMA_CIBLES = ("particuliers", "professionnels", "associations", "secteur public")
_CSV_TYPES = {
    "financement": 0.70,
    "accompagnement": 0.10,
    "étude": 0.08,
    "prêt": 0.05,
    "financement|accompagnement": 0.06,
    "avantage fiscal": 0.01,
}
_AT_SCALES = {
    "commune": "Commune",
    "epci": "EPCI",
    "departement": "Département",
    "region": "Région",
    "national": "Pays",
}


@dataclass
class SyntheticSource:
    """One generated source: its declaration and its payload file."""

    spec: SourceSpec
    path: Path  # a CSV document, or JSON lines: one aides-territoires page per line
    kind: str  # "csv" or "pages"
    items: int  # rows or results written (records + the items the adapter will reject)


@dataclass
class GeneratedPayloads:
    size: int
    seed: int
    aids: int  # distinct aids before duplication
    sources: list[SyntheticSource]
    stats: dict = field(default_factory=dict)

    def manifest(self) -> dict:
        return {
            "size": self.size,
            "seed": self.seed,
            "aids": self.aids,
            "stats": self.stats,
            "sources": [
                {"spec": asdict(s.spec), "path": s.path.name, "kind": s.kind, "items": s.items} for s in self.sources
            ],
        }

    @classmethod
    def from_manifest(cls, folder: Path, data: dict) -> GeneratedPayloads:
        sources = [
            SyntheticSource(SourceSpec(**s["spec"]), folder / s["path"], s["kind"], s["items"]) for s in data["sources"]
        ]
        return cls(data["size"], data["seed"], data["aids"], sources, data["stats"])


# ---------------------------------------------------------------------------- randomness
def _uniform(seed: int, salt: int, column: str = "i") -> pl.Expr:
    """A uniform float in [0, 1) per row: a seeded hash of the row index (no Python loop)."""
    return (pl.col(column).hash(seed=seed * 1_000_003 + salt * 7_919 + 1) // 2048).cast(pl.Float64) / float(2**53)


def _choose(u: pl.Expr, shares: dict[str, float]) -> pl.Expr:
    """A label per row, drawn with the given shares from the uniform ``u``."""
    items = list(shares.items())
    total = sum(share for _label, share in items)
    cumulative, chain = 0.0, None
    for label, share in items[:-1]:
        cumulative += share / total
        chain = (pl.when(u < cumulative) if chain is None else chain.when(u < cumulative)).then(pl.lit(label))
    last = pl.lit(items[-1][0])
    return last if chain is None else chain.otherwise(last)


def _pick(values: tuple[str, ...] | list[str], u: pl.Expr) -> pl.Expr:
    """One of ``values`` per row, uniformly."""
    series = pl.Series(list(values), dtype=pl.String)
    return pl.lit(series).gather((u * len(values)).cast(pl.UInt32).clip(0, len(values) - 1))


def _normal(seed: int, salt: int) -> pl.Expr:
    """A standard normal per row (Box–Muller over two seeded uniforms)."""
    u1 = _uniform(seed, salt).clip(1e-12, 1.0)
    return (-2.0 * u1.log()).sqrt() * (2 * math.pi * _uniform(seed, salt + 1)).cos()


def _lognormal_length(seed: int, salt: int, median: int, sigma: float, low: int, high: int) -> pl.Expr:
    return (median * (sigma * _normal(seed, salt)).exp()).round().cast(pl.Int64).clip(low, high)


def _weighted_rows(table: pl.DataFrame, weight: str, u: pl.Series) -> pl.DataFrame:
    """Rows of ``table`` drawn with probability proportional to ``weight`` (one per value of ``u``)."""
    cumulative = table.get_column(weight).cast(pl.Float64).cum_sum()
    cumulative = cumulative / cumulative[-1]
    index = cumulative.search_sorted(u, side="right").clip(0, table.height - 1)
    return table[index]


def _slug(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9]+", "-")
        .str.strip_chars("-")
    )


def _text(seed: int, salt: int, median: int, sigma: float, low: int, high: int) -> pl.Expr:
    """French text of a log-normal length: corpus sentences from a random one, cut at a word."""
    offset = _pick(_SENTENCE_STARTS, _uniform(seed, salt)).cast(pl.Int64)
    length = _lognormal_length(seed, salt + 1, median, sigma, low, high)
    return pl.lit(_CORPUS).str.slice(offset, length).str.replace(r"\s+\S*$", "").str.strip_chars()


# ---------------------------------------------------------------------------- referential
def _referential(conn: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Territories to draw from: current communes, EPCI, départements, régions (metro + DROM)."""
    return {
        "commune": query_frame(
            conn,
            """
            SELECT code, nom, departement, region, codes_postaux[1] AS cp, NULL::VARCHAR AS chef_lieu,
                   sqrt(coalesce(population, 0)) + 1 AS poids
            FROM ref_communes WHERE zone IN ('metro', 'drom') ORDER BY code""",
        ),
        "epci": query_frame(
            conn,
            """
            SELECT e.siren AS code, e.nom, min(c.departement) AS departement, min(c.region) AS region,
                   NULL::VARCHAR AS cp, NULL::VARCHAR AS chef_lieu, sqrt(coalesce(e.population, 0)) + 1 AS poids
            FROM ref_epci e JOIN ref_epci_membres m ON m.epci = e.siren JOIN ref_communes c ON c.code = m.commune
            WHERE c.zone IN ('metro', 'drom') GROUP BY e.siren, e.nom, e.population ORDER BY e.siren""",
        ),
        "departement": query_frame(
            conn,
            """
            SELECT code, nom, code AS departement, region, NULL::VARCHAR AS cp, chef_lieu, 1.0 AS poids
            FROM ref_departements WHERE zone IN ('metro', 'drom') ORDER BY code""",
        ),
        "region": query_frame(
            conn,
            """
            SELECT code, nom, NULL::VARCHAR AS departement, code AS region, NULL::VARCHAR AS cp, chef_lieu, 1.0 AS poids
            FROM ref_regions WHERE zone IN ('metro', 'drom') ORDER BY code""",
        ),
    }


def _vocabulary(name: str, sources: tuple[str, ...]) -> list[str]:
    """Source labels of a warehouse/normalise/vocab table that map to a schema value."""
    table = pl.read_csv(VOCAB_DIR / name, comment_prefix="#", infer_schema=False)
    kept = table.filter(pl.col("source").is_in(list(sources)) & pl.col("valeur_cible").is_not_null())
    return sorted(set(kept.get_column("valeur_source").to_list()))


# ---------------------------------------------------------------------------- aids
def _territories(aids: pl.DataFrame, ref: dict[str, pl.DataFrame], seed: int) -> pl.DataFrame:
    """Each aid's territory (and, for a few, a second and third of the same level)."""
    parts = []
    columns = ["code", "nom", "departement", "region", "cp", "chef_lieu"]
    for level, table in ref.items():
        rows = aids.filter(pl.col("level") == level)
        if rows.is_empty():
            continue
        picks = [_weighted_rows(table, "poids", rows.select(_uniform(seed, 20 + k)).to_series()) for k in range(3)]
        frame = rows.select("i").with_columns(picks[0].select(columns))
        for k in (1, 2):
            frame = frame.with_columns(
                picks[k].select(pl.col("code").alias(f"code{k + 1}"), pl.col("nom").alias(f"nom{k + 1}"))
            )
        parts.append(frame)
    national = aids.filter(pl.col("level") == "national").select(
        "i",
        pl.lit("99100").alias("code"),
        pl.lit("France").alias("nom"),
        *[
            pl.lit(None, pl.String).alias(c)
            for c in ("departement", "region", "cp", "chef_lieu", "code2", "nom2", "code3", "nom3")
        ],
    )
    located = pl.concat([*parts, national], how="vertical_relaxed")
    return aids.join(located, on="i", how="left").sort("i")


def _aids(size: int, seed: int, ref: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, int, int]:
    """The distinct aids, with their territory, texts, dates, publisher, link and first source."""
    cross = round(size * d.CROSS_SOURCE_DUPLICATE_SHARE)
    within = round(size * d.WITHIN_SOURCE_DUPLICATE_SHARE)
    count = max(1, size - cross - within)
    aids = pl.DataFrame({"i": pl.int_range(count, eager=True, dtype=pl.UInt64)})
    local = {k: v for k, v in d.LEVEL_SHARES.items() if k != "national"}
    aids = aids.with_columns(level=_choose(_uniform(seed, 1), d.LEVEL_SHARES))
    aids = aids.with_columns(
        level=pl.when(
            (pl.col("level") == "national") & ((pl.col("level") == "national").cum_sum() > d.NATIONAL_AIDS_CAP)
        )
        .then(_choose(_uniform(seed, 2), local))
        .otherwise(pl.col("level"))
    )
    aids = _territories(aids, ref, seed)
    multi_level = pl.col("level").is_in(["departement", "region"])
    extra = (
        pl.when(multi_level & (_uniform(seed, 26) < d.MULTI_TERRITORY_SHARE))
        .then(1 + (_uniform(seed, 27) < 0.4).cast(pl.Int8))
        .otherwise(0)
    )
    national_publisher = (_uniform(seed, 30) * len(_NATIONAL_PUBLISHERS)).cast(pl.UInt32)
    publishers = pl.Series([p for p, _h in _NATIONAL_PUBLISHERS])
    hosts = pl.Series([h for _p, h in _NATIONAL_PUBLISHERS])
    word = pl.concat_str([_pick(_SYLLABLES, _uniform(seed, 40 + k)) for k in range(3)]).str.to_titlecase()
    titre = pl.concat_str(
        [
            _pick(_HEADS, _uniform(seed, 31)),
            pl.lit(" "),
            _pick(_OBJECTS, _uniform(seed, 32)),
            pl.when(_uniform(seed, 33) < 0.55)
            .then(pl.lit(" ") + _pick(_QUALIFIERS, _uniform(seed, 34)))
            .otherwise(pl.lit("")),
            pl.when(_uniform(seed, 35) < 0.5).then(pl.lit(" « ") + word + pl.lit(" »")).otherwise(pl.lit("")),
            pl.when(_uniform(seed, 36) < 0.15)
            .then(pl.lit(" ") + (2022 + (_uniform(seed, 37) * 5).cast(pl.Int32)).cast(pl.String))
            .otherwise(pl.lit("")),
        ]
    )
    porteur = (
        pl.when(pl.col("level") == "commune")
        .then(pl.lit("Ville de ") + pl.col("nom"))
        .when(pl.col("level") == "epci")
        .then(pl.col("nom"))
        .when(pl.col("level") == "departement")
        .then(pl.lit("Conseil départemental (") + pl.col("nom") + pl.lit(")"))
        .when(pl.col("level") == "region")
        .then(pl.lit("Région ") + pl.col("nom"))
        .otherwise(pl.lit(publishers).gather(national_publisher))
    )
    host = (
        pl.when(pl.col("level") == "national")
        .then(pl.lit(hosts).gather(national_publisher))
        .when(pl.col("level") == "commune")
        .then(pl.lit("www.ville-") + _slug(pl.col("nom")) + pl.lit(".fr"))
        .otherwise(pl.lit("www.") + _slug(pl.col("nom")) + pl.lit(".fr"))
    )
    opening_day = (_uniform(seed, 50) * 2000).cast(pl.Int64)  # from 2021-01-01
    closing_day = pl.when(_uniform(seed, 51) < d.OPENING_SHARE).then(
        opening_day + 60 + (_uniform(seed, 52) * 1000).cast(pl.Int64)
    )
    aids = aids.with_columns(
        extra=extra,
        titre=titre,
        porteur=porteur,
        host=host,
        description=_text(seed, 60, d.DESCRIPTION_MEDIAN, d.DESCRIPTION_SIGMA, 40, d.DESCRIPTION_MAX),
        eligibilite=_text(seed, 62, d.ELIGIBILITE_MEDIAN, d.ELIGIBILITE_SIGMA, 20, 2000),
        promesse=pl.when(_uniform(seed, 64) < 0.5).then(_text(seed, 65, 90, 0.4, 30, 170)),
        programme=pl.when(_uniform(seed, 67) < 0.2).then(pl.lit("Programme ") + word),
        date_ouverture=pl.when(_uniform(seed, 53) < d.OPENING_SHARE).then(
            pl.date(2021, 1, 1) + pl.duration(days=opening_day)
        ),
        date_cloture=pl.when(_uniform(seed, 54) < d.CLOSING_SHARE).then(
            pl.date(2021, 1, 1) + pl.duration(days=closing_day.fill_null((_uniform(seed, 55) * 2900).cast(pl.Int64)))
        ),
        date_maj=pl.datetime(2023, 1, 1) + pl.duration(seconds=(_uniform(seed, 56) * 89_000_000).cast(pl.Int64)),
        taux=pl.when(_uniform(seed, 57) < 0.4).then((1 + (_uniform(seed, 58) * 8).cast(pl.Int32)) * 10),
        recurrence=_choose(_uniform(seed, 59), {"Ponctuelle": 0.5, "Permanente": 0.3, "Récurrente": 0.2}),
        cibles=pl.concat_list(
            _pick(_SCHEMA_CIBLES, _uniform(seed, 70)),
            pl.when(_uniform(seed, 71) < 0.3).then(_pick(_SCHEMA_CIBLES, _uniform(seed, 72))),
        )
        .list.drop_nulls()
        .list.unique(maintain_order=True),
        types=_choose(_uniform(seed, 73), _CSV_TYPES),
    )
    slug = _slug(pl.col("titre")).str.slice(0, 60)
    aids = aids.with_columns(
        url=pl.lit("https://") + pl.col("host") + pl.lit("/aides/") + slug + pl.lit("-") + pl.col("i").cast(pl.String)
    )
    draws = [(level, _choose(_uniform(seed, 80), shares)) for level, shares in d.PRIMARY_SOURCE_SHARES.items()]
    chain = pl.when(pl.col("level") == draws[0][0]).then(draws[0][1])
    for level, drawn in draws[1:]:
        chain = chain.when(pl.col("level") == level).then(drawn)
    aids = aids.with_columns(primary=chain.otherwise(pl.lit("at")))
    # A territory outside every région (none here, metro + DROM only) would have no platform.
    aids = aids.with_columns(
        primary=pl.when((pl.col("primary") == "platform") & pl.col("region").is_null())
        .then(pl.lit("at"))
        .otherwise(pl.col("primary"))
    )
    return aids, cross, within


# ---------------------------------------------------------------------------- records
def _records(aids: pl.DataFrame, cross: int, within: int, seed: int) -> pl.DataFrame:
    """Aids → records: each aid once in its first source, copies in the aggregator, a few twins."""
    source = (
        pl.when(pl.col("primary") == "at")
        .then(pl.lit(AT_SOURCE))
        .when(pl.col("primary") == "mte")
        .then(pl.lit(MTE_SOURCE))
        .otherwise(pl.lit(PLATFORM_PREFIX) + pl.col("region"))
    )
    primary = aids.with_columns(source=source, copy=pl.lit(0, pl.Int8))
    copies = (
        primary.filter(pl.col("primary") != "at")
        .with_columns(order=_uniform(seed, 90))
        .sort("order")
        .head(cross)
        .drop("order")
        .with_columns(source=pl.lit(AT_SOURCE), copy=pl.lit(1, pl.Int8))
    )
    twins = (
        primary.with_columns(order=_uniform(seed, 91))
        .sort("order")
        .head(within)
        .drop("order")
        .with_columns(copy=pl.lit(2, pl.Int8))
    )
    records = pl.concat([primary, copies, twins])
    records = records.with_columns(order=_uniform(seed, 92)).sort("source", "order").drop("order")
    return records.with_row_index("r").with_columns(pl.col("r").cast(pl.UInt64))


def _title_variant(seed: int) -> pl.Expr:
    """Copies keep the title (60 %), change its case and end (25 %) or add the publisher (15 %)."""
    u = _uniform(seed, 100, "r")
    varied = (
        pl.when(u < 0.60)
        .then(pl.col("titre"))
        .when(u < 0.85)
        .then(pl.col("titre").str.slice(0, 1) + pl.col("titre").str.slice(1).str.to_lowercase() + pl.lit("."))
        .otherwise(pl.col("titre") + pl.lit(" – ") + pl.col("porteur"))
    )
    empty = _uniform(seed, 101, "r") < d.EMPTY_TITLE_SHARE
    return pl.when(empty).then(pl.lit("")).when(pl.col("copy") > 0).then(varied).otherwise(pl.col("titre"))


def _url(seed: int, aggregator: bool) -> pl.Expr:
    u = _uniform(seed, 110, "r")
    url = pl.col("url")
    if aggregator:
        url = (
            pl.when((pl.col("copy") == 1) & (_uniform(seed, 111, "r") < 0.3))
            .then(url + pl.lit("?utm_source=aides-territoires&utm_medium=api"))
            .otherwise(url)
        )
    return (
        pl.when(u < d.BROKEN_URL_SHARE)
        .then(url.str.replace("https://", "https: //", literal=True))
        .when(u < d.BROKEN_URL_SHARE + d.MISSING_URL_SHARE)
        .then(pl.lit(None, pl.String))
        .otherwise(url)
    )


def _typo(name: pl.Expr, seed: int, salt: int) -> pl.Expr:
    """A letter dropped from a name, for a few records (the resolver's fuzzy matching)."""
    return (
        pl.when(_uniform(seed, salt, "r") < d.TYPO_SHARE).then(name.str.slice(0, 3) + name.str.slice(4)).otherwise(name)
    )


def _names_list(first: pl.Expr, second: pl.Expr, third: pl.Expr, separator: str) -> pl.Expr:
    return (
        pl.concat_list(first, pl.when(pl.col("extra") >= 1).then(second), pl.when(pl.col("extra") >= 2).then(third))
        .list.drop_nulls()
        .list.join(separator)
    )


def _csv_geography(seed: int) -> pl.Expr:
    """What a dispositif-aide producer writes in ``eligibilite_geographique``."""
    u = _uniform(seed, 120, "r")
    commune_form = _choose(u, d.CSV_COMMUNE_FORMS)
    epci_form = _choose(u, d.CSV_EPCI_FORMS)
    by_name = u < d.CSV_OTHER_NAME_SHARE
    commune = (
        pl.when(commune_form == "code")
        .then(pl.lit("COM-") + pl.col("code"))
        .when(commune_form == "code_sans_zero")
        .then(pl.lit("COM-") + pl.col("code").str.strip_chars_start("0"))
        .when(commune_form == "code_postal")
        .then(pl.col("cp"))
        .otherwise(pl.lit("Ville de ") + _typo(pl.col("nom"), seed, 121))
    )
    epci = (
        pl.when(epci_form == "code")
        .then(pl.lit("EPCI-") + pl.col("code"))
        .when(epci_form == "siren_nu")
        .then(pl.col("code"))
        .otherwise(_typo(pl.col("nom"), seed, 121))
    )
    departement = (
        pl.when(by_name)
        .then(_names_list(pl.col("nom"), pl.col("nom2"), pl.col("nom3"), ", "))
        .otherwise(
            _names_list(
                pl.lit("DEP-") + pl.col("code"), pl.lit("DEP-") + pl.col("code2"), pl.lit("DEP-") + pl.col("code3"), "|"
            )
        )
    )
    region = (
        pl.when(by_name)
        .then(pl.lit("Région ") + pl.col("nom"))
        .otherwise(
            _names_list(
                pl.lit("REG-") + pl.col("code"), pl.lit("REG-") + pl.col("code2"), pl.lit("REG-") + pl.col("code3"), "|"
            )
        )
    )
    national = pl.when(by_name).then(pl.lit("France")).otherwise(pl.lit("PAYS-99100"))
    stated = (
        pl.when(pl.col("level") == "commune")
        .then(commune)
        .when(pl.col("level") == "epci")
        .then(epci)
        .when(pl.col("level") == "departement")
        .then(departement)
        .when(pl.col("level") == "region")
        .then(region)
        .otherwise(national)
    )
    bad = _uniform(seed, 122, "r") < d.UNRESOLVABLE_GEO_SHARE
    return pl.when(bad).then(_pick(d.UNRESOLVABLE_GEOGRAPHIES, _uniform(seed, 123, "r"))).otherwise(stated)


def _at_perimeter(seed: int) -> tuple[pl.Expr, pl.Expr]:
    """aides-territoires' ``perimeter`` (a name) and ``perimeter_scale``."""
    nom = _typo(pl.col("nom"), seed, 130)
    commune = (
        pl.when(_uniform(seed, 131, "r") < d.AT_COMMUNE_WITH_DEPARTEMENT)
        .then(nom + pl.lit(" (") + pl.col("departement") + pl.lit(")"))
        .otherwise(nom)
    )
    several = _names_list(pl.col("nom"), pl.col("nom2"), pl.col("nom3"), ", ")
    perimeter = (
        pl.when(pl.col("level") == "commune").then(commune).when(pl.col("extra") > 0).then(several).otherwise(nom)
    )
    scale = (
        pl.when(pl.col("extra") > 0)
        .then(pl.lit("Adhoc"))
        .otherwise(pl.col("level").replace_strict(_AT_SCALES, default="Adhoc", return_dtype=pl.String))
    )
    bad = _uniform(seed, 132, "r") < d.UNRESOLVABLE_GEO_SHARE
    return (
        pl.when(bad).then(_pick(d.UNRESOLVABLE_GEOGRAPHIES, _uniform(seed, 133, "r"))).otherwise(perimeter),
        pl.when(bad).then(pl.lit("Adhoc")).otherwise(scale),
    )


def _date_text(column: str, form: pl.Expr, seed: int, salt: int) -> pl.Expr:
    """A date as a producer writes it (``form``: iso, jj/mm/aaaa, utc_minuit), a few malformed."""
    value = pl.col(column)
    summer = value.dt.month().is_between(4, 10)
    utc = (value - pl.duration(days=1)).dt.strftime("%Y-%m-%d") + pl.when(summer).then(
        pl.lit("T22:00:00.000Z")
    ).otherwise(pl.lit("T23:00:00.000Z"))
    text = (
        pl.when(form == "jj/mm/aaaa")
        .then(value.dt.strftime("%d/%m/%Y"))
        .when(form == "utc_minuit")
        .then(utc)
        .otherwise(value.dt.strftime("%Y-%m-%d"))
    )
    bad = _uniform(seed, salt, "r") < d.MALFORMED_DATE_SHARE
    return (
        pl.when(value.is_null())
        .then(pl.lit(None, pl.String))
        .when(bad)
        .then(_pick(d.MALFORMED_DATES, _uniform(seed, salt + 1, "r")))
        .otherwise(text)
    )


def _description(seed: int, html: bool) -> pl.Expr:
    text = pl.col("description")
    missing = _uniform(seed, 140, "r") < d.MISSING_DESCRIPTION_SHARE
    if html:
        paragraphs = (
            pl.when(_uniform(seed, 141, "r") < 0.6)
            .then(text.str.replace_all(". ", ".</p>\n<p>", literal=True))
            .otherwise(text)
        )
        text = pl.lit("<p>") + paragraphs + pl.lit("</p>")
        text = (
            pl.when(_uniform(seed, 142, "r") < 0.05)
            .then(text.str.replace_all("é", "&eacute;", literal=True))
            .otherwise(text)
        )
    else:
        text = (
            pl.when(_uniform(seed, 143, "r") < d.MULTILINE_CSV_SHARE)
            .then(text.str.replace_all(". ", ".\n", literal=True))
            .otherwise(text)
        )
    return pl.when(missing).then(pl.lit(None, pl.String)).otherwise(text)


# ---------------------------------------------------------------------------- writers
def _csv_cell(expr: pl.Expr, separator: str, quote_all: bool) -> pl.Expr:
    value = expr.fill_null("")
    quoted = pl.lit('"') + value.str.replace_all('"', '""', literal=True) + pl.lit('"')
    if quote_all:
        return quoted
    return pl.when(value.str.contains(r'[";,\r\n\t]')).then(quoted).otherwise(value)


def _write_csv(
    records: pl.DataFrame,
    path: Path,
    seed: int,
    separator: str,
    bom: bool,
    quote_all: bool,
    date_form: pl.Expr,
    prefix: str,
) -> int:
    """A dispositif-aide CSV: header, one line per record, a few broken rows and reused ids."""
    pseudo = (
        pl.lit("[{ nom: '")
        + pl.col("porteur").str.replace_all("'", "\\'", literal=True)
        + pl.lit("', roles: [ 'financeur', 'instructeur' ]}]")
    )
    strict = (
        pl.lit('[{"nom":"')
        + pl.col("porteur").str.replace_all('"', '\\"', literal=True)
        + pl.lit('","siren":"","roles":["financeur"]}]')
    )
    unknown_type = _uniform(seed, 150, "r") < d.UNKNOWN_VOCABULARY_SHARE
    no_cibles = _uniform(seed, 151, "r") < d.MISSING_CIBLES_SHARE
    reused = _uniform(seed, 152, "r") < d.DUPLICATE_ID_SHARE
    native = pl.lit(prefix) + pl.when(reused & (pl.col("r") > 0)).then(pl.col("r") - 1).otherwise(pl.col("r")).cast(
        pl.String
    )
    cells = {
        "id": native,
        "titre": _title_variant(seed),
        "promesse": pl.col("promesse"),
        "description": _description(seed, html=False),
        "eligibilite": pl.col("eligibilite"),
        "types_aides": pl.when(unknown_type).then(pl.lit("subvention exceptionnelle")).otherwise(pl.col("types")),
        "porteurs": pl.when(_uniform(seed, 153, "r") < 0.5).then(pseudo).otherwise(strict),
        "programmes_parents": pl.col("programme"),
        "url_source": _url(seed, aggregator=False),
        "cibles": pl.when(no_cibles).then(pl.lit(None, pl.String)).otherwise(pl.col("cibles").list.join("|")),
        "eligibilite_geographique": _csv_geography(seed),
        "eligibilite_geographique_exclusions": pl.when(
            pl.col("level").is_in(["departement", "region"]) & (_uniform(seed, 154, "r") < d.EXCLUSION_SHARE)
        ).then(pl.lit("COM-") + pl.col("chef_lieu")),
        "date_ouverture": _date_text("date_ouverture", date_form, seed, 155),
        "date_cloture": _date_text("date_cloture", date_form, seed, 157),
        "date_mise_a_jour": pl.col("date_maj").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    broken = _uniform(seed, 159, "r") < d.BROKEN_CSV_ROW_SHARE
    line = pl.concat_str([_csv_cell(cells[c], separator, quote_all) for c in CSV_COLUMNS], separator=separator)
    line = pl.when(broken).then(line + pl.lit(separator + "cellule en trop")).otherwise(line)
    lines = records.select(line.alias("line")).get_column("line")
    header = separator.join(f'"{c}"' if quote_all else c for c in CSV_COLUMNS)
    body = "\r\n".join([header, lines.str.join("\r\n").item() if lines.len() else ""]) + "\r\n"
    path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + body.encode("utf-8"))
    return records.height


def _write_at_pages(
    records: pl.DataFrame, path: Path, seed: int, url: str, publics: list[str], types: list[str], themes: list[str]
) -> int:
    """aides-territoires pages (one JSON document per line of the payload file)."""
    perimeter, scale = _at_perimeter(seed)
    unknown = _uniform(seed, 160, "r") < d.UNKNOWN_VOCABULARY_SHARE
    audiences = (
        pl.concat_list(
            _pick(publics, _uniform(seed, 161, "r")),
            pl.when(_uniform(seed, 162, "r") < 0.4).then(_pick(publics, _uniform(seed, 163, "r"))),
            pl.when(unknown).then(
                pl.lit("Public inconnu ") + (_uniform(seed, 164, "r") * 20).cast(pl.Int32).cast(pl.String)
            ),
        )
        .list.drop_nulls()
        .list.unique(maintain_order=True)
    )
    audiences = (
        pl.when(_uniform(seed, 165, "r") < d.MISSING_CIBLES_SHARE)
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(audiences)
    )
    spaced = _uniform(seed, 166, "r") < d.SPACED_TIMESTAMP_SHARE
    updated = pl.col("date_maj").dt.strftime("%Y-%m-%dT%H:%M:%S") + pl.lit("+01:00")
    updated = pl.when(spaced).then(pl.col("date_maj").dt.strftime("%Y-%m-%dT%H: %M: %S+01: 00")).otherwise(updated)
    titre = _title_variant(seed)
    result = pl.struct(
        id=(pl.col("r") + 100_000).cast(pl.Int64),
        slug=_slug(pl.col("titre")).str.slice(0, 50),
        url=pl.lit("/aides/") + _slug(pl.col("titre")).str.slice(0, 50) + pl.lit("/"),
        name=pl.when(titre == "").then(pl.lit(None, pl.String)).otherwise(titre),
        name_initial=pl.lit(None, pl.String),
        financers=pl.concat_list(pl.col("porteur")),
        instructors=pl.lit([], pl.List(pl.String)),
        programs=pl.concat_list(pl.col("programme")).list.drop_nulls(),
        description=_description(seed, html=True),
        eligibility=pl.lit("<p>") + pl.col("eligibilite") + pl.lit("</p>"),
        perimeter=perimeter,
        perimeter_scale=scale,
        origin_url=_url(seed, aggregator=True),
        application_url=pl.when(_uniform(seed, 167, "r") < 0.3).then(
            pl.lit("https://") + pl.col("host") + pl.lit("/demarches")
        ),
        targeted_audiences=audiences,
        aid_types=pl.concat_list(_pick(types, _uniform(seed, 168, "r"))),
        categories=pl.concat_list(
            _pick(themes, _uniform(seed, 169, "r")),
            pl.when(_uniform(seed, 170, "r") < 0.5).then(_pick(themes, _uniform(seed, 171, "r"))),
        ).list.drop_nulls(),
        start_date=_date_text("date_ouverture", pl.lit("iso"), seed, 172),
        submission_deadline=_date_text("date_cloture", pl.lit("iso"), seed, 174),
        subvention_rate_lower_bound=pl.when(_uniform(seed, 176, "r") < 0.5).then(pl.col("taux") // 2),
        subvention_rate_upper_bound=pl.col("taux"),
        loan_amount=pl.when(_uniform(seed, 177, "r") < 0.05).then(
            (_uniform(seed, 178, "r") * 100).cast(pl.Int64) * 1000
        ),
        recoverable_advance_amount=pl.lit(None, pl.Int64),
        recurrence=pl.col("recurrence"),
        date_created=updated,
        date_updated=updated,
    ).struct.json_encode()
    pages = (
        records.select(result.alias("json"))
        .with_row_index("n")
        .group_by((pl.col("n") // AT_PAGE_SIZE).alias("page"), maintain_order=True)
        .agg(pl.col("json").str.join(","), pl.len().alias("count"))
    )
    total = records.height
    last = pages.height
    documents = pages.select(
        pl.lit('{"count":' + str(total) + ',"next":')
        + pl.when(pl.col("page") + 1 < last)
        .then(pl.lit(f'"{url}?page=') + (pl.col("page") + 2).cast(pl.String) + pl.lit('"'))
        .otherwise(pl.lit("null"))
        + pl.lit(',"previous":null,"results":[')
        + pl.col("json")
        + pl.lit("]}")
    ).to_series()
    path.write_text(documents.str.join("\n").item() + "\n" if documents.len() else "", encoding="utf-8")
    return total


# ---------------------------------------------------------------------------- entry point
def platform_spec(region: str, nom: str) -> SourceSpec:
    """A région's open-data portal publishing a dispositif-aide CSV (synthetic declaration)."""
    return SourceSpec(
        name=f"{PLATFORM_PREFIX}{region}",
        adapter="dispositif_aide_csv",
        level="multi",
        publisher=f"Plateforme régionale (synthétique) — {nom}",
        licence="etalab-2.0",
        homepage=f"https://{PLATFORM_PREFIX}{region}.invalid",
        transport="http",
        schedule="0 4 * * *",
        config={"url": f"https://{PLATFORM_PREFIX}{region}.invalid/dispositifs-aides.csv"},
        precedence=60,
    )


def generate(conn: duckdb.DuckDBPyConnection, size: int, seed: int, folder: Path) -> GeneratedPayloads:
    """Write the payload files of ``size`` source items in ``folder``; return their declarations."""
    folder.mkdir(parents=True, exist_ok=True)
    ref = _referential(conn)
    aids, cross, within = _aids(size, seed, ref)
    records = _records(aids, cross, within, seed)
    region_names = dict(ref["region"].select("code", "nom").iter_rows())
    publics = _vocabulary("cibles.csv", ("*", AT_SOURCE))
    types = _vocabulary("types_aides.csv", ("*", AT_SOURCE))
    themes = _vocabulary("thematiques.csv", ("*", AT_SOURCE))
    sources: list[SyntheticSource] = []
    for (name,), part in records.partition_by("source", as_dict=True, maintain_order=True).items():
        if name == AT_SOURCE:
            spec = get_spec(AT_SOURCE)
            path = folder / "aides-territoires.jsonl"
            items = _write_at_pages(part, path, seed, spec.config.get("url", ""), publics, types, themes)
            sources.append(SyntheticSource(spec, path, "pages", items))
            continue
        if name == MTE_SOURCE:
            spec = get_spec(MTE_SOURCE)
            path = folder / f"{MTE_SOURCE}.csv"
            items = _write_csv(part, path, seed, ",", False, True, pl.lit("utc_minuit"), "mte-")
        else:
            region = name.removeprefix(PLATFORM_PREFIX)
            spec = platform_spec(region, region_names.get(region, region))
            rank = sorted(region_names).index(region) if region in region_names else 0
            usual = _choose(pl.lit((rank * 0.6180339887) % 1.0), d.PLATFORM_DATE_FORMATS)
            form = (
                pl.when(_uniform(seed, 180, "r") < 0.15)
                .then(_choose(_uniform(seed, 181, "r"), d.PLATFORM_DATE_FORMATS))
                .otherwise(usual)
            )
            path = folder / f"{name}.csv"
            items = _write_csv(
                part, path, seed, ";" if rank % 2 == 0 else ",", rank % 2 == 0, False, form, f"r{region}-"
            )
        sources.append(SyntheticSource(spec, path, "csv", items))
    stats = {
        "records": records.height,
        "aids": aids.height,
        "copies_entre_sources": int((records.get_column("copy") == 1).sum()),
        "doublons_dans_une_source": int((records.get_column("copy") == 2).sum()),
        "niveaux_des_aides": dict(aids.group_by("level").len().sort("level").iter_rows()),
        "enregistrements_par_source": {s.spec.name: s.items for s in sources},
        "octets": sum(s.path.stat().st_size for s in sources),
    }
    generated = GeneratedPayloads(size, seed, aids.height, sources, stats)
    (folder / "manifest.json").write_text(
        json.dumps(generated.manifest(), ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return generated


def load_generated(folder: Path) -> GeneratedPayloads | None:
    """The payloads already generated in ``folder`` (None when absent or incomplete)."""
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return None
    generated = GeneratedPayloads.from_manifest(folder, json.loads(manifest.read_text(encoding="utf-8")))
    return generated if all(s.path.exists() for s in generated.sources) else None
