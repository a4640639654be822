"""What the tests of the normalisation expressions count as blank."""

from __future__ import annotations

# Unicode White_Space, what polars' strip_chars() removes (Python's str.strip() also removes the
# C0 separators \x1c-\x1f, which are not white space).
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


def blank(value: str | None) -> bool:
    """No value, or nothing but Unicode white space."""
    return value is None or not value.strip(WHITE_SPACE)
