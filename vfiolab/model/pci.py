"""PCI config space, BARs and how a BAR write moves memory (QEMU ``hw/pci``).

The rules restated here, with their QEMU 7.2 sources:

* ``pci_register_bar`` (hw/pci/pci.c): a BAR's size is a power of two; its
  write mask is ``~(size - 1)`` (64 bits wide for a 64-bit memory BAR, plus
  the enable bit for the ROM), so writing all ones and reading back yields
  the size (BAR sizing); the low type bits are read-only.
* ``pci_default_write_config``: each written byte keeps its read-only bits
  (``wmask``) and clears its write-1-to-clear bits (``w1cmask``); a write
  touching a BAR, the ROM BAR or the command register calls
  ``pci_update_mappings``; a write to the command register also enables
  or disables bus mastering (the device's DMA address space).
* ``pci_bar_address``: a BAR decodes only with the command register's I/O
  or memory bit set, never at address 0, never wrapping, a 32-bit BAR never
  reaching 4 GiB, the ROM only with its enable bit.
* ``pci_update_mappings``: for each BAR whose decoded address changed, the
  old mapping is deleted (trace ``pci_update_mappings_del``) and the BAR's
  MemoryRegion is added to the bus's address space at the new address with
  priority 1 (trace ``pci_update_mappings_add``), each its own memory
  transaction.
* ``pci_bridge_write_config`` / ``pci_bridge_region_init`` (hw/pci/
  pci_bridge.c): a bridge forwards its windows to the secondary bus through
  aliases ``pci_bridge_pref_mem``, ``pci_bridge_mem`` and ``pci_bridge_io``
  placed at priority 1 in the parent bus; a window is empty unless the
  bridge decodes that space and limit >= base.  With VGA Enable in the
  bridge control the bridge also forwards the legacy VGA ranges
  (``pci_bridge_init_vga_aliases`` -> ``pci_register_vga``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ..addr import is_pow2
from ..errors import ConfigError, DeviceError
from ..records import fmt_bdf
from .memory import UINT64_SIZE, AddressSpace, MemoryRegion

__all__ = [
    "PCI_VENDOR_ID", "PCI_DEVICE_ID", "PCI_COMMAND", "PCI_STATUS", "PCI_CLASS_REVISION",
    "PCI_HEADER_TYPE", "PCI_BASE_ADDRESS_0", "PCI_ROM_ADDRESS", "PCI_ROM_ADDRESS1",
    "PCI_CAPABILITY_LIST", "PCI_INTERRUPT_LINE", "PCI_INTERRUPT_PIN",
    "PCI_COMMAND_IO", "PCI_COMMAND_MEMORY", "PCI_COMMAND_MASTER", "PCI_COMMAND_SERR",
    "PCI_BASE_ADDRESS_SPACE_IO", "PCI_BASE_ADDRESS_MEM_TYPE_64", "PCI_BASE_ADDRESS_MEM_PREFETCH",
    "PCI_ROM_SLOT", "PCI_NUM_REGIONS", "PCI_BAR_UNMAPPED",
    "PCIIORegion", "PCIDevice", "PCIBridge", "PCIBus", "bar_type_name",
]

# --- config header offsets (Linux include/uapi/linux/pci_regs.h) -------------
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_CLASS_REVISION = 0x08
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_CLASS_DEVICE = 0x0a
PCI_CACHE_LINE_SIZE = 0x0c
PCI_HEADER_TYPE = 0x0e
PCI_BASE_ADDRESS_0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID = 0x2c
PCI_SUBSYSTEM_ID = 0x2e
PCI_ROM_ADDRESS = 0x30
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_LINE = 0x3c
PCI_INTERRUPT_PIN = 0x3d
PCI_CONFIG_HEADER_SIZE = 0x40
# type 1 (bridge) header
PCI_PRIMARY_BUS = 0x18
PCI_SECONDARY_BUS = 0x19
PCI_SUBORDINATE_BUS = 0x1a
PCI_IO_BASE = 0x1c
PCI_IO_LIMIT = 0x1d
PCI_SEC_STATUS = 0x1e
PCI_MEMORY_BASE = 0x20
PCI_MEMORY_LIMIT = 0x22
PCI_PREF_MEMORY_BASE = 0x24
PCI_PREF_MEMORY_LIMIT = 0x26
PCI_PREF_BASE_UPPER32 = 0x28
PCI_PREF_LIMIT_UPPER32 = 0x2c
PCI_IO_BASE_UPPER16 = 0x30
PCI_IO_LIMIT_UPPER16 = 0x32
PCI_ROM_ADDRESS1 = 0x38
PCI_BRIDGE_CONTROL = 0x3e

PCI_COMMAND_IO = 0x1
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_COMMAND_SERR = 0x100
PCI_COMMAND_INTX_DISABLE = 0x400
PCI_STATUS_CAP_LIST = 0x10

PCI_BASE_ADDRESS_SPACE_IO = 0x01
PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04
PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08
PCI_ROM_ADDRESS_ENABLE = 0x01
PCI_HEADER_TYPE_BRIDGE = 1
PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80

PCI_IO_RANGE_TYPE_16 = 0x00
PCI_IO_RANGE_TYPE_32 = 0x01
PCI_IO_RANGE_MASK = ~0x0f & 0xff
PCI_MEMORY_RANGE_MASK = ~0x0f & 0xffff
PCI_PREF_RANGE_TYPE_64 = 0x01
PCI_PREF_RANGE_MASK = ~0x0f & 0xffff
PCI_BRIDGE_CTL_VGA = 0x08
#: QEMU include/hw/pci/pci.h: the legacy VGA ranges pci_register_vga() maps
QEMU_PCI_VGA_MEM_BASE, QEMU_PCI_VGA_MEM_SIZE = 0xA0000, 0x20000
QEMU_PCI_VGA_IO_LO_BASE, QEMU_PCI_VGA_IO_LO_SIZE = 0x3B0, 0xC
QEMU_PCI_VGA_IO_HI_BASE, QEMU_PCI_VGA_IO_HI_SIZE = 0x3C0, 0x20

PCI_ROM_SLOT = 6
PCI_NUM_REGIONS = 7
#: QEMU include/hw/pci/pci.h: PCI_BAR_UNMAPPED is (pcibus_t)-1
PCI_BAR_UNMAPPED = (1 << 64) - 1
UINT32_MAX = 0xFFFFFFFF
HWADDR_MAX = (1 << 64) - 1


def bar_type_name(type_bits: int) -> str:
    """``io``, ``mem32`` or ``mem64`` from a BAR's low type bits."""
    if type_bits & PCI_BASE_ADDRESS_SPACE_IO:
        return "io"
    return "mem64" if type_bits & PCI_BASE_ADDRESS_MEM_TYPE_64 else "mem32"


