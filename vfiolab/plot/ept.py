"""KVM's EPT drawn as a tree, one walk through it, and the 2-D walk grid.

**The tree** (:func:`draw_ept_tree`).  One row per EPT level, the root
(level 4, or 5 with 5-level EPT) on top.  A row shows the *entries* present
at that level, each placed over the guest-physical range it covers (Intel
SDM Vol. 3C "EPT Translation Mechanism": a PML4E covers 512 GiB, a PDPTE
1 GiB, a PDE 2 MiB, a PTE 4 KiB), so an entry that references a table sits
right above the entries of that table.  What an entry is decides its colour:

* a reference to the next table (``make_nonleaf_spte``; the rows' counts are
  the number of tables one level down, ``Mmu.stats()["tables"]``);
* a leaf: a 1 GiB page (PDPTE with bit 7), a 2 MiB page (PDE with bit 7)
  or a 4 KiB page (PTE).  Its colour follows the lanes' kinds: ``ram``
  (write-back, ignore-PAT: guest RAM), ``rom`` (no W bit: a read-only
  memslot, or write-protected for dirty logging) and ``ramd`` (memory type
  UC: host MMIO, a passed-through BAR; Linux ``vmx_get_mt_mask``);
* an MMIO SPTE (W|X without R, KVM's EPT-misconfiguration marker, Linux
  ``arch/x86/kvm/mmu/spte.c`` ``make_mmio_spte``) in the ``i/o`` colour,
  hatched when its memslot generation is stale (``handle_mmio_page_fault``
  will drop it);
* zapped leaves, drawn as dashed outlines, when the model still records
  them (``Mmu`` keeps the GPAs of leaves a zap or a huge-page collapse
  removed, to count refaults) and nothing has been mapped there since.

A VM touches thousands of 4 KiB pages, so a row is drawn as *runs*:
neighbouring entries of the same kind (contiguous in guest-physical space)
are one box labelled with their number.  When a row still has more than
``max_boxes`` runs, neighbouring runs of one kind are merged, those with
the smallest guest-physical hole between them first, into *sparse* boxes
(dotted) until the row fits.
The horizontal axis is guest-physical, compressed like the lanes' axis
(:func:`vfiolab.plot.lanes.compress_axis`): a run gets a width growing with
the logarithm of its size, and a stretch with no leaf below it is squeezed
to a small hatched gap.  Widths therefore do not compare sizes; labels give
the counts and start addresses.

**A walk** (:func:`draw_ept_walk`, or ``highlight_gpa``): the entries the
CPU reads to translate one GPA (``Mmu.ept_walk``), one per level, drawn as
a path down the rows, each entry's value in hex, ending at the page's HPA,
at an MMIO SPTE (EPT misconfiguration) or at a non-present entry (EPT
violation).

**The 2-D walk** (:func:`draw_2d_walk`): with EPT on, every guest
paging-structure address is a GPA that is itself translated through EPT
before the guest entry is read (SDM "EPT Translation Mechanism"), so a
cold 4-level guest walk over 4-level EPT reads (4+1)(4+1)-1 = 24 entries
(Bhargava et al., ASPLOS 2008).  The grid has one row per guest level plus
the final data access and one column per EPT level plus the guest entry
itself; each cell is one memory reference of ``Mmu.walk_2d``, numbered in
the order the CPU makes them, and an arrow leads from each reference to
the next: along a row through the EPT levels to the guest entry, then from
the guest entry down to the row that translates the GPA it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath

from ..addr import fmt_hex
from ..model.ept import (EPT_ADDR_MASK, EPT_LARGE, EPT_MT_MASK, EPT_MT_SHIFT, EPT_WRITE,
                         ENTRY_NAME, LEVEL_LABEL, MMIO_SPTE_GEN_MASK, MT_UC, PAGE_BYTES,
                         SPTE_MMU_PRESENT, TABLE_NAME, decode_mmio_spte, ept_index,
                         is_mmio_spte)
from . import style
from .lanes import GAP_WEIGHT, approx_size, compress_axis

__all__ = ["EptRun", "EptTreeArtists", "EptWalkArtists", "Walk2DArtists", "CLASS_COLORS",
           "CLASS_LABELS", "ept_runs", "entry_counts", "draw_ept_tree", "draw_ept_walk",
           "draw_2d_walk", "ept_figure", "walk_2d_figure", "MAX_BOXES"]

#: fill colour of an entry by what it is
CLASS_COLORS = {
    "table": "#cfc8ea",                       # references the next table
    "ram": style.KIND_COLORS["ram"],          # leaf, WB: guest RAM
    "rom": style.KIND_COLORS["rom"],          # leaf without W
    "ramd": style.KIND_COLORS["ramd"],        # leaf, UC: host MMIO (a BAR)
    "mmio": style.KIND_COLORS["i/o"],         # MMIO SPTE: every access exits
    "mmio-stale": style.KIND_COLORS["i/o"],   # MMIO SPTE of an old generation
    "zapped": "#ffffff",                      # removed by a zap, not refaulted
}
CLASS_LABELS = {
    "table": "entry -> next table",
    "ram": "leaf: guest RAM (WB)",
    "rom": "leaf: read-only (no W)",
    "ramd": "leaf: host MMIO, a BAR (UC)",
    "mmio": "MMIO SPTE (W|X, no R: exits)",
    "mmio-stale": "MMIO SPTE, stale generation",
    "zapped": "zapped, not refaulted",
}
#: the table an entry at level ``lv`` references, short (for box labels)
CHILD_SHORT = {5: "PML4", 4: "PDPT", 3: "PD", 2: "PT"}
#: runs per row before runs of one kind are grouped into sparse boxes
MAX_BOXES = 40
#: the entries' x range (row titles live left of 0)
X0, X1 = 0.0, 1.0
ROW_H = 0.62
_EDGE = "#4d4d4d"
_WALK = style.HIGHLIGHT[0]
_MONO = "DejaVu Sans Mono"
#: approximate advance of one character, in font sizes (DejaVu Sans digits/hex)
_CHAR_EM = 0.62


# --------------------------------------------------------------------------
# Plain data: the runs of entries per level
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class EptRun:
    """``count`` entries at ``level`` of class ``cls``; the first covers
    ``start`` (a GPA), each covers ``span`` bytes.  ``sparse``: the entries
    lie between ``start`` and :attr:`end` with holes (a grouped box);
    ``tables``: how many table pages the entries sit in."""

    level: int
    cls: str
    start: int
    count: int
    span: int
    end_addr: int
    tables: int = 1
    sparse: bool = False

    @property
    def end(self) -> int:
        return self.end_addr

    def contains(self, gpa: int) -> bool:
        return self.start <= gpa < self.end_addr

    @property
    def text(self) -> str:
        """Short box label: the count and what the entries are."""
        if self.cls == "table":
            s = f"{self.count} -> {CHILD_SHORT[self.level]}"
        elif self.cls in ("mmio", "mmio-stale"):
            s = f"{self.count} MMIO" + (" (stale)" if self.cls == "mmio-stale" else "")
        elif self.cls == "zapped":
            s = f"{self.count} zapped"
        else:
            s = f"{self.count} x {LEVEL_LABEL[self.level]}"
        return s + (" sparse" if self.sparse else "")


def _span(level: int) -> int:
    return 1 << (12 + 9 * (level - 1))


def _leaf_classes(level: int, sptes: np.ndarray) -> np.ndarray:
    """Class of each leaf SPTE: UC memory type -> host MMIO ("ramd",
    vmx_get_mt_mask), no W bit -> "rom", else "ram"."""
    mt = (sptes & np.uint64(EPT_MT_MASK)) >> np.uint64(EPT_MT_SHIFT)
    w = (sptes & np.uint64(EPT_WRITE)) != 0
    out = np.where(mt == MT_UC, "ramd", np.where(w, "ram", "rom"))
    return out.astype(object)


def _runs_of(level: int, bases: np.ndarray, classes: np.ndarray) -> list[EptRun]:
    """Group sorted entry bases (gfns) into runs of contiguous entries of
    one class."""
    if not bases.size:
        return []
    pages = 1 << (9 * (level - 1))
    span = _span(level)
    brk = np.ones(bases.size, dtype=bool)
    brk[1:] = (bases[1:] != bases[:-1] + pages) | (classes[1:] != classes[:-1])
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], bases.size)
    out = []
    shift = 9 * level                      # gfn >> shift: the table the entry sits in
    for a, b in zip(starts.tolist(), ends.tolist()):
        first, last = int(bases[a]), int(bases[b - 1])
        out.append(EptRun(level, str(classes[a]), first << 12, b - a, span,
                          (last + pages) << 12, (last >> shift) - (first >> shift) + 1))
    return out


def _coarsen(runs: list[EptRun], level: int, max_boxes: int) -> list[EptRun]:
    """Merge neighbouring runs of one class, closest first (the smallest
    guest-physical hole between them), until at most ``max_boxes`` remain
    or no two neighbours share a class; a merged run with holes is sparse."""
    shift = 12 + 9 * level                  # addr >> shift: the table an entry sits in
    while len(runs) > max_boxes:
        holes = [(runs[i + 1].start - runs[i].end, i) for i in range(len(runs) - 1)
                 if runs[i].cls == runs[i + 1].cls]
        if not holes:
            break
        holes.sort()
        join = {i for _, i in holes[:len(runs) - max_boxes]}
        out: list[EptRun] = [runs[0]]
        for i in range(1, len(runs)):
            r = runs[i]
            if i - 1 in join:
                p = out[-1]
                shared = (p.end - 1) >> shift == r.start >> shift
                out[-1] = EptRun(level, p.cls, p.start, p.count + r.count, p.span, r.end,
                                 p.tables + r.tables - int(shared),
                                 p.sparse or r.sparse or r.start != p.end)
            else:
                out.append(r)
        runs = out
    return runs


def _lost_entries(mmu, level: int, present: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Bases (gfns) of leaves at ``level`` that a zap or collapse removed and
    that no present leaf or MMIO SPTE overlaps now.  Read from the model's
    record of lost leaves (``Mmu._lost``, kept to count refaults)."""
    lost = getattr(mmu, "_lost", {}).get(level)
    if not lost:
        return np.zeros(0, dtype=np.int64)
    b = np.sort(np.fromiter(lost, dtype=np.int64, count=len(lost)))
    e = b + (1 << (9 * (level - 1)))
    if present:
        ps = np.concatenate([p[0] for p in present])
        pe = np.concatenate([p[1] for p in present])
        order = np.argsort(ps)
        ps, pe = ps[order], pe[order]
        # present ranges are disjoint: the last one starting before e decides
        i = np.searchsorted(ps, e, side="left") - 1
        hit = (i >= 0) & (pe[np.clip(i, 0, None)] > b)
        b = b[~hit]
    return b


