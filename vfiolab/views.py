"""Tables and plain plot data for notebooks: the model's records as pandas frames.

This is the first of three layers (views -> plot -> widgets).  It turns the
records the model and the parsers produce (:class:`~vfiolab.records.Section`,
:class:`~vfiolab.records.Memslot`, :class:`~vfiolab.records.PciDeviceRecord`,
the event dicts of ``VM.events`` or parsed :class:`~vfiolab.records.TraceEvent`)
into pandas DataFrames, and into :class:`LanesData`, the plain description
of the address-space lanes that :mod:`vfiolab.plot.lanes` draws.  It never
imports matplotlib.

Addresses and sizes are strings in ``0x`` lower-case hex (``fmt_hex``), the
way QEMU's traces print them; column names are those of the real interfaces
(``guest_phys_addr``, ``memory_size``, ``userspace_addr`` from Linux
``include/uapi/linux/kvm.h`` ``struct kvm_userspace_memory_region``).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field

import pandas as pd

from .addr import fmt_hex, fmt_size
from .records import Memslot, TraceEvent

__all__ = [
    "config_frame", "HEADER0", "vfio_regions_frame",
    "flatview_frame", "memslot_frame", "bars_frame", "events_frame", "styled", "html_table",
    "memslot_flag_names", "normalize_event",
    "LaneRange", "Lane", "Band", "LanesData", "lanes_data", "lanes_from_records",
    "LANE_TITLES", "MAPPING_EVENTS", "IommuMap", "iommu_maps", "page_counts_text",
    "BarMoment", "bar_positions",
]

#: Linux include/uapi/linux/kvm.h memslot flags, by bit, as vfiolab names them
MEMSLOT_FLAG_NAMES = ((Memslot.KVM_MEM_LOG_DIRTY_PAGES, "LOG_DIRTY_PAGES"),
                      (Memslot.KVM_MEM_READONLY, "READONLY"))

#: the event ops that change what the guest's address space maps
MAPPING_EVENTS = ("pci_update_mappings_del", "pci_update_mappings_add", "set_user_memory")


def memslot_flag_names(flags: int) -> str:
    """``KVM_MEM_*`` bits as names joined by ``|`` (``""`` for none); an
    unknown bit prints as hex so nothing is hidden."""
    names = []
    rest = flags
    for bit, name in MEMSLOT_FLAG_NAMES:
        if flags & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(fmt_hex(rest))
    return "|".join(names)


def _hex(value) -> str:
    return "" if value is None else fmt_hex(value)


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------

FLATVIEW_COLUMNS = ["start", "end", "size", "kind", "name", "prio", "offset", "kvm"]


def flatview_frame(sections) -> pd.DataFrame:
    """One row per FlatRange of ``info mtree -f`` (QEMU ``system/memory.c``
    ``mtree_print_flatview``): ``start``/``end`` (inclusive, as printed),
    ``size``, ``kind`` (``ram``, ``rom``, ``ramd``, ``romd``, ``i/o``, with
    ``nv-`` for non-volatile), the region ``name``, ``prio``, the ``offset``
    in the region (``""`` when QEMU prints none) and ``kvm`` (the accelerator
    marker: a memslot backs exactly this range)."""
    rows = []
    for s in sections:
        rows.append({
            "start": fmt_hex(s.start), "end": fmt_hex(s.end), "size": fmt_hex(s.size),
            "kind": ("nv-" if s.nonvolatile else "") + s.kind, "name": s.name,
            "prio": s.prio, "offset": _hex(s.offset) if s.offset else "", "kvm": s.kvm,
        })
    return pd.DataFrame(rows, columns=FLATVIEW_COLUMNS)


MEMSLOT_COLUMNS = ["slot", "guest_phys_addr", "memory_size", "userspace_addr", "flags"]


def memslot_frame(memslots, sections=None) -> pd.DataFrame:
    """One row per live KVM memslot, sorted by guest_phys_addr.

    Columns are the fields of ``struct kvm_userspace_memory_region``;
    ``flags`` gives the ``KVM_MEM_*`` names (``READONLY``, ``LOG_DIRTY_PAGES``).
    A non-zero address-space id adds an ``as_id`` column (x86 SMM slots live
    in address space 1).  With ``sections`` (the flat view), a ``region``
    column names the FlatRange each slot starts in.
    """
    slots = sorted(memslots, key=lambda m: (m.as_id, m.guest_phys_addr))
    find = _section_finder(sections) if sections is not None else None
    rows = []
    for m in slots:
        row = {"slot": m.slot, "guest_phys_addr": fmt_hex(m.guest_phys_addr),
               "memory_size": fmt_hex(m.memory_size),
               "userspace_addr": _hex(m.userspace_addr),
               "flags": memslot_flag_names(m.flags)}
        if any(s.as_id for s in slots):
            row["as_id"] = m.as_id
        if find is not None:
            sec = find(m.guest_phys_addr)
            row["region"] = sec.name if sec is not None else ""
        rows.append(row)
    cols = list(MEMSLOT_COLUMNS)
    if any(s.as_id for s in slots):
        cols.append("as_id")
    if find is not None:
        cols.append("region")
    return pd.DataFrame(rows, columns=cols)


BARS_COLUMNS = ["bdf", "id", "device", "bar", "type", "prefetch", "address", "end", "size"]


def bars_frame(devices) -> pd.DataFrame:
    """One row per BAR (``info pci``, QEMU ``hw/pci/pci.c``): ``type`` is
    ``io``, ``mem32`` or ``mem64``; ``address``/``end`` (inclusive) are
    ``""`` while the BAR is not mapped; bar 6 is the expansion ROM."""
    rows = []
    for d in devices:
        for b in d.bars:
            mapped = b.address is not None
            rows.append({
                "bdf": d.bdf, "id": d.qdev_id or "", "device": d.type or "",
                "bar": b.bar, "type": b.type, "prefetch": b.prefetch,
                "address": _hex(b.address) if mapped else "",
                "end": fmt_hex(b.address + b.size - 1) if mapped else "",
                "size": fmt_hex(b.size),
            })
    return pd.DataFrame(rows, columns=BARS_COLUMNS)


def normalize_event(ev) -> dict:
    """An event as a dict in the model's shape (``VM.events``).

    A parsed :class:`~vfiolab.records.TraceEvent` is converted:
    ``kvm_set_user_memory`` becomes op ``set_user_memory`` with ``gpa``,
    ``size``, ``ua`` (QEMU ``accel/kvm/trace-events``), and
    ``pci_update_mappings_*`` get a ``bdf`` (``hw/pci/trace-events``).
    """
    if isinstance(ev, dict):
        return ev
    if isinstance(ev, TraceEvent):
        a = ev.args
        if ev.name == "kvm_set_user_memory":
            return {"op": "set_user_memory", "as_id": a.get("as_id", 0), "slot": a.get("slot"),
                    "flags": a.get("flags"), "gpa": a.get("guest_phys_addr"),
                    "size": a.get("memory_size"), "ua": a.get("userspace_addr"), "region": ""}
        out = {"op": ev.name}
        out.update(a)
        if {"bus", "slot", "func"} <= a.keys():
            out["bdf"] = f"{a['bus']:02x}:{a['slot']:02x}.{a['func']:x}"
            out.pop("slot")
        if ev.name in ("pci_cfg_read", "pci_cfg_write"):
            out["offset"] = a.get("offs")
            out["value"] = a.get("val")
        return out
    raise TypeError(f"not an event: {ev!r}")


EVENT_COLUMNS = ["op", "action", "dev", "bdf", "bar", "slot", "addr", "size", "ua", "flags",
                 "region"]
CFG_COLUMNS = ["offset", "width", "value"]


def events_frame(events, prior_memslots=None) -> pd.DataFrame:
    """One row per event, in order.

    ``action`` says what the event does, in the words of the interface:

    * ``pci_update_mappings_del``/``_add`` (QEMU ``hw/pci/pci.c``
      ``pci_update_mappings``): ``unmap``/``map`` of BAR ``bar`` at ``addr``;
    * ``set_user_memory`` (``KVM_SET_USER_MEMORY_REGION``, Linux
      ``virt/kvm/kvm_main.c`` ``__kvm_set_memory_region``): ``delete`` when
      ``memory_size`` is 0, ``flags`` when a live slot is re-issued at the
      same guest_phys_addr and size (a flags change, QEMU ``kvm_slot_update_flags``),
      ``create`` otherwise.  Live slots are tracked from ``prior_memslots``
      (the memslots before the first event) and from the events themselves;
    * ``pci_cfg_write``/``pci_cfg_read``: ``write``/``read`` of ``width``
      bytes at config ``offset``.

    Addresses, sizes and values are hex strings; columns that do not apply
    to a row are ``""``.  Config-access columns appear only when the events
    include config accesses.
    """
    live: dict[tuple[int, int], tuple[int, int]] = {}
    for m in prior_memslots or ():
        live[(m.as_id, m.slot)] = (m.guest_phys_addr, m.memory_size)
    rows = []
    has_cfg = False
    for raw in events:
        ev = normalize_event(raw)
        op = ev.get("op", "")
        row = dict.fromkeys(EVENT_COLUMNS + CFG_COLUMNS, "")
        row["op"] = op
        if op == "set_user_memory":
            key = (ev.get("as_id", 0), ev.get("slot"))
            size = ev.get("size") or 0
            if size == 0:
                action = "delete"
                live.pop(key, None)
            elif live.get(key) == (ev.get("gpa"), size):
                action = "flags"
            else:
                action = "create"
                live[key] = (ev.get("gpa"), size)
            row.update(action=action, slot=ev.get("slot"), addr=_hex(ev.get("gpa")),
                       size=_hex(size), ua=_hex(ev.get("ua")),
                       flags=memslot_flag_names(ev.get("flags") or 0),
                       region=ev.get("region") or "")
        elif op in ("pci_update_mappings_del", "pci_update_mappings_add"):
            row.update(action="unmap" if op.endswith("_del") else "map",
                       dev=ev.get("dev", ""), bdf=ev.get("bdf", ""), bar=ev.get("bar"),
                       addr=_hex(ev.get("addr")), size=_hex(ev.get("size")))
        elif op in ("pci_cfg_write", "pci_cfg_read"):
            has_cfg = True
            row.update(action="write" if op.endswith("write") else "read",
                       dev=ev.get("dev", ""), bdf=ev.get("bdf", ""),
                       offset=_hex(ev.get("offset")), width=ev.get("size", ""),
                       value=_hex(ev.get("value")))
        else:
            for k in ("dev", "bdf"):
                if k in ev:
                    row[k] = ev[k]
        rows.append(row)
    cols = EVENT_COLUMNS + (CFG_COLUMNS if has_cfg else [])
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS + CFG_COLUMNS)[cols]
    # slot and bar are integers or "" -> keep as object so "" stays blank
    return df


def _numeric_column(col: pd.Series) -> bool:
    """A column of numbers (bools are words: True/False)."""
    return (pd.api.types.is_numeric_dtype(col.dtype)
            and not pd.api.types.is_bool_dtype(col.dtype))


def _right_aligned(value) -> bool:
    """A cell of a plain table that reads as a number: an int or float, or
    ``0x`` hex."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or str(value).startswith("0x")


