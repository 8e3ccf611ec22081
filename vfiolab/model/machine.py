"""The ``pc`` (i440fx) and ``q35`` guest platforms as QEMU 7.2 builds them,
and what later releases change (each rule reads ``vm.stack``): pc realizes
its host bridge before ``pc_memory_init`` from 8.1 (:func:`build_machine`),
its reset-control port is ``piix-reset-control`` from 8.2
(:func:`piix_reset_control_name`), q35 builds its SMRAM regions only where
SMM is available from 9.1 (:func:`has_smm_ranges`); the intel-iommu
``aw-bits`` default follows the release and machine type
(:func:`intel_iommu_aw_bits`).  docs/qemu-versions.md has the list.

Sources (QEMU v7.2.0): ``hw/i386/pc_piix.c`` ``pc_init1``, ``hw/i386/pc_q35.c``
``pc_q35_init``, ``hw/i386/pc.c`` ``pc_memory_init`` and
``pc_pci_as_mapping_init``, ``hw/i386/x86.c`` ``x86_bios_rom_init``,
``hw/pci-host/pam.c`` ``init_pam``/``pam_update``, ``hw/pci-host/i440fx.c``,
``hw/pci-host/q35.c`` (``mch_realize``, ``mch_update_pam``,
``mch_update_pciexbar``, ``mch_update_smram``), ``hw/pci/pcie_host.c``
``pcie_host_mmcfg_update``, ``hw/isa/lpc_ich9.c`` ``ich9_lpc_rcba_update``,
``hw/i386/kvmvapic.c`` (the ``kvmvapic-rom`` alias).

What the guest-physical map holds, lowest priority first:

* ``pc.ram`` (one RAM block) through the aliases ``ram-below-4g`` at 0 and
  ``ram-above-4g`` at 4 GiB; how much goes below 4 GiB is
  :func:`ram_split`;
* the PCI address space ``pci`` as a container at priority -1 over all of
  system memory, so RAM wins wherever both exist; BARs go into it at
  priority 1 (``pci_update_mappings``);
* firmware: ``pc.bios`` (ROM) at 4 GiB - 256 KiB in ``pci``, its last
  128 KiB again as ``isa-bios`` at 0xe0000 (priority 1, read-only), and the
  option-ROM area ``pc.rom`` at 0xc0000 (priority 1);
* PAM: 13 segments 0xc0000-0xfffff, each with four aliases at priority 1
  in system memory (``pam-pci`` to PCI, ``pam-rom`` read-only RAM,
  ``pam-pci`` RAM, ``pam-ram`` RAM), exactly one enabled per the PAM register;
* ``smram-region``: the 0xa0000-0xbffff window of the PCI space, priority 1
  (none on q35 from QEMU 9.1 without SMM);
* ``ioapic``/``kvm-ioapic`` 0xfec00000, ``hpet`` 0xfed00000,
  ``apic-msi``/``kvm-apic-msi`` 0xfee00000 at priority 4096;
* q35 only: ECAM ``pcie-mmcfg-mmio`` once the firmware enables PCIEXBAR,
  and the ICH9 RCRB ``lpc-rcrb-mmio`` once it sets RCBA.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..addr import GiB, KiB, MiB, PAGE_SIZE, Range, align_up
from ..errors import ConfigError
from .memory import UINT64_SIZE, MemoryRegion
from .pci import (PCI_BAR_UNMAPPED, PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
                  PCI_COMMAND_MEMORY, PCIBridge, PCIBus, PCIDevice)
from .vm import VM

__all__ = ["MACHINES", "ram_split", "build_machine", "PAM_SEGMENTS", "MemoryLayout",
           "memory_layout", "PCI_HOLE64_SIZE_DEFAULT", "PCI_HOST_TYPE", "AMD_HT_START",
           "AMD_HT_SIZE", "AMD_ABOVE_1TB_START", "pci_hole64",
           "IO_APIC_DEFAULT_ADDRESS", "HPET_BASE", "APIC_DEFAULT_ADDRESS",
           "MCH_PCIEXBAR_DEFAULT", "BIOS_SIZE", "KVMVAPIC_ROM_SIZE", "smm_enabled",
           "has_smm_ranges", "piix_reset_control_name", "intel_iommu_aw_bits",
           "DeviceMemory", "device_memory", "ACPI_MAX_RAM_SLOTS", "SmpTopology",
           "smp_topology", "smp_cpus", "machine_max_cpus", "SMP_KEYS"]

MACHINES = ("pc", "q35")

IO_APIC_DEFAULT_ADDRESS = 0xfec00000       # include/hw/i386/ioapic.h
HPET_BASE = 0xfed00000                     # include/hw/timer/hpet.h
HPET_LEN = 0x400
APIC_DEFAULT_ADDRESS = 0xfee00000          # target/i386/cpu.h
APIC_SPACE_SIZE = 0x100000
MCH_PCIEXBAR_DEFAULT = 0xb0000000          # include/hw/pci-host/q35.h
# include/hw/pci-host/q35.h MCH_HOST_BRIDGE_PCIEXBAR_*: enable bit, address
# masks (ADMSK = Q35_MASK(64, 35, 28), 128ADMSK = 1 << 26, 64ADMSK = 1 << 25)
# and the LENGTH field (bits 2:1)
PCIEXBAREN = 0x1
PCIEXBAR_ADMSK = 0xff << 28
PCIEXBAR_128ADMSK = 1 << 26
PCIEXBAR_64ADMSK = 1 << 25
PCIEXBAR_LENGTH_MASK = 0x3 << 1
PCIEXBAR_LENGTH_RVD = 0x3 << 1
#: LENGTH field -> (window size, address bits decoded besides ADMSK),
#: hw/pci-host/q35.c mch_update_pciexbar
PCIEXBAR_LENGTHS = {0x0 << 1: (256 * MiB, 0),
                    0x1 << 1: (128 * MiB, PCIEXBAR_128ADMSK | PCIEXBAR_64ADMSK),
                    0x2 << 1: (64 * MiB, PCIEXBAR_64ADMSK)}
ICH9_CC_SIZE = 16 * KiB                    # RCRB, include/hw/southbridge/ich9.h
PC_ROM_MIN_VGA = 0xc0000                   # include/hw/i386/pc.h
PC_ROM_SIZE = 128 * KiB
#: SeaBIOS bios-256k.bin, the image Debian and QEMU ship for pc/q35
BIOS_SIZE = 256 * KiB
#: /usr/share/qemu/kvmvapic.bin in Debian's qemu-system-data 7.2 (9216 bytes)
KVMVAPIC_ROM_SIZE = 9216

#: PAM segments in ``pam_regions`` order (hw/pci-host/q35.c mch_realize,
#: i440fx.c): 0xf0000 (64 KiB), then twelve 16 KiB segments from 0xc0000.
PAM_SEGMENTS = [(0xf0000, 0x10000)] + [(0xc0000 + i * 0x4000, 0x4000) for i in range(12)]
PAM_ATTR_MASK = 3


@dataclass(frozen=True)
class RamSplit:
    """``below_4g_mem_size`` and ``above_4g_mem_size`` of ``X86MachineState``."""

    below_4g: int
    above_4g: int
    above_4g_start: int = 4 * GiB


def ram_split(machine: str, ram_size: int, max_ram_below_4g: int | None = None) -> RamSplit:
    """How much RAM goes below 4 GiB.

    pc (QEMU hw/i386/pc_piix.c ``pc_init1``): ``max-ram-below-4g`` defaults to
    3.5 GiB; if the RAM does not fit below it, machine types with
    ``gigabyte_align`` (all current ones) clamp the low part to 3 GiB.
    q35 (hw/i386/pc_q35.c ``pc_q35_init``): 2 GiB low if RAM >= 2.75 GiB, else
    up to 2.75 GiB, never above ``max-ram-below-4g`` (default 4 GiB).
    """
    if machine == "pc":
        lowmem = max_ram_below_4g or 0xe0000000
        if ram_size >= lowmem and lowmem > 0xc0000000:
            lowmem = 0xc0000000
    elif machine == "q35":
        lowmem = 0x80000000 if ram_size >= 0xb0000000 else 0xb0000000
        cap = max_ram_below_4g or 4 * GiB
        lowmem = min(lowmem, cap)
    else:
        raise ConfigError(f"unknown machine {machine!r}; supported: pc, q35")
    if ram_size >= lowmem:
        return RamSplit(lowmem, ram_size - lowmem)
    return RamSplit(ram_size, 0)


#: ``pci-hole64-size`` of the host bridge when not set with ``-global``:
#: q35 ``Q35_PCI_HOST_HOLE64_SIZE_DEFAULT`` (1 << 35, hw/pci-host/q35.c),
#: i440fx ``I440FX_PCI_HOST_HOLE64_SIZE_DEFAULT`` (1 << 31,
#: include/hw/pci-host/i440fx.h); the same from v7.2.0 to v10.0.0.
PCI_HOLE64_SIZE_DEFAULT = {"q35": 1 << 35, "pc": 1 << 31}
#: the QOM type that owns that property (``-global TYPE.pci-hole64-size=``):
#: TYPE_Q35_HOST_DEVICE, TYPE_I440FX_PCI_HOST_BRIDGE
PCI_HOST_TYPE = {"q35": "q35-pcihost", "pc": "i440FX-pcihost"}


# ---------------------------------------------------------------------------
# -smp: the vCPU count and topology

#: the keys of QAPI ``SMPConfiguration`` (qapi/machine.json) by QEMU release:
#: cpus, sockets, dies, clusters, cores, threads, maxcpus at v7.2.0; drawers
#: and books from 8.2 (commit 5de1aff255 "CPU topology: extend with s390
#: specifics"), modules from 9.0 (commit 8ec0a46347 "hw/core/machine: Support
#: modules in -smp"; x86 accepts modules > 1 from the same release, commit
#: 6807487474).  Real QEMU 7.2: ``-smp 2,modules=1`` -> "Parameter
#: 'smp.modules' is unexpected".
SMP_KEYS = (((0, 0), ("cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus")),
            ((8, 2), ("drawers", "books")),
            ((9, 0), ("modules",)))


@dataclass(frozen=True)
class SmpTopology:
    """``MachineState.smp`` (include/hw/boards.h ``CpuTopology``) after
    hw/core/machine-smp.c ``machine_parse_smp_config``."""

    cpus: int
    max_cpus: int
    sockets: int
    cores: int
    threads: int
    dies: int = 1
    clusters: int = 1
    modules: int = 1
    books: int = 1
    drawers: int = 1


def machine_max_cpus(stack) -> int:
    """``MachineClass.max_cpus`` of the stack's machine type: pc (i440fx)
    255 (hw/i386/pc.c ``pc_machine_class_init``); q35 (hw/i386/pc_q35.c)
    255 up to pc-q35-2.7, 288 from 2.8, 1024 from 8.1 (commit e0001297eb
    "pc: q35: Bump max_cpus to 1024"), 4096 from 9.0 (commit e4e98c7eeb
    "pc: q35: Bump max_cpus to 4096 vcpus"), each set by the machine
    version's options."""
    if "q35" not in stack.machine:
        return 255
    if stack.machine_at_least(9, 0):
        return 4096
    if stack.machine_at_least(8, 1):
        return 1024
    if stack.machine_at_least(2, 8):
        return 288
    return 255


