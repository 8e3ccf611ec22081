"""Address widths and the BARs against them, one column per VM.

The vertical axis is the address in bits (``log2``): 32 is 4 GiB, 40 is
1 TiB, 46 is 64 TiB, so one picture holds a 4 KiB BAR below 4 GiB and a
window at the top of a 46-bit space.  A column draws

* ``windows``: the firmware's 64-bit window (shaded band, from its start
  to its end);
* ``limits``: widths that bound what works (the guest's phys-bits, the
  host IOMMU's aperture, KVM's largest GPA), as dashed lines at their bit;
* ``bars``: each placed BAR as a box from ``log2(start)`` to
  ``log2(end)``, at least :data:`MIN_BOX` bits tall so small BARs stay
  visible; labels on the right, pushed apart so none overlap.

BARs the firmware left unassigned have no address: they are listed under
the column.  The data is plain (:class:`WidthsColumn`), built by the course
layer from a :class:`~vfiolab.predict.Prediction` or a check report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..addr import fmt_hex, fmt_size
from . import style

__all__ = ["WidthsColumn", "widths_figure", "MIN_BOX"]

#: the smallest box height, in bits, so a 4 KiB BAR is still seen
MIN_BOX = 0.18
#: the smallest distance between two labels, in bits of the axis
_LABEL_GAP = 1.05
_LIMIT_COLORS = ("#c0142b", "#1f5fa8", "#6a3d9a", "#2d7f3b")


@dataclass
class WidthsColumn:
    """One VM: ``title``; ``bars`` as ``(label, start, size)``; ``windows``
    as ``(label, start, end_exclusive)``; ``limits`` as ``(label, bits)``;
    ``unassigned`` as label strings; ``beyond``: labels of BARs drawn in
    red (placed where something cannot reach them)."""

    title: str
    bars: list = field(default_factory=list)
    windows: list = field(default_factory=list)
    limits: list = field(default_factory=list)
    unassigned: list = field(default_factory=list)
    beyond: set = field(default_factory=set)


def _bits(x: int) -> float:
    return math.log2(max(x, 1))


def _spread(ys: list, lo: float, gap: float, hi: float) -> list:
    """Label positions: ``ys`` sorted, each at least ``gap`` above the
    previous one, not below ``lo``, and pushed back down so none is above
    ``hi``."""
    out, last = [], lo - gap
    for y in ys:
        y = max(y, last + gap)
        out.append(y)
        last = y
    for i in range(len(out) - 1, -1, -1):
        out[i] = min(out[i], hi)
        hi = out[i] - gap
    return out


def widths_figure(columns: list, *, lo_bits: float = 31.0, hi_bits: float | None = None,
                  height: float = 5.6) -> Figure:
    """One axes per column, side by side, sharing the bits axis."""
    if not columns:
        raise ValueError("widths_figure: no columns")
    top = hi_bits
    if top is None:
        cand = [lo_bits + 4]
        for c in columns:
            cand += [b for _, b in c.limits]
            cand += [_bits(e) for _, _, e in c.windows]
            cand += [_bits(s + z) for _, s, z in c.bars]
        top = math.ceil(max(cand)) + 1.5
    with style.style_context():
        fig = Figure(figsize=(style.PAGE_WIDTH, height), dpi=style.DPI)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        n = len(columns)
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.16, wspace=0.08)
        for k, (ax, col) in enumerate(zip(axes, columns)):
            ax.set_xlim(0, 1)
            ax.set_ylim(lo_bits, top)
            ax.set_xticks([])
            ax.set_title(style.wrap_label(col.title, int(90 / n)), fontsize=style.FONT_SIZE)
            for s in ("top", "right"):
                ax.spines[s].set_visible(False)
            for label, start, end in col.windows:
                y0, y1 = _bits(start), _bits(end)
                ax.add_patch(Rectangle((0.02, y0), 0.96, y1 - y0, facecolor="#f3e6c4",
                                       edgecolor="#b08a2e", linewidth=0.8, zorder=1))
                ax.text(0.04, y1 - 0.08, style.wrap_label(label, 14), fontsize=style.SMALL_SIZE,
                        va="top", ha="left", color="#6b5214", zorder=4)
            merged: dict = {}
            for label, bits in col.limits:          # one line and one label per width
                merged.setdefault(bits, []).append(label)
            for i, (bits, labels) in enumerate(sorted(merged.items())):
                label = " = ".join(labels)
                c = _LIMIT_COLORS[i % len(_LIMIT_COLORS)]
                ax.axhline(bits, color=c, linestyle="--", linewidth=1.2, zorder=3)
                ax.text(0.04, bits + 0.08, style.wrap_label(label, int(66 / len(columns))),
                        fontsize=style.SMALL_SIZE, color=c,
                        va="bottom", ha="left", zorder=4)
            bars = sorted(col.bars, key=lambda b: b[1])
            ys = []
            for label, start, size in bars:
                y0 = _bits(start)
                y1 = max(_bits(start + size), y0 + MIN_BOX)
                red = label in col.beyond
                ax.add_patch(Rectangle((0.36, y0), 0.12, y1 - y0,
                                       facecolor=style.KIND_COLORS["i/o" if red else "ramd"],
                                       edgecolor=style.HIGHLIGHT[0] if red else "#33566f",
                                       linewidth=1.4 if red else 0.7, zorder=2))
                ys.append((y0 + y1) / 2)
            for (label, start, size), y, yl in zip(bars, ys,
                                                  _spread(ys, lo_bits + 0.2, _LABEL_GAP, top - 0.45)):
                ax.plot([0.48, 0.53], [y, yl], color="#777777", linewidth=0.6, zorder=2)
                ax.text(0.54, yl, f"{label} {fmt_size(size)}\n@ {fmt_hex(start)}",
                        fontsize=style.SMALL_SIZE, va="center", ha="left", zorder=4,
                        color=style.HIGHLIGHT[0] if label in col.beyond else "black")
            if col.unassigned:
                ax.text(0.0, -0.03, style.wrap_label("unassigned: " + ", ".join(col.unassigned),
                                                     int(110 / n)),
                        transform=ax.transAxes, fontsize=style.SMALL_SIZE, va="top",
                        ha="left", color=style.HIGHLIGHT[0])
            if k == 0:
                ax.set_ylabel("address, bits (log2): 32 = 4 GiB, 40 = 1 TiB")
        ticks = list(range(math.ceil(lo_bits), int(top) + 1, 2))
        axes[0].set_yticks(ticks)
    return fig
