"""PCI passthrough: the VFIO device the kernel presents, and QEMU's vfio-pci.

**The kernel side** (Linux ``drivers/vfio/pci/vfio_pci_core.c``,
``vfio_pci_core_ioctl`` ``VFIO_DEVICE_GET_REGION_INFO``,
``vfio_pci_probe_mmaps``, ``vfio_pci_core_mmap``): the device fd has one
region per BAR, the ROM, config space and (for VGA devices) the legacy VGA
ranges, each at ``index << 40`` in the fd.  A BAR can be mmapped if it is
memory (never I/O ports), non-empty, and either at least a page or a
sub-page BAR that starts page aligned.  Since Linux 4.16 the BAR holding
the MSI-X table says so with the ``MSIX_MAPPABLE`` capability and may be
mmapped whole; before, a sparse-mmap capability left out the table's pages.
An mmap of a BAR maps the device's own MMIO (``VM_PFNMAP``): the host
physical address behind it is the BAR's *host* address, whatever the guest
programs.

**The QEMU side** (QEMU 7.2 ``hw/vfio/pci.c`` ``vfio_realize``,
``vfio_bar_prepare``, ``vfio_bar_register``, ``vfio_msix_early_setup``,
``vfio_pci_fixup_msix_region``, ``vfio_msix_setup``,
``vfio_pci_size_rom``, ``vfio_pci_read_config``, ``vfio_pci_write_config``,
``vfio_sub_page_bar_update_mapping``; ``hw/vfio/common.c``
``vfio_region_setup``, ``vfio_region_mmap``): per BAR a tree

* ``<bdf> base BAR n``: an I/O region with no callbacks, what the PCI core
  maps at the guest's BAR address (priority 1);
* inside it ``<bdf> BAR n``: the slow path, every access a pread/pwrite on
  the device fd;
* inside that, ``<bdf> BAR n mmaps[i]``: ``ram_device`` regions over the
  mmaps, which become KVM memslots;
* on top (added later, so rendered first) the emulated ``msix-table`` and
  ``msix-pba``; the PBA starts disabled.

Config space: QEMU keeps a copy with the BARs and ROM cleared and emulates
them (``emulated_config_bits``), as it emulates MSI and MSI-X; everything
else is read from and written to the device through the kernel, which
itself virtualizes the BARs (the physical BAR is never written).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..addr import GiB, MiB, PAGE_SIZE, align_down, align_up, is_pow2
from ..errors import DeviceError
from .hostdev import HostDevice
from .memory import MemoryRegion
from .pci import (PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_64,
                  PCI_BASE_ADDRESS_MEM_PREFETCH, PCI_BASE_ADDRESS_SPACE_IO, PCI_COMMAND,
                  PCI_HEADER_TYPE, PCI_ROM_ADDRESS, PCI_ROM_SLOT, PCIDevice)

__all__ = [
    "VFIO_PCI_BAR0_REGION_INDEX", "VFIO_PCI_ROM_REGION_INDEX", "VFIO_PCI_CONFIG_REGION_INDEX",
    "VFIO_PCI_VGA_REGION_INDEX", "VFIO_PCI_OFFSET_SHIFT", "VFIO_REGION_INFO_FLAG_READ",
    "VFIO_REGION_INFO_FLAG_WRITE", "VFIO_REGION_INFO_FLAG_MMAP", "VFIO_REGION_INFO_FLAG_CAPS",
    "VfioRegionInfo", "VfioMmap", "region_infos", "mmap_alignment", "rom_bar_size", "VfioPCIDevice", "config_owners",
]

# Linux include/uapi/linux/vfio.h
VFIO_PCI_BAR0_REGION_INDEX = 0
VFIO_PCI_ROM_REGION_INDEX = 6
VFIO_PCI_CONFIG_REGION_INDEX = 7
VFIO_PCI_VGA_REGION_INDEX = 8
#: drivers/vfio/pci/vfio_pci_priv.h: region offset = index << 40
VFIO_PCI_OFFSET_SHIFT = 40
#: include/uapi/linux/pci_ids.h
PCI_CLASS_DISPLAY_VGA = 0x0300
VFIO_REGION_INFO_FLAG_READ = 1 << 0
VFIO_REGION_INFO_FLAG_WRITE = 1 << 1
VFIO_REGION_INFO_FLAG_MMAP = 1 << 2
VFIO_REGION_INFO_FLAG_CAPS = 1 << 3
PCI_MSIX_ENTRY_SIZE = 16
PAGE_2M = 2 * MiB
REGION_NAMES = {0: "BAR0", 1: "BAR1", 2: "BAR2", 3: "BAR3", 4: "BAR4", 5: "BAR5",
                6: "ROM", 7: "config", 8: "VGA"}


@dataclass(frozen=True)
class VfioRegionInfo:
    """``struct vfio_region_info`` as the kernel fills it, plus its capabilities.

    ``sparse`` is the ``VFIO_REGION_INFO_CAP_SPARSE_MMAP`` list of
    (offset, size) areas, or None; ``msix_mappable`` is
    ``VFIO_REGION_INFO_CAP_MSIX_MAPPABLE``.
    """

    index: int
    size: int
    offset: int
    flags: int
    sparse: tuple[tuple[int, int], ...] | None = None
    msix_mappable: bool = False

    @property
    def name(self) -> str:
        return REGION_NAMES.get(self.index, f"region{self.index}")

    @property
    def mmap(self) -> bool:
        return bool(self.flags & VFIO_REGION_INFO_FLAG_MMAP)

    def flag_names(self) -> str:
        names = [n for bit, n in ((VFIO_REGION_INFO_FLAG_READ, "READ"),
                                  (VFIO_REGION_INFO_FLAG_WRITE, "WRITE"),
                                  (VFIO_REGION_INFO_FLAG_MMAP, "MMAP"),
                                  (VFIO_REGION_INFO_FLAG_CAPS, "CAPS")) if self.flags & bit]
        return "|".join(names) or "0"


def _ids_note(hd: HostDevice) -> str:
    """What the guest's copy of config space lacks when the device is known
    only from ``lspci -vvv`` text (no config dump): the device ID when
    lspci printed only a name for it (``check_host_device`` has refused a
    device whose vendor or class is unknown)."""
    if hd.device_id is None:
        return (f"device ID unknown (lspci printed {hd.device_name!r} without -nn): "
                "the guest reads 0000")
    return ""


def _config_size(dev: HostDevice) -> int:
    if dev.config is not None and len(dev.config) in (256, 4096):
        return len(dev.config)
    return 4096 if dev.is_pcie else 256


def region_infos(dev: HostDevice, *, page_size: int = PAGE_SIZE,
                 kernel: tuple[int, int] = (6, 8), vga: bool = True) -> list[VfioRegionInfo]:
    """What ``VFIO_DEVICE_GET_REGION_INFO`` reports for each index.

    Rules (Linux vfio_pci_core.c): BAR size from the resource length, 0 for
    an unimplemented BAR and the upper half of a 64-bit BAR; READ|WRITE;
    MMAP when ``vfio_pci_probe_mmaps`` allows it (memory BAR, and size >=
    a page or page-aligned start); the MSI-X table BAR gets
    ``MSIX_MAPPABLE`` from Linux 4.16 (commit "vfio-pci: Allow mapping MSIX
    BAR"), before which a sparse mmap leaves out the table's pages.  ROM:
    :func:`_rom_region_info` (the BAR's size and READ, or size 0 and no
    flags when the kernel cannot map an image).  Config: 256 or 4096 bytes,
    READ|WRITE.  VGA: only for class 0x03 0x00 (``vfio_pci_is_vga``) and
    when the kernel has VGA support (``vga``: CONFIG_VFIO_PCI_VGA and
    ``disable_vga=0``, a distribution's choice), 0xc0000 bytes; a device
    whose class is unknown is refused.
    """
    out: list[VfioRegionInfo] = []
    bars = {b.index: b for b in dev.bars}
    for i in range(6):
        b = bars.get(i)
        off = i << VFIO_PCI_OFFSET_SHIFT
        if b is None or not b.size:
            out.append(VfioRegionInfo(i, 0, off, 0))
            continue
        flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
        mmappable = b.kind == "mem" and (
            b.size >= page_size
            or (b.host_address is not None and b.host_address % page_size == 0))
        sparse = None
        msix_mappable = False
        if mmappable:
            flags |= VFIO_REGION_INFO_FLAG_MMAP
            if dev.msix is not None and dev.msix.table_bar == i:
                if kernel >= (4, 16):
                    msix_mappable = True
                else:
                    start = align_down(dev.msix.table_offset, page_size)
                    end = align_up(dev.msix.table_offset + dev.msix.table_bytes, page_size)
                    size = align_up(b.size, page_size)
                    sparse = tuple(a for a in ((0, start), (end, size - end)) if a[1] > 0)
                flags |= VFIO_REGION_INFO_FLAG_CAPS
        out.append(VfioRegionInfo(i, b.size, off, flags, sparse, msix_mappable))
    out.append(_rom_region_info(dev))
    out.append(VfioRegionInfo(7, _config_size(dev), 7 << VFIO_PCI_OFFSET_SHIFT,
                              VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE))
    # vfio_pci_core_enable: has_vga = !vfio_vga_disabled() && vfio_pci_is_vga(pdev);
    # vfio_pci_is_vga (drivers/vfio/pci/vfio_pci_priv.h, 6.1 and 6.12):
    # (pdev->class >> 8) == PCI_CLASS_DISPLAY_VGA (0x0300), the prog-if ignored
    if dev.class_code is None:
        raise DeviceError(dev.bdf, "class code", "unknown, so whether the kernel offers the "
                          "VGA region (vfio_pci_is_vga) is unknown; give lspci -nn -vvv")
    if vga and (dev.class_code >> 8) == PCI_CLASS_DISPLAY_VGA:
        # VFIO_PCI_VGA_REGION_INDEX: 0xc0000 bytes (0xa0000-0xbffff and the
        # 0x3b0/0x3c0 ports share the fd offsets), READ|WRITE
        out.append(VfioRegionInfo(8, 0xc0000, 8 << VFIO_PCI_OFFSET_SHIFT,
                                  VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE))
    return out


def rom_bar_size(dev: HostDevice) -> int:
    """The ROM BAR size the guest's config space shows: the kernel's
    virtual ROM BAR (Linux drivers/vfio/pci/vfio_pci_config.c
    ``vfio_bar_fixup``) is the resource's length when it has an address,
    the 0x20000 shadow when it is a shadow copy, else no ROM BAR -- also
    when the region info reports size 0 for an unreadable image.  QEMU
    sizes its ROM BAR from it (hw/vfio/pci.c ``vfio_pci_size_rom`` writes
    ones to PCI_ROM_ADDRESS through the fd and reads back)."""
    rom = dev.rom
    if rom is None:
        return 0
    if rom.size:
        return rom.size
    return 0x20000 if rom.virtual else 0


def _rom_region_info(dev: HostDevice) -> VfioRegionInfo:
    """``VFIO_DEVICE_GET_REGION_INFO`` for ``VFIO_PCI_ROM_REGION_INDEX``
    (Linux drivers/vfio/pci/vfio_pci_core.c ``vfio_pci_ioctl_get_region_info``,
    the same in 6.1 and 6.12): the size is the ROM *BAR*'s length, not the
    image's (0x20000 for a shadow ROM with no length, else nothing: size 0,
    flags 0); then ``pci_map_rom`` is tried with memory decode on: on
    success flags READ, on failure (no valid image: ``pci_get_rom_size``
    found no 0xAA55 / "PCIR" signature) the size becomes 0 and flags stay 0."""
    off = VFIO_PCI_ROM_REGION_INDEX << VFIO_PCI_OFFSET_SHIFT
    size = rom_bar_size(dev)
    if not size:
        return VfioRegionInfo(VFIO_PCI_ROM_REGION_INDEX, 0, off, 0)
    if dev.rom.image_valid is False:
        return VfioRegionInfo(VFIO_PCI_ROM_REGION_INDEX, 0, off, 0)
    return VfioRegionInfo(VFIO_PCI_ROM_REGION_INDEX, size, off, VFIO_REGION_INFO_FLAG_READ)


def mmap_alignment(stack, size: int, fd_offset: int) -> tuple[int, str]:
    """The alignment of the HVA a BAR mmap of ``size`` bytes gets, and why.

    * QEMU >= 9.2 (commit 00b519c0bc "vfio/helpers: Align mmaps", first in
      v9.2.0; hw/vfio/helpers.c ``vfio_region_mmap``): QEMU reserves
      ``size + align`` bytes, trims them and maps the area ``MAP_FIXED`` at
      an address aligned to ``MIN(1 << ctz64(size), 1 GiB)``: a 256 MiB BAR
      gets 256 MiB, a 16 GiB BAR 1 GiB, a 0xfff000 sparse area 4 KiB.
    * Before (QEMU 7.2 hw/vfio/common.c ``vfio_region_mmap``):
      ``mmap(NULL, size, ..., MAP_SHARED, fd, offset)``, so the kernel's
      ``get_unmapped_area`` decides.  The vfio device file has no
      ``get_unmapped_area`` of its own (drivers/vfio, 6.1 to 6.12), so:

      - Linux 6.1 (mm/mmap.c ``get_unmapped_area``, 6.1.20): the mm's
        top-down search, which only guarantees page alignment.  The
        mapping lands just below the previous one, below an ASLR-randomised
        ``mmap_base`` (page granular), so its offset within 2 MiB is
        arbitrary and 511 times in 512 not zero.  The model takes one fixed
        such case, one page past a 2 MiB boundary, so a prediction is
        reproducible and never credits the host with a huge mapping it
        would get only by chance (likewise a 2 MiB-aligned result below is
        placed 2 MiB past a 1 GiB boundary);
      - Linux 6.11 and 6.12 (mm/mmap.c ``__get_unmapped_area`` in 6.11.11
        and 6.12: a file with no ``get_unmapped_area`` and a length that is
        a multiple of ``PMD_SIZE`` goes to ``thp_get_unmapped_area_vmflags``
        when CONFIG_TRANSPARENT_HUGEPAGE is built in, as on Debian): 2 MiB
        alignment relative to the file offset, i.e. 2 MiB aligned here since
        the region offset ``index << 40`` is; other lengths are page aligned
        as on 6.1.  The model puts this boundary at 6.11, the oldest tree
        read that has it (6.1.20 does not; the commit is not pinned).

    Returns ``(align, rule)``; ``align`` is PAGE_SIZE when only page
    alignment is guaranteed.  None as the stack reads as QEMU 7.2 on Linux 6.1.
    """
    if stack is not None and stack.qemu_at_least(9, 2):
        return max(min(size & -size, GiB), PAGE_SIZE), "qemu>=9.2 vfio_region_mmap"
    if stack is not None and stack.kernel_at_least(6, 11) and size % PAGE_2M == 0 \
            and fd_offset % PAGE_2M == 0:
        return PAGE_2M, "linux>=6.11 thp_get_unmapped_area_vmflags"
    return PAGE_SIZE, "page (mmap(NULL) top-down search)"


@dataclass
class VfioMmap:
    """One ``VFIOMmap``: an area of a region mmapped into QEMU."""

    offset: int
    size: int
    vaddr: int | None = None
    mr: MemoryRegion | None = None


@dataclass
class VfioBar:
    """QEMU ``VFIOBAR`` + its ``VFIORegion``."""

    index: int
    info: VfioRegionInfo
    size: int = 0
    type: int = 0
    ioport: bool = False
    mem64: bool = False
    host_address: int | None = None
    mr: MemoryRegion | None = None          # "<bdf> base BAR n"
    region_mem: MemoryRegion | None = None  # "<bdf> BAR n" (slow path)
    mmaps: list[VfioMmap] = field(default_factory=list)


def _bar_type_bits(b) -> int:
    if b.kind == "io":
        return PCI_BASE_ADDRESS_SPACE_IO
    bits = PCI_BASE_ADDRESS_MEM_TYPE_64 if b.is64 else 0
    if b.prefetch:
        bits |= PCI_BASE_ADDRESS_MEM_PREFETCH
    return bits


class VfioPCIDevice(PCIDevice):
    """QEMU's ``vfio-pci`` device (hw/vfio/pci.c), over a :class:`HostDevice`.

    Properties: ``host`` (the host BDF), ``x-no-mmap`` (every BAR access
    takes the slow path), ``rombar`` (0 hides the ROM), ``x-pci-vendor-id``
    and friends are not modelled.  The host device comes from
    ``vm.host_devices[host]``.
    """

    type_name = "vfio-pci"

    def __init__(self, qdev_id: str = "", **props):
        host = props.pop("host", None)
        self.no_mmap = props.pop("x-no-mmap", "off") in ("on", "true", "yes", "1")
        self.rom_bar = props.pop("rombar", "1") not in ("0", "off")
        self.kernel = (6, 8)
        unknown = set(props) - {"x-intx-mmap-timeout-ms", "multifunction"}
        super().__init__(qdev_id, **props)
        if unknown:
            raise DeviceError(qdev_id or "vfio-pci", sorted(unknown)[0],
                              "unknown vfio-pci property; supported: host, x-no-mmap, rombar")
        if not host:
            raise DeviceError(qdev_id or "vfio-pci", "host",
                              "missing host=DOMAIN:BUS:DEV.FN (the device to pass through)")
        self.host = host
        self.hostdev: HostDevice | None = None
        self.id_note = ""
        self.regions: list[VfioRegionInfo] = []
        self.vbars: list[VfioBar] = []
        self.emulated = bytearray()
        self.vname = host
        self.rom_region: VfioRegionInfo | None = None
        self.rom_read_failed = False

    # --- identity comes from the host device -----------------------------------
    def init_config(self) -> None:
        """vfio_realize: a copy of the device's config space, with the BARs
        and the ROM cleared ("clear host resource mapping info") and QEMU's
        masks; MSI/MSI-X are added with the capabilities."""
        hd = self.hostdev
        size = _config_size(hd)
        self.config = bytearray(size)
        self.wmask = bytearray(size)
        self.w1cmask = bytearray(size)
        self.cmask = bytearray(size)
        if hd.config is not None:
            self.config[:len(hd.config)] = hd.config[:size]
        else:
            vendor, cc = hd.vendor_id, hd.class_code
            self.id_note = _ids_note(hd)
            struct.pack_into("<HH", self.config, 0, vendor, hd.device_id or 0)
            self.config[0x09] = cc & 0xff
            struct.pack_into("<H", self.config, 0x0a, cc >> 8)
            self.config[0x08] = hd.revision or 0
            struct.pack_into("<HH", self.config, 0x2c, hd.subsystem_vendor_id or 0,
                             hd.subsystem_id or 0)
            self.config[0x3d] = hd.interrupt_pin or 0
        self.vendor_id = struct.unpack_from("<H", self.config, 0)[0]
        self.device_id = struct.unpack_from("<H", self.config, 2)[0]
        self.class_id = struct.unpack_from("<H", self.config, 0x0a)[0]
        super_wmask_config = bytes(self.config)
        PCIDevice.init_config(self)            # QEMU's default masks
        # init_config rewrote identity from class attributes; restore the copy
        self.config[:] = super_wmask_config
        # "QEMU can choose to expose the ROM or not" / "can add or extend BARs"
        self.emulated = bytearray(size)
        for i in range(PCI_ROM_ADDRESS, PCI_ROM_ADDRESS + 4):
            self.emulated[i] = 0xff
        for i in range(PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_0 + 24):
            self.emulated[i] = 0xff
        # the multifunction bit is always QEMU's
        self.emulated[PCI_HEADER_TYPE] = 0x80
        if self.multifunction:
            self.config[PCI_HEADER_TYPE] |= 0x80
        else:
            self.config[PCI_HEADER_TYPE] &= 0x7f
        # clear host resource mapping info
        self.config[PCI_BASE_ADDRESS_0:PCI_BASE_ADDRESS_0 + 24] = bytes(24)
        self.config[PCI_ROM_ADDRESS:PCI_ROM_ADDRESS + 4] = bytes(4)
        # capabilities QEMU re-adds (MSI, MSI-X) must not collide with the copy
        self._next_cap = size

    def realize(self, vm) -> None:
        hd = self.hostdev
        # vfio_get_device -> vfio_connect_container: the container (and its
        # memory listener) exists before the BARs are set up
        vm.vfio_container()
        self.regions = region_infos(hd, kernel=self.kernel)
        for r in self.regions:
            self._emit({"op": "vfio_region_setup", "dev": self.vname, "index": r.index,
                        "name": r.name, "flags": r.flags, "offset": r.offset, "size": r.size})
        by_index = {r.index: r for r in self.regions}
        hbars = {b.index: b for b in hd.bars}
        # vfio_pci_size_rom: the ROM as an I/O region; never mmapped
        # vfio_pci_size_rom: sized from the kernel's virtual ROM BAR, not from
        # the region info, so an unreadable image still gets a ROM BAR
        rom_size = rom_bar_size(hd)
        self.rom_region = by_index[VFIO_PCI_ROM_REGION_INDEX]
        self.rom_read_failed = False
        if rom_size and self.rom_bar:
            if not is_pow2(rom_size):
                raise DeviceError(self.host, "ROM", f"size {rom_size:#x} is not a power of two")
            rmr = MemoryRegion.init_io(f"vfio[{self.vname}].rom", rom_size)
            self.register_bar(PCI_ROM_SLOT, 0, rmr)
        # vfio_bars_prepare / vfio_region_setup: slow path + planned mmaps
        for i in range(6):
            info = by_index[i]
            vb = VfioBar(i, info)
            self.vbars.append(vb)
            if not info.size:
                continue
            hb = hbars[i]
            vb.size = info.size
            vb.type = _bar_type_bits(hb)
            vb.ioport = hb.kind == "io"
            vb.mem64 = bool(hb.is64)
            vb.host_address = hb.host_address
            vb.region_mem = MemoryRegion.init_io(f"{self.vname} BAR {i}", info.size)
            if not self.no_mmap and info.mmap:
                if info.sparse is not None:
                    vb.mmaps = [VfioMmap(o, s) for o, s in info.sparse if s]
                else:
                    vb.mmaps = [VfioMmap(0, info.size)]
        # vfio_msix_early_setup + vfio_pci_fixup_msix_region
        msix = hd.msix
        if msix is not None and msix.table_bar is not None:
            self._fixup_msix_region(msix)
        # vfio_bars_register: base BAR, slow path inside, mmaps inside that
        for vb in self.vbars:
            if not vb.size:
                continue
            vb.mr = MemoryRegion.init_io(f"{self.vname} base BAR {vb.index}", vb.size)
            vb.mr.add_subregion(0, vb.region_mem)
            self._mmap_region(vm, vb)
            self.register_bar(vb.index, vb.type, vb.mr)
        self._add_capabilities()

    def _add_capabilities(self) -> None:
        """``vfio_add_capabilities`` / ``vfio_add_std_cap``: the capability
        list is rebuilt in QEMU's copy, last capability first so the chain
        keeps its order, with QEMU's own next pointers (emulated, so caps can
        be dropped); MSI and MSI-X are set up by QEMU (``vfio_msi_setup``,
        ``vfio_msix_setup``) and fully emulated; others are copied."""
        from .devices import msi_init, msix_init, pci_add_capability
        hd = self.hostdev
        caps = [c for c in hd.capabilities if c.id is not None]
        if not caps:
            return
        self.config[0x34] = 0
        self.emulated[0x34] = 0xff
        self.emulated[0x06] |= 0x10                       # PCI_STATUS_CAP_LIST
        offsets = sorted(c.offset for c in caps)

        def max_size(pos):                                # vfio_std_cap_max_size
            later = [o for o in offsets if o > pos]
            return (later[0] if later else 0x100) - pos
        for cap in reversed(caps):
            pos = cap.offset
            self.emulated[pos + 1] = 0xff
            if cap.id == 0x11 and hd.msix is not None and hd.msix.table_bar is not None:
                msix = hd.msix
                tb, pb = self.vbars[msix.table_bar], self.vbars[msix.pba_bar]
                if tb.mr is None or pb.mr is None:
                    raise DeviceError(self.host, "MSI-X table",
                                      f"BAR{msix.table_bar} is not implemented")
                msix_init(self, msix.nentries, tb.mr, msix.table_bar, msix.table_offset,
                          pb.mr, msix.pba_bar, msix.pba_offset, pos)
                # vfio_msix_setup: the PBA is enabled only while a masked
                # vector has fired
                self.msix_pba_mmio.set_enabled(False)
                for k in range(pos, pos + 12):           # MSIX_CAP_LENGTH
                    self.emulated[k] = 0xff
            elif cap.id == 0x05 and hd.msi is not None:
                msi_init(self, pos, hd.msi.vectors, hd.msi.is64, hd.msi.per_vector_mask)
                size = 0x0a + (4 if hd.msi.is64 else 0) + (10 if hd.msi.per_vector_mask else 0)
                for k in range(pos, pos + size):
                    self.emulated[k] = 0xff
            else:
                pci_add_capability(self, cap.id, pos, min(max_size(pos), 0x100 - pos))

    def _fixup_msix_region(self, msix) -> None:
        """``vfio_pci_fixup_msix_region``: unless the kernel reports the
        MSI-X BAR mappable, carve the host pages holding the table out of a
        single whole-BAR mmap (the PBA is not carved out)."""
        vb = self.vbars[msix.table_bar]
        if not vb.size:
            raise DeviceError(self.host, "MSI-X table", f"BAR{msix.table_bar} is not implemented")
        if vb.info.msix_mappable:
            return
        if len(vb.mmaps) != 1 or vb.mmaps[0].offset or vb.mmaps[0].size != vb.size:
            return
        start = align_down(msix.table_offset, PAGE_SIZE)
        end = align_up(msix.table_offset + msix.nentries * PCI_MSIX_ENTRY_SIZE, PAGE_SIZE)
        if start == 0:
            vb.mmaps = [] if end >= vb.size else [VfioMmap(end, vb.size - end)]
        elif end >= vb.size:
            vb.mmaps = [VfioMmap(0, start)]
        else:
            vb.mmaps = [VfioMmap(0, start), VfioMmap(end, vb.size - end)]

    def _mmap_region(self, vm, vb: VfioBar) -> None:
        """``vfio_region_mmap``: mmap each area of the device fd (a PFN
        mapping of the BAR's host MMIO), wrap it in a ram_device region
        ``<name> mmaps[i]`` and add it inside the slow-path region.  Where
        the mapping lands in QEMU's address space is :func:`mmap_alignment`'s
        rule; the event and the region's ``info`` carry it as ``align``."""
        for i, m in enumerate(vb.mmaps):
            fd_offset = (vb.index << VFIO_PCI_OFFSET_SHIFT) + m.offset
            align, why = mmap_alignment(vm.stack, m.size, fd_offset)
            hpa = None if vb.host_address is None else vb.host_address + m.offset
            name = f"{vb.region_mem.name} mmaps[{i}]"
            if not why.startswith("qemu"):
                # the kernel's search guarantees ``align`` and no more: one
                # ``align`` past the next larger page boundary (mmap_alignment)
                nxt = PAGE_2M if align == PAGE_SIZE else GiB
                vm.host.top = align_up(vm.host.top, nxt) + align
            m.vaddr = vm.host.alloc(m.size, name, "pfnmap", align=align, hpa=hpa)
            m.mr = MemoryRegion.init_ram_device_ptr(name, m.size, hva=m.vaddr)
            m.mr.info.update(bar=vb.index, device=self.label(), host_bdf=self.host, hpa=hpa,
                             align=align, align_rule=why)
            vb.region_mem.add_subregion(m.offset, m.mr)
            self._emit({"op": "vfio_region_mmap", "name": m.mr.name, "offset": m.offset,
                        "end": m.offset + m.size - 1, "vaddr": m.vaddr, "hpa": hpa,
                        "align": align})

    # --- config space ----------------------------------------------------------
    def config_read(self, addr: int, length: int) -> int:
        """``vfio_pci_read_config``: emulated bits from QEMU's copy, the rest
        from the device (through the kernel)."""
        mask = int.from_bytes(self.emulated[addr:addr + length], "little")
        emu = super().config_read(addr, length) if mask else 0
        phys = 0
        full = (1 << (8 * length)) - 1
        if ~mask & full:
            phys = self.physical_read(addr, length)
        return (emu & mask) | (phys & ~mask & full)

    def physical_read(self, addr: int, length: int) -> int:
        """A pread of config through the kernel: the device's value, except
        what vfio-pci virtualizes (BARs and ROM read back the kernel's
        virtual copy, which QEMU emulates anyway)."""
        src = self.hostdev.config
        if src is None or addr + length > len(src):
            return super().config_read(addr, length)
        val = int.from_bytes(src[addr:addr + length], "little")
        # the command register's live value is what was last written
        if addr <= PCI_COMMAND < addr + length or addr <= PCI_COMMAND + 1 < addr + length:
            cmd = struct.unpack_from("<H", self.config, PCI_COMMAND)[0]
            shift = 8 * (PCI_COMMAND - addr) if addr <= PCI_COMMAND else -8
            if shift >= 0:
                val = (val & ~(0xffff << shift)) | (cmd << shift)
        return val

    def config_write(self, addr: int, val: int, length: int) -> None:
        """``vfio_pci_write_config``: everything is written to the kernel
        (``pwrite``; vfio-pci filters it: a BAR write lands only in its
        virtual config), then QEMU's copy is updated with the default
        rules, so BAR and command writes reach ``pci_update_mappings``."""
        self._emit({"op": "vfio_pci_write_config", "dev": self.vname, "addr": addr,
                    "val": val, "len": length})
        old = [r.addr if r is not None else None for r in self.io_regions[:PCI_ROM_SLOT]]
        super().config_write(addr, val, length)
        for vb in self.vbars:
            r = self.io_regions[vb.index]
            if r is None or not vb.size or vb.size >= PAGE_SIZE:
                continue
            if old[vb.index] != r.addr:
                self._sub_page_update(vb, r)

    def _sub_page_update(self, vb: VfioBar, r) -> None:
        """``vfio_sub_page_bar_update_mapping`` (QEMU hw/vfio/pci.c; the same
        in v7.2.0 and v10.0.0), run by ``vfio_pci_write_config`` for a BAR
        smaller than a host page whose guest address changed:

        * only when the whole region is one mmap (``nr_mmaps == 1`` and the
          mmap covers the region);
        * ``size`` is a host page if the BAR is mapped page aligned, else the
          BAR's own size;
        * the base BAR region is resized only to *grow* it
          (``if (vdev->bars[bar].size < size)``): once a page, it stays a
          page, also when the BAR later moves to an unaligned address or is
          unmapped;
        * the slow-path region and the mmap always take ``size``;
        * if ``size`` differs from the BAR's size and the base is mapped, it
          is deleted and re-added at priority 0 (so other BARs in that page
          win over the grown one); otherwise it keeps the priority 1 that
          ``pci_update_mappings`` gave it.
        """
        if len(vb.mmaps) != 1 or vb.mmaps[0].mr is None or vb.mmaps[0].size != vb.size:
            return
        size = PAGE_SIZE if r.mapped and r.addr % PAGE_SIZE == 0 else vb.size
        mem = self.vm.memory
        with mem.transaction():
            if vb.size < size:
                vb.mr.set_size(size)
            vb.region_mem.set_size(size)
            vb.mmaps[0].mr.set_size(size)
            # memory_region_is_mapped(base_mr): the base sits in an address space
            if size != vb.size and vb.mr.container is not None:
                space = vb.mr.container
                space.del_subregion(vb.mr)
                space.add_subregion_overlap(r.addr, vb.mr, 0)

    def reset(self) -> None:
        """``vfio_pci_pre_reset`` at machine reset: stop the device's I/O,
        memory decode and bus mastering before the firmware runs."""
        cmd = self.config_read(PCI_COMMAND, 2)
        self.config_write(PCI_COMMAND, cmd & ~0x7, 2)

    def rom_read(self, addr: int, size: int) -> int | None:
        """A guest read of the ROM BAR (``vfio_rom_read``): the first one
        loads the ROM (``vfio_pci_load_rom``).  If the kernel reported the
        ROM region with size 0 (an image it cannot map), QEMU logs
        "vfio-pci: Cannot read device rom at <bdf>" and every read copies
        nothing into an uninitialised buffer: the value is undefined (None
        here).  Otherwise the image's bytes, which the model does not hold
        (None as well, with no message)."""
        if self.rom_region is not None and not self.rom_read_failed and not self.rom_region.size:
            self.rom_read_failed = True
            self._emit({"op": "vfio_pci_load_rom", "dev": self.vname, "size": 0,
                        "offset": self.rom_region.offset, "flags": self.rom_region.flags,
                        "qemu_log": [f"vfio-pci: Cannot read device rom at {self.vname}",
                                     "Device option ROM contents are probably invalid "
                                     "(check dmesg).",
                                     "Skip option ROM probe with rombar=0, or load from "
                                     "file with romfile="]})
        return None

    # --- teaching helpers ------------------------------------------------------
    def set_mmaps_enabled(self, enabled: bool) -> None:
        """``vfio_mmap_set_enabled``: INTx handling turns every BAR mmap off
        (accesses take the slow path, which signals EOI) and a timer turns
        them back on (``vfio_intx_mmap_enable``, default 1100 ms)."""
        with self.vm.memory.transaction():
            for vb in self.vbars:
                for m in vb.mmaps:
                    if m.mr is not None:
                        m.mr.set_enabled(enabled)
        self._emit({"op": "vfio_region_mmaps_set_enabled", "dev": self.vname,
                    "enabled": enabled})


def config_owners(dev: VfioPCIDevice) -> list[dict]:
    """Who owns each config byte of a passed-through device.

    ``qemu``: QEMU emulates it (``emulated_config_bits``: BARs, ROM, the
    multifunction bit, the capability list pointers, MSI and MSI-X).
    ``kernel``: vfio-pci virtualizes it (Linux
    drivers/vfio/pci/vfio_pci_config.c: the BARs and ROM BAR,
    ``vfio_bar_fixup`` -- the physical BAR is never written; the command
    register's INTx-disable bit; capability next pointers, ``vfio_cap_init``).
    ``device``: read from and written to the device.  A byte may be QEMU's
    *and* virtualized by the kernel underneath (the BARs): ``kernel`` says so.
    """
    hd = dev.hostdev
    kernel_virtual = set(range(0x10, 0x28)) | set(range(0x30, 0x34)) | {0x05}
    kernel_virtual |= {c.offset + 1 for c in hd.capabilities}
    rows = []
    for off in range(min(len(dev.config), 0x100)):
        emu = dev.emulated[off] if off < len(dev.emulated) else 0
        if emu == 0xff:
            owner = "qemu"
        elif emu:
            owner = "qemu+device"
        elif off in kernel_virtual:
            owner = "kernel"
        else:
            owner = "device"
        rows.append({"offset": off, "value": dev.config_read(off, 1), "emulated_mask": emu,
                     "owner": owner, "kernel": off in kernel_virtual})
    return rows


def check_host_device(hd: HostDevice) -> None:
    """Refuse a device vfio-pci could not pass through as described, or
    whose description lacks what the model needs: without a config dump,
    the vendor ID and the class code (the guest's copy of config space,
    and the kernel's VGA region, ``vfio_pci_is_vga``)."""
    if hd.config is None:
        for value, what in ((hd.vendor_id, "vendor ID"), (hd.class_code, "class code")):
            if value is None:
                why = "; ".join(n for n in hd.notes if what.split()[0] in n) or "not given"
                raise DeviceError(hd.bdf, what, f"unknown ({why}); give lspci -nn -vvv, "
                                  "an lspci -xxx dump or the sysfs folder")
    if not hd.caps_known:
        # MSI-X decides where QEMU overlays its table (vfio_msix_early_setup)
        raise DeviceError(hd.bdf, "capabilities", "unknown: lspci printed 'Capabilities: "
                          "<access denied>' (it reads only 64 bytes of config space when not "
                          f"root); run `sudo lspci -vvv -nn -s {hd.bdf}`")
    for b in hd.bars:
        if b.size is None:
            raise DeviceError(hd.bdf, b.name, "size unknown (give lspci -vvv or sysfs resource)")
    if hd.msix is not None and hd.msix.table_bar is None:
        raise DeviceError(hd.bdf, "MSI-X table", "the table's BAR and offset are not known "
                          "(lspci -vvv as root shows 'Vector table: BAR=...')")