def _html_text(s: str) -> str:
    """``s`` as HTML text content: ``&`` and ``<`` escaped, the two characters
    that start markup there (HTML Living Standard, 13.1.3 "Text"); ``>`` and
    quotes are plain text outside tags and are left as they are, so tables
    without those two characters keep their HTML byte for byte."""
    return s.replace("&", "&amp;").replace("<", "&lt;")


def styled(df: pd.DataFrame, uuid: str | None = None, caption: str | None = None,
           highlight_rows=None):
    """A pandas Styler whose HTML is the same on every run (for nbval).

    pandas gives each Styler a random ``uuid`` that ends up in the table id
    and the CSS selectors; here it is fixed: ``uuid`` if given, otherwise a
    hash of the table's columns, rows and highlighted rows, so two different
    tables on one page never share CSS rules (a row highlight of one would
    colour the other) and the same table gets the same id on every run.  Hex
    columns are set in a monospace font; ``highlight_rows`` (row positions)
    get a background.  Cell text, column names and the caption are
    HTML-escaped.
    """
    if uuid is None:
        key = f"{list(map(str, df.columns))}|{highlight_rows}|{df.to_json()}"
        uuid = "vfiolab-" + hashlib.sha1(key.encode()).hexdigest()[:10]
    # cells, column names and caption are text, not markup: escape them, or a
    # cell such as "<qemu:commandline>" vanishes into an unknown HTML tag
    shown = df.copy()
    for c in shown.columns:
        if shown[c].dtype == object or pd.api.types.is_string_dtype(shown[c].dtype):
            shown[c] = shown[c].map(lambda v: _html_text(v) if isinstance(v, str) else v)
    st = (shown.style.set_uuid(uuid).hide(axis="index")
          .format_index(lambda v: _html_text(str(v)), axis=1))
    if caption:
        st = st.set_caption(_html_text(caption))
    mono = [c for c in df.columns
            if (df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype))
            and df[c].astype(str).str.startswith("0x").any()]
    # numbers and hex right-aligned (digits line up), words left-aligned
    right = [c for c in df.columns if c in mono or _numeric_column(df[c])]
    left = [c for c in df.columns if c not in right]
    styles = [{"selector": "td", "props": [("padding", "1px 6px"), ("text-align", "left")]},
              {"selector": "th", "props": [("padding", "1px 6px"), ("text-align", "left")]}]
    for c in right:
        j = df.columns.get_loc(c)
        styles.append({"selector": f"th.col_heading.col{j}", "props": [("text-align", "right")]})
    st = st.set_table_styles(styles)
    if right:
        st = st.set_properties(subset=right, **{"text-align": "right"})
    if left:
        st = st.set_properties(subset=left, **{"text-align": "left"})
    if mono:
        st = st.set_properties(subset=mono, **{"font-family": "monospace"})
    if highlight_rows:
        rows = [df.index[i] for i in highlight_rows if 0 <= i < len(df)]
        if rows:
            st = st.set_properties(subset=pd.IndexSlice[rows, :],
                                   **{"background-color": "#fff3bf"})
    return st