@dataclass
class PCIIORegion:
    """QEMU ``PCIIORegion``: a registered BAR.

    ``addr`` is the decoded guest address, ``PCI_BAR_UNMAPPED`` when the BAR
    is not mapped; ``memory`` is the MemoryRegion placed there;
    ``address_space`` the bus space (memory or I/O) it goes into.
    """

    index: int
    size: int
    type: int
    memory: MemoryRegion
    address_space: MemoryRegion
    addr: int = PCI_BAR_UNMAPPED

    @property
    def mapped(self) -> bool:
        return self.addr != PCI_BAR_UNMAPPED

    @property
    def kind(self) -> str:
        return bar_type_name(self.type)

    @property
    def prefetch(self) -> bool:
        return bool(self.type & PCI_BASE_ADDRESS_MEM_PREFETCH)


class PCIBus:
    """QEMU ``PCIBus``: the devices on one bus and its two address spaces."""

    def __init__(self, name: str, address_space_mem: MemoryRegion,
                 address_space_io: MemoryRegion, parent_dev: "PCIBridge | None" = None):
        self.name = name
        self.address_space_mem = address_space_mem
        self.address_space_io = address_space_io
        self.parent_dev = parent_dev
        self.devices: dict[int, PCIDevice] = {}

    @property
    def number(self) -> int:
        """The bus number: 0 for a root bus, else the bridge's secondary
        bus register (QEMU ``pci_bus_num``)."""
        if self.parent_dev is None:
            return 0
        return self.parent_dev.config[PCI_SECONDARY_BUS]

    def is_root(self) -> bool:
        return self.parent_dev is None

    def find_bus(self, num: int) -> "PCIBus | None":
        """QEMU ``pci_find_bus_nr``: descend through bridges whose
        secondary..subordinate range holds ``num``."""
        if self.number == num:
            return self
        for dev in self.devices.values():
            if isinstance(dev, PCIBridge):
                sec = dev.config[PCI_SECONDARY_BUS]
                sub = dev.config[PCI_SUBORDINATE_BUS]
                if sec and sec <= num <= sub:
                    hit = dev.sec_bus.find_bus(num)
                    if hit is not None:
                        return hit
        return None

    def all_devices(self):
        """Every function on this bus and below, bus-major by devfn."""
        for devfn in sorted(self.devices):
            dev = self.devices[devfn]
            yield dev
            if isinstance(dev, PCIBridge):
                yield from dev.sec_bus.all_devices()


