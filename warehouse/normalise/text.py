"""Text fields as sources send them → clean text, usable URLs, export-sized descriptions.

Why: descriptions arrive as HTML (aides-territoires, ADEME, the Drôme, the Ministère de
la Culture), with named, numeric and double-encoded entities (``d&rsquo;un``,
``&#8211;``, ``&amp;eacute;``); names carry entities too (Département de la Manche);
URLs are broken in ways a person reads past but a machine does not (``https: //…``).
Everything is polars expressions over the whole column (html_to_text applies its costly
passes only to the rows holding a tag or an entity, gathered then put back in place); the
only per-value Python step decodes the rare numeric entities the fixed table does not hold,
on those rows only.
"""

from __future__ import annotations

import html
import html.entities
from functools import lru_cache

import polars as pl

# -- HTML → text ---------------------------------------------------------------------------

# Entities every real feed uses: all named HTML5 entities (with their ';'), plus the
# numeric forms of Latin-1, Latin Extended-A and General Punctuation, in decimal and hex.
_NUMERIC_RANGES = ((32, 127), (160, 384), (710, 733), (8192, 8304), (8364, 8365), (8482, 8483))


@lru_cache(maxsize=1)
def _entity_table() -> dict[str, str]:
    table = {f"&{name}": char for name, char in html.entities.html5.items() if name.endswith(";")}
    for start, stop in _NUMERIC_RANGES:
        for code in range(start, stop):
            char = chr(code)
            table[f"&#{code};"] = char
            table[f"&#x{code:x};"] = char
            table[f"&#x{code:X};"] = char
            table[f"&#X{code:x};"] = char
    return table


# Markup that makes a value HTML (its source newlines are then mere spaces); a value
# without any is plain text or Markdown, whose line breaks are kept.
_TAG = (
    r"(?i)</?(?:p|br|div|span|li|ul|ol|h[1-6]|a|strong|em|b|i|u|table|tr|td|th|blockquote|img|font|sup|sub)"
    r"\b[^<>]*>"
)
_SOFT, _PARA = "\x01", "\x02"
_LEFTOVER_ENTITY = r"(?i)&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);"


def _unescape_rare(series: pl.Series) -> pl.Series:
    """html.unescape on the values that still hold an entity after the table, and only those.

    Python per value because no polars expression turns a code point into a character;
    the table above leaves few such values (emoji, rare scripts), each decoded once.
    """
    mask = series.str.contains(_LEFTOVER_ENTITY).fill_null(False)
    if not mask.any():
        return series
    distinct = series.filter(mask).unique().to_list()
    decoded = {value: html.unescape(value) for value in distinct}
    return series.replace(decoded)


def html_to_text(expr: pl.Expr) -> pl.Expr:
    """HTML (or plain text) → clean text.

    Tags are removed; ``<br>``, paragraphs, ``div``s and headings end lines; ``<li>``
    becomes a "• " item on its own line; entities are decoded (named, numeric,
    double-encoded ``&amp;eacute;``); spaces are collapsed, lines trimmed, at most one
    blank line kept. Plain text keeps its line breaks: only HTML's source newlines are
    mere spaces.

    The column is handled as a whole (one batch per call), and the costly passes only run
    on the rows that need them: markup on the values that hold a tag, entity decoding on
    those that hold a '&'; the others go through the whitespace tidying alone.
    """
    return expr.cast(pl.String, strict=False).map_batches(
        _html_to_text_batch, return_dtype=pl.String, is_elementwise=True
    )


def inline_markdown_to_text(expr: pl.Expr) -> pl.Expr:
    """Inline Markdown a source left in a one-line text (``MaPrimeRénov' **accompagnée**``) →
    its words: bold, italics with ``*``, code spans, links (their text kept). Underscores are
    left alone: they are more often part of a name than emphasis."""
    return (
        expr.str.replace_all(r"\*\*([^*]+?)\*\*", "${1}")
        .str.replace_all(r"__([^_]+?)__", "${1}")
        .str.replace_all(r"(^|[^\w*])\*([^*\s][^*]*?)\*($|[^\w*])", "${1}${2}${3}")
        .str.replace_all(r"`([^`]+)`", "${1}")
        .str.replace_all(r"\[([^\]]+)\]\([^)\s]*\)", "${1}")
    )