def ept_runs(mmu, *, max_boxes: int = MAX_BOXES) -> dict[int, list[EptRun]]:
    """The entries of ``mmu`` (a :class:`vfiolab.model.ept.Mmu`) as runs,
    per level from the root down: level -> runs sorted by GPA.

    Level ``lv`` holds one entry per table one level down (the entry that
    references it: ``Mmu.tables[lv - 1]``), one per leaf of that level
    (``Mmu.leaves[lv]``), at level 1 one per MMIO SPTE (``Mmu.mmio``), and
    the zapped leaves the model still records."""
    out: dict[int, list[EptRun]] = {}
    gen = mmu.generation & MMIO_SPTE_GEN_MASK
    # present leaf ranges (gfn start, gfn end) over all levels, for the zapped test
    present = []
    for lv in (1, 2, 3):
        d = mmu.leaves.get(lv, {})
        if d:
            k = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
            present.append((k, k + (1 << (9 * (lv - 1)))))
    if mmu.mmio:
        k = np.fromiter(mmu.mmio.keys(), dtype=np.int64, count=len(mmu.mmio))
        present.append((k, k + 1))
    for lv in range(mmu.levels, 0, -1):
        bases, classes = [], []
        if lv >= 2:
            t = mmu.tables.get(lv - 1, {})
            if t:
                k = np.fromiter(t.keys(), dtype=np.int64, count=len(t)) << (9 * (lv - 1))
                bases.append(k)
                classes.append(np.full(k.size, "table", dtype=object))
        if lv <= 3:
            d = mmu.leaves.get(lv, {})
            if d:
                k = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
                v = np.fromiter(d.values(), dtype=np.uint64, count=len(d))
                bases.append(k)
                classes.append(_leaf_classes(lv, v))
        if lv == 1 and mmu.mmio:
            k = np.fromiter(mmu.mmio.keys(), dtype=np.int64, count=len(mmu.mmio))
            # spte.h: an MMIO SPTE is valid only for the generation it was made in
            cls = ["mmio" if decode_mmio_spte(v)[1] == gen else "mmio-stale"
                   for v in mmu.mmio.values()]
            bases.append(k)
            classes.append(np.array(cls, dtype=object))
        if lv <= 3:
            z = _lost_entries(mmu, lv, present)
            if z.size:
                bases.append(z)
                classes.append(np.full(z.size, "zapped", dtype=object))
        if bases:
            b = np.concatenate(bases)
            c = np.concatenate(classes)
            order = np.lexsort((c.astype(str), b))
            runs = _runs_of(lv, b[order], c[order])
        else:
            runs = []
        out[lv] = _coarsen(runs, lv, max_boxes)
    return out


