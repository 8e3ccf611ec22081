"""One style for every vfiolab plot: sizes, colours by kind, hex ticks, and
settings that make the output the same bytes on every run.

Colours are by the kind QEMU prints in ``info mtree -f`` (QEMU
``system/memory.c`` ``mtree_print_flatview``): ``ram``, ``ramd`` (a RAM
device such as a vfio BAR mmap), ``rom``/``romd`` (read-only, or a ROM
device in ROMD mode), ``i/o`` (MMIO: every access exits to QEMU), plus
``reserved`` for address space nothing claims (unassigned).

Determinism: :data:`RC` fixes the fonts, DPI and ``svg.hashsalt`` (SVG ids
are otherwise random); :func:`save` writes PNG and SVG without the
software/date metadata matplotlib would add.  Use the figure helpers inside
:func:`style_context` (done for you by :func:`new_figure` and :func:`save`),
so the global rcParams are left alone.
"""

from __future__ import annotations


from collections import OrderedDict

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from ..addr import fmt_hex

__all__ = ["KIND_COLORS", "KIND_LABELS", "FIGSIZES", "DPI", "RC", "FONT_SIZE", "LABEL_SIZE",
           "SMALL_SIZE", "HIGHLIGHT", "BAND_ALPHA", "UNASSIGNED_HATCH", "kind_color",
           "hex_formatter", "style_context", "apply_style", "new_figure", "save",
           "TextCacheRenderer", "FastTextCanvas", "Label", "png_bytes", "legend_html"]

#: fill colour per kind (light tints so black labels stay readable)
KIND_COLORS = {
    "ram": "#9ad9b0",        # guest RAM: a memslot, no exits
    "ramd": "#8cc4ec",       # RAM device (vfio BAR mmap, ivshmem-style device RAM)
    "rom": "#f6cd84",        # read-only RAM / ROM
    "romd": "#f6cd84",       # ROM device in ROMD mode (reads direct, writes trap)
    "i/o": "#ee9aa8",        # MMIO: every access traps to QEMU
    "reserved": "#ececec",   # unassigned address space
}
#: legend text per colour
KIND_LABELS = {
    "ram": "ram",
    "ramd": "ramd (device RAM)",
    "rom": "rom / romd",
    "i/o": "i/o (MMIO, traps)",
    "reserved": "unassigned (compressed)",
}
#: edge colour and width of the range the user is acting on
HIGHLIGHT = ("#c0142b", 2.2)
BAND_ALPHA = 0.38
UNASSIGNED_HATCH = "////"

#: fixed figure sizes in inches, by plot
FIGSIZES = {
    "lanes": (11.0, 8.5),        # two lanes (GPA, HVA)
    "lanes3": (14.0, 8.5),       # three lanes
    "lanes4": (19.0, 8.5),       # four lanes
}
DPI = 100
FONT_SIZE = 8
LABEL_SIZE = 7
SMALL_SIZE = 6

RC = {
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "svg.hashsalt": "vfiolab",      # fixed ids in SVG output
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "hatch.linewidth": 0.6,
    "hatch.color": "#b0b0b0",
    "axes.unicode_minus": False,
    "text.usetex": False,
    "path.simplify": True,
}


def kind_color(kind: str) -> str:
    """The fill colour of a kind (``nv-`` prefixes ignored); unknown kinds
    get the ``reserved`` grey."""
    k = kind[3:] if kind.startswith("nv-") else kind
    return KIND_COLORS.get(k, KIND_COLORS["reserved"])


def hex_formatter() -> FuncFormatter:
    """A tick formatter printing addresses as ``0x`` hex (``fmt_hex``)."""
    def fmt(value, pos=None):
        v = int(round(value))
        return fmt_hex(v) if v >= 0 else ""
    return FuncFormatter(fmt)


def style_context():
    """A context with :data:`RC` applied (restored on exit)."""
    return matplotlib.rc_context(RC)


apply_style = style_context


