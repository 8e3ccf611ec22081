"""OVMF's PCI resource set-up, as Debian's ``ovmf`` 2022.11 and 2025.02 builds do it.

Two releases of tianocore/edk2, read at their tags:

``2022.11``  edk2-stable202211 (Debian 12 ``ovmf 2022.11-6+deb12u2``)
``2025.02``  edk2-stable202502 (Debian 13 ``ovmf 2025.02-8+deb13u1``)

both as ``OvmfPkgX64`` with 4 MiB flash.  Two stages:

1. Platform set-up in PEI (``OvmfPkg/Library/PlatformInitLib``):
   :func:`platform_apertures` computes the 32-bit MMIO aperture, the I/O
   aperture, the MMCONFIG base and the 64-bit aperture (classic or dynamic,
   with the e820 conflict check in 2025.02) from what QEMU tells the
   firmware (fw_cfg ``etc/e820``, ``opt/ovmf/X-PciMmio64Mb``,
   ``etc/reserved-memory-end``; CPUID).
2. PCI enumeration and allocation in DXE
   (``MdeModulePkg/Bus/Pci/PciBusDxe``, ``PciHostBridgeDxe``,
   ``OvmfPkg/PciHotPlugInitDxe``): :func:`pci_setup` sizes every BAR
   through config space, builds PciBusDxe's resource tree, lets the host
   bridge place each root request in its aperture, rejects the largest
   consumer when one does not fit, and programs BARs, bridge windows and
   the command registers through config space, so every write reaches the
   PCI model as the guest's would.

The Debian packages carry no patches to these files (the rules below are
the tags' source).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...addr import fmt_hex, fmt_size
from ...errors import ConfigError
from .seabios import (ConfigAccess, PCI_CAP_ID_EXP, PCI_CAP_ID_SHPC, PCI_CAP_ID_VNDR,
                      PCI_EXP_FLAGS, PCI_EXP_FLAGS_SLOT, RES_RESERVE_BUS_RES, RES_RESERVE_IO,
                      RES_RESERVE_MEM)

__all__ = ["VERSIONS", "OvmfPlatform", "Apertures", "platform_apertures", "OvmfResult",
           "Unassigned", "pci_setup"]

VERSIONS = ("2022.11", "2025.02")

GiB = 1 << 30
MiB = 1 << 20
FOUR_GIB = 1 << 32
U64 = (1 << 64) - 1

#: OvmfPkg/OvmfPkgX64.dsc ``PcdPciExpressBaseAddress``: 0xB0000000 at
#: edk2-stable202211, 0xE0000000 at edk2-stable202502 (commit 82c1aa87f9
#: "OvmfPkg: move mmconfig to 0xe0000000", in edk2-stable202305).
PCIEXBAR = {"2022.11": 0xB0000000, "2025.02": 0xE0000000}
#: OvmfPkgX64.dsc ``PcdPciMmio64Size`` (both tags): the classic 64-bit window.
PCD_PCI_MMIO64_SIZE = 0x800000000
#: Q35 MCH PCIEXBAR register (OvmfPkg/Include/IndustryStandard/Q35MchIch9.h
#: ``DRAMC_REGISTER_Q35 (MCH_PCIEXBAR_LOW)``: 0x60 low, 0x64 high, bit 0 enable)
MCH_PCIEXBAR_LOW, MCH_PCIEXBAR_HIGH, MCH_PCIEXBAR_EN = 0x60, 0x64, 1
#: ICH9 LPC PMBASE / ACPI_CNTL (OvmfPkg PlatformInitLib Platform.c
#: ``PlatformMiscInitialization``: PMBASE 0x600, ``ICH9_PMBASE_VALUE``)
ICH9_PMBASE, ICH9_ACPI_CNTL, ICH9_PMBASE_VALUE, ICH9_ACPI_CNTL_ACPI_EN = 0x40, 0x44, 0x600, 0x80
ICH9_RCBA, ICH9_ROOT_COMPLEX_BASE = 0xF0, 0xFED1C000
#: PIIX4 PM: PMBA 0x40, PMREGMISC 0x80 (same function, ``PIIX4_PMBA_VALUE`` 0xB000)
PIIX4_PMBA, PIIX4_PMREGMISC, PIIX4_PMBA_VALUE = 0x40, 0x80, 0xB000

# PciBarType (MdeModulePkg/Bus/Pci/PciBusDxe/PciBus.h)
IO16, MEM32, PMEM32, MEM64, PMEM64, OPROM = "io", "mem32", "pmem32", "mem64", "pmem64", "oprom"
TYPES = (IO16, MEM32, PMEM32, MEM64, PMEM64)


# ============================================================================
# Stage 1: PlatformInitLib
# ============================================================================

@dataclass
class OvmfPlatform:
    """What OVMF's PEI phase reads from QEMU.

    * ``low_memory``: end of the highest RAM entry below 4 GiB of fw_cfg
      ``etc/e820`` (MemDetect.c ``PlatformGetSystemMemorySizeBelow4gb``).
    * ``ram_end``: end of the highest RAM entry of ``etc/e820`` (at least
      4 GiB; ``PlatformScanOrAdd64BitE820Ram`` / ``PlatformGetFirstNonAddressCB``).
    * ``e820_reserved``: the reserved entries of ``etc/e820`` (the AMD
      HyperTransport hole for AMD vCPUs with phys-bits >= 40).
    * ``reserved_memory_end``: fw_cfg ``etc/reserved-memory-end`` or None.
    * ``pci_mmio64_mb``: fw_cfg ``opt/ovmf/X-PciMmio64Mb`` or None.
    * ``cpu_vendor``, ``phys_bits`` (CPUID 0x80000008 EAX[7:0]),
      ``guest_phys_bits`` (EAX[23:16]), ``page1g`` (CPUID 0x80000001 EDX
      bit 26, ``pdpe1gb``), ``la57`` (CR4.LA57 at PEI: never on these builds).
    """

    machine: str
    low_memory: int
    ram_end: int = FOUR_GIB
    e820_reserved: list = field(default_factory=list)
    reserved_memory_end: int | None = None
    pci_mmio64_mb: int | None = None
    cpu_vendor: str = "AuthenticAMD"
    phys_bits: int = 40
    guest_phys_bits: int = 0
    page1g: bool = False
    la57: bool = False
    version: str = "2022.11"
    #: (start, size) of the e820 hole QEMU reserves for AMD vCPUs with
    #: phys-bits >= 40 (hw/i386/pc.c), for trying other phys-bits
    amd_ht_hole: tuple | None = None


@dataclass
class Apertures:
    """The PlatformInfoHob fields the PCI host bridge is built from."""

    mmconfig_base: int | None
    io_base: int
    io_limit: int
    mem32_base: int
    mem32_limit: int
    mem64_base: int
    mem64_size: int
    phys_bits: int | None          # trusted PhysMemAddressWidth, None if not trusted
    window: str                    # "classic" | "dynamic" | "none"
    why: str = ""                  # how the 64-bit window came about, for people
    moved_from: int | None = None  # dynamic window base before the e820 conflict move

    @property
    def mem64_limit(self) -> int:
        return self.mem64_base + self.mem64_size - 1


def _pow2_floor(x: int) -> int:
    return 1 << (x.bit_length() - 1) if x > 0 else 0


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def trusted_phys_bits(p: OvmfPlatform) -> tuple[int | None, str]:
    """MemDetect.c ``PlatformAddressWidthFromCpuid`` (QemuQuirk on).

    Trusted: >= 41 bits; Intel 36 or 39; AMD 40; and since edk2-stable202405
    (commit 603ad2d6ae, so in 2025.02) any vCPU reporting GuestPhysBits,
    which also caps the width.  Caps: 2022.11 47 bits (avoid 5-level
    paging); 2025.02 46 with 4-level paging (commit c1e8537690) or 48 with
    LA57; then 40 without 1 GiB pages (both), and 40 when
    ``PcdUse1GPageTable`` is off (2025.02; TRUE in OvmfPkgX64.dsc)."""
    bits = p.phys_bits
    gpb = p.guest_phys_bits if p.version >= "2025.02" else 0
    if gpb:
        valid = True
    elif bits >= 41:
        valid = True
    elif p.cpu_vendor == "GenuineIntel":
        valid = bits in (36, 39)
    elif p.cpu_vendor == "AuthenticAMD":
        valid = bits == 40
    else:
        valid = False
    if gpb and bits > gpb:
        bits = gpb
    if not valid:
        return None, (f"phys-bits {p.phys_bits} is not trusted for a "
                      f"{'an AMD' if p.cpu_vendor == 'AuthenticAMD' else 'an Intel'} vCPU"
                      .replace("a an", "an"))
    why = f"phys-bits {p.phys_bits} trusted"
    if p.version >= "2025.02":
        if p.la57:
            if bits > 48 and not gpb:
                bits, why = 48, why + ", capped at 48 (5-level paging)"
        elif bits > 46:
            bits, why = 46, why + ", capped at 46 (4-level paging)"
    elif bits > 47:
        bits, why = 47, why + ", capped at 47"
    if not p.page1g and bits > 40:
        bits, why = 40, why + ", capped at 40 (no 1 GiB pages: add pdpe1gb)"
    return bits, why


def platform_apertures(p: OvmfPlatform) -> Apertures:
    """The apertures OVMF's PEI phase computes (rules by tag in each line)."""
    if p.version not in VERSIONS:
        raise ConfigError(f"OVMF {p.version}: the model knows {', '.join(VERSIONS)}")
    if p.machine not in ("pc", "q35"):
        raise ConfigError(f"OVMF on machine {p.machine!r}: the model knows pc and q35")
    low = p.low_memory
    # MemDetect.c PlatformQemuUc32BaseInitialization: i440fx (both tags) and
    # q35 (2025.02) use 4G - pow2floor(4G - LowMemory), so one MTRR covers it;
    # q35 at 2022.11 used 2 GiB (low RAM <= 2 GiB) or PcdPciExpressBaseAddress
    uc32_base = FOUR_GIB - _pow2_floor(FOUR_GIB - low)
    # Platform.c PlatformMemMapInitialization: the 32-bit aperture
    mmcfg = None
    if p.machine == "q35":
        mmcfg = PCIEXBAR[p.version]
        if p.version == "2022.11":
            mem32 = (mmcfg + 0x10000000, 0xFC000000)     # PciBase = PciExBarBase + 256 MiB
        else:
            mem32 = (uc32_base, mmcfg)                   # [Uc32Base, PciExBarBase)
        io = (0x6000, 0xFFFF)                            # q35: PciIoBase 0x6000, size 0xA000
    else:
        mem32 = (uc32_base, 0xFC000000)
        io = (0xC000, 0xFFFF)                            # PciIoBase 0xC000, size 0x4000
    # MemDetect.c PlatformGetFirstNonAddress: the classic 64-bit window
    first_non = max(FOUR_GIB, p.ram_end)
    size = PCD_PCI_MMIO64_SIZE
    why = "the default PcdPciMmio64Size (32 GiB)"
    if p.pci_mmio64_mb is not None:
        if 0 <= p.pci_mmio64_mb <= 0x1000000:     # accepted up to 16 TiB
            size = p.pci_mmio64_mb << 20
            why = f"opt/ovmf/X-PciMmio64Mb={p.pci_mmio64_mb}"
        else:
            why += f" (X-PciMmio64Mb={p.pci_mmio64_mb} ignored: over 16 TiB)"
    if size == 0:
        return Apertures(mmcfg, io[0], io[1], mem32[0], mem32[1] - 1, 0, 0, None, "none",
                         "X-PciMmio64Mb=0 disables the 64-bit window")
    if p.reserved_memory_end is not None:
        first_non = p.reserved_memory_end
    base = _align_up(first_non, GiB)
    size = _align_up(size, GiB)
    base = _align_up(base, _pow2_floor(size))
    bits, trust = trusted_phys_bits(p)
    ap = Apertures(mmcfg, io[0], io[1], mem32[0], mem32[1] - 1, base, size, bits,
                   "classic", f"classic window: {why}; {trust}")
    if bits is None:
        return ap
    # MemDetect.c PlatformDynamicMmioWindow (both tags): 1/8 of the address
    # space at its top, when larger than the classic size and above it
    addr_space, mmio = 1 << bits, 1 << (bits - 3)
    if size < mmio and base + mmio < addr_space:
        ap.mem64_base, ap.mem64_size, ap.window = addr_space - mmio, mmio, "dynamic"
        ap.why = f"dynamic window: 1/8 of the {bits}-bit address space; {trust}"
        if p.version >= "2025.02":
            # MemDetect.c PlatformReservationConflictCB (edk2-stable202302,
            # commit c0a0b9bc35): below an overlapping e820 reservation
            for start, length in p.e820_reserved:
                lo = max(start, ap.mem64_base)
                hi = min(start + length, ap.mem64_base + ap.mem64_size)
                if lo < hi:
                    ap.moved_from = ap.moved_from or ap.mem64_base
                    ap.mem64_base = (start - ap.mem64_size) & ~(ap.mem64_size - 1) & U64
            if ap.moved_from is not None:
                ap.why += (f", moved from {fmt_hex(ap.moved_from)} below the e820 "
                           "reservation")
    return ap