def entry_counts(runs: dict[int, list[EptRun]]) -> dict[int, int]:
    """Present entries per level (zapped ones left out)."""
    return {lv: sum(r.count for r in rs if r.cls != "zapped") for lv, rs in runs.items()}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _text_px(s: str, size: float, dpi: float) -> float:
    """Approximate rendered width of ``s`` in pixels (no renderer needed, so
    the result does not depend on a draw)."""
    return len(s) * size * _CHAR_EM * dpi / 72.0


def _figure(size) -> Figure:
    with style.style_context():
        fig = Figure(figsize=size, dpi=style.DPI)
        FigureCanvasAgg(fig)
    return fig


def _row_y(levels: int, lv: int) -> float:
    """y of the row of level ``lv`` (root at 0, growing downwards)."""
    return float(levels - lv)


# --------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------

@dataclass
class EptWalkArtists:
    """What :func:`draw_ept_walk` drew: the path, one marker and one label
    per entry read, the boxes it passes through, and the walk itself
    (``Mmu.ept_walk``: (level, value, entry HPA) tuples) and its ``outcome``
    ("leaf", "mmio", "violation")."""

    gpa: int
    steps: list
    outcome: str
    path: object = None
    markers: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    boxes: list = field(default_factory=list)

    def artists(self) -> list:
        return ([self.path] if self.path is not None else []) + self.markers + self.labels


