"""Issue 16, point 3: the aids' Markdown is rendered safely, never shown raw (webapp/markdown.py).

Hostile inputs (script tags, ``javascript:`` links, raw HTML, remote images) and the Markdown the
real sources write (the Mission Transition Écologique's programmes in ``../shared``: bold, lists,
hard breaks, links).
"""

from __future__ import annotations

import re

import pytest
import yaml
from markupsafe import Markup
from paths import MTE

from webapp.markdown import FILTERS, markdown_html, markdown_text

HOSTILE = [
    "<script>alert(1)</script>",
    "Texte <b onclick=alert(1)>gras</b> et <img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">lien brut</a>',
    "[clic](javascript:alert(1))",
    "[clic](JaVaScRiPt:alert(1)) et [b](  javascript:alert(2) )",
    "[clic](java\tscript:alert(1))",
    "<javascript:alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[réf][1]\n\n[1]: javascript:alert(1)",
    "![pixel](https://evil.test/pixel.png)",
    '[x](https://exemple.test" onmouseover="alert(1))',
    "<iframe src=https://evil.test></iframe>\n\n<style>body{display:none}</style>",
    "[x](//evil.test/a) [y](/relatif) [z](mailto:a@b.test) <a@b.test>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_renders_without_markup_or_unsafe_link(text):
    html = markdown_html(text)
    assert isinstance(html, Markup)
    tags = re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", html)
    assert {tag for tag, _ in tags} <= {"p", "a", "br", "strong", "em"}, html  # never script, img, iframe…
    for tag, attributes in tags:
        assert not re.search(r"\son\w+\s*=", attributes), html
        if tag == "a":
            href = re.search(r'href="([^"]*)"', attributes)
            assert href and href.group(1).startswith(("http://", "https://")), html
            assert 'rel="noopener noreferrer"' in attributes
    assert "javascript:" not in "".join(a for _, a in tags).lower()


def test_raw_html_is_shown_as_text_never_run():
    assert markdown_html("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert "&lt;a href=&quot;javascript:alert(1)&quot;&gt;" in markdown_html('<a href="javascript:alert(1)">x</a>')


def test_only_http_links_are_kept_and_others_become_their_text():
    html = markdown_html(
        "[fiche](https://exemple.test/a?b=1&c=2) [piège](javascript:alert(1)) [courriel](mailto:a@b.test)"
    )
    assert html == (
        '<p><a href="https://exemple.test/a?b=1&amp;c=2" rel="noopener noreferrer">fiche</a> piège courriel</p>'
    )
    assert markdown_html("<https://exemple.test/auto>") == (
        '<p><a href="https://exemple.test/auto" rel="noopener noreferrer">https://exemple.test/auto</a></p>'
    )


def test_images_become_their_description_and_headings_stay_below_the_page_s():
    assert markdown_html("![un vélo cargo](https://evil.test/pixel.png)") == "<p>un vélo cargo</p>"
    html = markdown_html("# Titre\n\n## Sous-titre\n\n###### Petit")
    assert "<h3>Titre</h3>" in html and "<h4>Sous-titre</h4>" in html and "<h6>Petit</h6>" in html
    assert "<h1" not in html and "<h2" not in html


def test_lists_emphasis_and_breaks():
    html = markdown_html("Trois conditions :\n\n- un **gras**\n- deux *italique*\n\n1. a\n2. b\n\nfin\\\nligne")
    assert "<ul>\n<li>un <strong>gras</strong></li>\n<li>deux <em>italique</em></li>\n</ul>" in html
    assert "<ol>\n<li>a</li>\n<li>b</li>\n</ol>" in html and "fin<br>\nligne" in html


@pytest.mark.parametrize(
    "text, plain",
    [
        ("Prime **vélo** cargo", "Prime vélo cargo"),
        ("Voir la [fiche](https://exemple.test) et `code`", "Voir la fiche et code"),
        ("# Titre\n\n- un\n- deux\n\n1. a\n2. b", "Titre • un • deux 1. a 2. b"),
        ("1. Rénovation", "1. Rénovation"),  # a title that looks like a list keeps its number
        ("[piège](javascript:alert(1)) ![image](https://evil.test/x.png)", "piège image"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # plain text: Jinja escapes it
        ("ligne\nsuivante\\\nfin", "ligne suivante fin"),
        ("", ""),
        (None, ""),
    ],
)
def test_plain_text_keeps_the_words_without_the_syntax(text, plain):
    assert markdown_text(text) == plain
    assert not isinstance(markdown_text(text), Markup)  # escaped by the template like any text


def test_filters_are_named_for_the_templates():
    assert FILTERS == {"markdown": markdown_html, "texte_brut": markdown_text}
    assert markdown_html(None) == "" and markdown_html("   ") == ""


def _programme_texts() -> list[str]:
    texts = []
    for path in sorted((MTE / "programs").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key in ("promesse", "description", "description longue"):
            if isinstance(data.get(key), str):
                texts.append(data[key])
    return texts


@pytest.mark.skipif(not (MTE / "programs").is_dir(), reason="charges réelles absentes (../shared)")
def test_real_programmes_markdown_is_rendered_and_read_without_syntax():
    texts = [t for t in _programme_texts() if re.search(r"\*\*|^\s*- |\]\(", t, re.M)]
    assert len(texts) > 100  # bold, lists and links are common in the real payloads
    for text in texts:
        html = markdown_html(text)
        shown = re.sub(r"<[^>]+>", "", html)
        assert "**" not in shown and not re.search(r"\]\(https?:", shown), text[:200]
        assert not re.search(r"(?m)^- ", shown), text[:200]
        plain = markdown_text(text)
        assert "**" not in plain and "](" not in plain and "\n" not in plain
    act = next(t for t in _programme_texts() if "méthode ACT Pas à Pas" in t)
    assert "<strong>méthode ACT Pas à Pas</strong>" in markdown_html(act)
    assert "<strong>trajectoire bas carbone.</strong><br>" in markdown_html(act)  # the source's hard break