# ============================================================================
# Stage 2: PciBusDxe / PciHostBridgeDxe
# ============================================================================

@dataclass
class Unassigned:
    """A function PciBusDxe rejected: its BARs stay unprogrammed."""

    bdf: str
    bar: int | None
    size: int
    kind: str
    reason: str

    def text(self) -> str:
        what = f"BAR{self.bar}" if self.bar is not None else "resources"
        return f"{self.bdf} {what} ({fmt_size(self.size)}): not assigned: {self.reason}"


@dataclass
class OvmfResult:
    """What the model's OVMF run decided."""

    version: str
    machine: str
    apertures: Apertures
    #: (bdf text, bar) -> address, for every BAR programmed
    bars: dict = field(default_factory=dict)
    #: bdf text -> {"io"|"mem"|"pref": (base, limit)}
    windows: dict = field(default_factory=dict)
    #: root requests: type -> (base, length, alignment)
    root: dict = field(default_factory=dict)
    unassigned: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    #: the firmware stops before the boot manager (observed; see ``run``)
    stopped: bool = False
    #: display functions QemuVideoDxe started: (bdf text, card name)
    video: list = field(default_factory=list)
    #: the smallest knob settings that make everything fit (``smallest_knobs``,
    #: ``reservation_knobs``)
    knobs: list = field(default_factory=list)
    #: hot-plug padding PciBusDxe dropped: (bridge bdf, type, size)
    padding_dropped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    log: list = field(default_factory=list)

    def address(self, bdf: str, bar: int) -> int:
        return self.bars[(bdf, bar)]


def _bdf(bus: int, devfn: int) -> str:
    return f"{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}"


class _Node:
    """PCI_RESOURCE_NODE (PciBus.h): one BAR, padding or bridge window."""

    __slots__ = ("dev", "bar", "length", "alignment", "type", "usage", "children",
                 "offset", "bridge")

    def __init__(self, dev, bar, length, alignment, type_, usage="typical", bridge=False):
        self.dev, self.bar, self.length, self.alignment = dev, bar, length, alignment
        self.type, self.usage, self.children, self.offset = type_, usage, [], 0
        self.bridge = bridge


def _insert(parent: _Node, node: _Node) -> None:
    """PciResourceSupport.c ``InsertResourceNode``: the list is sorted by
    alignment, largest first; a new node goes ahead of every node of equal
    alignment unless its length leaves a smaller non-zero remainder."""
    lst = parent.children
    i = 0
    while i < len(lst):
        t = lst[i]
        if node.alignment > t.alignment:
            break
        if node.alignment == t.alignment:
            r, tr = node.length & node.alignment, t.length & t.alignment
            if r == 0 or r >= tr:
                break
        i += 1
    lst.insert(i, node)


def _merge(dst: _Node, src: _Node, retype: bool) -> None:
    """PciResourceSupport.c ``MergeResourceTree``."""
    while src.children:
        n = src.children.pop(0)
        if retype:
            n.type = dst.type
        _insert(dst, n)


