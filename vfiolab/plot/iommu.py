"""A passed-through device's DMA: the IOMMU's mappings as bands, DMA requests drawn.

**Without a vIOMMU** (the common case): QEMU's VFIO listener sits on the
guest's address space "memory" and maps every RAM section at IOVA = its
guest-physical address (QEMU 7.2 ``hw/vfio/common.c``
``vfio_listener_region_add`` -> ``VFIO_IOMMU_MAP_DMA``); the kernel pins the
pages and fills the IOMMU page table (Linux
``drivers/vfio/vfio_iommu_type1.c`` ``vfio_pin_map_dma``).  The view has
two lanes, IOVA (= GPA) and HPA, one band per contiguous run the IOMMU maps
(:func:`vfiolab.views.iommu_maps`), labelled with the IOMMU page sizes used.

**With a vIOMMU** (``-device intel-iommu,caching-mode=on``;
:class:`vfiolab.model.iommu.VtdShadow`): the guest's driver picks IOVAs and
writes its own VT-d entries IOVA -> GPA; QEMU, notified of each one
(``vfio_iommu_map_notify``), looks up the host pointer of the GPA
(``memory_get_xlat_addr``) and maps IOVA -> that HVA in the host container,
which the kernel resolves to the HPA.  Four lanes: IOVA -> GPA (the
guest's layer), GPA -> HVA (QEMU's shadow lookup), HVA -> HPA (the host's
page tables); the host IOMMU table itself maps IOVA -> HPA directly, drawn
as dashed arcs for each DMA that hits.

DMA requests come from the device on the left.  A hit follows the IOMMU to
its HPA and ends on guest RAM or, peer to peer, on a BAR's host MMIO; a
fault (VT-d fault reasons 0x4/0x5/0x6, Linux ``dmar_fault_do_one``) is a red
cross on the IOVA lane with its reason; a write to 0xfee00000-0xfeefffff is
an interrupt request, not translated (VT-d spec 3.14).

:func:`dma_view_data` builds plain data (it *performs* the requests through
the model, so fault records accumulate in :func:`vfiolab.model.iommu.iommu_for`
or the shadow); :func:`draw_dma_view` draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from ..addr import fmt_hex
from ..errors import ActionError, VfiolabError
from ..model.iommu import MSI_RANGE_START, VtdShadow, iommu_for
from ..model.pci import PCI_BASE_ADDRESS_SPACE_IO, PCI_ROM_SLOT
from ..views import LANE_TITLES, Band, Lane, LaneRange, LanesData, iommu_maps, lanes_from_records
from . import style
from .lanes import LANE_WIDTH, draw_lanes

__all__ = ["DmaHit", "DmaViewData", "DmaViewArtists", "dma_view_data", "draw_dma_view",
           "dma_view_figure", "dma_view_figures", "guest_side", "host_side", "draw_host_side", "default_requests", "example_shadow", "vfio_device",
           "HIT_COLORS"]

#: marker colours of a DMA's end
HIT_COLORS = {"ram": "#1f7a43", "bar": "#1f5f9e", "unknown": "#555555",
              "fault": "#c0142b", "msi": "#7a4fb3"}
_DEVICE_COLOR = "#f2f2f2"
_MONO = "DejaVu Sans Mono"
#: where the device box sits, left of the first lane (data units)
_DEV_X0, _DEV_X1 = -1.75, -1.2
#: room right of the last lane for the labels of DMA ends
_RIGHT = 0.9


@dataclass(frozen=True)
class DmaHit:
    """One DMA request and what became of it.

    ``op`` is the model's answer: ``dma`` (reached ``hpa``; ``target``
    ``ram`` or ``bar``), ``dma_fault`` (``reason``) or
    ``interrupt_request``; ``gpa`` the guest-physical page the guest's
    vIOMMU table maps the IOVA to (vIOMMU view only)."""

    iova: int
    access: str
    op: str
    hpa: int | None = None
    target: str | None = None
    reason: str = ""
    gpa: int | None = None
    #: the address space ``hpa`` is in, as the label names it (``GPA`` when a
    #: hit is drawn where the guest's vIOMMU table sends it)
    space: str = "HPA"

    @property
    def fault(self) -> bool:
        return self.op == "dma_fault"

    @property
    def fault_code(self) -> int | None:
        """The VT-d fault reason (0x4, 0x5, 0x6) named in ``reason``, if any."""
        m = re.search(r"fault reason (0x[0-9a-f]+)", self.reason)
        return int(m.group(1), 16) if m else None

    @property
    def label(self) -> str:
        """Two lines: the request, then what became of it."""
        what = f"{self.access} {fmt_hex(self.iova)}"
        if self.op == "dma":
            where = {"ram": "guest RAM", "bar": "BAR MMIO, peer to peer"}.get(self.target or "",
                                                                            self.target)
            return f"{what}\n-> {self.space} {fmt_hex(self.hpa)} ({where})"
        if self.op == "interrupt_request":
            return f"{what}\ninterrupt request (MSI), not translated"
        if self.op == "dma_not_issued":
            return f"{what}\nnot issued: Bus Master Enable is clear"
        code = self.fault_code
        why = self.reason.split(":")[0]
        return f"{what}\nfault {code:#04x}: {why}" if code is not None else f"{what}\nfault: {why}"


@dataclass
class DmaViewData:
    """What :func:`draw_dma_view` draws: the lanes (IOVA first), the DMA
    requests and their outcomes, the device's name and a title."""

    lanes: LanesData
    hits: list
    viommu: bool
    device: str
    title: str
    iova_key: str = "iova"
    hpa_key: str = "hpa"