@dataclass
class EptTreeArtists:
    """What :func:`draw_ept_tree` drew.

    ``runs``/``boxes``/``labels``: per level, the runs and their Rectangle
    and label (a label is None where the box is too narrow for one);
    ``counts``: present entries per level; ``row_titles``; ``gaps``
    (hatched squeezed stretches); ``amap`` the GPA -> x map; ``walk`` the
    :class:`EptWalkArtists` of the highlighted GPA, if any."""

    ax: object
    mmu: object
    runs: dict
    counts: dict
    amap: object
    boxes: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    row_titles: list = field(default_factory=list)
    gaps: list = field(default_factory=list)
    gap_labels: list = field(default_factory=list)
    legend: object = None
    title: object = None
    walk: EptWalkArtists | None = None

    def box_of(self, level: int, gpa: int):
        """(run, Rectangle) at ``level`` covering ``gpa``, or None."""
        for r, b in zip(self.runs.get(level, ()), self.boxes.get(level, ())):
            if r.contains(gpa):
                return r, b
        return None

    def artists(self) -> list:
        out = [a for a in (self.legend, self.title) if a is not None]
        for lv in self.boxes:
            out += self.boxes[lv] + [t for t in self.labels[lv] if t is not None]
        out += self.row_titles + self.gaps + self.gap_labels
        if self.walk is not None:
            out += self.walk.artists()
        return out


def _row_title(mmu, lv: int) -> str:
    st = mmu.stats()
    key = ENTRY_NAME[lv][:-1] if lv > 1 else "PT"
    n = st["tables"].get(key, 0)
    what = TABLE_NAME[lv]
    if n != 1:
        what = what[:-1] + "ies" if what.endswith("y") else what + "s"
    # wrapped: the titles share the page's width with the tree
    return f"level {lv}: {ENTRY_NAME[lv]}s\n" + style.wrap_label(f"in {n} {what}", 20)


def draw_ept_tree(ax, mmu, *, highlight_gpa: int | None = None, max_boxes: int = MAX_BOXES,
                  legend: bool = True, title: str | None = None) -> EptTreeArtists:
    """Draw the EPT of ``mmu`` (:class:`vfiolab.model.ept.Mmu`) on ``ax`` as
    rows of entry runs (see the module docstring); with ``highlight_gpa``
    also the walk for that GPA.  Returns an :class:`EptTreeArtists`."""
    runs = ept_runs(mmu, max_boxes=max_boxes)
    counts = entry_counts(runs)
    levels = mmu.levels
    occupied, points = [], []
    for lv, rs in runs.items():
        for r in rs:
            points += (r.start, r.end)
            if r.cls != "table":
                occupied.append((r.start, r.end))
    if highlight_gpa is not None:
        # the walked page gets a piece of its own, so the path sits inside it
        page = int(highlight_gpa) & ~0xFFF
        points += (page, page + 0x1000)
    amap = compress_axis(occupied, points, y0=X0, y1=X1, gap_weight=GAP_WEIGHT)
    art = EptTreeArtists(ax, mmu, runs, counts, amap)
    with style.style_context():
        ax.set_axis_off()
        ax.set_xlim(-0.135, X1 + 0.005)
        ax.set_ylim(levels - 1 + 0.75, -0.9)                  # root row on top
        fig = ax.figure
        px_per_x = ax.bbox.width / (X1 + 0.005 + 0.135)
        px_per_y = ax.bbox.height / (levels - 1 + 0.75 + 0.9)
        dpi = fig.dpi
        # squeezed stretches: hatched across all rows, size written at the bottom
        y_top, y_bot = -ROW_H / 2 - 0.08, levels - 1 + ROW_H / 2 + 0.08
        for a, b in amap.gaps:
            xa, xb = amap(a), amap(b)
            g = Rectangle((xa, y_top), xb - xa, y_bot - y_top, facecolor="#f4f4f4",
                          edgecolor="none", hatch=style.UNASSIGNED_HATCH, linewidth=0,
                          zorder=0.5, gid="gap")
            ax.add_patch(g)
            art.gaps.append(g)
            txt = f"{approx_size(b - a)}\nno leaf"
            if _text_px("no leaf ", style.SMALL_SIZE, dpi) <= (xb - xa) * px_per_x:
                t = ax.text((xa + xb) / 2, y_bot + 0.04, txt, ha="center", va="top",
                            fontsize=style.SMALL_SIZE, color="#6b6b6b", style="italic",
                            gid="gap-label")
                art.gap_labels.append(t)
        # rows
        for lv in range(levels, 0, -1):
            y = _row_y(levels, lv)
            art.row_titles.append(ax.text(-0.005, y, _row_title(mmu, lv), ha="right",
                                          va="center", fontsize=style.LABEL_SIZE,
                                          gid="row-title"))
            boxes, labels = [], []
            for r in runs.get(lv, []):
                xa, xb = amap(r.start), amap(r.end)
                color = CLASS_COLORS[r.cls]
                hatch = "xxxx" if r.cls == "mmio-stale" else ("...." if r.sparse else None)
                rect = Rectangle((xa, y - ROW_H / 2), xb - xa, ROW_H, facecolor=color,
                                 edgecolor="#888888" if r.cls == "zapped" else _EDGE,
                                 linestyle="--" if r.cls == "zapped" else "-",
                                 linewidth=0.6, hatch=hatch, zorder=2, gid=f"entry:{r.cls}")
                ax.add_patch(rect)
                boxes.append(rect)
                labels.append(_box_label(ax, r, xa, xb, y, px_per_x, px_per_y, dpi))
            art.boxes[lv] = boxes
            art.labels[lv] = labels
        if legend:
            present = {r.cls for rs in runs.values() for r in rs} | {"table", "ram", "mmio"}
            handles = [Patch(facecolor=CLASS_COLORS[c], edgecolor=_EDGE, linewidth=0.6,
                             linestyle="--" if c == "zapped" else "-",
                             hatch="xxxx" if c == "mmio-stale" else None, label=CLASS_LABELS[c])
                       for c in CLASS_COLORS if c in present]
            handles.append(Patch(facecolor="#ffffff", edgecolor=_EDGE, hatch="....",
                                 linewidth=0.6, label="sparse: grouped runs with holes"))
            art.legend = ax.legend(handles=handles, loc="upper center",
                                   bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 5),
                                   frameon=False, fontsize=style.LABEL_SIZE, handlelength=1.6,
                                   columnspacing=1.2)
        if title is None:
            st = mmu.stats()
            leaves = ", ".join(f"{st['leaves'][k]} x {k}" for k in ("1G", "2M", "4K")
                               if st["leaves"][k]) or "none"
            title = (f"KVM's EPT ({levels}-level): {st['table_pages']} table pages, "
                     f"leaves: {leaves}; {st['mmio_sptes']} MMIO SPTEs "
                     f"(memslot generation {st['generation']})")
        art.title = ax.text((X0 + X1) / 2, -0.62, style.wrap_label(title, 90), ha="center",
                            va="bottom",
                            fontsize=style.FONT_SIZE, fontweight="bold", gid="title")
        if highlight_gpa is not None:
            art.walk = draw_ept_walk(ax, mmu, highlight_gpa, tree=art)
    return art