def _aperture(bridge: _Node) -> None:
    """PciResourceSupport.c ``CalculateResourceAperture`` /
    ``CalculateApertureIo16``: children laid out in list order from offset 0,
    each aligned; padding counted apart; the bridge takes the larger, and
    the first child's alignment if larger than its own."""
    if bridge.type == IO16:
        ap, pad = 0, 0
        for n in bridge.children:
            if n.usage == "padding":
                pad = n.length
                continue
            ap = _align_up(ap, n.alignment + 1)
            n.offset = ap
            ap += n.length
        ap = _align_up(ap, bridge.alignment + 1)
        if bridge.children and bridge.children[0].alignment > bridge.alignment:
            bridge.alignment = bridge.children[0].alignment
        bridge.length = max(ap, pad)
        return
    ap = {"typical": 0, "padding": 0}
    for n in bridge.children:
        n.offset = _align_up(ap[n.usage], n.alignment + 1)
        ap[n.usage] = n.offset + n.length
    t = _align_up(ap["typical"], bridge.alignment + 1)
    p = _align_up(ap["padding"], bridge.alignment + 1)
    bridge.length = max(t, p)
    if bridge.children and bridge.children[0].alignment > bridge.alignment:
        bridge.alignment = bridge.children[0].alignment


class _Dev:
    __slots__ = ("bus_reserve", "device_id", "bus", "devfn", "vendor", "header", "bars", "children", "sec", "sub",
                 "decodes", "padding", "rom_size", "parent", "pcie_cap", "class_code", "hotplug",
                 "hint")

    def __init__(self, bus, devfn):
        self.bus, self.devfn = bus, devfn
        self.bars: list = []          # (index, type, length, alignment)
        self.children: list = []
        self.sec = self.sub = None
        self.decodes: set = set()
        self.padding: list = []       # (type, length, alignment)
        self.rom_size = 0
        self.parent = None
        self.hotplug = False
        self.hint = None

    @property
    def name(self) -> str:
        return _bdf(self.bus, self.devfn)

    @property
    def is_bridge(self) -> bool:
        return (self.header & 0x7f) == 1


