"""Read ``info mtree`` and ``info mtree -f`` as real QEMU prints them.

Source of the formats (QEMU ``softmmu/memory.c`` in 7.2.0, moved to
``system/memory.c`` in 8.0; read at the 7.2.0 and 10.2.0 release commits,
the printed text is the same in both):

* ``mtree_info`` -> ``mtree_info_as`` / ``mtree_print_as`` /
  ``mtree_print_mr``: the region tree (``info mtree``), one block per distinct
  root region headed by its ``address-space: NAME`` lines (sorted by name),
  then one ``memory-region: NAME`` block per alias target met on the way.
* ``mtree_info_flatview`` / ``mtree_print_flatview``: the flat views
  (``info mtree -f``), one ``FlatView #n`` block per distinct FlatView.
* ``mtree_print_mr_owner`` / ``mtree_expand_owner``: the ``-o`` suffixes
  `` owner:{dev id=..}`` `` parent:{obj path=..}`` `` orphan``.
* ``mtree_print_dispatch`` (``softmmu/physmem.c`` 7.2, ``system/physmem.c``
  10.x): the ``-d`` dump after the ranges of a FlatView, skipped here.

Addresses are ``TARGET_FMT_plx`` (7.2) / ``HWADDR_FMT_plx`` (10.x), both
``"%016" PRIx64``: exactly 16 lower-case hex digits.  HMP text fetched through
QMP ``human-monitor-command`` ends its lines with ``\\r\\n``; both endings
are accepted.
"""

from __future__ import annotations

import re

from ..errors import ParseError
from ..records import FlatViewRecord, MtreeNode, MtreeRecord, Section

__all__ = ["parse_mtree_flat", "flatview_for", "parse_mtree", "ACCEL_NAMES"]

#: Accelerators whose ``AccelClass.has_memory`` makes ``info mtree -f`` append
#: `` <name>`` to a range.  Only KVM implements has_memory (QEMU
#: ``accel/kvm/kvm-all.c`` ``kvm_accel_class_init``: ``ac->name = "KVM"``,
#: ``ac->has_memory = kvm_accel_has_memory``; 7.2.0 and 10.2.0).
ACCEL_NAMES = ("KVM",)

_H16 = r"[0-9a-f]{16}"
# "<start>-<end> (prio <p>, [nv-]<type>): <rest>"; type from memory_region_type()
# (ramd, romd, rom, ram, i/o) or "rom" for a read-only FlatRange.
_RANGE = re.compile(
    rf"(?P<start>{_H16})-(?P<end>{_H16}) \(prio (?P<prio>-?\d+), "
    r"(?P<nv>nv-)?(?P<kind>ramd|romd|ram|rom|i/o)\): (?P<rest>.*)\Z", re.ASCII)
_OFFSET = re.compile(rf"(?P<name>.*) @(?P<off>{_H16})\Z", re.ASCII | re.DOTALL)
_ALIAS = re.compile(
    rf"alias (?P<name>.*) @(?P<target>.*) (?P<aoff>{_H16})-(?P<aend>{_H16})\Z",
    re.ASCII | re.DOTALL)
# mtree_expand_owner prints " <label>:{dev|obj" then one of " id=", " path=",
# " type=" and "}"; mtree_print_mr_owner prints owner then parent (when it
# differs), or " orphan" when the region has neither.
_OBJ = r"(?:dev|obj) (?:id|path|type)=[^{}]*"
_OWNER = re.compile(rf"(?:(?: owner:\{{{_OBJ}\}})?(?: parent:\{{{_OBJ}\}})?| orphan)\Z",
                    re.ASCII | re.DOTALL)
_FLATVIEW = re.compile(r"FlatView #(?P<n>\d+)\Z", re.ASCII)
_AS_LINE = re.compile(r' AS "(?P<as>.*)", root: (?P<root>.*?)(?:, alias (?P<alias>.*))?\Z',
                      re.ASCII | re.DOTALL)
_ROOT_LINE = re.compile(r" Root memory region: (?P<root>.*)\Z", re.ASCII | re.DOTALL)
_NO_RENDER = "  No rendered FlatView"
_DISPATCH = "  Dispatch"
_OVERFLOW = "[DETECTED OVERFLOW!] "
_MASK64 = (1 << 64) - 1


