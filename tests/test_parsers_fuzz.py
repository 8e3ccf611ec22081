"""Fuzz the QEMU text parsers with mutations of real QEMU output.

Each test takes real captures (tests/fixtures/qemu-7.2/), applies a few random
edits -- delete / duplicate / swap lines, flip / insert / delete characters,
truncate anywhere -- and requires that the parser either returns normally or
raises vfiolab.errors.ParseError carrying a line number.  Any other exception
fails the test.  Runs are bounded (200 examples per parser, no database).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfiolab.errors import ParseError
from vfiolab.parsers import (parse_info_pci, parse_mtree, parse_mtree_flat, parse_trace,
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

# characters that matter to the formats, plus anything at all
_CHARS = st.one_of(st.sampled_from(list("0123456789abcdefx #@:.,-+[](){}\"'=\r\n\t")),
                   st.characters())
_OPS = ("del_line", "dup_line", "swap_lines", "flip", "insert", "del_char", "truncate")


@st.composite
def mutated(draw, texts: dict[str, str]) -> str:
    text = texts[draw(st.sampled_from(sorted(texts)))]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_OPS))
        if op in ("del_line", "dup_line", "swap_lines"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "del_line":
                del lines[i]
            elif op == "dup_line":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
        else:
            pos = draw(st.integers(0, max(len(text) - 1, 0)))
            if op == "flip" and text:
                text = text[:pos] + draw(_CHARS) + text[pos + 1:]
            elif op == "insert":
                text = text[:pos] + draw(_CHARS) + text[pos:]
            elif op == "del_char":
                text = text[:pos] + text[pos + 1:]
    return text


FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


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