class _Ovmf:
    def __init__(self, cfg: ConfigAccess, platform: OvmfPlatform, ap: Apertures, log: list):
        self.cfg, self.p, self.ap, self.log = cfg, platform, ap, log
        self.res = OvmfResult(platform.version, platform.machine, ap, log=log)

    # --- config access ---------------------------------------------------------
    def r(self, bus, devfn, off, size):
        return self.cfg.cfg_read(bus, devfn, off, size)

    def w(self, bus, devfn, off, val, size):
        self.cfg.cfg_write(bus, devfn, off, val, size)

    def find_cap(self, bus, devfn, cap_id, start=None):
        if not (self.r(bus, devfn, 0x06, 2) & 0x10):
            return 0
        pos = self.r(bus, devfn, 0x34, 1) if start is None else self.r(bus, devfn, start + 1, 1)
        seen = 0
        while pos and seen < 48:
            if self.r(bus, devfn, pos, 1) == cap_id:
                return pos
            pos = self.r(bus, devfn, pos + 1, 1)
            seen += 1
        return 0

    # --- PEI: chipset ---------------------------------------------------------------
    def pei_chipset(self) -> None:
        """PlatformInitLib Platform.c: q35 ``PciExBarInitialization`` (PCIEXBAR
        high dword, then low dword with the enable bit; 256 MiB) and
        ``PlatformMiscInitialization`` (ACPI PM base and enable)."""
        if self.p.machine == "q35":
            base = self.ap.mmconfig_base
            self.w(0, 0, MCH_PCIEXBAR_HIGH, base >> 32, 4)
            self.w(0, 0, MCH_PCIEXBAR_LOW, (base & 0xffffffff) | MCH_PCIEXBAR_EN, 4)
            lpc = 0x1f << 3
            self.w(0, lpc, ICH9_PMBASE, ICH9_PMBASE_VALUE, 4)
            self.w(0, lpc, ICH9_ACPI_CNTL, self.r(0, lpc, ICH9_ACPI_CNTL, 1) | ICH9_ACPI_CNTL_ACPI_EN, 1)
            # the root-complex register block (ICH9_RCBA 0xF0:
            # ICH9_ROOT_COMPLEX_BASE 0xFED1C000 | enable)
            self.w(0, lpc, ICH9_RCBA, ICH9_ROOT_COMPLEX_BASE | 1, 4)
        else:
            pm = (1 << 3) | 3
            if self.r(0, pm, 0, 2) != 0xffff:
                self.w(0, pm, PIIX4_PMBA, PIIX4_PMBA_VALUE | 1, 4)
                self.w(0, pm, PIIX4_PMREGMISC, self.r(0, pm, PIIX4_PMREGMISC, 1) | 1, 1)

    # --- DXE: enumeration -------------------------------------------------------------
    def _bar_probe(self, bus, devfn, off):
        """PciEnumeratorSupport.c ``BarExisted``: save, write all ones, read,
        restore (the command register is still 0 from reset)."""
        orig = self.r(bus, devfn, off, 4)
        self.w(bus, devfn, off, 0xffffffff, 4)
        val = self.r(bus, devfn, off, 4)
        self.w(bus, devfn, off, orig, 4)
        return val

    def parse_bars(self, d: _Dev) -> None:
        """PciEnumeratorSupport.c ``PciParseBar``: length from the read-back;
        memory BARs under 4 KiB get 4 KiB alignment ("for VT-d"); I/O BARs
        are aligned to their length.  OvmfPkg
        IncompatiblePciDeviceSupportDxe marks every 64-bit BAR as fixed
        64-bit (never degraded for an option ROM)."""
        b, f = d.bus, d.devfn
        nbars = 2 if d.is_bridge else 6
        i = 0
        while i < nbars:
            off = 0x10 + 4 * i
            v = self._bar_probe(b, f, off)
            if v == 0:
                i += 1
                continue
            if v & 1:
                mask = 0xfffc if (v & 0xffff0000) == 0 else 0xfffffffc
                length = (~(v & mask) + 1) & mask
                if (v & 0xffff0000) == 0:
                    length &= 0xffff
                if length:
                    d.bars.append((i, IO16, length, length - 1))
                i += 1
                continue
            kind = (v >> 1) & 3
            pref = bool(v & 8)
            if kind == 2:
                hi = self._bar_probe(b, f, off + 4)
                # "Fix the length to support some special 64 bit BAR"
                hi = 0xffffffff if hi == 0 else hi | ((0xffffffff << (hi.bit_length() - 1)) & 0xffffffff)
                raw = (hi << 32) | (v & 0xfffffff0)
                length = (~raw + 1) & U64
                if length:
                    d.bars.append((i, PMEM64 if pref else MEM64, length,
                                   max(length, 0x1000) - 1))
                i += 2
                continue
            length = (~(v & 0xfffffff0) + 1) & 0xffffffff
            if length:
                d.bars.append((i, PMEM32 if pref else MEM32, length, max(length, 0x1000) - 1))
            i += 1
        # option ROM (PciEnumeratorSupport.c / PciOptionRomSupport.c GetOpRomInfo)
        rom_off = 0x38 if d.is_bridge else 0x30
        orig = self.r(b, f, rom_off, 4)
        self.w(b, f, rom_off, 0xfffffffe, 4)
        v = self.r(b, f, rom_off, 4)
        self.w(b, f, rom_off, orig, 4)
        if v & 0xfffff800:
            d.rom_size = (~(v & 0xfffff800) + 1) & 0xffffffff

    def hotplug_padding(self, d: _Dev) -> None:
        """PciBusDxe asks OvmfPkg/PciHotPlugInitDxe ``GetResourcePadding`` for
        every hot-plug capable bridge (PciHotPlugSupport.c
        ``IsPciHotPlugBus``: PCIe slot implemented with hot-plug capable
        set, or an SHPC).  QEMU's resource-reservation capability (vendor
        capability type 1 on Red Hat bridges) overrides the defaults
        (:meth:`padding_from`)."""
        b, f = d.bus, d.devfn
        exp = self.find_cap(b, f, PCI_CAP_ID_EXP)
        hp = False
        if exp:
            flags = self.r(b, f, exp + PCI_EXP_FLAGS, 2)
            if flags & PCI_EXP_FLAGS_SLOT:
                sltcap = self.r(b, f, exp + 0x14, 4)
                hp = bool(sltcap & 0x40)          # PCI_EXP_SLTCAP_HPC
        if not hp and self.find_cap(b, f, PCI_CAP_ID_SHPC):
            hp = True
        d.hotplug = hp
        if not hp:
            return
        d.hint = self.reservation_hint(d)
        d.bus_reserve, d.padding = self.padding_from(d.hint)

    def reservation_hint(self, d: _Dev):
        """PciHotPlugInit.c ``QueryReservationHint``: QEMU's capability
        (hw/pci/pci_bridge.c ``pci_bridge_qemu_reserve_cap_init``: bus,
        io, mem, pref32, pref64; all ones = not given) on a Red Hat
        (0x1b36) bridge, or None."""
        b, f = d.bus, d.devfn
        if d.vendor != 0x1b36:
            return None
        cap = self.find_cap(b, f, PCI_CAP_ID_VNDR)
        while cap and self.r(b, f, cap + 3, 1) != 1:
            cap = self.find_cap(b, f, PCI_CAP_ID_VNDR, cap)
        if not cap:
            return None
        return (self.r(b, f, cap + RES_RESERVE_BUS_RES, 4),
                self.r(b, f, cap + RES_RESERVE_IO, 4)
                | self.r(b, f, cap + RES_RESERVE_IO + 4, 4) << 32,
                self.r(b, f, cap + RES_RESERVE_MEM, 4),
                self.r(b, f, cap + 20, 4),
                self.r(b, f, cap + 24, 4) | self.r(b, f, cap + 28, 4) << 32)

    def padding_from(self, hint) -> tuple[int, list]:
        """PciHotPlugInit.c ``GetResourcePadding`` for one hot-plug bridge:
        (bus numbers, padding).  Defaults: I/O 512 B (2022.11) / none
        (2025.02, commit 27727338b2 "Do not reserve IO ports by default"),
        32-bit MMIO 2 MiB, 64-bit prefetchable PcdPciMmio64Size/256 when the
        window is over 32 GiB.  A ``hint`` (QEMU's capability) replaces them:
        I/O and 32-bit MMIO 0 = none, all ones = the default, else that
        size; prefetchable: pref32, else pref64, when between 0 and all ones
        (0 keeps the default).  Every size is rounded up to a power of two
        and aligned to itself."""
        bus_reserve, padding = 0, []
        default_io, default_mem, default_pref = self.p.version < "2025.02", True, True
        io_size = 512 if self.p.version < "2025.02" else 0x1000
        if hint is not None:
            bus_res, io, mem, p32, p64 = hint
            # (a) bus numbers: 0 and all ones mean none
            if bus_res not in (0, 0xffffffff):
                bus_reserve = bus_res
            if io == 0:
                default_io = False
            elif io != U64:
                padding.append((IO16, 1 << (io - 1).bit_length(), None))
                default_io = False
            if mem == 0:
                default_mem = False
            elif mem != 0xffffffff:
                padding.append((MEM32, 1 << (mem - 1).bit_length(), None))
                default_mem = False
            if 0 < p32 < 0xffffffff:
                padding.append((PMEM32, 1 << (p32 - 1).bit_length(), None))
                default_pref = False
            elif 0 < p64 < U64:
                padding.append((PMEM64, 1 << (p64 - 1).bit_length(), None))
                default_pref = False
        if default_io:
            padding.append((IO16, io_size, None))
        if default_mem:
            padding.append((MEM32, 2 * MiB, None))
        if default_pref:
            # sized from the 64-bit window when the resource map is built
            padding.append((PMEM64, "scaled", None))
        return bus_reserve, padding

    def scan(self, bus: int, parent) -> list:
        """PciEnumerator.c ``PciScanBus``: devices 0-31, function 0-7 when
        function 0 is multi-function; bridges get the next bus number,
        depth first (``PciScanBus`` / ``PciAllocateBusNumber``)."""
        out = []
        for dev in range(32):
            for fn in range(8):
                devfn = dev << 3 | fn
                vid = self.r(bus, devfn, 0, 2)
                if vid == 0xffff:
                    if fn == 0:
                        break
                    continue
                d = _Dev(bus, devfn)
                d.vendor = vid
                d.device_id = self.r(bus, devfn, 2, 2)
                d.parent = parent
                d.header = self.r(bus, devfn, 0x0e, 1)
                d.class_code = self.r(bus, devfn, 0x0a, 2)
                out.append(d)
                if d.is_bridge:
                    # PciEnumeratorSupport.c InitializePpb: windows quiescent
                    for off, val, size in ((0x1c, 0xff, 1), (0x1d, 0, 1), (0x20, 0xffff, 2),
                                           (0x22, 0, 2), (0x24, 0xffff, 2), (0x26, 0, 2),
                                           (0x28, 0xffffffff, 4), (0x2c, 0, 4),
                                           (0x30, 0xffff, 2), (0x32, 0, 2)):
                        self.w(bus, devfn, off, val, size)
                    pref = self.r(bus, devfn, 0x24, 2)
                    d.decodes = {MEM32}
                    if self.r(bus, devfn, 0x1c, 1):
                        d.decodes.add(IO16)
                    if pref:
                        d.decodes.add(PMEM32)
                        if pref & 0xf == 1:
                            d.decodes.add(PMEM64)
                    self.max_bus += 1
                    d.sec = self.max_bus
                    self.w(bus, devfn, 0x18, bus | d.sec << 8 | 0xff << 16, 4)
                    self.parse_bars(d)
                    self.hotplug_padding(d)
                    d.children = self.scan(d.sec, d)
                    # PciEnumerator.c PciScanBus: a bus-number padding
                    # (ACPI_ADDRESS_SPACE_TYPE_BUS from GetResourcePadding)
                    # is added to the subordinate bus
                    self.max_bus += getattr(d, "bus_reserve", 0)
                    d.sub = self.max_bus
                    self.w(bus, devfn, 0x1a, d.sub, 1)
                else:
                    self.parse_bars(d)
                if fn == 0 and not (d.header & 0x80):
                    break
        return out

    # --- DXE: resource map --------------------------------------------------------------
    def create_map(self, owner, devs, nodes: dict, decodes: set, is_root: bool) -> None:
        """PciResourceSupport.c ``CreateResourceMap``, ``ResourcePaddingPolicy``,
        ``DegradeResource``, ``CalculateResourceAperture``."""
        for d in devs:
            if d in self.rejected:
                continue
            for idx, typ, length, align in d.bars:
                _insert(nodes[typ], _Node(d, idx, length, align, typ))
            if d.is_bridge:
                sub = {t: _Node(d, t, 0, 0xfff if t == IO16 else 0xfffff, t, bridge=True)
                       for t in TYPES}
                self.create_map(d, d.children, sub, d.decodes, False)
                for t in TYPES:
                    if sub[t].children:
                        _insert(nodes[t], sub[t])
        # PciEnumerator.c RejectPciDevice: a bridge rejected for its padding
        # loses its padding descriptors, nothing else
        if owner is not None and not is_root and owner not in self.emptied:
            for typ, length, _ in owner.padding:
                if length == "scaled":
                    # PciHotPlugInit.c: PcdPciMmio64Size / 256 when over 32 GiB
                    if self.ap.mem64_size <= 32 * GiB:
                        continue
                    length = 1 << ((self.ap.mem64_size >> 8) - 1).bit_length()
                _insert(nodes[typ], _Node(owner, None, length, length - 1, typ, "padding"))
        # DegradeResource: 64-bit BARs are fixed (IncompatiblePciDeviceSupportDxe),
        # so the option-ROM degradation never applies
        if MEM64 not in decodes:
            _merge(nodes[MEM32], nodes[MEM64], True)
        if PMEM64 not in decodes:
            _merge(nodes[PMEM32], nodes[PMEM64], True)
        if nodes[PMEM64].children and not is_root:
            _merge(nodes[MEM32], nodes[PMEM32], True)
        if PMEM32 not in decodes:
            _merge(nodes[MEM32], nodes[PMEM32], True)
        if is_root:      # EFI_BRIDGE_PMEM_MEM_COMBINE_SUPPORTED
            _merge(nodes[MEM32], nodes[PMEM32], False)
            _merge(nodes[MEM64], nodes[PMEM64], False)
        for t in (MEM32, PMEM32, MEM64, PMEM64, IO16):
            _aperture(nodes[t])

    def allocate_root(self, nodes: dict):
        """PciHostBridge.c ``NotifyPhase(EfiPciHostBridgeAllocateResources)``:
        the request with the largest alignment first (on a tie the later
        type); ``AllocateResource`` walks up from the aperture base in steps
        of the alignment; a Mem64 request that does not fit above 4 GiB
        tries the 32-bit aperture (alignment capped at 2^31)."""
        ap = self.ap
        apert = {IO16: (ap.io_base, ap.io_limit), MEM32: (ap.mem32_base, ap.mem32_limit),
                 MEM64: (ap.mem64_base, ap.mem64_limit) if ap.mem64_size else None}
        used: list = []
        placed, failed = {}, []
        todo = [t for t in (IO16, MEM32, PMEM32, MEM64, PMEM64) if nodes[t].children]
        while todo:
            best = None
            for t in todo:
                if best is None or nodes[t].alignment >= nodes[best].alignment:
                    best = t
            todo.remove(best)
            n = nodes[best]
            tries = [(apert.get(best), 15 if best == IO16 else 63)]
            if best in (MEM64, PMEM64):
                tries.append((apert[MEM32], 31))
            addr = None
            for rng, maxbits in tries:
                if rng is None:
                    continue
                align = min(n.alignment + 1, 1 << maxbits)
                a = _align_up(rng[0], align)
                while a + n.length <= rng[1] + 1:
                    if not any(a < e and s < a + n.length for s, e in used):
                        addr = a
                        break
                    a += align
                if addr is not None:
                    break
            if addr is None:
                failed.append(best)
            else:
                used.append((addr, addr + max(n.length, 1)))
                placed[best] = addr
        return placed, failed

    def try_allocate(self):
        """One pass of PciLib.c ``PciHostBridgeResourceAllocator``: build the
        resource map of the root bridge and let the host bridge place it."""
        root_decodes = {IO16, MEM32, PMEM32}
        if self.ap.mem64_size:
            root_decodes |= {MEM64, PMEM64}
        nodes = {t: _Node(None, t, 0, 0xfff if t == IO16 else 0xfffff, t, bridge=True)
                 for t in TYPES}
        if self.max_rom:
            # PciLib.c PciHostBridgeResourceAllocator: one MEM32 range of
            # the largest option ROM for the root bridge, shared by all
            # devices' ROMs while they are read (GetMaxOptionRomSize)
            _insert(nodes[MEM32], _Node(None, None, self.max_rom, self.max_rom - 1, OPROM))
        self.create_map(None, self.root_devs, nodes, root_decodes, True)
        placed, failed = self.allocate_root(nodes)
        return nodes, placed, failed

    def fits_with(self, platform: OvmfPlatform) -> bool:
        """Would every request fit with ``platform`` instead (same devices)?"""
        saved, saved_rej, saved_emp = self.ap, self.rejected, self.emptied
        try:
            self.ap, self.rejected, self.emptied = platform_apertures(platform), set(), set()
            return not self.try_allocate()[2]
        finally:
            self.ap, self.rejected, self.emptied = saved, saved_rej, saved_emp

    def smallest_knobs(self) -> list[str]:
        """The smallest setting of each knob that makes everything fit,
        found by running the same allocation with the knob changed:
        ``opt/ovmf/X-PciMmio64Mb`` (powers of two, the window must end
        inside the vCPU's phys-bits to be reachable) and ``phys-bits`` (with
        ``pdpe1gb=on`` above 40, as ``PlatformAddressWidthFromCpuid`` caps
        the width at 40 without 1 GiB pages)."""
        from dataclasses import replace
        p, out = self.p, []
        for k in range(0, 15):
            size = GiB << k
            if size <= self.ap.mem64_size:
                continue
            q = replace(p, pci_mmio64_mb=size >> 20)
            ap = platform_apertures(q)
            if ap.mem64_base + ap.mem64_size > (1 << p.phys_bits):
                break
            if self.fits_with(q):
                out.append(f"-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string={size >> 20} "
                           f"(a {fmt_size(size)} window at {fmt_hex(ap.mem64_base)})")
                break
        for bits in range(36, 53):
            reserved = [r for r in p.e820_reserved if r != p.amd_ht_hole]
            if p.amd_ht_hole and p.cpu_vendor == "AuthenticAMD" and bits >= 40:
                reserved.append(p.amd_ht_hole)
            q = replace(p, phys_bits=bits, page1g=p.page1g or bits > 40, e820_reserved=reserved)
            ap = platform_apertures(q)
            if ap.phys_bits is None or ap.mem64_size <= self.ap.mem64_size:
                continue
            if self.fits_with(q):
                extra = ",pdpe1gb=on" if q.page1g and not p.page1g else ""
                out.append(f"-cpu ...,phys-bits={bits}{extra} (a {fmt_size(ap.mem64_size)} "
                           f"window at {fmt_hex(ap.mem64_base)}; under KVM no more than the "
                           "host's phys-bits)")
                break
        return out

    def reservation_knobs(self, dropped: set) -> list[str]:
        """When PciBusDxe rejected something (a port's hot-plug padding or a
        function) because the I/O aperture or the 32-bit window is full
        (``dropped``: the types), the smallest change of QEMU's
        resource-reservation properties that makes everything fit, every
        port's remaining padding included, found by running the same
        allocation with the changed capability (:meth:`padding_from`):
        ``io-reserve=0`` (PciHotPlugInit.c: Io 0 = no I/O padding) for I/O,
        ``mem-reserve=0`` (NonPrefetchable32BitMmio 0 = none) for the 32-bit
        window, then both.  Only on ``pcie-root-port``
        (hw/pci-bridge/gen_pcie_root_port.c ``gen_rp_props``; the same in
        v7.2.0 and v10.0.0), whose ``io-reserve=0`` also makes the port's
        I/O window read-only (``gen_rp_realize``), so not on a port with
        an I/O BAR behind it.  Real run: data/ovmf/q35-2G-14rp-ioreserve0-*
        (the knob applied to q35-2G-14rp-2022.11-qemu7.2)."""
        rps = [d for d in self.all_devs if d.is_bridge and d.vendor == 0x1b36
               and d.device_id == 0x000c]
        props = [(p, f) for p, t, f in (("io-reserve", IO16, 1), ("mem-reserve", MEM32, 2))
                 if t in dropped]
        # one property, then both (smallest change first)
        cands = [[p] for p in props] + ([props] if len(props) == 2 else [])
        for cand in cands:
            fields = [f for _p, f in cand]
            # io-reserve=0 closes the port's I/O window: not where an I/O BAR is behind
            ok = [d for d in rps if 1 not in fields or not self._io_behind(d)]
            targets = [d for d in ok if d.hotplug]
            if not targets or not self._fits_with_hint(targets, fields):
                continue
            if len(ok) == len(rps):
                where = " ".join(f"-global pcie-root-port.{p}=0" for p, _f in cand)
            else:
                where = (",".join(f"{p}=0" for p, _f in cand) + " on the pcie-root-ports at "
                         + ", ".join(d.name for d in targets))
            left = sorted({fmt_size(ln) for d in targets
                           for t, ln, _ in self.padding_from(self._hint_with(d, fields))[1]
                           if t == MEM32 and ln != "scaled"})
            keep = f"; each keeps its {'/'.join(left)} memory padding" if left else ""
            what = " and ".join("I/O window and I/O" if f == 1 else "32-bit memory"
                                for f in fields)
            return [f"{where} (no {what} padding on the {len(targets)} hot-plug root ports, "
                    f"so everything fits{keep})"]
        return []

    @staticmethod
    def _hint_with(d: _Dev, fields: list):
        """``d``'s capability with ``fields`` set to 0 (the capability QEMU
        adds when any ``*-reserve`` is given: the others all ones)."""
        hint = list(d.hint or (0xffffffff, U64, 0xffffffff, 0xffffffff, U64))
        for f in fields:
            hint[f] = 0
        return tuple(hint)

    def _io_behind(self, d: _Dev) -> bool:
        """Is there an I/O BAR anywhere behind bridge ``d``?"""
        return any(any(t == IO16 for _i, t, _l, _a in c.bars) or self._io_behind(c)
                   for c in d.children)

    def _fits_with_hint(self, ports: list, fields: list) -> bool:
        """Would every request fit, paddings included, with ``fields`` of the
        capability of ``ports`` set to 0?"""
        closes_io = 1 in fields
        saved = [(d, d.padding, d.bus_reserve if d.hotplug else 0, set(d.decodes)) for d in ports]
        saved_rej, saved_emp = self.rejected, self.emptied
        try:
            for d in ports:
                d.bus_reserve, d.padding = self.padding_from(self._hint_with(d, fields))
                if closes_io:
                    d.decodes.discard(IO16)
            self.rejected, self.emptied = set(), set()
            return not self.try_allocate()[2]
        finally:
            for d, pad, busr, dec in saved:
                d.padding, d.decodes = pad, dec
                if d.hotplug:
                    d.bus_reserve = busr
            self.rejected, self.emptied = saved_rej, saved_emp

    def rejective(self, d) -> bool:
        """PciEnumerator.c ``IsRejectiveDevice`` (the same at both tags):
        bridges may be rejected; functions on bus 0 and VGA controllers
        (class 03 00 00) never; nor the root bridge's own option-ROM range
        (no device)."""
        if d is None:
            return False
        if d.is_bridge:
            return True
        if d.bus == 0:
            return False
        if d.class_code == 0x0300 and self.r(d.bus, d.devfn, 0x09, 1) == 0:
            return False
        return True

    @staticmethod
    def _larger(a, b):
        """PciEnumerator.c ``GetLargerConsumerDevice``: a bridge's own
        (non-padding) node never wins; the first stays only when strictly
        larger, so of equal consumers the later in the list wins."""
        if b is None:
            return a
        if b.dev.is_bridge and b.usage != "padding":
            return a
        if a is None:
            return b
        return a if a.length > b.length else b

    def max_consumer(self, node: _Node):
        """PciEnumerator.c ``GetMaxResourceConsumerDevice``: the largest
        rejective consumer below, looking inside bridge windows: a function
        behind a bridge or a bridge's hot-plug padding.  None when there is
        none (a pool of bus-0 functions only): then
        ``PciHostBridgeAdjustAllocation`` rejects nothing and returns
        EFI_ABORTED, and the PCI bus driver gives up (:meth:`run`)."""
        best = None
        for n in node.children:
            if not self.rejective(n.dev):
                continue
            if n.dev.is_bridge and n.usage != "padding":
                best = self._larger(best, self.max_consumer(n))
            else:
                best = self._larger(best, n)
        return best

    def largest(self, node: _Node):
        """The largest BAR or padding below ``node``, rejective or not (what
        a person asks about when the firmware gave up)."""
        best = None
        for n in node.children:
            cand = self.largest(n) if n.bridge else (n if n.dev is not None else None)
            if cand is not None and (best is None or not best.length > cand.length):
                best = cand
        return best

    def program(self, node: _Node, base: int) -> None:
        """PciResourceSupport.c ``ProgramResource``/``ProgramBar``/
        ``ProgramPpbApperture``: node offsets from the bridge base."""
        for n in node.children:
            a = base + n.offset
            if n.usage == "padding":
                continue
            if n.bridge:
                self.program(n, a)
                self.program_window(n, a)
            elif n.type != OPROM:
                d = n.dev
                off = 0x10 + 4 * n.bar
                self.w(d.bus, d.devfn, off, a & 0xffffffff | (self.r(d.bus, d.devfn, off, 4) & 0xf if n.type != IO16 else 1), 4)
                if n.type in (MEM64, PMEM64) or self._is64(d, n.bar):
                    self.w(d.bus, d.devfn, off + 4, a >> 32, 4)
                self.res.bars[(d.name, n.bar)] = a

    def _is64(self, d, bar):
        for idx, typ, _, _ in d.bars:
            if idx == bar:
                return typ in (MEM64, PMEM64)
        return False

    def program_window(self, n: _Node, base: int) -> None:
        d = n.dev
        b, f = d.bus, d.devfn
        limit = base + n.length - 1
        if n.length == 0:
            return
        w = self.res.windows.setdefault(d.name, {})
        # PciResourceSupport.c ProgramPpbApperture, in its order and widths
        if n.type == IO16:
            self.w(b, f, 0x1c, (base >> 8) & 0xff, 1)
            self.w(b, f, 0x30, (base >> 16) & 0xffff, 2)
            self.w(b, f, 0x1d, (limit >> 8) & 0xff, 1)
            self.w(b, f, 0x32, (limit >> 16) & 0xffff, 2)
            w["io"] = (base, limit)
        elif n.type == MEM32:
            self.w(b, f, 0x20, (base >> 16) & 0xffff, 2)
            self.w(b, f, 0x22, (limit >> 16) & 0xffff, 2)
            w["mem"] = (base, limit)
        else:
            self.w(b, f, 0x24, (base >> 16) & 0xffff, 2)
            self.w(b, f, 0x26, (limit >> 16) & 0xffff, 2)
            self.w(b, f, 0x28, base >> 32, 4)
            self.w(b, f, 0x2c, limit >> 32, 4)
            w["pref"] = (base, limit)

    def run(self) -> OvmfResult:
        self.pei_chipset()
        self.max_bus = 0
        self.rejected: set = set()
        #: bridges whose hot-plug padding was dropped (RejectPciDevice)
        self.emptied: set = set()
        root_devs = self.scan(0, None)
        all_devs = []

        def walk(ds):
            for d in ds:
                all_devs.append(d)
                walk(d.children)
        walk(root_devs)
        max_rom = max((d.rom_size for d in all_devs), default=0)
        self.root_devs, self.max_rom = root_devs, max_rom
        self.all_devs = all_devs
        #: the resource types whose hot-plug padding PciBusDxe dropped, and
        #: the types of every rejection (padding or function)
        dropped: set = set()
        failed_types: set = set()
        gave_up: list = []
        while True:
            nodes, placed, failed = self.try_allocate()
            if not failed:
                break
            # PciLib.c PciHostBridgeAdjustAllocation: reject the largest
            # consumer of each type that did not fit, then start again
            progress = False
            for t in failed:
                n = self.max_consumer(nodes[t])
                if n is None or n.dev in self.rejected or n.dev in self.emptied:
                    continue
                if n.usage == "padding":
                    # the largest consumer is a bridge's hot-plug padding:
                    # PciEnumerator.c RejectPciDevice frees the bridge's padding
                    # descriptors and leaves the bridge and what is behind it
                    # (real runs: data/ovmf/q35-2G-14rp-2022.11-qemu7.2)
                    self.emptied.add(n.dev)
                    dropped.add(t)
                    self.res.padding_dropped.append((n.dev.name, t, n.length))
                else:
                    self.rejected.add(n.dev)
                progress = True
                failed_types.add(t)
                if n.usage == "padding":
                    # only the padding goes: a note, no unassigned BAR
                    self.res.notes.append(
                        f"{n.dev.name}: hot-plug padding dropped ({fmt_size(n.length)} {t}): "
                        f"{self._why(t, nodes[t])}; the port keeps its own BARs and devices, "
                        f"a device hot-plugged behind it later gets no resources")
                    self.log.append(f"PciBus: [{n.dev.bus:02x}|{n.dev.devfn >> 3:02x}|"
                                    f"{n.dev.devfn & 7:02x}] was rejected due to resource "
                                    f"confliction.")
                    continue
                self.res.rejected.append(n.dev.name)
                self.res.unassigned.append(Unassigned(
                    n.dev.name, n.bar, n.length, t, self._why(t, nodes[t])))
                self.log.append(f"PciBus: [{n.dev.bus:02x}|{n.dev.devfn >> 3:02x}|"
                                f"{n.dev.devfn & 7:02x}] was rejected due to resource confliction.")
            if not progress:
                gave_up = failed
                break
        rejected64 = any(u.kind in (MEM64, PMEM64) for u in self.res.unassigned)
        if gave_up or rejected64:
            # Two ways the PCI bus driver gives up:
            # * PciEnumerator.c PciHostBridgeAdjustAllocation found nothing it
            #   may reject (IsRejectiveDevice: never a function on bus 0 or a
            #   VGA controller) and returned EFI_ABORTED, which PciLib.c
            #   PciHostBridgeResourceAllocator returns (read from the source;
            #   real runs data/ovmf/q35-1G-pb39-ivshmem-64G-*, a 64-bit BAR
            #   on the root bus that fits neither window);
            # * a function behind a bridge was rejected for a 64-bit request:
            #   read from the source, the allocator would go on without it,
            #   but the real run data/ovmf/q35-1G-pb39-rp-ivshmem-64G-2022.11
            #   (the 64 GiB BAR behind a root port) ends the same way; which
            #   branch gives up is not traced, the model follows the run.
            # Either way every BAR of every function stays unprogrammed and
            # nothing appears on the serial console, the vCPU halted in an
            # idle loop (HLT=1, the same RIP over time): not even the ISA
            # serial port behind the LPC bridge got a driver (query-pci
            # after 225 s of TCG; `info registers` after 90 s).
            self.res.stopped = True
            for t in gave_up:
                n = self.largest(nodes[t])
                if n is not None and n.usage != "padding" and n.dev.name not in self.res.rejected:
                    self.res.rejected.append(n.dev.name)
                    self.res.unassigned.append(Unassigned(
                        n.dev.name, n.bar, n.length, t,
                        self._why(t, nodes[t]) + "; PciBusDxe may reject only functions behind "
                        "a bridge (IsRejectiveDevice), so it gives up"))
            for u in self.res.unassigned:
                self.res.notes.append(u.text())
            self.res.knobs = self.smallest_knobs()
            for k in self.res.knobs:
                self.res.notes.append(f"smallest change that makes everything fit: {k}")
            self.res.notes.append(
                f"OVMF {self.p.version} gives up on PCI: no BAR of any function is assigned and "
                "nothing appears on the console (the VM seems to hang at start; observed on "
                "real runs)")
            return self.res
        if failed_types & {IO16, MEM32}:
            self.res.knobs = self.reservation_knobs(failed_types)
        for k in self.res.knobs:
            self.res.notes.append(f"smallest change that makes everything fit, hot-plug "
                                  f"padding included: {k}")
        # a rejected function that does not stop the firmware (an I/O or 32-bit
        # request: PciEnumerator.c PciHostBridgeAdjustAllocation, then the
        # next pass fits; real runs: data/ovmf/q35-2G-14rp-2022.11-qemu7.2) keeps no resources
        for u in self.res.unassigned:
            self.res.notes.append(u.text())
        for t, base in placed.items():
            self.res.root[t] = (base, nodes[t].length, nodes[t].alignment)
            self.program(nodes[t], base)
        # Command register: PciBus enables decode for the resources each
        # device got (PciEnumerator.c / PciIoAttributes via BDS: OvmfPkg
        # PlatformBootManagerLib BdsPlatform.c connects every PCI device with
        # EFI_PCI_DEVICE_ENABLE = IO | MEMORY | BUS_MASTER)
        for d in all_devs:
            if d in self.rejected:
                continue
            if any(p in self.rejected for p in self._ancestors(d)):
                continue
            cmd = self.r(d.bus, d.devfn, 0x04, 2)
            self.w(d.bus, d.devfn, 0x04, cmd | 0x7, 2)
        for u in self.res.unassigned:
            self.res.notes.append(u.text())
        self.vbe_shim(self.qemu_video(all_devs))
        self.pci_acpi_init(all_devs)
        return self.res

    #: PlatformBootManagerLib/BdsPlatform.c ``PciHostIrqs`` (both tags)
    PCI_HOST_IRQS = (0x0a, 0x0a, 0x0b, 0x0b)

    def pci_acpi_init(self, devs) -> None:
        """BdsPlatform.c ``PciAcpiInitialization``: the PIRQ routing
        registers (PIIX 00:01.0 0x60-0x63; ICH9 00:1f.0 0x60-0x63 and
        0x68-0x6b) from ``PciHostIrqs``, then ``SetPciIntLine`` for every
        function with an interrupt pin: index = pin - 1 + the sum of the
        device numbers from the root down, minus 1 on i440fx, minus the
        root slot on q35 when it is above 24, modulo 4."""
        irqs = self.PCI_HOST_IRQS
        if self.p.machine == "q35":
            for i, reg in enumerate((0x60, 0x61, 0x62, 0x63, 0x68, 0x69, 0x6a, 0x6b)):
                self.w(0, 0x1f << 3, reg, irqs[i % 4], 1)
        else:
            for i, reg in enumerate((0x60, 0x61, 0x62, 0x63)):
                self.w(0, 1 << 3, reg, irqs[i], 1)
        for d in devs:
            if d in self.rejected or any(a in self.rejected for a in self._ancestors(d)):
                continue
            pin = self.r(d.bus, d.devfn, 0x3d, 1)
            if not pin:
                continue
            path = [d, *self._ancestors(d)][::-1]
            idx = pin - 1 + sum(x.devfn >> 3 for x in path)
            root_slot = path[0].devfn >> 3
            if self.p.machine == "pc":
                idx -= 1
            elif root_slot > 24:
                idx -= root_slot
            self.w(d.bus, d.devfn, 0x3c, irqs[idx % 4], 1)

    #: OvmfPkg/QemuVideoDxe/Driver.c ``gQemuVideoCardList`` (the same at
    #: edk2-stable202211 and edk2-stable202502): (class code, vendor, device)
    #: -> variant, name.  The Cirrus and VMware SVGA entries have no device
    #: in the model.
    QEMU_VIDEO_CARDS = {
        (0x0300, 0x1013, 0x00a8): ("cirrus", "Cirrus 5430"),
        (0x0300, 0x1013, 0x00a0): ("cirrus", "Cirrus 5430"),
        (0x0300, 0x1013, 0x00b8): ("cirrus", "Cirrus 5446"),
        (0x0300, 0x1234, 0x1111): ("bochs-mmio", "QEMU Standard VGA"),
        (0x0380, 0x1234, 0x1111): ("bochs-mmio", "QEMU Standard VGA (secondary)"),
        (0x0300, 0x1b36, 0x0100): ("bochs", "QEMU QXL VGA"),
        (0x0300, 0x1af4, 0x1050): ("bochs-mmio", "QEMU VirtIO VGA"),
        (0x0300, 0x15ad, 0x0405): ("vmware-svga", "QEMU VMWare SVGA"),
    }
    #: the depth of every mode QemuVideoDxe offers on a Bochs card
    #: (Initialize.c ``QemuVideoBochsModeSetup``/``QemuVideoBochsAddMode``:
    #: ``ColorDepth = 32``, both tags)
    BOCHS_COLOR_DEPTH = 32

    def qemu_video(self, devs) -> list:
        """What QemuVideoDxe leaves on the display functions by the time the
        boot manager runs, in both tags (OvmfPkg/QemuVideoDxe/Driver.c
        ``QemuVideoControllerDriverSupported``/``Start``, Gop.c
        ``QemuVideoGraphicsOutputSetMode``, Driver.c
        ``InitializeBochsGraphicsMode``).

        BdsPlatform.c ``DetectAndPreparePlatformPciDevicePath`` connects
        every display function (base class 3) in PciIo handle order, which is
        PciBusDxe's depth-first order of registration (``all_devs``).  The
        driver takes those in ``gQemuVideoCardList``.  Its ``Start`` enables
        ``EFI_PCI_DEVICE_ENABLE | VGA_MEMORY | VGA_IO_16`` (the VGA
        attributes PciBusDxe supports for a class 0x0300 function under
        OVMF's root bridge: PciEnumeratorSupport.c ``PciSetDeviceAttribute``,
        no PciPlatform protocol so ``mReserveVgaAliases`` is FALSE;
        PciHostBridgeLib.c).  PciIo.c ``PciIoAttributes`` refuses the VGA
        attributes to a second VGA function on the host bridge
        (``LocateVgaDeviceOnHostBridge``), so ``Start`` fails for every VGA
        function after the first; a class 0x0380 function gets them masked
        off by the ``EFI_PCI_DEVICE_ENABLE`` trick and is driven.  Enabling
        them sets VGA Enable and VGA 16-bit decode (bridge control 0x18) in
        every bridge above the function.  ``Start`` then checks the Bochs ID
        register (:meth:`_bochs_target`: own MMIO, or ports 0x1ce/0x1cf for
        qxl-vga) and ``SetMode`` programs a Bochs VBE mode of 32 bpp: ENABLE
        0, BANK 0, X/Y offset 0, BPP, the resolution, ENABLE = ENABLED |
        LFB_ENABLED (the resolution GraphicsConsoleDxe picks later is not
        modelled: it reaches nothing but the display).  Under QEMU that maps
        the ``vga.chain4`` window over 0xa0000 of the VGA core the writes
        reach (:class:`vfiolab.model.devices.VGACommonState`; real runs:
        data/ovmf/*-multi-*, *-14rp-*, *-virtio-vga-*, *-qxl-vga-*, *-2vga-*,
        *-2stdvga-*, *-vga-rootport-*).  Returns the functions the driver
        started, with their card names.
        """
        started, unknown = [], []
        vga_owner = None
        for d in devs:
            if d in self.rejected or any(a in self.rejected for a in self._ancestors(d)):
                continue
            if d.class_code >> 8 != 0x03:
                continue
            card = self.QEMU_VIDEO_CARDS.get((d.class_code, d.vendor, d.device_id))
            if card is None:
                if d.class_code == 0x0300 and vga_owner is None:
                    unknown.append(d.name)
                continue
            variant, name = card
            if d.class_code == 0x0300 and vga_owner is not None:
                # PciIoAttributes: LocateVgaDeviceOnHostBridge finds the owner
                self.log.append(f"QemuVideo: {name} at {d.name} not started: the VGA "
                                f"resources belong to {vga_owner.name}")
                continue
            target = self._bochs_target(d, variant)
            if target is False:
                # Start: "BochsID mismatch", RestoreAttributes gives the VGA
                # attributes back (the bridges' VGA enable with them)
                self.log.append(f"QemuVideo: {name} at {d.name} not started: no Bochs VBE "
                                f"interface answers (ports 0x1ce/0x1cf)")
                continue
            if d.class_code == 0x0300:
                vga_owner = d
                if unknown:
                    # a VGA function QemuVideoDxe does not drive (a passed-through
                    # GPU) is connected first; its UEFI driver (from its option
                    # ROM) is not modelled
                    self.res.notes.append(
                        f"{name} at {d.name} is taken to own the legacy VGA resources "
                        f"(the vga.chain4 window at 0xa0000): VGA function(s) "
                        f"{', '.join(unknown)} come first in PciBusDxe's order and their "
                        f"UEFI driver is not modelled; if it enables the VGA attributes "
                        f"first, QemuVideoDxe does not start on {d.name}")
                for b in self._ancestors(d):
                    ctl = self.r(b.bus, b.devfn, 0x3e, 2)
                    self.w(b.bus, b.devfn, 0x3e, ctl | 0x18, 2)
            started.append((d, name))
            self.res.video.append((d.name, name))
            self.log.append(f"QemuVideo: {name} detected at {d.name}")
            if target is None:
                continue
            # InitializeBochsGraphicsMode, its VBE register writes in order
            # (XRES/VIRT_WIDTH/YRES/VIRT_HEIGHT left out, see above)
            for index, value in ((4, 0), (5, 0), (8, 0), (9, 0), (3, self.BOCHS_COLOR_DEPTH),
                                 (4, 0x01 | 0x40)):
                self.cfg.vbe_write(*target, index, value)
        return started

    def _bochs_target(self, d, variant):
        """Where QemuVideoDxe's Bochs VBE accesses for ``d`` land (Driver.c
        ``QemuVideoControllerDriverStart``; Qemu.h/Driver.c ``BochsRead``,
        ``BochsWrite``): BOCHS_MMIO (VGA, virtio-vga) uses the function's own
        BAR2 at 0x500 if BAR2 is a memory BAR, else falls back to BOCHS,
        which (qxl-vga) uses ports 0x1ce/0x1cf, answered by whichever VGA
        core owns them (``vbe_port_owner``).  Returns (bus, devfn), None
        when the model has no VBE access (not a Bochs card, or a config
        access without VBE registers), or False when the ID register does
        not read 0xB0Cx (``BochsID mismatch``: Start fails)."""
        if variant not in ("bochs", "bochs-mmio") or not hasattr(self.cfg, "vbe_write"):
            return None
        if variant == "bochs-mmio" and any(idx == 2 and typ != IO16
                                           for idx, typ, _, _ in d.bars):
            target = (d.bus, d.devfn)
        else:
            target = self.cfg.vbe_port_owner()
        if target is None or (self.cfg.vbe_read(*target, 0) & 0xFFF0) != 0xB0C0:
            return False
        return target

    def vbe_shim(self, started) -> None:
        """2022.11 only: QemuVideoDxe ``InstallVbeShim`` (VbeShim.c), called
        at the end of ``Start`` for a Bochs-type card (``started``, from
        :meth:`qemu_video`): PAM1 low nibble read+write to copy the shim to
        0xC0000, then read-only ((Pam1 & ~BIT1) | BIT0), so 0xC0000-0xC3FFF
        ends as read-only RAM.  The shim was removed before 2025.02 (edk2
        commit ab069d5801 "OvmfPkg/QemuVideoDxe: purge VbeShim")."""
        if self.p.version >= "2025.02":
            return
        if not any(self.QEMU_VIDEO_CARDS[(d.class_code, d.vendor, d.device_id)][0]
                   in ("bochs", "bochs-mmio") for d, _ in started):
            return
        pam1 = 0x91 if self.p.machine == "q35" else 0x5a     # MCH_PAM1 / PIIX4_PAM1
        v = self.r(0, 0, pam1, 1)
        self.w(0, 0, pam1, v | 0x3, 1)
        self.w(0, 0, pam1, (v & ~0x2) | 0x1, 1)

    def _ancestors(self, d):
        p = d.parent
        while p is not None:
            yield p
            p = p.parent

    def _why(self, t: str, node: _Node) -> str:
        ap = self.ap
        if t in (MEM64, PMEM64):
            if ap.mem64_size:
                return (f"the 64-bit window is {fmt_size(ap.mem64_size)} at "
                        f"{fmt_hex(ap.mem64_base)} ({ap.why}) and the "
                        f"{fmt_size(ap.mem32_limit - ap.mem32_base + 1)} 32-bit window "
                        f"at {fmt_hex(ap.mem32_base)} cannot take it either; the 64-bit "
                        f"requests total {fmt_size(node.length)}")
            return "there is no 64-bit window"
        if t == IO16:
            return f"the I/O window {fmt_hex(ap.io_base)}-{fmt_hex(ap.io_limit)} is full"
        return (f"the 32-bit window {fmt_hex(ap.mem32_base)}-{fmt_hex(ap.mem32_limit)} is "
                f"full (requests total {fmt_size(node.length)})")


def pci_setup(cfg: ConfigAccess, platform: OvmfPlatform, log: list | None = None) -> OvmfResult:
    """Run OVMF's PCI resource set-up against ``cfg`` (see the module docstring)."""
    ap = platform_apertures(platform)
    log = [] if log is None else log
    log.append(f"OVMF {platform.version}: 32-bit window {fmt_hex(ap.mem32_base)}-"
               f"{fmt_hex(ap.mem32_limit)}, 64-bit window {fmt_hex(ap.mem64_base)} "
               f"size {fmt_size(ap.mem64_size)} ({ap.why})")
    return _Ovmf(cfg, platform, ap, log).run()