def new_figure(kind: str = "lanes", *, pyplot: bool = False, fast_text: bool = False) -> Figure:
    """A figure of the fixed size for ``kind``.

    By default a bare :class:`~matplotlib.figure.Figure` with an Agg canvas:
    nothing registers it with pyplot, so the inline backend does not display
    it by itself and no global state changes.  ``pyplot=True`` makes it with
    ``pyplot.figure`` instead (needed by interactive backends such as ipympl).
    """
    size = FIGSIZES[kind]
    with style_context():
        if pyplot:
            import matplotlib.pyplot as plt
            was_interactive = plt.isinteractive()
            plt.ioff()
            try:
                fig = plt.figure(figsize=size, dpi=DPI)
            finally:
                if was_interactive:
                    plt.ion()
        else:
            fig = Figure(figsize=size, dpi=DPI)
            (FastTextCanvas if fast_text else FigureCanvasAgg)(fig)
    return fig


#: metadata keys matplotlib would fill with its version or the date
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
             "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def save(fig: Figure, path_or_file, fmt: str | None = None) -> None:
    """Write ``fig`` deterministically (same bytes for the same figure)."""
    if fmt is None:
        fmt = str(path_or_file).rsplit(".", 1)[-1].lower()
    with style_context():
        fig.savefig(path_or_file, format=fmt, dpi=DPI, metadata=_METADATA.get(fmt, {}))


# --------------------------------------------------------------------------
# A faster Agg canvas for figures redrawn many times (widgets)
# --------------------------------------------------------------------------




class TextCacheRenderer(RendererAgg):
    """An Agg renderer that rasterises each distinct text once.

    matplotlib's Agg backend lays out and renders every glyph of every text
    on every draw; a lanes figure holds dozens of labels, most unchanged
    from one redraw to the next.  This renderer keeps the RGBA bitmap of
    each (string, font, colour) -- drawn once by the normal Agg text path on
    a small transparent canvas -- and composites it at the text's position
    rounded to whole pixels.  Rotated and math text take the normal path.
    The cache keeps the ``max_entries`` most recently used bitmaps.
    """

    max_entries = 2048

    def __init__(self, width, height, dpi):
        super().__init__(width, height, dpi)
        self._text_cache: OrderedDict = OrderedDict()

    def text_entry(self, gc, s, prop, mtext=None):
        """The cached (bitmap, baseline x, baseline y, width, height, descent)
        of string ``s`` in font ``prop`` with ``gc``'s colour."""
        key = (s, hash(prop), tuple(gc.get_rgb()), gc.get_alpha(), gc.get_forced_alpha(),
               gc.get_antialiased())
        entry = self._text_cache.get(key)
        if entry is None:
            entry = self._rasterise(gc, s, prop, mtext)
            self._text_cache[key] = entry
            if len(self._text_cache) > self.max_entries:
                self._text_cache.popitem(last=False)
        else:
            self._text_cache.move_to_end(key)
        return entry

    def blit_text(self, gc, entry, x, y) -> None:
        """Composite a cached text with its baseline origin at (x, y), y
        measured down from the top (Agg's text convention)."""
        img, bx, by = entry[:3]
        left = int(round(x)) - bx
        top = int(round(y)) - by
        gc2 = self.new_gc()
        gc2.copy_properties(gc)
        gc2.set_alpha(1.0)          # the bitmap already carries the text's alpha
        self.draw_image(gc2, left, self.height - top - img.shape[0], img)
        gc2.restore()

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath or angle % 360 != 0:
            return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        self.blit_text(gc, self.text_entry(gc, s, prop, mtext), x, y)

    def _rasterise(self, gc, s, prop, mtext):
        w, h, d = self.get_text_width_height_descent(s, prop, ismath=False)
        pad = 2
        width, height = int(np.ceil(w)) + 2 * pad, int(np.ceil(h)) + 2 * pad
        sub = RendererAgg(width, height, self.dpi)
        sgc = sub.new_gc()
        sgc.copy_properties(gc)
        sgc.set_clip_rectangle(None)
        sgc.set_clip_path(None)
        bx, by = pad, height - pad - int(np.ceil(d))
        RendererAgg.draw_text(sub, sgc, bx, by, s, prop, 0, ismath=False, mtext=mtext)
        sgc.restore()
        # RendererAgg.draw_image takes rows bottom-up
        img = np.ascontiguousarray(np.asarray(sub.buffer_rgba())[::-1])
        return img, bx, by, w, h, d


