"""A real host PCI function, as vfio-pci would hand it to QEMU.

This is the *input* side of the passthrough model: what a user can read off
their own machine (``lspci -vvv``, ``lspci -xxxx``, ``/sys/bus/pci/devices/*``)
turned into one checked record, :class:`HostDevice`.  The parsers in
``vfiolab.inputs.lspci`` and ``vfiolab.inputs.sysfs`` build it; every way
of building it ends in :meth:`HostDevice.validate` (called from
``__post_init__``), so an impossible device never reaches the model.

Where the rules come from
-------------------------
* Register layout of the type 0/1 configuration header, BAR bits, the
  capability list, MSI and MSI-X: the PCI Local Bus / PCI Express base
  specifications, as summarised with offsets in
  ``/work/shared/reference/firmware-machines-config.md`` section 6, and the
  constant names of Linux ``include/uapi/linux/pci_regs.h`` (pciutils
  ``lib/header.h`` uses the same names).
* How a BAR's size is found and which flags it carries: Linux
  ``drivers/pci/probe.c`` ``__pci_read_base()`` (write all ones, read back,
  ``pci_size()`` keeps the lowest writable address bit) and ``decode_bar()``
  (bit 0 I/O vs memory, bits 2:1 the memory type, bit 3 prefetchable); the
  expansion ROM is read with ``PCI_ROM_ADDRESS_MASK`` (bits 31:11) by
  ``pci_read_bases()``.  A dump of config space cannot be sized: sizing needs
  the write-ones probe, so a size comes only from the kernel (``lspci``
  prints the sysfs ``resource`` sizes; see ``vfiolab.inputs.sysfs``).
* MSI-X table and PBA sizes: an MSI-X table entry is 16 bytes
  (``PCI_MSIX_ENTRY_SIZE``) and the PBA holds one bit per vector in whole
  QWORDs -- QEMU ``hw/pci/msix.c`` ``msix_init()`` computes
  ``table_size = nentries * PCI_MSIX_ENTRY_SIZE`` and
  ``pba_size = QEMU_ALIGN_UP(nentries, 64) / 8`` and refuses a table or PBA
  that does not fit in its BAR or that overlaps the other; QEMU
  ``hw/vfio/pci.c`` ``vfio_msix_early_setup()`` refuses a host device whose
  PBA offset lies outside the BAR it names ("hardware reports invalid
  configuration, MSIX PBA outside of specified BAR").

Addresses are host *CPU* physical addresses as the kernel reports them
(``lspci`` and sysfs ``resource``); on x86 they equal the PCI bus addresses
held in the BAR registers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from ..addr import Range, fmt_hex, fmt_size, is_pow2
from ..errors import DeviceError

__all__ = [
    "HostBar", "HostRom", "MsixInfo", "MsiInfo", "Cap", "HostDevice",
    "normalize_bdf", "decode_config",
    "CONFIG_SIZES", "PCI_MSIX_ENTRY_SIZE", "msix_pba_size",
    "CAP_NAMES", "EXT_CAP_NAMES", "PCIE_TYPES",
]

#: The lengths ``lspci`` dumps: ``-x`` the first 64 bytes, ``-xxx`` 256
#: (conventional config space), ``-xxxx`` 4096 (PCIe extended space);
#: pciutils ``lspci.c`` ``show_hex_dump()``.  sysfs ``config`` has 256 or 4096
#: (64 when read by a non-root user).
CONFIG_SIZES = (64, 256, 4096)

#: Bytes per MSI-X table entry (``PCI_MSIX_ENTRY_SIZE``, pci_regs.h).
PCI_MSIX_ENTRY_SIZE = 16

# --- configuration header offsets (pci_regs.h names; reference notes section 6)
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x10          # status bit 4: capability list present
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_HEADER_TYPE = 0x0E
PCI_BASE_ADDRESS_0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_ROM_ADDRESS = 0x30              # type 0 header
PCI_ROM_ADDRESS1 = 0x38             # type 1 (bridge) header
PCI_CAPABILITY_LIST = 0x34
PCI_CB_CAPABILITY_LIST = 0x14       # type 2 (CardBus) header
PCI_CB_SUBSYSTEM_VENDOR_ID = 0x40
PCI_INTERRUPT_PIN = 0x3D
PCI_BASE_ADDRESS_SPACE_IO = 0x01
PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06
PCI_BASE_ADDRESS_MEM_TYPE_32 = 0x00
PCI_BASE_ADDRESS_MEM_TYPE_1M = 0x02
PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04
PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08
PCI_BASE_ADDRESS_MEM_MASK = ~0x0F
PCI_BASE_ADDRESS_IO_MASK = ~0x03
PCI_ROM_ADDRESS_ENABLE = 0x01
PCI_ROM_ADDRESS_MASK = ~0x7FF

# capability IDs (pci_regs.h PCI_CAP_ID_*)
PCI_CAP_ID_MSI = 0x05
PCI_CAP_ID_SSVID = 0x0D
PCI_CAP_ID_EXP = 0x10
PCI_CAP_ID_MSIX = 0x11
PCI_CAP_ID_PCIX = 0x07
PCI_EXT_CAP_START = 0x100

#: Standard capability names as ``lspci`` prints them (pciutils ``ls-caps.c``
#: ``show_caps()``), keyed by ID.
CAP_NAMES = {
    0x00: "Null", 0x01: "Power Management", 0x02: "AGP", 0x03: "Vital Product Data",
    0x04: "Slot ID", 0x05: "MSI", 0x06: "CompactPCI hot-swap", 0x07: "PCI-X",
    0x08: "HyperTransport", 0x09: "Vendor Specific Information", 0x0A: "Debug port",
    0x0B: "CompactPCI central resource control", 0x0C: "Hot-plug capable",
    0x0D: "Subsystem", 0x0E: "AGP3", 0x0F: "Secure device", 0x10: "Express",
    0x11: "MSI-X", 0x12: "SATA HBA", 0x13: "PCI Advanced Features",
    0x14: "Enhanced Allocation",
}

#: Extended capability names as ``lspci`` prints them (pciutils ``ls-ecaps.c``
#: ``show_ext_caps()``), keyed by ID (pci_regs.h ``PCI_EXT_CAP_ID_*``).
EXT_CAP_NAMES = {
    0x00: "Null", 0x01: "Advanced Error Reporting", 0x02: "Virtual Channel",
    0x03: "Device Serial Number", 0x04: "Power Budgeting", 0x05: "Root Complex Link",
    0x06: "Root Complex Internal Link", 0x07: "Root Complex Event Collector",
    0x08: "Multi-Function Virtual Channel", 0x09: "Virtual Channel",
    0x0A: "Root Complex Register Block", 0x0B: "Vendor Specific Information",
    0x0D: "Access Control Services", 0x0E: "Alternative Routing-ID Interpretation",
    0x0F: "Address Translation Service", 0x10: "Single Root I/O Virtualization",
    0x11: "Multi-Root I/O Virtualization", 0x12: "Multicast",
    0x13: "Page Request Interface", 0x15: "Physical Resizable BAR",
    0x16: "Dynamic Power Allocation", 0x17: "Transaction Processing Hints",
    0x18: "Latency Tolerance Reporting", 0x19: "Secondary PCI Express",
    0x1A: "Protocol Multiplexing", 0x1B: "Process Address Space ID",
    0x1C: "LN Requester", 0x1D: "Downstream Port Containment", 0x1E: "L1 PM Substates",
    0x1F: "Precision Time Measurement", 0x20: "PCI Express over M_PHY",
    0x21: "FRS Queueing", 0x22: "Readiness Time Reporting",
    0x23: "Designated Vendor-Specific", 0x24: "Virtual Resizable BAR",
    0x25: "Data Link Feature", 0x26: "Physical Layer 16.0 GT/s",
    0x27: "Lane Margining at the Receiver", 0x28: "Hierarchy ID",
    0x29: "Native PCIe Enclosure Management", 0x2A: "Physical Layer 32.0 GT/s",
    0x2E: "Data Object Exchange", 0x2F: "Device 3", 0x30: "Integrity & Data Encryption",
    0x31: "Physical Layer 64.0 GT/s",
}

#: PCIe Capabilities register bits 7:4, Device/Port Type (``PCI_EXP_TYPE_*``),
#: named as ``lspci`` prints them (pciutils ``ls-caps.c`` ``cap_express()``).
PCIE_TYPES = {
    0x0: "Endpoint", 0x1: "Legacy Endpoint", 0x4: "Root Port", 0x5: "Upstream Port",
    0x6: "Downstream Port", 0x7: "PCI-Express to PCI/PCI-X Bridge",
    0x8: "PCI/PCI-X to PCI-Express Bridge", 0x9: "Root Complex Integrated Endpoint",
    0xA: "Root Complex Event Collector",
}


def msix_pba_size(nentries: int) -> int:
    """PBA bytes for ``nentries`` vectors: one bit each, in whole QWORDs.

    QEMU ``hw/pci/msix.c`` ``msix_init()``: ``QEMU_ALIGN_UP(nentries, 64) / 8``.
    """
    return ((nentries + 63) // 64) * 8


def normalize_bdf(text: str) -> str:
    """``bb:dd.f`` or ``dddd:bb:dd.f`` -> ``dddd:bb:dd.f`` (lower case).

    ``lspci`` prints the domain only with ``-D`` or when it is not 0 (pciutils
    ``lspci.c`` ``show_slot_name()``); sysfs names always carry it.  Raises
    ``ValueError`` for anything else (callers turn it into their own error).
    """
    t = text.strip().lower()
    parts = t.split(":")
    if len(parts) == 2:
        parts = ["0000"] + parts
    if len(parts) != 3 or "." not in parts[2]:
        raise ValueError(f"not a PCI address: {text!r}")
    dom, bus = parts[0], parts[1]
    dev, fn = parts[2].split(".", 1)
    try:
        d, b, s, f = int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)
    except ValueError:
        raise ValueError(f"not a PCI address: {text!r}") from None
    if not (0 <= d <= 0xFFFFFFFF and 0 <= b <= 0xFF and 0 <= s <= 0x1F and 0 <= f <= 7):
        raise ValueError(f"PCI address out of range: {text!r}")
    return f"{d:04x}:{b:02x}:{s:02x}.{f:x}"


@dataclass(frozen=True)
class HostBar:
    """One implemented Base Address Register of the host device.

    ``index`` is the BAR number (0-5; 0-1 on a bridge).  ``host_address`` is
    ``None`` when the kernel has no address for it (``lspci`` prints
    ``<unassigned>`` or ``<ignored>``); ``size`` is ``None`` when the source
    cannot tell (a config-space dump alone).  ``kind`` is ``"mem"`` or
    ``"io"`` (BAR bit 0), ``is64`` the memory type 10b (bits 2:1; the next
    BAR register holds the upper 32 address bits), ``prefetch`` bit 3.
    ``disabled`` / ``virtual`` / ``low1m`` record what lspci marks: decode
    off in the Command register, an address known to the OS but not present
    in the BAR register, memory type 01b ("low-1M").
    """

    index: int
    host_address: int | None
    size: int | None
    kind: str
    is64: bool = False
    prefetch: bool = False
    disabled: bool = False
    virtual: bool = False
    low1m: bool = False

    @property
    def name(self) -> str:
        return f"BAR{self.index}"

    @property
    def range(self) -> Range | None:
        if self.host_address is None or not self.size:
            return None
        return Range(self.host_address, self.size)

    @property
    def type(self) -> str:
        """``io``, ``mem32`` or ``mem64``: the ``BarRecord.type`` spelling."""
        if self.kind == "io":
            return "io"
        return "mem64" if self.is64 else "mem32"

    def describe(self) -> str:
        where = "unassigned" if self.host_address is None else fmt_hex(self.host_address)
        size = "size unknown" if self.size is None else fmt_size(self.size)
        if self.kind == "io":
            return f"{self.name}: I/O at {where} [{size}]"
        pf = "prefetchable" if self.prefetch else "non-prefetchable"
        return f"{self.name}: {'64' if self.is64 else '32'}-bit {pf} memory at {where} [{size}]"


@dataclass(frozen=True)
class HostRom:
    """The expansion ROM BAR (config offset 0x30; 0x38 on a bridge).

    ``host_address``/``size`` as for :class:`HostBar`; ``enabled`` is the ROM
    BAR's bit 0 (``PCI_ROM_ADDRESS_ENABLE``; lspci prints ``[disabled]``
    when it is clear); ``virtual`` is lspci's ``[virtual]``: the kernel's
    resource is a RAM shadow copy (x86: the legacy VGA BIOS image at
    0xc0000), not the device's ROM BAR.

    ``image_valid`` is whether the kernel can map a ROM image from it
    (Linux drivers/pci/rom.c ``pci_map_rom`` -> ``pci_get_rom_size``: the
    first image needs the 0xAA55 header signature and the "PCIR" data
    signature, else the kernel logs "Invalid PCI ROM header signature" /
    "Invalid PCI ROM data signature" and maps nothing).  ``False`` when the
    user's evidence says so (the kernel log, see
    ``vfiolab.inputs.lspci.apply_kernel_log``); ``None`` when nothing says,
    read as valid (what ``lspci`` shows of a ROM BAR cannot tell).
    """

    host_address: int | None
    size: int | None
    enabled: bool = False
    virtual: bool = False
    image_valid: bool | None = None

    def __iter__(self):
        # (host address, size), the plain pair a caller may unpack
        return iter((self.host_address, self.size))

    @property
    def range(self) -> Range | None:
        if self.host_address is None or not self.size:
            return None
        return Range(self.host_address, self.size)


@dataclass(frozen=True)
class MsixInfo:
    """The MSI-X capability (ID 0x11): table and PBA location and size.

    Message Control (cap + 2): bits 10:0 the Table Size field, N-1 encoded
    (``nentries`` holds N), bit 14 function mask, bit 15 enable; Table Offset/BIR (cap + 4) and PBA
    Offset/BIR (cap + 8): bits 2:0 BAR index, bits 31:3 offset.  The table
    and PBA fields are ``None`` when the text did not show them (``lspci -v``,
    or a non-root ``lspci``).
    """

    nentries: int
    table_bar: int | None = None
    table_offset: int | None = None
    pba_bar: int | None = None
    pba_offset: int | None = None
    enabled: bool | None = None
    masked: bool | None = None
    cap_offset: int | None = None

    @property
    def table_bytes(self) -> int:
        """Bytes the table occupies in its BAR: ``nentries`` x 16."""
        return self.nentries * PCI_MSIX_ENTRY_SIZE

    @property
    def pba_bytes(self) -> int:
        """Bytes the PBA occupies in its BAR: one bit per vector, whole QWORDs."""
        return msix_pba_size(self.nentries)


@dataclass(frozen=True)
class MsiInfo:
    """The MSI capability (ID 0x05).

    Message Control (cap + 2): bit 0 enable, bits 3:1 Multiple Message
    Capable (log2 of ``vectors``), bits 6:4 Multiple Message Enable (log2 of
    ``vectors_enabled``), bit 7 64-bit address, bit 8 per-vector masking.
    lspci prints ``Count=enabled/capable``.
    """

    is64: bool
    per_vector_mask: bool
    vectors: int
    vectors_enabled: int = 1
    enabled: bool | None = None
    cap_offset: int | None = None


class Cap(NamedTuple):
    """A capability: its ID (``None`` when lspci named one we do not map) and offset."""

    id: int | None
    offset: int


@dataclass(frozen=True)
class HostDevice:
    """One host PCI function, checked.

    ``bdf`` is ``dddd:bb:dd.f``.  Identity fields are ``None`` when the source
    did not carry them (``lspci -vvv`` without ``-nn`` prints names only).
    ``config`` is the raw configuration space when a dump or sysfs gave it
    (64, 256 or 4096 bytes), else ``None``.  ``bars`` lists implemented BARs
    by index; ``rom`` is the expansion ROM or ``None``.  ``capabilities`` and
    ``ext_capabilities`` are :class:`Cap` (id, offset) in list order;
    ``cap_names`` maps an offset to the name lspci printed.  ``is_pcie`` is
    whether a PCI Express capability (ID 0x10) is present; ``pcie_type`` its
    Device/Port Type.  ``interrupt_pin`` is config byte 0x3d (0 none, 1-4 =
    INTA-INTD).  ``notes`` says what the source could not tell.
    """

    bdf: str
    vendor_id: int | None = None
    device_id: int | None = None
    class_code: int | None = None
    revision: int | None = None
    subsystem_vendor_id: int | None = None
    subsystem_id: int | None = None
    header_type: int | None = None
    config: bytes | None = None
    bars: tuple[HostBar, ...] = ()
    rom: HostRom | None = None
    capabilities: tuple[Cap, ...] = ()
    ext_capabilities: tuple[Cap, ...] = ()
    cap_names: dict = field(default_factory=dict, compare=False)
    msix: MsixInfo | None = None
    msi: MsiInfo | None = None
    is_pcie: bool = False
    pcie_type: int | None = None
    interrupt_pin: int | None = None
    class_name: str | None = None
    device_name: str | None = None
    kernel_driver: str | None = None
    source: str | None = None
    notes: tuple[str, ...] = ()
    #: False when the source could not show the capability list (lspci run
    #: as a user prints "Capabilities: <access denied>": pciutils reads only
    #: the first 64 bytes of config space then), so MSI/MSI-X are unknown
    caps_known: bool = True

    def __post_init__(self):
        try:
            bdf = normalize_bdf(self.bdf)
        except (ValueError, AttributeError) as exc:
            raise DeviceError(str(self.bdf), "BDF", str(exc)) from None
        object.__setattr__(self, "bdf", bdf)
        object.__setattr__(self, "bars", tuple(sorted(self.bars, key=lambda b: b.index)))
        object.__setattr__(self, "capabilities", tuple(self.capabilities))
        object.__setattr__(self, "ext_capabilities", tuple(self.ext_capabilities))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.config is not None:
            object.__setattr__(self, "config", bytes(self.config))
        self.validate()

    # ----------------------------------------------------------------- access
    @property
    def domain(self) -> int:
        return int(self.bdf[:4], 16)

    @property
    def bus(self) -> int:
        return int(self.bdf[5:7], 16)

    @property
    def slot(self) -> int:
        return int(self.bdf[8:10], 16)

    @property
    def func(self) -> int:
        return int(self.bdf[11], 16)

    @property
    def num_bar_slots(self) -> int:
        """BAR registers in this header: 6 (type 0), 2 (type 1), 1 (type 2).

        pciutils ``lspci.c`` ``show_htype0/1/2()`` call ``show_bases()`` with
        6, 2 and 1; the layout is the header-type table of the PCI spec.
        An unknown header type is taken as type 0.
        """
        return {1: 2, 2: 1}.get(self.header_type, 6)

    def bar(self, index: int) -> HostBar | None:
        for b in self.bars:
            if b.index == index:
                return b
        return None

    def with_changes(self, **changes) -> "HostDevice":
        """A copy with fields replaced, validated again."""
        return replace(self, **changes)

    # ------------------------------------------------------------- validation
    def _fail(self, field_: str, why: str):
        raise DeviceError(self.bdf, field_, why)

    def validate(self) -> None:
        """Check the device is possible; raise ``DeviceError(bdf, field, why)``.

        Checks, each with its source:

        * config dump length is 64, 256 or 4096 bytes (pciutils ``lspci.c``
          ``show_hex_dump()``; sysfs ``config`` is 256 or 4096 bytes): any
          other length is a truncated dump;
        * BAR index within the header's BAR registers; a 64-bit BAR needs the
          next register for its upper half, so it cannot sit in the last one
          (index 5 on type 0; pciutils ``show_bases()`` prints
          ``<broken-64-bit-slot>`` there) and the next index is not a BAR of
          its own;
        * an I/O BAR is neither 64-bit nor prefetchable (BAR bit 0 = 1 leaves
          no memory-type bits; spec BAR layout);
        * a BAR size is a power of two, at least 16 bytes for memory and 4
          for I/O (the low flag bits are read-only: ``pci_size()`` in Linux
          ``drivers/pci/probe.c`` keeps the lowest writable address bit), and
          the address is a multiple of the size (natural alignment, spec);
          the same for the ROM, whose minimum is 2 KiB (bits 10:1 reserved);
        * no two assigned BARs of one kind overlap (the device would decode
          one address twice); an enabled, non-shadow ROM counts as memory;
        * MSI-X: 1-2048 vectors (11-bit field + 1); the table and PBA name an
          existing memory BAR (BIR 6 and 7 are reserved), fit inside it and do
          not overlap each other (QEMU ``hw/pci/msix.c`` ``msix_init()``
          sanity test; ``hw/vfio/pci.c`` ``vfio_msix_early_setup()``);
        * MSI: 1-32 vectors, a power of two (3-bit log2 field).
        """
        if self.config is not None and len(self.config) not in CONFIG_SIZES:
            self._fail("config", f"truncated configuration dump: {len(self.config)} bytes "
                                 "(a dump has 64, 256 or 4096)")
        nslots = self.num_bar_slots
        seen: dict[int, HostBar] = {}
        for b in self.bars:
            name = f"BAR{b.index}"
            if not isinstance(b.index, int) or not 0 <= b.index < nslots:
                self._fail(name, f"BAR index out of range: header type "
                                 f"{self.header_type if self.header_type is not None else 0} "
                                 f"has BAR0-BAR{nslots - 1}")
            if b.index in seen:
                self._fail(name, "listed twice")
            seen[b.index] = b
            if b.kind not in ("mem", "io"):
                self._fail(name, f"kind must be 'mem' or 'io', not {b.kind!r}")
            if b.kind == "io" and (b.is64 or b.prefetch):
                self._fail(name, "an I/O BAR cannot be 64-bit or prefetchable")
            if b.is64 and b.index == nslots - 1:
                self._fail(name, f"64-bit BAR in the last BAR register (BAR{nslots - 1}) "
                                 "has no register for its upper 32 address bits")
            if b.size is not None:
                minimum = 4 if b.kind == "io" else 16
                if not is_pow2(b.size):
                    self._fail(name, f"size {fmt_hex(b.size)} is not a power of two")
                if b.size < minimum:
                    self._fail(name, f"size {b.size} is below the {minimum}-byte minimum "
                                     f"of a{'n I/O' if b.kind == 'io' else ' memory'} BAR")
                if b.host_address is not None and b.host_address % b.size:
                    self._fail(name, f"address {fmt_hex(b.host_address)} is not aligned "
                                     f"to its size {fmt_size(b.size)}")
            if b.host_address is not None and b.host_address < 0:
                self._fail(name, "negative address")
        for b in self.bars:
            if b.is64 and b.index + 1 in seen:
                self._fail(f"BAR{b.index + 1}", f"register is the upper half of 64-bit "
                                                f"BAR{b.index}, not a BAR of its own")
        rom = self.rom
        if rom is not None and rom.size is not None:
            if not is_pow2(rom.size) or rom.size < 2048:
                self._fail("ROM", f"size {fmt_hex(rom.size)} is not a power of two of at "
                                  "least 2 KiB")
            if rom.host_address is not None and rom.host_address % rom.size:
                self._fail("ROM", f"address {fmt_hex(rom.host_address)} is not aligned "
                                  f"to its size {fmt_size(rom.size)}")
        # overlaps, per address space
        ranges = [(b.name, b.kind, b.range) for b in self.bars if b.range is not None]
        if rom is not None and rom.enabled and not rom.virtual and rom.range is not None:
            ranges.append(("ROM", "mem", rom.range))
        for i, (n1, k1, r1) in enumerate(ranges):
            for n2, k2, r2 in ranges[i + 1:]:
                if k1 == k2 and r1.overlaps(r2):
                    self._fail(n2, f"{r2} overlaps {n1} {r1}")
        self._validate_msix(seen)
        self._validate_msi()

    def _validate_msix(self, bars: dict[int, HostBar]) -> None:
        m = self.msix
        if m is None:
            return
        if not isinstance(m.nentries, int) or not 1 <= m.nentries <= 2048:
            self._fail("MSI-X", f"table size {m.nentries} outside 1-2048")
        parts = [("MSI-X table", m.table_bar, m.table_offset, m.table_bytes),
                 ("MSI-X PBA", m.pba_bar, m.pba_offset, m.pba_bytes)]
        for what, bir, off, size in parts:
            if bir is None:
                continue
            if not 0 <= bir <= 5:
                self._fail(what, f"BIR {bir} is reserved (BAR indicator must be 0-5)")
            bar = bars.get(bir)
            if bar is None:
                upper = bars.get(bir - 1)
                if upper is not None and upper.is64:
                    self._fail(what, f"names BAR{bir}, the upper half of 64-bit BAR{bir - 1}")
                self._fail(what, f"names BAR{bir}, which this device does not have")
            if bar.kind != "mem":
                self._fail(what, f"names BAR{bir}, an I/O BAR (MSI-X lives in memory space)")
            if off is None:
                continue
            if off % 8:
                self._fail(what, f"offset {fmt_hex(off)} is not QWORD aligned")
            if bar.size is not None and off + size > bar.size:
                self._fail(what, f"[{fmt_hex(off)}, {fmt_hex(off + size)}) does not fit in "
                                 f"BAR{bir} of {fmt_size(bar.size)}")
        if (m.table_bar is not None and m.table_bar == m.pba_bar
                and m.table_offset is not None and m.pba_offset is not None):
            if Range(m.table_offset, m.table_bytes).overlaps(Range(m.pba_offset, m.pba_bytes)):
                self._fail("MSI-X PBA", f"[{fmt_hex(m.pba_offset)}, "
                                        f"{fmt_hex(m.pba_offset + m.pba_bytes)}) overlaps the "
                                        f"MSI-X table [{fmt_hex(m.table_offset)}, "
                                        f"{fmt_hex(m.table_offset + m.table_bytes)})")

    def _validate_msi(self) -> None:
        m = self.msi
        if m is None:
            return
        for what, n in (("vectors", m.vectors), ("vectors enabled", m.vectors_enabled)):
            if not isinstance(n, int) or not 1 <= n <= 32 or not is_pow2(n):
                self._fail("MSI", f"{what} {n} is not a power of two in 1-32")

    # --------------------------------------------------------------- building
    @classmethod
    def from_config(cls, bdf: str, config: bytes, *, sizes: dict | None = None,
                    rom_size: int | None = None, **extra) -> "HostDevice":
        """Decode a configuration-space dump (see :func:`decode_config`).

        ``sizes`` maps BAR index -> size (from ``lspci -vvv`` or sysfs);
        without it every BAR size is ``None`` and a note says so.
        """
        fields = decode_config(bdf, config, sizes=sizes, rom_size=rom_size)
        notes = list(fields.pop("notes")) + list(extra.pop("notes", ()))
        fields.update(extra)
        return cls(bdf=bdf, config=bytes(config), notes=tuple(notes), **fields)

    def describe(self) -> str:
        """A few lines for people: identity, BARs, ROM, MSI/MSI-X."""
        ids = ""
        if self.vendor_id is not None and self.device_id is not None:
            ids = f" [{self.vendor_id:04x}:{self.device_id:04x}]"
        lines = [f"{self.bdf}{ids} {self.device_name or ''}".rstrip()]
        lines += ["  " + b.describe() for b in self.bars]
        if self.rom is not None:
            where = "unassigned" if self.rom.host_address is None else fmt_hex(self.rom.host_address)
            size = "?" if self.rom.size is None else fmt_size(self.rom.size)
            lines.append(f"  ROM at {where} [{size}]" + ("" if self.rom.enabled else " disabled"))
        if self.msix is not None:
            m = self.msix
            lines.append(f"  MSI-X {m.nentries} vectors: table BAR{m.table_bar}+"
                         f"{fmt_hex(m.table_offset or 0)}, PBA BAR{m.pba_bar}+"
                         f"{fmt_hex(m.pba_offset or 0)}")
        if self.msi is not None:
            lines.append(f"  MSI {self.msi.vectors} vectors, "
                         f"{'64' if self.msi.is64 else '32'}-bit"
                         + (", per-vector mask" if self.msi.per_vector_mask else ""))
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# configuration space decoding
# ---------------------------------------------------------------------------

def _u8(cfg: bytes, off: int) -> int:
    return cfg[off]


def _u16(cfg: bytes, off: int) -> int:
    return cfg[off] | cfg[off + 1] << 8


def _u32(cfg: bytes, off: int) -> int:
    return cfg[off] | cfg[off + 1] << 8 | cfg[off + 2] << 16 | cfg[off + 3] << 24


def decode_config(bdf: str, config: bytes, *, sizes: dict | None = None,
                  rom_size: int | None = None) -> dict:
    """Decode a configuration-space dump into :class:`HostDevice` fields.

    Follows the header layout of the PCI spec (offsets in the reference notes,
    section 6):

    * IDs at 0x00/0x02, revision 0x08, class code 0x09-0x0b, header type
      0x0e bits 6:0, interrupt pin 0x3d; subsystem IDs at 0x2c/0x2e (type 0),
      0x40 (type 2) or in the Subsystem ID capability 0x0d (type 1);
    * BARs at 0x10 + 4*i, decoded like Linux ``decode_bar()``: bit 0 = I/O
      (address bits 31:2), else memory with type bits 2:1 (00 32-bit,
      01 below 1 MiB, 10 64-bit: the next register is the upper dword) and
      prefetchable bit 3, address bits 31:4.  A register reading 0 is taken
      as not implemented -- a dump cannot tell it from an unassigned 32-bit
      BAR (only sizing can, ``__pci_read_base()``); when ``sizes`` says the
      index has a size, it is kept as an unassigned BAR;
    * the ROM BAR at 0x30 (0x38 on a bridge): address bits 31:11, bit 0
      enable;
    * the capability list when status bit 4 is set: pointer at 0x34 (0x14 on
      CardBus), low 2 bits reserved; each entry byte 0 ID, byte 1 next; a
      loop or ID 0xff ends the walk as in pciutils ``show_caps()``;
    * extended capabilities from 0x100 in a 4096-byte dump of a PCIe/PCI-X
      function: header dword bits 15:0 ID, 19:16 version, 31:20 next.

    Returns a dict of fields; its ``notes`` list says what was not decoded.
    """
    cfg = bytes(config)
    n = len(cfg)
    notes: list[str] = []
    out: dict = {"notes": notes}
    if n < 64:
        # HostDevice.validate() reports the length; decode nothing further.
        return out
    out["vendor_id"] = _u16(cfg, PCI_VENDOR_ID)
    out["device_id"] = _u16(cfg, PCI_DEVICE_ID)
    out["revision"] = _u8(cfg, PCI_REVISION_ID)
    out["class_code"] = _u8(cfg, 0x0B) << 16 | _u8(cfg, 0x0A) << 8 | _u8(cfg, PCI_CLASS_PROG)
    htype = _u8(cfg, PCI_HEADER_TYPE) & 0x7F
    out["header_type"] = htype
    out["interrupt_pin"] = _u8(cfg, PCI_INTERRUPT_PIN)
    sizes = dict(sizes or {})
    nslots = {1: 2, 2: 1}.get(htype, 6)
    bars: list[HostBar] = []
    i = 0
    while i < nslots:
        reg = PCI_BASE_ADDRESS_0 + 4 * i
        val = _u32(cfg, reg)
        if val == 0xFFFFFFFF:
            val = 0   # probe.c: "I don't know how l can have all bits set"
        if val == 0 and i not in sizes:
            i += 1
            continue
        if val & PCI_BASE_ADDRESS_SPACE_IO:
            addr = val & PCI_BASE_ADDRESS_IO_MASK & 0xFFFFFFFF
            bars.append(HostBar(i, addr or None, sizes.get(i), "io"))
            i += 1
            continue
        mtype = val & PCI_BASE_ADDRESS_MEM_TYPE_MASK
        prefetch = bool(val & PCI_BASE_ADDRESS_MEM_PREFETCH)
        addr = val & PCI_BASE_ADDRESS_MEM_MASK & 0xFFFFFFFF
        is64 = mtype == PCI_BASE_ADDRESS_MEM_TYPE_64
        if is64 and i + 1 < nslots:
            addr |= _u32(cfg, reg + 4) << 32
        bars.append(HostBar(i, addr or None, sizes.get(i), "mem", is64=is64,
                            prefetch=prefetch, low1m=mtype == PCI_BASE_ADDRESS_MEM_TYPE_1M))
        i += 2 if is64 else 1
    out["bars"] = tuple(bars)
    if bars and any(b.size is None for b in bars):
        notes.append("BAR sizes unknown: a config dump holds addresses and flags, not sizes "
                     "(sizing writes all ones to the BAR, Linux drivers/pci/probe.c "
                     "__pci_read_base()); give lspci -vvv text (merge()) or sysfs resource")
    rom_reg = {0: PCI_ROM_ADDRESS, 1: PCI_ROM_ADDRESS1}.get(htype)
    if rom_reg is not None:
        rv = _u32(cfg, rom_reg)
        if rv == 0xFFFFFFFF:
            rv = 0
        raddr = rv & PCI_ROM_ADDRESS_MASK & 0xFFFFFFFF
        if raddr or rom_size:
            out["rom"] = HostRom(raddr or None, rom_size, enabled=bool(rv & PCI_ROM_ADDRESS_ENABLE))
    # capability list
    caps: list[Cap] = []
    names: dict = {}
    status = _u16(cfg, PCI_STATUS)
    if status & PCI_STATUS_CAP_LIST:
        ptr = _u8(cfg, PCI_CB_CAPABILITY_LIST if htype == 2 else PCI_CAPABILITY_LIST) & ~3
        visited = set()
        while ptr:
            if ptr in visited:
                notes.append(f"capability list loops back to {ptr:#x}")
                break
            visited.add(ptr)
            if ptr + 4 > n or ptr < 0x40:
                notes.append(f"capability at {ptr:#x} is outside the {n}-byte dump")
                break
            cid = _u8(cfg, ptr)
            if cid == 0xFF:
                notes.append(f"capability list broken at {ptr:#x} (ID 0xff)")
                break
            caps.append(Cap(cid, ptr))
            names[ptr] = CAP_NAMES.get(cid, f"Capability ID {cid:#04x}")
            ptr = _u8(cfg, ptr + 1) & ~3
    out["capabilities"] = tuple(caps)
    for cap in caps:
        off = cap.offset
        if cap.id == PCI_CAP_ID_MSIX and off + 12 <= n:
            ctrl = _u16(cfg, off + 2)
            table = _u32(cfg, off + 4)
            pba = _u32(cfg, off + 8)
            out["msix"] = MsixInfo(nentries=(ctrl & 0x7FF) + 1, table_bar=table & 7,
                                   table_offset=table & ~7, pba_bar=pba & 7,
                                   pba_offset=pba & ~7, enabled=bool(ctrl & 0x8000),
                                   masked=bool(ctrl & 0x4000), cap_offset=off)
        elif cap.id == PCI_CAP_ID_MSI and off + 4 <= n:
            ctrl = _u16(cfg, off + 2)
            out["msi"] = MsiInfo(is64=bool(ctrl & 0x80), per_vector_mask=bool(ctrl & 0x100),
                                 vectors=1 << ((ctrl >> 1) & 7),
                                 vectors_enabled=1 << ((ctrl >> 4) & 7),
                                 enabled=bool(ctrl & 1), cap_offset=off)
        elif cap.id == PCI_CAP_ID_EXP and off + 4 <= n:
            out["is_pcie"] = True
            out["pcie_type"] = (_u16(cfg, off + 2) >> 4) & 0xF
        elif cap.id == PCI_CAP_ID_SSVID and htype == 1 and off + 8 <= n:
            out["subsystem_vendor_id"] = _u16(cfg, off + 4)
            out["subsystem_id"] = _u16(cfg, off + 6)
    if htype == 0:
        out["subsystem_vendor_id"] = _u16(cfg, PCI_SUBSYSTEM_VENDOR_ID)
        out["subsystem_id"] = _u16(cfg, PCI_SUBSYSTEM_ID)
    elif htype == 2 and n >= 0x44:
        out["subsystem_vendor_id"] = _u16(cfg, PCI_CB_SUBSYSTEM_VENDOR_ID)
        out["subsystem_id"] = _u16(cfg, PCI_CB_SUBSYSTEM_VENDOR_ID + 2)
    # extended capabilities (PCIe base spec: chain from 0x100)
    ext: list[Cap] = []
    can_ext = any(c.id in (PCI_CAP_ID_EXP, PCI_CAP_ID_PCIX) for c in caps)
    if can_ext and n == 4096:
        ptr = PCI_EXT_CAP_START
        visited = set()
        while ptr:
            if ptr in visited or ptr < PCI_EXT_CAP_START or ptr + 4 > n:
                if ptr in visited:
                    notes.append(f"extended capability list loops back to {ptr:#x}")
                break
            visited.add(ptr)
            hdr = _u32(cfg, ptr)
            if hdr == 0 or hdr == 0xFFFFFFFF:
                break
            eid = hdr & 0xFFFF
            ext.append(Cap(eid, ptr))
            names[ptr] = EXT_CAP_NAMES.get(eid, f"Extended Capability ID {eid:#x}")
            ptr = (hdr >> 20) & ~3
    elif can_ext:
        notes.append("extended capabilities unknown: the dump has no bytes past 0xff")
    out["ext_capabilities"] = tuple(ext)
    out["cap_names"] = names
    return out
