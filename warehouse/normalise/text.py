"""Text fields as sources send them → clean text, usable URLs, export-sized descriptions.

Why: descriptions arrive as HTML (aides-territoires, ADEME, the Drôme, the Ministère de
la Culture), with named, numeric and double-encoded entities (``d&rsquo;un``,
``&#8211;``, ``&amp;eacute;``); names carry entities too (Département de la Manche);
URLs are broken in ways a person reads past but a machine does not (``https: //…``).
Everything is a polars expression over the whole column; the only Python step decodes
the rare numeric entities the fixed table does not hold, on those rows only.
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
    """
    text = expr.cast(pl.String, strict=False).str.replace_all(r"\r\n?", "\n")
    has_tags = text.str.contains(_TAG)
    # Markers while tags are read: SOFT ends a line (div, li, tr), PARA ends a paragraph
    # (p, headings, lists, tables); runs of them become one line break or one blank line.
    markup = (
        text.str.replace_all(r"[\x01\x02]", "")
        .str.replace_all(r"\s+", " ")  # in HTML a newline is a space
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
    decoded = (
        pl.when(has_tags).then(markup).otherwise(text)
        .str.replace_all(r"(?i)&amp;(#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);", "&${1};")  # double-encoded
        .str.replace_many(_entity_table())
        .map_batches(_unescape_rare, return_dtype=pl.String, is_elementwise=True)
    )
    cleaned = (
        decoded.str.replace_all(r"[\u200b\ufeff]", "")
        .str.replace_all(r"\t", " ")
        .str.replace_all(r"[ \u00a0\u2009\u202f]{2,}", " ")
        .str.replace_all(r"[ \u00a0\u2009\u202f]*\n[ \u00a0\u2009\u202f]*", "\n")
        .str.replace_all(r"\n{3,}", "\n\n")
        .str.strip_chars()
    )
    return cleaned


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
    fixed = (
        stated.str.strip_chars("<>\"' \t\n")
        .str.replace(r"(?i)^h\s*t\s*t\s*p\s*(s?)\s*(?::(?:\s*[/\\]){0,2}|(?:\s*[/\\]){1,2})\s*", "http${1}://")
        .str.replace(r"^httpS://", "https://")
        .str.replace(r"^//+", "https://")
        .str.replace(r"(?i)^www\.", "https://www.")
    )
    fixed = pl.when(fixed.str.contains(_DOMAIN_WITHOUT_SCHEME)).then(pl.format("https://{}", fixed)).otherwise(fixed)
    host = fixed.str.extract(r"^https?://([^/?#]*)", 1)
    excerpt = stated.str.slice(0, 200)
    problem = (
        pl.when(stated.is_null()).then(pl.lit(None, dtype=pl.String))
        .when(fixed.str.contains(r"(?i)^\s*javascript\s*:"))
        .then(pl.format("URL non web (javascript) : {}", excerpt))
        .when(~fixed.str.contains(r"^https?://") & fixed.str.contains(r"^[A-Za-z][A-Za-z0-9+.-]*:"))
        .then(pl.format("URL non web (schéma {}) : {}", fixed.str.extract(r"^([A-Za-z][A-Za-z0-9+.-]*):", 1), excerpt))
        .when(~fixed.str.contains(r"^https?://")).then(pl.format("URL illisible : {}", excerpt))
        .when(host.str.strip_chars() == "").then(pl.format("URL sans hôte : {}", excerpt))
        .when(host.str.contains(r"\s")).then(pl.format("URL avec un espace dans le nom d'hôte : {}", excerpt))
        .when(~host.str.contains(_HOST)).then(pl.format("nom d'hôte invalide dans l'URL : {}", excerpt))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    url = pl.when(problem.is_null() & stated.is_not_null()).then(fixed.str.replace_all(r"\s", "%20"))
    return url, problem


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