def smp_cpus(given: dict) -> int:
    """``smp.cpus`` for the ``-smp`` keys given nonzero: ``cpus``, else
    ``maxcpus``, else the product of the topology levels given (the others
    1) -- what :func:`smp_topology` gives before its checks (the same on
    every release and machine type: the prefer-sockets rule moves vCPUs
    between levels, not their number)."""
    g = {k: int(v) for k, v in given.items()}
    if g.get("cpus"):
        return g["cpus"]
    if g.get("maxcpus"):
        return g["maxcpus"]
    n = 1
    for k in ("drawers", "books", "sockets", "dies", "clusters", "modules", "cores", "threads"):
        n *= g.get(k) or 1
    return n


def smp_topology(given: dict, stack) -> SmpTopology:
    """hw/core/machine-smp.c ``machine_parse_smp_config`` (v7.2.0 and
    v10.0.0) for an x86 PC machine: ``given`` holds the ``-smp`` keys the
    user set to a nonzero value (the reader drops zeros, which QEMU 7.2
    takes as omitted after a deprecation warning and QEMU 9.0+ refuses).

    x86 machines support dies (hw/i386/pc.c ``smp_props.dies_supported``) and,
    from QEMU 9.0, modules; clusters, books and drawers must be omitted or 1.
    Omitted values: with neither cpus nor maxcpus, sockets = cores = threads
    = 1; else maxcpus defaults to cpus and the missing one of cores/sockets
    is maxcpus divided by the others (cores first; sockets first on machine
    types up to 6.1, ``smp_props.prefer_sockets`` in hw/i386/pc_piix.c and
    pc_q35.c ``*_6_1_machine_options``), threads last.  Then maxcpus
    defaults to the product and cpus to maxcpus.  Refused, in QEMU's words:
    a product that is not maxcpus, maxcpus below cpus, maxcpus above the
    machine's ``max_cpus`` (:func:`machine_max_cpus`).  More than 255
    possible vCPUs need x2APIC (and, under KVM, interrupt remapping); the
    model refuses them."""
    new = stack.qemu_at_least(9, 0)
    g = {k: int(v) for k, v in given.items()}
    # a level the machine does not support must be omitted or 1 (QEMU 7.2
    # words it "clusters not supported ...", 9.0+ "clusters > 1 not ...")
    for k in ("clusters", "books", "drawers"):
        if g.get(k, 0) > 1:
            raise ConfigError(f"-smp: {k} > 1 not supported by this machine's CPU topology"
                              if new else
                              f"-smp: {k} not supported by this machine's CPU topology")
    cpus, maxcpus = g.get("cpus", 0), g.get("maxcpus", 0)
    sockets, cores, threads = g.get("sockets", 0), g.get("cores", 0), g.get("threads", 0)
    dies, clusters = g.get("dies", 1), g.get("clusters", 1)
    modules, books, drawers = g.get("modules", 1), g.get("books", 1), g.get("drawers", 1)
    rest = drawers * books * dies * clusters * modules
    if cpus == 0 and maxcpus == 0:
        sockets, cores, threads = sockets or 1, cores or 1, threads or 1
    else:
        maxcpus = maxcpus or cpus
        prefer_sockets = not stack.machine_at_least(6, 2)
        if prefer_sockets:
            if sockets == 0:
                cores, threads = cores or 1, threads or 1
                sockets = maxcpus // (rest * cores * threads)
            elif cores == 0:
                threads = threads or 1
                cores = maxcpus // (rest * sockets * threads)
        else:
            if cores == 0:
                sockets, threads = sockets or 1, threads or 1
                cores = maxcpus // (rest * sockets * threads)
            elif sockets == 0:
                threads = threads or 1
                sockets = maxcpus // (rest * cores * threads)
        if threads == 0:
            threads = maxcpus // (rest * sockets * cores)
    total = rest * sockets * cores * threads
    maxcpus = maxcpus or total
    cpus = cpus or maxcpus
    # cpu_hierarchy_to_string: the levels the machine supports
    hier = f"sockets ({sockets}) * dies ({dies})"
    if new:
        hier += f" * modules ({modules})"
    hier += f" * cores ({cores}) * threads ({threads})"
    if total != maxcpus:
        raise ConfigError(f"-smp: Invalid CPU topology: product of the hierarchy must match "
                          f"maxcpus: {hier} != maxcpus ({maxcpus})")
    if maxcpus < cpus:
        raise ConfigError(f"-smp: Invalid CPU topology: maxcpus must be equal to or greater "
                          f"than smp: {hier} == maxcpus ({maxcpus}) < smp_cpus ({cpus})")
    limit = machine_max_cpus(stack)
    if maxcpus > limit:
        raise ConfigError(f"-smp: Invalid SMP CPUs {maxcpus}. The max CPUs supported by "
                          f"machine '{stack.machine}' is {limit}")
    if maxcpus > 255:
        # hw/i386/x86.c x86_cpus_init / hw/intc/apic_common.c: APIC IDs above
        # 254 need x2APIC (and interrupt remapping under KVM)
        raise ConfigError(f"-smp: {maxcpus} possible vCPUs need x2APIC and interrupt "
                          f"remapping; not modelled (at most 255)")
    return SmpTopology(cpus=cpus, max_cpus=maxcpus, sockets=sockets, cores=cores,
                       threads=threads, dies=dies, clusters=clusters, modules=modules,
                       books=books, drawers=drawers)