class PCIDevice:
    """A PCI function with QEMU's config space semantics.

    Subclasses set the identity (``vendor_id``, ``device_id``, ``class_id``
    = base class << 8 | subclass, ``revision``, ``prog_if``), build their
    MemoryRegions in :meth:`realize` and register BARs with
    :meth:`register_bar`.  ``type_name`` is the QOM type, which QEMU also
    uses as the device's name in traces and as its DMA address space name.
    """

    type_name = "pci-device"
    vendor_id = 0
    device_id = 0
    class_id = 0
    revision = 0
    prog_if = 0
    subsystem_vendor_id = 0x1af4       # QEMU PCI_SUBVENDOR_ID_REDHAT_QUMRANET
    subsystem_id = 0x1100              # QEMU PCI_SUBDEVICE_ID_QEMU
    interrupt_pin = 0                  # 1 = INTA
    is_express = False
    header_type = 0

    def __init__(self, qdev_id: str = "", **props):
        self.qdev_id = qdev_id
        self.props = props
        self.bus: PCIBus | None = None
        self.devfn = 0
        size = 4096 if self.is_express else 256
        self.config = bytearray(size)
        self.wmask = bytearray(size)
        self.w1cmask = bytearray(size)
        self.cmask = bytearray(size)
        self.io_regions: list[PCIIORegion | None] = [None] * PCI_NUM_REGIONS
        self.vm = None
        self.bus_master_as: AddressSpace | None = None
        self.bus_master_enable: MemoryRegion | None = None
        self.bus_master_container: MemoryRegion | None = None
        self.multifunction = False
        self._next_cap = PCI_CONFIG_HEADER_SIZE
        #: pci_register_vga's regions (memory, I/O low, I/O high), or none
        self.vga_regions: list[MemoryRegion] = []

    # --- identity ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.type_name

    @property
    def bdf(self) -> str:
        return fmt_bdf(self.bus.number if self.bus else 0, self.devfn >> 3, self.devfn & 7)

    @property
    def slot(self) -> int:
        return self.devfn >> 3

    @property
    def func(self) -> int:
        return self.devfn & 7

    def label(self) -> str:
        return self.qdev_id or f"{self.type_name}@{self.bdf}"

    # --- construction (QEMU do_pci_register_device + realize) -----------------
    def init_config(self) -> None:
        """Identity registers and the default masks
        (QEMU hw/pci/pci.c ``pci_config_set_*``, ``pci_init_wmask``,
        ``pci_init_w1cmask``, ``pci_init_cmask``)."""
        c = self.config
        struct.pack_into("<HH", c, PCI_VENDOR_ID, self.vendor_id, self.device_id)
        c[PCI_REVISION_ID] = self.revision
        c[PCI_CLASS_PROG] = self.prog_if
        struct.pack_into("<H", c, PCI_CLASS_DEVICE, self.class_id)
        c[PCI_HEADER_TYPE] = self.header_type | (PCI_HEADER_TYPE_MULTI_FUNCTION if self.multifunction else 0)
        if self.header_type == 0:
            struct.pack_into("<HH", c, PCI_SUBSYSTEM_VENDOR_ID,
                             self.subsystem_vendor_id, self.subsystem_id)
        c[PCI_INTERRUPT_PIN] = self.interrupt_pin
        # pci_init_wmask: cache line, interrupt line, command IO|MEM|MASTER|
        # INTX_DISABLE|SERR, and everything past the 64-byte header
        self.wmask[PCI_CACHE_LINE_SIZE] = 0xff
        self.wmask[PCI_INTERRUPT_LINE] = 0xff
        struct.pack_into("<H", self.wmask, PCI_COMMAND,
                         PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER
                         | PCI_COMMAND_INTX_DISABLE | PCI_COMMAND_SERR)
        for i in range(PCI_CONFIG_HEADER_SIZE, len(self.wmask)):
            self.wmask[i] = 0xff
        # pci_init_w1cmask: the error bits of the status register
        struct.pack_into("<H", self.w1cmask, PCI_STATUS, 0xf900)

    def realize(self, vm) -> None:
        """Build MemoryRegions and register BARs.  Override."""

    def register_bar(self, index: int, type_bits: int, mr: MemoryRegion) -> PCIIORegion:
        """QEMU ``pci_register_bar``: size from the region, write mask
        ``~(size-1)`` (plus the ROM enable bit), type bits in the register."""
        size = mr.size
        if not is_pow2(size):
            raise DeviceError(self.label(), f"BAR{index}", f"size {size:#x} is not a power of two")
        if self.header_type == PCI_HEADER_TYPE_BRIDGE and index not in (0, 1, PCI_ROM_SLOT):
            raise DeviceError(self.label(), f"BAR{index}", "a bridge has only BAR0 and BAR1")
        space = (self.bus.address_space_io if type_bits & PCI_BASE_ADDRESS_SPACE_IO
                 else self.bus.address_space_mem)
        r = PCIIORegion(index, size, type_bits, mr, space)
        self.io_regions[index] = r
        wmask = ~(size - 1) & ((1 << 64) - 1)
        if index == PCI_ROM_SLOT:
            wmask |= PCI_ROM_ADDRESS_ENABLE
        off = self.bar_offset(index)
        struct.pack_into("<I", self.config, off, type_bits)
        if not type_bits & PCI_BASE_ADDRESS_SPACE_IO and type_bits & PCI_BASE_ADDRESS_MEM_TYPE_64:
            struct.pack_into("<Q", self.wmask, off, wmask)
            struct.pack_into("<Q", self.cmask, off, (1 << 64) - 1)
        else:
            struct.pack_into("<I", self.wmask, off, wmask & 0xffffffff)
            struct.pack_into("<I", self.cmask, off, 0xffffffff)
        mr.info.setdefault("bar", index)
        mr.info.setdefault("device", self.label())
        return r

    def bar_offset(self, index: int) -> int:
        """QEMU ``pci_bar``: config offset of BAR ``index`` (the ROM BAR is
        at 0x30, or 0x38 on a bridge)."""
        if index == PCI_ROM_SLOT:
            return PCI_ROM_ADDRESS1 if self.header_type == PCI_HEADER_TYPE_BRIDGE else PCI_ROM_ADDRESS
        return PCI_BASE_ADDRESS_0 + 4 * index

    def add_capability(self, cap_id: int, size: int, offset: int | None = None) -> int:
        """QEMU ``pci_add_capability``: link a capability into the list at
        0x34, set the status bit, and make its bytes read-only by default."""
        if offset is None:
            offset = self._next_cap
        self._next_cap = max(self._next_cap, offset + size)
        c = self.config
        c[offset] = cap_id
        c[offset + 1] = c[PCI_CAPABILITY_LIST]
        c[PCI_CAPABILITY_LIST] = offset
        struct.pack_into("<H", c, PCI_STATUS, struct.unpack_from("<H", c, PCI_STATUS)[0] | PCI_STATUS_CAP_LIST)
        for i in range(offset, offset + size):
            self.wmask[i] = 0
            self.cmask[i] = 0xff
        return offset

    # --- config access -------------------------------------------------------
    def config_read(self, addr: int, length: int) -> int:
        """QEMU ``pci_default_read_config``: little-endian bytes of config."""
        return int.from_bytes(self.config[addr:addr + length], "little")

    def config_write(self, addr: int, val: int, length: int) -> None:
        """QEMU ``pci_default_write_config``."""
        for i in range(length):
            b = (val >> (8 * i)) & 0xff
            wm, w1c = self.wmask[addr + i], self.w1cmask[addr + i]
            # rule: keep read-only bits, take writable bits from the value
            v = (self.config[addr + i] & ~wm) | (b & wm)
            # rule: write-1-to-clear bits are cleared where the value has 1
            self.config[addr + i] = v & ~(b & w1c) & 0xff
        end = addr + length
        touches_bars = addr < PCI_BASE_ADDRESS_0 + 24 and end > PCI_BASE_ADDRESS_0
        touches_rom = (addr < PCI_ROM_ADDRESS + 4 and end > PCI_ROM_ADDRESS) or \
                      (addr < PCI_ROM_ADDRESS1 + 4 and end > PCI_ROM_ADDRESS1)
        touches_cmd = addr <= PCI_COMMAND < end
        if touches_bars or touches_rom or touches_cmd:
            self.update_mappings()
        if touches_cmd and self.bus_master_enable is not None:
            # rule: bus mastering gates the device's DMA address space
            self.bus_master_enable.set_enabled(bool(self.command & PCI_COMMAND_MASTER))

    @property
    def command(self) -> int:
        return struct.unpack_from("<H", self.config, PCI_COMMAND)[0]

    # --- BAR decoding and mapping --------------------------------------------
    def bar_address(self, index: int, type_bits: int, size: int) -> int:
        """QEMU ``pci_bar_address`` (machine types here do not allow address 0)."""
        cmd = self.command
        off = self.bar_offset(index)
        is64 = not type_bits & PCI_BASE_ADDRESS_SPACE_IO and type_bits & PCI_BASE_ADDRESS_MEM_TYPE_64
        raw = struct.unpack_from("<Q" if is64 else "<I", self.config, off)[0]
        if type_bits & PCI_BASE_ADDRESS_SPACE_IO:
            if not cmd & PCI_COMMAND_IO:
                return PCI_BAR_UNMAPPED
            new = raw & ~(size - 1)
            last = new + size - 1
            # rule: an I/O BAR must not wrap, reach 4 GiB, or sit at 0
            if last <= new or last >= UINT32_MAX or new == 0:
                return PCI_BAR_UNMAPPED
            return new
        if not cmd & PCI_COMMAND_MEMORY:
            return PCI_BAR_UNMAPPED
        # rule: the ROM decodes only with its enable bit (bit 0)
        if index == PCI_ROM_SLOT and not raw & PCI_ROM_ADDRESS_ENABLE:
            return PCI_BAR_UNMAPPED
        new = raw & ~(size - 1) & ((1 << 64) - 1)
        last = new + size - 1
        # rule: no wrapping, not at 0, not ending at the unmapped marker
        if last <= new or last == PCI_BAR_UNMAPPED or new == 0:
            return PCI_BAR_UNMAPPED
        # rule: a 32-bit BAR may not end at or above 4 GiB - 1
        if not type_bits & PCI_BASE_ADDRESS_MEM_TYPE_64 and last >= UINT32_MAX:
            return PCI_BAR_UNMAPPED
        if last >= HWADDR_MAX:
            return PCI_BAR_UNMAPPED
        return new

    def update_mappings(self) -> None:
        """QEMU ``pci_update_mappings``: move every BAR whose decoded address
        changed: delete the old subregion, then add the new one at priority 1."""
        bus_num = self.bus.number if self.bus else 0
        for i, r in enumerate(self.io_regions):
            if r is None or not r.size:
                continue
            new = self.bar_address(i, r.type, r.size)
            if new == r.addr:
                continue
            if r.addr != PCI_BAR_UNMAPPED:
                self._emit({"op": "pci_update_mappings_del", "dev": self.name,
                            "bdf": fmt_bdf(bus_num, self.slot, self.func), "bar": i,
                            "addr": r.addr, "size": r.size})
                r.address_space.del_subregion(r.memory)
            r.addr = new
            if new != PCI_BAR_UNMAPPED:
                self._emit({"op": "pci_update_mappings_add", "dev": self.name,
                            "bdf": fmt_bdf(bus_num, self.slot, self.func), "bar": i,
                            "addr": r.addr, "size": r.size})
                r.address_space.add_subregion_overlap(new, r.memory, 1)
            self.bar_moved(i, r)
        self.update_vga()

    # --- legacy VGA ranges ---------------------------------------------------
    def register_vga(self, mem: MemoryRegion, io_lo: MemoryRegion, io_hi: MemoryRegion) -> None:
        """QEMU hw/pci/pci.c ``pci_register_vga`` (v7.2.0 and v10.0.0): the
        device's legacy VGA ranges go into its bus's spaces at priority 1,
        ``mem`` at 0xa0000 (0x20000 bytes) in the memory space, ``io_lo`` at
        0x3b0 (0xc) and ``io_hi`` at 0x3c0 (0x20) in the I/O space, then
        ``pci_update_vga``.  Used by vfio-pci's x-vga regions and by a
        bridge's VGA-enable aliases."""
        for mr, size in ((mem, QEMU_PCI_VGA_MEM_SIZE), (io_lo, QEMU_PCI_VGA_IO_LO_SIZE),
                         (io_hi, QEMU_PCI_VGA_IO_HI_SIZE)):
            assert mr.size == size, (mr.name, mr.size)
        self.bus.address_space_mem.add_subregion_overlap(QEMU_PCI_VGA_MEM_BASE, mem, 1)
        self.bus.address_space_io.add_subregion_overlap(QEMU_PCI_VGA_IO_LO_BASE, io_lo, 1)
        self.bus.address_space_io.add_subregion_overlap(QEMU_PCI_VGA_IO_HI_BASE, io_hi, 1)
        self.vga_regions = [mem, io_lo, io_hi]
        self.update_vga()

    def unregister_vga(self) -> None:
        """``pci_unregister_vga``: take the three ranges out of the bus."""
        for mr in self.vga_regions:
            mr.container.del_subregion(mr)
        self.vga_regions = []

    def update_vga(self) -> None:
        """``pci_update_vga`` (the end of ``pci_update_mappings``): the VGA
        memory range follows the command register's memory bit, the two
        port ranges its I/O bit."""
        if not self.vga_regions:
            return
        cmd = self.command
        mem, lo, hi = self.vga_regions
        mem.set_enabled(bool(cmd & PCI_COMMAND_MEMORY))
        lo.set_enabled(bool(cmd & PCI_COMMAND_IO))
        hi.set_enabled(bool(cmd & PCI_COMMAND_IO))

    def bar_moved(self, index: int, region: PCIIORegion) -> None:
        """Hook after a BAR moved (vfio-pci resizes sub-page BARs here)."""

    def _emit(self, event: dict) -> None:
        if self.vm is not None:
            self.vm.emit(event)

    def bars(self) -> list[PCIIORegion]:
        return [r for r in self.io_regions if r is not None and r.size]


