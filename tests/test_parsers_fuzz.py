"""Fuzz the QEMU text parsers with mutations of real QEMU output.

Each test takes real captures (tests/fixtures/qemu-7.2/), applies a few random
edits -- delete / duplicate / swap lines, flip / insert / delete characters,
truncate anywhere -- and requires that the parser either returns normally or
raises vfiolab.errors.ParseError carrying a line number.  Any other exception
fails the test.  Runs are bounded (200 examples per parser, no database).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from mutate import CHARS as _CHARS
from mutate import FUZZ, OPS
from mutate import mutated as _mutated

from vfiolab.errors import ParseError
from vfiolab.inputs import (parse_info_pci, parse_mtree, parse_mtree_flat, parse_trace,
                             replay_memslots)

FIX = Path(__file__).parent / "fixtures" / "qemu-7.2"


def _load(*names: str) -> dict[str, str]:
    out = {}
    for n in names:
        with open(FIX / n, newline="", encoding="utf-8") as f:
            out[n] = f.read()
    return out


FLAT = _load("info_mtree_-f.txt", "bridge-vga/info_mtree_-f_-o.txt",
             "bridge-vga/info_mtree_-f_-d.txt", "unmapped/info_mtree_-f.txt")
TREE = _load("info_mtree.txt", "bridge-vga/info_mtree.txt", "bridge-vga/info_mtree_-o_-D.txt")
PCI = _load("info_pci.txt", "bridge-vga/info_pci.txt", "unmapped/info_pci.txt")
TRACE = _load("trace.log", "bridge-vga/trace-stderr.log")

# the base edits (no hex-digit change: these formats are mostly numbers)
mutated = partial(_mutated, ops=OPS[:-1])


def _parses_or_parse_error(parser, text):
    try:
        return parser(text, "fuzz")
    except ParseError as exc:
        assert isinstance(exc.line_no, int), exc
        assert exc.source == "fuzz"
        return None


@FUZZ
@given(mutated(FLAT))
def test_fuzz_mtree_flat(text):
    views = _parses_or_parse_error(parse_mtree_flat, text)
    if views is not None:
        for v in views:
            assert all(s.end >= s.start for s in v.sections)


@FUZZ
@given(mutated(TREE))
def test_fuzz_mtree(text):
    _parses_or_parse_error(parse_mtree, text)


@FUZZ
@given(mutated(PCI))
def test_fuzz_info_pci(text):
    devs = _parses_or_parse_error(parse_info_pci, text)
    if devs is not None:
        for d in devs:
            assert all(b.type in ("io", "mem32", "mem64") and 0 <= b.bar <= 6 for b in d.bars)


@FUZZ
@given(mutated(TRACE))
def test_fuzz_trace_and_replay(text):
    events = _parses_or_parse_error(parse_trace, text)
    if events is not None:
        try:
            replay_memslots(events)
        except ParseError as exc:
            assert isinstance(exc.line_no, int), exc


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(alphabet=_CHARS, max_size=300))
def test_fuzz_arbitrary_text(text):
    for parser in (parse_mtree_flat, parse_mtree, parse_info_pci, parse_trace):
        _parses_or_parse_error(parser, text)
