"""Notebook controls (ipywidgets) over the model, the views and the plots.

The third layer (views -> plot -> widgets).  :class:`BarPanel` lets a reader
act as the guest kernel on one BAR: pick a device and a BAR, slide its base
over legal addresses, switch the function's memory decode, and choose how
the BAR is rewritten (``clean``: decode off around the write; ``careless``:
decode left on, low dword first -- :mod:`vfiolab.model.guest`).  Every
action goes through the model's config-space path; the panel then redraws,
in place, the address-space lanes, the memslot table and a table of the
events the action caused (``pci_update_mappings_del``/``_add`` from QEMU
``hw/pci/pci.c`` and ``KVM_SET_USER_MEMORY_REGION`` delete/create from
``accel/kvm/kvm-all.c``).

All logic lives in plain methods (:meth:`BarPanel.set_base`,
:meth:`BarPanel.set_decode`, :meth:`BarPanel.set_how`,
:meth:`BarPanel.select`), so tests and benchmarks drive the panel without a
browser; the widget observers only call them.

How the figure reaches the page (``BarPanel.mode``):

* ``"canvas"`` -- when matplotlib's backend is ipympl (``%matplotlib
  widget``): the figure's canvas is itself a widget, put once into an
  ``ipywidgets.Output``; a redraw updates the artists and calls
  ``fig.canvas.draw_idle()``.
* ``"image"`` -- every other backend (inline, Agg, headless tests): the
  figure is a bare Agg figure (never shown by pyplot), rendered to PNG into
  an ``ipywidgets.Image`` after each update.  This is the default here,
  as ipympl is not a dependency.

Tables are ``ipywidgets.HTML`` widgets whose ``value`` is assigned (no
``with output:`` capture, which nbclient can stall on).
"""

from __future__ import annotations

import shlex

import ipywidgets as W
import matplotlib

from .addr import GiB, align_up, fmt_hex, fmt_size, pow2ceil
from .errors import VfiolabError
from .model.guest import find_bdf, move_bar, set_decode
from .model.pci import (PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
                        PCI_COMMAND_MEMORY, PCI_ROM_SLOT)
from .views import MAPPING_EVENTS, events_frame, html_table, lanes_data, memslot_frame

__all__ = ["BarPanel", "ConfigExplorer", "DmaView", "legal_bases", "bar_windows",
           "figure_mode"]

#: SeaBIOS src/fw/pciinit.c: BUILD_PCIMEM_END, the end of the 32-bit window
#: (the I/O APIC sits at 0xfec00000)
PCIMEM_END = 0xFEC00000
#: QEMU target/i386/cpu.c x86_cpu_realizefn: phys-bits defaults to
#: TCG_PHYS_ADDR_BITS (40) for CPU models other than host/max
DEFAULT_PHYS_BITS = 40
#: the panel's own choices (not firmware rules): how many bases a slider
#: offers per window, and the least span offered above 4 GiB
MAX_OPTIONS = 64
MIN_SPAN64 = 64 * GiB


def figure_mode(backend: str | None = None) -> str:
    """``"canvas"`` for the ipympl backend, ``"image"`` for anything else."""
    if backend is None:
        try:                                    # do not make matplotlib pick one
            backend = matplotlib.get_backend(auto_select=False)
        except TypeError:                       # matplotlib < 3.10
            backend = matplotlib.rcParams["backend"]
        backend = backend if isinstance(backend, str) else ""
    b = backend.lower()
    return "canvas" if ("ipympl" in b or b == "widget") else "image"


# --------------------------------------------------------------------------
# Where a BAR may go
# --------------------------------------------------------------------------

