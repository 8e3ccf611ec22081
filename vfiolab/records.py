"""Plain records shared by the model, the text parsers and the references.

The model *produces* these (rendering a FlatView, listing memslots, walking
its PCI buses) and the parsers *read* them out of real QEMU text, so a
prediction and a capture compare field by field.  Field names follow the
real interfaces: ``struct kvm_userspace_memory_region`` for memslots
(Linux ``include/uapi/linux/kvm.h``), ``struct FlatRange`` / ``info mtree -f``
for sections (QEMU ``system/memory.c`` ``mtree_print_flatview``), and
``info pci`` for devices (QEMU ``hw/pci/pci.c`` ``hmp_info_pci``).

Each record has ``to_json()`` giving the JSON shape of ``vfiolab predict``:
addresses and sizes as ``0x`` hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .addr import fmt_hex

__all__ = [
    "Section", "FlatViewRecord", "MtreeNode", "MtreeRecord", "Memslot",
    "BarRecord", "PciDeviceRecord", "TraceEvent", "fmt_bdf",
]


def fmt_bdf(bus: int, slot: int, func: int) -> str:
    """``bb:dd.f`` as QEMU's ``pci_update_mappings`` trace prints a device."""
    return f"{bus:02x}:{slot:02x}.{func:x}"


@dataclass(frozen=True)
class Section:
    """One line of ``info mtree -f``: a FlatRange of a FlatView.

    ``end`` is inclusive, as printed.  ``kind`` is what QEMU prints in the
    type column (``ram``, ``rom``, ``ramd``, ``romd``, ``i/o``), with an
    ``nv-`` prefix kept separately in ``nonvolatile``.  ``offset`` is the
    offset in the owning MemoryRegion (printed ``@...`` only when non-zero;
    ``None`` here means it was not printed, i.e. zero).  ``accel`` is the
    accelerator marker (``"KVM"`` when a memslot backs the range).
    """

    start: int
    end: int
    prio: int
    kind: str
    name: str
    offset: int | None = None
    accel: str | None = None
    nonvolatile: bool = False

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def kvm(self) -> bool:
        return self.accel == "KVM"

    def to_json(self) -> dict:
        return {
            "start": fmt_hex(self.start),
            "end": fmt_hex(self.end),
            "prio": self.prio,
            "kind": ("nv-" if self.nonvolatile else "") + self.kind,
            "name": self.name,
            "offset": None if not self.offset else fmt_hex(self.offset),
            "kvm": self.kvm,
        }


@dataclass
class FlatViewRecord:
    """One ``FlatView #n`` block: the address spaces sharing it and its sections."""

    index: int
    address_spaces: list[str]
    root: str | None
    sections: list[Section] = field(default_factory=list)
    #: root name per address space as printed (``AS "x", root: y[, alias z]``)
    as_roots: dict[str, str] = field(default_factory=dict)
    #: alias target per address space whose root is an alias (the ``, alias z`` part)
    as_aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class MtreeNode:
    """One line of ``info mtree`` (the region tree, not the flat view)."""

    start: int
    end: int
    prio: int
    kind: str
    name: str
    alias_of: str | None = None
    alias_start: int | None = None
    alias_end: int | None = None
    disabled: bool = False
    nonvolatile: bool = False
    children: list["MtreeNode"] = field(default_factory=list)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class MtreeRecord:
    """A whole ``info mtree``: address-space trees and alias-target blocks."""

    #: address-space name -> root node (several names may share one root)
    address_spaces: dict[str, MtreeNode | None] = field(default_factory=dict)
    #: ``memory-region: <name>`` blocks, in order
    memory_regions: dict[str, MtreeNode] = field(default_factory=dict)
    #: every ``address-space:`` group in print order: (names sharing the root, root).
    #: Unlike ``address_spaces`` this keeps repeated names (two devices of one type).
    address_space_groups: list[tuple[tuple[str, ...], "MtreeNode | None"]] = field(default_factory=list)
    #: every ``memory-region:`` block in print order, repeated names kept
    memory_region_list: list[tuple[str, "MtreeNode | None"]] = field(default_factory=list)


