"""Addresses, sizes and ranges: parsed and printed the same way everywhere.

Sizes follow QEMU's own size syntax (``qemu_strtosz`` in QEMU
``util/cutils.c``): a number with an optional binary suffix ``K M G T P E``
(case-insensitive, powers of 1024), or a ``0x`` hexadecimal number.  A bare
number is bytes unless the caller names a default unit, as ``-m 512`` means
512 MiB (QEMU ``softmmu/vl.c`` ``parse_memory_options`` reads ``-m`` with a
default suffix of ``M``).

Addresses print in lower-case hex with a ``0x`` prefix (``fmt_hex``), the way
QEMU's trace events and ``info pci`` print them; ``fmt_hex16`` gives the
16-digit zero-padded form of ``info mtree``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SizeError

__all__ = [
    "KiB", "MiB", "GiB", "TiB", "PAGE_SIZE",
    "parse_size", "parse_addr", "fmt_hex", "fmt_hex16", "fmt_size", "fmt_columns",
    "align_up", "align_down", "is_pow2", "pow2ceil", "Range",
]

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
#: x86-64 base page (the host page QEMU trims memslots to, ``qemu_real_host_page_size``).
PAGE_SIZE = 4 * KiB

_SUFFIX = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB,
           "p": 1 << 50, "e": 1 << 60}
_SIZE_RE = re.compile(r"^\s*(0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)\s*([kKmMgGtTpPeEbB]?)\s*$")


def parse_size(text, default_unit: str = "") -> int:
    """Read a size: ``4096``, ``0x1000``, ``64M``, ``4G``, ``1.5G``.

    ``default_unit`` is the suffix assumed for a bare decimal number (QEMU's
    ``-m`` uses ``"M"``).  Integers pass through.  Raises ``SizeError`` naming
    the text for anything else, including negative or fractional byte counts.
    """
    if isinstance(text, bool):
        raise SizeError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise SizeError(f"negative size: {text}")
        return text
    if not isinstance(text, str):
        raise SizeError(f"not a size: {text!r}")
    m = _SIZE_RE.match(text)
    if not m:
        raise SizeError(f"not a size: {text!r} (expected e.g. 4096, 0x1000, 64M, 4G)")
    num, suffix = m.groups()
    if num.lower().startswith("0x"):
        if suffix and suffix.lower() != "b":
            # qemu_strtosz accepts hex with suffix, but it is confusing; so do we.
            pass
        value = int(num, 16)
        unit = _SUFFIX[suffix.lower()] if suffix else 1
        return value * unit
    unit = _SUFFIX[(suffix or default_unit).lower()]
    if "." in num:
        whole, frac = num.split(".")
        total = int(whole) * unit + (int(frac) * unit) // (10 ** len(frac))
        if (int(frac) * unit) % (10 ** len(frac)):
            raise SizeError(f"size {text!r} is not a whole number of bytes")
        return total
    return int(num) * unit


def parse_addr(text) -> int:
    """Read an address: an int, ``0x...`` hex, or a decimal string."""
    if isinstance(text, bool):
        raise SizeError(f"not an address: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise SizeError(f"negative address: {text}")
        return text
    if isinstance(text, str):
        t = text.strip()
        try:
            if t.lower().startswith("0x"):
                return int(t, 16)
            if t.isdigit():
                return int(t, 10)
        except ValueError:
            pass
    raise SizeError(f"not an address: {text!r} (expected e.g. 0xfe000000)")


def fmt_hex(value: int) -> str:
    """``0x`` + lower-case hex, as QEMU's traces print addresses."""
    return f"0x{value:x}"


def fmt_hex16(value: int) -> str:
    """16 zero-padded hex digits, as ``info mtree`` prints (``HWADDR_FMT_plx``)."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def fmt_size(value: int) -> str:
    """The shortest exact spelling with a binary suffix: ``64M``, ``4G``, ``0x1234``."""
    if value == 0:
        return "0"
    for suffix, unit in (("E", 1 << 60), ("P", 1 << 50), ("T", TiB), ("G", GiB),
                         ("M", MiB), ("K", KiB)):
        if value % unit == 0:
            return f"{value // unit}{suffix}"
    return fmt_hex(value)


def fmt_columns(header, rows, indent: str = "  ") -> list[str]:
    """Plain-text table lines: ``header`` then ``rows`` (lists of strings),
    each column as wide as its widest cell, cells starting with ``0x`` or a
    digit right-aligned (addresses and sizes line up on their last digit),
    the last column never padded."""
    table = [list(header)] + [list(r) for r in rows]
    width = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    out = []
    for r in table:
        cells = []
        for i, c in enumerate(r):
            c = str(c)
            last = i == len(r) - 1
            if c[:1].isdigit() and r is not table[0]:
                cells.append(c.rjust(width[i]))
            else:
                cells.append(c if last else c.ljust(width[i]))
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def align_up(value: int, align: int) -> int:
    """Round up to a multiple of ``align`` (a power of two), like QEMU's ROUND_UP."""
    return (value + align - 1) & ~(align - 1)


def align_down(value: int, align: int) -> int:
    """Round down to a multiple of ``align`` (a power of two)."""
    return value & ~(align - 1)


def is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def pow2ceil(value: int) -> int:
    """Smallest power of two >= value (QEMU ``pow2ceil``; 0 and 1 give 1)."""
    if value <= 1:
        return 1
    return 1 << (value - 1).bit_length()


@dataclass(frozen=True, order=True)
class Range:
    """A half-open byte range [start, start + size).

    ``last`` is the inclusive end that QEMU prints (``start + size - 1``).
    """

    start: int
    size: int

    @classmethod
    def from_bounds(cls, start: int, end_exclusive: int) -> "Range":
        return cls(start, end_exclusive - start)

    @classmethod
    def from_last(cls, start: int, last: int) -> "Range":
        return cls(start, last - start + 1)

    @property
    def end(self) -> int:
        """Exclusive end."""
        return self.start + self.size

    @property
    def last(self) -> int:
        """Inclusive end, as ``info mtree`` prints it."""
        return self.start + self.size - 1

    def __contains__(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def overlaps(self, other: "Range") -> bool:
        return self.start < other.end and other.start < self.end

    def intersect(self, other: "Range") -> "Range | None":
        lo, hi = max(self.start, other.start), min(self.end, other.end)
        return Range(lo, hi - lo) if lo < hi else None

    def __str__(self) -> str:
        return f"[{fmt_hex(self.start)}-{fmt_hex(self.last)}]"
