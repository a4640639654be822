"""The one decoding / CSV-dialect module the adapters and the submission validator share."""

from __future__ import annotations

import codecs

import pytest

from sources.adapters.html import decode_html
from sources.text_files import (
    cp1252_text,
    decode,
    has_utf16_bom,
    looks_binary,
    physical_lines,
    sniff_delimiter,
    strict_utf8,
    strip_bom,
)

FRENCH = "id,titre\naide-1,Prime à l’éco-rénovation « œuvre » – 1 500 €\n"


@pytest.mark.parametrize(
    ("content", "encoding", "expected"),
    [
        (FRENCH.encode(), None, (FRENCH, "utf-8")),
        (codecs.BOM_UTF8 + FRENCH.encode(), None, (FRENCH, "utf-8")),
        (FRENCH.encode("cp1252"), None, (FRENCH, "cp1252")),
        (FRENCH.encode("cp1252"), "cp1252", (FRENCH, "cp1252")),
        (codecs.BOM_UTF8 + FRENCH.encode(), "utf-8", (FRENCH, "utf-8")),
        # a configured encoding that does not fit is ignored
        (FRENCH.encode(), "ascii", (FRENCH, "utf-8")),
        # UTF-8 with one stray cp1252 byte keeps its UTF-8 text
        (FRENCH.encode().replace("’".encode(), b"\x92"), None, (FRENCH, "utf-8+cp1252")),
        # the five bytes cp1252 leaves undefined are read as Latin-1: nothing is lost
        (b"a\x81b\x9dc", None, ("a\x81b\x9dc", "cp1252")),
    ],
)
def test_decode_never_fails_nor_drops_a_byte(content: bytes, encoding: str | None, expected: tuple[str, str]) -> None:
    assert decode(content, encoding) == expected


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32"])
def test_text_implausible_as_cp1252_is_left_to_charset_normalizer(encoding: str) -> None:
    text, how = decode((FRENCH * 20).encode(encoding))
    assert text == FRENCH * 20
    assert codecs.lookup(how).name.startswith("utf-")


def test_binary_content_without_a_readable_guess_is_still_read_as_cp1252() -> None:
    content = b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256))
    text, how = decode(content)
    assert how == "cp1252" and text == cp1252_text(content) and len(text) == len(content)


def test_strict_utf8_drops_one_bom_and_raises_on_other_bytes() -> None:
    assert strict_utf8(codecs.BOM_UTF8 + b"{}") == "{}"
    assert strict_utf8(codecs.BOM_UTF8 * 2 + b"{}") == "\ufeff{}"
    with pytest.raises(UnicodeDecodeError) as error:
        strict_utf8(codecs.BOM_UTF8 + b"ab\xe9")
    assert error.value.start == 2  # counted from after the BOM
    assert strip_bom(codecs.BOM_UTF8 + b"ab") == (b"ab", True)
    assert strip_bom(b"ab") == (b"ab", False)


def test_binary_and_utf16_are_told_from_text() -> None:
    assert has_utf16_bom("a".encode("utf-16")) and not has_utf16_bom(FRENCH.encode())
    assert looks_binary(b"id\x00") and looks_binary(b"\x01\x02\x03" * 10)
    assert not looks_binary(FRENCH.encode()) and not looks_binary(b"a\x0cb\x0bc\tline\r\n")


def test_physical_lines_split_as_the_csv_module_counts() -> None:
    assert physical_lines("a\r\nb\rc\nd") == ["a\r\n", "b\r", "c\n", "d"]
    assert physical_lines("") == []


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("id;titre;description", ";"),
        ("id\ttitre", "\t"),
        ("id,titre", ","),
        ('"a;b",c', ","),
        ("id", ","),
        ("a;b,c", ","),
    ],
)
def test_sniff_delimiter(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


def test_decode_html_keeps_the_declared_charset_and_notes_a_lie() -> None:
    page = "<html><body><h1>Aide à l’éco</h1></body></html>"
    assert decode_html(page.encode("cp1252"), "text/html; charset=windows-1252") == (page, None)
    meta = f"<meta charset='iso-8859-15'>{page}".replace("’", "'")
    assert decode_html(meta.encode("iso-8859-15")) == (meta, None)
    assert decode_html(codecs.BOM_UTF8 + page.encode(), "text/html; charset=iso-8859-1") == (page, None)
    assert decode_html(page.encode("cp1252"), "text/html; charset=utf-8") == (
        page,
        "octets non conformes à l'encodage déclaré (utf-8) : page lue en windows-1252",
    )