#: hw/i386/pc.c: the AMD HyperTransport range below 1 TiB and where RAM above
#: 4 GiB moves to when it would reach it
AMD_HT_START = 0xfd00000000
AMD_HT_END = 0xffffffffff
AMD_ABOVE_1TB_START = AMD_HT_END + 1
AMD_HT_SIZE = AMD_ABOVE_1TB_START - AMD_HT_START


#: hw/acpi/memory_hotplug.c / include/hw/acpi/memory_hotplug.h: the most
#: ``-m slots=`` pc_memory_init accepts (``ACPI_MAX_RAM_SLOTS``), and the
#: "acpi-mem-hotplug" I/O block (``ACPI_MEMORY_HOTPLUG_BASE`` 0x0a00,
#: ``MEMORY_HOTPLUG_IO_LEN`` 24) the PIIX4/ICH9 PM function adds when
#: ``ram_slots`` is nonzero (v7.2.0 and v10.0.0 alike)
ACPI_MAX_RAM_SLOTS = 256
ACPI_MEMORY_HOTPLUG_BASE = 0x0a00
MEMORY_HOTPLUG_IO_LEN = 24
#: x86 TARGET_PAGE_SIZE: pc_memory_init wants maxmem a multiple of it
_TARGET_PAGE_SIZE = 4096


@dataclass(frozen=True)
class DeviceMemory:
    """The memory-hotplug area of ``-m SIZE,slots=N,maxmem=MAX``
    (MachineState ``device_memory``): the empty container "device-memory"
    at ``base`` of ``size`` bytes in system memory (DIMMs plugged later
    would go inside), and ``reserved_end``, the value of fw_cfg
    ``etc/reserved-memory-end`` that both firmwares place their 64-bit PCI
    window above."""

    base: int
    size: int
    slots: int
    reserved_end: int

    @property
    def end(self) -> int:
        return self.base + self.size


def device_memory(stack, split: RamSplit, ram_size: int, maxram_size: int | None,
                  ram_slots: int = 0) -> DeviceMemory | None:
    """hw/i386/pc.c ``pc_get_device_memory_range`` and the device-memory
    part of ``pc_memory_init`` (v7.2.0 and v10.0.0): only when maxmem is
    above the RAM size.  The area starts at the end of RAM above 4 GiB
    (``pc_above_4g_end``: ``above_4g_mem_start`` + ``above_4g_mem_size``,
    so 4 GiB, or 1 TiB after the AMD relocation, when there is no RAM above
    4 GiB) rounded up to 1 GiB, and holds maxmem - RAM plus 1 GiB per slot
    (``enforce_aligned_dimm``, false only for machine types <= 2.1, a flag
    removed with them in QEMU 9.1 by commit 516871f002).  The fw_cfg file
    ``etc/reserved-memory-end`` is its end rounded up to 1 GiB, or its
    start for machine types <= 2.4 (``broken_reserved_end``).  QEMU's
    refusals: more than 256 slots ("unsupported amount of memory slots"),
    maxmem not a multiple of 4 KiB, an area past 2^64."""
    if maxram_size is None or maxram_size <= ram_size:
        return None
    if ram_slots > ACPI_MAX_RAM_SLOTS:
        raise ConfigError(f"-m slots={ram_slots}: unsupported amount of memory slots: "
                          f"{ram_slots} (QEMU accepts at most {ACPI_MAX_RAM_SLOTS})")
    if maxram_size % _TARGET_PAGE_SIZE:
        raise ConfigError(f"-m maxmem={maxram_size:#x}: maximum memory size must by aligned to "
                          f"multiple of {_TARGET_PAGE_SIZE} bytes")
    base = align_up(split.above_4g_start + split.above_4g, GiB)
    size = maxram_size - ram_size
    aligned_dimm = stack is None or stack.machine_at_least(2, 2)
    if aligned_dimm:
        size += GiB * ram_slots
    if base + size >= 1 << 64:
        raise ConfigError(f"-m maxmem={maxram_size:#x}: unsupported amount of maximum memory: "
                          f"{maxram_size:x}")
    broken_reserved_end = stack is not None and not stack.machine_at_least(2, 5)
    end = base if broken_reserved_end else base + size
    return DeviceMemory(base, size, ram_slots, align_up(end, GiB))


@dataclass(frozen=True)
class MemoryLayout:
    """What ``pc_memory_init`` decides before it maps RAM (hw/i386/pc.c).

    ``split`` has the final ``above_4g_mem_start``; ``pci_hole64_start`` is
    ``pc_pci_hole64_start()`` and ``pci_hole64_size`` the host bridge's
    ``pci-hole64-size``; ``max_used_gpa`` is ``pc_max_used_gpa()``, the
    address the phys-bits check compares with; ``amd_ht_reserved``: the e820
    RESERVED entry for the HyperTransport range was added;
    ``device_memory``: the memory-hotplug area of ``-m ...,maxmem=``
    (:func:`device_memory`), None without one.

    The 64-bit hole is no memory region (``info mtree`` has none): QEMU
    keeps only these numbers, and the host bridge's QOM properties
    ``pci-hole64-start``/``-end`` that the ACPI tables read."""

    split: RamSplit
    pci_hole64_start: int
    pci_hole64_size: int
    max_used_gpa: int
    amd_ht_reserved: bool = False
    device_memory: DeviceMemory | None = None
    ram_slots: int = 0

    @property
    def reserved_memory_end(self) -> int | None:
        """fw_cfg ``etc/reserved-memory-end`` (pc_memory_init adds the file
        only with a device-memory area), None without it."""
        return self.device_memory.reserved_end if self.device_memory else None


def _pci_hole64_start(split: RamSplit, devmem: DeviceMemory | None = None,
                      broken_reserved_end: bool = False) -> int:
    """hw/i386/pc.c ``pc_pci_hole64_start`` (v7.2.0-v10.0.0) for a machine
    without CXL or SGX EPC: after the memory-hotplug area when there is one
    (its start for machine types <= 2.4, ``broken_reserved_end``), else
    the end of RAM above 4 GiB (``pc_above_4g_end``, ``above_4g_mem_start``
    + ``above_4g_mem_size``, the start being 4 GiB even when there is no
    RAM above it); rounded up to 1 GiB."""
    if devmem is not None:
        return align_up(devmem.base if broken_reserved_end else devmem.end, GiB)
    return align_up(split.above_4g_start + split.above_4g, GiB)


def _max_used_gpa(stack, split: RamSplit, hole64_size: int, phys_bits: int,
                  long_mode: bool, devmem: DeviceMemory | None = None) -> int:
    """hw/i386/pc.c ``pc_max_used_gpa``.

    Up to QEMU 8.1: a CPU with phys-bits <= 32 gives ``2^phys_bits - 1``,
    any other the end of the 64-bit hole.  From QEMU 8.2 (commit cf0386509e
    "hw/i386/pc: improve physical address space bound check for 32-bit x86
    systems"): a CPU with long mode (CPUID 0x80000001 EDX LM) gives the end
    of the 64-bit hole; without, machine types <= 8.1
    (``broken_32bit_mem_addr_check``) keep ``2^phys_bits - 1`` and newer
    ones the end of the memory-hotplug area, or without one the end of RAM
    above 4 GiB, minus 1."""
    broken = stack is not None and not stack.machine_at_least(2, 5)
    hole_end = _pci_hole64_start(split, devmem, broken) + hole64_size - 1
    if not stack.qemu_at_least(8, 2):
        return (1 << phys_bits) - 1 if phys_bits <= 32 else hole_end
    if long_mode:
        return hole_end
    if not stack.machine_at_least(8, 2):
        return (1 << phys_bits) - 1
    if devmem is not None:
        return devmem.end - 1
    return split.above_4g_start + split.above_4g - 1


