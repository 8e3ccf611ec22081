"""A flow diagram: boxes of text joined by arrows, at page width.

Each box is one matplotlib ``Text`` with a rounded frame (its ``bbox``), at
a position in axes fractions; arrows are ``annotate`` calls whose ends are
the boxes themselves (``xycoords``/``textcoords`` given the box artists), so
an arrow always meets the frame whatever the text's size.  The data is
plain (:class:`FlowBox`, :class:`FlowArrow`), built by the course layer from
a model's event stream (:func:`vfiolab.course.lessons.thread_model_fig`).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from . import style

__all__ = ["FlowBox", "FlowArrow", "flow_figure"]

#: frame colours by the actor a box belongs to
ACTOR_COLORS = {
    "guest": "#fde9c9",
    "qemu": "#dfe8f3",
    "kvm": "#e4f2df",
    "iommu": "#efe0f0",
    "note": "#f2f2f2",
}


@dataclass
class FlowBox:
    """``key`` names the box for arrows; ``x``, ``y``: its centre in axes
    fractions; ``title`` (bold) and ``detail`` lines; ``actor`` picks the
    colour (:data:`ACTOR_COLORS`); ``width``: characters per line."""

    key: str
    x: float
    y: float
    title: str
    detail: str = ""
    actor: str = "qemu"
    width: int = 60


@dataclass
class FlowArrow:
    """From box ``src`` to box ``dst``; ``dashed`` for a relation rather
    than a step; ``side``: where it leaves and enters, ``"v"`` (bottom to
    top) or ``"h"`` (right side to left side)."""

    src: str
    dst: str
    dashed: bool = False
    side: str = "v"


def flow_figure(boxes: list, arrows: list, *, title: str | None = None,
                height: float = 7.0, legend: dict | None = None) -> Figure:
    """The boxes and arrows on one axes at page width (constrained layout)."""
    with style.style_context():
        fig = Figure(figsize=(style.PAGE_WIDTH, height), dpi=style.DPI, layout="constrained")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        artists = {}
        for b in boxes:
            text = b.title
            if b.detail:
                text += "\n" + "\n".join(style.wrap_label(line, b.width)
                                         for line in b.detail.split("\n"))
            artists[b.key] = ax.text(
                b.x, b.y, text, ha="center", va="center", fontsize=style.SMALL_SIZE,
                linespacing=1.25, zorder=3,
                bbox=dict(boxstyle="round,pad=0.45", facecolor=ACTOR_COLORS.get(b.actor, "white"),
                          edgecolor="#555555", linewidth=0.8))
        for a in arrows:
            src, dst = artists[a.src], artists[a.dst]
            if a.side == "h":
                start, end = (1.0, 0.5), (0.0, 0.5)
            else:
                start, end = (0.5, 0.0), (0.5, 1.0)
            ax.annotate("", xy=end, xycoords=dst, xytext=start, textcoords=src, zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color="#333333", linewidth=1.0,
                                        linestyle="--" if a.dashed else "-",
                                        shrinkA=7, shrinkB=7, mutation_scale=10))
        if legend:
            from matplotlib.patches import Patch
            ax.legend(handles=[Patch(facecolor=ACTOR_COLORS[k], edgecolor="#555555", label=v)
                               for k, v in legend.items()],
                      loc="lower left", fontsize=style.SMALL_SIZE, frameon=False,
                      ncols=len(legend), bbox_to_anchor=(0.0, -0.02))
        if title:
            fig.suptitle(title, fontsize=style.FONT_SIZE)
    return fig