# --------------------------------------------------------------------------
# Lanes: plain data for vfiolab.plot.lanes
# --------------------------------------------------------------------------

#: lane key -> title; the order is the order lanes are drawn in
LANE_TITLES = {
    "gpa": "GPA: address space \"memory\" (info mtree -f)",
    "hva": "HVA: QEMU's virtual memory (userspace_addr)",
    "hpa": "HPA: host physical memory",
    "iova": "IOVA: device DMA addresses",
}


@dataclass(frozen=True)
class LaneRange:
    """One range on a lane: ``[start, start + size)``.

    ``kind`` picks the colour: ``ram``, ``ramd``, ``rom``, ``romd``, ``i/o``
    (the ``info mtree -f`` type column), or ``reserved``.  ``kvm`` says a
    memslot backs it exactly; ``highlight`` marks the range the user acts on.
    """

    start: int
    size: int
    kind: str
    name: str
    kvm: bool = False
    highlight: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def label(self) -> str:
        """Name, inclusive hex bounds (as ``info mtree`` prints them) and size."""
        bounds = f"{fmt_hex(self.start)}-{fmt_hex(self.end - 1)}"
        return f"{self.name}  {bounds}  ({fmt_size(self.size)})"


@dataclass
class Lane:
    """One address space drawn as a column of ranges."""

    key: str
    title: str
    ranges: list[LaneRange] = field(default_factory=list)
    #: text shown in an empty lane (a lane not modelled yet)
    note: str = ""
    #: extra axis boundaries (addresses that must get an exact position,
    #: e.g. a DMA address in unmapped space); drawing adds them to the
    #: lane's compressed axis
    points: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Band:
    """A translation drawn between two lanes: ``size`` bytes at ``src_start``
    on lane ``src`` are the bytes at ``dst_start`` on lane ``dst``."""

    src: str
    dst: str
    src_start: int
    dst_start: int
    size: int
    kind: str
    label: str
    highlight: bool = False