class PCIBridge(PCIDevice):
    """A PCI-PCI bridge (type 1 header) with a secondary bus
    (QEMU hw/pci/pci_bridge.c ``pci_bridge_initfn``)."""

    header_type = PCI_HEADER_TYPE_BRIDGE
    class_id = 0x0604

    def __init__(self, qdev_id: str = "", **props):
        super().__init__(qdev_id, **props)
        self.sec_bus: PCIBus | None = None
        self.windows: list[MemoryRegion] = []

    def init_config(self) -> None:
        """``pci_init_mask_bridge``: bus numbers, windows, bridge control
        writable; 16-bit I/O and 64-bit prefetchable window types."""
        super().init_config()
        c, w = self.config, self.wmask
        for off in range(PCI_PRIMARY_BUS, PCI_PRIMARY_BUS + 4):
            w[off] = 0xff
        w[PCI_IO_BASE] = PCI_IO_RANGE_MASK
        w[PCI_IO_LIMIT] = PCI_IO_RANGE_MASK
        struct.pack_into("<HHHH", w, PCI_MEMORY_BASE, PCI_MEMORY_RANGE_MASK,
                         PCI_MEMORY_RANGE_MASK, PCI_PREF_RANGE_MASK, PCI_PREF_RANGE_MASK)
        for off in range(PCI_PREF_BASE_UPPER32, PCI_PREF_BASE_UPPER32 + 8):
            w[off] = 0xff
        c[PCI_IO_BASE] |= PCI_IO_RANGE_TYPE_16
        c[PCI_IO_LIMIT] |= PCI_IO_RANGE_TYPE_16
        c[PCI_PREF_MEMORY_BASE] |= PCI_PREF_RANGE_TYPE_64
        c[PCI_PREF_MEMORY_LIMIT] |= PCI_PREF_RANGE_TYPE_64
        # PARITY|SERR|ISA|VGA|VGA_16BIT|MASTER_ABORT|BUS_RESET|FAST_BACK|
        # DISCARD|SEC_DISCARD|DISCARD_SERR
        struct.pack_into("<H", w, PCI_BRIDGE_CONTROL, 0x0bff)
        # subsystem ids do not exist in a type 1 header
        struct.pack_into("<H", c, PCI_SEC_STATUS, 0x0020 | 0x0080)

    def create_secondary_bus(self) -> PCIBus:
        """``pci_bridge_initfn``: the secondary bus's spaces are the bridge's
        own containers ``pci_bridge_pci`` (2^64 - 1 bytes) and
        ``pci_bridge_io`` (4 GiB)."""
        mem = MemoryRegion.init_container("pci_bridge_pci", UINT64_SIZE - 1)
        io = MemoryRegion.init_container("pci_bridge_io", 1 << 32)
        self.sec_bus = PCIBus(self.qdev_id or f"{self.type_name}.0", mem, io, parent_dev=self)
        return self.sec_bus

    def window(self, kind: str) -> tuple[int, int]:
        """(base, limit) of a window: ``pci_bridge_get_base``/``_limit``."""
        c = self.config
        if kind == "io":
            base = (c[PCI_IO_BASE] & PCI_IO_RANGE_MASK) << 8
            limit = (c[PCI_IO_LIMIT] & PCI_IO_RANGE_MASK) << 8
            if c[PCI_IO_BASE] & PCI_IO_RANGE_TYPE_32:
                base |= struct.unpack_from("<H", c, PCI_IO_BASE_UPPER16)[0] << 16
            if c[PCI_IO_LIMIT] & PCI_IO_RANGE_TYPE_32:
                limit |= struct.unpack_from("<H", c, PCI_IO_LIMIT_UPPER16)[0] << 16
            return base, limit | 0xfff
        if kind == "mem":
            base = (struct.unpack_from("<H", c, PCI_MEMORY_BASE)[0] & PCI_MEMORY_RANGE_MASK) << 16
            limit = (struct.unpack_from("<H", c, PCI_MEMORY_LIMIT)[0] & PCI_MEMORY_RANGE_MASK) << 16
            return base, limit | 0xfffff
        b = struct.unpack_from("<H", c, PCI_PREF_MEMORY_BASE)[0]
        lm = struct.unpack_from("<H", c, PCI_PREF_MEMORY_LIMIT)[0]
        base = (b & PCI_PREF_RANGE_MASK) << 16
        limit = (lm & PCI_PREF_RANGE_MASK) << 16
        if b & PCI_PREF_RANGE_TYPE_64:
            base |= struct.unpack_from("<I", c, PCI_PREF_BASE_UPPER32)[0] << 32
        if lm & PCI_PREF_RANGE_TYPE_64:
            limit |= struct.unpack_from("<I", c, PCI_PREF_LIMIT_UPPER32)[0] << 32
        return base, limit | 0xfffff

    def update_windows(self) -> None:
        """``pci_bridge_update_mappings``: in one transaction, drop the three
        window aliases and re-create them from the current registers
        (``pci_bridge_region_init``: pref_mem, mem, io in that order, each at
        priority 1 in the parent bus's space).

        Then the VGA aliases (``pci_bridge_init_vga_aliases``, hw/pci/
        pci_bridge.c, v7.2.0 and v10.0.0): ``pci_bridge_vga_io_lo`` (0x3b0,
        0xc bytes) and ``pci_bridge_vga_io_hi`` (0x3c0, 0x20) of the
        secondary bus's I/O space, ``pci_bridge_vga_mem`` (0xa0000, 0x20000)
        of its memory space; only with the bridge control's VGA Enable
        (PCI_BRIDGE_CTL_VGA) does the bridge register them
        (``pci_register_vga``: priority 1 in the parent bus, enabled by the
        bridge's command register), and ``pci_bridge_region_del`` takes
        them out again (``pci_unregister_vga``).  SeaBIOS sets VGA Enable
        on every bridge above the VGA device it picks (src/fw/pciinit.c
        ``pci_enable_default_vga``).  Checked with real QEMU 7.2 and 10.0:
        data/references/q35-1G-rootport-vga*."""
        parent = self.bus
        mem = self.vm.memory if self.vm else None
        if mem is not None:
            mem.begin()
        try:
            for w in self.windows:
                w.container.del_subregion(w)
            self.windows = []
            self.unregister_vga()
            cmd = self.command
            for kind, name, space, parent_space, on in (
                    ("pref", "pci_bridge_pref_mem", self.sec_bus.address_space_mem,
                     parent.address_space_mem, cmd & PCI_COMMAND_MEMORY),
                    ("mem", "pci_bridge_mem", self.sec_bus.address_space_mem,
                     parent.address_space_mem, cmd & PCI_COMMAND_MEMORY),
                    ("io", "pci_bridge_io", self.sec_bus.address_space_io,
                     parent.address_space_io, cmd & PCI_COMMAND_IO)):
                base, limit = self.window(kind)
                size = limit + 1 - base if on and limit >= base else 0
                alias = MemoryRegion.init_alias(name, space, base, size)
                alias.owner = self.label()
                parent_space.add_subregion_overlap(base, alias, 1)
                self.windows.append(alias)
            vga = {}
            for name, space, base, size in (
                    ("pci_bridge_vga_io_lo", self.sec_bus.address_space_io,
                     QEMU_PCI_VGA_IO_LO_BASE, QEMU_PCI_VGA_IO_LO_SIZE),
                    ("pci_bridge_vga_io_hi", self.sec_bus.address_space_io,
                     QEMU_PCI_VGA_IO_HI_BASE, QEMU_PCI_VGA_IO_HI_SIZE),
                    ("pci_bridge_vga_mem", self.sec_bus.address_space_mem,
                     QEMU_PCI_VGA_MEM_BASE, QEMU_PCI_VGA_MEM_SIZE)):
                vga[name] = MemoryRegion.init_alias(name, space, base, size)
                vga[name].owner = self.label()
            brctl = struct.unpack_from("<H", self.config, PCI_BRIDGE_CONTROL)[0]
            if brctl & PCI_BRIDGE_CTL_VGA:
                self.register_vga(vga["pci_bridge_vga_mem"], vga["pci_bridge_vga_io_lo"],
                                  vga["pci_bridge_vga_io_hi"])
        finally:
            if mem is not None:
                mem.commit()

    def config_write(self, addr: int, val: int, length: int) -> None:
        """``pci_bridge_write_config``: default write, then re-map the
        windows if the command, base/limit or bridge control changed."""
        super().config_write(addr, val, length)
        end = addr + length

        def ov(a, n):
            return addr < a + n and end > a
        if ov(PCI_COMMAND, 2) or ov(PCI_IO_BASE, 2) or ov(PCI_MEMORY_BASE, 20) \
                or ov(PCI_BRIDGE_CONTROL, 2):
            self.update_windows()