def _box_label(ax, r: EptRun, xa, xb, y, px_per_x, px_per_y, dpi):
    """A label that fits the box: count and start GPA, or the count only,
    horizontal or (narrow boxes) vertical; None if nothing fits."""
    w_px = (xb - xa) * px_per_x - 4
    h_px = ROW_H * px_per_y - 4
    size = style.LABEL_SIZE
    two = f"{r.text}\n{fmt_hex(r.start)}"
    if _text_px(max(two.split("\n"), key=len), size, dpi) <= w_px:
        return ax.text((xa + xb) / 2, y, two, ha="center", va="center", fontsize=size,
                       family=_MONO, zorder=5, gid="entry-label")
    if _text_px(r.text, size, dpi) <= w_px:
        return ax.text((xa + xb) / 2, y, r.text, ha="center", va="center", fontsize=size,
                       family=_MONO, zorder=5, gid="entry-label")
    small = style.SMALL_SIZE
    if small * 1.3 * dpi / 72 > w_px + 4:
        return None
    # narrow: vertical, without the "sparse" word if need be (the dots show it)
    for text in (r.text, r.text.removesuffix(" sparse")):
        if _text_px(text, small, dpi) <= h_px:
            return ax.text((xa + xb) / 2, y, text, ha="center", va="center", fontsize=small,
                           rotation=90, family=_MONO, zorder=5, gid="entry-label")
    return None


def _walk_outcome(steps) -> str:
    if not steps:
        return "violation"
    lv, value, _ = steps[-1]
    if is_mmio_spte(value) and lv == 1:
        return "mmio"
    if value & SPTE_MMU_PRESENT and (lv == 1 or value & EPT_LARGE):
        return "leaf"
    return "violation"


