"""The host side that QEMU's process sees: its virtual address space.

QEMU backs every RAM block with host memory in its own address space
(``qemu_ram_alloc`` -> ``qemu_anon_ram_alloc``/``file_ram_alloc`` in QEMU
``softmmu/physmem.c``, ``util/oslib-posix.c`` ``qemu_ram_mmap``) and hands
those host virtual addresses (HVAs) to KVM as ``userspace_addr``.  Real
addresses differ from run to run (ASLR), so the model allocates them
deterministically from a fixed base: only their *alignment* is meaningful.
RAM blocks are aligned to the transparent huge page size (2 MiB,
``QEMU_VMALLOC_ALIGN`` on x86-64 Linux); a vfio BAR mmap gets the alignment
the caller asks for (``vfio_region_mmap``: min(size, 1 GiB) from QEMU 9.2,
commit 00b519c0bc "vfio/helpers: Align mmaps"; only page alignment before),
and :meth:`HostAddressSpace.translate` reads the HVA it was given.

The host page-table level behind an HVA is the host kernel's business and
reads the stack (``stack.kernel``):

* **device BAR mmaps** (``VM_PFNMAP``): 4 KiB PTEs before Linux 6.12
  (6.1 ``vfio_pci_mmap_fault`` -> ``io_remap_pfn_range`` of the whole VMA;
  6.10/6.11 ``vmf_insert_pfn``); from 6.12 (commit f9e54c3a2f5b
  "vfio/pci: implement huge_fault support") ``vfio_pci_mmap_huge_fault``
  installs PUD (1 GiB) / PMD (2 MiB) entries where the order-aligned block
  around the faulting address lies inside the VMA and the PFN is aligned to
  the order (09dfc8a5f2ce, v6.13-rc7, and c1d9dac0db16 "vfio/pci: Align huge
  faults to order", v6.15; both carry ``Cc: stable`` and are in the 6.12.y
  kernels Debian 13 ships -- 6.12.0 itself only maps huge when the fault
  address is aligned, which QEMU's DMA map of the BAR, faulting it linearly
  from its start, also achieves).  The core mm only offers the huge orders
  when the THP sysfs setting allows them for the VMA
  (``__handle_mm_fault`` -> ``thp_vma_allowable_order`` ->
  ``__thp_vma_allowable_orders``, mm/huge_memory.c 6.12: a non-anonymous VMA
  needs ``enabled`` = ``always``, or ``madvise`` with ``VM_HUGEPAGE``, which
  QEMU never sets on a BAR mmap), and x86-64 builds them only with THP
  (arch/x86/Kconfig ``select ARCH_SUPPORTS_HUGE_PFNMAP if
  TRANSPARENT_HUGEPAGE``; mm/Kconfig ``ARCH_SUPPORTS_PMD_PFNMAP`` /
  ``ARCH_SUPPORTS_PUD_PFNMAP``);
* **guest RAM** (anonymous, ``MADV_HUGEPAGE`` from QEMU's ``ram_block_add``
  -> ``qemu_madvise(QEMU_MADV_HUGEPAGE)``): 2 MiB transparent huge pages when
  ``enabled`` is ``always`` or ``madvise``, 4 KiB with ``never``.

The THP setting (/sys/kernel/mm/transparent_hugepage/enabled) is not part of
the stack; the model assumes ``always`` (the kernel's
``CONFIG_TRANSPARENT_HUGEPAGE_ALWAYS`` default, and -- assumed, not checked
against a Debian host -- Debian's).  ``HostAddressSpace(thp_enabled=...)``
says otherwise.

Anonymous RAM that nobody has written is not populated: a read fault maps
the shared zero page read-only (mm/memory.c ``do_anonymous_page``; with THP
the huge zero page, mm/huge_memory.c ``do_huge_pmd_anonymous_page`` with
``use_zero_page``, default on); the first write copies it (``do_wp_page``;
a huge zero PMD is split first, ``do_huge_pmd_wp_page`` -> ``fallback``).
A write to a never-touched THP block allocates a 2 MiB huge page.  Same in
Linux 6.1 and 6.12.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addr import MiB, align_up, fmt_hex
from ..errors import ConfigError

__all__ = ["HostAddressSpace", "HostMapping", "QEMU_VMALLOC_ALIGN", "HostTranslation",
           "PAGE_4K", "PAGE_2M", "PAGE_1G", "THP_SETTINGS"]

PAGE_4K, PAGE_2M, PAGE_1G = 4096, 2 * MiB, 1 << 30
#: where the model puts host RAM behind guest RAM blocks (pseudo-physical,
#: contiguous per block; real host RAM pages are scattered)
HOST_RAM_BASE = 0x100000000

#: QEMU include/qemu/osdep.h: on x86-64 Linux, QEMU_VMALLOC_ALIGN = 2 MiB
QEMU_VMALLOC_ALIGN = 2 * MiB

#: /sys/kernel/mm/transparent_hugepage/enabled (Documentation/admin-guide/mm/transhuge.rst)
THP_SETTINGS = ("always", "madvise", "never")


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


class HostAddressSpace:
    """A bump allocator for QEMU's HVAs, with the mappings it handed out,
    and the host page tables behind them (see the module docstring).

    * ``stack``: the :class:`~vfiolab.stack.Stack` whose host kernel decides
      huge PFN maps (set by the VM when it is given its stack);
    * ``thp_enabled``: the host's THP setting, ``always`` (assumed),
      ``madvise`` or ``never``; ``thp=True``/``False`` is shorthand for
      ``always``/``never``.  ``thp`` reads whether guest RAM gets 2 MiB
      pages (QEMU madvises it, so ``always`` or ``madvise``);
    * ``huge_pfnmap``: None (default) derives whether BAR mmaps get PMD/PUD
      entries from the stack's kernel (6.12+) and the THP setting
      (``always``); True/False overrides that, for a what-if.
    """

    def __init__(self, base: int = 0x7F0000000000, *, stack=None, thp: bool | None = None,
                 thp_enabled: str = "always", huge_pfnmap: bool | None = None,
                 ram_top: int = HOST_RAM_BASE):
        self.base = self.top = base
        self.mappings: list[HostMapping] = []
        self.stack = stack
        if thp is not None:
            thp_enabled = "always" if thp else "never"
        if thp_enabled not in THP_SETTINGS:
            raise ConfigError(f"transparent_hugepage/enabled {thp_enabled!r}: "
                              f"expected one of {', '.join(THP_SETTINGS)}")
        self.thp_enabled = thp_enabled
        self.huge_pfnmap = huge_pfnmap
        self.ram_top = ram_top
        # anonymous RAM state (host pages by HVA): 4K pages written (COW'd or
        # allocated), 2M blocks allocated as THPs, 2M blocks mapped with the
        # huge zero page, 2M blocks whose PMD was split into PTEs
        self._written: set[int] = set()
        self._written_2m: set[int] = set()
        self._zero_2m: set[int] = set()
        self._split_2m: set[int] = set()

    # --- settings -------------------------------------------------------------
    @property
    def thp(self) -> bool:
        """Guest RAM (QEMU madvises MADV_HUGEPAGE on it) gets THPs."""
        return self.thp_enabled != "never"

    @thp.setter
    def thp(self, on: bool) -> None:
        self.thp_enabled = "always" if on else "never"

    @property
    def pfnmap_huge(self) -> bool:
        """Whether a BAR mmap (VM_PFNMAP) may get PMD/PUD entries: Linux 6.12+
        (``vfio_pci_mmap_huge_fault``, f9e54c3a2f5b) and THP ``always``
        (``__thp_vma_allowable_orders``: QEMU's BAR mmaps have no
        VM_HUGEPAGE).  ``huge_pfnmap`` overrides."""
        if self.huge_pfnmap is not None:
            return self.huge_pfnmap
        if self.stack is None:
            raise ConfigError("the host kernel is unknown (no stack): whether a BAR mmap gets "
                              "huge PFN maps depends on it (Linux 6.12+); give the VM a stack "
                              "or set huge_pfnmap")
        return self.stack.kernel_at_least(6, 12) and self.thp_enabled == "always"

    # --- allocation -----------------------------------------------------------
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

    # --- page tables ----------------------------------------------------------
    def _fits(self, m: HostMapping, hva: int, hpa: int, size: int) -> bool:
        lo = hva & ~(size - 1)
        return lo >= m.vaddr and lo + size <= m.vaddr + m.size and (hva - hpa) % size == 0

    def translate(self, hva: int) -> HostTranslation | None:
        """Walk the host page table for ``hva``.

        The entry size is the largest of 1 GiB / 2 MiB / 4 KiB for which the
        kernel would install one: the aligned block around ``hva`` lies
        inside the mapping and HVA and HPA agree modulo that size; 1 GiB and
        2 MiB for device PFN maps only when :attr:`pfnmap_huge`, 2 MiB for
        RAM only with THP and where no write to a zero-page-backed block
        split it into PTEs.
        """
        m = self.find(hva)
        if m is None or m.hpa is None:
            return None
        hpa = m.hpa + (hva - m.vaddr)
        sizes = []
        if m.kind == "pfnmap":
            sizes = [PAGE_1G, PAGE_2M] if self.pfnmap_huge else []
        elif self.thp and (hva >> 21) not in self._split_2m:
            sizes = [PAGE_2M]
        for size in sizes:
            if self._fits(m, hva, hpa, size):
                return HostTranslation(hva, hpa, size, m.kind, m)
        return HostTranslation(hva, hpa, PAGE_4K, m.kind, m)

    # --- anonymous RAM population ----------------------------------------------
    def populated(self, hva: int) -> bool:
        """Whether the RAM page at ``hva`` holds its own (written) page, as
        opposed to nothing or the shared zero page."""
        return (hva >> 12) in self._written or (hva >> 21) in self._written_2m

    def read_fault(self, hva: int) -> int:
        """A read fault on never-written anonymous RAM: the zero page is
        mapped read-only (the huge zero page where THP would give a 2 MiB
        page).  Returns the host page size now mapping ``hva``."""
        t = self.translate(hva)
        if t is None:
            raise ConfigError(f"HVA {fmt_hex(hva)} is not mapped in QEMU")
        if t.kind == "ram" and not self.populated(hva) and t.page_size == PAGE_2M:
            self._zero_2m.add(hva >> 21)
        return t.page_size

    def zero_blocks(self) -> set:
        """The 2 MiB blocks of HVA that hold the huge zero page (read, never written)."""
        return self._zero_2m

    def mark_written(self, hvas) -> None:
        """:meth:`write_fault` for many RAM pages at once (a first write to
        each, none in a huge-zero block): per 2 MiB block, a THP block is
        populated with one 2 MiB page, any other page with its own 4 KiB."""
        import numpy as np
        hvas = np.asarray(hvas, dtype=np.int64)
        if not hvas.size:
            return
        hvas = np.sort(hvas)
        blocks = hvas >> 21
        starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        for run in np.split(hvas, starts[1:]):
            t = self.translate(int(run[0]))
            if t is not None and t.kind == "ram" and t.page_size == PAGE_2M:
                self._written_2m.add(int(run[0]) >> 21)
            else:
                self._written.update((run >> 12).tolist())

    def write_fault(self, hva: int) -> int:
        """A write fault on anonymous RAM (or a pin with FOLL_WRITE): a THP
        block with nothing mapped gets a 2 MiB page; a huge zero PMD is split
        and only the written 4 KiB page is copied; otherwise one 4 KiB page.
        Returns the host page size now mapping ``hva``."""
        t = self.translate(hva)
        if t is None:
            raise ConfigError(f"HVA {fmt_hex(hva)} is not mapped in QEMU")
        if t.kind != "ram" or self.populated(hva):
            return t.page_size
        block = hva >> 21
        if t.page_size == PAGE_2M and block in self._zero_2m:
            self._zero_2m.discard(block)
            self._split_2m.add(block)
            self._written.add(hva >> 12)
            return PAGE_4K
        if t.page_size == PAGE_2M:
            self._written_2m.add(block)
            return PAGE_2M
        self._written.add(hva >> 12)
        return PAGE_4K