def check_devfn(dev: PCIDevice, bus: PCIBus, devfn: int) -> None:
    """QEMU ``do_pci_register_device``: a devfn can hold only one function;
    then ``pci_init_multifunction`` (hw/pci/pci.c, the same in 7.2 and
    10.0): a function above 0 needs a function 0 that is multifunction, if
    there is one; a single-function function 0 needs its slot's other
    functions empty.  The messages are QEMU's (checked with QEMU 7.2 and
    10.0, tests/test_cmdline.py)."""
    slot, fn = devfn >> 3, devfn & 7
    if devfn in bus.devices:
        other = bus.devices[devfn]
        raise ConfigError(f"PCI: slot {slot} function {fn} not available for "
                          f"{dev.type_name}, in use by {other.type_name},id={other.qdev_id or '(null)'}")
    if fn:
        f0 = bus.devices.get(slot << 3)
        if f0 is not None and not f0.multifunction:
            raise ConfigError(f"PCI: single function device can't be populated in function "
                              f"{slot:x}.{fn:x}")
    elif not dev.multifunction:
        for f in range(1, 8):
            if (slot << 3 | f) in bus.devices:
                raise ConfigError(f"PCI: {slot:x}.0 indicates single function, but "
                                  f"{slot:x}.{f:x} is already populated.")