@dataclass
class LanesData:
    """Everything :func:`vfiolab.plot.lanes.draw_lanes` needs."""

    lanes: list[Lane]
    bands: list[Band] = field(default_factory=list)

    def lane(self, key: str) -> Lane:
        for ln in self.lanes:
            if ln.key == key:
                return ln
        raise KeyError(key)


def _section_finder(sections):
    secs = sorted(sections, key=lambda s: s.start)
    starts = [s.start for s in secs]

    def find(addr):
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and secs[i].start <= addr <= secs[i].end:
            return secs[i]
        return None
    return find


#: host mapping kind (vfiolab.model.host.HostMapping.kind) -> colour kind:
#: an mmap of a device's memory is what QEMU's ram_device regions point at
HOST_KINDS = {"ram": "ram", "pfnmap": "ramd"}


def lanes_from_records(sections, memslots, host_mappings=None, *,
                       lanes=("gpa", "hva"), highlight=(), iommu_maps=None) -> LanesData:
    """Lanes from records alone (a real capture, or a prediction's records).

    * GPA: one range per FlatRange of address space "memory", coloured by
      its ``info mtree -f`` type;
    * HVA: ``host_mappings`` (``vaddr``, ``size``, ``name``, ``kind``) when
      given; otherwise the HVA side of each memslot (a capture does not list
      QEMU's mappings), named after the region it backs;
    * HPA: the host mappings that carry an ``hpa`` (``vm.host`` gives RAM
      blocks model host-physical addresses; vfio BAR mmaps point at the
      device's BAR);
    * IOVA: ``iommu_maps`` (:class:`IommuMap`, from :func:`iommu_maps`) when
      given: one range per run the IOMMU maps, coloured ``ram``, ``rom``
      (no DMA write) or ``ramd`` (a BAR: peer to peer); without them an
      empty lane with a note;
    * bands GPA -> HVA: one per memslot (``guest_phys_addr``,
      ``userspace_addr``, ``memory_size``), coloured ``rom`` when the slot
      has ``KVM_MEM_READONLY``, ``ramd`` over device RAM, ``ram`` otherwise;
    * bands HVA -> HPA: one per host mapping with an ``hpa``, when both
      lanes are shown;
    * bands IOVA -> HPA: one per IOMMU map run, labelled with the IOMMU
      page sizes that map it, when both lanes are shown.

    ``highlight`` is a collection of region names to mark.
    """
    highlight = set(highlight)
    find = _section_finder(sections)
    out: list[Lane] = []
    bands: list[Band] = []
    for key in lanes:
        if key not in LANE_TITLES:
            raise KeyError(f"unknown lane {key!r}; lanes are {', '.join(LANE_TITLES)}")
        lane = Lane(key, LANE_TITLES[key])
        if key == "gpa":
            for s in sorted(sections, key=lambda s: s.start):
                lane.ranges.append(LaneRange(s.start, s.size, s.kind, s.name, s.kvm,
                                             s.name in highlight))
        elif key == "hva":
            if host_mappings is not None:
                for m in sorted(host_mappings, key=lambda m: m.vaddr):
                    lane.ranges.append(LaneRange(m.vaddr, m.size, HOST_KINDS.get(m.kind, "ram"),
                                                 m.name, False, m.name in highlight))
            else:
                # a capture lists no mappings: rebuild them from the memslots,
                # joining host-contiguous slots of one region (one RAM block)
                for m in sorted(memslots, key=lambda m: m.userspace_addr or 0):
                    if m.userspace_addr is None:
                        continue
                    sec = find(m.guest_phys_addr)
                    name = sec.name if sec is not None else f"slot {m.slot}"
                    prev = lane.ranges[-1] if lane.ranges else None
                    if prev is not None and prev.name == name and prev.end == m.userspace_addr:
                        lane.ranges[-1] = LaneRange(prev.start, prev.size + m.memory_size, "ram",
                                                    name, False, prev.highlight)
                        continue
                    lane.ranges.append(LaneRange(m.userspace_addr, m.memory_size, "ram", name,
                                                 False, name in highlight))
        elif key == "hpa":
            for m in sorted(host_mappings or (), key=lambda m: m.hpa or 0):
                if getattr(m, "hpa", None) is not None:
                    lane.ranges.append(LaneRange(m.hpa, m.size, HOST_KINDS.get(m.kind, "ram"),
                                                 m.name, False, m.name in highlight))
            if not lane.ranges:
                lane.note = "no host physical addresses known"
        elif key == "iova":
            if iommu_maps is None:
                lane.note = "IOVA lane: not modelled yet"
            else:
                for im in sorted(iommu_maps, key=lambda im: im.iova):
                    lane.ranges.append(LaneRange(im.iova, im.size, im.color_kind, im.name,
                                                 False, im.name in highlight))
                if not lane.ranges:
                    lane.note = "no IOMMU mappings (no vfio-pci device, so no VFIO container)"
        out.append(lane)
    keys = [ln.key for ln in out]
    if "gpa" in keys and "hva" in keys:
        for m in sorted(memslots, key=lambda m: m.guest_phys_addr):
            if m.userspace_addr is None:
                continue
            sec = find(m.guest_phys_addr)
            # the band shows what KVM maps: read-only only with KVM_MEM_READONLY
            # (a PAM segment printed "rom" still gets a writable slot, see
            # vfiolab.model.kvm), device RAM stays "ramd"
            if m.readonly:
                kind = "rom"
            elif sec is not None and sec.kind == "ramd":
                kind = "ramd"
            else:
                kind = "ram"
            name = sec.name if sec is not None else ""
            bands.append(Band("gpa", "hva", m.guest_phys_addr, m.userspace_addr, m.memory_size,
                              kind, f"slot {m.slot}", name in highlight))
    if "hva" in keys and "hpa" in keys:
        # the host page tables: one band per mapping with a known HPA, unlabelled
        # (the mapping's name is on both lanes)
        for m in host_mappings or ():
            if getattr(m, "hpa", None) is not None:
                bands.append(Band("hva", "hpa", m.vaddr, m.hpa, m.size,
                                  HOST_KINDS.get(m.kind, "ram"), "", m.name in highlight))
    if "iova" in keys and "hpa" in keys:
        # the IOMMU page table: IOVA -> HPA, one band per run it maps
        for im in iommu_maps or ():
            bands.append(Band("iova", "hpa", im.iova, im.hpa, im.size, im.color_kind,
                              page_counts_text(im.pages), im.name in highlight))
    return LanesData(out, bands)


