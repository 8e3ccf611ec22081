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
                  PCI_HEADER_TYPE, PCI_ROM_ADDRESS, PCI_ROM_SLOT, QEMU_PCI_VGA_IO_HI_SIZE,
                  QEMU_PCI_VGA_IO_LO_SIZE, QEMU_PCI_VGA_MEM_SIZE, PCIDevice)

__all__ = [
    "VFIO_PCI_BAR0_REGION_INDEX", "VFIO_PCI_ROM_REGION_INDEX", "VFIO_PCI_CONFIG_REGION_INDEX",
    "VFIO_PCI_VGA_REGION_INDEX", "VFIO_PCI_OFFSET_SHIFT", "VFIO_REGION_INFO_FLAG_READ",
    "VFIO_REGION_INFO_FLAG_WRITE", "VFIO_REGION_INFO_FLAG_MMAP", "VFIO_REGION_INFO_FLAG_CAPS",
    "VfioRegionInfo", "VfioMmap", "region_infos", "mmap_alignment", "rom_bar_size", "VfioPCIDevice", "config_owners",
    "VfioQuirk", "bar_quirks", "VFIO_PCI_PROPS",
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


#: vfio-pci's properties (QEMU hw/vfio/pci.c ``vfio_pci_dev_properties`` and
#: the PCI device's own, hw/pci/pci.c ``pci_props``): (kind, what, where).
#: what: "model" the model acts on; "ignore" accepted, no effect on PCI, the
#: memory map, memslots or DMA (listed in ``VfioPCIDevice.ignored``);
#: "refuse" a feature the model does not have (refused with the reason).
#: where: the releases read that have it, v7.2.0 (b67b00e6b4) and v10.0.0
#: (7c949c53e9): "both", "7.2" (gone by 10.0: x-enable-migration became
#: enable-migration) or "10.0" (added after 7.2; the model refuses it on
#: a QEMU older than 10.0, the release read, though it may be older).
#: ``ramfb`` and ``x-ramfb-migrate`` belong to ``vfio-pci-nohotplug`` only
#: (``vfio_pci_dev_nohotplug_properties``), so vfio-pci does not know them.
#: The 7.2 set equals ``qemu-system-x86_64 -device vfio-pci,help`` of QEMU
#: 7.2 (data/devices/vfio-pci-help-qemu-7.2.txt) plus ``addr``.
VFIO_PCI_PROPS: dict[str, tuple[str, str, str]] = {
    "host": ("str", "model", "both"),
    "sysfsdev": ("str", "model", "both"),
    "x-no-mmap": ("bool", "model", "both"),
    "rombar": ("uint32", "model", "both"),
    "romfile": ("str", "model", "both"),
    "romsize": ("uint32", "model", "both"),
    "multifunction": ("bool", "model", "both"),
    "x-vga": ("bool", "model", "both"),
    "x-no-geforce-quirks": ("bool", "model", "both"),
    "x-msix-relocation": ("str", "model", "both"),
    "x-pci-vendor-id": ("uint32", "model", "both"),
    "x-pci-device-id": ("uint32", "model", "both"),
    "x-pci-sub-vendor-id": ("uint32", "model", "both"),
    "x-pci-sub-device-id": ("uint32", "model", "both"),
    # qdev/PCI properties (hw/pci/pci.c pci_props) that change nothing here
    "bootindex": ("ignore", "ignore", "both"),
    "acpi-index": ("ignore", "ignore", "both"),
    "failover_pair_id": ("ignore", "ignore", "both"),
    "x-pcie-lnksta-dllla": ("ignore", "ignore", "both"),
    "x-pcie-extcap-init": ("ignore", "ignore", "both"),
    "x-pcie-err-unc-mask": ("ignore", "ignore", "10.0"),
    "x-pcie-ari-nextfn-1": ("ignore", "ignore", "10.0"),
    "x-pcie-ext-tag": ("ignore", "ignore", "10.0"),
    "x-max-bounce-buffer-size": ("ignore", "ignore", "10.0"),
    "busnr": ("ignore", "ignore", "10.0"),
    # interrupt delivery, migration and eventfd tuning: no effect on the map
    "x-intx-mmap-timeout-ms": ("uint32", "ignore", "both"),
    "x-req": ("bool", "ignore", "both"),
    "x-no-kvm-intx": ("bool", "ignore", "both"),
    "x-no-kvm-msi": ("bool", "ignore", "both"),
    "x-no-kvm-msix": ("bool", "ignore", "both"),
    "x-no-kvm-ioeventfd": ("bool", "ignore", "both"),
    "x-no-vfio-ioeventfd": ("bool", "ignore", "both"),
    "x-balloon-allowed": ("bool", "ignore", "both"),
    "x-pre-copy-dirty-page-tracking": ("onoffauto", "ignore", "both"),
    "x-enable-migration": ("bool", "ignore", "7.2"),
    "enable-migration": ("onoffauto", "ignore", "10.0"),
    "x-device-dirty-page-tracking": ("onoffauto", "ignore", "10.0"),
    "migration-events": ("bool", "ignore", "10.0"),
    "x-migration-multifd-transfer": ("onoffauto", "ignore", "10.0"),
    "skip-vsc-check": ("bool", "ignore", "10.0"),
    "vf-token": ("ignore", "ignore", "10.0"),
    "xres": ("uint32", "ignore", "both"),
    "yres": ("uint32", "ignore", "both"),
    # features the model does not have
    "display": ("onoffauto", "refuse", "both"),
    "x-igd-opregion": ("bool", "refuse", "both"),
    "x-igd-gms": ("uint32", "refuse", "both"),
    "x-igd-lpc": ("bool", "refuse", "10.0"),
    "x-igd-legacy-mode": ("onoffauto", "refuse", "10.0"),
    "x-nv-gpudirect-clique": ("uint32", "refuse", "both"),
    "iommufd": ("str", "refuse", "10.0"),
}
#: x-msix-relocation values (QEMU qdev_prop_off_auto_pcibar)
MSIX_RELO_VALUES = ("off", "auto", "bar0", "bar1", "bar2", "bar3", "bar4", "bar5")
#: PCI_ANY_ID: the "not set" value of the x-pci-* properties
PCI_ANY_ID = 0xFFFFFFFF
PCI_VENDOR_ID_NVIDIA = 0x10DE
PCI_VENDOR_ID_ATI = 0x1002
PCI_VENDOR_ID_REALTEK = 0x10EC
PCI_VENDOR_ID_INTEL = 0x8086
PCI_CONFIG_SPACE_SIZE = 0x100


@dataclass(frozen=True)
class VfioQuirk:
    """One MemoryRegion a vfio-pci quirk lays over a BAR or a VGA range
    (QEMU hw/vfio/pci-quirks.c): trapped by QEMU, never mmapped."""

    probe: str          # the QEMU function that adds it
    where: str          # "BAR<n>" or the VGA region's name
    name: str
    offset: int
    size: int
    priority: int
    enabled: bool = True


class VfioPCIDevice(PCIDevice):
    """QEMU's ``vfio-pci`` device (hw/vfio/pci.c), over a :class:`HostDevice`.

    Properties: see :data:`VFIO_PCI_PROPS`.  Modelled: ``host`` /
    ``sysfsdev`` (the host device), ``x-no-mmap`` (every BAR access takes
    the slow path), ``rombar``, ``romfile``, ``romsize`` (the ROM BAR:
    :meth:`_setup_rom`), ``x-vga`` (the VGA region: :meth:`_populate_vga`),
    ``x-no-geforce-quirks`` and the BAR quirks (:func:`bar_quirks`),
    ``x-msix-relocation`` (:meth:`_relocate_msix`), ``x-pci-vendor-id``,
    ``x-pci-device-id``, ``x-pci-sub-vendor-id``, ``x-pci-sub-device-id``
    (emulated IDs, which also decide the quirks: ``vfio_pci_is`` compares
    ``vdev->vendor_id``).  Others are accepted and listed in ``ignored`` or
    refused with the reason; an unknown one is refused with the list.
    """

    type_name = "vfio-pci"

    def __init__(self, qdev_id: str = "", **props):
        from .devices import _parse_prop
        who = qdev_id or "vfio-pci"
        opts: dict = {}
        self.ignored: list[str] = []
        self.version_props: list[tuple[str, str]] = []
        for name, value in props.items():
            if name == "id":
                continue
            spec = VFIO_PCI_PROPS.get(name)
            if spec is None:
                # QEMU: "Property 'vfio-pci.NAME' not found"
                raise DeviceError(who, name, f"Property 'vfio-pci.{name}' not found; known: "
                                  + ", ".join(sorted(VFIO_PCI_PROPS)))
            kind, what, where = spec
            if where != "both":
                self.version_props.append((name, where))
            v = _parse_prop(who, name, kind, value)
            if what == "refuse":
                raise DeviceError(who, name, f"vfio-pci {name}= is not modelled "
                                  "(IGD assignment, display and GPUDirect cliques "
                                  "change config space or add devices vfiolab does not have)")
            if what == "ignore":
                self.ignored.append(name)
            opts[name] = v
        self.opts = opts
        host = opts.get("host")
        if not host and opts.get("sysfsdev"):
            # vfio_realize: the device name is the basename of sysfsdev
            host = opts["sysfsdev"].rstrip("/").rsplit("/", 1)[-1]
        self.no_mmap = opts.get("x-no-mmap", False)
        self.rom_bar = bool(opts.get("rombar", 1))
        self.romfile = opts.get("romfile")            # None: not given; "": given empty
        self.romsize = opts.get("romsize")
        self.x_vga = opts.get("x-vga", False)
        self.no_geforce_quirks = opts.get("x-no-geforce-quirks", False)
        relo = str(opts.get("x-msix-relocation", "off"))
        if relo not in MSIX_RELO_VALUES:
            # qapi enum parsing is case-sensitive (QEMU 7.2: "Parameter
            # 'x-msix-relocation' does not accept value 'BAR2'")
            raise DeviceError(who, "x-msix-relocation", f"Parameter 'x-msix-relocation' does "
                              f"not accept value '{relo}' (one of "
                              + ", ".join(MSIX_RELO_VALUES) + ")")
        self.msix_relo = relo
        self.id_overrides = {k: opts[k] for k in ("x-pci-vendor-id", "x-pci-device-id",
                                                  "x-pci-sub-vendor-id", "x-pci-sub-device-id")
                             if k in opts and opts[k] != PCI_ANY_ID}
        # vfio_realize: vendor 0xffff is invalid; the others need only fit 16 bits
        for k, v in self.id_overrides.items():
            if (k == "x-pci-vendor-id" and v >= 0xFFFF) or v > 0xFFFF:
                what = {"x-pci-vendor-id": "vendor ID", "x-pci-device-id": "device ID",
                        "x-pci-sub-vendor-id": "subsystem vendor ID",
                        "x-pci-sub-device-id": "subsystem device ID"}[k]
                raise DeviceError(who, k, f"invalid PCI {what} provided ({v:#x})")
        self.kernel = (6, 8)
        super().__init__(qdev_id)
        if not host:
            raise DeviceError(who, "host",
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
        self.quirks: list[VfioQuirk] = []
        self.quirk_mrs: list[MemoryRegion] = []
        self.msix_layout = None
        self.rom_file = None
        self.fw_cfg_rom: str | None = None

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
        # vfio_realize: x-pci-vendor-id & co. are emulated words (the guest
        # reads them; vfio_add_emulated_word); without them vdev->vendor_id
        # and device_id are the device's own, which the quirks compare
        for name, off in (("x-pci-vendor-id", 0x00), ("x-pci-device-id", 0x02),
                          ("x-pci-sub-vendor-id", 0x2C), ("x-pci-sub-device-id", 0x2E)):
            if name in self.id_overrides:
                struct.pack_into("<H", self.config, off, self.id_overrides[name])
                self.emulated[off:off + 2] = b"\xff\xff"
        self.vendor_id = struct.unpack_from("<H", self.config, 0)[0]
        self.device_id = struct.unpack_from("<H", self.config, 2)[0]
        # clear host resource mapping info
        self.config[PCI_BASE_ADDRESS_0:PCI_BASE_ADDRESS_0 + 24] = bytes(24)
        self.config[PCI_ROM_ADDRESS:PCI_ROM_ADDRESS + 4] = bytes(4)
        # capabilities QEMU re-adds (MSI, MSI-X) must not collide with the copy
        self._next_cap = size

    def realize(self, vm) -> None:
        """``vfio_realize`` (QEMU hw/vfio/pci.c, the same order in v7.2.0 and
        v10.0.0): region infos and the VGA region (``vfio_populate_device``,
        ``vfio_populate_vga``), the ROM BAR (``vfio_pci_size_rom``), the BARs
        (``vfio_bars_prepare``), MSI-X (``vfio_msix_early_setup``:
        ``vfio_pci_fixup_msix_region`` then ``vfio_pci_relocate_msix``), BAR
        registration (``vfio_bars_register``), capabilities, then the quirks
        (``vfio_vga_quirk_setup`` with x-vga, ``vfio_bar_quirk_setup`` per
        BAR); last, as for every PCI device, ``pci_add_option_rom`` for a
        ``romfile``."""
        hd = self.hostdev
        self._check_version_props(vm)
        # what the description could not tell or had to undo, and the
        # properties that change nothing here, go with the stack's notes
        for text in [f"host device {hd.bdf}: {n}" for n in hd.notes] + \
                [f"-device vfio-pci{',id=' + self.qdev_id if self.qdev_id else ''}: {n}= "
                 "ignored (no effect on PCI, the memory map, memslots or DMA)"
                 for n in self.ignored]:
            stack = getattr(vm, "stack", None)
            if stack is not None and text not in stack.notes:
                from dataclasses import replace as _replace
                vm.stack = _replace(stack, notes=stack.notes + (text,))
        if hd.vendor_id == PCI_VENDOR_ID_INTEL and hd.class_code is not None \
                and hd.class_code >> 8 == PCI_CLASS_DISPLAY_VGA:
            # hw/vfio/igd.c: vfio_probe_igd_bar4_quirk (7.2) / _bar0_quirk
            # (10.0), the OpRegion and the stolen-memory registers
            raise DeviceError(self.host, "class", "an Intel VGA device: IGD assignment "
                              "(QEMU hw/vfio/igd.c quirks, OpRegion, stolen memory) is not "
                              "modelled")
        if self.vendor_id == PCI_VENDOR_ID_REALTEK and hd.config is None and \
                hd.device_id is None and "x-pci-device-id" not in self.id_overrides:
            # vfio_probe_rtl8168_bar2_quirk matches 10ec:8168 only
            raise DeviceError(self.host, "device ID", "unknown (lspci printed names only), "
                              "and whether QEMU's RTL8168 BAR2 quirk applies depends on it "
                              f"(10ec:8168); run `sudo lspci -vvv -nn -s {hd.bdf}`")
        # vfio_get_device -> vfio_connect_container: the container (and its
        # memory listener) exists before the BARs are set up
        vm.vfio_container()
        self.regions = region_infos(hd, kernel=self.kernel)
        for r in self.regions:
            self._emit({"op": "vfio_region_setup", "dev": self.vname, "index": r.index,
                        "name": r.name, "flags": r.flags, "offset": r.offset, "size": r.size})
        by_index = {r.index: r for r in self.regions}
        hbars = {b.index: b for b in hd.bars}
        if self.x_vga:
            self._populate_vga(by_index.get(VFIO_PCI_VGA_REGION_INDEX))
        self._setup_rom(by_index)
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
        # vfio_msix_early_setup: vfio_pci_fixup_msix_region, vfio_pci_relocate_msix
        msix = hd.msix
        self.msix_layout = msix
        if msix is not None and msix.table_bar is not None:
            self._fixup_msix_region(msix)
            self._relocate_msix(msix)
        elif self.msix_relo != "off":
            pass      # vfio_pci_relocate_msix: nothing to move without MSI-X
        # vfio_bars_register: base BAR, slow path inside, mmaps inside that;
        # a BAR x-msix-relocation created or grew has a base larger than
        # (or with no) slow-path region
        for vb in self.vbars:
            if not vb.size:
                continue
            vb.mr = MemoryRegion.init_io(f"{self.vname} base BAR {vb.index}", vb.size)
            if vb.region_mem is not None:
                vb.mr.add_subregion(0, vb.region_mem)
                self._mmap_region(vm, vb)
            self.register_bar(vb.index, vb.type, vb.mr)
        self._add_capabilities()
        # vfio_realize: quirks after the capabilities
        if self.x_vga:
            self._vga_quirks()
        for q in bar_quirks(self, vm.stack):
            self._add_quirk(q, self.vbars[int(q.where[3:])].region_mem)
        self._add_option_rom(vm)

    # --- versions ----------------------------------------------------------------
    def _check_version_props(self, vm) -> None:
        """A property the stack's QEMU does not have is refused as QEMU
        refuses it ("Property 'vfio-pci.X' not found")."""
        stack = getattr(vm, "stack", None)
        new = stack is None or stack.qemu_at_least(10, 0)
        for name, where in self.version_props:
            if (where == "10.0" and not new) or (where == "7.2" and new):
                ver = "QEMU 10.0" if where == "10.0" else "QEMU 7.2 (gone by 10.0)"
                raise DeviceError(self.qdev_id or "vfio-pci", name,
                                  f"Property 'vfio-pci.{name}' not found in this stack's QEMU "
                                  f"(the model knows it from {ver})")

    # --- ROM -------------------------------------------------------------------
    def _setup_rom(self, by_index) -> None:
        """``vfio_pci_size_rom``: with ``romfile`` given (even empty) or
        ``rombar=0`` vfio-pci leaves the ROM to the PCI core and returns;
        otherwise the ROM BAR is the device's, an I/O region
        ``vfio[<name>].rom`` sized from the kernel's virtual ROM BAR (not the
        region info, so an unreadable image still gets a ROM BAR), never
        mmapped."""
        hd = self.hostdev
        self.rom_region = by_index[VFIO_PCI_ROM_REGION_INDEX]
        self.rom_read_failed = False
        if self.romfile is not None or not self.rom_bar:
            return
        rom_size = rom_bar_size(hd)
        if rom_size:
            if not is_pow2(rom_size):
                raise DeviceError(self.host, "ROM", f"size {rom_size:#x} is not a power of two")
            rmr = MemoryRegion.init_io(f"vfio[{self.vname}].rom", rom_size)
            self.register_bar(PCI_ROM_SLOT, 0, rmr)

    def _add_option_rom(self, vm) -> None:
        """``pci_qdev_realize`` -> ``pci_add_option_rom`` (hw/pci/pci.c, v7.2.0
        and v10.0.0) for ``romfile=FILE``: an empty name adds nothing (so
        ``romfile=`` hides the ROM: vfio-pci did not size it either); with
        ``rombar=0`` the file goes to the firmware through fw_cfg
        (``vgaroms/`` for a VGA-class device, else ``genroms/``); otherwise a
        RAM-backed ROM region ``vfio-pci.rom`` (vfio-pci has no vmsd, so its
        type name) of ``romsize`` or pow2ceil(file size) bytes is BAR 6.  The
        model reads no files: a file's size comes from ``romsize=`` or, for
        QEMU's own firmware files, from ``devices.ROM_FILE_SIZES``."""
        from ..addr import pow2ceil
        from .devices import _UNSET32, _rom_file_size
        if not self.romfile:
            return
        import os
        who = self.qdev_id or "vfio-pci"
        if not self.rom_bar:
            vga = self.hostdev.class_code is not None and \
                self.hostdev.class_code >> 8 == PCI_CLASS_DISPLAY_VGA
            self.fw_cfg_rom = ("vgaroms/" if vga else "genroms/") + os.path.basename(self.romfile)
            return
        size = _rom_file_size(self.romfile)
        romsize = self.romsize if self.romsize not in (None, _UNSET32) else None
        if romsize is not None and not is_pow2(romsize):
            raise DeviceError(who, "romsize", f"ROM size {romsize} is not a power of two")
        if size is None and romsize is None:
            raise DeviceError(who, "romfile", f"the size of romfile \"{self.romfile}\" is "
                              "unknown to the model (it reads no files); give romsize=BYTES, "
                              "the file's size rounded up to a power of two")
        if size is not None and romsize is not None and size > romsize:
            raise DeviceError(who, "romfile", f"romfile \"{self.romfile}\" ({size} bytes) is "
                              f"too large for ROM size {romsize}")
        romsize = romsize if romsize is not None else pow2ceil(size)
        mr = MemoryRegion.init_rom("vfio-pci.rom", romsize)
        mr.owner = self.qdev_id or self.type_name
        vm.alloc_ram(mr)
        self.rom = mr
        self.rom_file = self.romfile
        self.register_bar(PCI_ROM_SLOT, 0, mr)

    # --- VGA -------------------------------------------------------------------
    def _populate_vga(self, info: VfioRegionInfo | None) -> None:
        """``vfio_populate_vga`` (x-vga=on): the kernel must offer the VGA
        region (index 8, READ|WRITE, at least 0xc0000 bytes), else QEMU fails
        ("failed getting region info for VGA region index 8" / "unexpected
        VGA info", with the hint "device does not support requested feature
        x-vga").  Three I/O regions, ``vfio-vga-mmio@0xa0000`` (0x20000),
        ``vfio-vga-io@0x3b0`` (0xc) and ``vfio-vga-io@0x3c0`` (0x20), go to
        ``pci_register_vga`` (hw/pci/pci.c): at 0xa0000 in the bus's memory
        space and 0x3b0 / 0x3c0 in its I/O space, all at priority 1, enabled
        by the command register's memory and I/O bits (``pci_update_vga``)."""
        who = self.qdev_id or "vfio-pci"
        if info is None or not info.size:
            raise DeviceError(who, "x-vga", "failed getting region info for VGA region index 8 "
                              "(the kernel offers it only for a VGA-class device, 0x0300, "
                              "with VGA support: vfio_pci_is_vga); device does not support "
                              "requested feature x-vga")
        need = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
        if info.flags & need != need or info.size < 0xBFFFF + 1:
            raise DeviceError(who, "x-vga", f"unexpected VGA info, flags {info.flags:#x}, "
                              f"size {info.size:#x}")
        # pci_register_vga puts the ranges in the device's own bus; behind a
        # bridge they reach the guest through the bridges' VGA aliases once
        # the firmware sets VGA Enable on them (PCIBridge.update_windows)
        regions = [
            MemoryRegion.init_io("vfio-vga-mmio@0xa0000", QEMU_PCI_VGA_MEM_SIZE),
            MemoryRegion.init_io("vfio-vga-io@0x3b0", QEMU_PCI_VGA_IO_LO_SIZE),
            MemoryRegion.init_io("vfio-vga-io@0x3c0", QEMU_PCI_VGA_IO_HI_SIZE)]
        for mr in regions:
            mr.owner = self.qdev_id or self.type_name
        self.register_vga(*regions)

    def _vga_quirks(self) -> None:
        """``vfio_vga_quirk_setup`` (hw/vfio/pci-quirks.c, v7.2.0 and
        v10.0.0), subregions of ``vfio-vga-io@0x3c0`` at priority 0:

        * ``vfio_vga_probe_ati_3c3_quirk``: ATI (0x1002) with an I/O BAR4 of
          at least 256 bytes: ``vfio-ati-3c3-quirk``, 1 byte at 0x3c3;
        * ``vfio_vga_probe_nvidia_3d0_quirk``: NVIDIA (0x10de), not
          ``x-no-geforce-quirks``, with a BAR1: ``vfio-nvidia-3d4-quirk``
          (2 bytes at 0x3d4) and ``vfio-nvidia-3d0-quirk`` (2 at 0x3d0).
        """
        hi = self.vga_regions[2]
        quirks = []
        b4 = self.vbars[4]
        if self.vendor_id == PCI_VENDOR_ID_ATI and b4.ioport and b4.info.size >= 256:
            quirks.append(VfioQuirk("vfio_vga_probe_ati_3c3_quirk", hi.name,
                                    "vfio-ati-3c3-quirk", 3, 1, 0))
        if not self.no_geforce_quirks and self.vendor_id == PCI_VENDOR_ID_NVIDIA \
                and self.vbars[1].info.size:
            quirks += [VfioQuirk("vfio_vga_probe_nvidia_3d0_quirk", hi.name,
                                 "vfio-nvidia-3d4-quirk", 0x14, 2, 0),
                       VfioQuirk("vfio_vga_probe_nvidia_3d0_quirk", hi.name,
                                 "vfio-nvidia-3d0-quirk", 0x10, 2, 0)]
        for q in quirks:
            self._add_quirk(q, hi)

    def _add_quirk(self, q: VfioQuirk, parent: MemoryRegion) -> None:
        mr = MemoryRegion.init_io(q.name, q.size)
        mr.owner = self.qdev_id or self.type_name
        mr.info.update(quirk=q.probe, device=self.label(), host_bdf=self.host)
        if q.priority:
            parent.add_subregion_overlap(q.offset, mr, q.priority)
        else:
            parent.add_subregion(q.offset, mr)
        if not q.enabled:
            mr.set_enabled(False)
        self.quirks.append(q)
        self.quirk_mrs.append(mr)
        self._emit({"op": "vfio_quirk", "dev": self.vname, "probe": q.probe, "where": q.where,
                    "name": q.name, "offset": q.offset, "size": q.size,
                    "priority": q.priority, "enabled": q.enabled})

    # --- MSI-X relocation ---------------------------------------------------------
    def _relocate_msix(self, msix) -> None:
        """``vfio_pci_relocate_msix`` (hw/vfio/pci.c, v7.2.0 and v10.0.0),
        ``x-msix-relocation=bar0..bar5`` (``auto`` has no table of known
        devices and always fails).  The MSI-X structures need
        ``entries * 16 + align_up(entries, 64) / 8`` bytes, rounded up to a
        host page and to a power of two.  An I/O BAR, the upper half of a
        64-bit BAR and a 32-bit BAR above 1 GiB are refused.  An unused BAR
        becomes a prefetchable BAR of that size (64-bit if the next register
        is free too) with the table at 0; a used BAR doubles (at least
        twice the MSI-X size) and the table goes to its upper half.  The
        PBA follows the table."""
        from dataclasses import replace
        from ..addr import pow2ceil
        if self.msix_relo == "off":
            return
        who = self.qdev_id or "vfio-pci"
        if self.msix_relo == "auto":
            raise DeviceError(who, "x-msix-relocation", "No automatic MSI-X relocation "
                              f"available for device {self.vendor_id:04x}:{self.device_id:04x}")
        target = int(self.msix_relo[3:])
        n = msix.nentries
        size = n * PCI_MSIX_ENTRY_SIZE + ((n + 63) // 64) * 8
        size = pow2ceil(align_up(size, PAGE_SIZE))
        vb = self.vbars[target]
        if vb.ioport:
            raise DeviceError(who, "x-msix-relocation",
                              f"Invalid MSI-X relocation BAR {target}, I/O port BAR")
        if not vb.size and target > 0 and self.vbars[target - 1].mem64:
            raise DeviceError(who, "x-msix-relocation", f"Invalid MSI-X relocation BAR "
                              f"{target}, consumed by 64-bit BAR {target - 1}")
        if vb.size > GiB and not vb.mem64:
            raise DeviceError(who, "x-msix-relocation", f"Invalid MSI-X relocation BAR "
                              f"{target}, no space to extend 32-bit BAR")
        if not vb.size:
            if target < PCI_ROM_SLOT - 1 and not self.vbars[target + 1].size:
                vb.mem64 = True
                vb.type = PCI_BASE_ADDRESS_MEM_TYPE_64
            vb.type |= PCI_BASE_ADDRESS_MEM_PREFETCH
            vb.size = size
            table = 0
        else:
            vb.size = max(vb.size * 2, size * 2)
            table = vb.size // 2
        self.msix_layout = replace(msix, table_bar=target, table_offset=table, pba_bar=target,
                                   pba_offset=table + n * PCI_MSIX_ENTRY_SIZE)
        self._emit({"op": "vfio_msix_relo", "dev": self.vname, "bar": target,
                    "offset": table})

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
                msix = self.msix_layout or hd.msix     # after x-msix-relocation
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


def bar_quirks(dev: "VfioPCIDevice", stack=None) -> list[VfioQuirk]:
    """The regions ``vfio_bar_quirk_setup`` (QEMU hw/vfio/pci-quirks.c) lays
    over a passed-through device's BARs, BAR by BAR in its probe order.
    Each is an I/O region added with ``memory_region_add_subregion_overlap``
    at priority 1 inside the slow-path region ``<bdf> BAR n``, so it wins
    over the BAR's mmap (priority 0) there: the flat view shows the range as
    trapped (``i/o``) and KVM gets no memslot for it.  ``vendor`` is
    ``vdev->vendor_id``: the device's, or ``x-pci-vendor-id``'s.

    * ``vfio_probe_ati_bar4_quirk``: ATI (0x1002), x-vga, BAR4 (an I/O BAR
      since QEMU 10.0: commit 63316f973a "vfio/pci-quirks: Exclude non-ioport
      BAR from ATI quirk", first in v10.0.0; before, any BAR4):
      ``vfio-ati-bar4-window-address-quirk`` (4 bytes at 0) and
      ``vfio-ati-bar4-window-data-quirk`` (4 at 4);
    * ``vfio_probe_ati_bar2_quirk``: ATI, x-vga, a 64-bit BAR2:
      ``vfio-ati-bar2-4000-quirk``, 256 bytes at 0x4000;
    * ``vfio_probe_nvidia_bar5_quirk``: NVIDIA (0x10de), not
      ``x-no-geforce-quirks``, x-vga, an I/O BAR5:
      ``vfio-nvidia-bar5-window-address-quirk`` (4 at 8) and
      ``-window-data-quirk`` (4 at 0xc), both disabled until the guest
      enables the window, ``vfio-nvidia-bar5-master-quirk`` (4 at 0) and
      ``vfio-nvidia-bar5-enable-quirk`` (4 at 4);
    * ``vfio_probe_nvidia_bar0_quirk``: NVIDIA, not ``x-no-geforce-quirks``,
      class 0x0300 (``vfio_is_vga``: a 3D controller, 0x0302, gets none),
      BAR0: ``vfio-nvidia-bar0-88000-mirror-quirk``, the config space size
      (256, or 4096 for PCIe) at 0x88000; with x-vga also
      ``vfio-nvidia-bar0-1800-mirror-quirk``, 256 bytes at 0x1800;
    * ``vfio_probe_rtl8168_bar2_quirk``: Realtek 10ec:8168, BAR2:
      ``vfio-rtl8168-window-address-quirk`` (4 at 0x74) and
      ``vfio-rtl8168-window-data-quirk`` (4 at 0x70).
    """
    out: list[VfioQuirk] = []
    vendor, device = dev.vendor_id, dev.device_id
    vga = bool(dev.vga_regions)                       # vdev->vga: x-vga populated
    is_vga = (struct.unpack_from("<H", dev.config, 0x0A)[0] == PCI_CLASS_DISPLAY_VGA)
    nv = vendor == PCI_VENDOR_ID_NVIDIA and not dev.no_geforce_quirks
    ati_bar4_needs_io = stack is None or stack.qemu_at_least(10, 0)

    def q(probe, nr, name, off, size, enabled=True):
        out.append(VfioQuirk(probe, f"BAR{nr}", name, off, size, 1, enabled))
    for nr, vb in enumerate(dev.vbars):
        if not vb.size or vb.region_mem is None:
            continue
        if vendor == PCI_VENDOR_ID_ATI and vga and nr == 4 and \
                (vb.ioport or not ati_bar4_needs_io):
            q("vfio_probe_ati_bar4_quirk", 4, "vfio-ati-bar4-window-address-quirk", 0, 4)
            q("vfio_probe_ati_bar4_quirk", 4, "vfio-ati-bar4-window-data-quirk", 4, 4)
        if vendor == PCI_VENDOR_ID_ATI and vga and nr == 2 and vb.mem64:
            q("vfio_probe_ati_bar2_quirk", 2, "vfio-ati-bar2-4000-quirk", 0x4000,
              PCI_CONFIG_SPACE_SIZE)
        if nv and vga and nr == 5 and vb.ioport:
            q("vfio_probe_nvidia_bar5_quirk", 5, "vfio-nvidia-bar5-window-address-quirk", 8, 4,
              enabled=False)
            q("vfio_probe_nvidia_bar5_quirk", 5, "vfio-nvidia-bar5-window-data-quirk", 0xC, 4,
              enabled=False)
            q("vfio_probe_nvidia_bar5_quirk", 5, "vfio-nvidia-bar5-master-quirk", 0, 4)
            q("vfio_probe_nvidia_bar5_quirk", 5, "vfio-nvidia-bar5-enable-quirk", 4, 4)
        if nv and is_vga and nr == 0:
            # vdev->config_size: the config region's size (256 or 4096)
            q("vfio_probe_nvidia_bar0_quirk", 0, "vfio-nvidia-bar0-88000-mirror-quirk",
              0x88000, _config_size(dev.hostdev))
            if vga:
                q("vfio_probe_nvidia_bar0_quirk", 0, "vfio-nvidia-bar0-1800-mirror-quirk",
                  0x1800, PCI_CONFIG_SPACE_SIZE)
        if vendor == PCI_VENDOR_ID_REALTEK and device == 0x8168 and nr == 2:
            q("vfio_probe_rtl8168_bar2_quirk", 2, "vfio-rtl8168-window-address-quirk", 0x74, 4)
            q("vfio_probe_rtl8168_bar2_quirk", 2, "vfio-rtl8168-window-data-quirk", 0x70, 4)
    return out


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
