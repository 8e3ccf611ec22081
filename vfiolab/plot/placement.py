"""The firmware's BAR placement as a memory map: one panel per window.

A panel is one address window of the firmware (SeaBIOS's 32-bit PCI
window under the I/O APIC, its 64-bit window above RAM), drawn to a linear
address scale from the window's start (bottom) to its end (top), hex ticks.
Inside it:

* ``lists``: the ranges a list of BARs took (SeaBIOS ``mem``/``prefmem``),
  as tinted bands labelled on the left;
* ``bars``: each placed BAR as a box at its address, at least
  :data:`MIN_FRACTION` of the panel tall so a 4 KiB BAR is still seen,
  labelled on the right with its place in the firmware's order (``#0`` is
  placed first), its name, size and address; labels are pushed apart so none
  overlap;
* ``note``: a sentence in the middle of the panel.

The data is plain (:class:`PlacementPanel`), built by the course layer from
the firmware model's placements (:func:`vfiolab.course.placement_fig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..addr import fmt_hex, fmt_size
from . import style
from .widths import _spread

__all__ = ["PlacementPanel", "placement_figure", "MIN_FRACTION"]

#: the smallest box height, as a fraction of its panel's height
MIN_FRACTION = 0.012
#: the smallest distance between two BAR labels, as a fraction of the panel
_LABEL_GAP = 0.075
_LIST_COLORS = ("#f3e6c4", "#dfe8f3", "#e6f0dc", "#f0e0ec")


@dataclass
class PlacementPanel:
    """One window: ``title``; ``start``/``end`` (end exclusive); ``lists``
    as ``(label, start, end)``; ``bars`` as ``(order, label, start, size)``
    where ``order`` is the BAR's place in the firmware's placement order."""

    title: str
    start: int
    end: int
    lists: list = field(default_factory=list)
    bars: list = field(default_factory=list)
    #: a sentence shown in the middle of the panel (e.g. where its BARs are drawn)
    note: str = ""


def placement_figure(panels: list, *, title: str | None = None,
                     height: float = 5.2) -> Figure:
    """The panels side by side at page width (constrained layout)."""
    if not panels:
        raise ValueError("placement_figure: no panels")
    with style.style_context():
        fig = Figure(figsize=(style.PAGE_WIDTH, height), dpi=style.DPI,
                     layout="constrained")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, pan in zip(axes, panels):
            _draw_panel(ax, pan, len(panels))
        if title:
            fig.suptitle(title, fontsize=style.FONT_SIZE)
    return fig


def _draw_panel(ax, pan: PlacementPanel, n: int) -> None:
    span = max(pan.end - pan.start, 1)
    lo, hi = pan.start, pan.end
    ax.set_xlim(0, 1)
    ax.set_ylim(lo, hi)
    ax.set_xticks([])
    ax.yaxis.set_major_formatter(style.hex_formatter())
    ax.set_yticks([lo + span * i / 4 for i in range(5)])
    ax.tick_params(axis="y", labelsize=style.SMALL_SIZE)
    ax.set_title(style.wrap_label(f"{pan.title}: {fmt_hex(pan.start)}-{fmt_hex(pan.end - 1)} "
                                  f"({fmt_size(span)})", int(100 / n)),
                 fontsize=style.FONT_SIZE)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    # the lists: a tinted band each, its name at the band's top on the left
    for i, (label, start, end) in enumerate(pan.lists):
        if end <= start:
            continue
        ax.add_patch(Rectangle((0.02, start), 0.34, end - start,
                               facecolor=_LIST_COLORS[i % len(_LIST_COLORS)],
                               edgecolor="#b08a2e", linewidth=0.8, zorder=1))
        ax.text(0.04, end - span * 0.01, style.wrap_label(f"list {label}", 9),
                fontsize=style.SMALL_SIZE, va="top", ha="left", color="#6b5214", zorder=4)
    # the BARs: a box at the address, labels spread on the right
    bars = sorted(pan.bars, key=lambda b: b[2])
    ys = []
    for order, label, start, size in bars:
        h = max(size, span * MIN_FRACTION)
        ax.add_patch(Rectangle((0.24, start), 0.12, h, facecolor=style.KIND_COLORS["ramd"],
                               edgecolor="#33566f", linewidth=0.7, zorder=2))
        ys.append(start + h / 2)
    gap = span * _LABEL_GAP
    for (order, label, start, size), y, yl in zip(
            bars, ys, _spread(ys, lo + span * 0.03, gap, hi - span * 0.04)):
        ax.plot([0.36, 0.42], [y, yl], color="#777777", linewidth=0.6, zorder=2)
        ax.text(0.43, yl, f"#{order} {label} {fmt_size(size)}\n@ {fmt_hex(start)}",
                fontsize=style.SMALL_SIZE, va="center", ha="left", zorder=4)
    if pan.note or not bars:
        ax.text(0.43, (lo + hi) / 2, style.wrap_label(pan.note or "no BARs", int(60 / n)),
                fontsize=style.SMALL_SIZE, va="center")