def memory_layout(machine: str, ram_size: int, *, stack, cpu_vendor: str, phys_bits: int,
                  long_mode: bool = True, pci_hole64_size: int | None = None,
                  max_ram_below_4g: int | None = None, maxram_size: int | None = None,
                  ram_slots: int = 0) -> MemoryLayout:
    """The start of RAM above 4 GiB, the 64-bit hole and the phys-bits check
    of hw/i386/pc.c ``pc_memory_init``, for ``stack`` (its QEMU release and
    machine type):

    * AMD vCPUs on machine types >= 7.1 (``enforce_amd_1tb_hole``, false for
      pc-i440fx-7.0/pc-q35-7.0 and older; commits 8504f12945 and b3e6982b41,
      QEMU 7.1): if ``pc_max_used_gpa`` with RAM above 4 GiB at 4 GiB reaches
      AMD_HT_START (0xfd00000000), RAM above 4 GiB moves to 1 TiB; with
      phys-bits >= 40 the HyperTransport range goes into e820 as RESERVED.
    * Then (commit 1caab5cf86, QEMU 7.1) QEMU refuses to start when
      ``2^phys_bits - 1 < pc_max_used_gpa``, with "Address space limit 0x%lx
      < 0x%lx phys-bits too low (%u)"; here a :class:`ConfigError` with that
      text.
    * ``maxram_size``/``ram_slots`` (``-m ...,maxmem=,slots=``): the
      memory-hotplug area (:func:`device_memory`) after RAM above 4 GiB,
      which the 64-bit hole and ``pc_max_used_gpa`` follow.
    """
    split = ram_split(machine, ram_size, max_ram_below_4g)
    hole64_size = PCI_HOLE64_SIZE_DEFAULT[machine] if pci_hole64_size is None else pci_hole64_size
    ht_reserved = False
    enforce_amd_1tb_hole = stack.qemu_at_least(7, 1) and stack.machine_at_least(7, 1)

    def devmem(sp):
        return device_memory(stack, sp, ram_size, maxram_size, ram_slots)
    if cpu_vendor == "AuthenticAMD" and enforce_amd_1tb_hole:
        if _max_used_gpa(stack, split, hole64_size, phys_bits, long_mode,
                         devmem(split)) >= AMD_HT_START:
            split = RamSplit(split.below_4g, split.above_4g, AMD_ABOVE_1TB_START)
        ht_reserved = phys_bits >= 40
    dm = devmem(split)
    max_used = _max_used_gpa(stack, split, hole64_size, phys_bits, long_mode, dm)
    if stack.qemu_at_least(7, 1):
        max_phys = (1 << phys_bits) - 1
        if max_phys < max_used:
            raise ConfigError(f"Address space limit {max_phys:#x} < {max_used:#x} phys-bits too "
                              f"low ({phys_bits})")
    broken = not stack.machine_at_least(2, 5)
    return MemoryLayout(split, _pci_hole64_start(split, dm, broken), hole64_size, max_used,
                        ht_reserved, dm, ram_slots)


def pci_hole64(vm: VM) -> Range:
    """The host bridge's QOM properties ``pci-hole64-start`` and
    ``pci-hole64-end`` as QEMU computes them whenever they are read (the
    ACPI tables' 64-bit window in _CRS): hw/pci-host/q35.c
    ``q35_host_get_pci_hole64_start_value``/``_end``, hw/pci-host/i440fx.c
    ``i440fx_pcihost_get_pci_hole64_*`` (the same in v7.2.0 and v10.0.0).

    The range of 64-bit memory BARs (and prefetchable bridge windows) above
    4 GiB on the root bus (hw/pci/pci.c ``pci_bus_get_w64_range``, for
    functions with memory decode on) gives start and end; with none, the
    start is ``pc_pci_hole64_start()``; the end is at least start +
    ``pci-hole64-size`` rounded up to 1 GiB.  Both fallbacks need
    ``x-pci-hole64-fix``, off only for machine types <= 2.10
    (hw/i386/pc.c pc_compat_2_10)."""
    layout = vm.memory_layout
    fix = vm.stack.machine_at_least(2, 11)
    lo = hi = None
    for dev in vm.root_bus.devices.values():
        if not dev.command & PCI_COMMAND_MEMORY:
            continue
        spans = []
        if isinstance(dev, PCIBridge):
            base, limit = dev.window("pref")
            spans.append((max(base, 1 << 32), limit))
        for i, r in enumerate(dev.io_regions):
            if r is None or not r.size or r.type & PCI_BASE_ADDRESS_SPACE_IO \
                    or not r.type & PCI_BASE_ADDRESS_MEM_TYPE_64:
                continue
            addr = dev.bar_address(i, r.type, r.size)
            if addr == PCI_BAR_UNMAPPED:
                continue
            spans.append((max(addr, 1 << 32), addr + r.size - 1))
        for a, b in spans:
            if b >= a:
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
    start = lo or 0
    if not start and fix:
        start = layout.pci_hole64_start
    end = 0 if hi is None else hi + 1
    hole64_end = align_up(start + layout.pci_hole64_size, GiB)
    if fix and end < hole64_end:
        end = hole64_end
    return Range.from_bounds(start, end)