def draw_ept_walk(ax, mmu, gpa: int, *, tree: EptTreeArtists | None = None) -> EptWalkArtists:
    """Draw the 1-D EPT walk for ``gpa`` (``Mmu.ept_walk``): a path down the
    rows of ``tree`` (drawn first with :func:`draw_ept_tree` when None),
    each entry read marked and labelled ``NAME[index] = value``, the boxes
    passed through outlined.  It ends at the leaf (``-> HPA``), at an MMIO
    SPTE (EPT misconfiguration, KVM emulates or exits) or at a non-present
    entry (EPT violation: KVM's fault path fills it)."""
    if tree is None:
        return draw_ept_tree(ax, mmu, highlight_gpa=gpa).walk
    gpa = int(gpa)
    steps = mmu.ept_walk(gpa)
    outcome = _walk_outcome(steps)
    levels = mmu.levels
    page = gpa & ~0xFFF
    x = (tree.amap(page) + tree.amap(page + 0x1000)) / 2
    w = EptWalkArtists(gpa, steps, outcome)
    with style.style_context():
        # one marker where the walk enters each entry read (the top of its box)
        ys = [_row_y(levels, lv) - ROW_H / 2 + 0.07 for lv, _, _ in steps]
        # from the EPTP (above the root row) down to the last entry read; under
        # the box labels so they stay readable
        w.path = ax.add_line(Line2D([x] * (len(ys) + 1), [-0.45] + ys, color=_WALK,
                                    linewidth=1.6, zorder=4, gid="walk-path"))
        left = x > 0.62                   # put the labels where there is room
        for (lv, value, where), ym in zip(steps, ys):
            y = _row_y(levels, lv)
            last = (lv, value, where) == steps[-1]
            marker = "X" if last and outcome == "violation" else "o"
            w.markers.append(ax.add_line(Line2D([x], [ym], marker=marker, color=_WALK,
                                                markersize=6 if marker == "o" else 8,
                                                zorder=8, gid="walk-entry")))
            text = f"{ENTRY_NAME[lv]}[{ept_index(gpa, lv)}] = {fmt_hex(value)}"
            if last:
                if outcome == "leaf":
                    size = PAGE_BYTES[lv]
                    hpa = (value & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1))
                    text += f"\n{LEVEL_LABEL[lv]} page -> HPA {fmt_hex(hpa)}"
                elif outcome == "mmio":
                    gen = decode_mmio_spte(value)[1]
                    if gen == mmu.generation & MMIO_SPTE_GEN_MASK:
                        text += "\nMMIO SPTE: EPT misconfiguration -> emulate / exit"
                    else:
                        # handle_mmio_page_fault: an old generation -> RET_PF_INVALID
                        text += (f"\nstale MMIO SPTE (generation {gen}): misconfiguration, "
                                 f"then KVM's fault path again")
                else:
                    text += "\nnot present: EPT violation -> KVM maps it"
            t = ax.text(x + (-0.008 if left else 0.008), y - ROW_H / 2 - 0.03, text,
                        ha="right" if left else "left", va="bottom", fontsize=style.SMALL_SIZE,
                        family=_MONO, color=_WALK, zorder=9, gid="walk-label",
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white",
                                  edgecolor="none", alpha=0.85))
            w.labels.append(t)
            hit = tree.box_of(lv, gpa)
            if hit is not None:
                hit[1].set_edgecolor(_WALK)
                hit[1].set_linewidth(style.HIGHLIGHT[1])
                hit[1].set_zorder(3)
                w.boxes.append(hit[1])
        w.labels.append(ax.text(x, -0.47, f"GPA {fmt_hex(gpa)}", ha="center", va="bottom",
                                fontsize=style.LABEL_SIZE, family=_MONO, color=_WALK,
                                fontweight="bold", zorder=9, gid="walk-gpa"))
    tree.walk = w
    return w


def ept_figure(mmu, *, highlight_gpa: int | None = None, size=(style.PAGE_WIDTH, 6.4), **kw):
    """A figure with the EPT tree drawn: ``(fig, ax, artists)``."""
    fig = _figure(size)
    with style.style_context():
        ax = fig.add_axes((0.01, 0.09, 0.98, 0.88))
        art = draw_ept_tree(ax, mmu, highlight_gpa=highlight_gpa, **kw)
    return fig, ax, art


# --------------------------------------------------------------------------
# The two-dimensional walk
# --------------------------------------------------------------------------

