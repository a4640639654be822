"""Reading the bytes of the text files producers and collectivités send: decoding and CSV dialect.

One place for what the adapters and the submission validator must do alike, so that a file
reads the same whichever of them reads it:

- **Decoding.** :func:`decode` never fails and never drops a byte (producer files: CSV, YAML,
  HTML pages whose declared charset lies); :func:`strict_utf8` is for formats that must be
  UTF-8 (JSON, submitted files), where the caller says what went wrong. A leading UTF-8 BOM is
  dropped by both (:func:`strip_bom` tells whether there was one).
- **Text or not.** :func:`looks_binary` and :func:`has_utf16_bom` tell spreadsheets, archives
  and UTF-16 "Unicode text" apart from a text file.
- **CSV dialect.** :func:`physical_lines` splits lines the way the ``csv`` module counts them,
  :func:`sniff_delimiter` finds the delimiter of a header line.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

DELIMITERS: tuple[str, ...] = (",", ";", "\t")
"""Delimiters :func:`sniff_delimiter` chooses from (``,`` on a tie)."""

BINARY_SAMPLE = 65536
"""Bytes :func:`looks_binary` looks at (a NUL byte counts anywhere)."""

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_TEXT_CONTROLS = frozenset(b"\t\n\r")


# -- BOMs and binary content -------------------------------------------------------------------
def strip_bom(content: bytes) -> tuple[bytes, bool]:
    """``content`` without a leading UTF-8 BOM, and whether it had one (Excel adds it)."""
    if content.startswith(codecs.BOM_UTF8):
        return content[len(codecs.BOM_UTF8) :], True
    return content, False


def has_utf16_bom(content: bytes) -> bool:
    """Whether the file starts with a UTF-16 BOM (Excel's « Texte Unicode »)."""
    return content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def looks_binary(content: bytes) -> bool:
    """Whether the bytes are not text: a NUL byte, or control bytes in more than 1 % of the sample.

    A few stray controls (at least 8 are tolerated) happen in real text files; UTF-16/32,
    archives and spreadsheets have many, or NUL bytes.
    """
    sample = content[:BINARY_SAMPLE]
    controls = sum(1 for byte in sample if byte < 32 and byte not in _TEXT_CONTROLS)
    return b"\x00" in content or controls > max(8, len(sample) // 100)


# -- decoding ------------------------------------------------------------------------------------
def strict_utf8(content: bytes) -> str:
    """UTF-8 text with a leading BOM dropped; raises ``UnicodeDecodeError`` (offsets after the BOM).

    For formats that are UTF-8 by definition (JSON) or by rule (submitted files): a wrong
    encoding there is the sender's error to report, not something to guess.
    """
    return content.decode("utf-8-sig")


def _byte_as_text(byte: bytes) -> str:
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:
        return byte.decode("latin-1")


def _utf8_with_strays(content: bytes) -> tuple[str, int]:
    """UTF-8 where the bytes are valid, each invalid byte read as cp1252; and how many
    non-ASCII characters were valid UTF-8 (0 means the file is not UTF-8 at all)."""
    view = memoryview(content)
    parts: list[str] = []
    position = valid_non_ascii = 0
    while position < len(content):
        try:
            text, _ = codecs.utf_8_decode(view[position:], "strict", True)
        except UnicodeDecodeError as exc:
            text, _ = codecs.utf_8_decode(view[position : position + exc.start], "strict", True)
            parts.append(text)
            valid_non_ascii += sum(1 for char in text if ord(char) > 0x7F)
            parts.extend(_byte_as_text(bytes([b])) for b in content[position + exc.start : position + exc.end])
            position += exc.end
            continue
        parts.append(text)
        valid_non_ascii += sum(1 for char in text if ord(char) > 0x7F)
        break
    return "".join(parts), valid_non_ascii


def cp1252_text(content: bytes) -> str:
    """Windows-1252 text (Excel's and French sites' usual encoding), never failing: the five
    bytes cp1252 leaves undefined are read as Latin-1, so that no byte is lost."""
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(_byte_as_text(bytes([b])) for b in content)


def _detected(content: bytes) -> tuple[str, str] | None:
    """Text in the encoding charset-normalizer finds, when that text is not binary-looking."""
    match = from_bytes(content).best()
    if match is None:
        return None
    text = str(match)
    if looks_binary(text.encode("utf-8")):
        return None
    return text.lstrip("\ufeff"), match.encoding


def decode(content: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Text and how it was decoded, never failing and never dropping a byte.

    The configured (or declared) encoding if it fits; else UTF-8 (BOM or not); a UTF-8 file
    with a few stray bytes (mixed encodings, a download cut inside a character) keeps its
    UTF-8 text and reads the stray bytes as cp1252 (``utf-8+cp1252``); a file with no UTF-8
    at all is cp1252 — unless its bytes are not plausible as cp1252 text (UTF-16 or UTF-32
    without BOM, for instance: :func:`looks_binary`), when charset-normalizer's guess is
    taken if it gives readable text.
    """
    if encoding:
        try:
            return content.decode(encoding).lstrip("\ufeff"), encoding
        except (UnicodeDecodeError, LookupError):
            pass
    content, _bom = strip_bom(content)
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mixed, valid_non_ascii = _utf8_with_strays(content)
    if valid_non_ascii:
        return mixed, "utf-8+cp1252"
    if looks_binary(content):
        detected = _detected(content)
        if detected is not None:
            return detected
    return cp1252_text(content), "cp1252"


# -- CSV dialect ---------------------------------------------------------------------------------
def physical_lines(text: str) -> list[str]:
    """Lines with their endings, split like the csv module counts them (\\r\\n, \\r, \\n)."""
    return _LINE.findall(text)


def sniff_delimiter(first_line: str) -> str:
    """The delimiter appearing most often outside quotes in the header line (``,`` on a tie)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","