def lanes_data(prediction, *, lanes=("gpa", "hva"), highlight=()) -> LanesData:
    """Lanes of a :class:`~vfiolab.predict.Prediction` (or a bare ``VM``):
    its flat view, its memslots and QEMU's host mappings
    (``vm.host.mappings``).  See :func:`lanes_from_records`."""
    vm = getattr(prediction, "vm", prediction)
    if hasattr(prediction, "sections"):
        sections = prediction.sections()
    else:
        from .model.memory import to_section
        sections = [to_section(fr, vm.accel_marker) for fr in vm.flatview()]
    maps = None
    if "iova" in lanes:
        lst = getattr(vm, "vfio", None)
        cont = getattr(lst, "container", None)
        maps = iommu_maps(cont, vm.host) if cont is not None else []
    data = lanes_from_records(sections, vm.memslots(), vm.host.mappings,
                              lanes=lanes, highlight=highlight, iommu_maps=maps)
    if maps:
        # QEMU 7.2 hw/vfio/common.c vfio_listener_region_add: the listener sits on
        # address space "memory", so each section is mapped at IOVA = its GPA
        data.lane("iova").title = "IOVA = GPA (no vIOMMU): the VFIO container's maps"
    return data


@dataclass(frozen=True)
class IommuMap:
    """One physically contiguous run the IOMMU maps: ``size`` bytes at
    ``iova`` reach ``hpa``.

    A run is one ``chunk`` of a kernel ``struct vfio_dma`` (Linux
    ``drivers/vfio/vfio_iommu_type1.c`` ``vfio_pin_map_dma``: each
    contiguous run pinned or looked up is given to ``iommu_map``).
    ``kind`` is the host mapping's kind, ``ram`` (pinned pages) or
    ``pfnmap`` (a device BAR: ``VM_PFNMAP``, not pinned); ``write`` whether
    the device may write (``VFIO_DMA_MAP_FLAG_WRITE``); ``name`` the host
    mapping behind ``vaddr``; ``pages`` the IOMMU page size -> entries used.
    """

    iova: int
    size: int
    hpa: int
    kind: str
    name: str
    vaddr: int | None = None
    write: bool = True
    pages: tuple = ()

    @property
    def end(self) -> int:
        return self.iova + self.size

    @property
    def color_kind(self) -> str:
        """``ramd`` for a BAR, ``rom`` for a mapping the device may only read,
        ``ram`` otherwise (the lanes' colour kinds)."""
        if self.kind == "pfnmap":
            return "ramd"
        return "ram" if self.write else "rom"