def _lines(text, source):
    """Yield (1-based line number, line) splitting on ``\\n`` only, dropping one ``\\r``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc}", line_no=1, source=source) from None
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}", line_no=0, source=source)
    for no, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        yield no, line


def _strip_owner(rest: str) -> str:
    """Drop the ``-o`` owner/parent/orphan suffix if present (the info is not kept)."""
    m = _OWNER.search(rest)
    if m and m.start() != m.end():
        return rest[:m.start()]
    return rest


def _parse_range_head(line: str, no: int, source, what: str):
    m = _RANGE.match(line)
    if not m:
        raise ParseError(f"not an {what} range line "
                         "(expected '<16 hex>-<16 hex> (prio N, TYPE): NAME')",
                         line_no=no, line=line, source=source)
    return (int(m["start"], 16), int(m["end"], 16), int(m["prio"]),
            m["kind"], bool(m["nv"]), m["rest"])


def _parse_flat_range(line: str, no: int, source, accel_names) -> Section:
    """One FlatRange line of mtree_print_flatview.

    Layout, right to left: `` <accel>`` once per address space of the view
    that the accelerator maps (has_memory), the ``-o`` suffix, `` @<offset>``
    printed only when offset_in_region != 0, and the region name (which may
    hold spaces, brackets and ``@``).
    """
    start, end, prio, kind, nv, rest = _parse_range_head(line[2:], no, source, "info mtree -f")
    if end < start:
        raise ParseError("range ends before it starts", line_no=no, line=line, source=source)
    accel = None
    stripped = True
    while stripped:
        stripped = False
        for name in accel_names:
            if rest.endswith(" " + name):
                if accel is not None and accel != name:
                    raise ParseError("two different accelerator markers", line_no=no,
                                     line=line, source=source)
                accel = name
                rest = rest[:-len(name) - 1]
                stripped = True
    rest = _strip_owner(rest)
    offset = None
    m = _OFFSET.match(rest)
    if m:
        rest, offset = m["name"], int(m["off"], 16)
    return Section(start=start, end=end, prio=prio, kind=kind, name=rest,
                   offset=offset, accel=accel, nonvolatile=nv)


def parse_mtree_flat(text, source=None, accel_names=ACCEL_NAMES) -> list[FlatViewRecord]:
    """Parse ``info mtree -f`` (optionally with ``-o`` and/or ``-d``).

    Follows QEMU ``mtree_print_flatview`` (7.2.0 ... 10.2.0)::

        FlatView #<n>                      (n counts from 0 in print order)
         AS "<as name>", root: <root mr>[, alias <target>]   (one per AS)
         Root memory region: <name>|(none)
          No rendered FlatView             (when the view has no ranges)
          <start>-<end> (prio <p>, [nv-]<type>): <name>[ @<offset>][ -o info][ KVM]
          Dispatch ...                     (-d only; skipped)
        <blank line>

    Returns one FlatViewRecord per block in print order (the order of QEMU's
    hash-table walk, so not stable between runs: look views up with
    ``flatview_for``).  Ranges within a view must be increasing and disjoint,
    as a rendered FlatView is; anything else raises ParseError.
    """
    records: list[FlatViewRecord] = []
    cur: FlatViewRecord | None = None
    state = "between"       # between | as | root | ranges | empty | dispatch
    last_no, last_line = 0, ""

    def close(no, line):
        if state in ("as", "root"):
            what = "'Root memory region' line" if state == "as" else "ranges or 'No rendered FlatView'"
            raise ParseError(f"FlatView #{cur.index} ends without {what}",
                             line_no=no, line=line, source=source)
        records.append(cur)

    for no, line in _lines(text, source):
        last_no, last_line = no, line
        if line == "":
            if cur is not None:
                close(no, line)
                cur = None
            state = "between"
            continue
        if state == "dispatch":
            continue                      # -d dump: lasts until the blank line
        m = _FLATVIEW.match(line)
        if m:
            if cur is not None:
                raise ParseError("'FlatView #' header inside a FlatView block "
                                 "(missing blank line)", line_no=no, line=line, source=source)
            n = int(m["n"])
            if n != len(records):
                raise ParseError(f"FlatView number {n} out of sequence (expected #{len(records)})",
                                 line_no=no, line=line, source=source)
            cur = FlatViewRecord(index=n, address_spaces=[], root=None)
            state = "as"
            continue
        if cur is None:
            raise ParseError("expected 'FlatView #<n>'", line_no=no, line=line, source=source)
        if state == "as":
            m = _AS_LINE.match(line)
            if m:
                cur.address_spaces.append(m["as"])
                cur.as_roots.setdefault(m["as"], m["root"])
                if m["alias"] is not None:
                    cur.as_aliases.setdefault(m["as"], m["alias"])
                continue
            m = _ROOT_LINE.match(line)
            if m:
                if not cur.address_spaces:
                    raise ParseError("'Root memory region' before any ' AS \"...\"' line",
                                     line_no=no, line=line, source=source)
                # mtree_print_flatview prints "(none)" for a view without root
                cur.root = None if m["root"] == "(none)" else m["root"]
                state = "root"
                continue
            raise ParseError("expected ' AS \"<name>\", root: <region>' or "
                             "' Root memory region: <region>'", line_no=no, line=line, source=source)
        if state == "empty":
            raise ParseError("text after 'No rendered FlatView'", line_no=no, line=line, source=source)
        if state == "root" and line == _NO_RENDER:
            state = "empty"
            continue
        if state == "ranges" and line == _DISPATCH:
            state = "dispatch"
            continue
        if not line.startswith("  ") or line.startswith("   "):
            raise ParseError("expected a range line indented by two spaces",
                             line_no=no, line=line, source=source)
        sec = _parse_flat_range(line, no, source, accel_names)
        if cur.sections and sec.start <= cur.sections[-1].end:
            raise ParseError("range overlaps or precedes the previous one "
                             "(a FlatView is sorted and disjoint)", line_no=no, line=line, source=source)
        cur.sections.append(sec)
        state = "ranges"
    if cur is not None:
        close(last_no, last_line)
    return records


def flatview_for(records, as_name: str = "memory") -> FlatViewRecord:
    """The FlatView that address space ``as_name`` uses (``AS "<as_name>"`` line).

    ``"memory"`` is the system memory address space (QEMU
    ``address_space_memory``); ``"I/O"`` the port-I/O one.
    """
    for rec in records:
        if as_name in rec.address_spaces:
            return rec
    present = sorted({a for r in records for a in r.address_spaces})
    raise ParseError(f"no FlatView lists address space {as_name!r}; present: "
                     + (", ".join(present) or "none"))


def _parse_tree_line(line: str, no: int, source):
    """One line of mtree_print_mr: returns (level, node)."""
    overflow = line.startswith(_OVERFLOW)
    body = line[len(_OVERFLOW):] if overflow else line
    indent = len(body) - len(body.lstrip(" "))
    # MTREE_INDENT ("  ") printed once per level; the tree starts at level 1
    if indent < 2 or indent % 2:
        raise ParseError("region line must be indented by two spaces per level",
                         line_no=no, line=line, source=source)
    start, end, prio, kind, nv, rest = _parse_range_head(body[indent:], no, source, "info mtree")
    if end < start and not overflow:
        # mtree_print_mr prints "[DETECTED OVERFLOW!] " exactly when the end wraps
        raise ParseError("range ends before it starts (and no overflow marker)",
                         line_no=no, line=line, source=source)
    rest = _strip_owner(rest)
    disabled = rest.endswith(" [disabled]")
    if disabled:
        rest = rest[:-len(" [disabled]")]
    node = MtreeNode(start=start, end=end, prio=prio, kind=kind, name=rest,
                     disabled=disabled, nonvolatile=nv)
    m = _ALIAS.match(rest)
    if m:
        aoff, aend = int(m["aoff"], 16), int(m["aend"], 16)
        # both ends are printed with MR_SIZE(mr->size): the alias window and the
        # region have the same length (modulo 2^64, as hwaddr arithmetic wraps)
        if (aend - aoff) & _MASK64 != (end - start) & _MASK64:
            raise ParseError("alias window length differs from the region length",
                             line_no=no, line=line, source=source)
        node.name, node.alias_of = m["name"], m["target"]
        node.alias_start, node.alias_end = aoff, aend
    return indent // 2, node


def parse_mtree(text, source=None) -> MtreeRecord:
    """Parse ``info mtree`` (optionally with ``-o`` and/or ``-D``).

    Follows QEMU ``mtree_info_as`` / ``mtree_print_mr`` (7.2.0 ... 10.2.0):
    blocks separated by blank lines; an address-space block is one or more
    ``address-space: NAME`` lines (all address spaces sharing one root region)
    followed by the tree; alias-target blocks (``memory-region: NAME``) come
    after all address-space blocks.  Tree lines are indented two spaces per
    level starting at level 1.  A disabled region is not printed without
    ``-D`` but its children are (at their own depth), so the depth may jump by
    more than one level: such children hang under the nearest shallower
    printed line.  A block whose hidden root leaves two top-level regions is
    reported as a ParseError (the record has one root per block).
    """
    rec = MtreeRecord()
    kind = None             # None (between blocks) | "as" | "mr"
    names: list[str] = []
    root: MtreeNode | None = None
    stack: list[tuple[int, MtreeNode]] = []
    seen_mr = False

    def close():
        if kind == "as":
            rec.address_space_groups.append((tuple(names), root))
            for n in names:
                rec.address_spaces.setdefault(n, root)
        elif kind == "mr":
            rec.memory_region_list.append((names[0], root))
            rec.memory_regions.setdefault(names[0], root)

    for no, line in _lines(text, source):
        if line == "":
            close()
            kind, names, root, stack = None, [], None, []
            continue
        if line.startswith("address-space: "):
            if seen_mr:
                raise ParseError("'address-space:' after the 'memory-region:' blocks",
                                 line_no=no, line=line, source=source)
            if kind is not None and (kind != "as" or root is not None):
                raise ParseError("'address-space:' line inside a block (missing blank line)",
                                 line_no=no, line=line, source=source)
            kind = "as"
            names.append(line[len("address-space: "):])
            continue
        if line.startswith("memory-region: "):
            if kind is not None:
                raise ParseError("'memory-region:' line inside a block (missing blank line)",
                                 line_no=no, line=line, source=source)
            kind, seen_mr = "mr", True
            names = [line[len("memory-region: "):]]
            continue
        if kind is None:
            raise ParseError("region line outside an 'address-space:'/'memory-region:' block",
                             line_no=no, line=line, source=source)
        level, node = _parse_tree_line(line, no, source)
        while stack and stack[-1][0] >= level:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise ParseError("second top-level region in one block", line_no=no,
                             line=line, source=source)
        stack.append((level, node))
    close()
    return rec