def bar_windows(vm, is64: bool, size: int, phys_bits: int = DEFAULT_PHYS_BITS):
    """The address windows the panel offers for a memory BAR, as (lo, hi).

    * 32-bit: SeaBIOS's 32-bit PCI window [pcimem_start, pcimem_end)
      (``src/fw/pciinit.c`` ``i440fx_mem_addr_setup``: 0x80000000 or
      0xc0000000 above the RAM end; ``mch_mem_addr_setup``: above the q35
      ECAM; ``BUILD_PCIMEM_END`` 0xfec00000), as the model's firmware run
      computed it (``vm.firmware.root``).
    * 64-bit BARs also get a range above 4 GiB: the firmware's 64-bit window
      when it opened one, otherwise where SeaBIOS 1.16.2 would start it
      (``pci_bios_map_devices``: 4 GiB + the RAM above 4 GiB).  Since such a
      window is often exactly one BAR long, the panel widens it to at least
      max(64 GiB, 64 x size) -- a teaching choice -- below the guest's
      physical address limit (2^phys_bits).
    """
    root = getattr(getattr(vm, "firmware", None), "root", None)
    split = getattr(vm, "ram_split", None)
    below = split.below_4g if split is not None else vm.ram_size
    above = split.above_4g if split is not None else 0
    if root is not None and root.pcimem_start:
        w32 = (root.pcimem_start, root.pcimem_end or PCIMEM_END)
    else:
        w32 = (align_up(below, 0x10000000), PCIMEM_END)
    out = [w32]
    if is64:
        limit = 1 << phys_bits
        if root is not None and root.mem64_used and root.mem64_start:
            lo, hi = root.mem64_start, max(root.mem64_end, root.mem64_start)
        else:
            lo = hi = (1 << 32) + above
        span = max(MIN_SPAN64, 64 * size)
        if hi - lo < span:
            hi = lo + span
            if hi > limit:
                hi = limit
                lo = max((1 << 32) + above, hi - span)
        out.append((lo, hi))
    return out


