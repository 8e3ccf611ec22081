"""The host side that QEMU's process sees: its virtual address space.

QEMU backs every RAM block with host memory in its own address space
(``qemu_ram_alloc`` -> ``qemu_anon_ram_alloc``/``file_ram_alloc`` in QEMU
``softmmu/physmem.c``, ``util/oslib-posix.c`` ``qemu_ram_mmap``) and hands
those host virtual addresses (HVAs) to KVM as ``userspace_addr``.  Real
addresses differ from run to run (ASLR), so the model allocates them
deterministically from a fixed base: only their *alignment* is meaningful,
and it follows QEMU: RAM blocks are aligned to the transparent huge page size
(2 MiB, ``QEMU_VMALLOC_ALIGN`` on x86-64 Linux) and vfio BAR mmaps to
min(BAR size, 1 GiB) (``vfio_region_mmap``, QEMU 9.2+; 7.2 takes what
mmap returns, so the model's alignment is a 9.2+ assumption).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..addr import MiB, align_up

__all__ = ["HostAddressSpace", "HostMapping", "QEMU_VMALLOC_ALIGN", "HostTranslation",
           "PAGE_4K", "PAGE_2M", "PAGE_1G"]

PAGE_4K, PAGE_2M, PAGE_1G = 4096, 2 * MiB, 1 << 30
#: where the model puts host RAM behind guest RAM blocks (pseudo-physical,
#: contiguous per block; real host RAM pages are scattered)
HOST_RAM_BASE = 0x100000000

#: QEMU include/qemu/osdep.h: on x86-64 Linux, QEMU_VMALLOC_ALIGN = 2 MiB
QEMU_VMALLOC_ALIGN = 2 * MiB


@dataclass
class HostMapping:
    """One mapping in QEMU's address space: ``vaddr``, ``size`` and what it is."""

    vaddr: int
    size: int
    name: str
    kind: str            # "ram" (anonymous/file RAM block) or "pfnmap" (device mmap)
    hpa: int | None = None


@dataclass(frozen=True)
class HostTranslation:
    """Where an HVA goes: the host physical address and the size of the
    host page table entry that maps it (4 KiB, 2 MiB or 1 GiB)."""

    hva: int
    hpa: int
    page_size: int
    kind: str
    mapping: HostMapping


@dataclass
class HostAddressSpace:
    """A bump allocator for QEMU's HVAs, with the mappings it handed out,
    and the host page tables behind them.

    ``huge_pfnmap`` says whether the kernel maps device BARs with PMD/PUD
    entries (Linux 6.12+ ``vfio_pci_mmap_huge_fault`` with
    ``CONFIG_ARCH_SUPPORTS_PMD_PFNMAP``/``PUD_PFNMAP`` on x86-64); before,
    ``io_remap_pfn_range`` / ``vmf_insert_pfn`` map 4 KiB pages.
    ``thp`` says whether guest RAM is backed by transparent huge pages
    (QEMU madvises MADV_HUGEPAGE on its RAM blocks, ``qemu_ram_setup_dump``/
    ``qemu_madvise``; whether the kernel gives 2 MiB pages is the host's
    THP setting).
    """

    base: int = 0x7F0000000000
    top: int = 0x7F0000000000
    mappings: list[HostMapping] = field(default_factory=list)
    huge_pfnmap: bool = True
    thp: bool = True
    ram_top: int = HOST_RAM_BASE

    def alloc(self, size: int, name: str, kind: str = "ram", align: int = QEMU_VMALLOC_ALIGN,
              hpa: int | None = None) -> int:
        """Reserve ``size`` bytes aligned to ``align``; return the HVA.  A
        RAM block is given host RAM (2 MiB aligned, contiguous in the model)."""
        vaddr = align_up(self.top, max(align, 4096))
        self.top = vaddr + size
        if kind == "ram" and hpa is None:
            hpa = align_up(self.ram_top, PAGE_2M)
            self.ram_top = hpa + size
        self.mappings.append(HostMapping(vaddr, size, name, kind, hpa))
        return vaddr

    def find(self, hva: int) -> HostMapping | None:
        for m in self.mappings:
            if m.vaddr <= hva < m.vaddr + m.size:
                return m
        return None

    def translate(self, hva: int) -> HostTranslation | None:
        """Walk the host page table for ``hva``.

        The entry size is the largest of 1 GiB / 2 MiB / 4 KiB for which the
        kernel would install one: the aligned block around ``hva`` lies
        inside the mapping and HVA and HPA agree modulo that size; 1 GiB
        only for device PFN maps (PUD pfnmap), 2 MiB for RAM only with THP.
        """
        m = self.find(hva)
        if m is None or m.hpa is None:
            return None
        hpa = m.hpa + (hva - m.vaddr)
        sizes = []
        if m.kind == "pfnmap":
            sizes = [PAGE_1G, PAGE_2M] if self.huge_pfnmap else []
        elif self.thp:
            sizes = [PAGE_2M]
        for size in sizes + [PAGE_4K]:
            lo = hva & ~(size - 1)
            if lo >= m.vaddr and lo + size <= m.vaddr + m.size and (hva - hpa) % size == 0:
                return HostTranslation(hva, hpa, size, m.kind, m)
        return HostTranslation(hva, hpa, PAGE_4K, m.kind, m)