def vfio_device(vm, bdf: str | None = None):
    """(guest BDF, device) of the vfio-pci function ``bdf``, or of the first
    one when ``bdf`` is None."""
    from ..model.vfio import VfioPCIDevice
    if bdf is not None:
        return bdf, iommu_for(vm).device(bdf)
    for dev in vm.pci_devices():
        if isinstance(dev, VfioPCIDevice):
            return f"{dev.bus.number:02x}:{dev.slot:02x}.{dev.func:x}", dev
    raise VfiolabError("no vfio-pci device in this VM: only a passed-through device's DMA "
                       "goes through the host IOMMU")


def _hit(iova: int, access: str, result: dict, gpa: int | None = None) -> DmaHit:
    op = result["op"]
    if op == "dma":
        return DmaHit(iova, access, op, int(result["hpa"], 16), result.get("target"), "", gpa)
    return DmaHit(iova, access, op, None, None, result.get("reason", ""), gpa)


def default_requests(maps) -> list[tuple[int, str]]:
    """A teaching set of DMA requests for a container's map list (IOVA = GPA):
    a write into the largest guest-RAM run, a read of a BAR (peer to peer),
    a write to a run the device may only read (ROM), a read just past the
    largest RAM run where nothing is mapped, and an MSI write."""
    out: list[tuple[int, str]] = []
    ram = [m for m in maps if m.color_kind == "ram"]
    if ram:
        big = max(ram, key=lambda m: m.size)
        out.append((big.iova + ((big.size // 2) & ~0xFFF) + 0x40, "write"))
    bars = [m for m in maps if m.kind == "pfnmap"]
    if bars:
        out.append((bars[0].iova + 0x1000, "read"))
    rom = [m for m in maps if not m.write]
    if rom:
        out.append((rom[-1].iova + 0x100, "write"))
    if ram:
        hole = big.end
        if not any(m.iova <= hole < m.end for m in maps) and hole != MSI_RANGE_START:
            out.append((hole + 0x80, "read"))
    out.append((MSI_RANGE_START, "write"))
    return out


#: example guest mappings for the vIOMMU view, as a Linux guest's IOVA
#: allocator would place them: below 4 GiB first for a PCI device, from the
#: top down, each aligned to its power-of-two size (drivers/iommu/dma-iommu.c
#: iommu_dma_alloc_iova, drivers/iommu/iova.c); (iova, size, what, writable)
EXAMPLE_IOVAS = ((0xFFFFC000, 0x4000, "ram", True),       # receive buffer: device writes
                 (0xFFFFB000, 0x1000, "ram", False),      # transmit buffer: device reads
                 (0xFFFFA000, 0x1000, "io", True),        # an emulated device's MMIO page
                 (0xFFFF9000, 0x1000, "bar", True))       # the device's own BAR (peer to peer)


def example_shadow(vm, *, bdf: str | None = None) -> tuple[VtdShadow, list[tuple[int, str]]]:
    """A :class:`~vfiolab.model.iommu.VtdShadow` for ``vm`` after the guest
    mapped :data:`EXAMPLE_IOVAS` (guest RAM at 16 MiB and 32 MiB, the first
    I/O region above 0xfe000000 -- which QEMU cannot shadow, "iommu map to
    non memory area" -- and the passed-through device's first memory BAR),
    plus a set of DMA requests: one into each mapping, a write to the
    read-only one, and the GPA of the first buffer used as an IOVA (with a
    vIOMMU, a GPA is no longer a DMA address)."""
    _, dev = vfio_device(vm, bdf)
    fv = vm.flatview()
    io = next((fr for fr in fv if not fr.mr.is_ram() and fr.start >= 0xFE000000), None)
    if io is None:
        io = next(fr for fr in fv if not fr.mr.is_ram())
    bar = next((r for r in dev.bars() if r.mapped and not r.type & PCI_BASE_ADDRESS_SPACE_IO
                and r.index != PCI_ROM_SLOT), None)
    ram_gpas = [0x1000000, 0x2000000]
    sh = VtdShadow(vm)
    requests: list[tuple[int, str]] = []
    for iova, size, what, writable in EXAMPLE_IOVAS:
        if what == "ram":
            gpa = ram_gpas.pop(0)
        elif what == "io":
            gpa = io.start
        else:
            if bar is None:
                continue
            gpa = bar.addr
        sh.guest_map(iova, gpa, size, write=writable)
        requests.append((iova + 0x10, "write" if writable and what == "ram" else "read"))
        if not writable:
            requests.append((iova + 0x20, "write"))
    requests.append((0x1000000 + 0x10, "read"))
    return sh, requests


def _guest_runs(sh: VtdShadow):
    """The guest's VT-d entries as runs (iova, gpa, size, writable, shadowed):
    pages contiguous in IOVA and GPA, with the same permission and whether
    QEMU could shadow them in the host container."""
    shadowed = {d.iova for d in sh.container.mappings()}
    runs: list[list] = []
    for page in sorted(sh.guest_table):
        gpa, w = sh.guest_table[page]
        s = page in shadowed
        r = runs[-1] if runs else None
        if (r is not None and r[0] + r[2] == page and r[1] + r[2] == gpa and r[3] == w
                and r[4] == s):
            r[2] += 0x1000
        else:
            runs.append([page, gpa, 0x1000, w, s])
    return [tuple(r) for r in runs]


def dma_view_data(source, requests=None, *, viommu: bool = False,
                  shadow: VtdShadow | None = None, bdf: str | None = None) -> DmaViewData:
    """Plain data for :func:`draw_dma_view` from a
    :class:`~vfiolab.predict.Prediction` (or a VM) with a vfio-pci device.

    ``requests`` are (iova, "read"|"write") pairs, performed through the
    host IOMMU (:func:`vfiolab.model.iommu.iommu_for` without a vIOMMU, the
    shadow container with one); default :func:`default_requests`, or the
    requests of :func:`example_shadow`.  ``viommu=True`` uses ``shadow``
    (default: :func:`example_shadow`)."""
    vm = getattr(source, "vm", source)
    gbdf, dev = vfio_device(vm, bdf)
    device = f"vfio-pci {gbdf}\n(host {dev.host})"
    if not viommu:
        lst = getattr(vm, "vfio", None)
        cont = getattr(lst, "container", None)
        if cont is None:
            raise ActionError(None, "bdf", f"{gbdf}: no VFIO container (the model was built "
                                           "without QEMU's process)")
        maps = iommu_maps(cont, vm.host)
        if requests is None:
            requests = default_requests(maps)
        io = iommu_for(vm)
        hits = [_hit(iova, acc, io.dma(gbdf, iova, acc)[0]) for iova, acc in requests]
        data = lanes_from_records([], [], vm.host.mappings, lanes=("iova", "hpa"),
                                  iommu_maps=maps)
        # QEMU's listener on "memory": IOVA = the section's guest-physical address
        data.lane("iova").title = "IOVA = GPA (no vIOMMU): the container's map list"
        title = (f"DMA without a vIOMMU: {len(maps)} IOMMU runs map guest RAM and BARs at "
                 f"IOVA = GPA")
    else:
        if shadow is None:
            shadow, reqs = example_shadow(vm, bdf=bdf)
            requests = reqs if requests is None else requests
        requests = requests or []
        hits = []
        for iova, acc in requests:
            g = shadow.guest_table.get(iova & ~0xFFF)
            gpa = g[0] + (iova & 0xFFF) if g is not None else None
            hits.append(_hit(iova, acc, shadow.dma(iova, acc, requester=dev.host)[0], gpa))
        data = _viommu_lanes(vm, shadow)
        title = ("DMA with a vIOMMU (intel-iommu,caching-mode=on): the guest maps IOVA -> GPA, "
                 "QEMU shadows each page as IOVA -> HVA -> HPA")
    # every DMA address gets an exact place on its lanes
    for h in hits:
        data.lane("iova").points.append(h.iova & ~0xFFF)
        data.lane("iova").points.append((h.iova & ~0xFFF) + 0x1000)
        if h.hpa is not None:
            data.lane("hpa").points.append(h.hpa & ~0xFFF)
            data.lane("hpa").points.append((h.hpa & ~0xFFF) + 0x1000)
    return DmaViewData(data, hits, viommu, device, title)


def _viommu_lanes(vm, sh: VtdShadow) -> LanesData:
    """Lanes IOVA | GPA | HVA | HPA of a vIOMMU shadow (see the module docstring)."""
    runs = _guest_runs(sh)
    fv = vm.flatview()
    iova = Lane("iova", "IOVA: chosen by the guest's driver (guest VT-d table)")
    gpa = Lane("gpa", LANE_TITLES["gpa"])
    hva = Lane("hva", LANE_TITLES["hva"])
    hpa = Lane("hpa", LANE_TITLES["hpa"])
    bands: list[Band] = []
    used = set()
    for page, g, size, w, s in runs:
        fr = fv.lookup(g)
        name = fr.mr.name if fr is not None else "unassigned"
        # colour by what the device reaches: not shadowed (QEMU: "iommu map to
        # non memory area") -> i/o, a BAR -> ramd, read-only for the device -> rom
        if not s or fr is None:
            kind = "i/o"
        elif fr.mr.ram_device:
            kind = "ramd"
        else:
            kind = "ram" if w else "rom"
        iova.ranges.append(LaneRange(page, size, kind,
                                     f"-> {name}" + ("" if s else " (not shadowed)")))
        bands.append(Band("iova", "gpa", page, g, size, kind, ""))
        if fr is not None:
            used.add(fr.start)
        if s and fr is not None:
            vaddr = fr.mr.hva + fr.offset_in_region + (g - fr.start)
            # memory_get_xlat_addr: the host pointer of the guest page
            bands.append(Band("gpa", "hva", g, vaddr, size, kind, "MAP_DMA"))
    for fr in fv:
        if fr.mr.is_ram() or fr.start in used:
            gpa.ranges.append(LaneRange(fr.start, fr.size, fr.kind(), fr.mr.name))
    kinds = {"ram": "ram", "pfnmap": "ramd"}
    for m in sorted(vm.host.mappings, key=lambda m: m.vaddr):
        hva.ranges.append(LaneRange(m.vaddr, m.size, kinds.get(m.kind, "ram"), m.name))
    for m in sorted((m for m in vm.host.mappings if m.hpa is not None), key=lambda m: m.hpa):
        hpa.ranges.append(LaneRange(m.hpa, m.size, kinds.get(m.kind, "ram"), m.name))
        bands.append(Band("hva", "hpa", m.vaddr, m.hpa, m.size, kinds.get(m.kind, "ram"), ""))
    if not iova.ranges:
        iova.note = "the guest has mapped nothing"
    return LanesData([iova, gpa, hva, hpa], bands)


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------

def _spread(ys: list[float], gap: float) -> list[float]:
    """Label positions near ``ys`` (same order) at least ``gap`` apart:
    sorted, each pushed below the one above it, then the whole set moved
    up if it ran past the lanes' bottom."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    prev = None
    for i in order:
        if prev is not None and out[i] < out[prev] + gap:
            out[i] = out[prev] + gap
        prev = i
    if order:
        over = out[order[-1]] - 1.0
        if over > 0:
            for i in order:
                out[i] -= over
            for a, b in zip(order, order[1:]):      # keep the top inside too
                if out[b] < out[a] + gap:
                    out[b] = out[a] + gap
    return out

@dataclass
class DmaViewArtists:
    """What :func:`draw_dma_view` drew: ``lanes`` (the
    :class:`~vfiolab.plot.lanes.LanesArtists`; its ``bands`` are the
    translations), ``device`` (box and label), one request arrow per DMA
    (``requests``), the IOMMU paths of hits (``paths``), ``markers`` (one
    per DMA end: a hit's HPA, a fault's cross, an MSI's diamond),
    ``fault_markers`` (the crosses alone), ``labels`` and the ``data``."""

    data: DmaViewData
    lanes: object
    device: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    paths: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    fault_markers: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    title: object = None
    legend: object = None
    #: with a vIOMMU in one figure: the host side (:class:`HostSideArtists`)
    #: and the whole view's data
    host: object = None
    full: object = None

    def artists(self) -> list:
        out = self.lanes.artists() + self.device + self.requests + self.paths
        out += self.markers + self.labels
        return out + [a for a in (self.title, self.legend) if a is not None]


def draw_dma_view(ax, data, requests=None, *, viommu: bool = False,
                  shadow: VtdShadow | None = None, bdf: str | None = None,
                  legend: bool = True) -> DmaViewArtists:
    """Draw a DMA view on ``ax``: ``data`` is a :class:`DmaViewData`, or a
    prediction/VM given to :func:`dma_view_data` with the other arguments.
    Returns a :class:`DmaViewArtists`."""
    if not isinstance(data, DmaViewData):
        data = dma_view_data(data, requests, viommu=viommu, shadow=shadow, bdf=bdf)
    with style.style_context():
        la = draw_lanes(ax, data.lanes, legend=False)
        art = DmaViewArtists(data, la)
        x_lo, x_hi = ax.get_xlim()
        ax.set_xlim(_DEV_X0 - 0.05, x_hi + _RIGHT)
        la.update(data.lanes)         # fit the labels to the lanes' final width
        ax.set_xlim(_DEV_X0 - 0.05, x_hi + _RIGHT)
        ix = la.lane_x(data.iova_key)
        hx = la.lane_x(data.hpa_key)
        imap, hmap = la.maps[data.iova_key], la.maps[data.hpa_key]
        # the device
        dy0, dy1 = 0.42, 0.58
        box = Rectangle((_DEV_X0, dy0), _DEV_X1 - _DEV_X0, dy1 - dy0, facecolor=_DEVICE_COLOR,
                        edgecolor="#4d4d4d", linewidth=0.8, zorder=3, gid="device")
        ax.add_patch(box)
        art.device = [box, ax.text((_DEV_X0 + _DEV_X1) / 2, (dy0 + dy1) / 2, data.device,
                                   ha="center", va="center", fontsize=style.LABEL_SIZE,
                                   family=_MONO, zorder=4, gid="device-label")]
        n = max(len(data.hits), 1)
        px_per_y = ax.bbox.height / abs(ax.get_ylim()[0] - ax.get_ylim()[1])
        gap = 2.5 * style.SMALL_SIZE * ax.figure.dpi / 72.0 / px_per_y   # two text lines
        left_y, right_y = [], []
        for h in data.hits:
            page = h.iova & ~0xFFF
            left_y.append((imap(page) + imap(page + 0x1000)) / 2)
            if h.hpa is not None:
                hpage = h.hpa & ~0xFFF
                right_y.append((hmap(hpage) + hmap(hpage + 0x1000)) / 2)
            else:
                right_y.append(None)
        left_lab = _spread(left_y, gap)
        right_lab = _spread([y for y in right_y if y is not None], gap)
        right_it = iter(right_lab)
        for i, h in enumerate(data.hits):
            y = left_y[i]
            ys = dy0 + (dy1 - dy0) * (i + 1) / (n + 1)
            color = (HIT_COLORS["fault"] if h.fault else
                     HIT_COLORS["msi"] if h.op == "interrupt_request" else "#444444")
            # the request: device -> its IOVA
            req = FancyArrowPatch((_DEV_X1, ys), (ix, y), arrowstyle="-|>", mutation_scale=8,
                                  color=color, linewidth=0.9, zorder=6, gid="dma-request")
            ax.add_patch(req)
            art.requests.append(req)
            if h.op == "dma":
                yh = right_y[i]
                tcol = HIT_COLORS.get(h.target or "unknown", HIT_COLORS["unknown"])
                adjacent = abs(hx - ix) <= LANE_WIDTH + 1.0
                # the IOMMU's translation: IOVA -> HPA (across the middle lanes
                # with a vIOMMU: the host table holds the shadow's result)
                path = FancyArrowPatch((ix + LANE_WIDTH, y), (hx, yh), arrowstyle="-|>",
                                       mutation_scale=9, color=tcol, linewidth=1.3,
                                       linestyle="-" if adjacent else "--",
                                       connectionstyle="arc3,rad=0" if adjacent
                                       else "arc3,rad=-0.12", zorder=6, gid="dma-path")
                ax.add_patch(path)
                art.paths.append(path)
                mk = ax.add_line(Line2D([hx + 0.04], [yh], marker="o", markersize=6,
                                        color=tcol, markeredgecolor="white", zorder=8,
                                        gid=f"dma-hit:{h.target}"))
                art.markers.append(mk)
                art.labels.append(ax.text(hx + LANE_WIDTH + 0.04, next(right_it),
                                          h.label.split("\n", 1)[1].removeprefix("-> ")
                                          .replace(" (", "\n(", 1),
                                          ha="left", va="center", fontsize=style.SMALL_SIZE,
                                          family=_MONO, color=tcol, zorder=9,
                                          gid="dma-label"))
            else:
                marker = "X" if h.fault else "D"
                mk = ax.add_line(Line2D([ix + 0.04], [y], marker=marker,
                                        markersize=8 if h.fault else 6, color=color,
                                        markeredgecolor="white", zorder=8,
                                        gid="dma-fault" if h.fault else "dma-msi"))
                art.markers.append(mk)
                if h.fault:
                    art.fault_markers.append(mk)
            text = h.label if h.op != "dma" else h.label.split("\n", 1)[0]
            art.labels.append(ax.text(ix - 0.03, left_lab[i], text, ha="right", va="center",
                                      fontsize=style.SMALL_SIZE, family=_MONO, color=color,
                                      zorder=9, gid="request-label",
                                      bbox=dict(boxstyle="round,pad=0.12", facecolor="white",
                                                edgecolor="none", alpha=0.85)))
        art.title = ax.text((_DEV_X0 + x_hi) / 2, la.title_top(),
                            style.wrap_label(data.title, 110),
                            ha="center",
                            va="bottom", fontsize=style.FONT_SIZE, fontweight="bold",
                            gid="title")
        if legend:
            handles = [Patch(facecolor=style.KIND_COLORS[k], edgecolor="#4d4d4d",
                             linewidth=0.6, label=style.KIND_LABELS[k])
                       for k in ("ram", "ramd", "rom", "i/o")]
            handles.append(Patch(facecolor=style.KIND_COLORS["ram"], alpha=style.BAND_ALPHA,
                                 edgecolor="#555555", linewidth=0.4,
                                 label="band: a translation (IOMMU map, guest VT-d, host page "
                                       "table)"))
            for key, text, marker in (("ram", "DMA reaches guest RAM", "o"),
                                      ("bar", "DMA reaches a BAR (peer to peer)", "o"),
                                      ("fault", "DMA remapping fault", "X"),
                                      ("msi", "interrupt request (MSI)", "D")):
                handles.append(Line2D([], [], marker=marker, linestyle="none",
                                      color=HIT_COLORS[key], label=text))
            art.legend = ax.legend(handles=handles, loc="upper center",
                                   bbox_to_anchor=(0.5, 0.0), ncol=5, frameon=False,
                                   fontsize=style.LABEL_SIZE, handlelength=1.6,
                                   columnspacing=1.2)
    return art


def guest_side(data: DmaViewData) -> DmaViewData:
    """The guest's half of a vIOMMU view: the IOVA and GPA lanes, the
    guest's VT-d entries as bands, each DMA drawn to the GPA its IOVA maps
    to (a hit's end is the guest page: :attr:`DmaHit.gpa`)."""
    lanes = data.lanes
    keep = ("iova", "gpa")
    ld = LanesData([lanes.lane(k) for k in keep],
                   [b for b in lanes.bands if b.src in keep and b.dst in keep])
    hits = []
    for h in data.hits:
        if h.op == "dma" and h.gpa is not None:
            hits.append(DmaHit(h.iova, h.access, h.op, h.gpa, h.target, h.reason, h.gpa, "GPA"))
            ld.lane("gpa").points.extend((h.gpa & ~0xFFF, (h.gpa & ~0xFFF) + 0x1000))
        else:
            hits.append(h)
    return DmaViewData(ld, hits, True, data.device,
                       "vIOMMU, the guest's side: its driver maps IOVA -> GPA in the guest's "
                       "VT-d table", "iova", "gpa")


def host_side(data: DmaViewData) -> LanesData:
    """The host's half of a vIOMMU view: GPA -> HVA (QEMU's shadow lookup,
    ``VFIO_IOMMU_MAP_DMA`` of the guest page's host pointer) -> HPA (the
    host's page tables)."""
    lanes = data.lanes
    keep = ("gpa", "hva", "hpa")
    return LanesData([lanes.lane(k) for k in keep],
                     [b for b in lanes.bands if b.src in keep and b.dst in keep])


@dataclass
class HostSideArtists:
    """What :func:`draw_host_side` drew: ``lanes``, one marker and one label
    per DMA that reached memory, the title."""

    lanes: object
    markers: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    title: object = None


def draw_host_side(ax, data: DmaViewData, legend: bool = True) -> HostSideArtists:
    """Draw the host's half of a vIOMMU view (:func:`host_side`) on ``ax``,
    with each DMA that reached memory marked at its HPA."""
    with style.style_context():
        la = draw_lanes(ax, host_side(data), legend=legend,
                        band_legend="band: QEMU's shadow (GPA -> HVA), host page table "
                                    "(HVA -> HPA)")
        art = HostSideArtists(la)
        x_lo, x_hi = ax.get_xlim()
        ax.set_xlim(x_lo, x_hi + _RIGHT)
        la.update(host_side(data))    # fit the labels to the lanes' final width
        ax.set_xlim(x_lo, x_hi + _RIGHT)
        hx = la.lane_x("hpa")
        hmap = la.maps["hpa"]
        hits = [h for h in data.hits if h.op == "dma" and h.hpa is not None]
        ys = [(hmap(h.hpa & ~0xFFF) + hmap((h.hpa & ~0xFFF) + 0x1000)) / 2 for h in hits]
        px_per_y = ax.bbox.height / abs(ax.get_ylim()[0] - ax.get_ylim()[1])
        gap = 2.6 * style.SMALL_SIZE * ax.figure.dpi / 72.0 / px_per_y
        for h, y, yl in zip(hits, ys, _spread(ys, gap)):
            tcol = HIT_COLORS.get(h.target or "unknown", HIT_COLORS["unknown"])
            art.markers.append(ax.add_line(Line2D([hx + 0.04], [y], marker="o", markersize=6,
                                                  color=tcol, markeredgecolor="white",
                                                  zorder=8, gid=f"dma-hit:{h.target}")))
            art.labels.append(ax.text(hx + LANE_WIDTH + 0.04, yl,
                                      f"IOVA {fmt_hex(h.iova)}\n-> HPA {fmt_hex(h.hpa)}",
                                      ha="left", va="center", fontsize=style.SMALL_SIZE,
                                      family=_MONO, color=tcol, zorder=9, gid="dma-label"))
        art.title = ax.text((x_lo + x_hi + _RIGHT) / 2, la.title_top(),
                            "vIOMMU, the host's side: QEMU shadows each guest page "
                            "(IOVA -> HVA in the host container), the kernel pins it",
                            ha="center", va="bottom", fontsize=style.FONT_SIZE,
                            fontweight="bold", gid="title")
    return art


def _new_figure(size, pyplot: bool, fast_text: bool):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with style.style_context():
        if pyplot:
            import matplotlib.pyplot as plt
            was_interactive = plt.isinteractive()
            plt.ioff()
            try:
                fig = plt.figure(figsize=size, dpi=style.DPI)
            finally:
                if was_interactive:
                    plt.ion()
        else:
            fig = Figure(figsize=size, dpi=style.DPI)
            (style.FastTextCanvas if fast_text else FigureCanvasAgg)(fig)
    return fig


#: figure heights (inches) of one DMA panel, at the page's width
_PANEL_H = 6.4


def dma_view_figures(source, requests=None, *, viommu: bool = False,
                     shadow: VtdShadow | None = None, bdf: str | None = None) -> list:
    """The DMA view as the page shows it: one figure without a vIOMMU; with
    one, two figures (four lanes do not fit the page's width): the guest's
    side (:func:`guest_side`) and the host's side (:func:`draw_host_side`)."""
    data = source if isinstance(source, DmaViewData) else dma_view_data(
        source, requests, viommu=viommu, shadow=shadow, bdf=bdf)
    if not data.viommu:
        return [dma_view_figure(data)[0]]
    figs = []
    for part in ("guest", "host"):
        fig = _new_figure((style.PAGE_WIDTH, _PANEL_H), False, False)
        with style.style_context():
            ax = fig.add_axes((0.01, 0.1, 0.98, 0.84))
            if part == "guest":
                draw_dma_view(ax, guest_side(data))
            else:
                draw_host_side(ax, data)
        figs.append(fig)
    return figs


def dma_view_figure(source, requests=None, *, viommu: bool = False,
                    shadow: VtdShadow | None = None, bdf: str | None = None,
                    pyplot: bool = False, fast_text: bool = False):
    """A figure with the DMA view drawn, the page's width: ``(fig, ax,
    artists)``.  With a vIOMMU the figure holds the two halves one above
    the other (guest's side on ``ax``; the host side's artists are
    ``artists.host``)."""
    data = source if isinstance(source, DmaViewData) else dma_view_data(
        source, requests, viommu=viommu, shadow=shadow, bdf=bdf)
    if not data.viommu:
        fig = _new_figure((style.PAGE_WIDTH, _PANEL_H), pyplot, fast_text)
        with style.style_context():
            ax = fig.add_axes((0.01, 0.1, 0.98, 0.84))
            art = draw_dma_view(ax, data)
        return fig, ax, art
    fig = _new_figure((style.PAGE_WIDTH, 2 * _PANEL_H), pyplot, fast_text)
    with style.style_context():
        ax = fig.add_axes((0.01, 0.55, 0.98, 0.42))
        art = draw_dma_view(ax, guest_side(data))
        ax2 = fig.add_axes((0.01, 0.05, 0.98, 0.42))
        art.host = draw_host_side(ax2, data)
        art.full = data
    return fig, ax, art