def iommu_maps(container, host=None) -> list[IommuMap]:
    """The runs a VFIO type1 container (:class:`vfiolab.model.iommu.Type1Container`)
    has mapped, by IOVA.  ``host`` (QEMU's address space, default the
    container's) names each run after the host mapping its ``vaddr`` lies in."""
    host = host if host is not None else getattr(container, "host", None)
    out = []
    for dma in container.mappings():
        for c_iova, c_hpa, c_size, kind, counts in dma.chunks:
            vaddr = dma.vaddr + (c_iova - dma.iova)
            hm = host.find(vaddr) if host is not None else None
            name = hm.name if hm is not None else fmt_hex(vaddr)
            out.append(IommuMap(c_iova, c_size, c_hpa, kind, name, vaddr, dma.write,
                                tuple(sorted(counts.items(), reverse=True))))
    return sorted(out, key=lambda m: m.iova)


#: IOMMU page sizes as the VT-d spec names the leaves they use
_PAGE_NAMES = {1 << 30: "1G", 2 << 20: "2M", 4 << 10: "4K"}


def page_counts_text(pages) -> str:
    """``((2 MiB, 1023), (4 KiB, 256))`` -> ``"1023x2M + 256x4K"``."""
    items = pages.items() if isinstance(pages, dict) else pages
    parts = [f"{n}x{_PAGE_NAMES.get(sz, fmt_size(sz))}"
             for sz, n in sorted(items, key=lambda kv: -kv[0]) if n]
    return " + ".join(parts)


