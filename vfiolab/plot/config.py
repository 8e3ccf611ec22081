"""Config-space ownership as a byte grid: who answers each byte of a
passed-through function's first 256 config bytes.

16 bytes a row (offset 0x00 at the top left, as ``lspci -xxx`` prints
them), one box per register piece, coloured by who answers the guest:
QEMU's emulated copy, the kernel's vfio-pci (virtualized: the device is
never written there), the device itself, or QEMU for some bits and the
device for the others (:func:`vfiolab.model.vfio.config_owners`).
"""

from __future__ import annotations

from matplotlib.patches import Patch, Rectangle

from . import style

__all__ = ["OWNER_COLORS", "OWNER_LABELS", "config_grid_figure", "draw_config_grid"]

OWNER_COLORS = {"qemu": "#f6cd84", "kernel": "#8cc4ec", "device": "#9ad9b0",
                "qemu+device": "#f6cd84"}
OWNER_LABELS = {"qemu": "QEMU (emulated copy)", "kernel": "kernel vfio-pci (virtualized)",
                "device": "the device", "qemu+device": "QEMU for some bits, the device for the rest"}
#: short register names for the grid's boxes (the full names are in the table)
SHORT = {"VENDOR_ID": "vendor", "DEVICE_ID": "device", "COMMAND": "command", "STATUS": "status",
         "REVISION_ID": "rev", "CLASS_PROG": "prog", "CLASS_DEVICE": "class",
         "CACHE_LINE_SIZE": "cls", "LATENCY_TIMER": "lat", "HEADER_TYPE": "hdr",
         "BIST": "bist", "CARDBUS_CIS": "cardbus", "SUBSYSTEM_VENDOR_ID": "subsys vendor",
         "SUBSYSTEM_ID": "subsys", "ROM_ADDRESS": "ROM BAR", "CAPABILITY_LIST": "cap",
         "INTERRUPT_LINE": "irq", "INTERRUPT_PIN": "pin", "MIN_GNT": "gnt", "MAX_LAT": "lat",
         "device-specific": "dev-specific"}
_COLS = 16


def _short(name: str) -> str:
    return SHORT.get(name, name.replace(" capability @", " @"))


def draw_config_grid(ax, segments, *, rows: int = 16) -> dict:
    """Draw ``segments`` -- (start, end exclusive, register, owner) -- on
    ``ax`` as a grid of ``rows`` x 16 bytes; returns the boxes and labels."""
    ax.set_axis_off()
    ax.set_xlim(-1.6, _COLS + 0.05)
    ax.set_ylim(rows + 0.05, -0.9)
    out = {"boxes": [], "labels": []}
    px_x = ax.bbox.width / (_COLS + 1.65)
    char_px = 0.6 * style.SMALL_SIZE * ax.figure.dpi / 72.0
    for c in range(0, _COLS, 4):
        ax.text(c + 2, -0.35, f"+{c:#x}..+{c + 3:#x}", ha="center", va="center",
                fontsize=style.SMALL_SIZE, color="#555555")
    for r in range(rows):
        ax.text(-0.15, r + 0.5, f"{r * _COLS:#04x}", ha="right", va="center",
                fontsize=style.SMALL_SIZE, family="DejaVu Sans Mono", color="#555555")
    for start, end, name, owner in segments:
        a = start
        while a < end and a < rows * _COLS:
            row = a // _COLS
            b = min(end, (row + 1) * _COLS)
            x0, w = a % _COLS, b - a
            box = Rectangle((x0, row), w, 1, facecolor=OWNER_COLORS.get(owner, "#ececec"),
                            edgecolor="#4d4d4d", linewidth=0.6,
                            hatch="////" if owner == "qemu+device" else None,
                            gid=f"owner:{owner}")
            ax.add_patch(box)
            out["boxes"].append(box)
            label = _short(name)
            fits = max(int(w * px_x / char_px) - 1, 0)
            text = style.wrap_label(label, fits) if fits >= 3 else ""
            if text and max(len(t) for t in text.split("\n")) <= fits and text.count("\n") < 2:
                out["labels"].append(ax.text(x0 + w / 2, row + 0.5, text, ha="center",
                                             va="center", fontsize=style.SMALL_SIZE))
            a = b
    handles = [Patch(facecolor=OWNER_COLORS[k], edgecolor="#4d4d4d", linewidth=0.6,
                     hatch="////" if k == "qemu+device" else None, label=OWNER_LABELS[k])
               for k in OWNER_COLORS]
    out["legend"] = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                              ncol=2, frameon=False, fontsize=style.LABEL_SIZE)
    return out


def config_grid_figure(segments, title: str = "", *, rows: int = 16):
    """A page-wide figure of :func:`draw_config_grid`: ``(fig, ax, artists)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with style.style_context():
        fig = Figure(figsize=(style.PAGE_WIDTH, 1.2 + 0.36 * rows), dpi=style.DPI,
                     layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        fig.canvas.draw()                 # the axes' size, for fitting the labels
        art = draw_config_grid(ax, segments, rows=rows)
        if title:
            ax.set_title(title, fontsize=style.FONT_SIZE, fontweight="bold")
    return fig, ax, art