def _markup(text: pl.Expr) -> pl.Expr:
    """Tags → line breaks, bullets and plain text, for values that hold markup."""
    # Markers while tags are read: SOFT ends a line (div, li, tr), PARA ends a paragraph
    # (p, headings, lists, tables); runs of them become one line break or one blank line.
    return (
        text.str.replace_all(r"[\x01\x02]", "")
        # in HTML a newline is a space: every white-space run becomes one space (written so
        # that the single spaces between words, the common case, are not matches)
        .str.replace_all(r"\s{2,}|[^\S ]", " ")
        .str.replace_all(r"(?is)<!--.*?-->", "")
        .str.replace_all(r"(?is)<script\b.*?</script\s*>", "")
        .str.replace_all(r"(?is)<style\b.*?</style\s*>", "")
        .str.replace_all(r"(?i)<li\b[^>]*>(?:\s|&nbsp;|<br\s*/?>)*</li\s*>", "")  # empty items
        .str.replace_all(r"(?i)<br\s*/?>", "\n")
        .str.replace_all(r"(?i)<li\b[^>]*>", _SOFT + "• ")
        .str.replace_all(r"(?i)</?(?:p|h[1-6]|ul|ol|table|blockquote|section|article|pre)\b[^>]*>", _PARA)
        .str.replace_all(r"(?i)</?(?:div|li|tr|dl|dt|dd|header|footer|nav|figure|figcaption)\b[^>]*>", _SOFT)
        .str.replace_all(r"(?i)</?(?:td|th)\b[^>]*>", " ")
        .str.replace_all(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>", "")
        .str.replace_all(r"[\x01\x02\n ]*\x02[\x01\x02\n ]*", "\n\n")
        .str.replace_all(r"\n?(?:\x01 *)+\n?", "\n")
        .str.replace_all(r"•[ \n]*\n[ \n]*", "• ")  # "<li><p>item</p>" keeps the item on the bullet
        .str.replace_all(r"•[ ]*(?:•[ ]*)+", "• ")  # a list item that only holds a list
        .str.replace_all(r"• [*·\-–] +", "• ")  # "<li>* item</li>": one bullet is enough
        .str.replace_all(r"\n[ \n]*\n *•", "\n•")  # list items follow each other without blank lines
    )


def _decode(text: pl.Expr) -> pl.Expr:
    """Entities → characters from the fixed table (the rare others: ``_unescape_rare``)."""
    return text.str.replace_all(r"(?i)&amp;(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);", "&${1};").str.replace_many(
        _entity_table()
    )  # double-encoded


def _tidy(text: pl.Expr) -> pl.Expr:
    """Spaces collapsed, lines trimmed, at most one blank line: every value."""
    return (
        text.str.replace_all(r"[\u200b\ufeff]", "")
        .str.replace_all(r"\t", " ")
        .str.replace_all(r"[ \u00a0\u2009\u202f]{2,}", " ")
        .str.replace_all(r"[ \u00a0\u2009\u202f]*\n[ \u00a0\u2009\u202f]*", "\n")
        .str.replace_all(r"\n{3,}", "\n\n")
        .str.strip_chars()
    )


# Superset of what the decoding passes look for (the table's keys, the double-encoded form,
# _LEFTOVER_ENTITY: all '&', an optional '#', alphanumerics, ';'): they leave a value without
# one as it is.
_ANY_ENTITY = r"&#?[0-9A-Za-z]+;"


def _select(series: pl.Series, step) -> pl.Series:
    return series.to_frame("t").select(step(pl.col("t"))).to_series()


def _on_rows(series: pl.Series, mask: pl.Series, step) -> pl.Series:
    """``step`` (Series → Series) on the rows of ``mask`` only, each result put back in its row."""
    rows = mask.fill_null(False).arg_true()
    if rows.len() == 0:
        return series
    return series.scatter(rows, step(series.gather(rows)))


def _html_to_text_batch(series: pl.Series) -> pl.Series:
    text = _select(series, lambda t: t.str.replace_all(r"\r\n?", "\n"))
    # Only values with a tag are markup; the markup passes would leave the others as they are.
    text = _on_rows(text, text.str.contains(_TAG), lambda rows: _select(rows, _markup))
    # Nor would decoding change a value without an entity.
    text = _on_rows(text, text.str.contains(_ANY_ENTITY), lambda rows: _unescape_rare(_select(rows, _decode)))
    return _select(text, _tidy).alias(series.name)


# -- URLs ----------------------------------------------------------------------------------

_DOMAIN_WITHOUT_SCHEME = (
    r"(?i)^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:fr|com|org|net|eu|info|bzh|paris|alsace|corsica|"
    r"re|gp|mq|gf|yt|nc|pf|pm|wf|bl|mf)(?:[/:?#]|$)"
)
_HOST = r"^[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)+\.?(?::\d{1,5})?$"


def repair_url(expr: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(url, probleme)``: a usable http(s) URL or null with a French reason.

    Repairs what real feeds break: spaces inside or after the scheme (``https: //``,
    ``http:/ /``, ``h ttps://``), a missing ':' (``https//``), upper-case schemes,
    ``//host`` and ``www.host`` or a bare ``host.fr/…`` without a scheme (→ https), spaces
    inside the path (→ ``%20``), surrounding quotes or angle brackets. Rejects other
    schemes (``javascript:``, ``mailto:``…), URLs without a host and hosts with spaces or
    characters no host name has. An empty value is null without a reason.
    """
    stated = expr.cast(pl.String, strict=False).str.strip_chars()
    stated = pl.when(stated.str.len_chars() > 0).then(stated)
    # Each intermediate is a field of one struct, computed once: an expression used twice
    # in a when/then chain would be evaluated twice, over every row.
    field = pl.field
    fixed = (
        field("stated")
        .str.strip_chars("<>\"' \t\n")
        .str.replace(r"(?i)^h\s*t\s*t\s*p\s*(s?)\s*(?::(?:\s*[/\\]){0,2}|(?:\s*[/\\]){1,2})\s*", "http${1}://")
        .str.replace(r"^httpS://", "https://")
        .str.replace(r"^//+", "https://")
        .str.replace(r"(?i)^www\.", "https://www.")
    )
    parts = (
        pl.struct(stated.alias("stated"))
        .struct.with_fields(fixed.alias("fixed"))
        .struct.with_fields(
            pl.when(field("fixed").str.contains(_DOMAIN_WITHOUT_SCHEME))
            .then(pl.format("https://{}", field("fixed")))
            .otherwise(field("fixed"))
            .alias("fixed")
        )
        .struct.with_fields(
            field("fixed").str.extract(r"^https?://([^/?#]*)", 1).alias("host"),
            field("fixed").str.contains(r"^https?://").alias("web"),
            field("stated").str.slice(0, 200).alias("excerpt"),
        )
    )
    fixed, host, web, excerpt = field("fixed"), field("host"), field("web"), field("excerpt")
    problem = (
        pl.when(field("stated").is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(fixed.str.contains(r"(?i)^\s*javascript\s*:"))
        .then(pl.format("URL non web (javascript) : {}", excerpt))
        .when(~web & fixed.str.contains(r"^[A-Za-z][A-Za-z0-9+.-]*:"))
        .then(pl.format("URL non web (schéma {}) : {}", fixed.str.extract(r"^([A-Za-z][A-Za-z0-9+.-]*):", 1), excerpt))
        .when(~web)
        .then(pl.format("URL illisible : {}", excerpt))
        .when(host.str.strip_chars() == "")
        .then(pl.format("URL sans hôte : {}", excerpt))
        .when(host.str.contains(r"\s"))
        .then(pl.format("URL avec un espace dans le nom d'hôte : {}", excerpt))
        .when(~host.str.contains(_HOST))
        .then(pl.format("nom d'hôte invalide dans l'URL : {}", excerpt))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    parts = parts.struct.with_fields(problem.alias("problem")).struct.with_fields(
        pl.when(field("problem").is_null() & field("stated").is_not_null())
        .then(fixed.str.replace_all(r"\s", "%20"))
        .alias("url")
    )
    url, problem = parts.struct.field("url"), parts.struct.field("problem")
    # The names the when/then chains gave: the stated column's for the URL, "literal" for the reason.
    name = expr.meta.output_name(raise_if_undetermined=False)
    return (url.alias(name) if name is not None else url), problem.alias("literal")


# -- export sizes --------------------------------------------------------------------------

ELLIPSIS = "…"


def truncate_for_export(expr: pl.Expr, max_len: int) -> pl.Expr:
    """Cut text longer than ``max_len`` characters at a word boundary and end it with "…".

    The warehouse keeps the full text; exports whose schema caps a field (description:
    5 000 characters) call this. The result never exceeds ``max_len`` characters; a
    text without a space in its second half is cut inside the word.
    """
    if max_len < 2:
        raise ValueError("max_len doit valoir au moins 2")
    text = expr.cast(pl.String, strict=False)
    head = text.str.slice(0, max_len)  # one more character than is kept
    at_word = head.str.replace(r"\s+\S*$", "")  # drop the last, possibly cut, word
    usable = at_word.str.len_chars() >= max_len // 2
    kept = pl.when(usable).then(at_word).otherwise(text.str.slice(0, max_len - 1))
    kept = kept.str.slice(0, max_len - 1).str.strip_chars_end(" \t\n\u00a0,;:–-")
    return pl.when(text.str.len_chars() <= max_len).then(text).otherwise(pl.format("{}{}", kept, pl.lit(ELLIPSIS)))
