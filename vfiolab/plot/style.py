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

__all__ = ["PAGE_PX", "PAGE_WIDTH", "PAD_INCHES", "MIN_TEXT_PX", "figure_problems", "wrap_label",
           "KIND_COLORS", "KIND_LABELS", "FIGSIZES", "DPI", "RC", "FONT_SIZE", "LABEL_SIZE",
           "SMALL_SIZE", "HIGHLIGHT", "BAND_ALPHA", "UNASSIGNED_HATCH", "kind_color",
           "hex_formatter", "style_context", "apply_style", "new_figure", "save",
           "show_png", "TextCacheRenderer", "FastTextCanvas", "Label", "png_bytes", "legend_html"]

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

# --------------------------------------------------------------------------
# The page: every figure is drawn for it
# --------------------------------------------------------------------------

#: the width a notebook page gives an output, in pixels (JupyterLab's default
#: notebook width, and the course site's content column): a PNG wider than
#: this is shrunk by the browser, and its text with it
PAGE_PX = 960
DPI = 100
#: show()/save() cut a figure to what is drawn plus this margin (inches)
PAD_INCHES = 0.1
#: the width a figure may have, in inches, so the PNG fits the page
PAGE_WIDTH = (PAGE_PX - 2 * PAD_INCHES * DPI) / DPI
#: the smallest text, in pixels as rendered on the page (at DPI, unshrunk)
MIN_TEXT_PX = 9.0
#: font sizes in points (1 pt = DPI/72 px: 7 pt = 9.7 px at 100 DPI)
FONT_SIZE = 8.5
LABEL_SIZE = 7
SMALL_SIZE = 7
assert SMALL_SIZE * DPI / 72 >= MIN_TEXT_PX

#: fixed figure sizes in inches, by plot; none wider than the page
FIGSIZES = {
    "lanes": (PAGE_WIDTH, 7.5),      # two lanes (GPA, HVA)
    "lanes3": (PAGE_WIDTH, 8.0),     # three lanes
    "lanes4": (PAGE_WIDTH, 8.0),     # four lanes (split into two figures where they are shown)
}

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


def wrap_label(text: str, width: int) -> str:
    """``text`` wrapped at spaces to lines of at most ``width`` characters
    (a word longer than that stays whole)."""
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_long_words=False,
                                   break_on_hyphens=False)) or text


def _drawn_texts(fig) -> list:
    """The Text artists a draw of ``fig`` puts on the page: visible, not
    empty, in a visible axes (tick labels only of axes that draw their axis)."""
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        ax = t.axes
        if ax is not None and not ax.get_visible():
            continue
        out.append(t)
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tk in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((tk.label1, tk.label2))
    drawn_ticks = set()
    for ax in fig.axes:
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():
                continue
            for tk in axis._update_ticks():
                for lab in (tk.label1, tk.label2):
                    if lab.get_visible():
                        drawn_ticks.add(lab)
    return [t for t in out if t not in ticks or t in drawn_ticks]


def figure_problems(fig, *, page_px: int = PAGE_PX, min_text_px: float = MIN_TEXT_PX,
                    tolerance: float = 1.0) -> list[str]:
    """What makes ``fig`` hard to read on the page, as sentences (empty:
    none).  The figure is drawn as :func:`vfiolab.course.helpers.show`
    shows it (cut to what is drawn, :data:`PAD_INCHES` around) and checked:

    * its PNG is no wider than ``page_px`` (else the browser shrinks it);
    * every text is at least ``min_text_px`` pixels high (its font size at
      :data:`DPI`);
    * no two texts' boxes (``Text.get_window_extent``) overlap by more than
      ``tolerance`` pixels each way;
    * no text is clipped: a text drawn with clipping on lies inside its clip
      box.
    """
    problems = []
    with style_context():
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        dpi = fig.dpi
        bbox = fig.get_tightbbox(renderer)
        width_px = (bbox.width + 2 * PAD_INCHES) * dpi
        if width_px > page_px + 0.5:
            problems.append(f"figure is {width_px:.0f} px wide, the page {page_px} px")
        texts = _drawn_texts(fig)
        boxes = []
        for t in texts:
            px = t.get_fontsize() * dpi / 72.0
            label = repr(t.get_text()[:40])
            if px < min_text_px - 1e-6:
                problems.append(f"text {label} is {px:.1f} px high (< {min_text_px})")
            bb = t.get_window_extent(renderer)
            boxes.append((bb, t, label))
            if t.get_clip_on():
                clip = t.get_clip_box()
                if clip is not None and (bb.x0 < clip.x0 - tolerance or bb.x1 > clip.x1 + tolerance
                                         or bb.y0 < clip.y0 - tolerance
                                         or bb.y1 > clip.y1 + tolerance):
                    problems.append(f"text {label} is clipped by its axes")
        # overlaps: sort by left edge, compare with the boxes that start before this one ends
        boxes.sort(key=lambda b: b[0].x0)
        for i, (a, ta, la) in enumerate(boxes):
            for b, tb, lb in boxes[i + 1:]:
                if b.x0 >= a.x1 - tolerance:
                    break
                if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and \
                        min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance:
                    problems.append(f"texts {la} and {lb} overlap")
    return problems


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


def show_png(fig) -> bytes:
    """``fig`` as the PNG a notebook shows: fixed DPI and fonts, no
    metadata, cut to what is drawn with :data:`PAD_INCHES` around (labels
    that run past the axes stay visible); the same bytes on every run."""
    import io
    buf = io.BytesIO()
    with style_context():
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None},
                    bbox_inches="tight", pad_inches=PAD_INCHES)
    return buf.getvalue()


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
