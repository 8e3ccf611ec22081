"""A BAR move as a strip: where the BAR is decoded after each config write.

One row per move (clean, careless, ...), one box per moment: before the
move, then after each config write the guest makes (COMMAND, the BAR's
low dword, its upper dword).  A box says where QEMU decoded the BAR then
(:func:`vfiolab.views.bar_positions`, from the model's
``pci_update_mappings`` events): the final place, a place the BAR only
passed through (outlined in red: for that moment QEMU mapped the BAR, and
KVM and the IOMMU followed, at an address nobody chose), or nowhere
(decode off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.patches import FancyArrowPatch, Rectangle

from ..addr import fmt_hex, fmt_size
from . import style

__all__ = ["MoveRow", "draw_move_strip", "move_strip_figure"]

_MONO = "DejaVu Sans Mono"
_COLORS = {"start": "#e3e3e3", "final": style.KIND_COLORS["ram"],
           "transient": style.KIND_COLORS["i/o"], "none": "#ffffff"}


@dataclass
class MoveRow:
    """One move: ``title``, its moments (``BarMoment``) and a label per
    moment (what the write was, in the register's name)."""

    title: str
    moments: list
    labels: list = field(default_factory=list)


def _kind(i: int, m, moments) -> str:
    if i == 0:
        return "start"
    if m.address is None:
        return "none"
    return "final" if m.address == moments[-1].address else "transient"


def draw_move_strip(ax, rows: list[MoveRow]) -> dict:
    """Draw the rows on ``ax`` (axis off); returns the boxes and texts."""
    ncol = max(len(r.moments) for r in rows)
    ax.set_axis_off()
    ax.set_xlim(-0.05, ncol - 0.15)
    ax.set_ylim(len(rows) * 2.0 - 0.6, -0.45)
    out = {"boxes": [], "texts": []}
    for j, row in enumerate(rows):
        y0 = j * 2.0
        out["texts"].append(ax.text(-0.03, y0 - 0.35, row.title, ha="left", va="bottom",
                                    fontsize=style.FONT_SIZE, fontweight="bold"))
        for i, m in enumerate(row.moments):
            k = _kind(i, m, row.moments)
            box = Rectangle((i, y0 + 0.45), 0.8, 0.8, facecolor=_COLORS[k],
                            edgecolor=style.HIGHLIGHT[0] if k == "transient" else "#4d4d4d",
                            linewidth=style.HIGHLIGHT[1] if k == "transient" else 0.7,
                            hatch="////" if k == "none" else None, gid=f"moment:{k}")
            ax.add_patch(box)
            out["boxes"].append(box)
            where = (f"{fmt_hex(m.address)}\n({fmt_size(m.size)})" if m.address is not None
                     else "not mapped")
            note = {"start": "where it was", "final": "where it stays",
                    "transient": "passing through", "none": "decode off"}[k]
            out["texts"].append(ax.text(i + 0.4, y0 + 0.85, f"{where}\n{note}", ha="center",
                                        va="center", fontsize=style.SMALL_SIZE,
                                        family=_MONO,
                                        fontweight="bold" if k == "transient" else "normal",
                                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white",
                                                  edgecolor="none", alpha=0.8)))
            label = row.labels[i] if i < len(row.labels) else ""
            out["texts"].append(ax.text(i + 0.4, y0 + 0.38, label, ha="center", va="bottom",
                                        fontsize=style.SMALL_SIZE))
            if i:
                ax.add_patch(FancyArrowPatch((i - 0.2, y0 + 0.85), (i, y0 + 0.85),
                                             arrowstyle="-|>", mutation_scale=8,
                                             color="#555555", linewidth=0.8))
    return out


def move_strip_figure(rows: list[MoveRow]):
    """A page-wide figure of :func:`draw_move_strip`: ``(fig, ax, artists)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with style.style_context():
        fig = Figure(figsize=(style.PAGE_WIDTH, 0.4 + 1.5 * len(rows)), dpi=style.DPI,
                     layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        art = draw_move_strip(ax, rows)
    return fig, ax, art