@dataclass(frozen=True)
class Memslot:
    """A KVM memslot as ``KVM_SET_USER_MEMORY_REGION`` takes it.

    Linux ``include/uapi/linux/kvm.h`` ``struct kvm_userspace_memory_region``:
    ``slot`` (low 16 bits slot id, high 16 bits address-space id), ``flags``
    (``KVM_MEM_LOG_DIRTY_PAGES`` = 1, ``KVM_MEM_READONLY`` = 2),
    ``guest_phys_addr``, ``memory_size`` (0 deletes), ``userspace_addr``.
    """

    slot: int
    flags: int
    guest_phys_addr: int
    memory_size: int
    userspace_addr: int | None = None
    as_id: int = 0

    KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
    KVM_MEM_READONLY = 1 << 1

    @property
    def readonly(self) -> bool:
        return bool(self.flags & self.KVM_MEM_READONLY)

    @property
    def dirty_logging(self) -> bool:
        return bool(self.flags & self.KVM_MEM_LOG_DIRTY_PAGES)

    def to_json(self) -> dict:
        return {"slot": self.slot, "gpa": fmt_hex(self.guest_phys_addr),
                "size": fmt_hex(self.memory_size), "flags": self.flags}


@dataclass(frozen=True)
class BarRecord:
    """A BAR as the guest sees it: ``type`` is ``io``, ``mem32`` or ``mem64``.

    ``address`` is ``None`` when the BAR is not mapped (``info pci`` does
    not print it, or prints it unmapped).  ``bar`` 6 is the expansion ROM.
    """

    bar: int
    type: str
    prefetch: bool
    address: int | None
    size: int

    def to_json(self) -> dict:
        return {"bar": self.bar, "type": self.type, "prefetch": self.prefetch,
                "address": None if self.address is None else fmt_hex(self.address),
                "size": fmt_hex(self.size)}


@dataclass
class PciDeviceRecord:
    """A PCI function as ``info pci`` describes it."""

    bus: int
    slot: int
    func: int
    vendor: int
    device: int
    class_desc: str = ""
    qdev_id: str = ""
    type: str | None = None
    irq: int | None = None
    pin: str | None = None
    bars: list[BarRecord] = field(default_factory=list)
    #: bridges: secondary/subordinate bus and windows (name -> (base, limit))
    secondary_bus: int | None = None
    subordinate_bus: int | None = None
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: ``PCI subsystem vvvv:dddd`` (QAPI PciDeviceId subsystem_vendor / subsystem);
    #: None when not printed (bridges)
    subsystem_vendor: int | None = None
    subsystem: int | None = None
    #: 16-bit class code (QAPI PciDeviceClass ``class``) when ``info pci`` printed
    #: ``Class NNNN`` (decimal!) instead of a description; None otherwise
    class_code: int | None = None

    @property
    def bdf(self) -> str:
        return fmt_bdf(self.bus, self.slot, self.func)

    def to_json(self) -> dict:
        out = {"bdf": self.bdf, "qdev_id": self.qdev_id, "type": self.type,
               "bars": [b.to_json() for b in self.bars]}
        if self.windows:
            out["windows"] = {k: [fmt_hex(a), fmt_hex(b)] for k, (a, b) in self.windows.items()}
        return out


@dataclass(frozen=True)
class TraceEvent:
    """One QEMU trace event line: its name and its arguments, parsed.

    ``args`` holds typed values (ints for numbers); ``line_no`` points back
    into the log for error messages and provenance.
    """

    name: str
    args: dict
    line_no: int = 0
    raw: str = ""
    #: ``-msg timestamp=on`` prefix: thread id (QEMU 7.2-10.0 ``PID@SEC.USEC:``)
    pid: int | None = None
    #: ``-msg timestamp=on`` time as printed (``SEC.USEC`` or ISO 8601 in 10.1+)
    timestamp: str | None = None