class Label(Text):
    """A one-line, unrotated text that a :class:`TextCacheRenderer` draws
    straight from its bitmap cache, without matplotlib's per-draw text
    layout; any other renderer (PNG/SVG/PDF export, ipympl) draws it as a
    normal :class:`~matplotlib.text.Text`.  Vertical centring uses the
    string's own ink metrics, so it may sit a pixel off the normal path."""

    def draw(self, renderer):
        s = self.get_text()
        if (not isinstance(renderer, TextCacheRenderer) or self.get_rotation() % 360
                or "\n" in s or "$" in s or self.get_usetex() or self.get_bbox_patch() is not None
                or self.get_path_effects()):
            return super().draw(renderer)
        if not self.get_visible() or not s:
            return
        gc = renderer.new_gc()
        gc.set_foreground(self.get_color())
        gc.set_alpha(self.get_alpha())
        gc.set_antialiased(self._antialiased)
        self._set_gc_clip(gc)
        x, y = self.get_transform().transform(self.get_unitless_position())
        entry = renderer.text_entry(gc, s, self._fontproperties, self)
        w, h, d = entry[3:]
        ha, va = self.get_horizontalalignment(), self.get_verticalalignment()
        x0 = x - {"left": 0.0, "center": w / 2, "right": w}.get(ha, 0.0)
        if va == "baseline":
            yb = y
        elif va == "bottom":
            yb = y + d
        elif va == "top":
            yb = y - (h - d)
        else:                                   # center, center_baseline
            yb = y - (h / 2 - d)
        renderer.blit_text(gc, entry, x0, renderer.height - yb)
        gc.restore()
        self.stale = False


class FastTextCanvas(FigureCanvasAgg):
    """An Agg canvas drawing with :class:`TextCacheRenderer`."""

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = (w, h, self.figure.dpi)
        if getattr(self, "_fast_key", None) != key:
            self.renderer = TextCacheRenderer(w, h, self.figure.dpi)
            self._fast_key = key
            self._lastKey = key
        return self.renderer


def png_bytes(rgba) -> bytes:
    """Encode an (H, W, 4) uint8 RGBA image as PNG quickly.

    Pillow tries a filter per row and spends most of its time there; flat
    plot colours compress well unfiltered, so this writes every row with
    filter type 0 and zlib level 1 (PNG specification, W3C, sections 5 and
    11: signature, IHDR, IDAT, IEND chunks with CRC-32).  No time stamps or
    text chunks: the same pixels give the same bytes.
    """
    import struct
    import zlib
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = a.shape[:2]
    raw = np.empty((h, w * 4 + 1), np.uint8)
    raw[:, 0] = 0                                   # filter type: None
    raw[:, 1:] = a.reshape(h, w * 4)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    # IHDR: width, height, bit depth 8, colour type 6 (RGBA), deflate, filter 0, no interlace
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(raw.data, 1)) + chunk(b"IEND", b""))


def legend_html() -> str:
    """The kind colours as an HTML legend (for widgets whose figure has none)."""
    items = []
    for k, label in KIND_LABELS.items():
        bg = KIND_COLORS[k]
        items.append(f'<span style="display:inline-block;width:12px;height:10px;'
                     f'background:{bg};border:1px solid #4d4d4d;margin:0 4px 0 10px"></span>'
                     f'{label}')
    items.append(f'<span style="display:inline-block;width:12px;height:10px;'
                 f'background:{KIND_COLORS["ram"]};opacity:{BAND_ALPHA};border:1px solid #555;'
                 f'margin:0 4px 0 10px"></span>memslot band')
    return '<div style="font-size:11px">' + "".join(items) + "</div>"