class PamMixin:
    """Host-bridge behaviour shared by i440fx and the q35 MCH: the PAM
    registers select, per segment, which of four aliases is enabled
    (hw/pci-host/pam.c ``pam_update``: segment i reads register
    ``PAM0 + ceil(i/2)``, the high nibble for even i, the low for odd i);
    the SMRAM register's D_OPEN bit hides ``smram-region``
    (i440fx ``i440fx_update_memory_mappings``, q35 ``mch_update_smram``)."""

    pam0 = 0x59            # i440fx I440FX_PAM; q35 MCH_HOST_BRIDGE_PAM0 = 0x90
    smram_reg = 0x72       # i440fx I440FX_SMRAM; q35 MCH_HOST_BRIDGE_SMRAM = 0x9d
    pam_regions: list = []
    smram_region: MemoryRegion | None = None

    def pam_attr(self, i: int) -> int:
        val = self.config[self.pam0 + (i + 1) // 2]
        return (val >> (4 if i % 2 == 0 else 0)) & PAM_ATTR_MASK

    def update_pam(self) -> None:
        with self.vm.memory.transaction():
            for i, aliases in enumerate(self.pam_regions):
                cur = self.pam_attr(i)
                for j, a in enumerate(aliases):
                    a.set_enabled(j == cur)

    def update_smram(self) -> None:
        # SMRAM_D_OPEN (bit 6) hides the low SMRAM window from non-SMM access
        if self.smram_region is not None:
            self.smram_region.set_enabled(not self.config[self.smram_reg] & 0x40)

    def config_write(self, addr, val, length):
        super().config_write(addr, val, length)
        end = addr + length
        if addr < self.pam0 + 7 and end > self.pam0:
            self.update_pam()
        if addr <= self.smram_reg < end:
            self.update_smram()


class MchMixin(PamMixin):
    """q35 MCH: PCIEXBAR at 0x60 maps the ECAM window
    (hw/pci-host/q35.c ``mch_update_pciexbar`` -> hw/pci/pcie_host.c
    ``pcie_host_mmcfg_update``: delete the old window, then add
    ``pcie-mmcfg-mmio`` at the base if bit 0 enables it; bits 2:1 select
    256/128/64 MiB)."""

    pam0 = 0x90
    smram_reg = 0x9d
    PCIEXBAR = 0x60
    mmcfg: MemoryRegion | None = None
    mmcfg_mapped = False

    def init_config(self):
        super().init_config()
        # MCH_HOST_BRIDGE_PCIEXBAR is writable; default base 0xb0000000, disabled
        struct.pack_into("<Q", self.config, self.PCIEXBAR, MCH_PCIEXBAR_DEFAULT)

    def update_pciexbar(self) -> None:
        """QEMU hw/pci-host/q35.c ``mch_update_pciexbar`` (unchanged v7.2.0 to
        v10.0.0) with the masks of include/hw/pci-host/q35.h: the base is
        ``PCIEXBAR & (ADMSK | extra)`` where ``ADMSK`` = bits 35:28 and the
        extra bits are QEMU's own, not Intel's: 128 MiB adds bits 26 and 25
        (``128ADMSK | 64ADMSK``), 64 MiB adds bit 25 (``64ADMSK``); bit 27
        is never decoded.  The reserved LENGTH (bits 2:1 = 3) is a guest
        error ("Q35: Reserved PCIEXBAR LENGTH") that leaves the current
        mapping as it is."""
        v = struct.unpack_from("<Q", self.config, self.PCIEXBAR)[0]
        enable = v & PCIEXBAREN
        field = v & PCIEXBAR_LENGTH_MASK
        if field == PCIEXBAR_LENGTH_RVD:
            self.vm.emit({"op": "guest_error", "device": "mch",
                          "message": "Q35: Reserved PCIEXBAR LENGTH", "pciexbar": v})
            return
        length, extra = PCIEXBAR_LENGTHS[field]
        base = v & (PCIEXBAR_ADMSK | extra)
        sysmem = self.vm.system_memory
        with self.vm.memory.transaction():
            if self.mmcfg_mapped:
                sysmem.del_subregion(self.mmcfg)
                self.mmcfg_mapped = False
            self.mmcfg.set_size(length)
            if enable:
                sysmem.add_subregion(base, self.mmcfg)
                self.mmcfg_mapped = True
        self.vm.ecam_base = base if enable else None
        self.vm.ecam_size = length

    def config_write(self, addr, val, length):
        super().config_write(addr, val, length)
        if addr < self.PCIEXBAR + 8 and addr + length > self.PCIEXBAR:
            self.update_pciexbar()


class Ich9LpcMixin:
    """ICH9 LPC: RCBA at 0xf0 maps the root-complex register block
    ``lpc-rcrb-mmio`` (16 KiB) at priority 1 when bit 0 is set
    (hw/isa/lpc_ich9.c ``ich9_lpc_rcba_update``, mask 0xffffc000)."""

    RCBA = 0xf0
    rcrb: MemoryRegion | None = None
    rcrb_mapped = False
    pm_io: MemoryRegion | None = None

    def init_config(self):
        super().init_config()
        self.wmask[self.RCBA:self.RCBA + 4] = struct.pack("<I", 0xffffc001)

    def config_write(self, addr, val, length):
        super().config_write(addr, val, length)
        # ich9_lpc_pmbase_sci_update: the ACPI block "ich9-pm" sits at PMBASE
        # (0x40, mask 0xff80) while ACPI_CNTL (0x44) bit 7 enables it
        if addr < 0x48 and addr + length > 0x40:
            base = struct.unpack_from("<I", self.config, 0x40)[0] & 0xff80
            if not self.config[0x44] & 0x80:
                base = 0
            _place(self.vm, self.pm_io, base, base != 0, 0)
        if addr < self.RCBA + 4 and addr + length > self.RCBA:
            rcba = struct.unpack_from("<I", self.config, self.RCBA)[0]
            sysmem = self.vm.system_memory
            with self.vm.memory.transaction():
                if self.rcrb_mapped:
                    sysmem.del_subregion(self.rcrb)
                    self.rcrb_mapped = False
                if rcba & 1:
                    sysmem.add_subregion_overlap(rcba & 0xffffc000, self.rcrb, 1)
                    self.rcrb_mapped = True


#: The legacy I/O ports QEMU registers for the ISA devices it always creates
#: (pc_basic_device_init, the south bridge realize functions, fw_cfg, vmport),
#: as (port, size, name, priority); "@kvm" names become "kvm-<name>" under KVM.
#: Sources: hw/dma/i8257.c (dma-chan, dma-cont, dma-page), hw/intc/i8259*.c
#: (pic), hw/timer/i8254*.c (pit), hw/input/pckbd.c (i8042-data/-cmd),
#: hw/audio/pcspk.c, hw/rtc/mc146818rtc.c (rtc, rtc-index), hw/i386/kvmvapic.c,
#: hw/i386/pc.c (ioport80, ioportF0), hw/i386/port92 (port92), hw/isa/apm.c
#: (apm-io), hw/intc/i8259_common/elcr (elcr), hw/nvram/fw_cfg.c (fwcfg,
#: fwcfg.dma), hw/pci/pci_host.c (pci-conf-idx/-data), hw/i386/vmport.c.
#: Checked against the I/O trees of the captures in data/references/.
LEGACY_IO_COMMON = [
    (0x00, 8, "dma-chan", 0), (0x08, 8, "dma-cont", 0), (0x20, 2, "@pic", 0),
    (0x40, 4, "@pit", 0), (0x60, 1, "i8042-data", 0), (0x61, 1, "pcspk", 0),
    (0x64, 1, "i8042-cmd", 0), (0x7e, 2, "kvmvapic", 0), (0x80, 1, "ioport80", 0),
    (0x81, 3, "dma-page", 0), (0x87, 1, "dma-page", 0), (0x89, 3, "dma-page", 0),
    (0x8f, 1, "dma-page", 0), (0x92, 1, "port92", 0), (0xa0, 2, "@pic", 0),
    (0xb2, 2, "apm-io", 0), (0xc0, 0x10, "dma-chan", 0), (0xd0, 0x10, "dma-cont", 0),
    (0xf0, 1, "ioportF0", 0), (0x4d0, 1, "@elcr", 0), (0x4d1, 1, "@elcr", 0),
    (0x510, 2, "fwcfg", 0), (0x514, 8, "fwcfg.dma", 0), (0xcf8, 4, "pci-conf-idx", 0),
    (0xcfc, 4, "pci-conf-data", 0), (0x5658, 1, "vmport", 0),
]
#: pc only: PIIX3 reset control, IDE compatibility ports, the floppy
#: controller, and the PIIX4 ACPI hotplug/GPE blocks (hw/acpi/piix4.c).
LEGACY_IO_PC = [
    (0x170, 8, "ide", 0), (0x1f0, 8, "ide", 0), (0x376, 1, "ide", 0), (0x3f6, 1, "ide", 0),
    (0x3f1, 5, "fdc", 0), (0x3f7, 1, "fdc", 0), (0xcf9, 1, "@piix-reset-control", 1),
    (0xae00, 0x18, "acpi-pci-hotplug", 0), (0xaf00, 0x20, "acpi-cpu-hotplug", 0),
    (0xafe0, 4, "acpi-gpe0", 0),
]
#: q35 only: ICH9 LPC reset control and the ACPI hotplug blocks (hw/acpi/ich9.c).
#: The PCI one (ACPI_PCIHP_ADDR_ICH9, ACPI_PCIHP_SIZE in hw/acpi/pcihp.c)
#: exists only while ICH9-LPC's ``acpi-pci-hotplug-with-bridge-support`` is
#: on: :func:`ich9_acpi_pci_hotplug`.
LEGACY_IO_Q35 = [
    (0xcf9, 1, "lpc-reset-control", 1), (0xcc0, 0x18, "acpi-pci-hotplug", 0),
    (0xcd8, 0x20, "acpi-cpu-hotplug", 0),
]

#: ICH9-LPC's ACPI PCI hot-plug switch (include/hw/acpi/acpi.h
#: ACPI_PM_PROP_ACPI_PCIHP_BRIDGE) and the property that says whether the
#: PCIe slots keep their native hot-plug capability beside it
ICH9_ACPI_PCIHP = "acpi-pci-hotplug-with-bridge-support"
ICH9_KEEP_SLOT_HPC = "x-keep-pci-slot-hpc"
#: the ``-global`` keys of those two (the command-line reader accepts them)
ICH9_GLOBALS = {("ICH9-LPC", ICH9_ACPI_PCIHP), ("ICH9-LPC", ICH9_KEEP_SLOT_HPC)}


def _ich9_bool(globals_: dict, prop: str, default: bool) -> bool:
    """``-global ICH9-LPC.PROP=VALUE`` as a boolean (the command-line reader
    refused a value that is not one), else ``default``."""
    from .devices import _parse_prop
    value = (globals_ or {}).get(("ICH9-LPC", prop))
    if value is None:
        return default
    return _parse_prop("ICH9-LPC", prop, "bool", value)


def ich9_acpi_pci_hotplug(stack, globals_: dict | None = None) -> bool:
    """Whether q35's ICH9 ACPI PCI hot-plug is on: ``-global
    ICH9-LPC.acpi-pci-hotplug-with-bridge-support=on|off``, else the
    machine type's default.  hw/acpi/ich9.c ``ich9_pm_add_properties``
    defaults it to on; hw/i386/pc.c ``pc_compat_6_0`` sets it off, so
    machine types up to pc-q35-6.0 have it off (ACPI hot-plug became q35's
    default in QEMU 6.1, commit 17858a1695 "hw/acpi/ich9: Set ACPI PCI
    hot-plug as default on Q35"; the same in v7.2.0 and v10.0.0).
    ``ich9_pm_init`` registers the ``acpi-pci-hotplug`` ports (0xcc0, 0x18)
    and makes the LPC the root bus's hot-plug handler only while it is on;
    nothing else in the memory map or ``info pci`` changes (real QEMU 7.2
    and 10.0: data/references/q35-1G-rootport-pcihp-off*).  ``stack`` None
    is QEMU 7.2 with the newest machine type."""
    default = stack is None or stack.machine_at_least(6, 1)
    return _ich9_bool(globals_, ICH9_ACPI_PCIHP, default)


def ich9_keep_pci_slot_hpc(stack, globals_: dict | None = None) -> bool:
    """ICH9-LPC's ``x-keep-pci-slot-hpc``: default on
    (``ich9_pm_add_properties``); ``pc_compat_6_1`` sets it off and
    ``pc_compat_6_0`` on again, so only the pc-q35-6.1 machine types have
    it off (hw/i386/pc.c, v7.2.0 and v10.0.0, commit c318bef762
    "hw/acpi/ich9: Add compat prop to keep HPC bit set for 6.1 machine
    type"; QEMU appends the older tables last and the last one wins)."""
    default = stack is None or stack.machine_version != (6, 1)
    return _ich9_bool(globals_, ICH9_KEEP_SLOT_HPC, default)


def pcie_slot_native_hotplug_default(vm) -> bool:
    """The default of a PCIe slot's native hot-plug (pcie-root-port,
    ioh3420, xio3130-downstream: TYPE_PCIE_SLOT).  hw/i386/pc_q35.c
    ``pc_q35_init`` registers the sugar property ``x-native-hotplug=false``
    (QEMU 7.2) / ``x-do-not-expose-native-hotplug-cap=true`` (from 8.0,
    commit 1d77e15718) on every PCIe slot when ICH9's ACPI PCI hot-plug is
    on and ``x-keep-pci-slot-hpc`` is off, i.e. on pc-q35-6.1 unless
    ``-global`` says otherwise; a property given on ``-device`` or by
    ``-global`` for the device's type wins (sugar properties come before
    the user's globals).  On pc, and on the other q35 machine types, native
    hot-plug stays on."""
    if vm is None or getattr(vm, "machine", None) != "q35":
        return True
    return not (getattr(vm, "acpi_pci_hotplug", True)
                and not getattr(vm, "keep_pci_slot_hpc", True))


def piix_reset_control_name(stack) -> str:
    """The PIIX3 reset-control port 0xcf9: ``piix3-reset-control`` up to
    QEMU 8.1, ``piix-reset-control`` from 8.2 (hw/isa/piix.c, commit
    f97479cad8 "hw/isa/piix: Harmonize names of reset control memory
    regions"; plain code).  ``stack`` None is QEMU 7.2."""
    return ("piix-reset-control" if stack is not None and stack.qemu_at_least(8, 2)
            else "piix3-reset-control")


def _add_legacy_io(vm: VM, kvm: bool, vmport: bool = True, acpi_pci_hotplug: bool = True) -> None:
    io = vm.system_io
    table = LEGACY_IO_COMMON + (LEGACY_IO_PC if vm.machine == "pc" else LEGACY_IO_Q35)
    if not vmport:
        table = [t for t in table if t[2] != "vmport"]
    if vm.machine == "q35" and not acpi_pci_hotplug:
        # hw/acpi/ich9.c ich9_pm_init: acpi_pcihp_init only with the switch on
        table = [t for t in table if t[2] != "acpi-pci-hotplug"]
    with vm.memory.transaction():
        for port, size, name, prio in table:
            if name == "@piix-reset-control":
                name = piix_reset_control_name(vm.stack)
            elif name.startswith("@"):
                name = ("kvm-" if kvm else "") + name[1:]
            io.add_subregion_overlap(port, MemoryRegion.init_io(name, size), prio)
        # mc146818rtc: "rtc" (2 ports) with its "rtc-index" port inside
        rtc = MemoryRegion.init_io("rtc", 2)
        rtc.add_subregion(0, MemoryRegion.init_io("rtc-index", 1))
        io.add_subregion(0x70, rtc)


class Piix4PmMixin:
    """PIIX4 ACPI function: PMBASE (0x40) and PMREGMISC bit 0 (0x80) place the
    ``piix4-pm`` block; SMBBA (0x90) and HSTCFG bit 0 (0xd2) place
    ``pm-smbus`` (hw/acpi/piix4.c ``pm_io_space_update``,
    ``smbus_io_space_update``)."""

    pm_io: MemoryRegion | None = None
    smb_io: MemoryRegion | None = None

    def config_write(self, addr, val, length):
        super().config_write(addr, val, length)
        end = addr + length
        c = self.config
        if (addr <= 0x80 < end) or (addr < 0x44 and end > 0x40):
            base = struct.unpack_from("<I", c, 0x40)[0] & 0xffc0
            _place(self.vm, self.pm_io, base, bool(c[0x80] & 1), 0)
        if (addr <= 0xd2 < end) or (addr < 0x94 and end > 0x90):
            base = struct.unpack_from("<I", c, 0x90)[0] & 0xfff0
            _place(self.vm, self.smb_io, base, bool(c[0xd2] & 1), 0)


def _place(vm: VM, mr: MemoryRegion | None, base: int, enabled: bool, prio: int) -> None:
    """Map or move ``mr`` in system I/O (set_enabled + set_address in one transaction)."""
    if mr is None:
        return
    with vm.memory.transaction():
        if mr.container is None:
            mr.enabled = enabled
            vm.system_io.add_subregion_overlap(base, mr, prio)
        else:
            mr.set_enabled(enabled)
            mr.set_address(base)


def _chipset_class(type_name: str, mixin: type | None) -> type[PCIDevice]:
    from . import devices
    base = devices.CHIPSET_DEVICE_TYPES.get(type_name) or devices.DEVICE_TYPES[type_name]
    if mixin is None:
        return base
    return type(base.__name__ + "Model", (mixin, base), {})


def _map_pflash(vm: VM, sysmem: MemoryRegion, pci: MemoryRegion, sizes: list[int],
                isa_bios_alias: bool) -> None:
    """hw/i386/pc_sysfw.c ``pc_system_flash_map``: flash units stacked
    down from 4 GiB in unit order (unit 0 at the top), each a ROM device
    ``system.flashN`` that ``sysbus_mmio_map`` puts in system memory
    (priority 0, above the PCI space's -1; data/references/*-pflash-seabios
    info mtree, v7.2.0 and v10.0.0 alike); then the last 128 KiB of unit 0 at
    0xe0000, priority 1, read-only: a RAM copy named ``isa-bios``
    (``pc_isa_bios_init``) on machine types before 9.1, an alias into the
    flash from 9.1 (``x86_isa_bios_init``; QEMU commit a44ea3fa7f "Alias
    rather than copy isa-bios region", ``pc_compat_9_0`` keeps the copy)."""
    total = 0
    flash0 = None
    for unit, size in enumerate(sizes):
        total += size
        mr = vm.alloc_ram(MemoryRegion.init_rom_device(f"system.flash{unit}", size))
        sysmem.add_subregion(4 * GiB - total, mr)
        if unit == 0:
            flash0 = mr
    isa_size = min(flash0.size, 128 * KiB)
    if isa_bios_alias:
        isa_bios = MemoryRegion.init_alias("isa-bios", flash0, flash0.size - isa_size, isa_size)
    else:
        isa_bios = vm.alloc_ram(MemoryRegion.init_ram("isa-bios", isa_size))
    isa_bios.readonly = True
    pci.add_subregion_overlap(0x100000 - isa_size, isa_bios, 1)


def smm_enabled(stack, smm: str = "auto") -> bool:
    """hw/i386/x86.c ``x86_machine_is_smm_enabled`` (the same in v7.2.0 and
    v10.0.0): ``-machine smm=off`` gives False; otherwise SMM is there if the
    accelerator offers it (TCG always; KVM when the host kernel has
    ``KVM_CAP_X86_SMM``, ``kvm_has_smm()``: the stack's ``host_kvm_smm``);
    ``smm=on`` without it makes QEMU exit with "System Management Mode not
    supported by this hypervisor.", here a :class:`ConfigError`."""
    if smm not in ("on", "off", "auto"):
        raise ConfigError(f"-machine smm={smm}: expected on, off or auto")
    if smm == "off":
        return False
    available = stack is None or stack.accel != "kvm" or stack.host_kvm_smm
    if not available and smm == "on":
        raise ConfigError("-machine smm=on: System Management Mode not supported by this "
                          "hypervisor. (the stack's host has no KVM_CAP_X86_SMM, as the "
                          "reference host; a host whose KVM has SMM, as most bare-metal hosts, "
                          "is --host-kvm-smm / make_stack(host_kvm_smm=True))")
    return available


def has_smm_ranges(vm: VM, smm: str = "auto") -> bool:
    """Whether the host bridge builds its SMRAM regions (``smram-region``,
    ``smram-open-high``, ...).

    q35 on QEMU >= 9.1: the q35 host's ``smm-ranges`` property (commit
    b07bf7b73f "q35: Introduce smm_ranges property for q35-pci-host"), which
    ``pc_q35_init`` sets to :func:`smm_enabled`; ``mch_realize`` returns
    before the SMRAM regions when it is false.  Plain code, not a compat
    property: it follows the QEMU binary, not the machine type.  Before 9.1,
    and on i440fx in every release, the regions are built whether or not
    SMM is available (the QEMU 7.2 KVM captures, made on a host without
    KVM_CAP_X86_SMM, show ``smram-region``)."""
    if vm.machine != "q35" or vm.stack is None or not vm.stack.qemu_at_least(9, 1):
        return True
    return smm_enabled(vm.stack, smm)


def build_machine(machine: str, ram_size: int, *, accel: str = "kvm",
                  max_ram_below_4g: int | None = None,
                  layout: MemoryLayout | None = None, pflash: list[int] | None = None,
                  isa_bios_alias: bool = False, bios_size: int | None = None, hpet: bool = True,
                  vmport: bool = True, stack=None, smm: str = "auto",
                  acpi_pci_hotplug: bool = True, keep_pci_slot_hpc: bool = True) -> VM:
    """Build the VM's memory map and chipset as ``pc_init1``/``pc_q35_init`` do.

    ``hpet=False`` (``-machine hpet=off``, ``-no-hpet``): no HPET device, so
    no "hpet" region at 0xfed00000 (hw/i386/pc.c ``pc_basic_device_init``);
    ``vmport=False`` (``-machine vmport=off``): no "vmport" port 0x5658
    (same function).  Both checked with real QEMU 7.2 ``info mtree -f``.
    ``acpi_pci_hotplug`` / ``keep_pci_slot_hpc``: ICH9-LPC's two properties
    (:func:`ich9_acpi_pci_hotplug`, :func:`ich9_keep_pci_slot_hpc`; q35 only).

    The order of construction follows QEMU's (RAM, firmware, host bridge,
    PAM, chipset functions, interrupt controllers), which decides the
    subregion order among equal priorities and, through the memory
    transactions, the KVM slot numbers.  ``layout`` (from
    :func:`memory_layout`, which needs the stack and the CPU) says where RAM
    above 4 GiB goes; without it, at 4 GiB.  ``stack`` (None: QEMU 7.2)
    selects the release's order; ``smm`` is ``-machine smm=``.

    pc on QEMU >= 8.1 realizes the i440fx host bridge (the PCI space mapped
    at priority -1, ``smram-region``, the PAM aliases, then
    ``i440fx_update_memory_mappings``) before ``pc_memory_init`` (commits
    c589f7cf08 "hw/i386/pc_piix: Move i440fx' realize near its qdev_new()"
    and ce5ac09a75 "hw/pci-host/i440fx: Resolve i440fx_init()", QEMU 8.1;
    plain code).  RAM then appears as one slot, the isa-bios alias splits it
    (through the enabled ``pam-pci`` aliases), ``pc.bios`` and ``pc.rom``
    come one commit each.  q35 keeps ``pc_memory_init`` first in every
    release (hw/i386/pc_q35.c ``pc_q35_init``).
    """
    if machine not in MACHINES:
        raise ConfigError(f"unknown machine {machine!r}; supported: pc, q35")
    vm = VM(machine, ram_size, accel=accel)
    vm.stack = stack
    split = layout.split if layout is not None else ram_split(machine, ram_size, max_ram_below_4g)
    vm.ram_split = split
    #: hw/i386/pc.c pc_memory_init's decisions (None when built without a stack)
    vm.memory_layout = layout
    vm.ecam_base = None
    vm.ecam_size = 0
    sysmem = vm.system_memory
    kvm = accel == "kvm"
    host_first = machine == "pc" and stack is not None and stack.qemu_at_least(8, 1)
    # pc_init1/pc_q35_init ask x86_machine_is_smm_enabled in every release
    # (the PM/LPC function's smm-enabled), so smm=on without SMM fails on all
    vm.smm_enabled = smm_enabled(stack, smm)

    # pc.ram exists (machine->ram, the memory backend) before either board
    # init; what pc_memory_init adds is the two aliases
    ram = vm.alloc_ram(MemoryRegion.init_ram("pc.ram", ram_size))
    vm.ram = ram
    # pc_init1/pc_q35_init: "pci" is created first and used as rom_memory,
    # before it is mapped into system memory
    pci = MemoryRegion.init_container("pci", UINT64_SIZE)
    vm.pci_memory = pci

    def realize_host():
        # host bridge realize (i440fx_pcihost_realize / mch_realize)
        vm.root_bus = PCIBus("pcie.0" if machine == "q35" else "pci.0", pci, vm.system_io)
        host_cls = _chipset_class("mch" if machine == "q35" else "i440FX",
                                  MchMixin if machine == "q35" else PamMixin)
        host = host_cls("")
        vm.host_bridge = host
        # pc_pci_as_mapping_init: the PCI space under everything, priority -1
        sysmem.add_subregion_overlap(0, pci, -1)
        if has_smm_ranges(vm, smm):
            # smram-region: the legacy VGA window of the PCI space (priority 1)
            smram_region = MemoryRegion.init_alias("smram-region", pci, 0xa0000, 0x20000)
            sysmem.add_subregion_overlap(0xa0000, smram_region, 1)
            host.smram_region = smram_region
            if machine == "q35":
                # mch_realize: smram-open-high is added (and so rendered) before
                # it is disabled; a real 7.2 trace shows its short-lived memslot
                open_high = MemoryRegion.init_alias("smram-open-high", ram, 0xa0000, 0x20000)
                sysmem.add_subregion_overlap(0xfeda0000, open_high, 1)
                open_high.set_enabled(False)
        # init_pam: four disabled aliases per segment at priority 1, in one
        # transaction; pam_update at reset enables the one the register selects
        host.pam_regions = []
        with vm.memory.transaction():
            for start, size in PAM_SEGMENTS:
                aliases = [MemoryRegion.init_alias("pam-pci", pci, start, size),
                           MemoryRegion.init_alias("pam-rom", ram, start, size),
                           MemoryRegion.init_alias("pam-pci", ram, start, size),
                           MemoryRegion.init_alias("pam-ram", ram, start, size)]
                aliases[1].readonly = True
                for al in aliases:
                    al.enabled = False
                    sysmem.add_subregion_overlap(start, al, 1)
                host.pam_regions.append(aliases)
        if machine == "q35":
            host.mmcfg = MemoryRegion.init_io("pcie-mmcfg-mmio", 256 * MiB)
        vm.add_pci_device(host, devfn=0)
        if machine == "pc":
            # i440fx_update_memory_mappings ends host-bridge creation in every
            # release: QEMU <= 8.0 i440fx_init (hw/pci-host/i440fx.c at
            # v7.2.0, its last statement before "return b"), 8.1+
            # i440fx_pcihost_realize.  The reset PAM value selects the pam-pci
            # aliases, so what pc_memory_init put into "pci" below 1 MiB
            # shows through them before any -device is realized; a VGA's
            # vga-lowmem then splits the slots in its own commit (real 7.2
            # traces: data/references/pc-512M-vga/trace.log lines 3-8)
            host.update_pam()

    if host_first:
        realize_host()
    # Each step below is its own memory transaction, as in QEMU, where
    # machine init makes its changes one commit at a time; that order is what
    # decides the KVM slot numbers (kvm_get_free_slot takes the lowest free).
    # pc_memory_init: two aliases into the one RAM block
    sysmem.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", ram, 0, split.below_4g))
    if split.above_4g:
        sysmem.add_subregion(split.above_4g_start,
                             MemoryRegion.init_alias("ram-above-4g", ram, split.below_4g,
                                                     split.above_4g))
    dm = layout.device_memory if layout is not None else None
    if dm is not None:
        # pc_memory_init (v7.2.0; from v8.2.0 machine_memory_devices_init,
        # hw/mem/memory-device.c): the empty container "device-memory" over
        # the hotplug area, priority 0; it renders nothing until a DIMM is
        # plugged (real 7.2 and 10.0 info mtree -f)
        vm.device_memory = MemoryRegion.init_container("device-memory", dm.size)
        sysmem.add_subregion(dm.base, vm.device_memory)
    if pflash:
        _map_pflash(vm, sysmem, pci, pflash, isa_bios_alias)
    else:
        # x86_bios_rom_init: the isa-bios alias of the last 128 KiB at
        # 0xe0000 (read-only, priority 1), then pc.bios (the -bios image's
        # size, default bios-256k.bin) at the top of 4 GiB (v7.2.0 and
        # v10.0.0 x86_isa_bios_init alike: the alias is added first)
        size = bios_size or BIOS_SIZE
        bios = vm.alloc_ram(MemoryRegion.init_rom("pc.bios", size))
        isa_bios = MemoryRegion.init_alias("isa-bios", bios, size - 128 * KiB, 128 * KiB)
        isa_bios.readonly = True
        if host_first:
            pci.add_subregion_overlap(0x100000 - 128 * KiB, isa_bios, 1)
            pci.add_subregion(4 * GiB - size, bios)
        else:
            # (the PCI space is not mapped yet: the order decides only the
            # subregion list, which the model's 7.2 mtree output was checked with)
            pci.add_subregion(4 * GiB - size, bios)
            pci.add_subregion_overlap(0x100000 - 128 * KiB, isa_bios, 1)
    # pc_memory_init: option ROM area, read-only with PCI, priority 1
    pcrom = vm.alloc_ram(MemoryRegion.init_rom("pc.rom", PC_ROM_SIZE))
    pci.add_subregion_overlap(PC_ROM_MIN_VGA, pcrom, 1)
    if not host_first:
        realize_host()

    # interrupt controllers and timers (sysbus devices in system memory)
    sysmem.add_subregion(IO_APIC_DEFAULT_ADDRESS,
                         MemoryRegion.init_io("kvm-ioapic" if kvm else "ioapic", 0x1000))
    if hpet:
        sysmem.add_subregion(HPET_BASE, MemoryRegion.init_io("hpet", HPET_LEN))
    sysmem.add_subregion_overlap(APIC_DEFAULT_ADDRESS,
                                 MemoryRegion.init_io("kvm-apic-msi" if kvm else "apic-msi",
                                                      APIC_SPACE_SIZE), 0x1000)

    if machine == "q35":
        vm.acpi_pci_hotplug = acpi_pci_hotplug
        vm.keep_pci_slot_hpc = keep_pci_slot_hpc
    _add_legacy_io(vm, kvm, vmport, acpi_pci_hotplug)
    # the south bridge functions QEMU adds even with -nodefaults
    if machine == "pc":
        isa = _chipset_class("PIIX3", None)("")
        isa.multifunction = True
        vm.add_pci_device(isa, devfn=1 << 3)
        vm.add_pci_device(_chipset_class("piix3-ide", None)(""), devfn=(1 << 3) | 1)
        pm = _chipset_class("PIIX4_PM", Piix4PmMixin)("")
        # hw/acpi/piix4.c: "piix4-pm" (64 ports: acpi-evt, acpi-cnt, acpi-tmr)
        pm.pm_io = _acpi_block("piix4-pm", 0x40, [(0, 4, "acpi-evt"), (4, 2, "acpi-cnt"),
                                                  (8, 4, "acpi-tmr")])
        # hw/i2c/pm_smbus.c pm_smbus_init: "pm-smbus", 64 ports
        pm.smb_io = MemoryRegion.init_io("pm-smbus", 64)
        vm.add_pci_device(pm, devfn=(1 << 3) | 3)
        _add_memory_hotplug_io(vm, layout)
    else:
        lpc = _chipset_class("ICH9-LPC", Ich9LpcMixin)("")
        lpc.multifunction = True
        lpc.rcrb = MemoryRegion.init_io("lpc-rcrb-mmio", ICH9_CC_SIZE)
        # hw/acpi/ich9.c ich9_pm_init: "ich9-pm" (128 ports)
        lpc.pm_io = _acpi_block("ich9-pm", 0x80, [(0, 4, "acpi-evt"), (4, 2, "acpi-cnt"),
                                                  (8, 4, "acpi-tmr"), (0x20, 0x10, "acpi-gpe0"),
                                                  (0x30, 8, "acpi-smi"), (0x60, 0x20, "sm-tco")])
        vm.add_pci_device(lpc, devfn=(31 << 3) | 0)
        _add_memory_hotplug_io(vm, layout)
        vm.add_pci_device(_chipset_class("ich9-ahci", None)(""), devfn=(31 << 3) | 2)
        vm.add_pci_device(_chipset_class("ICH9-SMB", None)(""), devfn=(31 << 3) | 3)
    return vm


def _add_memory_hotplug_io(vm: VM, layout: MemoryLayout | None) -> None:
    """hw/acpi/memory_hotplug.c ``acpi_memory_hotplug_init``, called by the
    PM function's realize (hw/acpi/piix4.c ``piix4_acpi_system_hot_add_init``,
    hw/acpi/ich9.c ``ich9_pm_init``; ``memory-hotplug-support`` is on by
    default): with ``-m slots=N`` (N > 0) the "acpi-mem-hotplug" block of
    24 ports at 0x0a00 in the I/O space (real 7.2 and 10.0 info mtree)."""
    if layout is not None and layout.ram_slots:
        vm.system_io.add_subregion(ACPI_MEMORY_HOTPLUG_BASE,
                                   MemoryRegion.init_io("acpi-mem-hotplug", MEMORY_HOTPLUG_IO_LEN))


def _acpi_block(name: str, size: int, regs) -> MemoryRegion:
    block = MemoryRegion.init_container(name, size)
    for off, n, reg in regs:
        block.add_subregion(off, MemoryRegion.init_io(reg, n))
    return block


def machine_reset(vm: VM) -> None:
    """What system reset does to the memory map before the firmware runs:
    the host bridge re-applies its registers (i440fx
    ``i440fx_update_memory_mappings``, q35 ``mch_reset`` -> ``mch_update``),
    so the PAM aliases selected by the reset value 0 (PCI space) appear."""
    vm.host_bridge.update_pam()
    vm.host_bridge.update_smram()


def map_kvmvapic_rom(vm: VM, rom_paddr: int, rom_size: int = KVMVAPIC_ROM_SIZE) -> MemoryRegion:
    """QEMU hw/i386/kvmvapic.c ``vapic_map_rom_writable``: once the guest
    runs the vapic option ROM, QEMU maps the RAM under it writable through
    the alias ``kvmvapic-rom`` at priority 1000, rounded up to whole pages."""
    size = align_up(rom_size, PAGE_SIZE)
    alias = MemoryRegion.init_alias("kvmvapic-rom", vm.ram, rom_paddr, size)
    vm.system_memory.add_subregion_overlap(rom_paddr, alias, 1000)
    return alias


#: intel-iommu ``aw-bits`` values QEMU accepts (hw/i386/intel_iommu.c
#: ``vtd_decide_config``: VTD_HOST_AW_39BIT or VTD_HOST_AW_48BIT)
INTEL_IOMMU_AW_BITS = (39, 48)


def intel_iommu_aw_bits(stack, aw_bits: int | None = None) -> int:
    """The guest address width of ``-device intel-iommu`` (its ``aw-bits``
    property, the MGAW the guest reads in CAP_REG): ``aw_bits`` when the
    command line sets it, else the default.

    The default is VTD_HOST_ADDRESS_WIDTH (include/hw/i386/intel_iommu.h):
    39 bits (3-level tables) up to QEMU 9.2; 48 from QEMU 10.0 (commit
    ddd84fd0c1 "intel_iommu: Set default aw_bits to 48 starting from QEMU
    9.2", first released in v10.0.0 although its message names 9.2), with
    ``{intel-iommu, aw-bits, 39}`` in hw/i386/pc.c ``pc_compat_9_1``: so on
    QEMU 10.0 machine types up to 9.1 (``-M pc-q35-9.1``, ``pc-q35-7.2``)
    keep 39, and 9.2 and newer get 48.  ``stack`` None is QEMU 7.2."""
    if aw_bits is not None:
        if aw_bits not in INTEL_IOMMU_AW_BITS:
            # vtd_decide_config: "%s: supported values for aw-bits are: %d, %d"
            raise ConfigError(f"intel-iommu aw-bits={aw_bits}: supported values for aw-bits "
                              "are: 39, 48")
        return aw_bits
    if stack is not None and stack.qemu_at_least(10, 0) and stack.machine_at_least(9, 2):
        return 48
    return 39
