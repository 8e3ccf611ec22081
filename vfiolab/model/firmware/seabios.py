"""SeaBIOS's PCI set-up for QEMU guests, restated access by access.

What this module reproduces, and where each piece lives in SeaBIOS
(``coreboot/seabios``; tags ``rel-1.16.2``, ``rel-1.16.3``, ``rel-1.17.0``):

* early POST: ``handle_post()`` (``src/post.c``) unlocks the shadow RAM at
  0xc0000-0xfffff with ``make_bios_writable()`` (``src/fw/shadow.c``), then
  ``qemu_detect()`` (``src/fw/paravirt.c``) reads the host bridge at 00:00.0
  to tell i440fx from q35 and, from 1.16.3 on, ``physbits()`` decides
  whether CPUID's physical-address width can be trusted;
* ``pci_setup()`` (``src/fw/pciinit.c``): bus numbering
  (``pci_bios_init_bus_rec``), the device list (``pci_probe_devices`` in
  ``src/hw/pcidevice.c``), the platform hook (PCIEXBAR on q35), pass 1
  (``pci_bios_check_devices``: BAR sizing, region lists, bridge windows),
  pass 2 (``pci_bios_map_devices``: root windows, the 64-bit window,
  programming every BAR and window), ``pci_bios_init_devices`` (interrupt
  line, chipset hooks, COMMAND) and ``pci_enable_default_vga``;
* end of POST: ``make_bios_readonly()`` (``src/fw/shadow.c``) write-protects
  the option-ROM area and the BIOS segment through the PAM registers.

The firmware reaches the PCI model **only** through config-space accesses
(:class:`ConfigAccess`), in the order SeaBIOS makes them, so each access can
be replayed as a trap into QEMU (port 0xcf8/0xcfc, or on q35 once
MMCONFIG is on, an ECAM MMIO access). Port I/O that is not config space
(the ELCR writes at 0x4d0/0x4d1) is recorded in
:attr:`FirmwareResult.port_writes`.

The SeaBIOS debug lines that ``pci_setup`` prints at debug level 1 (the
level of the Debian build's debugcon log) are appended, with the same text,
to the ``log`` list so a prediction can be diffed against a real log.

Version differences (``git log rel-1.16.2..rel-1.17.0 -- src/fw/pciinit.c``):

==========================  =============  ===================  =====================
behaviour                   1.16.2         1.16.3               1.17.0
==========================  =============  ===================  =====================
CPUPhysBits / physbits()    absent         trusted per vendor   same
pci_mem64_top cap           --             2^46                 2^44 unless >= 1 TiB
                                                                RAM above 4 GiB
pci_pad_mem64               0              physbits >= 36, long opt/org.seabios/pci64,
                                           mode, RAM above 4G   else RAM above 4G;
                                                                0 without long mode
64-bit window used when     32-bit fails   fails or pad         fails or pad
window position             4G + RAM>4G    top - size, one      same
                                           e820-conflict shift
hotplug min. reservation    only if empty  if align > sum       same
hotplug 64-bit pref align   --             = top >> 11          raised to top >> 11
==========================  =============  ===================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ...addr import GiB
from ...errors import ConfigError, FirmwareError
from ...records import BarRecord, fmt_bdf
# PCI config registers shared with the device model: the same names and values
# as SeaBIOS src/hw/pci_regs.h (which follows Linux include/uapi/linux/pci_regs.h)
from ..pci import (PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_PREFETCH,
                  PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO, PCI_BRIDGE_CONTROL,
                  PCI_BRIDGE_CTL_VGA, PCI_CAPABILITY_LIST, PCI_CLASS_DEVICE, PCI_CLASS_REVISION,
                  PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_COMMAND_SERR,
                  PCI_DEVICE_ID, PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE, PCI_INTERRUPT_LINE,
                  PCI_INTERRUPT_PIN, PCI_IO_BASE, PCI_IO_BASE_UPPER16, PCI_IO_LIMIT,
                  PCI_IO_LIMIT_UPPER16, PCI_MEMORY_BASE, PCI_MEMORY_LIMIT, PCI_NUM_REGIONS,
                  PCI_PREF_BASE_UPPER32, PCI_PREF_LIMIT_UPPER32, PCI_PREF_MEMORY_BASE,
                  PCI_PREF_MEMORY_LIMIT, PCI_PREF_RANGE_TYPE_64, PCI_PRIMARY_BUS,
                  PCI_ROM_ADDRESS, PCI_ROM_ADDRESS1, PCI_ROM_SLOT, PCI_SECONDARY_BUS,
                  PCI_STATUS, PCI_STATUS_CAP_LIST, PCI_SUBORDINATE_BUS, PCI_SUBSYSTEM_ID,
                  PCI_SUBSYSTEM_VENDOR_ID, PCI_VENDOR_ID)

__all__ = [
    "VERSIONS", "ConfigAccess", "FirmwarePlatform", "FirmwareResult",
    "ProbedDevice", "BusNumbers", "SizedBar", "BridgeWindow", "Placement",
    "RootWindows", "ConfigAccessRecord", "pci_setup", "cpu_phys_bits",
    "mem64_limits", "pam_segments", "PAM_ATTR_NAMES",
]

#: SeaBIOS releases whose pciinit.c this module follows.
VERSIONS = ("1.16.2", "1.16.3", "1.17.0")

_U64 = (1 << 64) - 1

# --- config header registers (SeaBIOS src/hw/pci_regs.h) ---------------------
PCI_HEADER_TYPE_CARDBUS = 2
PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06
PCI_BASE_ADDRESS_IO_MASK = 0xfffffffc
PCI_BASE_ADDRESS_MEM_MASK = 0xfffffff0
PCI_ROM_ADDRESS_MASK = 0xfffff800
# type 1 (PCI-PCI bridge) header
PCI_PREF_RANGE_TYPE_MASK = 0x0f
PCI_BRIDGE_CTL_SERR = 0x02
# capabilities
PCI_CAP_LIST_ID = 0
PCI_CAP_LIST_NEXT = 1
PCI_CAP_FLAGS = 2
PCI_CAP_ID_VNDR = 0x09
PCI_CAP_ID_SHPC = 0x0c
PCI_CAP_ID_EXP = 0x10
PCI_EXP_FLAGS = 2
PCI_EXP_FLAGS_TYPE = 0x00f0
PCI_EXP_FLAGS_SLOT = 0x0100
PCI_EXP_TYPE_ROOT_PORT = 0x4
PCI_EXP_TYPE_DOWNSTREAM = 0x6
PCI_EXP_TYPE_PCI_BRIDGE = 0x7
# Red Hat "QEMU resource reserve" vendor capability (src/fw/dev-pci.h)
PCI_CAP_REDHAT_TYPE_OFFSET = 3
REDHAT_CAP_RESOURCE_RESERVE = 1
RES_RESERVE_BUS_RES = 4
RES_RESERVE_IO = 8
RES_RESERVE_MEM = 16
RES_RESERVE_PREF_MEM_32 = 20
RES_RESERVE_PREF_MEM_64 = 24
RES_RESERVE_CAP_SIZE = 32

# --- ids and classes (src/hw/pci_ids.h, src/fw/dev-q35.h) ---------------------
PCI_VENDOR_ID_INTEL = 0x8086
PCI_VENDOR_ID_IBM = 0x1014
PCI_VENDOR_ID_APPLE = 0x106b
PCI_VENDOR_ID_REDHAT = 0x1b36
PCI_DEVICE_ID_REDHAT_ROOT_PORT = 0x000c
PCI_DEVICE_ID_REDHAT_BRIDGE = 0x0001
PCI_DEVICE_ID_INTEL_82441 = 0x1237          # i440fx host bridge
PCI_DEVICE_ID_INTEL_Q35_MCH = 0x29c0         # q35 host bridge
PCI_DEVICE_ID_INTEL_82371SB_0 = 0x7000       # PIIX3 ISA
PCI_DEVICE_ID_INTEL_82371SB_1 = 0x7010       # PIIX3 IDE
PCI_DEVICE_ID_INTEL_82371AB_0 = 0x7110       # PIIX4 ISA
PCI_DEVICE_ID_INTEL_82371AB = 0x7111         # PIIX4 IDE
PCI_DEVICE_ID_INTEL_82371AB_3 = 0x7113       # PIIX4 PM
PCI_DEVICE_ID_INTEL_ICH9_LPC = 0x2918
PCI_DEVICE_ID_INTEL_ICH9_SMBUS = 0x2930
PCI_CLASS_STORAGE_IDE = 0x0101
PCI_CLASS_DISPLAY_VGA = 0x0300
PCI_CLASS_BRIDGE_PCI = 0x0604
PCI_CLASS_SYSTEM_PIC = 0x0800
PCI_CLASS_SERIAL_USB = 0x0c03
PCI_ANY_ID = 0xffffffff

# --- chipset registers (src/fw/dev-piix.h, src/fw/dev-q35.h) ------------------
I440FX_PAM0 = 0x59
Q35_HOST_BRIDGE_PAM0 = 0x90
Q35_HOST_BRIDGE_PCIEXBAR = 0x60
Q35_HOST_BRIDGE_PCIEXBAR_ADDR = 0xb0000000
Q35_HOST_BRIDGE_PCIEXBAR_SIZE = 256 << 20
Q35_HOST_BRIDGE_PCIEXBAREN = 1
PIIX_PMBASE = 0x40
PIIX_PMREGMISC = 0x80
PIIX_SMBHSTBASE = 0x90
PIIX_SMBHSTCFG = 0xd2
PIIX_PORT_ELCR1 = 0x4d0
PIIX_PORT_ELCR2 = 0x4d1
ICH9_LPC_PMBASE = 0x40
ICH9_LPC_PMBASE_RTE = 0x1
ICH9_LPC_ACPI_CTRL = 0x44
ICH9_LPC_ACPI_CTRL_ACPI_EN = 0x80
ICH9_LPC_PIRQA_ROUT = 0x60
ICH9_LPC_PIRQE_ROUT = 0x68
ICH9_LPC_RCBA = 0xf0
ICH9_LPC_RCBA_ADDR = 0xfed1c000
ICH9_LPC_RCBA_EN = 0x1
ICH9_SMB_SMB_BASE = 0x20
ICH9_SMB_HOSTC = 0x40
ICH9_SMB_HOSTC_HST_EN = 0x01
# legacy ATA ports (src/hw/ata.h)
PORT_ATA1_CMD_BASE = 0x01f0
PORT_ATA1_CTRL_BASE = 0x03f4
PORT_ATA2_CMD_BASE = 0x0170
PORT_ATA2_CTRL_BASE = 0x0374

# --- allocator constants (src/fw/pciinit.c, src/config.h) ---------------------
PCI_DEVICE_MEM_MIN = 1 << 12      # 4 KiB: smallest memory BAR slot
PCI_BRIDGE_MEM_MIN = 1 << 21      # 2 MiB: bridge memory window granule
PCI_BRIDGE_IO_MIN = 0x1000        # bridge I/O window granule
PCI_BRIDGE_NUM_REGIONS = 2
BUILD_PCIMEM_START = 0xe0000000
BUILD_PCIMEM_END = 0xfec00000     # the IOAPIC
BUILD_ROM_START = 0xc0000
BUILD_BIOS_ADDR = 0xf0000

# --- low memory: option ROMs and ZoneLow (src/malloc.c) ------------------------
OPTION_ROM_ALIGN = 2048           # src/config.h: option ROMs start on 2 KiB
OPROM_HEADER_RESERVE = 16         # src/malloc.c: kept free above the last ROM

#: Where ``kvmclock_init()`` (src/fw/paravirt.c, SeaBIOS >= 1.14.0, commit
#: b3fa8577) put its ``memalign_low(32, sizeof(struct pvclock_vcpu_time_info))``
#: (32 bytes) in each Debian build, as the build logs it ("kvmclock: at 0x...",
#: data/references/*/seabios.log under KVM).  It is ZoneLow's first allocation.
#: ZoneLow is [zonelow_base + 16, final_varlow_start) (src/malloc.c
#: ``malloc_init``; both ends are link-time symbols of the build,
#: scripts/layoutrom.py), and ``alloc_new`` takes each allocation from the top
#: of the free range, so ``final_varlow_start`` is in [at + 32, at + 64).
KVMCLOCK_AT = {"1.16.2": 0xe8c20, "1.16.3": 0xe8380, "1.17.0": 0xe9840}


@dataclass(frozen=True)
class LowAllocation:
    """One allocation SeaBIOS makes in ZoneLow, the permanent low memory
    between the option ROMs and SeaBIOS's own variables (src/malloc.c)."""

    what: str          # who asked, with the source function
    size: int
    align: int
    address: int       # where alloc_new() put it


