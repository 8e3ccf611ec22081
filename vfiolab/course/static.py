"""Kernel-free views: "move the BAR" that still works in static HTML.

:class:`vfiolab.widgets.BarPanel` needs a running kernel: its slider calls
Python, which re-runs the model.  In a page exported with nbconvert (the
course site, ``scripts/build_site.py``) no Python runs, and a slider moves
without changing anything else.  :func:`static_bar_view` therefore runs
the model ahead of time, for a handful of BAR bases, and packs one page
per base into an ``ipywidgets.Stack``; a ``SelectionSlider`` over the same
bases is tied to the stack with ``ipywidgets.jslink``, a link that the
widget manager runs in the browser (``@jupyter-widgets/controls``
``LinkModel``), so the HTML export switches pages with no kernel.

Each page is what a :class:`~vfiolab.widgets.BarPanel` shows after one
action, taken from a fresh copy of the VM *as the firmware left it*: the
guest moves the BAR from the firmware's base straight to that base (the
``how`` given: ``clean`` or ``careless``, see :mod:`vfiolab.model.guest`).
So a page does not depend on the path the reader's slider took.

Size: the lanes PNG of every page is stored in the notebook's widget
state.  The PNGs are reduced to a palette of at most ``max_colors`` colours
(the plots are flat fills, so this loses little) and the number of pages is
capped (:data:`MAX_POSITIONS`), which keeps a view at a few hundred KB.
"""

from __future__ import annotations

import copy
import io
import shlex
from dataclasses import dataclass, field

import ipywidgets as W

from ..addr import fmt_hex, parse_addr
from ..errors import ActionError, VfiolabError
from ..views import html_table

__all__ = ["BarView", "precompute_bar_views", "static_bar_view", "static_dma_view", "choose_positions",
           "shrink_png", "DEFAULT_POSITIONS", "MAX_POSITIONS"]

#: pages precomputed when no positions are given (our choice: enough to show
#: both address windows, small enough for the page budget)
DEFAULT_POSITIONS = 8
#: the most pages one view may hold (each page adds a PNG to the HTML)
MAX_POSITIONS = 16


@dataclass
class BarView:
    """One precomputed page: the BAR moved to ``address``."""

    bdf: str
    bar: int
    address: int
    #: slider label (hex)
    label: str
    #: the firmware's base (where the move starts)
    start: int
    #: lanes figure, palette PNG
    png: bytes
    status_html: str
    memslots_html: str
    events_html: str
    #: guest_phys_addr of every KVM memslot after the move (hex strings)
    memslot_gpas: list[str] = field(default_factory=list)
    #: ops of the events the move caused, in order
    event_ops: list[str] = field(default_factory=list)