def html_table(df: pd.DataFrame, *, table_id: str = "vfiolab-table", caption: str | None = None,
               highlight_rows=None) -> str:
    """A plain HTML table of ``df`` (no index), deterministic and fast.

    For widgets that refill a table on every action: pandas' Styler renders
    through Jinja and takes milliseconds; this takes a fraction of one.
    Cells holding ``0x`` hex are set in a monospace font and, like numbers,
    right-aligned; words are left-aligned; ``highlight_rows`` (row
    positions) get a background.
    """
    import html as _html
    esc = _html.escape
    hl = set(highlight_rows or ())
    out = [f'<table id="{esc(table_id)}" style="border-collapse:collapse;font-size:12px">']
    if caption:
        out.append(f"<caption style=\"text-align:left\">{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(
        f'<th style="padding:1px 6px;border-bottom:1px solid #999;text-align:'
        f'{"right" if len(df) and _right_aligned(df[c].iloc[0]) else "left"}">{esc(str(c))}</th>'
        for c in df.columns) + "</tr></thead><tbody>")
    for i, row in enumerate(df.itertuples(index=False, name=None)):
        bg = ' style="background-color:#fff3bf"' if i in hl else ""
        cells = []
        for v in row:
            s = "" if v is None else str(v)
            mono = "font-family:monospace;" if s.startswith("0x") else ""
            align = "right" if _right_aligned(v) else "left"
            cells.append(f'<td style="{mono}padding:1px 6px;text-align:{align}">{esc(s)}</td>')
        out.append(f"<tr{bg}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


#: Type 0 header registers by first byte (PCI Local Bus spec 3.0, 6.1; names of
#: Linux include/uapi/linux/pci_regs.h): offset -> (name, length)
HEADER0 = {
    0x00: ("VENDOR_ID", 2), 0x02: ("DEVICE_ID", 2), 0x04: ("COMMAND", 2), 0x06: ("STATUS", 2),
    0x08: ("REVISION_ID", 1), 0x09: ("CLASS_PROG", 1), 0x0a: ("CLASS_DEVICE", 2),
    0x0c: ("CACHE_LINE_SIZE", 1), 0x0d: ("LATENCY_TIMER", 1), 0x0e: ("HEADER_TYPE", 1),
    0x0f: ("BIST", 1), 0x10: ("BAR0", 4), 0x14: ("BAR1", 4), 0x18: ("BAR2", 4),
    0x1c: ("BAR3", 4), 0x20: ("BAR4", 4), 0x24: ("BAR5", 4), 0x28: ("CARDBUS_CIS", 4),
    0x2c: ("SUBSYSTEM_VENDOR_ID", 2), 0x2e: ("SUBSYSTEM_ID", 2), 0x30: ("ROM_ADDRESS", 4),
    0x34: ("CAPABILITY_LIST", 1), 0x35: ("reserved", 7), 0x3c: ("INTERRUPT_LINE", 1),
    0x3d: ("INTERRUPT_PIN", 1), 0x3e: ("MIN_GNT", 1), 0x3f: ("MAX_LAT", 1),
}
CAP_NAMES = {0x01: "PM", 0x05: "MSI", 0x09: "vendor", 0x10: "PCI Express", 0x11: "MSI-X",
             0x03: "VPD", 0x0d: "bridge subsystem", 0x12: "SATA", 0x13: "AF"}


def config_frame(vfio_dev) -> pd.DataFrame:
    """Config space of a passed-through device, register by register: the
    value the guest reads and who owns each part (``qemu`` emulates it,
    ``kernel`` virtualizes it, ``device`` answers it), from
    :func:`vfiolab.model.vfio.config_owners`."""
    from .model.vfio import config_owners
    owners = {r["offset"]: r for r in config_owners(vfio_dev)}
    regs = [(off, n, name) for off, (name, n) in HEADER0.items() if name != "reserved"]
    caps = sorted((c.offset, c.id) for c in vfio_dev.hostdev.capabilities if c.id is not None)
    for i, (off, cid) in enumerate(caps):
        end = caps[i + 1][0] if i + 1 < len(caps) else min(0x100, off + 0x40)
        regs.append((off, 2, f"{CAP_NAMES.get(cid, hex(cid))} capability: ID, next"))
        if end - off > 2:
            regs.append((off + 2, min(end - off - 2, 0x3e), f"{CAP_NAMES.get(cid, hex(cid))} capability body"))
    rows = []
    for off, width, name in regs:
        parts = [owners[o]["owner"] for o in range(off, off + width) if o in owners]
        if not parts:
            continue
        who = sorted(set(parts), key=parts.index)
        kernel = any(owners[o]["kernel"] for o in range(off, off + width) if o in owners)
        value = vfio_dev.config_read(off, width) if width <= 4 else None
        rows.append({"offset": _hex(off), "width": width, "register": name,
                     "value": "" if value is None else _hex(value), "owner": "/".join(who),
                     "kernel virtualizes": "yes" if kernel else ""})
    return pd.DataFrame(rows, columns=["offset", "width", "register", "value", "owner",
                                       "kernel virtualizes"])


def vfio_regions_frame(vfio_dev) -> pd.DataFrame:
    """The VFIO device fd's regions as the kernel reports them
    (``VFIO_DEVICE_GET_REGION_INFO``, :func:`vfiolab.model.vfio.region_infos`),
    with what QEMU mmapped of each (``vfio_region_mmap``)."""
    rows = []
    bars = {vb.index: vb for vb in getattr(vfio_dev, "vbars", [])}
    for r in vfio_dev.regions:
        vb = bars.get(r.index)
        mmaps = ", ".join(f"[{_hex(m.offset)}-{_hex(m.offset + m.size - 1)}]"
                          for m in (vb.mmaps if vb is not None else []))
        sparse = ", ".join(f"[{_hex(o)}+{_hex(n)}]" for o, n in r.sparse) if r.sparse else ""
        rows.append({"index": r.index, "region": r.name, "offset": _hex(r.offset),
                     "size": _hex(r.size), "flags": r.flag_names(),
                     "sparse mmap": sparse, "msix mappable": "yes" if r.msix_mappable else "",
                     "QEMU mmaps": mmaps})
    return pd.DataFrame(rows, columns=["index", "region", "offset", "size", "flags",
                                       "sparse mmap", "msix mappable", "QEMU mmaps"])


# --------------------------------------------------------------------------
# A BAR move, write by write
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class BarMoment:
    """Where a BAR is decoded after one config write of a move: ``offset``
    and ``value`` of the write (None for the moment before the move),
    ``address`` the BAR's guest-physical base after it (None: mapped
    nowhere), and ``size``."""

    offset: int | None
    value: int | None
    width: int | None
    address: int | None
    size: int


def bar_positions(events, bdf: str, bar: int, start: int | None, size: int) -> list[BarMoment]:
    """The BAR's position after each config write to ``bdf`` in ``events``
    (a move's events, in order), from the mappings QEMU made for it: after
    every write QEMU re-decodes the BARs (QEMU ``hw/pci/pci.c``
    ``pci_default_write_config`` -> ``pci_update_mappings``), unmapping the
    old place (``pci_update_mappings_del``) and mapping the new one
    (``pci_update_mappings_add``).  ``start`` is where it was before the
    first event (None: not mapped)."""
    out = [BarMoment(None, None, None, start, size)]
    pos = start
    for e in events:
        op = e.get("op")
        if op == "pci_cfg_write" and e.get("bdf") == bdf:
            out.append(BarMoment(e["offset"], e["value"], e.get("size"), pos, size))
        elif op in ("pci_update_mappings_del", "pci_update_mappings_add") and \
                e.get("bdf") == bdf and e.get("bar") == bar:
            pos = e["addr"] if op.endswith("add") else None
            size = e.get("size", size)
            if len(out) > 1:
                last = out[-1]
                out[-1] = BarMoment(last.offset, last.value, last.width, pos, size)
    return out