class LowMemory:
    """0xc0000..0xf0000 as SeaBIOS shares it (src/malloc.c): option ROMs grow
    up from ``BUILD_ROM_START`` (``RomEnd``), ZoneLow allocations grow down
    from the build's ``final_varlow_start``; ``rom_get_max()`` is the lowest
    allocation minus ``OPROM_HEADER_RESERVE``, aligned down to 2 KiB.

    The allocations modelled are the ones a QEMU guest's POST makes without
    boot drives: kvmclock (under KVM), SeaVGABIOS's extra stack (512 bytes by
    PMM, vgasrc/vgainit.c ``allocate_extra_stack``) and the AHCI bounce buffer
    (2048 bytes, src/block.c ``create_bounce_buf`` from src/hw/ahci.c
    ``ahci_controller_setup``).  All are 16 or 32 bytes aligned and sized, so
    their order does not change where the lowest one ends.
    """

    def __init__(self, version: str):
        if version not in KVMCLOCK_AT:
            raise ConfigError(f"SeaBIOS {version}: the top of its low-memory zone is "
                              f"known for {', '.join(KVMCLOCK_AT)}")
        # the lower bound of final_varlow_start; the 32 bytes of doubt never
        # cross a 2 KiB boundary for these builds (tests/test_seabios.py)
        self.top = KVMCLOCK_AT[version] + 32
        self.range_end = self.top          # RomBase->range_end
        self.rom_end = BUILD_ROM_START     # RomEnd
        self.allocations: list[LowAllocation] = []
        self.bounce_buf = False            # block.c bounce_buf_fl

    def malloc_low(self, what: str, size: int, align: int = 16) -> int:
        """src/malloc.c ``alloc_new`` on ZoneLow: the block ends where the free
        range ends and starts aligned down; the free range shrinks to it."""
        address = (self.range_end - size) & ~(align - 1)
        self.range_end = address
        self.allocations.append(LowAllocation(what, size, align, address))
        return address

    def create_bounce_buf(self, what: str) -> None:
        """src/block.c ``create_bounce_buf()``: ``malloc_low(CDROM_SECTOR_SIZE)``
        (2 KiB), once per POST (it returns at once when ``bounce_buf_fl`` is
        set)."""
        if not self.bounce_buf:
            self.malloc_low(what, 2048)
            self.bounce_buf = True

    def rom_get_max(self) -> int:
        """src/malloc.c ``rom_get_max()`` with CONFIG_MALLOC_UPPERMEMORY."""
        return (self.range_end - OPROM_HEADER_RESERVE) & ~(OPTION_ROM_ALIGN - 1)

    def rom_confirm(self, size: int) -> bool:
        """src/malloc.c ``rom_reserve``/``rom_confirm``: a ROM of ``size``
        bytes at ``RomEnd`` fits when its 2 KiB-rounded end is at most
        ``rom_get_max()``; then ``RomEnd`` moves to that end."""
        end = -(-(self.rom_end + size) // OPTION_ROM_ALIGN) * OPTION_ROM_ALIGN
        if end > self.rom_get_max():
            return False
        self.rom_end = end
        return True


#: ``pci_irqs`` in pciinit.c: the ISA IRQ behind PCI interrupt links A-D.
PCI_IRQS = (10, 10, 11, 11)

IO, MEM, PREFMEM = 0, 1, 2
#: ``region_type_name`` in pciinit.c (the names in the debug log).
REGION_TYPE_NAME = ("io", "mem", "prefmem")

HOTPLUG_NO_SUPPORTED, HOTPLUG_PCIE, HOTPLUG_SHPC = 0, 1, 2
_HOTPLUG_NAME = {HOTPLUG_NO_SUPPORTED: None, HOTPLUG_PCIE: "pcie", HOTPLUG_SHPC: "shpc"}

#: PAM attribute (2 bits: read enable, write enable; QEMU hw/pci-host/pam.c
#: ``pam_update``) -> the alias QEMU enables for the segment.
PAM_ATTR_NAMES = {0: "pam-pci", 1: "pam-rom", 2: "pam-pci(ram)", 3: "pam-ram"}


# ============================================================================
# Inputs
# ============================================================================

class ConfigAccess(Protocol):
    """The PCI configuration space as the firmware reaches it.

    ``devfn`` is ``slot << 3 | function``; ``size`` is 1, 2 or 4 bytes.  A
    read of an absent function must return all ones (the bus master abort
    value QEMU returns, hw/pci/pci_host.c ``pci_data_read``).
    """

    def cfg_read(self, bus: int, devfn: int, offset: int, size: int) -> int: ...

    def cfg_write(self, bus: int, devfn: int, offset: int, value: int, size: int) -> None: ...


@dataclass
class FirmwarePlatform:
    """What SeaBIOS learns before ``pci_setup()``, and from where.

    * ``machine``: ``"pc"`` or ``"q35"``. SeaBIOS itself tells them apart by
      the host bridge's device id (8086:1237 / 8086:29c0, ``qemu_detect()``
      and ``pci_platform_tbl``); the model does the same through config
      reads and only cross-checks this field.
    * ``ram_size`` (``RamSize``): end of the highest RAM entry below 4 GiB of
      fw_cfg ``etc/e820`` (paravirt.c ``qemu_early_e820()``).
    * ``ram_size_over_4g`` (``RamSizeOver4G``): end of the highest RAM entry
      above 4 GiB minus 4 GiB (same function).
    * ``e820_reserved``: (start, size) of the reserved entries QEMU puts in
      ``etc/e820`` (e.g. the AMD HyperTransport hole 0xfd00000000, 12 GiB,
      for AMD vCPUs with phys-bits >= 40).
    * ``reserved_memory_end``: fw_cfg ``etc/reserved-memory-end`` (present
      only with ``-m ...,maxmem=``), else ``None``.
    * ``cpu_vendor``: CPUID leaf 0 vendor string (under KVM QEMU copies the
      host's into every CPU model).
    * ``phys_bits``: CPUID 0x80000008 EAX[7:0] as QEMU reports it (qemu64
      default 40).
    * ``long_mode``: CPUID 0x80000001 EDX bit 29; ``pae``: CPUID 1 EDX bit 6.
    * ``pci64_option``: fw_cfg ``opt/org.seabios/pci64`` (1.17.0 reads it;
      QEMU never sets it on its own), ``None`` when absent.
    * ``version``: the SeaBIOS release (one of :data:`VERSIONS`).
    * ``acpi_pm_base``: 0x600 when fw_cfg has ``etc/table-loader`` (every
      modern QEMU; paravirt.c ``qemu_cfg_init()``), else 0xb000.
    * ``extra_pci_roots``: fw_cfg ``etc/extra-pci-roots`` (pxb root buses).
    * ``option_rom_end`` (``RomEnd``, src/malloc.c ``rom_get_last()``): end of
      the last option ROM deployed at 0xc0000.  The default 0xc2800 is a
      ``-nodefaults`` guest with only QEMU's kvmvapic.bin (real log: "Space
      available for UMB: c2800-e8000").  It changes the final PAM state
      only when the build has CONFIG_WRITABLE_UPPERMEMORY.
    * ``rom_max`` (``rom_get_max()``): top of the option-ROM area, or None
      (the default) to have :class:`LowMemory` compute it from the build
      and the allocations POST makes in the low-memory zone (kvmclock, the
      SeaVGABIOS stack, the AHCI bounce buffer); a number overrides it.
    * ``kvmclock``: SeaBIOS runs under KVM with the kvmclock CPUID feature
      (QEMU's default with ``-accel kvm``), so ``kvmclock_init()`` allocates
      its 32 bytes of low memory.
    * ``unmodelled_drives``: the command line's drives whose SeaBIOS drivers
      allocate low memory the model does not size (shown in a note).
    * ``writable_uppermemory``: CONFIG_WRITABLE_UPPERMEMORY (Kconfig default
      n; the Debian build has it off: a real run left 0xc0000-0xe7fff
      read-only although the only ROM ended at 0xc2800).
    """

    machine: str
    ram_size: int
    ram_size_over_4g: int = 0
    e820_reserved: list[tuple[int, int]] = field(default_factory=list)
    reserved_memory_end: int | None = None
    cpu_vendor: str = "AuthenticAMD"
    phys_bits: int = 40
    long_mode: bool = True
    pci64_option: bool | None = None
    version: str = "1.16.2"
    pae: bool = True
    acpi_pm_base: int = 0x600
    extra_pci_roots: int = 0
    option_rom_end: int = 0xc2800
    rom_max: int | None = None
    writable_uppermemory: bool = False
    kvmclock: bool = True
    unmodelled_drives: tuple = ()


# ============================================================================
# Results
# ============================================================================

def _bdf_text(bdf: int) -> str:
    # %pP in SeaBIOS src/output.c put_pci_device(): bus:dev.fn as 02x:02x.x
    return fmt_bdf(bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7)


@dataclass(frozen=True)
class ProbedDevice:
    """One entry of SeaBIOS's device list (``struct pci_device``), in scan order."""

    bdf: int
    vendor: int
    device: int
    class_code: int          # base class << 8 | subclass (SeaBIOS ``pci->class``)
    prog_if: int
    revision: int
    header_type: int
    secondary_bus: int | None
    parent: int | None       # bdf of the bridge above it, None on a root bus
    rootbus: int

    @property
    def name(self) -> str:
        return _bdf_text(self.bdf)

    @property
    def is_bridge(self) -> bool:
        return self.class_code == PCI_CLASS_BRIDGE_PCI


@dataclass(frozen=True)
class BusNumbers:
    """Bus numbers SeaBIOS programmed into one PCI-PCI bridge."""

    bdf: int
    primary: int
    secondary: int
    subordinate: int

    @property
    def name(self) -> str:
        return _bdf_text(self.bdf)


@dataclass(frozen=True)
class SizedBar:
    """A BAR found by sizing (``pci_bios_get_bar``).

    ``bar`` is 0-5, or 6 for the expansion ROM.  ``bar_size`` is the BAR's
    own size; ``size`` is the slot SeaBIOS reserves (memory BARs below 4 KiB
    rounded up to 4 KiB).  ``type`` is ``io``, ``mem`` or ``prefmem``.
    """

    bdf: int
    bar: int
    bar_size: int
    size: int
    type: str
    is64: bool

    @property
    def name(self) -> str:
        return _bdf_text(self.bdf)


@dataclass(frozen=True)
class BridgeWindow:
    """A bridge window as pass 1 sized it (an entry with ``bar == -1``)."""

    bdf: int
    secondary_bus: int
    type: str
    size: int
    align: int
    is64: bool
    hotplug: str | None       # "pcie", "shpc" or None
    reserve: int | None       # size asked for by the QEMU resource-reserve capability

    @property
    def name(self) -> str:
        return _bdf_text(self.bdf)


@dataclass(frozen=True)
class Placement:
    """One entry laid out by ``pci_region_map_entries``, in mapping order.

    ``bar`` -1 is a bridge window.  ``window`` names the list it came from:
    ``io``, ``mem``, ``prefmem`` (of bus ``bus``), or ``mem64`` /
    ``prefmem64`` (the two lists moved above 4 GiB).
    """

    bdf: int
    bar: int
    addr: int
    size: int
    type: str
    is64: bool
    window: str
    bus: int

    @property
    def name(self) -> str:
        return _bdf_text(self.bdf)

    @property
    def log_line(self) -> str | None:
        """The "PCI: map device" debug line (device BARs only)."""
        if self.bar < 0:
            return None
        return (f"PCI: map device bdf={self.name}  bar {self.bar}, "
                f"addr {self.addr:08x}, size {self.size:08x} [{self.type}]")


@dataclass
class RootWindows:
    """Where the root-bus lists went (``pci_bios_map_devices``)."""

    io_base: int = 0
    io_size: int = 0
    pcimem_start: int = 0
    pcimem_end: int = BUILD_PCIMEM_END
    mem_base: int = 0
    mem_size: int = 0
    prefmem_base: int = 0
    prefmem_size: int = 0
    #: which 32-bit list sits directly below pcimem_end: "prefmem" unless the
    #: mem list needs less alignment than the prefmem list, then "mem"
    top: str = "prefmem"
    first_pass_failed: bool = False
    mem64_used: bool = False
    mem64_start: int = 0          # pcimem64_start (0: window dropped)
    mem64_end: int = 0            # pcimem64_end
    mem64_mem_base: int = 0       # r64_mem.base
    mem64_pref_base: int = 0      # r64_pref.base
    mem64_mem_size: int = 0
    mem64_pref_size: int = 0


@dataclass(frozen=True)
class ConfigAccessRecord:
    """One config-space access: ``mechanism`` is ``cf8`` or ``ecam``."""

    op: str            # "r" or "w"
    mechanism: str
    bus: int
    devfn: int
    offset: int
    size: int
    value: int


@dataclass
class FirmwareResult:
    """Everything the model's SeaBIOS run decided, for teaching and tests."""

    version: str
    machine: str
    host_bridge: tuple[int, int]
    cpu_phys_bits: int                 # CPUPhysBits (0: unknown / not trusted)
    mem64_top: int                     # pci_mem64_top
    pad_mem64: bool                    # pci_pad_mem64
    pcimem_start: int = 0
    pci_io_low_end: int = 0xa000
    max_pci_bus: int = 0
    bus_numbers: list[BusNumbers] = field(default_factory=list)
    devices: list[ProbedDevice] = field(default_factory=list)
    bars: list[SizedBar] = field(default_factory=list)
    bridge_windows: list[BridgeWindow] = field(default_factory=list)
    root: RootWindows = field(default_factory=RootWindows)
    placements: list[Placement] = field(default_factory=list)
    #: BAR values a chipset hook wrote over the allocator's choice:
    #: (bdf, bar) -> address (e.g. ICH9 SMBus BAR4 -> 0x700)
    bar_overrides: dict[tuple[int, int], int] = field(default_factory=dict)
    irq_lines: dict[int, int] = field(default_factory=dict)
    commands: dict[int, int] = field(default_factory=dict)
    bridge_controls: dict[int, int] = field(default_factory=dict)
    vga: int | None = None
    mmconfig_base: int | None = None
    pam_register: int = 0
    pam_after_writable: list[int] = field(default_factory=list)
    pam_final: list[int] = field(default_factory=list)
    #: "Space available for UMB: START-END" (src/malloc.c malloc_prepboot):
    #: RomEnd and rom_get_max() at the end of POST
    umb: tuple[int, int] | None = None
    #: ZoneLow allocations, in the order POST made them
    low_allocations: list[LowAllocation] = field(default_factory=list)
    e820: list[tuple[int, int, str]] = field(default_factory=list)
    port_writes: list[tuple[int, int]] = field(default_factory=list)
    config_reads: int = 0
    config_writes: int = 0
    accesses: list[ConfigAccessRecord] | None = None
    log: list[str] = field(default_factory=list)

    def placement(self, bdf: str, bar: int) -> Placement:
        """The placement of ``bar`` of device ``bdf`` ("bb:dd.f")."""
        for p in self.placements:
            if p.name == bdf and p.bar == bar:
                return p
        raise KeyError(f"no placement for {bdf} bar {bar}")

    def address(self, bdf: str, bar: int) -> int:
        """Final programmed address of a device BAR, hooks included."""
        p = self.placement(bdf, bar)
        return self.bar_overrides.get((p.bdf, bar), p.addr)

    def window(self, bdf: str, type_: str) -> Placement:
        """The placement of a bridge's ``io``/``mem``/``prefmem`` window."""
        for p in self.placements:
            if p.name == bdf and p.bar == -1 and p.type == type_:
                return p
        raise KeyError(f"no {type_} window for bridge {bdf}")

    def bar_records(self) -> dict[str, list[BarRecord]]:
        """Final BARs per device as ``records.BarRecord`` (ROM is bar 6)."""
        where = {(p.bdf, p.bar): p.addr for p in self.placements if p.bar >= 0}
        where.update(self.bar_overrides)
        out: dict[str, list[BarRecord]] = {}
        for b in self.bars:
            if b.type == "io":
                kind = "io"
            else:
                kind = "mem64" if b.is64 else "mem32"
            out.setdefault(b.name, []).append(BarRecord(
                bar=b.bar, type=kind, prefetch=b.type == "prefmem",
                address=where.get((b.bdf, b.bar)), size=b.bar_size))
        return out

    def pam_segments(self) -> list[tuple[int, int, int]]:
        """Final PAM state as (start, size, attribute) per segment."""
        return pam_segments(self.pam_final)


# ============================================================================
# Small rules usable on their own
# ============================================================================

def _version_key(version: str) -> tuple[int, int, int]:
    if version not in VERSIONS:
        raise ConfigError(f"SeaBIOS version {version!r} is not modelled; "
                          f"supported: {', '.join(VERSIONS)}")
    a, b, c = version.split(".")
    return int(a), int(b), int(c)


def cpu_phys_bits(platform: FirmwarePlatform) -> tuple[int, bool]:
    """(CPUPhysBits, valid) as ``physbits(qemu_quirk=1)`` sets them.

    SeaBIOS src/fw/paravirt.c ``physbits()`` (added in 1.16.3).  QEMU long
    reported 40 bits whatever the host had, so CPUID 0x80000008 is believed
    only if it is >= 41, or 36/39 on a "GenuineIntel" CPU, or 40 on an
    "AuthenticAMD" CPU.  Without PAE + long mode the width is not read at
    all: 36 with PAE, 32 without, both taken as valid.  An untrusted width
    leaves CPUPhysBits at 0.  Version 1.16.2 has no such variable: 0.
    """
    if _version_key(platform.version) < (1, 16, 3):
        return 0, False
    if platform.pae and platform.long_mode:
        bits = platform.phys_bits & 0xff          # (u8)eax
        if bits >= 41:
            valid = True
        elif platform.cpu_vendor == "GenuineIntel":
            valid = bits in (36, 39)
        elif platform.cpu_vendor == "AuthenticAMD":
            valid = bits == 40
        else:
            valid = False
    else:
        bits = 36 if platform.pae else 32
        valid = True
    return (bits if valid else 0), valid


def mem64_limits(platform: FirmwarePlatform) -> tuple[int, bool]:
    """(pci_mem64_top, pci_pad_mem64) as the start of ``pci_setup()`` sets them.

    SeaBIOS src/fw/pciinit.c ``pci_setup()``:

    * 1.16.2: neither exists (top 0, no pad).
    * 1.16.3: top = 2^CPUPhysBits, capped at 2^46 above 46 bits; pad when
      CPUPhysBits >= 36, long mode and RAM above 4 GiB.
    * 1.17.0: top = 2^CPUPhysBits, capped at 2^44 above 44 bits unless
      RamSizeOver4G >= 1 TiB; pad = fw_cfg ``opt/org.seabios/pci64`` if given,
      else "RAM above 4 GiB", and forced off without long mode.
    """
    v = _version_key(platform.version)
    if v < (1, 16, 3):
        return 0, False
    bits, _ = cpu_phys_bits(platform)
    top = 0
    if bits:
        top = 1 << bits
        if v >= (1, 17, 0):
            if bits > 44 and platform.ram_size_over_4g < (1 << 40):
                top = 1 << 44
        elif bits > 46:
            top = 1 << 46
    if v >= (1, 17, 0):
        if platform.pci64_option is not None:
            pad = bool(platform.pci64_option)
        else:
            pad = platform.ram_size_over_4g > 0
        if not platform.long_mode:
            pad = False
    else:
        pad = bits >= 36 and platform.long_mode and platform.ram_size_over_4g > 0
    return top, pad


def pam_segments(pam: list[int]) -> list[tuple[int, int, int]]:
    """Split 7 PAM register values into QEMU's 13 segments.

    QEMU hw/pci-host/pam.c ``pam_update()``: segment 0 (0xf0000, 64 KiB) is
    the high nibble of PAM0; segments 1-12 (16 KiB each from 0xc0000) take
    the low then the high nibble of PAM1..PAM6.  Attribute bits: 1 read
    enable, 2 write enable (see :data:`PAM_ATTR_NAMES`).
    """
    if len(pam) != 7:
        raise ConfigError(f"PAM state needs 7 register values, got {len(pam)}")
    segs = []
    for i in range(12):
        reg = pam[1 + i // 2]
        attr = (reg >> (4 * (i & 1))) & 3
        segs.append((BUILD_ROM_START + i * 0x4000, 0x4000, attr))
    segs.append((BUILD_BIOS_ADDR, 0x10000, (pam[0] >> 4) & 3))
    return segs


def _align(x: int, a: int) -> int:
    # ALIGN(x, a) in SeaBIOS src/types.h, on a u64
    return ((x + a - 1) & ~(a - 1)) & _U64


def _align_down(x: int, a: int) -> int:
    # ALIGN_DOWN(x, a), on a u64
    return (x & ~(a - 1)) & _U64


# ============================================================================
# The run
# ============================================================================

class _Dev:
    """SeaBIOS ``struct pci_device`` (src/hw/pcidevice.h)."""

    __slots__ = ("bdf", "rootbus", "parent", "vendor", "device", "cls",
                 "prog_if", "revision", "header_type", "secondary_bus")

    def __init__(self, bdf: int):
        self.bdf = bdf
        self.rootbus = 0
        self.parent: _Dev | None = None
        self.vendor = self.device = self.cls = 0
        self.prog_if = self.revision = self.header_type = 0
        self.secondary_bus = 0


class _Entry:
    """``struct pci_region_entry``: one BAR or one bridge window (bar -1)."""

    __slots__ = ("dev", "bar", "size", "align", "is64", "type")

    def __init__(self, dev, bar, size, align, type_, is64):
        self.dev, self.bar, self.size, self.align = dev, bar, size, align
        self.type, self.is64 = type_, is64


class _Region:
    """``struct pci_region``: a base and a sorted list of entries."""

    def __init__(self):
        self.base = 0
        self.entries: list[_Entry] = []

    def align(self) -> int:
        # pci_region_align(): the first entry has the largest alignment; 1 if empty
        return self.entries[0].align if self.entries else 1

    def sum(self) -> int:
        # pci_region_sum()
        return sum(e.size for e in self.entries)


class _Bus:
    """``struct pci_bus``: io/mem/prefmem lists and the bridge above them."""

    def __init__(self):
        self.r = [_Region(), _Region(), _Region()]
        self.bus_dev: _Dev | None = None


class _SeaBIOS:
    """One POST's worth of SeaBIOS state; methods are named after its functions."""

    def __init__(self, cfg: ConfigAccess, platform: FirmwarePlatform,
                 log: list | None, trace: bool):
        self.cfg = cfg
        self.p = platform
        self.v = _version_key(platform.version)
        self.log = log if log is not None else []
        self.mmconfig: int | None = None     # pci.c: set by pci_enable_mmconfig()
        self.devices: list[_Dev] = []        # PCIDevices, in scan order
        self.max_bus = 0                     # MaxPCIBus
        self.pcimem_start = BUILD_PCIMEM_START
        self.pcimem_end = BUILD_PCIMEM_END
        self.pci_io_low_end = 0xa000
        self.slot_get_irq = self._dummy_pci_slot_get_irq
        self.shadow_bdf = -1
        self._last_written = 0
        self.lowmem = LowMemory(platform.version)
        top, pad = mem64_limits(platform)
        bits, _ = cpu_phys_bits(platform)
        self.mem64_top, self.pad_mem64 = top, pad
        self.res = FirmwareResult(
            version=platform.version, machine=platform.machine, host_bridge=(0, 0),
            cpu_phys_bits=bits, mem64_top=top, pad_mem64=pad,
            accesses=[] if trace else None, log=self.log)
        # e820 as qemu_preinit() left it (qemu_early_e820 + the BIOS area)
        e = self.res.e820
        e.append((0, platform.ram_size, "RAM"))
        if platform.ram_size_over_4g:
            e.append((1 << 32, platform.ram_size_over_4g, "RAM"))
        for start, size in platform.e820_reserved:
            e.append((start, size, "RESERVED"))
        e.append((0xfffc0000, 256 * 1024, "RESERVED"))

    # --- debug output (src/output.c dprintf at level 1) ------------------------
    def dprintf(self, text: str) -> None:
        self.log.append(text)

    # --- config accessors (src/hw/pci.c) ---------------------------------------
    def _mech(self, io_only: bool) -> str:
        # pci_config_*: ECAM once pci_enable_mmconfig() set a base, else CF8;
        # pci_ioconfig_* always use ports 0xcf8/0xcfc.
        return "cf8" if io_only or self.mmconfig is None else "ecam"

    def read(self, bdf: int, off: int, size: int, io_only: bool = False) -> int:
        bus, devfn = bdf >> 8, bdf & 0xff
        val = self.cfg.cfg_read(bus, devfn, off, size) & ((1 << (8 * size)) - 1)
        self.res.config_reads += 1
        if self.res.accesses is not None:
            self.res.accesses.append(ConfigAccessRecord(
                "r", self._mech(io_only), bus, devfn, off, size, val))
        return val

    def write(self, bdf: int, off: int, val: int, size: int, io_only: bool = False) -> None:
        bus, devfn = bdf >> 8, bdf & 0xff
        # the C helpers take u8/u16/u32 arguments: the value is truncated
        val &= (1 << (8 * size)) - 1
        self._last_written = val          # what maskw() just wrote, for the result
        self.cfg.cfg_write(bus, devfn, off, val, size)
        self.res.config_writes += 1
        if self.res.accesses is not None:
            self.res.accesses.append(ConfigAccessRecord(
                "w", self._mech(io_only), bus, devfn, off, size, val))

    def readb(self, bdf, off, io_only=False):
        return self.read(bdf, off, 1, io_only)

    def readw(self, bdf, off, io_only=False):
        return self.read(bdf, off, 2, io_only)

    def readl(self, bdf, off, io_only=False):
        return self.read(bdf, off, 4, io_only)

    def writeb(self, bdf, off, val, io_only=False):
        self.write(bdf, off, val, 1, io_only)

    def writew(self, bdf, off, val, io_only=False):
        self.write(bdf, off, val, 2, io_only)

    def writel(self, bdf, off, val, io_only=False):
        self.write(bdf, off, val, 4, io_only)

    def maskw(self, bdf: int, off: int, clear: int, set_: int) -> None:
        """pci.c ``pci_config_maskw``: read a word, clear and set bits, write it."""
        val = self.readw(bdf, off)
        self.writew(bdf, off, (val & ~clear) | set_)

    def pci_next(self, bdf: int, bus: int, io_only: bool = False) -> int:
        """pci.c ``pci_next()``: the next present function on ``bus`` after ``bdf``.

        After function 0 of a device whose header type lacks the
        multi-function bit (0x80) the other seven functions are skipped.  A
        function exists if its vendor id is neither 0x0000 nor 0xffff.
        """
        if (bdf & 7) == 0 and (self.readb(bdf, PCI_HEADER_TYPE, io_only) & 0x80) == 0:
            bdf += 8
        else:
            bdf += 1
        while True:
            if ((bdf & 0xffff) >> 8) != bus:
                return -1
            v = self.readw(bdf, PCI_VENDOR_ID, io_only)
            if v not in (0x0000, 0xffff):
                return bdf
            bdf += 8 if (bdf & 7) == 0 else 1

    def foreachbdf(self, bus: int, io_only: bool = False):
        """pci.h ``foreachbdf``: start from bdf (bus << 8) - 1, i.e. function 7
        of the bus before, so the first step reads no header type."""
        bdf = self.pci_next((bus << 8) - 1, bus, io_only)
        while bdf >= 0:
            yield bdf
            bdf = self.pci_next(bdf, bus, io_only)

    def pci_find_capability(self, bdf: int, cap_id: int, cap: int = 0) -> int:
        """pci.c ``pci_find_capability()``: walk the list (status bit 4, pointer 0x34)."""
        status = self.readw(bdf, PCI_STATUS)
        if not status & PCI_STATUS_CAP_LIST:
            return 0
        if cap == 0:
            cap = self.readb(bdf, PCI_CAPABILITY_LIST)
        else:
            cap = self.readb(bdf, cap + PCI_CAP_LIST_NEXT)
        i = 0
        while cap and i <= 0xff:
            if self.readb(bdf, cap + PCI_CAP_LIST_ID) == cap_id:
                return cap
            cap = self.readb(bdf, cap + PCI_CAP_LIST_NEXT)
            i += 1
        return 0

    # --- early POST -------------------------------------------------------------
    def make_bios_writable(self) -> None:
        """shadow.c ``make_bios_writable()`` (from ``handle_post()``).

        Finds the host bridge on bus 0 with CF8 accesses, then
        ``__make_bios_writable_intel``: reads the two dwords holding the
        seven PAM bytes, sets PAM1-6 to 0x33 (0xc0000-0xeffff read/write RAM)
        and PAM0 to 0x30 (0xf0000-0xfffff read/write RAM), writes both dwords.
        """
        for bdf in self.foreachbdf(0, io_only=True):
            vendev = self.readl(bdf, PCI_VENDOR_ID, io_only=True)
            vendor, device = vendev & 0xffff, vendev >> 16
            if vendor == PCI_VENDOR_ID_INTEL and device == PCI_DEVICE_ID_INTEL_82441:
                pam0 = I440FX_PAM0
            elif vendor == PCI_VENDOR_ID_INTEL and device == PCI_DEVICE_ID_INTEL_Q35_MCH:
                pam0 = Q35_HOST_BRIDGE_PAM0
            else:
                continue
            # make_bios_writable_intel(): a first look at PAM0 decides where the
            # copy routine runs from (flash or RAM); the registers written are the same
            self.readb(bdf, pam0, io_only=True)
            data = self._read_pam(bdf, pam0, io_only=True)
            for i in range(6):
                data[(pam0 & 3) + 1 + i] = 0x33
            data[pam0 & 3] = 0x30
            self._write_pam(bdf, pam0, data, io_only=True)
            self.shadow_bdf = bdf
            self.res.pam_register = pam0
            self.res.pam_after_writable = list(data[(pam0 & 3):(pam0 & 3) + 7])
            return
        self.dprintf("Unable to unlock ram - bridge not found")

    def _read_pam(self, bdf, pam0, io_only=False) -> list[int]:
        # union pamdata_u: two dwords from ALIGN_DOWN(pam0, 4)
        base = pam0 & ~3
        lo = self.readl(bdf, base, io_only)
        hi = self.readl(bdf, base + 4, io_only)
        return [(lo >> (8 * i)) & 0xff for i in range(4)] + \
               [(hi >> (8 * i)) & 0xff for i in range(4)]

    def _write_pam(self, bdf, pam0, data, io_only=False) -> None:
        base = pam0 & ~3
        lo = sum(b << (8 * i) for i, b in enumerate(data[:4]))
        hi = sum(b << (8 * i) for i, b in enumerate(data[4:]))
        self.writel(bdf, base, lo, io_only)
        self.writel(bdf, base + 4, hi, io_only)

    def qemu_detect(self) -> None:
        """paravirt.c ``qemu_detect()``: identify the machine by 00:00.0.

        QEMU's devices carry subsystem 1af4:1100; the host bridge device id
        names the chipset.  From 1.16.3 on it ends with ``physbits(1)``.
        """
        v = self.readw(0, PCI_VENDOR_ID)
        if v in (0x0000, 0xffff):
            raise FirmwareError("no host bridge at 00:00.0 (vendor id reads "
                                f"{v:#06x})")
        d = self.readw(0, PCI_DEVICE_ID)
        sv = self.readw(0, PCI_SUBSYSTEM_VENDOR_ID)
        sd = self.readw(0, PCI_SUBSYSTEM_ID)
        self.res.host_bridge = (v, d)
        if sv == 0x1af4 and sd == 0x1100:
            if d == PCI_DEVICE_ID_INTEL_82441:
                self.dprintf("Running on QEMU (i440fx)")
            elif d == PCI_DEVICE_ID_INTEL_Q35_MCH:
                self.dprintf("Running on QEMU (q35)")
            else:
                self.dprintf(f"Running on QEMU (unknown nb: {v:04x}:{d:04x})")
        found = {PCI_DEVICE_ID_INTEL_82441: "pc", PCI_DEVICE_ID_INTEL_Q35_MCH: "q35"}.get(
            d if v == PCI_VENDOR_ID_INTEL else -1)
        if found != self.p.machine:
            raise ConfigError(
                f"FirmwarePlatform.machine is {self.p.machine!r} but the host bridge "
                f"at 00:00.0 is {v:04x}:{d:04x} ("
                + (f"a {found} machine" if found else "not i440fx/q35") + ")")
        if self.v >= (1, 16, 3):
            bits, valid = cpu_phys_bits(self.p)
            lm = self.p.long_mode
            shown = self.p.phys_bits if (self.p.pae and lm) else (36 if self.p.pae else 32)
            self.dprintf(f'physbits: signature="{self.p.cpu_vendor}", '
                         f'pae={"yes" if self.p.pae else "no"}, lm={"yes" if lm else "no"}, '
                         f'phys-bits={shown}, valid={"yes" if valid else "no"}')

    # --- bus numbering (pciinit.c) ----------------------------------------------
    def pci_find_resource_reserve_capability(self, bdf: int) -> int:
        """pciinit.c: the Red Hat vendor capability of QEMU's 1b36:000c / 1b36:0001."""
        if self.readw(bdf, PCI_VENDOR_ID) != PCI_VENDOR_ID_REDHAT:
            return 0                       # dprintf(3): not printed at level 1
        device_id = self.readw(bdf, PCI_DEVICE_ID)
        if device_id not in (PCI_DEVICE_ID_REDHAT_ROOT_PORT, PCI_DEVICE_ID_REDHAT_BRIDGE):
            self.dprintf("PCI: QEMU resource reserve cap device ID doesn't match.")
            return 0
        cap = 0
        while True:
            cap = self.pci_find_capability(bdf, PCI_CAP_ID_VNDR, cap)
            if not cap or self.readb(bdf, cap + PCI_CAP_REDHAT_TYPE_OFFSET) \
                    == REDHAT_CAP_RESOURCE_RESERVE:
                break
        if cap:
            cap_len = self.readb(bdf, cap + PCI_CAP_FLAGS)
            if cap_len < RES_RESERVE_CAP_SIZE:
                self.dprintf(f"PCI: QEMU resource reserve cap length {cap_len} is invalid")
                return 0
        else:
            self.dprintf("PCI: QEMU resource reserve cap not found")
        return cap

    def pci_bios_init_bus_rec(self, bus: int, counter: list[int]) -> None:
        """pciinit.c ``pci_bios_init_bus_rec()``: depth-first bus numbering.

        First every bridge on ``bus`` gets secondary 255 / subordinate 0 so
        nothing below it answers by accident; then, bridge by bridge in devfn
        order: primary = bus, secondary = next number, subordinate = 255
        while the subtree is numbered, then the last number used (or more,
        if the QEMU reserve capability asks for spare buses).
        """
        self.dprintf(f"PCI: pci_bios_init_bus_rec bus = 0x{bus:x}")
        for bdf in self.foreachbdf(bus):
            if self.readw(bdf, PCI_CLASS_DEVICE) == PCI_CLASS_BRIDGE_PCI:
                self.writeb(bdf, PCI_SECONDARY_BUS, 255)
                self.writeb(bdf, PCI_SUBORDINATE_BUS, 0)
        for bdf in self.foreachbdf(bus):
            if self.readw(bdf, PCI_CLASS_DEVICE) != PCI_CLASS_BRIDGE_PCI:
                continue
            self.dprintf(f"PCI: pci_bios_init_bus_rec bdf = 0x{bdf:x}")
            pribus = self.readb(bdf, PCI_PRIMARY_BUS)
            if pribus != bus:
                self.dprintf(f"PCI: primary bus = 0x{pribus:x} -> 0x{bus:x}")
                self.writeb(bdf, PCI_PRIMARY_BUS, bus)
            else:
                self.dprintf(f"PCI: primary bus = 0x{pribus:x}")
            secbus = self.readb(bdf, PCI_SECONDARY_BUS)
            counter[0] = (counter[0] + 1) & 0xff          # (*pci_bus)++ on a u8
            if counter[0] != secbus:
                self.dprintf(f"PCI: secondary bus = 0x{secbus:x} -> 0x{counter[0]:x}")
                secbus = counter[0]
                self.writeb(bdf, PCI_SECONDARY_BUS, secbus)
            else:
                self.dprintf(f"PCI: secondary bus = 0x{secbus:x}")
            subbus = self.readb(bdf, PCI_SUBORDINATE_BUS)
            self.writeb(bdf, PCI_SUBORDINATE_BUS, 255)
            self.pci_bios_init_bus_rec(secbus, counter)
            if subbus != counter[0]:
                res_bus = counter[0]
                cap = self.pci_find_resource_reserve_capability(bdf)
                if cap:
                    tmp = self.readl(bdf, cap + RES_RESERVE_BUS_RES)
                    if tmp != 0xffffffff:
                        res_bus = tmp & 0xff
                        # u8 overflow check as in the source
                        if ((res_bus + secbus) & 0xff) < secbus or \
                                ((res_bus + secbus) & 0xff) < res_bus:
                            self.dprintf(f"PCI: bus_reserve value {res_bus} is invalid")
                            res_bus = 0
                        if secbus + res_bus > counter[0]:
                            self.dprintf(f"PCI: QEMU resource reserve cap: bus = {res_bus}")
                            res_bus = (secbus + res_bus) & 0xff
                        # note: a reservation that does not exceed the buses
                        # already used leaves res_bus at the raw value, as in the source
                self.dprintf(f"PCI: subordinate bus = 0x{subbus:x} -> 0x{res_bus:x}")
                subbus = res_bus
                counter[0] = res_bus
            else:
                self.dprintf(f"PCI: subordinate bus = 0x{subbus:x}")
            self.writeb(bdf, PCI_SUBORDINATE_BUS, subbus)
            self.res.bus_numbers.append(BusNumbers(bdf, bus, secbus, subbus))

    def pci_bios_init_bus(self) -> None:
        """pciinit.c ``pci_bios_init_bus()``: bus 0, then (with extra roots)
        every following bus number as a possible root."""
        counter = [0]
        self.pci_bios_init_bus_rec(0, counter)
        if self.p.extra_pci_roots & 0xff:
            while counter[0] < 0xff:
                counter[0] += 1
                self.pci_bios_init_bus_rec(counter[0], counter)

    # --- device list (src/hw/pcidevice.c) ----------------------------------------
    def pci_probe_devices(self) -> None:
        """pcidevice.c ``pci_probe_devices()``: bus-major scan order.

        Buses 0, 1, 2, ... while below MaxPCIBus (or while extra root buses
        remain); on each bus devfn ascending.  A bridge's secondary bus
        (already numbered) names the parent of devices found there.
        """
        busdevs: dict[int, _Dev] = {}
        extraroots = self.p.extra_pci_roots
        bus, lastbus, rootbuses, count = -1, 0, 0, 0
        while bus < 0xff and (bus < self.max_bus or rootbuses < extraroots):
            bus += 1
            for bdf in self.foreachbdf(bus):
                dev = _Dev(bdf)
                self.devices.append(dev)
                count += 1
                parent = busdevs.get(bus)
                if parent is None:
                    if bus != lastbus:
                        rootbuses += 1
                    lastbus = bus
                    dev.rootbus = rootbuses
                    if bus > self.max_bus:
                        self.max_bus = bus
                else:
                    dev.rootbus = parent.rootbus
                dev.parent = parent
                vendev = self.readl(bdf, PCI_VENDOR_ID)
                dev.vendor, dev.device = vendev & 0xffff, vendev >> 16
                classrev = self.readl(bdf, PCI_CLASS_REVISION)
                dev.cls = classrev >> 16
                dev.prog_if = (classrev >> 8) & 0xff
                dev.revision = classrev & 0xff
                dev.header_type = self.readb(bdf, PCI_HEADER_TYPE)
                kind = dev.header_type & 0x7f
                if kind in (PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS):
                    secbus = self.readb(bdf, PCI_SECONDARY_BUS)
                    dev.secondary_bus = secbus
                    if secbus > bus and secbus not in busdevs:
                        busdevs[secbus] = dev
                    if secbus > self.max_bus:
                        self.max_bus = secbus
        self.dprintf(f"Found {count} PCI devices (max PCI bus is {self.max_bus:02x})")
        for d in self.devices:
            is_br = d.header_type & 0x7f in (PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS)
            self.res.devices.append(ProbedDevice(
                bdf=d.bdf, vendor=d.vendor, device=d.device, class_code=d.cls,
                prog_if=d.prog_if, revision=d.revision, header_type=d.header_type,
                secondary_bus=d.secondary_bus if is_br else None,
                parent=d.parent.bdf if d.parent else None, rootbus=d.rootbus))
        self.res.max_pci_bus = self.max_bus

    # --- platform hook ----------------------------------------------------------
    def pci_bios_init_platform(self) -> None:
        """pciinit.c ``pci_bios_init_platform()`` over ``pci_platform_tbl``."""
        for dev in self.devices:
            if dev.vendor == PCI_VENDOR_ID_INTEL and dev.device == PCI_DEVICE_ID_INTEL_82441:
                self.i440fx_mem_addr_setup(dev)
            elif dev.vendor == PCI_VENDOR_ID_INTEL and dev.device == PCI_DEVICE_ID_INTEL_Q35_MCH:
                self.mch_mem_addr_setup(dev)

    def i440fx_mem_addr_setup(self, dev: _Dev) -> None:
        """pciinit.c ``i440fx_mem_addr_setup()``: the 32-bit window starts at
        2 GiB if RAM below 4 GiB ends at or below 2 GiB, at 3 GiB if it ends at
        or below 3 GiB, else right at the end of RAM; PIIX interrupt routing."""
        ram = self.p.ram_size
        if ram <= 0x80000000:
            self.pcimem_start = 0x80000000
        elif ram <= 0xc0000000:
            self.pcimem_start = 0xc0000000
        self.slot_get_irq = self._piix_pci_slot_get_irq

    def mch_mmconfig_setup(self, bdf: int) -> None:
        """pciinit.c ``mch_mmconfig_setup()``: PCIEXBAR (MCH 0x60, 64-bit).

        Low dword 0 (disable), high dword = base >> 32, low dword = base |
        enable (length field 0 = 256 MiB); then SeaBIOS's own config accesses
        switch to ECAM (pci.c ``pci_enable_mmconfig()``, bases below 4 GiB).
        """
        addr = Q35_HOST_BRIDGE_PCIEXBAR_ADDR
        self.writel(bdf, Q35_HOST_BRIDGE_PCIEXBAR, 0)
        self.writel(bdf, Q35_HOST_BRIDGE_PCIEXBAR + 4, addr >> 32)
        self.writel(bdf, Q35_HOST_BRIDGE_PCIEXBAR, (addr & 0xffffffff) | Q35_HOST_BRIDGE_PCIEXBAREN)
        if addr < (1 << 32):
            self.dprintf(f"PCIe: using q35 mmconfig at 0x{addr:x}")
            self.mmconfig = addr
            self.res.mmconfig_base = addr

    def mch_mem_addr_setup(self, dev: _Dev) -> None:
        """pciinit.c ``mch_mem_addr_setup()``: MMCONFIG at 0xb0000000 (256 MiB,
        e820-reserved), the 32-bit window just above it at 0xc0000000 whatever
        the RAM size, q35 interrupt routing, and the larger I/O window limit
        (0x10000 when the ACPI PM base is below 0x1000)."""
        self.mch_mmconfig_setup(dev.bdf)
        self.res.e820.append((Q35_HOST_BRIDGE_PCIEXBAR_ADDR, Q35_HOST_BRIDGE_PCIEXBAR_SIZE,
                              "RESERVED"))
        self.pcimem_start = Q35_HOST_BRIDGE_PCIEXBAR_ADDR + Q35_HOST_BRIDGE_PCIEXBAR_SIZE
        self.slot_get_irq = self._mch_pci_slot_get_irq
        self.pci_io_low_end = 0x10000 if self.p.acpi_pm_base < 0x1000 else self.p.acpi_pm_base

    # --- interrupt routing -------------------------------------------------------
    def _dummy_pci_slot_get_irq(self, dev: _Dev, pin: int) -> int:
        self.dprintf("pci_slot_get_irq called with unknown routing")
        return 0xff

    @staticmethod
    def _piix_pci_slot_get_irq(dev: _Dev, pin: int) -> int:
        """pciinit.c ``piix_pci_slot_get_irq()``: swizzle by the slot numbers of
        every bridge above, plus the root-bus slot minus one."""
        addend = 0
        while dev.parent is not None:
            addend += (dev.bdf >> 3) & 0x1f
            dev = dev.parent
        addend += ((dev.bdf >> 3) & 0x1f) - 1
        return PCI_IRQS[(pin - 1 + addend) & 3]

    @staticmethod
    def _mch_pci_slot_get_irq(dev: _Dev, pin: int) -> int:
        """pciinit.c ``mch_pci_slot_get_irq()``: slots 0-24 rotate by slot
        number, slots 25-31 all start at link A."""
        addend = 0
        while dev.parent is not None:
            addend += (dev.bdf >> 3) & 0x1f
            dev = dev.parent
        slot = (dev.bdf >> 3) & 0x1f
        if slot <= 24:
            return PCI_IRQS[(pin - 1 + addend + slot) & 3]
        return PCI_IRQS[(pin - 1 + addend) & 3]

    # --- pass 1: sizing ------------------------------------------------------------
    @staticmethod
    def pci_bar(dev: _Dev, region_num: int) -> int:
        """pciinit.c ``pci_bar()``: BARn at 0x10 + 4n; the ROM at 0x30, or 0x38
        on a bridge header."""
        if region_num != PCI_ROM_SLOT:
            return PCI_BASE_ADDRESS_0 + region_num * 4
        kind = dev.header_type & ~0x80
        return PCI_ROM_ADDRESS1 if kind == PCI_HEADER_TYPE_BRIDGE else PCI_ROM_ADDRESS

    def pci_bios_get_bar(self, dev: _Dev, bar: int) -> tuple[int, int, bool]:
        """pciinit.c ``pci_bios_get_bar()``: size one BAR, return (type, size, is64).

        Read the BAR, write all ones (the ROM: 0xfffff800, enable bit clear),
        read back, restore.  The type comes from the original low bits.  For
        a 64-bit BAR the high dword is sized the same way afterwards.  Size =
        two's complement of the read-back with the flag bits masked off.
        """
        ofs = self.pci_bar(dev, bar)
        old = self.readl(dev.bdf, ofs)
        is64 = False
        type_ = MEM
        if bar == PCI_ROM_SLOT:
            mask = PCI_ROM_ADDRESS_MASK
            self.writel(dev.bdf, ofs, mask)
        else:
            if old & PCI_BASE_ADDRESS_SPACE_IO:
                mask = PCI_BASE_ADDRESS_IO_MASK
                type_ = IO
            else:
                mask = PCI_BASE_ADDRESS_MEM_MASK
                if old & PCI_BASE_ADDRESS_MEM_PREFETCH:
                    type_ = PREFMEM
                is64 = (old & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64
            self.writel(dev.bdf, ofs, 0xffffffff)
        val = self.readl(dev.bdf, ofs)
        self.writel(dev.bdf, ofs, old)
        if is64:
            hold = self.readl(dev.bdf, ofs + 4)
            self.writel(dev.bdf, ofs + 4, 0xffffffff)
            high = self.readl(dev.bdf, ofs + 4)
            self.writel(dev.bdf, ofs + 4, hold)
            val |= high << 32
            mask |= 0xffffffff << 32
            size = ((~(val & mask)) + 1) & _U64
        else:
            size = ((~(val & mask)) + 1) & 0xffffffff
        return type_, size, is64

    @staticmethod
    def pci_region_create_entry(bus: _Bus, dev, bar, size, align, type_, is64) -> _Entry:
        """pciinit.c ``pci_region_create_entry()``: keep each list sorted by
        alignment, then size, both descending; a newcomer goes after every
        entry of equal (alignment, size), so ties keep scan order."""
        entry = _Entry(dev, bar, size, align, type_, is64)
        lst = bus.r[type_].entries
        pos = len(lst)
        for i, e in enumerate(lst):
            if e.align < align or (e.align == align and e.size < size):
                pos = i
                break
        lst.insert(pos, entry)
        return entry

    def pci_bus_hotplug_support(self, bus: _Bus, pcie_cap: int) -> int:
        """pciinit.c ``pci_bus_hotplug_support()``.

        A PCIe root or downstream port with "slot implemented" in its PCIe
        capability flags -> PCIe hotplug; a PCIe-to-PCI bridge or a
        conventional bridge with an SHPC capability -> SHPC hotplug.
        """
        bdf = bus.bus_dev.bdf
        if pcie_cap:
            flags = self.readw(bdf, pcie_cap + PCI_EXP_FLAGS)
            port_type = (flags & PCI_EXP_FLAGS_TYPE) >> 4
            if port_type != PCI_EXP_TYPE_PCI_BRIDGE:
                downstream = port_type in (PCI_EXP_TYPE_DOWNSTREAM, PCI_EXP_TYPE_ROOT_PORT)
                slot = flags & PCI_EXP_FLAGS_SLOT
                return HOTPLUG_PCIE if downstream and slot else HOTPLUG_NO_SUPPORTED
        shpc = self.pci_find_capability(bdf, PCI_CAP_ID_SHPC, 0)
        return HOTPLUG_SHPC if shpc else HOTPLUG_NO_SUPPORTED

    def pci_bridge_has_region(self, dev: _Dev, type_: int) -> bool:
        """pciinit.c ``pci_bridge_has_region()``: I/O and prefetchable windows
        are optional; write 0xff to the base register and see if anything
        sticks (this leaves the window closed).  Memory is mandatory."""
        if type_ == IO:
            base = PCI_IO_BASE
        elif type_ == PREFMEM:
            base = PCI_PREF_MEMORY_BASE
        else:
            return True
        self.writeb(dev.bdf, base, 0xff)
        return self.readb(dev.bdf, base) != 0

    def pci_bios_bridge_region_is64(self, region: _Region, dev: _Dev, type_: int) -> bool:
        """pciinit.c ``pci_bios_bridge_region_is64()``: only a prefetchable
        window can be 64-bit, if the bridge's range type says so (probing
        with 0xfff0fff0 when the register reads 0) and every entry below is
        64-bit (an empty list qualifies)."""
        if type_ != PREFMEM:
            return False
        pmem = self.readl(dev.bdf, PCI_PREF_MEMORY_BASE)
        if not pmem:
            self.writel(dev.bdf, PCI_PREF_MEMORY_BASE, 0xfff0fff0)
            pmem = self.readl(dev.bdf, PCI_PREF_MEMORY_BASE)
            self.writel(dev.bdf, PCI_PREF_MEMORY_BASE, 0)
        if (pmem & PCI_PREF_RANGE_TYPE_MASK) != PCI_PREF_RANGE_TYPE_64:
            return False
        return all(e.is64 for e in region.entries)

    def _qemu_reserve(self, bdf: int, cap: int, type_: int) -> int:
        # the QEMU resource-reserve request for one window type; all-ones fields
        # mean "no request" (src/fw/dev-pci.h)
        size = 0
        if type_ == IO:
            v = self.readl(bdf, cap + RES_RESERVE_IO) | (self.readl(bdf, cap + RES_RESERVE_IO + 4) << 32)
            if v != _U64:
                size = v
        elif type_ == MEM:
            v = self.readl(bdf, cap + RES_RESERVE_MEM)
            if v != 0xffffffff:
                size = v
        else:
            v32 = self.readl(bdf, cap + RES_RESERVE_PREF_MEM_32)
            v64 = self.readl(bdf, cap + RES_RESERVE_PREF_MEM_64) | \
                (self.readl(bdf, cap + RES_RESERVE_PREF_MEM_64 + 4) << 32)
            if v32 != 0xffffffff and v64 == _U64:
                size = v32
            elif v32 == 0xffffffff and v64 != _U64:
                size = v64
            elif v32 != 0xffffffff and v64 != _U64:
                self.dprintf("PCI: resource reserve cap PREF32 and PREF64 conflict")
        return size

    def pci_bios_check_devices(self, busses: list[_Bus]) -> None:
        """pciinit.c ``pci_bios_check_devices()`` (pass 1).

        Every device in scan order: size BARs 0-5 and the ROM (a bridge: only
        BARs 0-1 and its ROM), put each into the list of its bus (all root
        buses share ``busses[0]``).  Then, from the highest secondary bus
        down, turn each bridge's three lists into window entries on its
        parent bus.
        """
        self.dprintf("PCI: check devices")
        for dev in self.devices:
            if dev.cls == PCI_CLASS_BRIDGE_PCI:
                busses[dev.secondary_bus].bus_dev = dev
            bus = busses[dev.bdf >> 8]
            if bus.bus_dev is None:
                bus = busses[0]
            i = 0
            while i < PCI_NUM_REGIONS:
                if dev.cls == PCI_CLASS_BRIDGE_PCI and PCI_BRIDGE_NUM_REGIONS <= i < PCI_ROM_SLOT:
                    i += 1
                    continue
                type_, bar_size, is64 = self.pci_bios_get_bar(dev, i)
                if bar_size == 0:
                    i += 1
                    continue
                size = bar_size
                if type_ != IO and size < PCI_DEVICE_MEM_MIN:
                    size = PCI_DEVICE_MEM_MIN
                self.pci_region_create_entry(bus, dev, i, size, size, type_, is64)
                self.res.bars.append(SizedBar(dev.bdf, i, bar_size, size,
                                              REGION_TYPE_NAME[type_], is64))
                i += 2 if is64 else 1

        for secondary in range(self.max_bus, 0, -1):
            s = busses[secondary]
            if s.bus_dev is None:
                continue
            parent = busses[s.bus_dev.bdf >> 8]
            if parent.bus_dev is None:
                parent = busses[0]
            bdf = s.bus_dev.bdf
            pcie_cap = self.pci_find_capability(bdf, PCI_CAP_ID_EXP, 0)
            qemu_cap = self.pci_find_resource_reserve_capability(bdf)
            hotplug = self.pci_bus_hotplug_support(s, pcie_cap)
            for type_ in (IO, MEM, PREFMEM):
                align = PCI_BRIDGE_IO_MIN if type_ == IO else PCI_BRIDGE_MEM_MIN
                if not self.pci_bridge_has_region(s.bus_dev, type_):
                    continue
                size = self._qemu_reserve(bdf, qemu_cap, type_) if qemu_cap else 0
                reserve = size if qemu_cap and size else None
                if s.r[type_].align() > align:
                    align = s.r[type_].align()
                total = s.r[type_].sum()
                if self.v >= (1, 16, 3):
                    is64 = self.pci_bios_bridge_region_is64(s.r[type_], s.bus_dev, type_)
                # PCIe hotplug ports may leave their I/O window empty
                optional = hotplug == HOTPLUG_PCIE and bool(pcie_cap) and type_ == IO
                if self.v >= (1, 17, 0):
                    # 1.17.0: a hotplug port's 64-bit prefetchable window is
                    # aligned to at least 1/2048 of the address space (pad mode)
                    top_align = self.mem64_top >> 11
                    if hotplug and self.pad_mem64 and is64 and type_ == PREFMEM \
                            and top_align > align:
                        align = top_align
                elif self.v >= (1, 16, 3):
                    # 1.16.3: the same alignment is set unconditionally
                    if hotplug and self.pad_mem64 and is64 and type_ == PREFMEM:
                        align = self.mem64_top >> 11
                if self.v >= (1, 16, 3):
                    # reserve at least one alignment unit for hot-plugged devices
                    if align > total and hotplug and not optional:
                        total = align
                else:
                    # 1.16.2: only an empty hotplug window gets the minimum
                    if not total and hotplug and not optional:
                        total = align
                if size > total:
                    self.dprintf(f"PCI: QEMU resource reserve cap: size {size:08x} "
                                 f"type {REGION_TYPE_NAME[type_]}")
                    if type_ != IO:
                        size = _align(size, align)
                else:
                    size = _align(total, align)
                if self.v < (1, 16, 3):
                    is64 = self.pci_bios_bridge_region_is64(s.r[type_], s.bus_dev, type_)
                self.pci_region_create_entry(parent, s.bus_dev, -1, size, align, type_, is64)
                self.res.bridge_windows.append(BridgeWindow(
                    bdf, s.bus_dev.secondary_bus, REGION_TYPE_NAME[type_], size, align,
                    is64, _HOTPLUG_NAME[hotplug], reserve))
                self.dprintf(f"PCI: secondary bus {s.bus_dev.secondary_bus} size "
                             f"{size:08x} type {REGION_TYPE_NAME[type_]}")

    # --- pass 2: placement -------------------------------------------------------
    def pci_bios_init_root_regions_io(self, bus: _Bus) -> bool:
        """pciinit.c ``pci_bios_init_root_regions_io()``: the root I/O list goes
        at 0xc000 if it needs less than 0x4000 ports, else at 0x1000 if it fits
        below ``pci_io_low_end`` - 0x1000, else SeaBIOS gives up."""
        r = bus.r[IO]
        total = r.sum()
        if total < 0x4000:
            r.base = 0xc000
        elif total < self.pci_io_low_end - 0x1000:
            r.base = 0x1000
        else:
            return False
        self.res.root.io_base, self.res.root.io_size = r.base, total
        self.dprintf(f"PCI: IO: {r.base:4x} - {(r.base + total - 1) & _U64:4x}")
        return True

    def pci_bios_init_root_regions_mem(self, bus: _Bus) -> bool:
        """pciinit.c ``pci_bios_init_root_regions_mem()``: top-down from
        pcimem_end.  The prefetchable list sits on top unless the memory list
        needs less alignment, then they swap; each base is aligned down to
        its list's first alignment; success if the lower base stays inside
        [pcimem_start, pcimem_end]."""
        r_end, r_start = bus.r[PREFMEM], bus.r[MEM]
        top = "prefmem"
        if r_start.align() < r_end.align():
            r_end, r_start = r_start, r_end
            top = "mem"
        r_end.base = _align_down((self.pcimem_end - r_end.sum()) & _U64, r_end.align())
        r_start.base = _align_down((r_end.base - r_start.sum()) & _U64, r_start.align())
        root = self.res.root
        root.top = top
        root.mem_base, root.mem_size = bus.r[MEM].base, bus.r[MEM].sum()
        root.prefmem_base, root.prefmem_size = bus.r[PREFMEM].base, bus.r[PREFMEM].sum()
        return not (r_start.base < self.pcimem_start or r_start.base > self.pcimem_end)

    @staticmethod
    def pci_region_migrate_64bit_entries(src: _Region, dst: _Region) -> None:
        """pciinit.c ``pci_region_migrate_64bit_entries()``: move every 64-bit
        entry, in order, except those of USB controllers (class 0x0c03)."""
        keep = []
        for e in src.entries:
            if e.is64 and e.dev.cls != PCI_CLASS_SERIAL_USB:
                dst.entries.append(e)
            else:
                keep.append(e)
        src.entries = keep

    def e820_is_used(self, start: int, size: int) -> bool:
        """src/e820map.c ``e820_is_used()`` (1.16.3+): any e820 entry overlapping."""
        for s, n, _ in self.res.e820:
            if start + size <= s or start >= s + n:
                continue
            return True
        return False

    def pci_region_map_one_entry(self, entry: _Entry, addr: int, window: str, busnum: int) -> None:
        """pciinit.c ``pci_region_map_one_entry()``: program one BAR or window.

        A BAR gets its address (64-bit: low dword, then high dword); a ROM
        gets the address without the enable bit.  A bridge window is written
        as base/limit: I/O bytes addr >> 8 (upper-16 registers 0), memory
        words addr >> 16, prefetchable words addr >> 16 plus both upper dwords.
        """
        self.res.placements.append(Placement(
            entry.dev.bdf, entry.bar, addr, entry.size, REGION_TYPE_NAME[entry.type],
            entry.is64, window, busnum))
        if entry.bar >= 0:
            self.dprintf(self.res.placements[-1].log_line)
            self.pci_set_io_region_addr(entry.dev, entry.bar, addr, entry.is64)
            return
        bdf = entry.dev.bdf
        limit = (addr + entry.size - 1) & _U64
        if entry.type == IO:
            self.writeb(bdf, PCI_IO_BASE, addr >> 8)
            self.writew(bdf, PCI_IO_BASE_UPPER16, 0)
            self.writeb(bdf, PCI_IO_LIMIT, limit >> 8)
            self.writew(bdf, PCI_IO_LIMIT_UPPER16, 0)
        elif entry.type == MEM:
            self.writew(bdf, PCI_MEMORY_BASE, addr >> 16)
            self.writew(bdf, PCI_MEMORY_LIMIT, limit >> 16)
        else:
            self.writew(bdf, PCI_PREF_MEMORY_BASE, addr >> 16)
            self.writew(bdf, PCI_PREF_MEMORY_LIMIT, limit >> 16)
            self.writel(bdf, PCI_PREF_BASE_UPPER32, addr >> 32)
            self.writel(bdf, PCI_PREF_LIMIT_UPPER32, limit >> 32)

    def pci_set_io_region_addr(self, dev: _Dev, bar: int, addr: int, is64: bool) -> None:
        """pciinit.c ``pci_set_io_region_addr()``: low dword, then (64-bit) high dword."""
        ofs = self.pci_bar(dev, bar)
        self.writel(dev.bdf, ofs, addr)
        if is64:
            self.writel(dev.bdf, ofs + 4, addr >> 32)

    def pci_region_map_entries(self, busses: list[_Bus], r: _Region, window: str,
                               busnum: int) -> None:
        """pciinit.c ``pci_region_map_entries()``: lay a list out upwards from
        its base; a bridge window's address becomes the base of the child
        bus's list of the same type."""
        for e in r.entries:
            addr = r.base
            r.base = (r.base + e.size) & _U64
            if e.bar == -1:
                busses[e.dev.secondary_bus].r[e.type].base = addr
            self.pci_region_map_one_entry(e, addr, window, busnum)
        r.entries = []

    def pci_bios_map_devices(self, busses: list[_Bus]) -> None:
        """pciinit.c ``pci_bios_map_devices()`` (pass 2).

        I/O window, then the 32-bit windows; the 64-bit window is used when
        pad mode is on (1.16.3+) or the 32-bit placement failed: root-bus
        64-bit entries move to two lists above 4 GiB and the 32-bit placement
        is redone.  Then every bus's io, mem, prefmem lists are laid out in
        bus order.
        """
        root = self.res.root
        if not self.pci_bios_init_root_regions_io(busses[0]):
            raise FirmwareError("PCI: out of I/O address space (SeaBIOS panic: root I/O "
                                f"needs {busses[0].r[IO].sum():#x} ports, limit "
                                f"{self.pci_io_low_end - 0x1000:#x} below "
                                f"pci_io_low_end {self.pci_io_low_end:#x})")
        root.pcimem_start, root.pcimem_end = self.pcimem_start, self.pcimem_end
        self.dprintf(f"PCI: 32: {self.pcimem_start:016x} - {self.pcimem_end:016x}")
        use64 = bool(self.pad_mem64)
        if not use64:
            ok = self.pci_bios_init_root_regions_mem(busses[0])
            root.first_pass_failed = not ok
            use64 = not ok
        if use64:
            root.mem64_used = True
            r64_mem, r64_pref = _Region(), _Region()
            self.pci_region_migrate_64bit_entries(busses[0].r[MEM], r64_mem)
            self.pci_region_migrate_64bit_entries(busses[0].r[PREFMEM], r64_pref)
            if not self.pci_bios_init_root_regions_mem(busses[0]):
                raise FirmwareError(
                    "PCI: out of 32bit address space (SeaBIOS panic: 32-bit mem "
                    f"{busses[0].r[MEM].sum():#x} + prefmem {busses[0].r[PREFMEM].sum():#x} "
                    f"bytes do not fit in [{self.pcimem_start:#x}, {self.pcimem_end:#x}))")
            sum_mem, sum_pref = r64_mem.sum(), r64_pref.sum()
            align_mem, align_pref = r64_mem.align(), r64_pref.align()
            # start above RAM (and above hotplug memory if QEMU says where it ends)
            base = self.p.reserved_memory_end or 0
            if base < (1 << 32) + self.p.ram_size_over_4g:
                base = (1 << 32) + self.p.ram_size_over_4g
            if self.mem64_top:
                # 1.16.3+: put the window at the top of the physical address space
                size = _align(sum_mem, GiB) + _align(sum_pref, GiB)
                if self.pad_mem64:
                    size = _align(size, self.mem64_top >> 3)
                if base < self.mem64_top - size:
                    base = self.mem64_top - size
                # one step down if that collides with any e820 entry (no re-check)
                if self.e820_is_used(base, size):
                    base = (base - size) & _U64
            r64_mem.base = _align(_align(base, align_mem), GiB)
            r64_pref.base = _align(_align(r64_mem.base + sum_mem, align_pref), GiB)
            start = r64_mem.base
            end = _align(r64_pref.base + sum_pref, GiB)
            root.mem64_start, root.mem64_end = start, end
            root.mem64_mem_base, root.mem64_pref_base = r64_mem.base, r64_pref.base
            root.mem64_mem_size, root.mem64_pref_size = sum_mem, sum_pref
            self.dprintf(f"PCI: 64: {start:016x} - {end:016x}")
            self.pci_region_map_entries(busses, r64_mem, "mem64", 0)
            self.pci_region_map_entries(busses, r64_pref, "prefmem64", 0)
        else:
            root.mem64_start = 0       # no BAR above 4 GiB: window dropped
        for busnum in range(self.max_bus + 1):
            for type_ in (IO, MEM, PREFMEM):
                self.pci_region_map_entries(busses, busses[busnum].r[type_],
                                            REGION_TYPE_NAME[type_], busnum)

    # --- enabling ------------------------------------------------------------------
    def _device_hook(self, dev: _Dev) -> None:
        """pciinit.c ``pci_device_tbl`` via pcidevice.c ``pci_init_device()``:
        the first matching entry runs (vendor, device, and class when given)."""
        v, d, c = dev.vendor, dev.device, dev.cls
        intel = v == PCI_VENDOR_ID_INTEL
        if intel and d in (PCI_DEVICE_ID_INTEL_82371SB_0, PCI_DEVICE_ID_INTEL_82371AB_0):
            self.piix_isa_bridge_setup(dev)
        elif intel and d == PCI_DEVICE_ID_INTEL_ICH9_LPC:
            self.mch_isa_bridge_setup(dev)
        elif intel and d in (PCI_DEVICE_ID_INTEL_82371SB_1, PCI_DEVICE_ID_INTEL_82371AB) \
                and c == PCI_CLASS_STORAGE_IDE:
            self.piix_ide_setup(dev)
        elif c == PCI_CLASS_STORAGE_IDE:
            self.storage_ide_setup(dev)
        elif v == PCI_VENDOR_ID_IBM and d in (0x0046, 0xffff) and c == PCI_CLASS_SYSTEM_PIC:
            # pic_ibm_setup()
            self._hook_bar(dev, 0, 0x80800000 + 0x00040000)
        elif intel and d == PCI_DEVICE_ID_INTEL_82371AB_3:
            self.piix4_pm_setup(dev)
        elif intel and d == PCI_DEVICE_ID_INTEL_ICH9_SMBUS:
            self.ich9_smbus_setup(dev)
        elif v == PCI_VENDOR_ID_APPLE and d in (0x0017, 0x0022) and c == 0xff00:
            # apple_macio_setup()
            self._hook_bar(dev, 0, 0x80800000)
        elif intel and c == PCI_CLASS_DISPLAY_VGA:
            # intel_igd_setup(): acts only when fw_cfg carries etc/igd-opregion or
            # etc/igd-bdsm-size (IGD passthrough); not modelled, so nothing happens
            pass

    def _hook_bar(self, dev: _Dev, bar: int, addr: int) -> None:
        # pci_set_io_region_addr() from a device hook (never 64-bit there)
        self.pci_set_io_region_addr(dev, bar, addr, False)
        self.res.bar_overrides[(dev.bdf, bar)] = addr & ~3 if addr & 1 else addr

    def _elcr(self, dev: _Dev, pirq_regs: tuple[int, ...]) -> tuple[int, int]:
        # level-trigger every IRQ used by the PCI links and route link i -> pci_irqs[i]
        elcr = [0, 0]
        for i in range(4):
            irq = PCI_IRQS[i]
            elcr[irq >> 3] |= 1 << (irq & 7)
            for reg in pirq_regs:
                self.writeb(dev.bdf, reg + i, irq)
        self.res.port_writes.append((PIIX_PORT_ELCR1, elcr[0]))
        self.res.port_writes.append((PIIX_PORT_ELCR2, elcr[1]))
        return elcr[0], elcr[1]

    def piix_isa_bridge_setup(self, dev: _Dev) -> None:
        """pciinit.c ``piix_isa_bridge_setup()``: PIRQA-D route registers
        0x60-0x63 and the ELCR (ports 0x4d0/0x4d1)."""
        e1, e2 = self._elcr(dev, (0x60,))
        self.dprintf(f"PIIX3/PIIX4 init: elcr={e1:02x} {e2:02x}")

    def mch_isa_bridge_setup(self, dev: _Dev) -> None:
        """pciinit.c ``mch_isa_bridge_setup()`` + ``mch_isa_lpc_setup()``:
        PIRQA-D (0x60) and PIRQE-H (0x68) routing, ELCR, PMBASE = acpi_pm_base
        | 1, ACPI enable, RCBA = 0xfed1c000 | enable (16 KiB e820-reserved)."""
        e1, e2 = self._elcr(dev, (ICH9_LPC_PIRQA_ROUT, ICH9_LPC_PIRQE_ROUT))
        self.dprintf(f"Q35 LPC init: elcr={e1:02x} {e2:02x}")
        self.writel(dev.bdf, ICH9_LPC_PMBASE, self.p.acpi_pm_base | ICH9_LPC_PMBASE_RTE)
        self.writeb(dev.bdf, ICH9_LPC_ACPI_CTRL, ICH9_LPC_ACPI_CTRL_ACPI_EN)
        self.writel(dev.bdf, ICH9_LPC_RCBA, ICH9_LPC_RCBA_ADDR | ICH9_LPC_RCBA_EN)
        self.res.e820.append((ICH9_LPC_RCBA_ADDR, 16 * 1024, "RESERVED"))

    def piix_ide_setup(self, dev: _Dev) -> None:
        """pciinit.c ``piix_ide_setup()``: enable both IDE channels (0x40, 0x42)."""
        self.writew(dev.bdf, 0x40, 0x8000)
        self.writew(dev.bdf, 0x42, 0x8000)

    def storage_ide_setup(self, dev: _Dev) -> None:
        """pciinit.c ``storage_ide_setup()``: any other IDE controller is put at
        the legacy ports (BAR0-3 = 0x1f0, 0x3f4, 0x170, 0x374)."""
        for bar, port in enumerate((PORT_ATA1_CMD_BASE, PORT_ATA1_CTRL_BASE,
                                    PORT_ATA2_CMD_BASE, PORT_ATA2_CTRL_BASE)):
            self._hook_bar(dev, bar, port)

    def piix4_pm_setup(self, dev: _Dev) -> None:
        """pciinit.c ``piix4_pm_config_setup()``: SCI hard-wired to IRQ 9 (the
        interrupt line is written again), PM I/O base acpi_pm_base | 1 at
        0x40 and enabled at 0x80, SMBus base (acpi_pm_base + 0x100) | 1 at
        0x90 and enabled at 0xd2.  These are not BARs."""
        b = dev.bdf
        self.writeb(b, PCI_INTERRUPT_LINE, 9)
        self.res.irq_lines[b] = 9
        self.writel(b, PIIX_PMBASE, self.p.acpi_pm_base | 1)
        self.writeb(b, PIIX_PMREGMISC, 0x01)
        self.writel(b, PIIX_SMBHSTBASE, (self.p.acpi_pm_base + 0x100) | 1)
        self.writeb(b, PIIX_SMBHSTCFG, 0x09)

    def ich9_smbus_setup(self, dev: _Dev) -> None:
        """pciinit.c ``ich9_smbus_enable()``: BAR4 (0x20) is **overwritten** with
        (acpi_pm_base + 0x100) | IO, whatever the allocator chose; host enable."""
        self._hook_bar(dev, 4, (self.p.acpi_pm_base + 0x100) | PCI_BASE_ADDRESS_SPACE_IO)
        self.writeb(dev.bdf, ICH9_SMB_HOSTC, ICH9_SMB_HOSTC_HST_EN)

    def pci_bios_init_device(self, dev: _Dev) -> None:
        """pciinit.c ``pci_bios_init_device()``: interrupt line (if a pin is
        wired), the device hook, COMMAND |= IO | MEMORY | SERR (no bus
        master), and SERR forwarding in a bridge's control register."""
        self.dprintf(f"PCI: init bdf={_bdf_text(dev.bdf)} id={dev.vendor:04x}:{dev.device:04x}")
        pin = self.readb(dev.bdf, PCI_INTERRUPT_PIN)
        if pin != 0:
            line = self.slot_get_irq(dev, pin) & 0xff
            self.writeb(dev.bdf, PCI_INTERRUPT_LINE, line)
            self.res.irq_lines[dev.bdf] = line
        self._device_hook(dev)
        self.maskw(dev.bdf, PCI_COMMAND, 0, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_SERR)
        self.res.commands[dev.bdf] = self._last_written
        if dev.header_type & PCI_HEADER_TYPE_BRIDGE:
            self.maskw(dev.bdf, PCI_BRIDGE_CONTROL, 0, PCI_BRIDGE_CTL_SERR)
            self.res.bridge_controls[dev.bdf] = self._last_written

    def pci_enable_default_vga(self) -> None:
        """pciinit.c ``pci_enable_default_vga()``: if no VGA device already
        decodes (optionroms.c ``is_pci_vga()``: class 0x0300 with IO and MEMORY
        on and VGA enable in every bridge above), turn on the first VGA
        device and VGA forwarding (+IO|MEM) in each bridge above it."""
        for dev in self.devices:
            if self.is_pci_vga(dev):
                self.dprintf(f"PCI: Using {_bdf_text(dev.bdf)} for primary VGA")
                self.res.vga = dev.bdf
                return
        dev = next((d for d in self.devices if d.cls == PCI_CLASS_DISPLAY_VGA), None)
        if dev is None:
            self.dprintf("PCI: No VGA devices found")
            return
        self.dprintf(f"PCI: Enabling {_bdf_text(dev.bdf)} for primary VGA")
        self.res.vga = dev.bdf
        self.maskw(dev.bdf, PCI_COMMAND, 0, PCI_COMMAND_IO | PCI_COMMAND_MEMORY)
        self.res.commands[dev.bdf] = self._last_written
        while dev.parent is not None:
            dev = dev.parent
            self.dprintf(f"PCI: Setting VGA enable on bridge {_bdf_text(dev.bdf)}")
            self.maskw(dev.bdf, PCI_BRIDGE_CONTROL, 0, PCI_BRIDGE_CTL_VGA)
            self.res.bridge_controls[dev.bdf] = self._last_written
            self.maskw(dev.bdf, PCI_COMMAND, 0, PCI_COMMAND_IO | PCI_COMMAND_MEMORY)
            self.res.commands[dev.bdf] = self._last_written

    def is_pci_vga(self, dev: _Dev) -> bool:
        if dev.cls != PCI_CLASS_DISPLAY_VGA:
            return False
        cmd = self.readw(dev.bdf, PCI_COMMAND)
        if not (cmd & PCI_COMMAND_IO and cmd & PCI_COMMAND_MEMORY):
            return False
        while dev.parent is not None:
            dev = dev.parent
            if not self.readb(dev.bdf, PCI_BRIDGE_CONTROL) & PCI_BRIDGE_CTL_VGA:
                return False
        return True

    # --- end of POST ---------------------------------------------------------------
    def ahci_bounce_buffer(self) -> None:
        """src/hw/ahci.c ``ahci_scan()``: every function of class SATA with
        prog-if 1 goes to ``ahci_controller_setup()``, whose first step is
        ``create_bounce_buf()`` (src/block.c): ``malloc_low(CDROM_SECTOR_SIZE)``,
        2 KiB, made once per POST, whether or not drives are found (q35's
        ICH9 AHCI at 00:1f.2 always has one).  In POST it comes after the
        VGA ROM and before the other option ROMs (src/post.c ``maininit``:
        vgarom_setup, device_hardware_setup, optionrom_setup), so a caller
        that runs them allocates it there (``LowMemory.create_bounce_buf``)
        and this is then a no-op."""
        for dev in self.devices:
            if (dev.cls, dev.prog_if) == (0x0106, 0x01):
                self.lowmem.create_bounce_buf(f"AHCI bounce buffer ({_bdf_text(dev.bdf)}, "
                                              f"src/block.c create_bounce_buf)")
                return

    def make_bios_readonly(self) -> None:
        """shadow.c ``make_bios_readonly()`` / ``make_bios_readonly_intel()``.

        For each PAM register i = 1..6 (32 KiB at 0xc0000 + i*32K: low nibble
        the first 16 KiB, high nibble the second): stop at the first register
        whose range reaches past the last option ROM (``romlast``) or the ROM
        area top (``rommax``); that register becomes 0x31 (first half
        read-only) if the ROMs reach into it and its first half is inside the
        ROM area, and it and all later ones keep 0x33 (read/write).  The
        registers before it become 0x11 (read-only).  PAM0 (0xf0000-0xfffff)
        becomes 0x10 (read-only).  ``romlast`` is the BIOS start 0xf0000
        unless CONFIG_WRITABLE_UPPERMEMORY (then ``rom_get_last()``);
        ``rommax`` is ``rom_get_max()``.
        """
        if self.shadow_bdf < 0:
            self.dprintf("Unable to lock ram - bridge not found")
            return
        bdf = self.shadow_bdf
        device = self.readw(bdf, PCI_DEVICE_ID)
        pam0 = I440FX_PAM0 if device == PCI_DEVICE_ID_INTEL_82441 else Q35_HOST_BRIDGE_PAM0
        data = self._read_pam(bdf, pam0)
        o = pam0 & 3
        romlast = self.p.option_rom_end if self.p.writable_uppermemory else BUILD_BIOS_ADDR
        rommax = self.p.rom_max if self.p.rom_max is not None else self.lowmem.rom_get_max()
        for i in range(6):
            mem = BUILD_ROM_START + i * 32 * 1024
            if romlast < mem + 16 * 1024 or rommax < mem + 32 * 1024:
                if romlast >= mem and rommax >= mem + 16 * 1024:
                    data[o + 1 + i] = 0x31
                break
            data[o + 1 + i] = 0x11
        data[o] = 0x10
        self._write_pam(bdf, pam0, data)
        self.res.pam_final = list(data[o:o + 7])


def pci_setup(cfg: ConfigAccess, platform: FirmwarePlatform, log: list | None = None,
              *, trace: bool = False, shadow: bool = True,
              before_readonly=None) -> FirmwareResult:
    """Run SeaBIOS's PCI set-up against ``cfg`` and report what it did.

    The sequence is the one a real POST makes (``src/post.c``):
    ``make_bios_writable()`` (PAM -> RAM), ``qemu_detect()`` (host bridge,
    phys-bits), ``pci_setup()`` proper, then ``before_readonly(lowmem)``
    (the caller's option ROMs and drivers, given the :class:`LowMemory` they
    share) and ``make_bios_readonly()`` (final PAM state).  ``shadow=False``
    leaves out the two PAM steps.

    ``log`` receives SeaBIOS's level-1 debug lines (same text as its
    debugcon output).  ``trace=True`` records every config access in
    :attr:`FirmwareResult.accesses`.  SeaBIOS panics become
    :class:`~vfiolab.errors.FirmwareError`.
    """
    if platform.machine not in ("pc", "q35"):
        raise ConfigError(f"FirmwarePlatform.machine must be 'pc' or 'q35', "
                          f"not {platform.machine!r}")
    if platform.ram_size <= 0 or platform.ram_size > (1 << 32):
        raise ConfigError(f"FirmwarePlatform.ram_size {platform.ram_size:#x} must be "
                          "the end of RAM below 4 GiB (1 .. 0x100000000)")
    fw = _SeaBIOS(cfg, platform, log, trace)
    if shadow:
        fw.make_bios_writable()
    fw.qemu_detect()
    if platform.kvmclock:
        # src/fw/paravirt.c kvmclock_init(), from qemu_platform_setup() before
        # pci_setup(): memalign_low(32, sizeof(struct pvclock_vcpu_time_info))
        fw.lowmem.malloc_low("kvmclock (src/fw/paravirt.c kvmclock_init)", 32, 32)
    # --- src/fw/pciinit.c pci_setup() ---
    fw.dprintf("=== PCI bus & bridge init ===")
    # pci_probe_host() checks port 0xcf8 answers (not a config access): assumed present
    fw.pci_bios_init_bus()
    fw.dprintf("=== PCI device probing ===")
    fw.pci_probe_devices()
    fw.pcimem_start = platform.ram_size          # RamSize, before the platform hook
    fw.pci_bios_init_platform()
    fw.res.pcimem_start = fw.pcimem_start
    fw.res.pci_io_low_end = fw.pci_io_low_end
    fw.dprintf("=== PCI new allocation pass #1 ===")
    busses = [_Bus() for _ in range(fw.max_bus + 1)]
    fw.pci_bios_check_devices(busses)
    fw.dprintf("=== PCI new allocation pass #2 ===")
    fw.pci_bios_map_devices(busses)
    for dev in fw.devices:                       # pci_bios_init_devices()
        fw.pci_bios_init_device(dev)
    fw.pci_enable_default_vga()
    if before_readonly is not None:
        # option ROMs and drivers (src/post.c maininit): they fill 0xc0000..
        # from below and ZoneLow from above
        before_readonly(fw.lowmem)
    fw.ahci_bounce_buffer()
    low = fw.lowmem
    fw.res.low_allocations = list(low.allocations)
    fw.res.umb = (low.rom_end, low.rom_get_max())
    if shadow:
        fw.make_bios_readonly()
    return fw.res