def shrink_png(png: bytes, max_colors: int = 64, width: int | None = None) -> bytes:
    """Re-encode a PNG with a palette of at most ``max_colors`` colours
    (median cut, no dithering, so flat fills stay flat and the same pixels
    give the same bytes); ``width`` also scales it down (Lanczos)."""
    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if width and width < im.width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    if max_colors:
        im = im.quantize(max_colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    im.save(out, "PNG", optimize=True)
    return out.getvalue()


def choose_positions(bases: list[int], start: int, n: int) -> list[int]:
    """``n`` bases out of the sorted legal ``bases``, evenly spread over the
    list (so both address windows appear), always including ``start`` (the
    firmware's base); returned sorted."""
    if n < 1:
        raise ActionError(None, "positions", f"need at least one position, got {n}")
    others = [b for b in sorted(set(bases)) if b != start]
    k = min(n - 1, len(others))
    if k <= 0:
        picked = []
    elif k == 1:
        picked = [others[len(others) // 2]]
    else:
        picked = [others[round(i * (len(others) - 1) / (k - 1))] for i in range(k)]
    return sorted(set(picked) | {start})


def _source(source, predict_kwargs):
    if isinstance(source, str):
        source = shlex.split(source)
    if isinstance(source, (list, tuple)):
        from ..predict import predict
        source = predict(list(source), **predict_kwargs)
    if not hasattr(source, "vm"):
        raise VfiolabError(f"static_bar_view: expected a QEMU command line or a Prediction, "
                           f"got {type(source).__name__}")
    return source


def _png(fig) -> bytes:
    """The figure as PNG, drawn as BarPanel draws it (``BarPanel.png``)."""
    from ..plot.style import png_bytes, style_context
    with style_context():
        fig.canvas.draw()
    return png_bytes(fig.canvas.buffer_rgba())


def _status_html(vm, bdf: str, bar: int, note: str = "") -> str:
    """One line as BarPanel's status: programmed base, decoded base, size, decode."""
    from ..model.guest import find_bdf
    from ..model.pci import PCI_COMMAND_MEMORY
    from ..widgets import programmed_base
    dev = find_bdf(vm, bdf)
    r = dev.io_regions[bar]
    where = (f"decoded at <code>{fmt_hex(r.addr)}</code>" if r.mapped
             else "not mapped (decoded nowhere)")
    decode = "on" if dev.command & PCI_COMMAND_MEMORY else "off"
    return (f"<code>{bdf}</code> BAR{bar}: programmed <code>{fmt_hex(programmed_base(dev, bar))}"
            f"</code>, {where}, size <code>{fmt_hex(r.size)}</code>; "
            f"memory decode {decode}{note}")


def precompute_bar_views(source, bdf: str | None = None, bar: int | None = None,
                         positions=DEFAULT_POSITIONS, *, how: str = "clean",
                         lanes=("gpa", "hva"), max_colors: int = 64, png_width: int | None = None,
                         **predict_kwargs) -> list[BarView]:
    """Run the model once per BAR base and keep what the panel would show.

    ``source``: a :class:`~vfiolab.predict.Prediction` or a QEMU command line
    (given to :func:`~vfiolab.predict.predict` with ``predict_kwargs``); it
    is not modified (each page starts from a deep copy).  ``bdf``/``bar``
    default as in :class:`~vfiolab.widgets.BarPanel`.  ``positions``: how
    many bases to pick from the legal ones (:func:`vfiolab.widgets.legal_bases`,
    the firmware's base included), or the bases themselves (ints, hex
    strings, or one string of them separated by commas or spaces), shown
    in the order given.

    No widget is created here: in a kernel every widget opens a comm, and
    nbclient keeps the state of every comm it saw (closed ones too) in the
    notebook, so throw-away panels would end up in the exported page.
    """
    from types import SimpleNamespace

    from ..model.guest import find_bdf, move_bar
    from ..model.pci import PCI_COMMAND_MEMORY
    from ..plot.lanes import lanes_figure
    from ..views import MAPPING_EVENTS, events_frame, lanes_data, memslot_frame
    from ..widgets import BarPanel, legal_bases, programmed_base

    prediction = _source(source, predict_kwargs)
    if how not in ("clean", "careless"):
        raise ActionError(None, "how", f"{how!r}: use 'clean' or 'careless'")
    vm0 = prediction.vm
    # BarPanel's own rules for the default device and BAR (its methods only
    # read .vm), without building its widgets
    probe = SimpleNamespace(vm=vm0)
    if bdf is None:
        choices = BarPanel.device_choices(probe)
        if not choices:
            raise VfiolabError("no PCI function with a memory BAR to move")
        users = [c for c in choices if c[2]]
        bdf = (users or choices)[0][1]
    dev0 = find_bdf(vm0, bdf)
    if bar is None:
        bar = BarPanel.default_bar(probe, bdf)
    if not (0 <= bar < len(dev0.io_regions)) or dev0.io_regions[bar] is None:
        raise ActionError(None, "bar", f"{bdf} has no BAR {bar}")
    start = programmed_base(dev0, bar)

    if isinstance(positions, int) and not isinstance(positions, bool):
        if positions > MAX_POSITIONS:
            raise ActionError(None, "positions", f"{positions} pages asked, at most "
                                                 f"{MAX_POSITIONS} (each adds a PNG to the page)")
        addrs = choose_positions(legal_bases(vm0, bdf, bar), start, positions)
    else:
        if isinstance(positions, str):                # "0xf8000000, 0x800000000"
            positions = positions.replace(",", " ").split()
        try:
            addrs = [parse_addr(a) for a in positions]
        except TypeError:
            raise ActionError(None, "positions", f"expected a count or a list of addresses, "
                                                 f"got {positions!r}") from None
        if not addrs:
            raise ActionError(None, "positions", "the list of addresses is empty")
        if len(addrs) > MAX_POSITIONS:
            raise ActionError(None, "positions", f"{len(addrs)} addresses, at most "
                                                 f"{MAX_POSITIONS}")
        addrs = list(dict.fromkeys(addrs))            # drop repeats, keep the order

    highlight = {dev0.io_regions[bar].memory.name}
    fig = artists = None
    views = []
    for n, addr in enumerate(addrs):
        pred = copy.deepcopy(prediction)              # the firmware's state, every time
        vm = pred.vm
        dev = find_bdf(vm, bdf)
        before = list(vm.memslots())
        n0 = len(vm.events)
        if addr != start:
            # as BarPanel.set_base: with decode off a move is a plain BAR write
            mode = how if dev.command & PCI_COMMAND_MEMORY else "careless"
            move_bar(vm, bdf, bar, addr, how=mode)   # ActionError if not a legal base
            events_caption = (f"what moving BAR{bar} from {fmt_hex(start)} to "
                              f"{fmt_hex(addr)} ({mode}) caused")
            note = ""
        else:
            events_caption = "no guest action: the BAR is where the firmware put it"
            note = " (where the firmware put it)"
        events = vm.events[n0:]
        data = lanes_data(pred, lanes=lanes, highlight=highlight)
        if fig is None:
            fig, _ax, artists = lanes_figure(data, pyplot=False, fast_text=True, legend=False)
        else:
            artists.update(data)
        slots = memslot_frame(vm.memslots(), pred.sections())
        # rows of the memslots this move created (KVM_SET_USER_MEMORY_REGION, size != 0)
        touched = {e.get("slot") for e in events
                   if e.get("op") == "set_user_memory" and e.get("size")}
        rows = [i for i, s in enumerate(slots["slot"]) if s in touched]
        shown = [e for e in events if e.get("op") in MAPPING_EVENTS]
        ev = events_frame(shown, prior_memslots=before)
        views.append(BarView(
            bdf=bdf, bar=bar, address=addr, label=fmt_hex(addr), start=start,
            png=shrink_png(_png(fig), max_colors, png_width),
            status_html=_status_html(vm, bdf, bar, note),
            memslots_html=html_table(slots, table_id=f"vfiolab-static-memslots-{n}",
                                     caption="KVM memslots (highlighted: created by the move)",
                                     highlight_rows=rows),
            events_html=html_table(ev, table_id=f"vfiolab-static-events-{n}",
                                   caption=events_caption),
            memslot_gpas=[str(g) for g in slots["guest_phys_addr"]],
            event_ops=[str(e.get("op")) for e in shown]))
    return views


def static_bar_view(source, bdf: str | None = None, bar: int | None = None,
                    positions=DEFAULT_POSITIONS, *, how: str = "clean", lanes=("gpa", "hva"),
                    max_colors: int = 64, png_width: int | None = None, **predict_kwargs):
    """A slider over precomputed BAR bases that needs no kernel.

    Returns an ``ipywidgets.VBox``: a note, a ``SelectionSlider`` (labels
    are the bases in hex), an ``ipywidgets.Stack`` with one page per base
    (status line, lanes PNG, memslot table, event table) and the colour
    legend.  The slider's ``index`` is ``jslink``-ed to the stack's
    ``selected_index``, so the page follows the slider in JupyterLab and in
    static HTML with the widget state embedded.  Arguments as in
    :func:`precompute_bar_views`.  CSS classes for tests and styling:
    ``vfiolab-static-bar`` (the box), ``vfiolab-static-slider``,
    ``vfiolab-static-stack``, ``vfiolab-static-page``.
    """
    from ..plot.style import legend_html
    views = precompute_bar_views(source, bdf, bar, positions, how=how, lanes=lanes,
                                 max_colors=max_colors, png_width=png_width, **predict_kwargs)
    start_index = next((i for i, v in enumerate(views) if v.address == v.start), 0)
    pages = []
    for v in views:
        page = W.VBox([W.HTML(v.status_html),
                       W.Image(value=v.png, format="png", layout=W.Layout(width="100%")),
                       W.VBox([W.HTML(v.memslots_html), W.HTML(v.events_html)])])
        page.add_class("vfiolab-static-page")
        pages.append(page)
    stack = W.Stack(pages, selected_index=start_index)
    stack.add_class("vfiolab-static-stack")
    slider = W.SelectionSlider(options=[(v.label, v.address) for v in views],
                               index=start_index, description="base",
                               continuous_update=True, layout=W.Layout(width="60%"))
    slider.add_class("vfiolab-static-slider")
    # runs in the browser's widget manager, not in Python: works with no kernel
    W.jslink((slider, "index"), (stack, "selected_index"))
    v0 = views[0]
    note = W.HTML(f"<small>Precomputed: {len(views)} bases of <code>{v0.bdf}</code> "
                  f"BAR{v0.bar}, each moved {how}ly from the firmware's base "
                  f"<code>{fmt_hex(v0.start)}</code>; this slider needs no kernel.</small>")
    box = W.VBox([note, slider, stack, W.HTML(legend_html())])
    box.add_class("vfiolab-static-bar")
    return box


def static_dma_view(source, *, bdf: str | None = None, requests=None, **predict_kwargs):
    """:class:`~vfiolab.widgets.DmaView`'s two states precomputed, switched
    without a kernel.

    The live widget computes each view when its toggle is pressed; here both
    are computed now (by a DmaView, so the pictures and the status line are
    the same), and the ToggleButtons' ``index`` is ``jslink``-ed to an
    ``ipywidgets.Stack`` of the two pages, which the browser's widget
    manager switches by itself.  CSS classes: ``vfiolab-static-dma`` (the
    box), ``vfiolab-static-dma-toggle``, ``vfiolab-static-dma-stack``."""
    from ..widgets import DmaView
    view = DmaView(_source(source, predict_kwargs), requests=requests, bdf=bdf, mode="image")
    pages = []
    for _label, on in DmaView.OPTIONS:
        view.set_viommu(on)
        page = W.VBox([W.HTML(view.status.value),
                       W.Image(value=view.png(), format="png", layout=W.Layout(width="100%"))])
        pages.append(page)
    stack = W.Stack(pages, selected_index=0)
    stack.add_class("vfiolab-static-dma-stack")
    toggle = W.ToggleButtons(options=[label for label, _on in DmaView.OPTIONS], index=0,
                             description="IOMMU", style={"button_width": "auto"})
    toggle.add_class("vfiolab-static-dma-toggle")
    # runs in the browser's widget manager, not in Python: works with no kernel
    W.jslink((toggle, "index"), (stack, "selected_index"))
    note = W.HTML("<small>Both views precomputed; this switch needs no kernel.</small>")
    box = W.VBox([note, toggle, stack])
    box.add_class("vfiolab-static-dma")
    return box

