"""KVM's EPT (two-dimensional paging) for one VM: entries, lazy fill, zaps.

With EPT the CPU translates every guest-physical address (GPA) through a
second page-table tree that KVM owns; KVM fills that tree lazily, one leaf per
fault, from the memslots QEMU gave it.  This module restates:

* the **EPT entry format**: Intel SDM Vol. 3C, chapter "VMX Support for
  Address Translation", section "EPT Translation Mechanism" (29.3.2 in the
  2023+ editions, 28.3.2 before), the tables "Format of an EPT PML4 Entry",
  "... EPT Page-Directory-Pointer-Table Entry (PDPTE) that Maps a 1-GByte
  Page", "... EPT Page-Directory Entry (PDE) that Maps a 2-MByte Page",
  "... EPT Page-Table Entry that Maps a 4-KByte Page" and the ones for
  entries that reference a lower table; "EPT Misconfigurations" (29.3.3.1)
  for the 110b (write+execute, not readable) combination KVM uses for MMIO.
  Bit names follow Linux ``arch/x86/include/asm/vmx.h`` (``VMX_EPT_*``) and
  KVM's software bits ``arch/x86/kvm/mmu/spte.h``;
* **how KVM builds entries**: Linux ``arch/x86/kvm/mmu/spte.c``
  ``make_spte``, ``make_nonleaf_spte``, ``make_mmio_spte``,
  ``kvm_mmu_set_ept_masks``; ``arch/x86/kvm/vmx/vmx.c`` ``vmx_get_mt_mask``;
* **the TDP fault path**: ``arch/x86/kvm/mmu/mmu.c`` (read at 56ea38e, about
  6.8-6.10) ``kvm_tdp_page_fault`` -> ``kvm_tdp_mmu_page_fault`` ->
  ``fast_page_fault`` / ``kvm_faultin_pfn`` (``__kvm_faultin_pfn``,
  ``kvm_handle_error_pfn``, ``kvm_handle_noslot_fault``) ->
  ``kvm_tdp_mmu_map`` (``kvm_mmu_hugepage_adjust``,
  ``__kvm_mmu_max_mapping_level``, ``host_pfn_mapping_level``);
  ``handle_mmio_page_fault`` for EPT misconfigurations; ``direct_map`` +
  ``direct_pte_prefetch`` for the legacy (non-TDP) MMU;
* **huge-page eligibility of a memslot**: ``arch/x86/kvm/x86.c``
  ``kvm_alloc_memslot_metadata`` (``lpage_info[].disallow_lpage``);
* **memslot changes**: ``virt/kvm/kvm_main.c`` ``kvm_set_memslot`` /
  ``kvm_swap_active_memslots`` (generation), ``mmu.c``
  ``kvm_arch_flush_shadow_memslot`` (``KVM_X86_QUIRK_SLOT_ZAP_ALL``:
  ``kvm_mmu_zap_all_fast`` or only the slot), ``x86.c``
  ``kvm_mmu_slot_apply_flags`` (dirty logging on/off).

Rules that changed between kernels read ``vm.stack`` (see :class:`Mmu`):
the EPT depth (``kvm_mmu_get_tdp_level``), the memory type under
non-coherent DMA (guest MTRRs before Linux 6.11), the memslot flush
(``KVM_X86_QUIRK_SLOT_ZAP_ALL``, 6.12) and, through the host page tables
(:mod:`vfiolab.model.host`), huge PFN maps of BAR mmaps (6.12).

What is *not* modelled: the per-vCPU MMIO info cache and the TLB /
paging-structure caches (only their effect on counts is described), the
L1TF relocation of MMIO-SPTE address bits, mmu-notifier invalidations other
than the copy of a zero page on the first write, async
page faults, private (guest_memfd) memory, KVM-internal memslots (APIC access
page), fast MMIO for zero-length ioeventfds, and the AMD format: on an AMD
host KVM builds NPT entries in the ordinary x86-64 page-table format (MMIO
SPTEs use a reserved bit) but takes the same fault path and level decisions;
this module always shows the EPT (Intel) encoding.

Host physical addresses of KVM's own table pages come from a model pool
(``EPT_POOL_BASE``): real ones are kernel pages from KVM's MMU page caches.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from ..addr import KiB, fmt_hex
from ..errors import ActionError, ConfigError
from .kvm import KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY

__all__ = [
    "EPT_READ", "EPT_WRITE", "EPT_EXEC", "EPT_MT_SHIFT", "EPT_MT_MASK", "EPT_IPAT",
    "EPT_LARGE", "EPT_ACCESSED", "EPT_DIRTY", "EPT_USER_EXEC", "EPT_ADDR_MASK",
    "EPT_SUPPRESS_VE", "SPTE_MMU_PRESENT", "EPT_SPTE_HOST_WRITABLE",
    "EPT_SPTE_MMU_WRITABLE", "MEMTYPES", "MT_UC", "MT_WB",
    "EptEntry", "encode", "decode", "describe", "is_mmio_spte", "make_mmio_spte",
    "decode_mmio_spte", "ept_index", "Mmu", "GuestPageTables", "Walk2D", "GuestMtrrs",
    "tdp_level",
]

# ---------------------------------------------------------------------------
# EPT entry bits (Intel SDM "EPT Translation Mechanism"; Linux vmx.h names)
# ---------------------------------------------------------------------------
EPT_READ = 1 << 0            # VMX_EPT_READABLE_MASK
EPT_WRITE = 1 << 1           # VMX_EPT_WRITABLE_MASK
EPT_EXEC = 1 << 2            # VMX_EPT_EXECUTABLE_MASK (supervisor-mode with MBEC)
EPT_RWX = EPT_READ | EPT_WRITE | EPT_EXEC
EPT_MT_SHIFT = 3             # VMX_EPT_MT_EPTE_SHIFT: memory type, bits 5:3 of a leaf
EPT_MT_MASK = 7 << EPT_MT_SHIFT
EPT_IPAT = 1 << 6            # VMX_EPT_IPAT_BIT: ignore the guest's PAT (leaf)
EPT_LARGE = 1 << 7           # bit 7: 1 = this PDPTE/PDE maps a 1G/2M page
EPT_ACCESSED = 1 << 8        # VMX_EPT_ACCESS_BIT (EPTP bit 6 enables A/D)
EPT_DIRTY = 1 << 9           # VMX_EPT_DIRTY_BIT (leaf only)
EPT_USER_EXEC = 1 << 10      # user-mode execute, with mode-based execute control
EPT_ADDR_MASK = ((1 << 52) - 1) & ~0xFFF   # bits 51:12 (SPTE_BASE_ADDR_MASK)
EPT_SUPPRESS_VE = 1 << 63    # VMX_EPT_SUPPRESS_VE_BIT

# KVM's software bits, ignored by the CPU (Linux arch/x86/kvm/mmu/spte.h)
SPTE_MMU_PRESENT = 1 << 11           # SPTE_MMU_PRESENT_MASK
SPTE_TDP_AD_SHIFT = 52               # bits 53:52: A/D type (0 = A/D enabled)
EPT_SPTE_HOST_WRITABLE = 1 << 57     # the host lets KVM map the page writable
EPT_SPTE_MMU_WRITABLE = 1 << 58      # KVM's MMU lets the SPTE be made writable

#: MMIO SPTE generation bits (spte.h MMIO_SPTE_GEN_LOW_*/HIGH_*): generation
#: bits 0-7 in SPTE bits 3-10, bits 8-18 in SPTE bits 52-62
MMIO_GEN_LOW_START, MMIO_GEN_LOW_BITS = 3, 8
MMIO_GEN_HIGH_START, MMIO_GEN_HIGH_BITS = 52, 11
MMIO_SPTE_GEN_MASK = (1 << (MMIO_GEN_LOW_BITS + MMIO_GEN_HIGH_BITS)) - 1
#: kvm_mmu_set_ept_masks -> kvm_mmu_set_mmio_spte_mask(VMX_EPT_MISCONFIG_WX_VALUE,
#: VMX_EPT_RWX_MASK | VMX_EPT_SUPPRESS_VE_BIT): value W|X (110b), mask RWX|SVE
MMIO_SPTE_VALUE = EPT_WRITE | EPT_EXEC
MMIO_SPTE_MASK = EPT_RWX | EPT_SUPPRESS_VE

#: EPT memory types (SDM "EPT and Memory Typing"; MTRR_TYPE_* values)
MEMTYPES = {0: "uc", 1: "wc", 4: "wt", 5: "wp", 6: "wb"}
MT_UC, MT_WB = 0, 6

#: x86 page sizes by level (PG_LEVEL_4K/2M/1G)
PAGE_BYTES = {1: 4 * KiB, 2: 2 << 20, 3: 1 << 30}
SIZE_LEVEL = {4 * KiB: 1, 2 << 20: 2, 1 << 30: 3}
LEVEL_LABEL = {1: "4K", 2: "2M", 3: "1G"}
#: SDM names of the entries / tables of each EPT level
ENTRY_NAME = {5: "PML5E", 4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE"}
TABLE_NAME = {5: "PML5 table", 4: "PML4 table", 3: "page-directory-pointer table",
              2: "page directory", 1: "page table"}

#: where the model puts KVM's EPT table pages (real ones are kernel pages)
EPT_POOL_BASE = 0xE000_0000_0000

#: x86 KVM has two memslot address spaces (normal and SMM); each swap of the
#: active memslots advances the generation by that number
#: (kvm_swap_active_memslots: ``gen += kvm_arch_nr_memslot_as_ids(kvm)``)
KVM_NR_MEMSLOT_AS_IDS = 2

#: in-kernel devices that claim MMIO before it can exit to QEMU
#: (arch/x86/kvm/lapic.c apic_mmio_in_range: the APIC base page, default
#: 0xfee00000; arch/x86/kvm/ioapic.h IOAPIC_DEFAULT_BASE_ADDRESS 0xfec00000,
#: IOAPIC_MEM_LENGTH 0x100), keyed by the QEMU region they sit in
IN_KERNEL_MMIO = {
    "kvm-apic-msi": (0xFEE00000, 0x1000, "in-kernel LAPIC"),
    "kvm-ioapic": (0xFEC00000, 0x100, "in-kernel IOAPIC"),
}

ACCESS_KINDS = ("read", "write", "exec")


def _first_of_runs(a: np.ndarray) -> np.ndarray:
    """Indices where a sorted array starts a new value (np.unique's
    return_index for sorted input, without its hashing)."""
    if not a.size:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))


def ept_index(gpa: int, level: int) -> int:
    """The 9-bit index of ``gpa`` at EPT ``level`` (SDM: bits 47:39 select
    the PML4E, 38:30 the PDPTE, 29:21 the PDE, 20:12 the PTE; 56:48 the
    PML5E with 5-level EPT)."""
    return (gpa >> (12 + 9 * (level - 1))) & 0x1FF


# ---------------------------------------------------------------------------
# Encoding and decoding
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EptEntry:
    """One EPT paging-structure entry, field by field.

    ``level`` 4 (PML4E), 3 (PDPTE), 2 (PDE), 1 (PTE), or 5 (PML5E);
    ``large`` marks a PDPTE/PDE that maps a 1 GiB / 2 MiB page.  ``addr`` is
    the physical address the entry holds: of the page for a leaf, of the
    next table otherwise.  ``memtype``/``ipat``/``dirty`` exist only in
    leaves.  ``mmu_present``/``host_writable``/``mmu_writable`` are KVM's
    software bits 11, 57, 58.
    """

    level: int
    addr: int = 0
    read: bool = False
    write: bool = False
    execute: bool = False
    large: bool = False
    memtype: int | None = None
    ipat: bool = False
    accessed: bool = False
    dirty: bool = False
    user_exec: bool = False
    suppress_ve: bool = False
    mmu_present: bool = False
    host_writable: bool = False
    mmu_writable: bool = False

    @property
    def leaf(self) -> bool:
        """A PTE is always a leaf; a PDPTE/PDE is one when bit 7 is set."""
        return self.level == 1 or (self.level in (2, 3) and self.large)

    @property
    def page_size(self) -> int | None:
        return PAGE_BYTES[self.level] if self.leaf else None

    @property
    def present(self) -> bool:
        """SDM: an entry is present if any of bits 2:0 is set."""
        return self.read or self.write or self.execute


def _check_level(level: int) -> None:
    if level not in (1, 2, 3, 4, 5):
        raise ConfigError(f"EPT level {level!r}: must be 1 (PTE) to 4 (PML4E), or 5 (PML5E)")


def encode(entry: EptEntry) -> int:
    """The 64-bit value of ``entry``; raises ConfigError for what the SDM
    calls reserved: bit 7 set at the PML4E/PML5E level, memory type or
    ignore-PAT in an entry that references a table, a leaf address not
    aligned to its page size (bits 20:12 of a 2M PDE and 29:12 of a 1G
    PDPTE are reserved), a reserved memory type (2, 3, 7)."""
    e = entry
    _check_level(e.level)
    if e.large and e.level not in (2, 3):
        raise ConfigError(f"EPT {ENTRY_NAME[e.level]}: bit 7 (large page) exists only in "
                          f"PDPTEs (1G) and PDEs (2M)")
    if not 0 <= e.addr < 1 << 52 or e.addr & 0xFFF:
        raise ConfigError(f"EPT {ENTRY_NAME[e.level]}: address {e.addr:#x} must be 4K-aligned "
                          f"and below 2^52 (bits 51:12)")
    value = e.addr
    value |= EPT_READ if e.read else 0
    value |= EPT_WRITE if e.write else 0
    value |= EPT_EXEC if e.execute else 0
    value |= EPT_ACCESSED if e.accessed else 0
    value |= EPT_USER_EXEC if e.user_exec else 0
    value |= EPT_SUPPRESS_VE if e.suppress_ve else 0
    value |= SPTE_MMU_PRESENT if e.mmu_present else 0
    value |= EPT_SPTE_HOST_WRITABLE if e.host_writable else 0
    value |= EPT_SPTE_MMU_WRITABLE if e.mmu_writable else 0
    if e.leaf:
        size = PAGE_BYTES[e.level]
        if e.addr & (size - 1):
            raise ConfigError(f"EPT {ENTRY_NAME[e.level]} mapping a {LEVEL_LABEL[e.level]} page: "
                              f"address {e.addr:#x} is not {LEVEL_LABEL[e.level]}-aligned "
                              f"(the bits below are reserved)")
        mt = MT_WB if e.memtype is None else e.memtype
        if mt not in MEMTYPES:
            raise ConfigError(f"EPT memory type {mt}: reserved (valid: "
                              + ", ".join(f"{k}={v.upper()}" for k, v in MEMTYPES.items()) + ")")
        value |= mt << EPT_MT_SHIFT
        value |= EPT_IPAT if e.ipat else 0
        value |= EPT_LARGE if e.large else 0
        value |= EPT_DIRTY if e.dirty else 0
    else:
        if e.memtype is not None or e.ipat or e.dirty:
            raise ConfigError(f"EPT {ENTRY_NAME[e.level]} referencing a {TABLE_NAME[e.level - 1]}: "
                              f"memory type, ignore-PAT and dirty exist only in leaf entries")
    return value


def decode(value: int, level: int) -> EptEntry:
    """The fields of a 64-bit EPT entry found at ``level`` (bit 7 decides
    whether a PDPTE/PDE is a leaf)."""
    _check_level(level)
    if not 0 <= value < 1 << 64:
        raise ConfigError(f"EPT entry {value!r}: not a 64-bit value")
    large = level in (2, 3) and bool(value & EPT_LARGE)
    leaf = level == 1 or large
    addr = value & EPT_ADDR_MASK
    if leaf:
        addr &= ~(PAGE_BYTES[level] - 1)
    return EptEntry(
        level=level, addr=addr,
        read=bool(value & EPT_READ), write=bool(value & EPT_WRITE),
        execute=bool(value & EPT_EXEC), large=large,
        memtype=(value & EPT_MT_MASK) >> EPT_MT_SHIFT if leaf else None,
        ipat=leaf and bool(value & EPT_IPAT),
        accessed=bool(value & EPT_ACCESSED),
        dirty=leaf and bool(value & EPT_DIRTY),
        user_exec=bool(value & EPT_USER_EXEC),
        suppress_ve=bool(value & EPT_SUPPRESS_VE),
        mmu_present=bool(value & SPTE_MMU_PRESENT),
        host_writable=bool(value & EPT_SPTE_HOST_WRITABLE),
        mmu_writable=bool(value & EPT_SPTE_MMU_WRITABLE),
    )


def is_mmio_spte(value: int) -> bool:
    """spte.h ``is_mmio_spte``: (spte & mask) == value with the EPT masks."""
    return value & MMIO_SPTE_MASK == MMIO_SPTE_VALUE


def make_mmio_spte(gfn: int, generation: int) -> int:
    """spte.c ``make_mmio_spte``: the memslot generation (19 bits, split over
    bits 3-10 and 52-62), the W|X value and the GPA in bits 51:12.  (On CPUs
    with L1TF KVM also sets the top address bits and relocates the GPA's high
    bits; not modelled.)"""
    gen = generation & MMIO_SPTE_GEN_MASK
    spte = (gen & 0xFF) << MMIO_GEN_LOW_START
    spte |= (gen >> MMIO_GEN_LOW_BITS) << MMIO_GEN_HIGH_START
    return spte | MMIO_SPTE_VALUE | (gfn << 12)


def decode_mmio_spte(value: int) -> tuple[int, int]:
    """(gfn, generation) of an MMIO SPTE (spte.h get_mmio_spte_generation)."""
    gen = (value >> MMIO_GEN_LOW_START) & 0xFF
    gen |= ((value >> MMIO_GEN_HIGH_START) & ((1 << MMIO_GEN_HIGH_BITS) - 1)) << MMIO_GEN_LOW_BITS
    gfn = (value & ((1 << 52) - 1) & ~0xFFF) >> 12
    return gfn, gen


def describe(value: int, level: int) -> list[dict]:
    """One row per bit or field of an EPT entry: ``bits`` ("2:0" style, high
    first as the SDM prints ranges), ``field``, ``value`` and ``meaning``.
    MMIO SPTEs (bits 2:0 = 110b) are described as KVM lays them out."""
    _check_level(level)
    rows: list[dict] = []

    def row(bits, name, val, meaning):
        rows.append({"bits": bits, "field": name, "value": val, "meaning": meaning})

    if is_mmio_spte(value) and level == 1:
        gfn, gen = decode_mmio_spte(value)
        row("2:0", "R/W/X", "110b", "write+execute without read: an EPT misconfiguration "
            "on every access (KVM's MMIO SPTE)")
        row("10:3", "generation[7:0]", gen & 0xFF, "low bits of the memslot generation")
        row("11", "MMU-present", 0, "KVM: not a present mapping")
        row("51:12", "gfn", fmt_hex(gfn), f"guest page {fmt_hex(gfn << 12)}")
        row("62:52", "generation[18:8]", gen >> 8, "high bits of the memslot generation "
            f"(generation {gen}; stale once the memslots change)")
        row("63", "suppress #VE", int(bool(value & EPT_SUPPRESS_VE)), "must be 0 in KVM's "
            "MMIO SPTEs (part of the MMIO mask)")
        return rows
    e = decode(value, level)
    name = ENTRY_NAME[level]
    row("0", "R", int(e.read), "reads allowed" if e.read else "reads not allowed")
    row("1", "W", int(e.write), "writes allowed" if e.write else "writes not allowed")
    row("2", "X", int(e.execute), "instruction fetches allowed (supervisor-mode with MBEC)"
        if e.execute else "instruction fetches not allowed")
    if e.leaf:
        mt = e.memtype
        row("5:3", "memory type", mt, MEMTYPES.get(mt, "reserved").upper()
            + (" (the EPT memory type; combined with the guest's PAT unless bit 6)"))
        row("6", "ignore PAT", int(e.ipat), "guest PAT ignored: the EPT type is final"
            if e.ipat else "guest PAT combined with the EPT type")
        if level == 1:
            row("7", "ignored", (value >> 7) & 1, "ignored in a PTE")
        else:
            row("7", "page size", 1, f"this {name} maps a {LEVEL_LABEL[level]} page")
        row("8", "accessed", int(e.accessed), "set by the CPU on access (EPT A/D enabled)")
        row("9", "dirty", int(e.dirty), "set by the CPU on write (EPT A/D enabled)")
    else:
        if level >= 4:
            row("7:3", "reserved", (value >> 3) & 0x1F, "must be 0")
        else:
            row("6:3", "reserved", (value >> 3) & 0xF, "must be 0")
            row("7", "page size", 0, f"this {name} references a {TABLE_NAME[level - 1]}")
        row("8", "accessed", int(e.accessed), "set by the CPU when it uses this entry")
        row("9", "ignored", (value >> 9) & 1, "ignored in a non-leaf entry")
    row("10", "user-mode execute", int(e.user_exec), "used only with mode-based execute control")
    row("11", "MMU-present", int(e.mmu_present), "ignored by the CPU; KVM: a present SPTE")
    lo = 12 + 9 * (level - 1) if e.leaf else 12
    row(f"51:{lo}", "address", fmt_hex(e.addr),
        f"host-physical address of the {LEVEL_LABEL[level]} page" if e.leaf
        else f"host-physical address of the {TABLE_NAME[level - 1]}")
    if e.leaf and lo > 12:
        row(f"{lo - 1}:12", "reserved", (value >> 12) & ((1 << (lo - 12)) - 1), "must be 0")
    row("53:52", "A/D type", (value >> SPTE_TDP_AD_SHIFT) & 3,
        "ignored by the CPU; KVM: 0 = A/D bits enabled")
    row("57", "host-writable", int(e.host_writable), "ignored by the CPU unless guest-paging "
        "verification is on; KVM: the host lets this page be mapped writable")
    row("58", "MMU-writable", int(e.mmu_writable), "ignored by the CPU unless guest-paging "
        "verification is on; KVM: may be made writable without the MMU lock")
    row("63", "suppress #VE", int(e.suppress_ve), "EPT violations cause VM exits, not #VE"
        if e.suppress_ve else "an EPT violation may become a #VE in the guest if enabled")
    return rows


# ---------------------------------------------------------------------------
# Paging levels (mmu.c kvm_mmu_get_tdp_level)
# ---------------------------------------------------------------------------
def tdp_level(host_vendor: str, host_5level: bool, guest_maxphyaddr: int) -> int:
    """The root level of a vCPU's TDP tables, ``kvm_mmu_get_tdp_level``
    (arch/x86/kvm/mmu/mmu.c; the same in Linux 6.1 and 6.12).

    * Intel (vmx.c ``kvm_configure_mmu(enable_ept, 0, vmx_get_max_tdp_level()``
      -- ``vmx_get_max_ept_level`` in 6.12 --): no forced level; the maximum
      is 5 when the CPU's EPT walks 5 levels (``cpu_has_vmx_ept_5levels``),
      else 4; 5 is used only when the *guest's* MAXPHYADDR exceeds 48
      (``cpuid_maxphyaddr(vcpu) <= 48`` -> 4), i.e. QEMU's phys-bits, which
      KVM reads from the guest CPUID leaf 0x80000008 (``cpuid_query_maxphyaddr``);
    * AMD (svm.c ``kvm_configure_mmu(npt_enabled, get_npt_level(), ...)``):
      the level is forced to the host's paging depth, 5 when the host kernel
      runs with LA57 (``pgtable_l5_enabled()``), whatever the guest.
    """
    if host_vendor == "AuthenticAMD":
        return 5 if host_5level else 4
    if host_vendor != "GenuineIntel":
        raise ConfigError(f"host CPU vendor {host_vendor!r}: KVM's TDP is VMX (GenuineIntel) "
                          f"or SVM (AuthenticAMD)")
    if host_5level and guest_maxphyaddr > 48:
        return 5
    return 4


# ---------------------------------------------------------------------------
# Guest MTRRs as KVM keeps them (arch/x86/kvm/mtrr.c, Linux 6.1)
# ---------------------------------------------------------------------------
MTRR_DEF_TYPE_E = 1 << 11       # IA32_MTRR_DEF_TYPE.E: MTRRs enabled
MTRR_DEF_TYPE_FE = 1 << 10      # IA32_MTRR_DEF_TYPE.FE: fixed ranges enabled
MT_WT, MT_WP = 4, 5
#: KVM's fixed_seg_table: (start, end, unit shift) of the 88 fixed ranges
#: (8 x 64K from 0, 16 x 16K from 0x80000, 64 x 4K from 0xc0000)
MTRR_FIXED_SEGS = ((0x0, 0x80000, 16), (0x80000, 0xC0000, 14), (0xC0000, 0x100000, 12))
MTRR_FIXED_END = 0x100000


@dataclass
class GuestMtrrs:
    """A vCPU's MTRR MSRs as KVM stores them (``struct kvm_mtrr``):
    ``deftype`` (IA32_MTRR_DEF_TYPE), ``fixed`` (the 88 fixed-range types, in
    KVM's ``fixed_ranges`` order), ``var`` ((MTRRphysBase, MTRRphysMask)
    pairs), ``phys_bits`` (the guest's MAXPHYADDR: KVM sets the reserved
    bits above it in every stored mask) and ``cpuid_mtrr`` (guest
    CPUID.01H:EDX.MTRR, which QEMU's x86 CPU models set)."""

    deftype: int = 0
    fixed: tuple[int, ...] = (0,) * 88
    var: tuple[tuple[int, int], ...] = ()
    phys_bits: int = 40
    cpuid_mtrr: bool = True

    @classmethod
    def seabios(cls, ram_size: int, pcimem_start: int, phys_bits: int) -> "GuestMtrrs":
        """What SeaBIOS ``mtrr_setup`` (src/fw/mtrr.c, rel-1.16.2/1.16.3)
        writes: fixed ranges WB below 0xa0000 (where RamSize reaches), UC at
        0xa0000-0xbffff, WP at 0xc0000-0xfffff; variable range 0 UC from
        ``pcimem_start`` with mask ``-(4G - pcimem_start)`` (KVM reads it as
        [pcimem_start, 4G)); default type WB with fixed and variable ranges
        enabled (0xc06)."""
        fixed = []
        for i in range(8):
            fixed.append(MT_WB if ram_size >= 0x10000 * (i + 1) else MT_UC)
        for i in range(8):
            fixed.append(MT_WB if ram_size >= 0x80000 + 0x4000 * (i + 1) else MT_UC)
        fixed += [MT_UC] * 8                                    # MSR_MTRRfix16K_A0000 = 0
        for j in range(8):
            for i in range(8):
                fixed.append(MT_WP if ram_size >= 0xC0000 + j * 0x8000 + 0x1000 * (i + 1)
                             else MT_UC)
        mask = (-((1 << 32) - pcimem_start) & ((1 << phys_bits) - 1)) | 0x800
        return cls(deftype=0xC00 | MT_WB, fixed=tuple(fixed),
                   var=((pcimem_start | MT_UC, mask),), phys_bits=phys_bits)

    # -- KVM's lookup (mtrr.c mtrr_for_each_mem_type) --------------------------
    def _var_ranges(self) -> list[tuple[int, int, int]]:
        """Valid variable ranges (mask bit 11) as KVM's ``var_mtrr_range``
        reads them, [base & PAGE_MASK, (start | ~mask) + 1), with the reserved
        bits above MAXPHYADDR set in the mask (``set_var_mtrr_msr``), in the
        list order ``set_var_mtrr_msr`` keeps (descending base)."""
        out = []
        reserved = ((1 << 64) - 1) & ~((1 << self.phys_bits) - 1)
        for base, mask in self.var:
            if not mask & 0x800:
                continue
            start = base & ~0xFFF
            m = (mask | reserved) & ~0xFFF
            end = (start | (~m & ((1 << 64) - 1))) + 1
            out.append((start, end, base & 0xFF))
        return sorted(out, key=lambda r: -r[0])

    def _lookup(self, start: int, end: int) -> tuple[list[int], bool, bool]:
        """(memory types met, mtrr_disabled, partial_map) for [start, end)."""
        if not self.deftype & MTRR_DEF_TYPE_E:
            return [], True, False
        types: list[int] = []
        if self.deftype & MTRR_DEF_TYPE_FE and start < MTRR_FIXED_END:
            index = 0
            for seg_start, seg_end, shift in MTRR_FIXED_SEGS:
                for a in range(seg_start, seg_end, 1 << shift):
                    if a + (1 << shift) > start and a < end:
                        types.append(self.fixed[index])
                    index += 1
            if end <= MTRR_FIXED_END:
                return types, False, False
        start_max, partial = start, False
        for r_start, r_end, t in self._var_ranges():
            if not (r_start >= end or r_end <= start):
                partial |= start_max < r_start
                start_max = max(start_max, r_end)
                types.append(t)
        partial |= start_max < end
        return types, False, partial

    def memory_type(self, gfn: int) -> int:
        """``kvm_mtrr_get_guest_memory_type``: the fixed range below 1 MiB
        (when enabled), else the matching variable ranges (UC wins, WT+WB ->
        WT, other mixes WB), else the default type; MTRRs disabled -> UC if
        the guest's CPUID has MTRR (``mtrr_disabled_type``), else WB."""
        types, disabled, _ = self._lookup(gfn << 12, (gfn + 1) << 12)
        if disabled:
            return MT_UC if self.cpuid_mtrr else MT_WB
        if not types:
            return self.deftype & 0xFF
        t = types[0]
        for cur in types[1:]:
            if cur == t:
                continue
            if cur == MT_UC:
                return MT_UC
            if {t, cur} <= {MT_WT, MT_WB}:
                t = MT_WT
                continue
            return MT_WB
        return t

    def consistent(self, gfn: int, pages: int) -> bool:
        """``kvm_mtrr_check_gfn_range_consistency``: one memory type over
        [gfn, gfn + pages) (the default type where no range covers a part)."""
        types, disabled, partial = self._lookup(gfn << 12, (gfn + pages) << 12)
        if types and any(t != types[0] for t in types):
            return False
        if disabled or not partial or not types:
            return True
        return types[0] == self.deftype & 0xFF


def _vm_guest_mtrrs(vm) -> GuestMtrrs:
    """The MTRRs the VM's firmware left: SeaBIOS's ``mtrr_setup`` (called
    from ``qemu_platform_setup`` after ``pci_setup``) when the model ran
    SeaBIOS, else the reset state (all zero: MTRRs disabled)."""
    fw = getattr(vm, "firmware", None)
    if fw is None or not getattr(fw, "pcimem_start", 0):
        return GuestMtrrs()
    from .boot import guest_cpu
    _, bits = guest_cpu(vm.config, vm.stack)
    return GuestMtrrs.seabios(vm.ram_split.below_4g, fw.pcimem_start, bits)


# ---------------------------------------------------------------------------
# Memslots as KVM keeps them
# ---------------------------------------------------------------------------
@dataclass
class _Slot:
    """The parts of ``struct kvm_memory_slot`` the fault path reads."""

    id: int
    base_gfn: int
    npages: int
    userspace_addr: int
    flags: int
    name: str = ""

    @property
    def end_gfn(self) -> int:
        return self.base_gfn + self.npages

    @property
    def readonly(self) -> bool:
        return bool(self.flags & KVM_MEM_READONLY)

    @property
    def dirty_log(self) -> bool:
        return bool(self.flags & KVM_MEM_LOG_DIRTY_PAGES)

    def lpage_allowed(self, gfn: int, level: int) -> bool:
        """Not ``lpage_info(gfn, slot, level)->disallow_lpage``
        (x86.c kvm_alloc_memslot_metadata): the huge frame around ``gfn``
        is refused when it sticks out of the slot (the first frame if
        base_gfn is not aligned, the last if base_gfn + npages is not), and
        every frame when base_gfn and the userspace address are not
        congruent modulo the huge page size."""
        pages = 1 << (9 * (level - 1))
        if (self.base_gfn ^ (self.userspace_addr >> 12)) & (pages - 1):
            return False
        frame = gfn & ~(pages - 1)
        return frame >= self.base_gfn and frame + pages <= self.end_gfn

    def hva(self, gfn: int) -> int:
        """__gfn_to_hva_memslot: userspace_addr + (gfn - base_gfn) * 4096."""
        return self.userspace_addr + ((gfn - self.base_gfn) << 12)


# ---------------------------------------------------------------------------
# The MMU
# ---------------------------------------------------------------------------
class Mmu:
    """KVM's TDP MMU of one VM, with EPT entries stored sparsely.

    ``Mmu(vm)`` reads the VM's live memslots and then follows every
    ``KVM_SET_USER_MEMORY_REGION`` of its KVM listener (it registers itself
    in ``vm.kvm.slot_observers``).  The rules that changed between kernels
    read ``vm.stack`` (its ``kernel``, host CPU and QEMU command line):

    * ``levels``: None (default) derives the EPT depth as KVM does
      (:func:`tdp_level`: ``kvm_mmu_get_tdp_level`` -- Intel: 5 only when
      the host CPU walks 5-level EPT (``stack.host_5level``) *and* the
      guest's phys-bits (``boot.guest_cpu``) exceed 48; AMD: 5 iff the host
      kernel runs with LA57); 4 or 5 forces it (a what-if);
    * ``zap``: ``"all"`` (default) zaps every SPTE of the VM when a memslot
      is deleted or moved: always in Linux < 6.12
      (``kvm_arch_flush_shadow_memslot`` -> ``kvm_page_track_flush_slot`` ->
      ``kvm_mmu_invalidate_zap_pages_in_memslot`` -> ``kvm_mmu_zap_all_fast``),
      and from 6.12 while ``KVM_X86_QUIRK_SLOT_ZAP_ALL`` is on (commit
      aa8d1f48d353, v6.12-rc1; on by default).  ``"slot"`` (only that
      slot's range, ``kvm_mmu_zap_memslot``) needs Linux 6.12+ and a VMM
      that disables the quirk with KVM_CAP_DISABLE_QUIRKS2, which QEMU
      never does (7.2 and 10.0: no KVM_CAP_DISABLE_QUIRKS* in accel/kvm or
      target/i386): it is refused on older kernels and recorded in
      :attr:`notes` as a what-if otherwise;
    * ``noncoherent_dma`` (``kvm_arch_has_noncoherent_dma``: an assigned
      device whose IOMMU cannot enforce snooping): the memory type of RAM
      leaves (``vmx_get_mt_mask``).  Linux < 6.11: the guest's MTRR type
      (``guest_mtrrs``, default what the VM's SeaBIOS wrote, else the reset
      state) without ignore-PAT, or WB|ignore-PAT (UC|ignore-PAT without the
      CD_NW_CLEARED quirk) while ``guest_cr0_cd``; huge pages are capped
      until the MTRRs agree over the frame (``kvm_tdp_page_fault`` ->
      ``kvm_mtrr_check_gfn_range_consistency``); Intel hosts only (the
      check needs ``shadow_memtype_mask``, 0 under AMD NPT).  Guest MTRR
      writes (``update_mtrr`` zapping the range) are not modelled.  Linux 6.11+ (commits
      0a7b73559b39 "KVM: x86: Remove VMX support for virtualizing guest MTRR
      memtypes" and e1548088ff54 "KVM: VMX: Drop support for forcing UC
      memory when guest CR0.CD=1"): WB without ignore-PAT, no cap;
    * zero page: in a VM with no VFIO container nothing pins guest RAM, so
      a first read of never-written RAM maps the host's zero page
      (``hva_to_pfn_slow`` without FOLL_WRITE; ``map_writable`` false):
      a read-only leaf, and the first write faults again and maps the
      copied page (see :mod:`vfiolab.model.host`).  With VFIO, QEMU's DMA
      map pinned every RAM page writable before the guest ran
      (vfio_iommu_type1 ``vfio_pin_pages_remote``, FOLL_WRITE), so one fault
      maps it writable.  The model counts as never written every RAM page
      the guest has not written through this Mmu, except ROM images and,
      after the model's firmware, the first MiB (:meth:`_written_before`);
      other firmware writes (SeaBIOS's high zone, ACPI tables) are not
      tracked.  The same in Linux 6.1 and 6.12.

    Other options (the kernel's knobs):

    * ``tdp_mmu`` (module parameter ``tdp_mmu``, default on for 64-bit):
      off selects the legacy ``direct_map``, which also prefetches the
      neighbouring 4K SPTEs of a 4K fault (``direct_pte_prefetch``).  Its
      pages are direct (no guest PTEs), so a slot-only zap drops only the
      slot's leaves there too (``kvm_mmu_zap_memslot_pages_and_flush`` zaps
      shadow pages *with gptes*, i.e. shadow paging, not modelled);
    * ``mmio_caching`` (``kvm.mmio_caching``): off means no MMIO SPTEs,
      every MMIO access is an EPT violation followed by emulation;
    * ``ept_1g`` whether the CPU has 1G EPT pages
      (``max_huge_page_level``); ``nx_huge_pages`` the iTLB-multihit
      mitigation (exec faults map 4K; on by default only on affected
      Intel CPUs); ``manual_protect`` whether userspace enabled
      ``KVM_DIRTY_LOG_INITIALLY_SET`` (QEMU 7.2 does, accel/kvm/kvm-all.c
      kvm_init), which makes enabling dirty logging leave SPTEs alone;
      ``suppress_ve`` whether present SPTEs carry bit 63 (Linux 6.10+
      put it in ``shadow_present_mask``); ``record`` whether events also
      go to ``vm.events`` (the batch :meth:`touch` records only its summary,
      in ``events``); ``host`` replaces ``vm.host`` as QEMU's address space
      (a :class:`~vfiolab.model.host.HostAddressSpace` or anything with its
      ``translate``, ``populated``, ``read_fault`` and ``write_fault``).
    """

    def __init__(self, vm, *, tdp_mmu: bool = True, mmio_caching: bool = True,
                 zap: str = "all", levels: int | None = None, ept_1g: bool = True,
                 nx_huge_pages: bool = False, noncoherent_dma: bool = False,
                 guest_mtrrs: GuestMtrrs | None = None, guest_cr0_cd: bool = False,
                 cd_nw_cleared_quirk: bool = True,
                 manual_protect: bool = True, suppress_ve: bool = True,
                 record: bool = True, host=None):
        if zap not in ("all", "slot"):
            raise ConfigError(f"zap={zap!r}: use 'all' (KVM_X86_QUIRK_SLOT_ZAP_ALL) or 'slot'")
        if levels is not None and levels not in (4, 5):
            raise ConfigError(f"levels={levels!r}: EPT has 4 or 5 levels")
        if vm.kvm is None:
            raise ConfigError("the VM has no KVM accelerator (accel=kvm), so there is no EPT")
        stack = getattr(vm, "stack", None)
        #: what the model assumed or was asked for beyond the stack
        self.notes: list[str] = []
        if levels is None:
            if stack is None or getattr(vm, "config", None) is None:
                raise ConfigError("the EPT depth depends on the host CPU and the guest's "
                                  "phys-bits: give the VM a stack (boot.build_vm) or levels=4/5")
            from .boot import guest_cpu
            _, guest_bits = guest_cpu(vm.config, stack)
            levels = tdp_level(stack.cpu_vendor, stack.host_5level, guest_bits)
        if zap == "slot":
            if stack is None:
                raise ConfigError("zap='slot' depends on the host kernel (Linux 6.12+): "
                                  "give the VM a stack")
            if not stack.kernel_at_least(6, 12):
                raise ConfigError(
                    f"zap='slot': Linux {stack.kernel[0]}.{stack.kernel[1]} always zaps every "
                    f"SPTE when a memslot is deleted or moved (kvm_mmu_zap_all_fast); the "
                    f"slot-only zap needs Linux 6.12+ with KVM_X86_QUIRK_SLOT_ZAP_ALL disabled "
                    f"(commit aa8d1f48d353)")
            self.notes.append(
                f"zap='slot' is a what-if: QEMU {stack.qemu_text} never disables "
                f"KVM_X86_QUIRK_SLOT_ZAP_ALL (no KVM_CAP_DISABLE_QUIRKS2 in accel/kvm or "
                f"target/i386), so Linux "
                f"{stack.kernel[0]}.{stack.kernel[1]} zaps every SPTE on a memslot delete/move")
        if noncoherent_dma and stack is None:
            raise ConfigError("the memory type under non-coherent DMA depends on the host "
                              "kernel (Linux 6.11 dropped guest-MTRR virtualization): give "
                              "the VM a stack")
        self.stack = stack
        self.vm = vm
        self.host = host if host is not None else vm.host
        self.tdp_mmu = tdp_mmu
        self.mmio_caching = mmio_caching
        self.zap_mode = zap
        self.levels = levels
        self.max_level = 3 if ept_1g else 2
        self.nx_huge_pages = nx_huge_pages
        self.noncoherent_dma = noncoherent_dma
        #: Linux < 6.11 honours the guest's MTRRs/CR0.CD under non-coherent DMA
        # (VMX only: on AMD shadow_memtype_mask is 0, NPT has no memtype field)
        self.guest_mtrr_memtype = bool(noncoherent_dma and not stack.kernel_at_least(6, 11)
                                       and stack.cpu_vendor == "GenuineIntel")
        self.guest_cr0_cd = guest_cr0_cd
        self.cd_nw_cleared_quirk = cd_nw_cleared_quirk
        if guest_mtrrs is None and self.guest_mtrr_memtype:
            guest_mtrrs = _vm_guest_mtrrs(vm)
        self.guest_mtrrs = guest_mtrrs
        #: guest RAM pinned writable by VFIO's DMA map (the VM has a container)
        self.ram_pinned = getattr(vm, "vfio", None) is not None
        self.manual_protect = manual_protect
        self.suppress_ve = suppress_ve
        self.record = record
        #: guest-physical address width the EPT can translate
        self.max_gpa = 1 << (12 + 9 * levels)
        # sparse EPT: leaves per level keyed by base gfn, MMIO SPTEs by gfn,
        # table pages per level keyed by gfn >> (9 * level)
        self.leaves: dict[int, dict[int, int]] = {1: {}, 2: {}, 3: {}}
        self.mmio: dict[int, int] = {}
        self.tables: dict[int, dict[int, int]] = {lv: {} for lv in range(1, levels + 1)}
        self._next_table = EPT_POOL_BASE
        self.generation = 0
        self.slots: dict[int, _Slot] = {}
        self._slot_bases: list[int] = []
        self._slot_list: list[_Slot] = []
        #: gfn ranges whose mappings were taken away (zap or split), per
        #: level, to count refaults: base gfn of the lost leaf
        self._lost: dict[int, set[int]] = {1: set(), 2: set(), 3: set()}
        self.dirty_bitmap: dict[int, set[int]] = {}
        #: every access and memslot-driven action, in order
        self.events: list[dict] = []
        #: VM exits as KVM sees them (kvm_exit reasons), for teaching
        self.vmexits: list[dict] = []
        #: guest RAM contents written by GuestPageTables: qword GPA -> value
        self.guest_memory: dict[int, int] = {}
        self.counters = {k: 0 for k in (
            "accesses", "ept_violations", "ept_misconfigs", "maps", "mmio_sptes",
            "exits_mmio", "kvm_mmio", "fast_pf", "zaps", "zapped_entries", "refaults",
            "splits", "prefetched")}
        for mem in vm.kvm.slots:
            if mem.memory_size:
                self._install_slot(_Slot(mem.slot, mem.start_addr >> 12, mem.memory_size >> 12,
                                         mem.userspace_addr, mem.flags, mem.mr_name))
        self._rebuild_slot_index()
        self._root()
        vm.kvm.slot_observers.append(self.on_set_user_memory)

    def detach(self) -> None:
        """Stop following the VM's memslot updates."""
        if self.on_set_user_memory in self.vm.kvm.slot_observers:
            self.vm.kvm.slot_observers.remove(self.on_set_user_memory)

    # --- events ----------------------------------------------------------------
    def _emit(self, ev: dict) -> dict:
        self.events.append(ev)
        if self.record:
            self.vm.events.append(ev)
        return ev

    # --- memslots --------------------------------------------------------------
    def _install_slot(self, s: _Slot) -> None:
        self.slots[s.id] = s
        if s.dirty_log:
            self.dirty_bitmap.setdefault(s.id, set())

    def _rebuild_slot_index(self) -> None:
        self._slot_list = sorted(self.slots.values(), key=lambda s: s.base_gfn)
        self._slot_bases = [s.base_gfn for s in self._slot_list]

    def slot_for(self, gfn: int) -> _Slot | None:
        """``kvm_vcpu_gfn_to_memslot``: the slot with base_gfn <= gfn <
        base_gfn + npages, or None."""
        i = bisect_right(self._slot_bases, gfn) - 1
        if i >= 0:
            s = self._slot_list[i]
            if gfn < s.end_gfn:
                return s
        return None

    def on_set_user_memory(self, ev: dict) -> None:
        """One ``KVM_SET_USER_MEMORY_REGION`` from QEMU's listener, as
        ``kvm_set_memory_region`` classifies it (kvm_main.c): size 0 ->
        DELETE; an unused slot id -> CREATE; same base and size -> FLAGS_ONLY;
        another base -> MOVE (QEMU itself never moves, it deletes and adds).

        DELETE and MOVE first install an invalid copy of the slot (one
        generation swap), flush the shadow pages
        (``kvm_arch_flush_shadow_memslot``), then install the result (a
        second swap); CREATE and FLAGS_ONLY swap once.  Every swap advances
        the memslot generation, which makes every cached MMIO SPTE stale.
        """
        if ev.get("as_id", 0) != 0:
            return
        sid, gpa, size = ev["slot"], ev["gpa"], ev["size"]
        old = self.slots.get(sid)
        if size == 0:
            if old is None:
                return
            self.generation += KVM_NR_MEMSLOT_AS_IDS          # invalid copy swapped in
            self._flush_memslot(old)
            del self.slots[sid]
            self.dirty_bitmap.pop(sid, None)
            self.generation += KVM_NR_MEMSLOT_AS_IDS          # final swap
            self._rebuild_slot_index()
            return
        new = _Slot(sid, gpa >> 12, size >> 12, ev["ua"], ev["flags"], ev.get("region", ""))
        if old is None:
            self._install_slot(new)
            self.generation += KVM_NR_MEMSLOT_AS_IDS
            self._rebuild_slot_index()
            return
        if old.base_gfn == new.base_gfn and old.npages == new.npages:
            self.slots[sid] = new
            self.generation += KVM_NR_MEMSLOT_AS_IDS
            self._rebuild_slot_index()
            self._apply_flags(old, new)
            return
        # MOVE
        self.generation += KVM_NR_MEMSLOT_AS_IDS
        self._flush_memslot(old)
        self._install_slot(new)
        self.generation += KVM_NR_MEMSLOT_AS_IDS
        self._rebuild_slot_index()

    def _flush_memslot(self, slot: _Slot) -> None:
        """``kvm_arch_flush_shadow_memslot``: Linux < 6.12 always, and 6.12+
        with the SLOT_ZAP_ALL quirk (default; aa8d1f48d353),
        ``kvm_mmu_zap_all_fast`` drops every SPTE of the VM,
        leaves, MMIO SPTEs and table pages (the roots are invalidated and
        rebuilt on the next entry); without it only the slot's leaf SPTEs
        go (``kvm_tdp_mmu_unmap_gfn_range`` zaps present leaves; tables
        stay, and MMIO SPTEs are left to go stale)."""
        if self.zap_mode == "all":
            count = sum(len(d) for d in self.leaves.values()) + len(self.mmio)
            for lv, d in self.leaves.items():
                self._lost[lv].update(d.keys())
                d.clear()
            self.mmio.clear()
            for d in self.tables.values():
                d.clear()
            self._root()
            scope = "all"
        else:
            count = 0
            for lv, d in self.leaves.items():
                pages = 1 << (9 * (lv - 1))
                doomed = [b for b in d if b < slot.end_gfn and b + pages > slot.base_gfn]
                for b in doomed:
                    del d[b]
                self._lost[lv].update(doomed)
                count += len(doomed)
            scope = "slot"
        self.counters["zaps"] += 1
        self.counters["zapped_entries"] += count
        self._emit({"op": "zap", "scope": scope, "slot": slot.id, "entries": count})

    def _apply_flags(self, old: _Slot, new: _Slot) -> None:
        """``kvm_mmu_slot_apply_flags`` for a FLAGS_ONLY change (dirty
        logging is the only flag that can change).

        Logging off: recover huge pages -- zap the page tables under every
        2M frame that may now be mapped huge, so the next touch maps it huge
        (``kvm_mmu_zap_collapsible_sptes``, as in Linux 6.8-6.12; later
        kernels' ``kvm_mmu_recover_huge_pages`` may install the huge leaf
        directly -- not modelled).  Logging on: nothing with
        KVM_DIRTY_LOG_INITIALLY_SET (every page counts as dirty); otherwise
        split huge pages (``eager_page_split``) and write-protect the slot's
        leaves (``kvm_mmu_slot_remove_write_access`` at 4K, the non-PML
        path).  New faults in a dirty-logged slot map 4K only
        (``kvm_mmu_hugepage_adjust``)."""
        if old.dirty_log == new.dirty_log:
            return
        if not new.dirty_log:
            self.dirty_bitmap.pop(new.id, None)
            count = 0
            frames = sorted({b & ~0x1FF for b in self.leaves[1]
                             if new.base_gfn <= b < new.end_gfn})
            for f in frames:
                if self._host_level_cap(new, f) > 1:
                    count += self._remove_below(2, f)
            self._emit({"op": "zap", "scope": "collapsible", "slot": new.id, "entries": count})
            return
        self.dirty_bitmap.setdefault(new.id, set())
        if self.manual_protect:
            return
        split = 0
        for lv in (3, 2):
            for b in [b for b in self.leaves[lv] if new.base_gfn <= b < new.end_gfn]:
                self._split(lv, b, down_to=1)
                split += 1
        count = 0
        for b in [b for b in self.leaves[1] if new.base_gfn <= b < new.end_gfn]:
            self.leaves[1][b] &= ~EPT_WRITE
            count += 1
        self._emit({"op": "write_protect", "slot": new.id, "entries": count, "split": split})

    def _written_before(self, slot: _Slot, gfn: int) -> bool:
        """RAM the model knows was written before the guest ran: a read-only
        slot's ROM image (QEMU ``rom_reset`` copies it into the RAM block)
        and, after the model's SeaBIOS, the first MiB (its IVT/BDA/EBDA and
        the BIOS and option ROMs it shadows at 0xc0000-0xfffff)."""
        return slot.readonly or (gfn < 0x100 and getattr(self.vm, "firmware", None) is not None)

    def _slot_is_ram(self, slot: _Slot) -> bool:
        t = self.host.translate(slot.userspace_addr)
        return t is not None and t.kind == "ram"

    def _zap_leaf(self, level: int, base: int) -> dict:
        """An mmu-notifier invalidation of one leaf's range
        (``kvm_mmu_notifier_invalidate_range_start`` -> ``kvm_unmap_gfn_range``)."""
        del self.leaves[level][base]
        self._lost[level].add(base)
        self.counters["zaps"] += 1
        self.counters["zapped_entries"] += 1
        return self._emit({"op": "zap", "scope": "notifier", "gfn": fmt_hex(base),
                           "entries": 1})

    def _host_level_cap(self, slot: _Slot, gfn: int) -> int:
        """The level a fault at ``gfn`` would get now (ignoring the access
        kind): __kvm_mmu_max_mapping_level with host_pfn_mapping_level."""
        t = self.host.translate(slot.hva(gfn))
        if t is None:
            return 1
        return self._level_for(slot, gfn, t.page_size, "read")

    # --- the sparse tree -------------------------------------------------------
    def _alloc_table(self) -> int:
        hpa = self._next_table
        self._next_table += 4 * KiB
        return hpa

    def _root(self) -> None:
        """The root (PML4 or PML5 table) a vCPU loads (kvm_tdp_mmu_alloc_root)."""
        top = self.tables[self.levels]
        if 0 not in top:
            top[0] = self._alloc_table()

    def _table_key(self, gfn: int, level: int) -> int:
        return gfn >> (9 * level)

    def _leaf_at(self, gfn: int) -> tuple[int, int, int] | None:
        """(level, base gfn, spte) of the present leaf mapping ``gfn``."""
        spte = self.leaves[1].get(gfn)
        if spte is not None:
            return 1, gfn, spte
        b = gfn & ~0x1FF
        spte = self.leaves[2].get(b)
        if spte is not None:
            return 2, b, spte
        b = gfn & ~0x3FFFF
        spte = self.leaves[3].get(b)
        if spte is not None:
            return 3, b, spte
        return None

    def _remove_below(self, level: int, gfn: int) -> int:
        """Free the table referenced by the level-``level`` entry covering
        ``gfn`` and everything under it (the TDP MMU's handle_removed_pt);
        returns the number of leaf and MMIO SPTEs dropped."""
        child = level - 1
        key = self._table_key(gfn, child)
        if key not in self.tables[child]:
            return 0
        del self.tables[child][key]
        base = key << (9 * child)
        pages = 1 << (9 * (child - 1))
        dropped = 0
        for i in range(512):
            g = base + i * pages
            if child == 1:
                if self.leaves[1].pop(g, None) is not None:
                    self._lost[1].add(g)
                    dropped += 1
                if self.mmio.pop(g, None) is not None:
                    dropped += 1
            elif g in self.leaves.get(child, {}):
                del self.leaves[child][g]
                self._lost[child].add(g)
                dropped += 1
            else:
                dropped += self._remove_below(child, g)
        return dropped

    def _split(self, level: int, base: int, down_to: int) -> None:
        """``tdp_mmu_split_huge_page``: replace a huge leaf by a table of 512
        leaves one level down with the same attributes; repeat on every
        child until ``down_to`` (eager splitting goes down to 4K)."""
        spte = self.leaves[level].pop(base)
        child = level - 1
        self.tables[child][self._table_key(base, child)] = self._alloc_table()
        pages = 1 << (9 * (child - 1))
        bytes_ = PAGE_BYTES[child]
        addr = spte & EPT_ADDR_MASK & ~(PAGE_BYTES[level] - 1)
        flags = spte & ~EPT_ADDR_MASK
        if child == 1:
            flags &= ~EPT_LARGE
        d = self.leaves[child]
        for i in range(512):
            d[base + i * pages] = flags | (addr + i * bytes_)
        self.counters["splits"] += 1
        if child > down_to:
            for i in range(512):
                self._split(child, base + i * pages, down_to)

    def _ensure_path(self, gfn: int, goal: int) -> None:
        """kvm_tdp_mmu_map's walk from the root to ``goal``: link missing
        tables (make_nonleaf_spte), split a huge leaf in the way."""
        for lv in range(self.levels, goal, -1):
            # the entry at level lv covering gfn must reference a table
            if lv <= 3:
                b = gfn & ~((1 << (9 * (lv - 1))) - 1)
                if b in self.leaves[lv]:
                    self._split(lv, b, down_to=lv - 1)
                    continue
            key = self._table_key(gfn, lv - 1)
            if key not in self.tables[lv - 1]:
                self.tables[lv - 1][key] = self._alloc_table()

    def _install_leaf(self, level: int, base: int, spte: int) -> int:
        """Set a leaf, replacing whatever the entry held (a smaller mapping's
        table is freed: tdp_mmu_set_spte_atomic + handle_changed_spte)."""
        self._ensure_path(base, level)
        dropped = 0
        if level > 1:
            dropped = self._remove_below(level, base)
        else:
            self.mmio.pop(base, None)
        self.leaves[level][base] = spte
        return dropped

    # --- entry construction ------------------------------------------------------
    def _nonleaf_spte(self, table_hpa: int) -> int:
        """spte.c make_nonleaf_spte: MMU-present, present mask (R), W, user
        mask (R), X, accessed, the child table's address."""
        spte = SPTE_MMU_PRESENT | table_hpa | EPT_READ | EPT_WRITE | EPT_EXEC | EPT_ACCESSED
        return spte | (EPT_SUPPRESS_VE if self.suppress_ve else 0)

    def _leaf_spte(self, level: int, pfn_addr: int, is_mmio: bool, writable: bool,
                   prefetch: bool = False, gfn: int = 0) -> int:
        """spte.c make_spte with kvm_mmu_set_ept_masks (no exec-only, A/D on):
        MMU-present | present mask R (+ suppress-#VE) | accessed unless
        prefetched | X (dropped for huge pages under the NX mitigation) |
        user mask R | page size for huge leaves | vmx_get_mt_mask | host-
        writable | pfn | W + MMU-writable + dirty when writable."""
        spte = SPTE_MMU_PRESENT | EPT_READ
        if self.suppress_ve:
            spte |= EPT_SUPPRESS_VE
        if not prefetch:
            spte |= EPT_ACCESSED
        if not (level > 1 and self.nx_huge_pages):
            spte |= EPT_EXEC
        if level > 1:
            spte |= EPT_LARGE
        spte |= self._mt_mask(is_mmio, gfn)
        spte |= pfn_addr
        if writable:
            spte |= EPT_SPTE_HOST_WRITABLE | EPT_WRITE | EPT_SPTE_MMU_WRITABLE | EPT_DIRTY
        return spte

    def _mt_mask(self, is_mmio: bool, gfn: int = 0) -> int:
        """vmx.c vmx_get_mt_mask: host MMIO -> UC (no ignore-PAT, so the
        guest's PAT can make it WC); RAM -> WB with ignore-PAT unless the VM
        has non-coherent DMA.  Then, Linux 6.11+ (0a7b73559b39, e1548088ff54):
        WB honouring the guest's PAT; before: while the guest's CR0.CD is
        set WB|ignore-PAT (KVM_X86_QUIRK_CD_NW_CLEARED, default) or
        UC|ignore-PAT, else the guest MTRR type
        (``kvm_mtrr_get_guest_memory_type``) honouring the guest's PAT."""
        if is_mmio:
            return MT_UC << EPT_MT_SHIFT
        if not self.noncoherent_dma:
            return (MT_WB << EPT_MT_SHIFT) | EPT_IPAT
        if not self.guest_mtrr_memtype:
            return MT_WB << EPT_MT_SHIFT
        if self.guest_cr0_cd:
            return ((MT_WB if self.cd_nw_cleared_quirk else MT_UC) << EPT_MT_SHIFT) | EPT_IPAT
        return self.guest_mtrrs.memory_type(gfn) << EPT_MT_SHIFT

    def _level_for(self, slot: _Slot, gfn: int, host_page: int, kind: str) -> int:
        """kvm_mmu_hugepage_adjust + __kvm_mmu_max_mapping_level: 4K for a
        dirty-logged slot or (NX mitigation) an exec fault; else walk down
        from max_huge_page_level while (Linux < 6.11 with non-coherent DMA)
        the guest MTRRs are not uniform over the frame or lpage_info forbids
        the level, then cap by the host mapping level
        (host_pfn_mapping_level)."""
        if slot.dirty_log:
            return 1
        if kind == "exec" and self.nx_huge_pages:
            return 1
        level = self.max_level
        if self.guest_mtrr_memtype:
            # Linux < 6.11 kvm_tdp_page_fault: lower max_level until the
            # guest's MTRRs give one memory type over the whole frame
            while level > 1 and not self.guest_mtrrs.consistent(
                    gfn & ~((1 << (9 * (level - 1))) - 1), 1 << (9 * (level - 1))):
                level -= 1
        while level > 1 and not slot.lpage_allowed(gfn, level):
            level -= 1
        if level == 1:
            return 1
        return min(level, SIZE_LEVEL.get(host_page, 1))

    # --- the fault path -------------------------------------------------------------
    def access(self, gpa: int, kind: str = "read") -> list[dict]:
        """One guest access to ``gpa``; returns the events it causes.

        A present leaf with the permission: no exit, no event.  Otherwise
        the EPT violation (or, on an MMIO SPTE, misconfiguration) is handled
        as KVM does (see the module docstring): ``map`` (the access then
        completes in the guest), ``mmio`` (an MMIO SPTE was installed),
        ``exit_mmio`` (KVM_EXIT_MMIO: QEMU dispatches the access to
        ``region``), ``kvm_mmio`` (an in-kernel device claimed it).  ``exit``
        says whether the access left the kernel for QEMU.
        """
        if kind not in ACCESS_KINDS:
            raise ActionError(None, "kind", f"{kind!r}: use read, write or exec")
        if isinstance(gpa, bool) or not isinstance(gpa, int) or gpa < 0:
            raise ActionError(None, "gpa", f"{gpa!r} is not a guest-physical address")
        if gpa >= self.max_gpa:
            raise ActionError(None, "gpa", f"{fmt_hex(gpa)} is beyond the {self.levels}-level "
                                           f"EPT's {12 + 9 * self.levels}-bit guest-physical space")
        self.counters["accesses"] += 1
        gfn = gpa >> 12
        leaf = self._leaf_at(gfn)
        present = leaf is not None
        if present:
            level, base, spte = leaf
            if self._permits(spte, kind):
                self._hit(level, base, spte, kind, gfn)
                return []
            if kind == "write" and spte & EPT_SPTE_MMU_WRITABLE \
                    and not (level > 1 and self._dirty_logged(gfn)):
                # fast_page_fault: a write-protected but MMU-writable SPTE is
                # made writable without the MMU lock (dirty logging)
                self.counters["fast_pf"] += 1
                self._exit("EPT_VIOLATION", gpa, kind, present=True)
                self.leaves[level][base] = spte | EPT_WRITE | EPT_DIRTY
                self._mark_dirty(gfn)
                return []
        else:
            mmio = self.mmio.get(gfn)
            if mmio is not None:
                self._exit("EPT_MISCONFIG", gpa, kind, present=False)
                self.counters["ept_misconfigs"] += 1
                # handle_mmio_page_fault: emulate if the generation matches,
                # else RET_PF_INVALID and the normal fault path runs again
                if decode_mmio_spte(mmio)[1] == self.generation & MMIO_SPTE_GEN_MASK:
                    return [self._mmio_exit(gpa, kind)]
                del self.mmio[gfn]
        return self._page_fault(gpa, gfn, kind, present)

    def _permits(self, spte: int, kind: str) -> bool:
        """mmu.c is_access_allowed: exec needs X, write needs W, read R."""
        if kind == "exec":
            return bool(spte & EPT_EXEC)
        if kind == "write":
            return bool(spte & EPT_WRITE)
        return bool(spte & EPT_READ)

    def _hit(self, level: int, base: int, spte: int, kind: str, gfn: int) -> None:
        # the CPU sets the accessed (and on writes the dirty) flag
        new = spte | EPT_ACCESSED | (EPT_DIRTY if kind == "write" else 0)
        if new != spte:
            self.leaves[level][base] = new
        if kind == "write":
            self._mark_dirty(gfn)

    def _dirty_logged(self, gfn: int) -> bool:
        s = self.slot_for(gfn)
        return s is not None and s.dirty_log

    def _mark_dirty(self, gfn: int) -> None:
        s = self.slot_for(gfn)
        if s is not None and s.dirty_log:
            self.dirty_bitmap.setdefault(s.id, set()).add(gfn - s.base_gfn)

    def _exit(self, reason: str, gpa: int, kind: str, present: bool) -> None:
        self.vmexits.append({"reason": reason, "gpa": fmt_hex(gpa), "access": kind,
                             "present": present})
        if reason == "EPT_VIOLATION":
            self.counters["ept_violations"] += 1

    def _page_fault(self, gpa: int, gfn: int, kind: str, present: bool) -> list[dict]:
        """kvm_tdp_mmu_page_fault after fast_page_fault gave up."""
        self._exit("EPT_VIOLATION", gpa, kind, present)
        slot = self.slot_for(gfn)
        if slot is None:
            return self._noslot_fault(gpa, gfn, kind)
        if kind == "write" and slot.readonly:
            # __gfn_to_hva_many: KVM_HVA_ERR_RO_BAD -> KVM_PFN_ERR_RO_FAULT ->
            # kvm_handle_error_pfn: RET_PF_EMULATE without caching MMIO info
            return [self._mmio_exit(gpa, kind)]
        hva = slot.hva(gfn)
        t = self.host.translate(hva)
        if t is None:
            raise ConfigError(f"memslot {slot.id} ({slot.name}): userspace address {fmt_hex(hva)} "
                              f"is not mapped in QEMU (KVM would fail KVM_RUN with -EFAULT)")
        zero_page, out = False, []
        if t.kind == "ram" and not self.ram_pinned and not self._written_before(slot, gfn) \
                and not self.host.populated(hva):
            if kind == "write":
                # the write copies the (zero) page; the mmu notifier of that
                # change (or of splitting a huge zero PMD) zaps the old leaf
                leaf = self._leaf_at(gfn)
                if leaf is not None:
                    out.append(self._zap_leaf(leaf[0], leaf[1]))
                self.host.write_fault(hva)
            else:
                # hva_to_pfn_slow without FOLL_WRITE: the zero page, mapped
                # read-only (map_writable false)
                self.host.read_fault(hva)
                zero_page = True
            t = self.host.translate(hva)
        level = self._level_for(slot, gfn, t.page_size, kind)
        pages = 1 << (9 * (level - 1))
        base = gfn & ~(pages - 1)
        # kvm_mmu_hugepage_adjust: the pfn is rounded down to the huge page
        pfn_addr = (t.hpa - ((gfn - base) << 12)) & EPT_ADDR_MASK
        is_mmio = t.kind == "pfnmap"                      # kvm_is_mmio_pfn
        writable = not slot.readonly and not zero_page
        spte = self._leaf_spte(level, pfn_addr, is_mmio, writable, gfn=base)
        self._count_refault(gfn)
        self._install_leaf(level, base, spte)
        self.counters["maps"] += 1
        if kind == "write":
            self._mark_dirty(gfn)
        ev = {"op": "map", "gfn": fmt_hex(base), "level": level,
              "memtype": MEMTYPES[(spte & EPT_MT_MASK) >> EPT_MT_SHIFT], "exit": False}
        if zero_page:
            ev["zero_page"] = True
        out.append(self._emit(ev))
        if not self.tdp_mmu and level == 1 and t.kind == "ram":
            self._prefetch(slot, gfn, writable)
        return out

    def _prefetch(self, slot: _Slot, gfn: int, writable: bool) -> None:
        """Legacy MMU direct_pte_prefetch: the other non-present 4K SPTEs of
        the 8-entry aligned group (PTE_PREFETCH_NUM) in the same slot are
        filled without the accessed bit (speculative).  Not for read-only
        slots (gfn_to_page_many_atomic asks for a writable HVA) nor
        dirty-logged ones (gfn_to_memslot_dirty_bitmap returns NULL), nor
        host pages not yet written (gfn_to_page_many_atomic's fast GUP with
        FOLL_WRITE fails on them; a VFIO VM has all of its RAM pinned)."""
        if slot.readonly or slot.dirty_log:
            return
        start = gfn & ~7
        for g in range(start, start + 8):
            if g == gfn or g < slot.base_gfn or g >= slot.end_gfn or self._leaf_at(g):
                continue
            if self.mmio.get(g) is not None:
                continue
            t = self.host.translate(slot.hva(g))
            if t is None or t.kind != "ram":
                continue
            if not (self.ram_pinned or self._written_before(slot, g)
                    or self.host.populated(t.hva)):
                continue        # gfn_to_page_many_atomic: FOLL_WRITE fast GUP fails
            self.leaves[1][g] = self._leaf_spte(1, t.hpa & EPT_ADDR_MASK, False, writable,
                                                prefetch=True, gfn=g)
            self.counters["prefetched"] += 1

    def _count_refault(self, gfn: int) -> None:
        for lv in (1, 2, 3):
            b = gfn & ~((1 << (9 * (lv - 1))) - 1)
            if b in self._lost[lv]:
                self.counters["refaults"] += 1
                return

    def _noslot_fault(self, gpa: int, gfn: int, kind: str) -> list[dict]:
        """kvm_handle_noslot_fault: with MMIO caching an MMIO SPTE is
        installed at 4K (make_mmio_spte, pf_mmio_spte_created) and the access
        emulated; without it the access is emulated straight away."""
        if kind == "exec":
            raise ActionError(None, "kind", f"instruction fetch from {fmt_hex(gpa)}, which no "
                                            f"memslot backs: KVM cannot fetch code from MMIO "
                                            f"(not modelled)")
        out = []
        if self.mmio_caching:
            self._ensure_path(gfn, 1)
            self.mmio[gfn] = make_mmio_spte(gfn, self.generation)
            self.counters["mmio_sptes"] += 1
            out.append(self._emit({"op": "mmio", "gfn": fmt_hex(gfn), "exit": False}))
        out.append(self._mmio_exit(gpa, kind))
        return out

    def _mmio_exit(self, gpa: int, kind: str) -> dict:
        """Emulation (x86_emulate_instruction) of an MMIO access: an
        in-kernel device on KVM's MMIO bus may claim it (vcpu_mmio_write /
        vcpu_mmio_read); otherwise KVM_EXIT_MMIO and QEMU dispatches it
        through its FlatView (address_space_rw) -- to ``region``, or to
        ``unassigned`` where nothing is mapped."""
        fr = self.vm.flatview().lookup(gpa)
        region = fr.mr.name if fr is not None else "unassigned"
        claim = IN_KERNEL_MMIO.get(region)
        if claim and claim[0] <= gpa < claim[0] + claim[1]:
            self.counters["kvm_mmio"] += 1
            return self._emit({"op": "kvm_mmio", "gpa": fmt_hex(gpa), "region": region,
                               "device": claim[2], "exit": False})
        self.counters["exits_mmio"] += 1
        return self._emit({"op": "exit_mmio", "gpa": fmt_hex(gpa), "region": region,
                           "exit": True})

    # --- batch path ---------------------------------------------------------------
    def touch(self, gpas, kind: str = "read") -> dict:
        """Many accesses at once, with the same outcome as calling
        :meth:`access` for each GPA in ascending order, but vectorised for
        the common case (first touch of RAM/BAR pages with no leaf yet).
        Returns a summary and does not record per-page events."""
        if kind not in ACCESS_KINDS:
            raise ActionError(None, "kind", f"{kind!r}: use read, write or exec")
        g = np.asarray(gpas, dtype=np.int64).ravel()
        if g.size and (g.min() < 0 or g.max() >= self.max_gpa):
            raise ActionError(None, "gpas", "guest-physical addresses must lie in "
                                            f"[0, {fmt_hex(self.max_gpa)})")
        before = dict(self.counters)
        maps = {1: 0, 2: 0, 3: 0}
        gfns = np.sort(g >> 12)
        gfns = gfns[_first_of_runs(gfns)]
        slow: list[int] = []
        # 1. which pages already have a leaf allowing the access
        covered = np.zeros(gfns.size, dtype=bool)
        need = {"read": EPT_READ, "write": EPT_WRITE, "exec": EPT_EXEC}[kind]
        blocked = np.zeros(gfns.size, dtype=bool)
        for lv in (1, 2, 3):
            d = self.leaves[lv]
            if not d:
                continue
            keys = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
            vals = np.fromiter(d.values(), dtype=np.uint64, count=len(d))
            order = np.argsort(keys)
            keys, vals = keys[order], vals[order]
            base = gfns & ~np.int64((1 << (9 * (lv - 1))) - 1)
            pos = np.searchsorted(keys, base)
            pos[pos == keys.size] = 0
            found = keys[pos] == base
            ok = found & ((vals[pos] & np.uint64(need)) != 0)
            covered |= ok
            blocked |= found & ~ok
        if kind == "write" and self.dirty_bitmap:
            # writes through present writable leaves still log dirty pages
            for g in gfns[covered].tolist():
                self._mark_dirty(g)
        if self.mmio:
            blocked |= np.isin(gfns, np.fromiter(self.mmio.keys(), dtype=np.int64))
        hard = ~covered & blocked
        slow.extend(gfns[hard].tolist())
        rest = gfns[~covered & ~blocked]
        # 2. group the remaining pages by memslot
        if rest.size:
            bases = np.array(self._slot_bases, dtype=np.int64)
            idx = np.searchsorted(bases, rest, side="right") - 1
            in_slot = idx >= 0
            if self._slot_list:
                ends = np.array([s.end_gfn for s in self._slot_list], dtype=np.int64)
                in_slot &= rest < ends[np.clip(idx, 0, None)]
            slow.extend(rest[~in_slot].tolist())
            for si in np.unique(idx[in_slot]).tolist():
                slot = self._slot_list[si]
                sel = rest[in_slot & (idx == si)]
                # per-access path: read-only slots, the NX mitigation, the
                # legacy MMU, unpinned RAM (zero page), guest-MTRR memtypes
                # unpinned RAM: a read may map the zero page (per access); a
                # first write populates the host page, vectorised below,
                # unless it meets a huge zero page, which is split per access
                unpinned = not self.ram_pinned and self._slot_is_ram(slot)
                hvas = np.int64(slot.userspace_addr) + ((sel - slot.base_gfn) << 12)
                if (kind == "write" and slot.readonly) or (kind == "exec" and self.nx_huge_pages) \
                        or not self.tdp_mmu or self.guest_mtrr_memtype \
                        or (unpinned and (kind != "write" or (
                            self.host.zero_blocks() and
                            np.isin(hvas >> 21, list(self.host.zero_blocks())).any()))):
                    slow.extend(sel.tolist())
                    continue
                if unpinned:
                    self.host.mark_written(hvas)
                slow.extend(self._touch_slot(slot, sel, kind, maps))
        for gfn in sorted(slow):
            for ev in self.access(gfn << 12, kind):
                if ev["op"] == "map":
                    maps[ev["level"]] += 1
        # every GPA given is one access (repeats of a page hit its leaf)
        self.counters["accesses"] = before["accesses"] + int(g.size)
        delta = {k: self.counters[k] - before[k] for k in self.counters}
        summary = {"op": "touch", "kind": kind, "pages": int(gfns.size),
                   "maps": {LEVEL_LABEL[lv]: n for lv, n in maps.items()},
                   "faults": delta["ept_violations"] + delta["ept_misconfigs"],
                   "exits": delta["exits_mmio"], "refaults": delta["refaults"]}
        self.events.append(summary)
        return summary

    def _touch_slot(self, slot: _Slot, gfns: np.ndarray, kind: str, maps: dict) -> list[int]:
        """Vectorised first touch of ``gfns`` (sorted, unmapped) in ``slot``;
        returns the pages left to the per-access path."""
        hva = np.int64(slot.userspace_addr) + ((gfns - slot.base_gfn) << 12)
        # host page size per 2M block of HVA (a PMD leaf or not covers the
        # whole aligned block, so one walk per block suffices)
        first = _first_of_runs(hva >> 21)
        blocks = (hva >> 21)[first]
        host_page = np.empty(blocks.size, dtype=np.int64)
        hpa_off = np.empty(blocks.size, dtype=np.int64)
        mmio_kind = np.empty(blocks.size, dtype=bool)
        for i, j in enumerate(first.tolist()):
            t = self.host.translate(int(hva[j]))
            if t is None:
                raise ConfigError(f"memslot {slot.id} ({slot.name}): userspace address "
                                  f"{fmt_hex(int(hva[j]))} is not mapped in QEMU")
            host_page[i] = t.page_size
            hpa_off[i] = t.hpa - t.hva
            mmio_kind[i] = t.kind == "pfnmap"
        bi = np.searchsorted(blocks, hva >> 21)
        hp, off, is_mmio = host_page[bi], hpa_off[bi], mmio_kind[bi]
        host_level = np.where(hp >= 1 << 30, 3, np.where(hp >= 2 << 20, 2, 1))
        # lpage_info per level, then the cap by the host level
        level = np.ones(gfns.size, dtype=np.int64)
        if not slot.dirty_log:
            for lv in range(self.max_level, 1, -1):
                pages = 1 << (9 * (lv - 1))
                if (slot.base_gfn ^ (slot.userspace_addr >> 12)) & (pages - 1):
                    continue
                frame = gfns & ~np.int64(pages - 1)
                ok = (frame >= slot.base_gfn) & (frame + pages <= slot.end_gfn) & (level == 1)
                level = np.where(ok, lv, level)
            level = np.minimum(level, host_level)
        pages = np.left_shift(np.int64(1), 9 * (level - 1))
        base = gfns & ~(pages - 1)
        # one leaf per (level, base); drop pages whose leaf would replace a
        # lower table (left to the per-access path, which frees it)
        key = (base << 2) | level
        ui = _first_of_runs(key)
        ukey = key[ui]
        lv_u, base_u = level[ui], base[ui]
        conflict = np.zeros(ukey.size, dtype=bool)
        for lv in (2, 3):
            t = self.tables[lv - 1]
            if t:
                tk = np.fromiter(t.keys(), dtype=np.int64, count=len(t))
                conflict |= (lv_u == lv) & np.isin(base_u >> (9 * (lv - 1)), tk)
        slow_keys = set(ukey[conflict].tolist())
        leftover = gfns[np.isin(key, list(slow_keys))].tolist() if slow_keys else []
        keep = ~conflict
        lv_u, base_u, ui = lv_u[keep], base_u[keep], ui[keep]
        if not lv_u.size:
            return leftover
        pfn_addr = ((base_u - slot.base_gfn) << 12) + np.int64(slot.userspace_addr) + off[ui]
        mm = is_mmio[ui]
        writable = not slot.readonly
        # refaults
        for lv in (1, 2, 3):
            lost = self._lost[lv]
            if lost:
                lb = gfns[ui] & ~np.int64((1 << (9 * (lv - 1))) - 1)
                hit = np.isin(lb, np.fromiter(lost, dtype=np.int64, count=len(lost)))
                self.counters["refaults"] += int(hit.sum())
        # tables down to each leaf
        for lv in range(self.levels, 1, -1):
            sel = lv_u < lv
            if sel.any():
                t = self.tables[lv - 1]
                ks = base_u[sel] >> (9 * (lv - 1))
                for k in ks[_first_of_runs(ks)].tolist():
                    if k not in t:
                        t[k] = self._alloc_table()
        for lv in (1, 2, 3):
            sel = lv_u == lv
            n = int(sel.sum())
            if not n:
                continue
            common = self._leaf_spte(lv, 0, False, writable) & ~(EPT_MT_MASK | EPT_IPAT)
            spte = (np.uint64(common) | pfn_addr[sel].astype(np.uint64)
                    | np.where(mm[sel], np.uint64(self._mt_mask(True)),
                               np.uint64(self._mt_mask(False))))
            b = base_u[sel]
            if lv == 1 and self.mmio:
                for g in b.tolist():
                    self.mmio.pop(g, None)
            self.leaves[lv].update(zip(b.tolist(), spte.tolist()))
            maps[lv] += n
        nfault = int(lv_u.size)
        self.counters["maps"] += nfault
        self.counters["ept_violations"] += nfault
        if kind == "write" and slot.dirty_log:
            bm = self.dirty_bitmap.setdefault(slot.id, set())
            bm.update((gfns - slot.base_gfn).tolist())
        return leftover

    # --- views ---------------------------------------------------------------------
    def ept_walk(self, gpa: int) -> list[tuple[int, int, int | None]]:
        """The 1-D EPT walk for ``gpa``: (level, entry value, entry HPA)
        from the root down to the leaf, the MMIO SPTE, or the first
        non-present entry (value :data:`SHADOW_NONPRESENT`)."""
        gfn = gpa >> 12
        out = []
        for lv in range(self.levels, 0, -1):
            table = self.tables[lv].get(self._table_key(gfn, lv))
            if table is None:
                break
            where = table + ept_index(gpa, lv) * 8
            if lv <= 3:
                b = gfn & ~((1 << (9 * (lv - 1))) - 1)
                spte = self.leaves[lv].get(b)
                if spte is not None:
                    out.append((lv, spte, where))
                    return out
            if lv == 1 and gfn in self.mmio:
                out.append((1, self.mmio[gfn], where))
                return out
            child = self.tables[lv - 1].get(self._table_key(gfn, lv - 1)) if lv > 1 else None
            if child is None:
                out.append((lv, self.nonpresent(), where))
                return out
            out.append((lv, self._nonleaf_spte(child), where))
        return out

    def nonpresent(self) -> int:
        """SHADOW_NONPRESENT_VALUE: suppress-#VE only (Linux 6.10+), else 0."""
        return EPT_SUPPRESS_VE if self.suppress_ve else 0

    def lookup(self, gpa: int) -> EptEntry | None:
        """The present leaf mapping ``gpa``, decoded, or None."""
        leaf = self._leaf_at(gpa >> 12)
        return decode(leaf[2], leaf[0]) if leaf else None

    def stats(self) -> dict:
        """Leaves per page size, MMIO SPTEs, table pages per level, counters."""
        return {
            "leaves": {LEVEL_LABEL[lv]: len(self.leaves[lv]) for lv in (1, 2, 3)},
            "mmio_sptes": len(self.mmio),
            "tables": {ENTRY_NAME[lv][:-1] if lv > 1 else "PT": len(self.tables[lv])
                       for lv in range(self.levels, 0, -1)},
            "table_pages": sum(len(t) for t in self.tables.values()),
            "generation": self.generation,
            **self.counters,
        }

    # --- two-dimensional walk -------------------------------------------------------
    def walk_2d(self, gva: int, cr3: int, kind: str = "read", fill: bool = True) -> "Walk2D":
        """Translate ``gva`` as the CPU does under EPT with cold TLBs and
        paging-structure caches, listing every memory reference.

        SDM Vol. 3C "EPT Translation Mechanism": with EPT on, CR3 and the
        addresses in guest paging-structure entries are guest-physical and
        are themselves translated through EPT before the entry is read;
        so each of the 4 guest entries costs an EPT walk plus the read, and
        the final GPA one more EPT walk: (4+1)*(4+1)-1 = 24 references with
        4-level guest paging, 4-level EPT and 4K EPT leaves (the count of
        Bhargava et al., "Accelerating Two-Dimensional Page Walks for
        Virtualized Systems", ASPLOS 2008: (n+1)(m+1)-1).  Huge EPT leaves
        shorten an EPT walk (3 references for 2M, 2 for 1G), huge guest
        pages the guest walk.

        When an EPT entry on the way is missing, the CPU takes an EPT
        violation (``fill``: KVM maps it via :meth:`access`, and the
        instruction restarts the whole walk); the returned walk is the last,
        complete attempt, with the faults of the earlier ones in ``faults``.
        Guest A/D flag updates are not modelled.
        """
        if kind not in ACCESS_KINDS:
            raise ActionError(None, "kind", f"{kind!r}: use read, write or exec")
        check_canonical(gva)
        faults: list[dict] = []
        for attempt in range(1, 16):
            refs: list[dict] = []
            miss, gpa, hpa = self._walk_once(gva, cr3, kind, refs)
            if miss is None:
                return Walk2D(refs, gpa, hpa, faults, attempt)
            if miss == "guest-pf":
                return Walk2D(refs, None, None, faults, attempt, guest_fault=gpa)
            if not fill:
                return Walk2D(refs, None, None, faults, attempt, ept_fault=gpa)
            want = kind if miss == "final" else "read"
            evs = self.access(gpa, want)
            faults.extend(evs)
            leaf = self._leaf_at(gpa >> 12)
            if leaf is None or not self._permits(leaf[2], want):
                where = "the data" if miss == "final" else "a guest page-table entry"
                raise ActionError(None, "cr3", f"2-D walk of {fmt_hex(gva)}: {where} at "
                                               f"{fmt_hex(gpa)} is not in guest RAM "
                                               f"({', '.join(e['op'] for e in evs)})")
        raise ConfigError(f"2-D walk of {fmt_hex(gva)}: EPT still incomplete after 15 attempts")

    def _walk_once(self, gva: int, cr3: int, kind: str, refs: list):
        table = cr3 & EPT_ADDR_MASK
        for gl in (4, 3, 2, 1):
            entry_gpa = table + ((gva >> (12 + 9 * (gl - 1))) & 0x1FF) * 8
            what = f"guest {GUEST_ENTRY[gl]}"
            hpa = self._ept_refs(entry_gpa, gl, what, refs, "read")
            if hpa is None:
                return "table", entry_gpa, None
            value = self.guest_memory.get(entry_gpa, 0)
            refs.append({"ref": len(refs) + 1, "guest_level": gl, "ept_level": None,
                         "reads": what, "gpa": fmt_hex(entry_gpa), "hpa": fmt_hex(hpa),
                         "value": fmt_hex(value)})
            if not value & PTE_P:
                return "guest-pf", gva, None
            if gl in (2, 3) and value & PTE_PS:
                size = PAGE_BYTES[gl]
                final = (value & EPT_ADDR_MASK & ~(size - 1)) | (gva & (size - 1))
                break
            table = value & EPT_ADDR_MASK
        else:
            final = table | (gva & 0xFFF)
        hpa = self._ept_refs(final, 0, "the data", refs, kind)
        if hpa is None:
            return "final", final, None
        return None, final, hpa

    def _ept_refs(self, gpa: int, guest_level: int, target: str, refs: list, kind: str):
        """The EPT part of a 2-D walk for one GPA: one reference per EPT
        entry read; returns the HPA, or None on an EPT violation/misconfig."""
        walk = self.ept_walk(gpa)
        for lv, value, where in walk:
            refs.append({"ref": len(refs) + 1, "guest_level": guest_level, "ept_level": lv,
                         "reads": f"EPT {ENTRY_NAME[lv]} for {target}", "gpa": fmt_hex(gpa),
                         "hpa": fmt_hex(where), "value": fmt_hex(value)})
        if not walk:
            return None
        lv, value, _ = walk[-1]
        if is_mmio_spte(value) or not value & SPTE_MMU_PRESENT:
            return None
        if not (lv == 1 or value & EPT_LARGE):
            return None
        if not self._permits(value, kind):
            return None
        size = PAGE_BYTES[lv]
        return (value & EPT_ADDR_MASK & ~(size - 1)) | (gpa & (size - 1))


# ---------------------------------------------------------------------------
# Guest page tables (x86-64 4-level paging) written into guest RAM
# ---------------------------------------------------------------------------
#: Intel SDM Vol. 3A "4-Level Paging and 5-Level Paging": P bit 0, R/W 1,
#: U/S 2, A 5, D 6, PS 7 (PDPTE/PDE map 1G/2M), address 51:12, XD 63
PTE_P, PTE_RW, PTE_US, PTE_A, PTE_D, PTE_PS = 1, 2, 4, 1 << 5, 1 << 6, 1 << 7
GUEST_ENTRY = {4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE"}


def check_canonical(gva: int) -> None:
    """4-level paging: bits 63:47 of a linear address must be equal."""
    if isinstance(gva, bool) or not isinstance(gva, int) or not 0 <= gva < 1 << 64:
        raise ActionError(None, "gva", f"{gva!r} is not a 64-bit linear address")
    top = gva >> 47
    if top not in (0, (1 << 17) - 1):
        raise ActionError(None, "gva", f"{fmt_hex(gva)} is not canonical (bits 63:47 must "
                                       f"all equal bit 47 with 4-level paging)")


@dataclass
class Walk2D:
    """The result of :meth:`Mmu.walk_2d`: the references of the complete
    attempt (iterating the walk yields them), the GPA and HPA of the data,
    EPT faults taken by earlier attempts, and why it stopped if it did."""

    refs: list
    gpa: int | None
    hpa: int | None
    faults: list = field(default_factory=list)
    attempts: int = 1
    guest_fault: int | None = None
    ept_fault: int | None = None

    def __len__(self):
        return len(self.refs)

    def __iter__(self):
        return iter(self.refs)

    def __getitem__(self, i):
        return self.refs[i]

    def counts(self) -> dict:
        """References by kind: EPT entries read, guest entries read."""
        ept = sum(1 for r in self.refs if r["ept_level"] is not None)
        return {"ept": ept, "guest": len(self.refs) - ept, "total": len(self.refs)}


class GuestPageTables:
    """4-level x86-64 page tables that the guest kernel would write into its
    RAM: table pages are taken, 4K at a time, from ``pool_gpa`` (which must
    lie in a writable RAM memslot); :meth:`map` adds a translation; ``cr3``
    is the PML4 table's GPA.  Entries are P|R/W (|U/S), as a kernel maps
    its own memory (SDM Vol. 3A, tables "Format of a PML4 Entry (PML4E)",
    "... PDPTE that References a Page Directory", "... PDE that References a
    Page Table", "... PTE that Maps a 4-KByte Page" and the 2M/1G leaf
    forms)."""

    def __init__(self, mmu: Mmu, pool_gpa: int, pool_size: int = 64 * KiB):
        if pool_gpa & 0xFFF or pool_size <= 0 or pool_size & 0xFFF:
            raise ConfigError(f"page-table pool {fmt_hex(pool_gpa)}+{fmt_hex(pool_size)}: "
                              f"must be whole 4K pages")
        for g in (pool_gpa >> 12, (pool_gpa + pool_size - 1) >> 12):
            s = mmu.slot_for(g)
            if s is None or s.readonly:
                raise ConfigError(f"page-table pool {fmt_hex(pool_gpa)}+{fmt_hex(pool_size)} "
                                  f"is not inside writable guest RAM (a memslot)")
            t = mmu.host.translate(s.hva(g))
            if t is None or t.kind != "ram":
                raise ConfigError(f"page-table pool at {fmt_hex(g << 12)} is not guest RAM")
        self.mmu = mmu
        self.mem = mmu.guest_memory
        self.pool_gpa = pool_gpa
        self.pool_end = pool_gpa + pool_size
        self._next = pool_gpa
        self.cr3 = self._alloc()

    def _alloc(self) -> int:
        if self._next >= self.pool_end:
            raise ConfigError(f"page-table pool at {fmt_hex(self.pool_gpa)} is full")
        gpa = self._next
        self._next += 4 * KiB
        # the guest kernel writes the table page: the host page behind it is
        # populated (no zero page), as after any guest write
        s = self.mmu.slot_for(gpa >> 12)
        self.mmu.host.write_fault(s.hva(gpa >> 12))
        return gpa

    def map(self, gva: int, gpa: int, page_size: int = 4 * KiB, writable: bool = True,
            user: bool = False) -> None:
        """Map ``gva`` -> ``gpa`` with a 4K, 2M (PDE.PS) or 1G (PDPTE.PS) page."""
        check_canonical(gva)
        if page_size not in SIZE_LEVEL:
            raise ActionError(None, "page_size", f"{page_size!r}: use 4K, 2M or 1G")
        if gva & (page_size - 1) or gpa & (page_size - 1) or not 0 <= gpa < 1 << 52:
            raise ActionError(None, "gpa", f"{fmt_hex(gva)} -> {fmt_hex(gpa)} is not aligned to "
                                           f"the {LEVEL_LABEL[SIZE_LEVEL[page_size]]} page")
        leaf_level = SIZE_LEVEL[page_size]
        flags = PTE_P | (PTE_RW if writable else 0) | (PTE_US if user else 0)
        table = self.cr3
        for gl in (4, 3, 2, 1):
            slot = table + ((gva >> (12 + 9 * (gl - 1))) & 0x1FF) * 8
            if gl == leaf_level:
                self.mem[slot] = gpa | flags | (PTE_PS if gl > 1 else 0)
                return
            value = self.mem.get(slot, 0)
            if value & PTE_P and gl in (2, 3) and value & PTE_PS:
                raise ActionError(None, "gva", f"{fmt_hex(gva)} already lies in a "
                                               f"{LEVEL_LABEL[gl]} guest page")
            if not value & PTE_P:
                value = self._alloc() | PTE_P | PTE_RW | (PTE_US if user else 0)
                self.mem[slot] = value
            table = value & EPT_ADDR_MASK
