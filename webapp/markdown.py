"""The aids' texts as the pages show them: Markdown rendered safely, or read as plain text.

Sources write ``description``, ``eligibilite`` and sometimes ``promesse`` in Markdown (Mes Aides
Réno's links and lists, the Mission Transition Écologique's bold and lists, aides-velo's bold);
the warehouse keeps them as written. A page never shows that syntax raw:

- :func:`markdown_html` (Jinja filter ``markdown``) renders a text with markdown-it-py, CommonMark,
  **raw HTML disabled** (a ``<script>`` is shown as text, never run); a link is kept only when it
  goes to an ``http://`` or ``https://`` address, with ``rel="noopener noreferrer"``, any other
  (``javascript:``, ``data:``, ``mailto:``, relative) is reduced to its text; an image is reduced to
  its description (no remote image is ever loaded); headings are shifted below the page's own
  (``#`` becomes ``<h3>``);
- :func:`markdown_text` (Jinja filter ``texte_brut``) reads the same text as one line of plain
  text, for titles and excerpts (territory tables, feeds): the words, link texts, list items,
  without any syntax.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup

SAFE_LINK = re.compile(r"https?://[^\s/?#]", re.IGNORECASE)
"""An address a rendered link may point to: http or https, with a host."""

LINK_REL = "noopener noreferrer"
HEADING_SHIFT = 2
"""Levels added to a Markdown heading: the page's ``<h1>`` and its section's ``<h2>`` come first."""


def _empty(value: Any) -> bool:
    return value is None or not isinstance(value, str) or not value.strip()


def _safe_links_and_images(state: StateCore) -> None:
    """Drop the links that do not go to an http(s) address (their text stays), mark the others
    ``rel="noopener noreferrer"``, turn images into their description, shift headings."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1]) + HEADING_SHIFT)
            token.tag = f"h{level}"
        if token.type != "inline" or not token.children:
            continue
        kept: list[Token] = []
        dropping = False
        for child in token.children:
            if child.type == "link_open":
                href = str(child.attrGet("href") or "")
                dropping = not SAFE_LINK.match(href)
                if dropping:
                    continue
                child.attrSet("rel", LINK_REL)
            elif child.type == "link_close" and dropping:
                dropping = False  # links do not nest in CommonMark: this closes the dropped one
                continue
            elif child.type == "image":
                text = Token("text", "", 0)
                text.content = "".join(part.content for part in child.children or []) or child.content
                child = text
            kept.append(child)
        token.children = kept


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "xhtmlOut": False})
    # Every link is parsed (so that ``[texte](javascript:…)`` never shows as raw syntax) and then
    # judged by _safe_links_and_images, the only place that decides which addresses are kept.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.core.ruler.push("safe_links_and_images", _safe_links_and_images)
    return md


_MD = _parser()


def markdown_html(value: Any) -> Markup:
    """``value`` (Markdown) as safe HTML; an empty value gives an empty string."""
    if _empty(value):
        return Markup("")
    return Markup(_MD.render(value).strip())


def _inline_text(token: Token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def markdown_text(value: Any) -> str:
    """``value`` (Markdown) as one line of plain text: words and link texts, no syntax.

    A list item keeps a mark of its own (« • », or its number in an ordered list) so that a
    list read as one line still reads as a list.
    """
    if _empty(value):
        return ""
    parts: list[str] = []
    for token in _MD.parse(value):
        if token.type == "list_item_open":
            parts.append(f"{token.info}{token.markup}" if token.info else "•")
        elif token.type == "inline":
            parts.append(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
    return " ".join(" ".join(parts).split())


FILTERS = {"markdown": markdown_html, "texte_brut": markdown_text}
"""The Jinja filters of this module, by name (``env.filters.update(FILTERS)``)."""
