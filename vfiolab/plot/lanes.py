"""Address-space lanes: GPA, HVA (and later HPA, IOVA) side by side.

Each lane is one address space drawn as a column, low addresses at the top
(the order ``info mtree -f`` and the memslot table list them).  Its ranges
are coloured by kind (:mod:`vfiolab.plot.style`); bands join each memslot's
guest range (``guest_phys_addr``, ``memory_size``) on the GPA lane to the
host range it is backed by (``userspace_addr``) on the HVA lane, as KVM
translates them (Linux ``virt/kvm/kvm_main.c`` ``__gfn_to_hva_memslot``:
hva = userspace_addr + (gfn - base_gfn) * PAGE_SIZE).

64-bit address spaces are sparse: a 4 KiB register page, a 1 GiB BAR and
terabytes of nothing.  So each lane gets its own piecewise-linear axis
(:func:`compress_axis`): between two consecutive boundaries the mapping is
linear, occupied pieces get a height growing with the logarithm of their
size from a minimum (so a 4 KiB page keeps room for its label), and every
unoccupied stretch is squeezed to a small fixed height, hatched and marked
with break strokes on the lane's edges.  Heights therefore do not compare
sizes; the labels give the exact hex bounds and sizes.

:func:`draw_lanes` returns a :class:`LanesArtists`; its ``update(data)``
changes the same patches, texts and lines in place (``set_xy``,
``set_bounds``, ``set_text``), adding or removing artists only when the
number of ranges, gaps or bands changes -- which keeps widget redraws fast.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle

from ..addr import PAGE_SIZE, fmt_hex, fmt_size
from ..views import Lane, LanesData
from . import style

__all__ = ["AxisMap", "compress_axis", "draw_lanes", "LanesArtists", "lanes_figure",
           "approx_size", "LANE_WIDTH", "BAND_GAP", "GAP_WEIGHT", "LOG_GAIN"]

#: lane column width and the space between lanes, in data units
LANE_WIDTH = 1.0
BAND_GAP = 0.75
#: height weight of one compressed gap, and of an occupied piece:
#: 1 + LOG_GAIN * log2(size / 4 KiB) (4 KiB -> 1, 1 GiB -> 3.2, 1 TiB -> 4.5)
GAP_WEIGHT = 0.45
LOG_GAIN = 0.12
#: y of the top and bottom of the lanes (the y axis is inverted: low addresses on top)
Y_TOP, Y_BOTTOM = 0.0, 1.0

_EDGE = "#4d4d4d"
_GAP_TEXT = "#6b6b6b"
_MONO = "DejaVu Sans Mono"


# --------------------------------------------------------------------------
# The axis transform
# --------------------------------------------------------------------------

@dataclass
class AxisMap:
    """A monotone piecewise-linear map from addresses to y.

    ``addrs`` are the boundaries (ascending), ``ys`` their y values;
    ``gaps`` the unoccupied stretches that were squeezed, as (start, end)
    with ``end`` exclusive.  Addresses outside the boundaries clamp.
    """

    addrs: list[int] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, addr: int) -> float:
        a = self.addrs
        if not a:
            return float("nan")
        if addr <= a[0]:
            return self.ys[0]
        if addr >= a[-1]:
            return self.ys[-1]
        i = bisect.bisect_right(a, addr) - 1
        lo, hi = a[i], a[i + 1]
        # exact integer arithmetic for the fraction, so 64-bit addresses do not lose bits
        return self.ys[i] + (self.ys[i + 1] - self.ys[i]) * ((addr - lo) / (hi - lo))

    def piece_heights(self) -> list[float]:
        return [self.ys[i + 1] - self.ys[i] for i in range(len(self.ys) - 1)]


def _merge(intervals):
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def compress_axis(ranges, points=(), *, y0: float = Y_TOP, y1: float = Y_BOTTOM,
                  gap_weight: float = GAP_WEIGHT, log_gain: float = LOG_GAIN) -> AxisMap:
    """Build the axis of one lane.

    ``ranges`` are (start, end-exclusive) pairs; ``points`` extra boundaries
    (the ends of bands, so each memslot inside a large host mapping gets a
    visible piece of its own).  Between consecutive boundaries a piece is
    *occupied* when a range covers it, else it is a *gap*.  Weights: an
    occupied piece ``1 + log_gain * log2(size / 4 KiB)`` (at least 1), a gap
    ``gap_weight``; the weights are scaled to fill [y0, y1].
    """
    ranges = [(int(s), int(e)) for s, e in ranges if e > s]
    bounds = {s for s, _ in ranges} | {e for _, e in ranges} | {int(p) for p in points}
    addrs = sorted(bounds)
    if len(addrs) < 2:
        return AxisMap(addrs, [y0] * len(addrs), [])
    union = _merge(ranges)
    ustarts = [u[0] for u in union]

    def covered(a: int, b: int) -> bool:
        i = bisect.bisect_right(ustarts, a) - 1
        return i >= 0 and union[i][0] <= a and b <= union[i][1]

    weights = []
    gaps = []
    for a, b in zip(addrs, addrs[1:]):
        if covered(a, b):
            weights.append(1.0 + log_gain * math.log2(max(b - a, PAGE_SIZE) / PAGE_SIZE))
        else:
            weights.append(gap_weight)
            gaps.append((a, b))
    total = sum(weights)
    ys = [y0]
    acc = 0.0
    for w in weights:
        acc += w
        ys.append(y0 + (y1 - y0) * acc / total)
    ys[-1] = y1
    return AxisMap(addrs, ys, gaps)


def approx_size(value: int) -> str:
    """A size for a gap label: exact (``fmt_size``) when short, else rounded
    with a ``~`` (``~1004M``): the gap is squeezed anyway."""
    exact = fmt_size(value)
    if len(exact) <= 5 and not exact.startswith("0x"):
        return exact
    for suffix, unit in (("E", 1 << 60), ("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30),
                         ("M", 1 << 20), ("K", 1 << 10)):
        if value >= unit:
            v = value / unit
            return f"~{round(v)}{suffix}" if v >= 100 else f"~{v:.1f}{suffix}"
    return exact


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------

#: advance width of DejaVu Sans Mono, in em (1233/2048 font units)
MONO_EM = 0.602


def mono_width_px(text: str, size_pt: float, dpi: float) -> float:
    """Width in pixels of the longest line of ``text`` in DejaVu Sans Mono
    at ``size_pt`` points (every glyph has the same advance)."""
    n = max((len(line) for line in text.split("\n")), default=0)
    return n * MONO_EM * size_pt * dpi / 72.0


def fit_range_label(r, width_px: float, height_px: float, size_pt: float, dpi: float) -> str:
    """The most of a range's label that fits its box on the lane: the whole
    line (name, inclusive hex bounds, size); else two lines (name and size,
    then the bounds) when the box is tall enough; else name and size; else
    the name cut with an ellipsis.  The tables next to each figure give
    every bound exactly."""
    line_px = size_pt * dpi / 72.0 * 1.25
    bounds = f"{fmt_hex(r.start)}-{fmt_hex(r.end - 1)}"
    short = f"{r.name} ({fmt_size(r.size)})"
    cands = [r.label]
    if height_px >= 2 * line_px:
        cands += [f"{short}\n{bounds}", f"{r.name}\n({fmt_size(r.size)}) {bounds}",
                  f"{r.name}\n({fmt_size(r.size)})"]
    cands.append(short)
    for c in cands:
        if mono_width_px(c, size_pt, dpi) <= width_px:
            return c
    n = max(int(width_px / (MONO_EM * size_pt * dpi / 72.0)) - 1, 1)
    return short[:n] + "\u2026" if len(short) > n else short


def _label(ax, **kw):
    """A :class:`~vfiolab.plot.style.Label` (a Text that a fast canvas draws
    from its bitmap cache) added to ``ax`` in data coordinates."""
    t = style.Label(0, 0, "", **kw)
    ax.add_artist(t)
    return t


def _sync(pool: list, n: int, make) -> list:
    """Grow or shrink ``pool`` to ``n`` artists, reusing the ones it has."""
    while len(pool) > n:
        pool.pop().remove()
    while len(pool) < n:
        pool.append(make())
    return pool


@dataclass
class _LaneArtists:
    key: str
    title: object = None
    note: object = None
    frame: object = None
    rects: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    gap_rects: list = field(default_factory=list)
    gap_labels: list = field(default_factory=list)
    breaks: list = field(default_factory=list)

    def artists(self) -> list:
        out = [a for a in (self.title, self.note, self.frame) if a is not None]
        return out + self.rects + self.labels + self.gap_rects + self.gap_labels + self.breaks


class LanesArtists:
    """The artists of :func:`draw_lanes`, updatable in place.

    Attributes: ``lanes`` (key -> per-lane artists: ``rects``, ``labels``,
    ``gap_rects``, ``gap_labels``, ``breaks``, ``title``, ``note``),
    ``bands`` (one Polygon per band), ``band_labels``, ``maps`` (key ->
    :class:`AxisMap`), ``legend`` and ``data`` (the last data drawn).
    """

    def __init__(self, ax, data: LanesData, *, legend: bool = True,
                 band_legend: str | None = None):
        self.ax = ax
        self.band_legend = band_legend
        self.data: LanesData | None = None
        self.lanes: dict[str, _LaneArtists] = {}
        self.bands: list[Polygon] = []
        self.band_labels: list = []
        self.maps: dict[str, AxisMap] = {}
        self.legend = None
        self._keys: list[str] = []
        with style.style_context():
            ax.set_axis_off()
            ax.set_ylim(Y_BOTTOM + 0.005, Y_TOP - 0.03)      # inverted: low addresses on top
            self.update(data)
            if legend:
                self.legend = self._draw_legend()

    # -- geometry -------------------------------------------------------------
    def lane_x(self, key: str) -> float:
        """Left edge of lane ``key``."""
        return self._keys.index(key) * (LANE_WIDTH + BAND_GAP)

    def _set_xlim(self) -> None:
        n = len(self._keys)
        self.ax.set_xlim(-0.02, n * LANE_WIDTH + (n - 1) * BAND_GAP + 0.02)

    # -- public ----------------------------------------------------------------
    def artists(self) -> list:
        out = []
        for la in self.lanes.values():
            out += la.artists()
        return out + self.bands + self.band_labels

    def update(self, data: LanesData) -> None:
        """Redraw for ``data`` by changing the existing artists in place."""
        keys = [ln.key for ln in data.lanes]
        if keys != self._keys:
            for la in self.lanes.values():
                for a in la.artists():
                    a.remove()
            self.lanes = {k: _LaneArtists(k) for k in keys}
            self._keys = keys
            self._set_xlim()
        self.data = data
        points: dict[str, list[int]] = {k: [] for k in keys}
        for b in data.bands:
            if b.src in points:
                points[b.src] += (b.src_start, b.src_start + b.size)
            if b.dst in points:
                points[b.dst] += (b.dst_start, b.dst_start + b.size)
        for lane in data.lanes:
            extra = points[lane.key] + [int(a) for a in getattr(lane, "points", ())]
            if lane.key == "gpa":
                extra = extra + [0]       # the guest-physical space starts at 0
            self.maps[lane.key] = compress_axis([(r.start, r.end) for r in lane.ranges], extra)
            self._update_lane(lane, self.lanes[lane.key], self.maps[lane.key])
        self._update_bands(data)

    def title_top(self) -> float:
        """The y (data units; low addresses on top, so smaller is higher)
        just above the tallest lane title: where a figure title can sit
        without touching them."""
        lines = max((la.title.get_text().count("\n") + 1 for la in self.lanes.values()
                     if la.title is not None), default=1)
        line = style.FONT_SIZE * 1.3 * self._pt / self._px_per_y()
        return Y_TOP - 0.008 - lines * line - 0.3 * line

    def _px_per_x(self) -> float:
        lo, hi = self.ax.get_xlim()
        return self.ax.bbox.width / abs(hi - lo)

    def _px_per_y(self) -> float:
        lo, hi = self.ax.get_ylim()
        return self.ax.bbox.height / abs(hi - lo)

    @property
    def _pt(self) -> float:
        """Pixels per typographic point."""
        return self.ax.figure.dpi / 72.0

    # -- lanes ------------------------------------------------------------------
    def _update_lane(self, lane: Lane, la: _LaneArtists, amap: AxisMap) -> None:
        ax = self.ax
        x0 = self.lane_x(lane.key)
        xc = x0 + LANE_WIDTH / 2
        if la.title is None:
            la.title = ax.text(xc, Y_TOP - 0.008, "", ha="center", va="bottom",
                               fontsize=style.FONT_SIZE, fontweight="bold", gid="lane-title")
            la.frame = Rectangle((x0, Y_TOP), LANE_WIDTH, Y_BOTTOM - Y_TOP, fill=False,
                                 edgecolor="#bbbbbb", linewidth=0.5, zorder=0.5, gid="lane-frame")
            ax.add_patch(la.frame)
        # wrapped to the lane's width (bold sans: under 0.66 em a character)
        chars = max(int(LANE_WIDTH * self._px_per_x()
                        / (0.66 * style.FONT_SIZE * ax.figure.dpi / 72.0)), 12)
        la.title.set_text(style.wrap_label(lane.title, chars))
        la.title.set_x(xc)
        la.frame.set_x(x0)

        # ranges
        def make_rect():
            return ax.add_patch(Rectangle((0, 0), 0, 0, linewidth=0.6, zorder=2))

        def make_label():
            return _label(ax, ha="left", va="center", fontsize=style.LABEL_SIZE,
                          family=_MONO, zorder=5, gid="range-label")

        _sync(la.rects, len(lane.ranges), make_rect)
        _sync(la.labels, len(lane.ranges), make_label)
        px_x, px_y = self._px_per_x(), self._px_per_y()
        dpi = ax.figure.dpi
        for r, rect, text in zip(lane.ranges, la.rects, la.labels):
            ya, yb = amap(r.start), amap(r.end)
            rect.set_bounds(x0, ya, LANE_WIDTH, yb - ya)
            rect.set_facecolor(style.kind_color(r.kind))
            if r.highlight:
                rect.set_edgecolor(style.HIGHLIGHT[0])
                rect.set_linewidth(style.HIGHLIGHT[1])
                rect.set_zorder(3)
            else:
                rect.set_edgecolor(_EDGE)
                rect.set_linewidth(0.6)
                rect.set_zorder(2)
            rect.set_gid(f"range:{r.kind}")
            text.set_position((x0 + 0.025, (ya + yb) / 2))
            # the label stays inside its lane (it would run over the bands and
            # be cut at the figure's edge)
            text.set_text(fit_range_label(r, (LANE_WIDTH - 0.05) * px_x, (yb - ya) * px_y,
                                          style.LABEL_SIZE, dpi))
            text.set_fontweight("bold" if r.highlight else "normal")

        # gaps: hatched, labelled with their size, with break strokes on both edges
        def make_gap():
            return ax.add_patch(Rectangle((0, 0), 0, 0, facecolor=style.KIND_COLORS["reserved"],
                                          edgecolor="none", hatch=style.UNASSIGNED_HATCH,
                                          linewidth=0, zorder=1, gid="gap"))

        def make_gap_label():
            return _label(ax, ha="center", va="center", fontsize=style.SMALL_SIZE,
                          color=_GAP_TEXT, style="italic", zorder=5, gid="gap-label")

        def make_break():
            return ax.add_line(Line2D([], [], color="#333333", linewidth=0.9, zorder=6,
                                      solid_capstyle="butt", gid="axis-break"))

        gaps = amap.gaps
        _sync(la.gap_rects, len(gaps), make_gap)
        _sync(la.gap_labels, len(gaps), make_gap_label)
        _sync(la.breaks, len(gaps), make_break)
        dx, x1 = 0.035, x0 + LANE_WIDTH
        for (a, b), rect, text, brk in zip(gaps, la.gap_rects, la.gap_labels, la.breaks):
            ya, yb = amap(a), amap(b)
            rect.set_bounds(x0, ya, LANE_WIDTH, yb - ya)
            ym = (ya + yb) / 2
            dy = (yb - ya) * 0.18
            xs, ys = [], []
            for xe in (x0, x1):              # two parallel slanted strokes per edge
                for off in (-dy, dy):
                    xs += [xe - dx, xe + dx, float("nan")]
                    ys += [ym + off + dy, ym + off - dy, float("nan")]
            brk.set_data(xs, ys)
            text.set_position((xc, ym))
            text.set_text(f"{approx_size(b - a)} not mapped" if lane.key != "gpa"
                          else f"{approx_size(b - a)} unassigned")
            # only where the squeezed gap is tall enough for the text
            text.set_visible((yb - ya) * self._px_per_y() >= style.SMALL_SIZE * 1.25 * self._pt)

        # an empty lane: its note
        if not lane.ranges:
            if la.note is None:
                la.note = ax.text(xc, (Y_TOP + Y_BOTTOM) / 2, "", ha="center", va="center",
                                  fontsize=style.LABEL_SIZE, color=_GAP_TEXT, wrap=True,
                                  gid="lane-note")
            la.note.set_position((xc, (Y_TOP + Y_BOTTOM) / 2))
            la.note.set_text(lane.note or "empty")
        elif la.note is not None:
            la.note.remove()
            la.note = None

    # -- bands ----------------------------------------------------------------
    def _update_bands(self, data: LanesData) -> None:
        ax = self.ax
        keys = self._keys
        bands = [b for b in data.bands if b.src in keys and b.dst in keys]

        def make_band():
            return ax.add_patch(Polygon([[0, 0]] * 4, closed=True, linewidth=0.5, zorder=1.5,
                                        gid="band"))

        def make_label():
            return _label(ax, ha="left", va="center", fontsize=style.SMALL_SIZE,
                          family=_MONO, zorder=5, gid="band-label")

        _sync(self.bands, len(bands), make_band)
        _sync(self.band_labels, len(bands), make_label)
        for b, poly, text in zip(bands, self.bands, self.band_labels):
            ms, md = self.maps[b.src], self.maps[b.dst]
            xs_l, xd_l = self.lane_x(b.src), self.lane_x(b.dst)
            if xs_l < xd_l:
                xs, xd = xs_l + LANE_WIDTH, xd_l
            else:
                xs, xd = xs_l, xd_l + LANE_WIDTH
            s0, s1 = ms(b.src_start), ms(b.src_start + b.size)
            d0, d1 = md(b.dst_start), md(b.dst_start + b.size)
            poly.set_xy([[xs, s0], [xd, d0], [xd, d1], [xs, s1]])
            color = style.kind_color(b.kind)
            poly.set_facecolor(color)
            poly.set_alpha(style.BAND_ALPHA if not b.highlight else 0.75)
            poly.set_edgecolor(style.HIGHLIGHT[0] if b.highlight else "#555555")
            poly.set_linewidth(1.4 if b.highlight else 0.4)
            text.set_position((xs + 0.02 if xs < xd else xs - 0.02, (s0 + s1) / 2))
            text.set_ha("left" if xs < xd else "right")
            text.set_text(b.label)

    # -- legend -----------------------------------------------------------------
    def _draw_legend(self):
        handles = [Patch(facecolor=style.KIND_COLORS[k], edgecolor=_EDGE, linewidth=0.6,
                         hatch=style.UNASSIGNED_HATCH if k == "reserved" else None,
                         label=style.KIND_LABELS[k]) for k in style.KIND_LABELS]
        handles.append(Patch(facecolor=style.KIND_COLORS["ram"], alpha=style.BAND_ALPHA,
                             edgecolor="#555555", linewidth=0.4,
                             label=self.band_legend
                             or "memslot: guest_phys_addr -> userspace_addr"))
        return self.ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                              ncol=4, frameon=False, fontsize=style.LABEL_SIZE,
                              handlelength=1.6, columnspacing=1.2)


def draw_lanes(ax, data: LanesData, *, legend: bool = True,
               band_legend: str | None = None) -> LanesArtists:
    """Draw ``data`` (from :func:`vfiolab.views.lanes_data`) on ``ax`` and
    return the artists; call ``.update(new_data)`` to redraw in place.
    ``band_legend`` replaces the legend text of the bands (default: the
    memslot translation)."""
    return LanesArtists(ax, data, legend=legend, band_legend=band_legend)


def lanes_figure(data: LanesData, *, pyplot: bool = False, legend: bool = True,
                 fast_text: bool = False, band_legend: str | None = None):
    """A figure of the fixed size for this many lanes, with the lanes drawn:
    returns ``(fig, ax, artists)``.  ``pyplot`` and ``fast_text`` are passed
    to :func:`vfiolab.plot.style.new_figure`."""
    n = len(data.lanes)
    kind = "lanes" if n <= 2 else ("lanes3" if n == 3 else "lanes4")
    fig = style.new_figure(kind, pyplot=pyplot, fast_text=fast_text)
    with style.style_context():
        ax = fig.add_axes((0.01, 0.05, 0.98, 0.91))
        artists = draw_lanes(ax, data, legend=legend, band_legend=band_legend)
    return fig, ax, artists