def legal_bases(vm, bdf: str, bar: int, *, max_options: int = MAX_OPTIONS,
                phys_bits: int = DEFAULT_PHYS_BITS) -> list[int]:
    """Size-aligned bases for BAR ``bar`` of ``bdf`` that overlap no other
    mapped memory BAR, at most about ``max_options`` per window (evenly
    spaced, each still a multiple of the BAR size, as the PCI spec makes the
    low bits of a BAR read-only), plus the BAR's current base."""
    dev = find_bdf(vm, bdf)
    r = dev.io_regions[bar]
    size = r.size
    is64 = bool(r.type & PCI_BASE_ADDRESS_MEM_TYPE_64)
    others = []
    for d in vm.pci_devices():
        for o in d.bars():
            if o.type & PCI_BASE_ADDRESS_SPACE_IO or not o.mapped or (d is dev and o.index == bar):
                continue
            others.append((o.addr, o.addr + o.size))
    out = set()
    for lo, hi in bar_windows(vm, is64, size, phys_bits):
        span = hi - lo
        if span < size:
            continue
        step = max(size, pow2ceil(-(-span // max_options)))
        a = align_up(lo, step)
        while a + size <= hi:
            if not any(a < e and s < a + size for s, e in others):
                out.add(a)
            a += step
    cur = programmed_base(dev, bar)
    if cur:
        out.add(cur)
    return sorted(out)


def programmed_base(dev, bar: int) -> int:
    """The address in the BAR registers (what the guest wrote), mapped or not."""
    off = dev.bar_offset(bar)
    low = int.from_bytes(dev.config[off:off + 4], "little")
    r = dev.io_regions[bar]
    if r.type & PCI_BASE_ADDRESS_SPACE_IO:
        return low & ~0x3
    addr = low & ~0xF
    if r.type & PCI_BASE_ADDRESS_MEM_TYPE_64:
        addr |= int.from_bytes(dev.config[off + 4:off + 8], "little") << 32
    return addr


# --------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------

def _with_plain(bundle, text: str):
    """A widget's mime bundle with ``text`` as its ``text/plain`` form.

    JupyterLab renders the widget view only for a trusted notebook with a
    kernel that knows the widget; a notebook opened fresh from disk shows the
    ``text/plain`` form instead, which for an ipywidgets box is the repr of
    every child (``VBox(children=(...``).  This says what the widget is and
    how to get it."""
    if isinstance(bundle, tuple):
        data, meta = bundle
    else:
        data, meta = bundle, None
    data = dict(data or {})
    data["text/plain"] = text
    return (data, meta) if meta is not None else data


class BarPanel:
    """Move one BAR and watch QEMU and KVM follow (see the module docstring).

    ``source`` is a :class:`~vfiolab.predict.Prediction`, or a QEMU command
    line (list or string) given to :func:`vfiolab.predict.predict` with
    ``predict_kwargs``.  ``lanes`` picks the lanes drawn; ``trace_config``
    also lists the config-space writes of each action; ``mode`` forces
    ``"image"`` or ``"canvas"`` (default: :func:`figure_mode`).
    """

    def __init__(self, source, *, lanes=("gpa", "hva"), trace_config: bool = False,
                 mode: str | None = None, bdf: str | None = None, bar: int | None = None,
                 phys_bits: int = DEFAULT_PHYS_BITS, **predict_kwargs):
        if isinstance(source, str):
            source = shlex.split(source)
        if isinstance(source, (list, tuple)):
            from .predict import predict
            source = predict(list(source), **predict_kwargs)
        self.prediction = source
        self.vm = source.vm
        self.vm.trace_config = trace_config
        self.lane_keys = tuple(lanes)
        self.phys_bits = phys_bits
        self.how = "clean"
        self.mode = mode or figure_mode()
        #: events of the last action (all of them, config accesses included)
        self.last_events: list[dict] = []
        self._memslots_before = list(self.vm.memslots())
        self._busy = False
        self._touched_slots: set[int] = set()

        choices = self.device_choices()
        if not choices:
            raise VfiolabError("no PCI function with a memory BAR to move")
        if bdf is None:
            users = [c for c in choices if c[2]]
            bdf = (users or choices)[0][1]
        self.bdf = bdf
        self.bar = bar if bar is not None else self.default_bar(bdf)
        self._build_widgets(choices)
        self._build_figure()
        self.refresh()

    # -- choices --------------------------------------------------------------
    def device_choices(self):
        """(label, bdf, user-created) for each function with a memory BAR."""
        out = []
        for dev in self.vm.pci_devices():
            if any(not r.type & PCI_BASE_ADDRESS_SPACE_IO and r.index != PCI_ROM_SLOT
                   for r in dev.bars()):
                bdf = f"{dev.bus.number:02x}:{dev.slot:02x}.{dev.func:x}"
                name = dev.qdev_id or dev.type_name
                label = f"{bdf} {name}" + (f" ({dev.type_name})" if dev.qdev_id else "")
                out.append((label, bdf, bool(dev.qdev_id)))
        return out

    def bar_choices(self, bdf: str | None = None):
        """(label, index) for each memory BAR of ``bdf`` (the ROM BAR excluded)."""
        dev = find_bdf(self.vm, bdf or self.bdf)
        out = []
        for r in dev.bars():
            if r.type & PCI_BASE_ADDRESS_SPACE_IO or r.index == PCI_ROM_SLOT:
                continue
            pf = " pref" if r.prefetch else ""
            out.append((f"BAR{r.index} {r.kind}{pf} {fmt_size(r.size)}", r.index))
        return out

    def default_bar(self, bdf: str) -> int:
        """The largest memory BAR (a 64-bit one on a tie)."""
        dev = find_bdf(self.vm, bdf)
        bars = [r for r in dev.bars()
                if not r.type & PCI_BASE_ADDRESS_SPACE_IO and r.index != PCI_ROM_SLOT]
        return max(bars, key=lambda r: (r.size, bool(r.type & PCI_BASE_ADDRESS_MEM_TYPE_64),
                                        -r.index)).index

    @property
    def device(self):
        return find_bdf(self.vm, self.bdf)

    @property
    def region(self):
        return self.device.io_regions[self.bar]

    def candidates(self) -> list[int]:
        return legal_bases(self.vm, self.bdf, self.bar, phys_bits=self.phys_bits)

    @property
    def base(self) -> int:
        """The base programmed in the BAR now."""
        return programmed_base(self.device, self.bar)

    @property
    def decode(self) -> bool:
        return bool(self.device.command & PCI_COMMAND_MEMORY)

    # -- actions (plain methods; the widgets call these) -------------------------
    @property
    def mmu(self):
        """KVM's MMU for this VM (vfiolab.model.ept.Mmu), made on first use."""
        if getattr(self, "_mmu", None) is None:
            from .model.ept import Mmu
            self._mmu = Mmu(self.vm)
        return self._mmu

    def _act(self, fn) -> list[dict]:
        n0 = len(self.vm.events)
        self._memslots_before = list(self.vm.memslots())
        fn()
        # the guest then touches the BAR's first byte: EPT fills it lazily if
        # a memslot backs it, or the access exits to QEMU (vfiolab.model.ept)
        r = self.region
        self.last_touch = self.mmu.access(r.addr, "read") if r.mapped else []
        self.last_events = self.vm.events[n0:]
        self.refresh()
        return self.last_events

    def mmu_iommu_html(self) -> str:
        """EPT counters and, with a passthrough device, the IOMMU map list."""
        st = self.mmu.stats()
        def where(e) -> str:
            # a frame number is gpa >> 12 (Linux arch/x86/kvm/mmu: gfn_to_gpa):
            # print the guest-physical address, never the frame number as one
            if "gfn" in e:
                g = e["gfn"] if isinstance(e["gfn"], int) else int(str(e["gfn"]), 16)
                return f"GPA {fmt_hex(g << 12)}"
            return f"GPA {e['gpa'] if isinstance(e.get('gpa'), str) else fmt_hex(e.get('gpa', 0))}"

        touch = "; ".join(
            f"{e['op']} {where(e)}"
            + (f" level {e['level']} {e.get('memtype', '')}" if e["op"] == "map" else "")
            + (f" -> {e['region']}" if e["op"] == "exit_mmio" else "")
            for e in getattr(self, "last_touch", []) if e.get("op") in ("map", "mmio", "exit_mmio"))
        leaves = ", ".join(f"{k}: {v}" for k, v in st["leaves"].items())
        parts = [f"<b>EPT</b> leaves {leaves}; MMIO SPTEs {st['mmio_sptes']}; "
                 f"zaps {st['zaps']} ({st['zapped_entries']} entries); refaults {st['refaults']}"
                 + (f"<br>touching the BAR: {touch}" if touch else "")]
        vfio = getattr(self.vm, "vfio", None)
        container = getattr(vfio, "container", None) if vfio is not None else None
        if container is not None:
            from .views import iommu_maps
            rows = "".join(f"<tr><td><code>{fmt_hex(m.iova)}</code></td><td><code>{fmt_hex(m.size)}"
                           f"</code></td><td>{m.name}</td></tr>" for m in iommu_maps(container))
            parts.append("<b>IOMMU map list</b> (IOVA = GPA)<table><tr><th>iova</th><th>size</th>"
                         f"<th>what</th></tr>{rows}</table>")
        return "<br>".join(parts)

    def set_base(self, addr: int) -> list[dict]:
        """Program the BAR to ``addr`` the chosen way; returns the events.

        With memory decode off, both ways are the same plain BAR write (the
        BAR stays unmapped; nothing else happens) -- the model's
        ``move_bar(..., how="careless")`` writes just the BAR dwords.
        """
        how = self.how if self.decode else "careless"
        events = self._act(lambda: move_bar(self.vm, self.bdf, self.bar, addr, how=how))
        self._sync_widgets()
        return events

    def set_decode(self, on: bool) -> list[dict]:
        """Set or clear the function's memory-space enable (COMMAND bit 1):
        QEMU maps or unmaps every memory BAR of the function."""
        dev = self.device
        events = self._act(lambda: set_decode(self.vm, dev, on))
        self._sync_widgets()
        return events

    def set_how(self, how: str) -> None:
        if how not in ("clean", "careless"):
            raise VfiolabError(f"how: {how!r}: use 'clean' or 'careless'")
        self.how = how
        self._sync_widgets()

    def select(self, bdf: str | None = None, bar: int | None = None) -> None:
        """Pick another device and/or BAR (no guest action)."""
        if bdf is not None and bdf != self.bdf:
            find_bdf(self.vm, bdf)
            self.bdf = bdf
            self.bar = self.default_bar(bdf) if bar is None else bar
        elif bar is not None:
            self.bar = bar
        if self.bar not in [i for _, i in self.bar_choices()]:
            raise VfiolabError(f"{self.bdf} has no memory BAR {self.bar}")
        self.last_events = []
        self.refresh()
        self._sync_widgets()

    # -- frames ------------------------------------------------------------------
    def memslot_table(self):
        return memslot_frame(self.vm.memslots(), self.prediction.sections())

    def events_table(self):
        shown = [e for e in self.last_events
                 if e.get("op") in MAPPING_EVENTS or self.vm.trace_config]
        return events_frame(shown, prior_memslots=self._memslots_before)

    # -- drawing -----------------------------------------------------------------
    def lanes(self):
        return lanes_data(self.prediction, lanes=self.lane_keys,
                          highlight={self.region.memory.name})

    def refresh(self) -> None:
        """Redraw the lanes (in place) and refill both tables."""
        self.artists.update(self.lanes())
        self._render()
        slots = self.memslot_table()
        touched = {e.get("slot") for e in self.last_events
                   if e.get("op") == "set_user_memory" and e.get("size")}
        rows = [i for i, s in enumerate(slots["slot"]) if s in touched]
        self.memslot_html.value = html_table(slots, table_id="vfiolab-barpanel-memslots",
                                             caption="KVM memslots (highlighted: created by "
                                                     "the last action)",
                                             highlight_rows=rows)
        ev = self.events_table()
        cap = "what the last action caused" if len(ev) else "the last action changed no mapping"
        self.events_html.value = html_table(ev, table_id="vfiolab-barpanel-events", caption=cap)
        self.status.value = self._status_text()
        self.mmu_html.value = self.mmu_iommu_html()

    def _status_text(self) -> str:
        r = self.region
        # pci_bar_address gives PCI_BAR_UNMAPPED with decode off or an address
        # it refuses (QEMU hw/pci/pci.c): then the BAR is mapped nowhere
        where = (f"decoded at <code>{fmt_hex(r.addr)}</code>" if r.mapped
                 else "not mapped (decoded nowhere)")
        return (f"<code>{self.bdf}</code> BAR{self.bar}: programmed "
                f"<code>{fmt_hex(self.base)}</code>, {where}, "
                f"size <code>{fmt_hex(r.size)}</code>; memory decode "
                f"{'on' if self.decode else 'off'}")

    def _build_figure(self) -> None:
        from .plot.lanes import lanes_figure
        from .plot.style import legend_html
        data = self.lanes()
        # the legend is HTML next to the figure: a static legend would be
        # redrawn with every frame
        self.fig, self.ax, self.artists = lanes_figure(data, pyplot=self.mode == "canvas",
                                                       fast_text=self.mode == "image",
                                                       legend=False)
        self.legend_html = W.HTML(legend_html())
        if self.mode == "canvas":
            self.figure_widget = W.Output()
            # displayed once; later redraws only touch artists and draw_idle
            self.figure_widget.append_display_data(self.fig.canvas)
        else:
            self.figure_widget = W.Image(format="png", layout=W.Layout(width="100%"))

    def _render(self) -> None:
        if self.mode == "canvas":
            self.fig.canvas.draw_idle()
        else:
            self.figure_widget.value = self.png()

    def png(self) -> bytes:
        """The figure as PNG (Agg with cached text bitmaps, fast encoder:
        the image is re-rendered on every action)."""
        from .plot.style import png_bytes, style_context
        canvas = self.fig.canvas
        with style_context():
            canvas.draw()
        return png_bytes(canvas.buffer_rgba())

    # -- widgets -----------------------------------------------------------------
    def _build_widgets(self, choices) -> None:
        self.device_dd = W.Dropdown(options=[(lab, b) for lab, b, _ in choices], value=self.bdf,
                                    description="device")
        self.bar_dd = W.Dropdown(options=self.bar_choices(), value=self.bar, description="BAR")
        self.base_slider = W.SelectionSlider(options=[("0x0", 0)], description="base",
                                             continuous_update=False,
                                             layout=W.Layout(width="60%"))
        self.decode_tb = W.ToggleButton(value=self.decode, description="memory decode",
                                        tooltip="COMMAND register bit 1 (memory space enable)")
        self.how_tb = W.ToggleButtons(options=["clean", "careless"], value=self.how,
                                      description="how",
                                      tooltips=["decode off, write the BAR, decode on",
                                                "decode on, low dword then high dword"])
        self.status = W.HTML()
        self.mmu_html = W.HTML()
        self.memslot_html = W.HTML()
        self.events_html = W.HTML()
        self._set_slider_options()
        self.device_dd.observe(self._on_device, names="value")
        self.bar_dd.observe(self._on_bar, names="value")
        self.base_slider.observe(self._on_base, names="value")
        self.decode_tb.observe(self._on_decode, names="value")
        self.how_tb.observe(self._on_how, names="value")

    @property
    def widget(self):
        if not hasattr(self, "_box"):
            controls = W.VBox([W.HBox([self.device_dd, self.bar_dd]), self.base_slider,
                               W.HBox([self.decode_tb, self.how_tb]), self.status])
            # stacked, not side by side: the event table is wide and would be clipped
            tables = W.VBox([self.memslot_html, self.events_html])
            self._box = W.VBox([controls, self.figure_widget, self.legend_html, tables,
                                self.mmu_html])
        return self._box

    def _repr_mimebundle_(self, **kwargs):
        return _with_plain(self.widget._repr_mimebundle_(**kwargs),
                           f"BarPanel: move BAR{self.bar} of {self.bdf}. It needs a running "
                           "kernel: run the notebook (Run > Run All Cells) to use it.")

    def _set_slider_options(self) -> None:
        opts = [(fmt_hex(a), a) for a in self.candidates()]
        if list(self.base_slider.options) != opts:    # resend only when they change
            self.base_slider.options = opts
        cur = self.base
        if self.base_slider.value != cur and cur in [a for _, a in opts]:
            self.base_slider.value = cur

    def _sync_widgets(self) -> None:
        """Bring the controls in line with the model without acting again."""
        self._busy = True
        try:
            if self.device_dd.value != self.bdf:
                self.device_dd.value = self.bdf
            opts = self.bar_choices()
            if list(self.bar_dd.options) != opts:
                self.bar_dd.options = opts
            if self.bar_dd.value != self.bar:
                self.bar_dd.value = self.bar
            self._set_slider_options()
            self.decode_tb.value = self.decode
            self.how_tb.value = self.how
        finally:
            self._busy = False

    def _guard(self, fn, *args) -> None:
        if self._busy:
            return
        try:
            fn(*args)
        except VfiolabError as exc:
            self.status.value = f"<b>refused:</b> {exc}"
            self._sync_widgets()

    def _on_device(self, change):
        self._guard(self.select, change["new"], None)

    def _on_bar(self, change):
        self._guard(self.select, None, change["new"])

    def _on_base(self, change):
        self._guard(self.set_base, change["new"])

    def _on_decode(self, change):
        self._guard(self.set_decode, change["new"])

    def _on_how(self, change):
        self._guard(self.set_how, change["new"])


class ConfigExplorer:
    """Pick a config register of a passed-through device; see its value and
    who owns each bit: QEMU (emulated), the kernel's vfio-pci (virtualized)
    or the device (see :func:`vfiolab.model.vfio.config_owners`).

    ``select(name)`` is the callback, callable without a browser.
    """

    def __init__(self, vfio_dev):
        import ipywidgets as w
        from .model.vfio import config_owners
        from .views import config_frame
        self.dev = vfio_dev
        self.frame = config_frame(vfio_dev)
        self.owners = {r["offset"]: r for r in config_owners(vfio_dev)}
        names = list(self.frame["register"])
        self.dropdown = w.Dropdown(options=names, value=names[0], description="register")
        self.out = w.HTML()
        self.dropdown.observe(lambda ch: self.select(ch["new"]), names="value")
        self.widget = w.VBox([self.dropdown, self.out])
        self.select(names[0])

    def bits(self, name: str) -> list[tuple[int, int, str]]:
        """(bit number, value, owner) for every bit of register ``name``."""
        row = self.frame[self.frame["register"] == name].iloc[0]
        off, width = int(row["offset"], 16), int(row["width"])
        out = []
        for byte in range(off, off + min(width, 4)):
            o = self.owners.get(byte)
            val = self.dev.config_read(byte, 1)
            for b in range(8):
                emulated = o is not None and o["emulated_mask"] >> b & 1
                owner = "qemu" if emulated else ("kernel" if o and o["kernel"] else "device")
                out.append(((byte - off) * 8 + b, val >> b & 1, owner))
        return out

    def select(self, name: str) -> str:
        row = self.frame[self.frame["register"] == name].iloc[0]
        bits = self.bits(name)
        colours = {"qemu": "#8cc4ec", "kernel": "#f6cd84", "device": "#9ad9b0"}
        cells = "".join(
            f'<td title="bit {n}: {who}" style="background:{colours[who]};'
            f'font-family:monospace;padding:1px 3px">{v}</td>'
            for n, v, who in reversed(bits))
        html = (f"<b>{name}</b> at {row['offset']} = <code>{row['value']}</code> "
                f"(owner: {row['owner']})<table><tr>{cells}</tr></table>"
                "<small>bits high to low; blue: QEMU emulates, yellow: the kernel's "
                "vfio-pci virtualizes, green: the device</small>")
        self.out.value = html
        return html


class DmaView:
    """A passed-through device's DMA, with and without a vIOMMU
    (:mod:`vfiolab.plot.iommu`): a ToggleButtons switches the view between
    the VFIO container's maps at IOVA = GPA and a vIOMMU
    (``intel-iommu,caching-mode=on``) whose guest mappings QEMU shadows.

    ``source`` is a :class:`~vfiolab.predict.Prediction` (or a command line
    for :func:`vfiolab.predict.predict` with ``predict_kwargs``) with a
    vfio-pci device.  ``requests`` are (iova, access) pairs for the view
    without vIOMMU (default :func:`vfiolab.plot.iommu.default_requests`);
    the vIOMMU view uses :func:`vfiolab.plot.iommu.example_shadow`.  Each
    view's DMA requests are performed once, when first shown.
    ``bus_master`` (default on) first sets the device's Bus Master Enable,
    as its guest driver would (:func:`vfiolab.model.guest.set_bus_master`);
    with it off every request shows as not issued.
    :meth:`set_viommu` is the callback (callable without a browser);
    ``mode`` as in :class:`BarPanel`.
    """

    OPTIONS = (("no vIOMMU: IOVA = GPA", False), ("vIOMMU: guest IOVA, QEMU shadow", True))

    def __init__(self, source, *, requests=None, viommu: bool = False, mode: str | None = None,
                 bdf: str | None = None, bus_master: bool = True, **predict_kwargs):
        if isinstance(source, str):
            source = shlex.split(source)
        if isinstance(source, (list, tuple)):
            from .predict import predict
            source = predict(list(source), **predict_kwargs)
        self.prediction = source
        self.vm = getattr(source, "vm", source)
        if bus_master:
            from .model.guest import set_bus_master
            from .plot.iommu import vfio_device
            set_bus_master(self.vm, vfio_device(self.vm, bdf)[1])
        self.requests = requests
        self.bdf = bdf
        self.mode = mode or figure_mode()
        self.viommu = bool(viommu)
        self._data: dict[bool, object] = {}
        self._busy = False
        self.toggle = W.ToggleButtons(options=list(self.OPTIONS), value=self.viommu,
                                      description="IOMMU",
                                      tooltips=["QEMU maps guest RAM and BARs at IOVA = GPA",
                                                "the guest's driver picks IOVAs; QEMU copies "
                                                "each guest mapping into the host container"])
        self.status = W.HTML()
        self.fig = None
        self.artists = None
        if self.mode == "canvas":
            self.figure_widget = W.Output()
        else:
            self.figure_widget = W.Image(format="png", layout=W.Layout(width="100%"))
        self.toggle.observe(self._on_toggle, names="value")
        self.refresh()

    def data(self, viommu: bool | None = None):
        """The :class:`vfiolab.plot.iommu.DmaViewData` of one view (built,
        and its DMA requests performed, the first time only)."""
        from .plot.iommu import dma_view_data
        v = self.viommu if viommu is None else bool(viommu)
        if v not in self._data:
            self._data[v] = dma_view_data(self.prediction, None if v else self.requests,
                                          viommu=v, bdf=self.bdf)
        return self._data[v]

    def set_viommu(self, on: bool):
        """Show the view with (``True``) or without a vIOMMU; returns the
        new :class:`vfiolab.plot.iommu.DmaViewArtists`."""
        self.viommu = bool(on)
        if self.toggle.value != self.viommu:
            self._busy = True
            try:
                self.toggle.value = self.viommu
            finally:
                self._busy = False
        self.refresh()
        return self.artists

    def refresh(self) -> None:
        """Draw the current view on a new figure (the lane count differs
        between the two views) and publish it."""
        from .plot.iommu import dma_view_figure
        data = self.data()
        if self.fig is not None and self.mode == "canvas":
            import matplotlib.pyplot as plt
            plt.close(self.fig)
        self.fig, self.ax, self.artists = dma_view_figure(data, pyplot=self.mode == "canvas",
                                                          fast_text=self.mode == "image")
        hits = data.hits
        ok = sum(1 for h in hits if h.op == "dma")
        faults = sum(1 for h in hits if h.fault)
        msi = len(hits) - ok - faults
        self.status.value = (f"{len(hits)} DMA requests: {ok} reached memory, {faults} "
                             f"faulted, {msi} interrupt request{'' if msi == 1 else 's'}")
        if self.mode == "canvas":
            self.figure_widget.outputs = ()
            self.figure_widget.append_display_data(self.fig.canvas)
        else:
            self.figure_widget.value = self.png()

    def png(self) -> bytes:
        from .plot.style import png_bytes, style_context
        canvas = self.fig.canvas
        with style_context():
            canvas.draw()
        return png_bytes(canvas.buffer_rgba())

    def _on_toggle(self, change):
        if self._busy:
            return
        try:
            self.set_viommu(change["new"])
        except VfiolabError as exc:
            self.status.value = f"<b>refused:</b> {exc}"

    @property
    def widget(self):
        if not hasattr(self, "_box"):
            self._box = W.VBox([self.toggle, self.status, self.figure_widget])
        return self._box

    def _repr_mimebundle_(self, **kwargs):
        return _with_plain(self.widget._repr_mimebundle_(**kwargs),
                           "DmaView: the device's DMA with and without a vIOMMU. It needs a "
                           "running kernel: run the notebook (Run > Run All Cells) to use it.")