_GUEST_ENTRY = {4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE"}
_GUEST_COLOR = "#fff0b3"          # a guest paging-structure entry
_DATA_COLOR = "#e8e8e8"
#: the arrows that give the order of the references
_ORDER_COLOR = "#1f5fa8"
#: a cell's margin inside its (1 x 1) slot, each side: the gaps between
#: cells (twice these) carry the order arrows, clear of the cells' text
_CELL_MX, _CELL_MY = 0.07, 0.1
#: height of a reference's number in its cell (the same-row arrows run at it)
_NUMBER_Y = 0.3


@dataclass
class Walk2DArtists:
    """What :func:`draw_2d_walk` drew: ``cells`` (row, column) -> Rectangle
    for each reference; ``numbers`` the reference numbers in the order
    made (Text, 1..n); ``empty`` the cells not read; ``data`` the final
    access cell; ``arrows`` one arrow (FancyArrowPatch) from each reference
    to the next, in order, and ``routes`` the polyline (data coordinates)
    each follows; ``data_arrow`` the dashed arrow from the last EPT
    reference to the data access (None when the walk stopped);
    ``rows``/``cols`` the keys: rows are guest levels 4..1 then 0 (the
    data), columns EPT levels then ``"guest"``."""

    cells: dict = field(default_factory=dict)
    numbers: list = field(default_factory=list)
    details: list = field(default_factory=list)
    empty: list = field(default_factory=list)
    data: object = None
    arrows: list = field(default_factory=list)
    routes: list = field(default_factory=list)
    data_arrow: object = None
    headers: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    cols: list = field(default_factory=list)
    title: object = None
    subtitle: object = None


def _order_route(a, b, cw: float, ch: float) -> list:
    """The path of the arrow from cell slot ``a`` to cell slot ``b`` (the
    slots' top-left corners, y growing downwards), kept in the gaps between
    cells so it crosses no text.  Along a row (the next EPT level, or the
    guest entry after the EPT walk of its address): straight across the gap
    at the numbers' height.  To a lower row (a guest entry gave the GPA of
    the next table, or of the data, which that row translates): down out of
    the cell, left along the gap above the lower row, down into its cell."""
    (xa, ya), (xb, yb) = a, b
    if ya == yb:
        y = ya + _NUMBER_Y
        return [(xa + cw - _CELL_MX, y), (xb + _CELL_MX, y)] if xb > xa else \
            [(xa + _CELL_MX, y), (xb + cw - _CELL_MX, y)]
    xs, xt = xa + cw / 2, xb + cw / 2
    return [(xs, ya + ch - _CELL_MY), (xs, yb), (xt, yb), (xt, yb + _CELL_MY)]


def _order_arrow(route, **kw) -> FancyArrowPatch:
    return FancyArrowPatch(path=MplPath(route), arrowstyle="-|>", mutation_scale=11,
                           shrinkA=0, shrinkB=0, color=_ORDER_COLOR, linewidth=1.3,
                           zorder=3, **kw)


def draw_2d_walk(ax, walk, *, ept_levels: int | None = None, title: str | None = None
                 ) -> Walk2DArtists:
    """Draw a :class:`vfiolab.model.ept.Walk2D` as a grid of its memory
    references (see the module docstring).  Rows: the guest's PML4E, PDPTE,
    PDE, PTE, then the data; columns: the EPT entries read to translate
    that row's GPA (root first), then the guest entry itself.  Each cell
    holds the reference number (``ref``, the model's order), what it reads
    and the entry's HPA; an arrow leads from each reference to the next
    (:func:`_order_route`), so the order can be followed 1, 2, ... n.  A
    walk that stopped (guest #PF or EPT violation) has its last cell
    outlined in red."""
    refs = list(walk)
    if ept_levels is None:
        ept_levels = max([r["ept_level"] for r in refs if r["ept_level"] is not None] + [4])
    cols = list(range(ept_levels, 0, -1)) + ["guest"]
    rows = [4, 3, 2, 1, 0]
    ncol, nrow = len(cols), len(rows)
    art = Walk2DArtists(rows=rows, cols=cols)
    cw, ch = 1.0, 1.0
    x_of = {c: i * cw for i, c in enumerate(cols)}
    y_of = {r: i * ch for i, r in enumerate(rows)}
    stopped = walk.guest_fault is not None or walk.ept_fault is not None

    def slot(g, c):
        return Rectangle((x_of[c] + _CELL_MX, y_of[g] + _CELL_MY), cw - 2 * _CELL_MX,
                         ch - 2 * _CELL_MY)

    with style.style_context():
        ax.set_axis_off()
        ax.set_xlim(-0.72, ncol * cw + 0.02)
        ax.set_ylim(nrow * ch + 0.1, -1.25)
        # headers
        for c in cols:
            text = (f"EPT {ENTRY_NAME[c]}\n(level {c})" if c != "guest"
                    else "guest entry\n(read from guest RAM)")
            art.headers.append(ax.text(x_of[c] + cw / 2, -0.02, text, ha="center",
                                       va="bottom", fontsize=style.LABEL_SIZE,
                                       fontweight="bold", gid="col-header"))
        gpa_of_row = {}
        for r in refs:
            gpa_of_row.setdefault(r["guest_level"], r["gpa"])
        for g in rows:
            name = f"guest {_GUEST_ENTRY[g]}" if g else "the data"
            at = gpa_of_row.get(g)
            text = name + (f"\nat GPA {at}" if at else "\n(not reached)")
            art.headers.append(ax.text(-0.06, y_of[g] + ch / 2, text, ha="right",
                                       va="center", fontsize=style.LABEL_SIZE,
                                       family=_MONO, gid="row-header"))
        # cells, one per reference, in the model's order (Mmu.walk_2d)
        slots = []
        for i, r in enumerate(refs):
            g = r["guest_level"]
            c = r["ept_level"] if r["ept_level"] is not None else "guest"
            x0, y0 = x_of[c], y_of[g]
            is_last = i == len(refs) - 1
            color = _GUEST_COLOR if c == "guest" else CLASS_COLORS["table"]
            if c != "guest":
                v = int(r["value"], 16)
                lv = r["ept_level"]
                if is_mmio_spte(v) and lv == 1:
                    color = CLASS_COLORS["mmio"]
                elif v & SPTE_MMU_PRESENT and (lv == 1 or v & EPT_LARGE):
                    color = CLASS_COLORS["ram"]
                elif not v & SPTE_MMU_PRESENT:
                    color = "#ffffff"
            bad = stopped and is_last
            rect = slot(g, c)
            rect.set(facecolor=color, edgecolor=_WALK if bad else _EDGE,
                     linewidth=style.HIGHLIGHT[1] if bad else 0.7, zorder=2, gid="ref-cell")
            ax.add_patch(rect)
            art.cells[(g, c)] = rect
            art.numbers.append(ax.text(x0 + cw / 2, y0 + _NUMBER_Y, str(r["ref"]),
                                       ha="center", va="center", fontsize=13,
                                       fontweight="bold", zorder=5, gid="ref-number"))
            what = r["reads"].split(" for ")[0]
            art.details.append(ax.text(x0 + cw / 2, y0 + 0.66,
                                       f"{what}\n= {r['value']}\nat HPA {r['hpa']}",
                                       ha="center", va="center",
                                       fontsize=style.SMALL_SIZE, family=_MONO, zorder=5,
                                       gid="ref-detail"))
            slots.append((x0, y0))
        # the order: an arrow from each reference to the next
        for a, b in zip(slots, slots[1:]):
            route = _order_route(a, b, cw, ch)
            art.routes.append(route)
            art.arrows.append(ax.add_patch(_order_arrow(route, gid="ref-order")))
        # cells not read: a huge EPT leaf ended that EPT walk early, or the
        # guest walk ended at a huge page / fault
        for g in rows:
            for c in cols:
                if (g, c) in art.cells or (g == 0 and c == "guest"):
                    continue
                rect = slot(g, c)
                rect.set(facecolor="#fafafa", edgecolor="#cccccc", linestyle=":",
                         linewidth=0.7, zorder=1, gid="ref-empty")
                ax.add_patch(rect)
                art.empty.append(rect)
        # the data access itself (not a paging-structure reference)
        x0, y0 = x_of["guest"], y_of[0]
        if walk.hpa is not None:
            text = f"data\nGPA {fmt_hex(walk.gpa)}\n-> HPA {fmt_hex(walk.hpa)}"
        elif walk.guest_fault is not None:
            text = f"guest #PF at\n{fmt_hex(walk.guest_fault)}"
        else:
            text = (f"EPT violation at\nGPA {fmt_hex(walk.ept_fault)}"
                    if walk.ept_fault is not None else "not reached")
        art.data = slot(0, "guest")
        art.data.set(facecolor=_DATA_COLOR, edgecolor=_EDGE, linewidth=0.7, zorder=2,
                     gid="data-cell")
        ax.add_patch(art.data)
        art.details.append(ax.text(x0 + cw / 2, y0 + ch / 2, text, ha="center", va="center",
                                   fontsize=style.SMALL_SIZE, family=_MONO, zorder=5,
                                   gid="data-detail"))
        if walk.hpa is not None and slots and slots[-1][1] == y0:
            # the last EPT walk translated the data's GPA: then the access itself
            route = _order_route(slots[-1], (x0, y0), cw, ch)
            art.data_arrow = ax.add_patch(_order_arrow(route, linestyle="--",
                                                       gid="data-order"))
        if title is None:
            n = walk.counts()

            def many(k, word):
                return f"{k} {word}" + ("" if k == 1 else ("ies" if word[-1] == "y" else "s"))
            title = (f"2-D walk: {many(n['total'], 'memory reference')} "
                     f"({n['ept']} EPT + {n['guest']} guest paging-structure entries)")
            if walk.faults:
                title += (f"; before it, {many(walk.attempts - 1, 'attempt')} hit EPT "
                          f"violations that KVM filled")
        art.title = ax.text(ncol * cw / 2, -1.0, style.wrap_label(title, 90), ha="center",
                            va="bottom",
                            fontsize=style.FONT_SIZE, fontweight="bold", gid="title")
        if refs:
            how = (f"Follow the arrows 1 -> {len(refs)}: each row translates one GPA through "
                   "EPT, root first, then reads the guest entry there; the address in that "
                   "entry gives the GPA the next row translates.")
            art.subtitle = ax.text(ncol * cw / 2, -0.62, style.wrap_label(how, 125),
                                   ha="center", va="bottom", fontsize=style.LABEL_SIZE,
                                   color=_ORDER_COLOR, gid="subtitle")
    return art


def walk_2d_figure(walk, *, size=(style.PAGE_WIDTH, 6.8), **kw):
    """A figure with the 2-D walk grid drawn: ``(fig, ax, artists)``."""
    fig = _figure(size)
    with style.style_context():
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.97))
        art = draw_2d_walk(ax, walk, **kw)
    return fig, ax, art
