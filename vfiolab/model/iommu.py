"""DMA for passthrough: QEMU's VFIO listener, the kernel's type1 container,
the IOMMU page table it fills, and a device's DMA through that table.

**QEMU's listener** (QEMU 7.2 ``hw/vfio/common.c``).  One listener (name
"vfio", priority 0, so it is called for additions *before* KVM's priority-10
listener and for deletions *after* it; it has no ``commit`` hook and maps or
unmaps at once.  Whether KVM's memslot change also happens in that call
depends on the release: up to QEMU 7.2 it does, from 8.0 (f39b7d2b96) KVM
queues it until the end of the transaction, so every vfio map and unmap
precedes it; see ``vfiolab.model.kvm``) is registered on the address space "memory" when
the first vfio-pci device's container is set up (``vfio_connect_container``);
registering replays the current view.  For each section
(``vfio_listener_region_add``):

* skip what is neither RAM nor an IOMMU region, and sections with bit 63 set
  (``vfio_listener_skipped_section``; the 64-bit BAR sizing artefact);
* refuse a section whose address and offset disagree within a host page
  (``error_report`` "... received unaligned region ...");
* IOVA = the section's guest-physical address, rounded up to a host page;
  the end rounded down; nothing left -> nothing mapped;
* ``vaddr`` = the region's host pointer + offset: for guest RAM the RAM
  block, for a BAR mmap the mmap of the device fd;
* ram_device sections not aligned to the IOMMU's smallest page size are
  skipped with a trace ("cannot be mapped for DMA"), the rest is mapped with
  ``vfio_dma_map`` -> ``VFIO_IOMMU_MAP_DMA``, flags READ, plus WRITE unless
  the section is read-only;
* a failed map of a ram_device section is reported (``error_report_err``)
  and the VM goes on (peer-to-peer to that BAR will not work); a failed map
  of RAM is fatal: during set-up the first error is kept and fails the
  container ("memory listener initialization failed: Region <name>: ..."),
  later ``hw_error("vfio: DMA mapping failed, unable to continue")``.
  QEMU 7.2 does not read the IOVA ranges the kernel reports (a FIXME in
  ``vfio_connect_container`` assumes a 64-bit window), so a section in a
  reserved range reaches the kernel and fails there.

``vfio_listener_region_del`` makes the same checks and unmaps the same IOVA
range (``VFIO_IOMMU_UNMAP_DMA``); a ram_device section that was too small to
map is not unmapped.

**The kernel's container** (Linux ``drivers/vfio/vfio_iommu_type1.c``,
``include/uapi/linux/vfio.h``): :class:`Type1Container` takes
``struct vfio_iommu_type1_dma_map`` / ``_dma_unmap`` with the kernel's checks
and their errnos, pins RAM pages and counts them in the process's locked
memory against ``RLIMIT_MEMLOCK``, leaves ``VM_PFNMAP`` ranges (BAR mmaps)
unpinned and uncounted, and fills an IOMMU page table
(:class:`VtdPageTable`, Intel VT-d second-level format, with the super pages
``intel-iommu`` picks).  :class:`Iommu` walks that table for a device's DMA
(:func:`iommu_for` gives the one of a VM).

**Two contrasts.**  :class:`VtdShadow` is a vIOMMU in the guest
(``-device intel-iommu,caching-mode=on``): IOVA is what the guest driver
chooses, and QEMU copies each guest mapping into the host container through
its IOMMU notifier.  The newer interface for the container's job is iommufd:

* Linux ``/dev/iommu`` (iommufd, 6.2+; ``include/uapi/linux/iommufd.h``):
  an I/O address space object (``IOMMU_IOAS_ALLOC``) replaces the type1
  container;
  ``IOMMU_IOAS_MAP`` (``struct iommu_ioas_map``: size, flags, ioas_id,
  user_va, length, iova; flags ``IOMMU_IOAS_MAP_FIXED_IOVA``,
  ``_WRITEABLE``, ``_READABLE``) and ``IOMMU_IOAS_UNMAP`` replace
  MAP_DMA/UNMAP_DMA; ``IOMMU_IOAS_IOVA_RANGES`` reports the usable IOVAs; a
  device is bound with ``VFIO_DEVICE_BIND_IOMMUFD`` on its VFIO cdev
  (``/dev/vfio/devices/vfioN``) and attached with
  ``VFIO_DEVICE_ATTACH_IOMMUFD_PT``.  Pinning and locked-memory
  accounting move into iommufd (``IOMMU_OPTION_RLIMIT_MODE`` chooses
  per-process or per-user accounting), and hardware page tables can be
  allocated and nested for a vIOMMU.
* QEMU 9.0+ (``-object iommufd,id=fd0 -device vfio-pci,...,iommufd=fd0``;
  ``backends/iommufd.c`` ``iommufd_backend_map_dma``): the same listener
  decides what to map (IOVA = GPA without a vIOMMU), and each map is an
  ``IOMMU_IOAS_MAP`` with FIXED_IOVA|READABLE, plus WRITEABLE unless
  read-only.  QEMU 7.2 has only the type1 container modelled here.
"""

from __future__ import annotations

import errno as _errno
import os
import weakref
from bisect import bisect_right, insort
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace

from ..addr import PAGE_SIZE, align_down, align_up, fmt_hex
from ..errors import ActionError, ConfigError, IommuError
from .pci import PCI_COMMAND, PCI_COMMAND_MASTER
from .host import PAGE_1G, PAGE_2M, PAGE_4K, HostAddressSpace
from .memory import AddressSpace, FlatRange, MemoryListener

__all__ = [
    "VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU", "VFIO_DMA_MAP_FLAG_READ", "VFIO_DMA_MAP_FLAG_WRITE",
    "VFIO_DMA_MAP_FLAG_VADDR", "VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP", "VFIO_DMA_UNMAP_FLAG_ALL",
    "VFIO_DMA_UNMAP_FLAG_VADDR", "VFIO_DMA_MAP_ARGSZ", "VFIO_DMA_UNMAP_ARGSZ", "DMA_ENTRY_LIMIT",
    "MSI_RANGE_START", "MSI_RANGE_END", "HT_RANGE_START", "HT_RANGE_END",
    "DMA_PTE_READ", "DMA_PTE_WRITE", "DMA_PTE_LARGE_PAGE", "DMA_PTE_SNP", "VTD_PTE_ADDR_MASK",
    "HostIommuConfig", "HOST", "host_config", "reserved_regions", "VfioIommuType1DmaMap",
    "VfioIommuType1DmaUnmap", "VfioDma", "VtdPageTable", "WalkStep", "PageWalk", "decode_pte",
    "Type1Container", "DmaMapping", "VfioMemoryListener", "Iommu", "iommu_for", "VtdShadow",
]

# --- include/uapi/linux/vfio.h ---------------------------------------------------------------
VFIO_TYPE1_IOMMU = 1
VFIO_TYPE1v2_IOMMU = 3
VFIO_DMA_MAP_FLAG_READ = 1 << 0           # readable from device
VFIO_DMA_MAP_FLAG_WRITE = 1 << 1          # writable from device
VFIO_DMA_MAP_FLAG_VADDR = 1 << 2          # update the vaddr of an invalidated mapping
VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0
VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1
VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2
VFIO_IOMMU_INFO_PGSIZES = 1 << 0
VFIO_IOMMU_INFO_CAPS = 1 << 1
#: offsetofend(struct vfio_iommu_type1_dma_map, size): __u32 argsz, __u32 flags,
#: __u64 vaddr, iova, size; the kernel refuses a smaller argsz
VFIO_DMA_MAP_ARGSZ = 32
#: offsetofend(struct vfio_iommu_type1_dma_unmap, size): argsz, flags, iova, size
VFIO_DMA_UNMAP_ARGSZ = 24
#: vfio_iommu_type1.c module parameter ``dma_entry_limit`` (U16_MAX): vfio_dma
#: entries per container
DMA_ENTRY_LIMIT = 65535
_U64 = 1 << 64

# --- reserved IOVA regions (include/linux/iommu.h IOMMU_RESV_*) --------------------------------
#: drivers/iommu/intel/iommu.c intel_iommu_get_resv_regions (IOAPIC_RANGE_START/END) and
#: drivers/iommu/amd/iommu.c amd_iommu_get_resv_regions (MSI_RANGE_START/END): the x86
#: interrupt window, type IOMMU_RESV_MSI
MSI_RANGE_START, MSI_RANGE_END = 0xFEE00000, 0xFEEFFFFF
#: drivers/iommu/amd/iommu.c HT_RANGE_START/END: HyperTransport, IOMMU_RESV_RESERVED,
#: unless the IOMMU reports FEATURE_HT_RANGE_IGNORE (amd_iommu_ht_range_ignore)
HT_RANGE_START, HT_RANGE_END = 0xFD00000000, 0xFFFFFFFFFF

# --- VT-d second-level paging entries (VT-d spec section 9.8, "Second-Level Paging
# Entries"; "second-stage" in revision 4) as Linux drivers/iommu/intel/iommu.h names them
DMA_PTE_READ = 1 << 0          # R: reads allowed
DMA_PTE_WRITE = 1 << 1         # W: writes allowed; R = W = 0 means "not present"
DMA_PTE_LARGE_PAGE = 1 << 7    # PS: in an SL-PDPE (1 GiB) or SL-PDE (2 MiB) the entry maps a page
DMA_PTE_SNP = 1 << 11          # SNP: snoop (force cache coherency); not set by this model
#: ADDR: bits 51:12 (host address width - 1 : 12) hold the next table or the page frame
VTD_PTE_ADDR_MASK = ((1 << 52) - 1) & ~0xFFF
VTD_LEVEL_STRIDE = 9           # 512 entries a table (Linux VTD_STRIDE_SHIFT)
LEVEL_NAMES = {5: "SL-PML5E", 4: "SL-PML4E", 3: "SL-PDPE", 2: "SL-PDE", 1: "SL-PTE"}
#: page size a leaf at each level maps
LEVEL_PAGE = {1: PAGE_4K, 2: PAGE_2M, 3: PAGE_1G}
#: Linux drivers/iommu/intel/dmar.c dma_remap_fault_reasons[] (VT-d spec appendix A)
VTD_FAULT_REASONS = {0x4: "Access beyond MGAW", 0x5: "PTE Write access is not set",
                     0x6: "PTE Read access is not set"}
#: where the model puts the IOMMU's page-table pages (kernel memory; the value is a
#: placeholder like the model's HVAs, only the entry format is real)
TABLE_POOL_BASE = 0x10000000
#: QEMU's VFIOContainer pointer as ``%p`` prints it: a placeholder (ASLR)
QEMU_CONTAINER_PTR = 0x555555C0F000


def _ptr(value: int | None) -> str:
    """glibc ``%p``: ``0x...``, or ``(nil)`` for NULL."""
    return "(nil)" if not value else f"{value:#x}"


# --- the host's configuration -----------------------------------------------------------------

@dataclass
class HostIommuConfig:
    """What the host brings to every container: the IOMMU vendor, the type1
    module's parameters and QEMU's process limits.

    * ``vendor``: "intel" (VT-d) or "amd" (AMD-Vi): the reserved IOVA
      regions and the page sizes the domain advertises
      (``iommu->pgsize_bitmap``, ``VFIO_IOMMU_GET_INFO`` ``iova_pgsizes``):
      Intel second-level tables 4 KiB | 2 MiB | 1 GiB (with SLLPS; older
      kernels advertised every size from 4 KiB up), AMD v1 tables every
      power of two from 4 KiB to 2^51 but 512 GiB (``AMD_IOMMU_PGSIZES``).
      The page *table* is modelled in VT-d format for both.
    * ``dma_entry_limit``, ``disable_hugepages``: module parameters of
      vfio_iommu_type1 (``/sys/module/vfio_iommu_type1/parameters/``).
    * ``rlimit_memlock`` (bytes, None = unlimited) and ``cap_ipc_lock``:
      QEMU's ``RLIMIT_MEMLOCK`` and whether it has CAP_IPC_LOCK (then the
      limit is not checked, pages are still counted;
      ``__account_locked_vm``).  Linux's default limit is 8 MiB
      (include/uapi/linux/resource.h ``MLOCK_LIMIT``; 64 KiB before 5.16);
      libvirt raises it for VFIO guests.
    * ``address_width``: the domain's IOVA width; 48 bits = a 4-level table
      (Linux ``ADDR_WIDTH_4LEVEL``), 57 = 5 levels.  A VT-d domain's width
      is the IOMMU's AGAW width capped at its MGAW (Linux 6.12
      drivers/iommu/intel/iommu.c ``paging_domain_alloc``:
      ``min(agaw_to_width(iommu->agaw), cap_mgaw(cap))``), so any width
      from 30 to 57 bits can occur (e.g. 46); the table has as many levels
      as that width needs.
    * ``extra_reserved``: more reserved regions ``(start, end, type)`` than
      :func:`reserved_regions` knows, as a host's
      ``/sys/kernel/iommu_groups/*/reserved_regions`` lists them (RMRRs).
    * ``v2``: QEMU opens the container as ``VFIO_TYPE1v2_IOMMU`` when the
      kernel offers it (``vfio_get_iommu_type`` tries v2 first).
    """

    vendor: str = "intel"
    dma_entry_limit: int = DMA_ENTRY_LIMIT
    disable_hugepages: bool = False
    rlimit_memlock: int | None = None
    cap_ipc_lock: bool = False
    address_width: int = 48
    ht_range_ignore: bool = False
    v2: bool = True
    extra_reserved: tuple = ()

    def check(self) -> None:
        if self.vendor not in ("intel", "amd"):
            raise ConfigError(f"host IOMMU vendor {self.vendor!r}: use 'intel' or 'amd'")
        if not 30 <= self.address_width <= 57:
            raise ConfigError(f"IOMMU address width {self.address_width}: expected 30 to 57 "
                              "(39, 48, 57 are the 3-, 4- and 5-level table widths)")
        if self.dma_entry_limit < 0:
            raise ConfigError(f"dma_entry_limit {self.dma_entry_limit} is negative")
        if self.rlimit_memlock is not None and self.rlimit_memlock < 0:
            raise ConfigError(f"RLIMIT_MEMLOCK {self.rlimit_memlock} is negative")


#: the host every new container starts from (change it with :func:`host_config`)
HOST = HostIommuConfig()


@contextmanager
def host_config(**changes):
    """Containers created inside the block see ``HOST`` with ``changes``
    (e.g. ``rlimit_memlock=64 << 20``); ``HOST`` is restored afterwards."""
    names = {f.name for f in fields(HostIommuConfig)}
    bad = sorted(set(changes) - names)
    if bad:
        raise ConfigError(f"unknown host setting {bad[0]!r}; known: {', '.join(sorted(names))}")
    saved = replace(HOST)
    for k, v in changes.items():
        setattr(HOST, k, v)
    try:
        HOST.check()
        yield HOST
    finally:
        for f in fields(HostIommuConfig):
            setattr(HOST, f.name, getattr(saved, f.name))


def reserved_regions(vendor: str = "intel", ht_range_ignore: bool = False) -> list[tuple]:
    """The IOMMU reserved regions of a device's group: (start, end, type).

    Intel: the interrupt window as ``IOMMU_RESV_MSI`` (plus RMRRs for devices
    the firmware names, not modelled).  AMD: the same window, and the
    HyperTransport range as ``IOMMU_RESV_RESERVED`` unless the IOMMU says it
    may be ignored.
    """
    out = [(MSI_RANGE_START, MSI_RANGE_END, "msi")]
    if vendor == "amd" and not ht_range_ignore:
        out.append((HT_RANGE_START, HT_RANGE_END, "reserved"))
    return out


def _iova_ranges(aperture_end: int, resv: list[tuple]) -> list[tuple[int, int]]:
    """vfio_iommu_type1.c ``vfio_iommu_aper_resize`` + ``vfio_iommu_resv_exclude``:
    the aperture [0, end] with every reserved region cut out."""
    ranges = [(0, aperture_end)]
    for start, end, _kind in resv:
        nxt = []
        for lo, hi in ranges:
            if start > hi or end < lo:
                nxt.append((lo, hi))
                continue
            if start > lo:
                nxt.append((lo, start - 1))
            if end < hi:
                nxt.append((end + 1, hi))
        ranges = nxt
    return ranges


# --- the ioctl structures ----------------------------------------------------------------------

@dataclass(frozen=True)
class VfioIommuType1DmaMap:
    """``struct vfio_iommu_type1_dma_map`` (include/uapi/linux/vfio.h)."""

    argsz: int
    flags: int
    vaddr: int
    iova: int
    size: int

    def flag_names(self) -> str:
        names = [n for bit, n in ((VFIO_DMA_MAP_FLAG_READ, "READ"),
                                  (VFIO_DMA_MAP_FLAG_WRITE, "WRITE"),
                                  (VFIO_DMA_MAP_FLAG_VADDR, "VADDR")) if self.flags & bit]
        return "|".join(names) or "0"


@dataclass(frozen=True)
class VfioIommuType1DmaUnmap:
    """``struct vfio_iommu_type1_dma_unmap``; the kernel writes the bytes it
    unmapped back into ``size``."""

    argsz: int
    flags: int
    iova: int
    size: int


@dataclass
class VfioDma:
    """The kernel's ``struct vfio_dma``: one MAP_DMA, kept in an rb-tree by IOVA.

    ``chunks`` are the physically contiguous runs pinned and mapped, as
    (iova, hpa, size, kind, {IOMMU page size: entries}) with kind "ram"
    (pinned, counted) or "pfnmap" (a device's MMIO: not pinned, not
    counted); ``locked_pages`` is what the mapping added to ``locked_vm``.
    """

    iova: int
    vaddr: int
    size: int
    read: bool
    write: bool
    locked_pages: int = 0
    chunks: list = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.iova + self.size


# --- the IOMMU page table ----------------------------------------------------------------------

def decode_pte(value: int, level: int) -> dict:
    """A second-level paging entry bit by bit (VT-d spec 9.8): R (bit 0),
    W (bit 1), PS (bit 7, levels 2 and 3 only), SNP (bit 11), ADDR (51:12).
    ``present`` is R|W (Linux ``dma_pte_present``: VT-d second-level entries
    have no separate present bit); ``leaf`` when it maps a page."""
    ps = bool(value & DMA_PTE_LARGE_PAGE) if level in (2, 3) else False
    return {"name": LEVEL_NAMES[level], "level": level, "value": value,
            "R": bool(value & DMA_PTE_READ), "W": bool(value & DMA_PTE_WRITE), "PS": ps,
            "SNP": bool(value & DMA_PTE_SNP), "addr": value & VTD_PTE_ADDR_MASK,
            "present": bool(value & (DMA_PTE_READ | DMA_PTE_WRITE)),
            "leaf": level == 1 or ps}


@dataclass(frozen=True)
class WalkStep:
    """One entry read during a walk: the table's address, the index the IOVA
    selects in it, and the 64-bit entry found."""

    level: int
    table: int
    index: int
    entry: int

    @property
    def name(self) -> str:
        return LEVEL_NAMES[self.level]

    def decoded(self) -> dict:
        return decode_pte(self.entry, self.level)


@dataclass
class PageWalk:
    """The result of walking the table for ``iova``: the entries read and,
    for a hit, the HPA, the page size and the permissions of the leaf."""

    iova: int
    steps: list
    hpa: int | None = None
    page_size: int | None = None
    read: bool = False
    write: bool = False
    beyond_width: bool = False


class VtdPageTable:
    """A VT-d second-level (second-stage) page table: IOVA -> HPA.

    ``levels`` tables of 512 eight-byte entries, 9 IOVA bits each above the
    12-bit page offset (4 levels: bits 47:39, 38:30, 29:21, 20:12).  A
    non-leaf entry holds the next table's address with R and W set (Linux
    ``pfn_to_dma_pte``); a leaf holds the page frame, R/W from the mapping
    and, above level 1, PS.  Filling follows Linux
    ``drivers/iommu/intel/iommu.c`` ``__domain_mapping`` with
    ``hardware_largepage_caps``: each step uses the largest super page
    (1 GiB, then 2 MiB) for which IOVA *and* HPA are aligned and enough
    bytes remain.  Clearing removes the leaves and frees tables left empty
    (``dma_pte_clear_level`` / ``dma_pte_free_pagetable``).
    """

    def __init__(self, levels: int = 4, superpages: tuple[int, ...] = (PAGE_2M, PAGE_1G),
                 pool_base: int = TABLE_POOL_BASE):
        self.levels = levels
        self.superpages = tuple(sorted(superpages, reverse=True))
        self.tables: dict[int, dict[int, int]] = {}
        self._next = pool_base
        self._free: list[int] = []
        self.root = self._alloc()

    @property
    def address_width(self) -> int:
        return 12 + VTD_LEVEL_STRIDE * self.levels

    def _alloc(self) -> int:
        addr = self._free.pop() if self._free else self._next
        if addr == self._next:
            self._next += PAGE_4K
        self.tables[addr] = {}
        return addr

    @staticmethod
    def index(iova: int, level: int) -> int:
        """The 9 IOVA bits that select an entry at ``level``."""
        return (iova >> (12 + VTD_LEVEL_STRIDE * (level - 1))) & 0x1FF

    @staticmethod
    def span(level: int) -> int:
        """Bytes one entry at ``level`` covers."""
        return 1 << (12 + VTD_LEVEL_STRIDE * (level - 1))

    def map_range(self, iova: int, hpa: int, size: int, read: bool, write: bool,
                  max_page: int = PAGE_1G) -> dict[int, int]:
        """Map [iova, iova+size) to [hpa, ...): returns {page size: count}.
        ``max_page`` caps the super pages (the pinned run's contiguity)."""
        counts: dict[int, int] = {}
        while size > 0:
            page = PAGE_4K
            # hardware_largepage_caps: IOVA | HPA aligned, and pages left
            for cand in self.superpages:
                if cand <= max_page and (iova | hpa) % cand == 0 and size >= cand:
                    page = cand
                    break
            self._set_leaf(iova, hpa, page, read, write)
            counts[page] = counts.get(page, 0) + 1
            iova += page
            hpa += page
            size -= page
        return counts

    def _set_leaf(self, iova: int, hpa: int, page: int, read: bool, write: bool) -> None:
        leaf_level = {PAGE_4K: 1, PAGE_2M: 2, PAGE_1G: 3}[page]
        table = self.tables[self.root]
        for level in range(self.levels, leaf_level, -1):
            idx = self.index(iova, level)
            e = table.get(idx, 0)
            if not e & (DMA_PTE_READ | DMA_PTE_WRITE):
                # a new table; non-leaf entries carry R and W
                e = self._alloc() | DMA_PTE_READ | DMA_PTE_WRITE
                table[idx] = e
            if e & DMA_PTE_LARGE_PAGE:
                raise AssertionError(f"IOVA {iova:#x}: a super page is already mapped here")
            table = self.tables[e & VTD_PTE_ADDR_MASK]
        idx = self.index(iova, leaf_level)
        if table.get(idx, 0) & (DMA_PTE_READ | DMA_PTE_WRITE):
            # Linux: "ERROR: DMA PTE for vPFN ... already set"; type1 refuses the
            # overlap earlier (-EEXIST), so this cannot happen through a container
            raise AssertionError(f"IOVA {iova:#x}: entry already set")
        entry = (hpa & VTD_PTE_ADDR_MASK) | (DMA_PTE_READ if read else 0)
        entry |= DMA_PTE_WRITE if write else 0
        if leaf_level > 1:
            entry |= DMA_PTE_LARGE_PAGE
        table[idx] = entry

    def unmap_range(self, iova: int, size: int) -> int:
        """Clear every leaf inside [iova, iova+size); returns the bytes cleared."""
        return self._clear(self.root, self.levels, 0, iova, iova + size)

    def _clear(self, taddr: int, level: int, base: int, lo: int, hi: int) -> int:
        table = self.tables[taddr]
        span = self.span(level)
        cleared = 0
        first = max(0, (lo - base) // span)
        last = min(511, (hi - 1 - base) // span)
        for idx in [i for i in table if first <= i <= last]:
            e = table[idx]
            start = base + idx * span
            if level == 1 or e & DMA_PTE_LARGE_PAGE:
                del table[idx]
                cleared += span
                continue
            child = e & VTD_PTE_ADDR_MASK
            cleared += self._clear(child, level - 1, start, lo, hi)
            if not self.tables[child]:
                # dma_pte_free_pagetable: a table with nothing left is freed
                del self.tables[child]
                self._free.append(child)
                del table[idx]
        return cleared

    def walk(self, iova: int) -> PageWalk:
        """Translate ``iova`` as the hardware does: root table first, one
        entry per level, stop at a non-present entry or a leaf."""
        w = PageWalk(iova, [])
        if iova >> self.address_width:
            w.beyond_width = True
            return w
        taddr = self.root
        for level in range(self.levels, 0, -1):
            idx = self.index(iova, level)
            e = self.tables[taddr].get(idx, 0)
            w.steps.append(WalkStep(level, taddr, idx, e))
            if not e & (DMA_PTE_READ | DMA_PTE_WRITE):
                return w
            if level == 1 or (level in (2, 3) and e & DMA_PTE_LARGE_PAGE):
                page = self.span(level)
                w.page_size = page
                w.hpa = (e & VTD_PTE_ADDR_MASK & ~(page - 1)) | (iova & (page - 1))
                w.read = bool(e & DMA_PTE_READ)
                w.write = bool(e & DMA_PTE_WRITE)
                return w
            taddr = e & VTD_PTE_ADDR_MASK
        return w

    def leaves(self) -> list[tuple[int, int, int, bool, bool]]:
        """Every leaf as (iova, page size, hpa, read, write), by IOVA."""
        out: list = []

        def rec(taddr: int, level: int, base: int) -> None:
            for idx in sorted(self.tables[taddr]):
                e = self.tables[taddr][idx]
                start = base + idx * self.span(level)
                if level == 1 or e & DMA_PTE_LARGE_PAGE:
                    out.append((start, self.span(level), e & VTD_PTE_ADDR_MASK,
                                bool(e & DMA_PTE_READ), bool(e & DMA_PTE_WRITE)))
                else:
                    rec(e & VTD_PTE_ADDR_MASK, level - 1, start)
        rec(self.root, self.levels, 0)
        return out


# --- the type1 container -----------------------------------------------------------------------

class Type1Container:
    """A VFIO type1 container as Linux ``drivers/vfio/vfio_iommu_type1.c``
    implements it (``struct vfio_iommu`` with one IOMMU domain).

    ``map_dma`` (``vfio_iommu_type1_map_dma`` -> ``vfio_dma_do_map``), in
    the kernel's order: argsz below 32 or unknown flags -EINVAL; neither
    READ nor WRITE -EINVAL; size 0, or size/iova/vaddr not aligned to the
    smallest IOMMU page (``1 << __ffs(pgsize_bitmap)``, 4 KiB) -EINVAL; an
    IOVA or vaddr range that wraps -EINVAL; overlapping an existing mapping
    -EEXIST; no entries left (``dma_avail``, from ``dma_entry_limit``)
    -ENOSPC; outside the valid IOVA ranges (``vfio_iommu_iova_dma_valid``:
    the aperture minus reserved regions, e.g. the MSI window) -EINVAL.
    Then ``vfio_pin_map_dma`` pins and maps run by run
    (``vfio_pin_pages_remote``, ``vaddr_get_pfns``): a RAM page is pinned and
    counted in ``locked_vm``; going over ``RLIMIT_MEMLOCK`` without
    CAP_IPC_LOCK fails with -ENOMEM and the kernel log line
    "vfio_pin_pages_remote: RLIMIT_MEMLOCK (<bytes>) exceeded", and
    everything mapped so far is undone (``vfio_remove_dma``); a
    ``VM_PFNMAP`` page (an mmapped BAR: no struct page,
    ``is_invalid_reserved_pfn``) is neither pinned nor counted; an address
    with no mapping at all -EFAULT.  Each run is given to the IOMMU
    (``vfio_iommu_map`` -> ``iommu_map``), which fills the page table.

    ``unmap_dma`` (``vfio_dma_do_unmap``): iova not aligned, size 0 or not
    aligned -EINVAL; type1v2: a range that splits a mapping at either end
    -EINVAL, otherwise every mapping inside is removed (unmapped, unpinned,
    un-counted) and the bytes removed are returned (0 if none); type1 (v1):
    a request starting inside a mapping removes nothing, one covering a
    mapping's first IOVA removes all of it.  ``VFIO_DMA_UNMAP_FLAG_ALL``
    needs iova = size = 0.

    Errors raise :class:`~vfiolab.errors.IommuError` and are recorded in
    ``events`` like successes: ``vfio_iommu_map_dma`` /
    ``vfio_iommu_unmap_dma`` with the ioctl's fields and ``ret``.
    """

    def __init__(self, host: HostAddressSpace, *, events: list | None = None,
                 config: HostIommuConfig | None = None, **settings):
        cfg = replace(config or HOST, **settings)
        cfg.check()
        self.host = host
        self.config = cfg
        self.events = events if events is not None else []
        self.v2 = cfg.v2
        self.dma_avail = cfg.dma_entry_limit
        #: the process's mm->locked_vm, in pages
        self.locked_vm = 0
        if cfg.vendor == "intel":
            # intel-iommu domain with second-level super pages (SLLPS 2M and 1G)
            self.pgsize_bitmap = PAGE_4K | PAGE_2M | PAGE_1G
        else:
            # AMD_IOMMU_PGSIZES: GENMASK_ULL(51, 12) ^ SZ_512G
            self.pgsize_bitmap = (((1 << 52) - 1) & ~0xFFF) ^ (1 << 39)
        self.resv = reserved_regions(cfg.vendor, cfg.ht_range_ignore) + list(cfg.extra_reserved)
        self.iova_list = _iova_ranges((1 << cfg.address_width) - 1, self.resv)
        self.page_table = VtdPageTable(levels=(cfg.address_width - 12 + 8) // 9)
        self._dmas: dict[int, VfioDma] = {}
        self._starts: list[int] = []
        #: QEMU's pointer for this container in its messages (placeholder)
        self.qemu_ptr = QEMU_CONTAINER_PTR

    # --- VFIO_IOMMU_GET_INFO --------------------------------------------------------------------
    @property
    def min_pgsize(self) -> int:
        """``1 << __ffs(pgsize_bitmap)``: what MAP/UNMAP must be aligned to."""
        return self.pgsize_bitmap & -self.pgsize_bitmap

    def get_info(self) -> dict:
        """``vfio_iommu_type1_get_info``: page sizes and the capability chain
        (migration, DMA_AVAIL, IOVA_RANGE)."""
        return {"flags": VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
                "iova_pgsizes": self.pgsize_bitmap,
                "caps": {"migration": {"pgsize_bitmap": self.min_pgsize},
                         "dma_avail": self.dma_avail,
                         "iova_ranges": list(self.iova_list)}}

    # --- the rb-tree ----------------------------------------------------------------------------
    def _find(self, start: int, size: int) -> VfioDma | None:
        """``vfio_find_dma``: a mapping that [start, start+size) touches; with
        size 0 one that strictly contains ``start`` past its first byte."""
        i = bisect_right(self._starts, start + max(size, 1) - 1) - 1
        while i >= 0:
            d = self._dmas[self._starts[i]]
            if start + size <= d.iova:
                i -= 1
                continue
            if start >= d.end:
                return None
            return d
        return None

    def mappings(self) -> list[VfioDma]:
        """Every ``vfio_dma``, by IOVA."""
        return [self._dmas[k] for k in self._starts]

    # --- VFIO_IOMMU_MAP_DMA --------------------------------------------------------------------
    def map_dma(self, vaddr: int, iova: int, size: int,
                flags: int = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                argsz: int = VFIO_DMA_MAP_ARGSZ) -> int:
        """``ioctl(container, VFIO_IOMMU_MAP_DMA, &map)``: 0, or IommuError."""
        for name, v in (("vaddr", vaddr), ("iova", iova), ("size", size)):
            if not 0 <= v < _U64:
                raise ConfigError(f"VFIO_IOMMU_MAP_DMA: {name} {v:#x} does not fit a __u64")
        m = VfioIommuType1DmaMap(argsz, flags, vaddr, iova, size)
        ev = {"op": "vfio_iommu_map_dma", "argsz": argsz, "flags": flags,
              "flag_names": m.flag_names(), "vaddr": vaddr, "iova": iova, "size": size}
        mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR
        # vfio_iommu_type1_map_dma: argsz must cover the struct up to size; no unknown flags
        if argsz < VFIO_DMA_MAP_ARGSZ or flags & ~mask:
            self._fail(ev, "EINVAL", f"argsz {argsz} < {VFIO_DMA_MAP_ARGSZ} or unknown flags "
                                     f"{flags & ~mask:#x}")
        if flags & VFIO_DMA_MAP_FLAG_VADDR:
            raise ConfigError("VFIO_DMA_MAP_FLAG_VADDR (re-pointing a mapping for live update) "
                              "is not modelled")
        read = bool(flags & VFIO_DMA_MAP_FLAG_READ)
        write = bool(flags & VFIO_DMA_MAP_FLAG_WRITE)
        # vfio_dma_do_map: READ/WRITE are from the device's side; one is required
        if not (read or write):
            self._fail(ev, "EINVAL", "neither READ nor WRITE")
        pg = self.min_pgsize
        if not size or (size | iova | vaddr) & (pg - 1):
            self._fail(ev, "EINVAL", f"size 0 or size/iova/vaddr not aligned to {pg:#x}")
        if iova + size - 1 >= _U64 or vaddr + size - 1 >= _U64:
            self._fail(ev, "EINVAL", "IOVA or vaddr range wraps")
        other = self._find(iova, size)
        if other is not None:
            self._fail(ev, "EEXIST", f"overlaps the mapping at IOVA {other.iova:#x} "
                                     f"size {other.size:#x}")
        if not self.dma_avail:
            self._fail(ev, "ENOSPC", f"no DMA entries left (dma_entry_limit "
                                     f"{self.config.dma_entry_limit})")
        if not any(lo <= iova and iova + size - 1 <= hi for lo, hi in self.iova_list):
            self._fail(ev, "EINVAL", f"[{iova:#x}, {iova + size - 1:#x}] is not inside one "
                                     "valid IOVA range (aperture minus reserved regions)")
        dma = VfioDma(iova, vaddr, 0, read, write)
        self._pin_map(dma, size, ev)
        self.dma_avail -= 1
        dma.size = size
        self._dmas[iova] = dma
        insort(self._starts, iova)
        pages: dict[str, int] = {}
        for c_iova, c_hpa, c_size, kind, counts in dma.chunks:
            for pgsz, n in counts.items():
                key = {PAGE_4K: "4K", PAGE_2M: "2M", PAGE_1G: "1G"}[pgsz]
                pages[key] = pages.get(key, 0) + n
        ev.update(ret=0, pinned_pages=dma.locked_pages, locked_vm=self.locked_vm,
                  pfnmap=any(c[3] == "pfnmap" for c in dma.chunks), iommu_pages=pages)
        self.events.append(ev)
        return 0

    def _pin_map(self, dma: VfioDma, size: int, ev: dict) -> None:
        """``vfio_pin_map_dma``: pin (RAM) or look up (PFN map) each run of
        the user range, check the locked-memory limit, map it."""
        runs = []
        v, end = dma.vaddr, dma.vaddr + size
        while v < end:
            m = self.host.find(v)
            if m is None:
                # pin_user_pages_remote finds no page and vma_lookup no VMA
                self._fail(ev, "EFAULT", f"vaddr {v:#x} is not mapped in QEMU's address space")
            if m.hpa is None:
                self._fail(ev, "EFAULT", f"the host address behind {m.name} is not known "
                                         "to the model")
            n = min(end, m.vaddr + m.size) - v
            runs.append((v, n, m))
            v += n
        # vfio_pin_pages_remote: only pages with a struct page are counted; the
        # limit is checked against mm->locked_vm + what this call adds
        acct = sum(n // PAGE_4K for _v, n, m in runs if m.kind == "ram")
        cfg = self.config
        if acct and not cfg.cap_ipc_lock and cfg.rlimit_memlock is not None:
            limit = cfg.rlimit_memlock >> 12
            if self.locked_vm + acct > limit:
                ev["kernel_log"] = f"vfio_pin_pages_remote: RLIMIT_MEMLOCK ({limit << 12}) exceeded"
                self._fail(ev, "ENOMEM", f"pinning {acct} pages would make locked_vm "
                                         f"{self.locked_vm + acct} pages, over RLIMIT_MEMLOCK "
                                         f"({limit} pages)")
        iova = dma.iova
        for v, n, m in runs:
            hpa = m.hpa + (v - m.vaddr)
            if cfg.disable_hugepages:
                max_page = PAGE_4K      # one page per iommu_map
            elif m.kind == "pfnmap":
                max_page = PAGE_1G      # a BAR is contiguous MMIO
            else:
                # RAM is contiguous only within a host page: 2 MiB with THP
                max_page = PAGE_2M if self.host.thp else PAGE_4K
            counts = self.page_table.map_range(iova, hpa, n, dma.read, dma.write, max_page)
            dma.chunks.append((iova, hpa, n, m.kind, counts))
            iova += n
        dma.locked_pages = acct
        self.locked_vm += acct

    def _fail(self, ev: dict, errno_name: str, why: str):
        num = getattr(_errno, errno_name)
        ev.update(ret=-num, errno=errno_name, why=why)
        self.events.append(ev)
        call = "VFIO_IOMMU_MAP_DMA" if ev["op"] == "vfio_iommu_map_dma" else "VFIO_IOMMU_UNMAP_DMA"
        raise IommuError(errno_name, f"{call}(iova={ev['iova']:#x}, size={ev['size']:#x}) = "
                                     f"-{num} ({os.strerror(num)}): {why}")

    # --- VFIO_IOMMU_UNMAP_DMA ------------------------------------------------------------------
    def unmap_dma(self, iova: int, size: int, flags: int = 0,
                  argsz: int = VFIO_DMA_UNMAP_ARGSZ) -> int:
        """``ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap)``: the bytes
        unmapped (``unmap.size`` on return), or IommuError."""
        for name, v in (("iova", iova), ("size", size)):
            if not 0 <= v < _U64:
                raise ConfigError(f"VFIO_IOMMU_UNMAP_DMA: {name} {v:#x} does not fit a __u64")
        ev = {"op": "vfio_iommu_unmap_dma", "argsz": argsz, "flags": flags, "iova": iova,
              "size": size}
        mask = (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR
                | VFIO_DMA_UNMAP_FLAG_ALL)
        if argsz < VFIO_DMA_UNMAP_ARGSZ or flags & ~mask:
            self._fail(ev, "EINVAL", f"argsz {argsz} < {VFIO_DMA_UNMAP_ARGSZ} or unknown flags")
        if flags & (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_VADDR):
            raise ConfigError("VFIO_IOMMU_UNMAP_DMA with GET_DIRTY_BITMAP or VADDR is not modelled")
        pg = self.min_pgsize
        unmap_all = bool(flags & VFIO_DMA_UNMAP_FLAG_ALL)
        if iova & (pg - 1):
            self._fail(ev, "EINVAL", f"iova not aligned to {pg:#x}")
        if unmap_all:
            if iova or size:
                self._fail(ev, "EINVAL", "UNMAP_ALL needs iova = size = 0")
            size = _U64 - 1
        elif not size or size & (pg - 1) or iova + size - 1 >= _U64:
            self._fail(ev, "EINVAL", f"size 0, not aligned to {pg:#x}, or wrapping")
        if self.v2 and not unmap_all:
            # type1v2: the range may not bisect a mapping at either end
            d = self._find(iova, 1)
            if d is not None and d.iova != iova:
                self._fail(ev, "EINVAL", f"starts inside the mapping at {d.iova:#x} "
                                         f"size {d.size:#x}")
            d = self._find(iova + size - 1, 0)
            if d is not None and d.end != iova + size:
                self._fail(ev, "EINVAL", f"ends inside the mapping at {d.iova:#x} "
                                         f"size {d.size:#x}")
        unmapped = unpinned = 0
        for start in list(self._starts):
            d = self._dmas[start]
            if d.end <= iova:
                continue
            if d.iova >= iova + size:
                break
            if not self.v2 and iova > d.iova:
                # type1 (v1): a request offset into a mapping unmaps nothing
                break
            unmapped += d.size
            unpinned += d.locked_pages
            self._remove(d)
        ev.update(ret=0, unmapped=unmapped, unpinned_pages=unpinned, locked_vm=self.locked_vm)
        self.events.append(ev)
        return unmapped

    def _remove(self, d: VfioDma) -> None:
        """``vfio_remove_dma``: unmap from the IOMMU, unpin, un-count, free the entry."""
        self.page_table.unmap_range(d.iova, d.size)
        self.locked_vm -= d.locked_pages
        del self._dmas[d.iova]
        self._starts.remove(d.iova)
        self.dma_avail += 1


# --- QEMU's listener --------------------------------------------------------------------------

@dataclass(frozen=True)
class DmaMapping:
    """One ``VFIO_IOMMU_MAP_DMA`` QEMU made (Linux include/uapi/linux/vfio.h
    ``struct vfio_iommu_type1_dma_map``: flags READ/WRITE, vaddr, iova, size)."""

    iova: int
    size: int
    vaddr: int
    readonly: bool
    region: str
    ram_device: bool


@dataclass
class VfioMemoryListener(MemoryListener):
    """QEMU's ``vfio_memory_listener`` for one container.

    With ``host`` (QEMU's process) a :class:`Type1Container` is created and
    every map/unmap goes through it; without, the listener only records what
    QEMU would ask for.  ``error`` is the first fatal error kept during
    set-up; :meth:`connect` turns it into the set-up failure.
    """

    events: list = field(default_factory=list)
    mappings: dict = field(default_factory=dict)     # iova -> DmaMapping
    host_page_size: int = PAGE_SIZE
    iommu_pgsize: int = PAGE_SIZE
    priority: int = 0
    name: str = "vfio"
    host: HostAddressSpace | None = None
    container: Type1Container | None = None
    initialized: bool = False
    error: str | None = None
    error_errno: str | None = None

    def __post_init__(self):
        if self.container is None and self.host is not None:
            self.container = Type1Container(self.host, events=self.events)
        if self.container is not None:
            # vfio_connect_container: VFIO_IOMMU_GET_INFO iova_pgsizes -> the host
            # window's pgsizes; ram_device sections must be aligned to its smallest
            self.iommu_pgsize = self.container.min_pgsize

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def connect(self, as_: AddressSpace | None = None) -> None:
        """End of ``vfio_connect_container``: a RAM map that failed while the
        listener was registered fails the container (the listener is
        released, which unmaps what was mapped); else the container is
        initialized and later failures are fatal at once."""
        if self.error:
            if as_ is not None:
                as_.unregister(self)
            raise IommuError(self.error_errno or "EINVAL",
                             f"memory listener initialization failed: {self.error}")
        self.initialized = True

    def _range(self, fr: FlatRange):
        """IOVA range of a section: start rounded up, end rounded down to host pages."""
        iova = align_up(fr.start, self.host_page_size)
        end = align_down(fr.start + fr.size, self.host_page_size)
        return iova, end

    def skipped(self, fr: FlatRange) -> bool:
        """``vfio_listener_skipped_section``: not RAM (and not an IOMMU
        region), or bit 63 of the address set."""
        return not fr.mr.is_ram() or bool(fr.start & (1 << 63))

    def _unaligned(self, fr: FlatRange, where: str) -> bool:
        """Address and offset in region disagree within a host page: QEMU
        reports it (``error_report``) and leaves the section alone."""
        page = self.host_page_size
        if (fr.start % page) == (fr.offset_in_region % page):
            return False
        self.events.append({
            "op": f"vfio_listener_region_{where}_unaligned", "region": fr.mr.name,
            "start": fr.start,
            "message": (f"vfio_listener_region_{where} received unaligned region {fr.mr.name} "
                        f"iova={fr.start:#x} offset_within_region={fr.offset_in_region:#x} "
                        f"qemu_real_host_page_size={page:#x}")})
        return True

    def region_add(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.skipped(fr):
            self.events.append({"op": "vfio_listener_region_add_skip", "start": fr.start,
                                "end": fr.last, "region": fr.mr.name})
            return
        if self._unaligned(fr, "add"):
            return
        iova, end = self._range(fr)
        if iova >= end:
            if fr.mr.ram_device:
                self.events.append({"op": "vfio_listener_region_add_no_dma_map",
                                    "region": fr.mr.name, "iova": fr.start, "size": fr.size,
                                    "page_size": self.host_page_size})
            return
        size = end - iova
        vaddr = (fr.mr.hva or 0) + fr.offset_in_region + (iova - fr.start)
        self.events.append({"op": "vfio_listener_region_add_ram", "iova": iova,
                            "end": end - 1, "vaddr": vaddr, "region": fr.mr.name})
        if fr.mr.ram_device and (iova % self.iommu_pgsize or size % self.iommu_pgsize):
            self.events.append({"op": "vfio_listener_region_add_no_dma_map", "region": fr.mr.name,
                                "iova": fr.start, "size": fr.size,
                                "page_size": self.iommu_pgsize})
            return
        if self.container is not None:
            flags = VFIO_DMA_MAP_FLAG_READ | (0 if fr.readonly else VFIO_DMA_MAP_FLAG_WRITE)
            try:
                self.container.map_dma(vaddr, iova, size, flags)
            except IommuError as e:
                self._map_failed(fr, iova, size, vaddr, e)
                return
        m = DmaMapping(iova, size, vaddr, fr.readonly, fr.mr.name, fr.mr.ram_device)
        self.mappings[iova] = m
        self.events.append({"op": "map_dma", "iova": iova, "size": size, "vaddr": vaddr,
                            "readonly": fr.readonly, "region": fr.mr.name})

    def _map_failed(self, fr: FlatRange, iova: int, size: int, vaddr: int,
                    e: IommuError) -> None:
        """QEMU 7.2 ``vfio_dma_map`` failing inside ``vfio_listener_region_add``."""
        strerr = os.strerror(e.errno)
        msg = (f"vfio_dma_map({_ptr(self.container.qemu_ptr)}, {iova:#x}, {size:#x}, "
               f"{_ptr(vaddr)}) = {e.ret} ({strerr})")
        # vfio_dma_map itself reports the ioctl's errno first
        log = [f"VFIO_MAP_DMA failed: {strerr}"]
        ev = {"op": "vfio_dma_map_failed", "region": fr.mr.name, "iova": iova, "size": size,
              "vaddr": vaddr, "errno": e.errno_name, "ret": e.ret, "message": msg,
              "ram_device": fr.mr.ram_device}
        if fr.mr.ram_device:
            # "Allow unexpected mappings not to be fatal for RAM devices"
            log.append(msg)
            ev.update(fatal=False, qemu_log=log)
            self.events.append(ev)
            return
        if not self.initialized:
            # on the initfn path the first error is kept in the container
            if self.error is None:
                self.error = f"Region {fr.mr.name}: {msg}"
                self.error_errno = e.errno_name
            ev.update(fatal=True, qemu_log=log)
            self.events.append(ev)
            return
        log += [msg, "qemu: hardware error: vfio: DMA mapping failed, unable to continue"]
        ev.update(fatal=True, qemu_log=log)
        self.events.append(ev)
        raise IommuError(e.errno_name, f"{msg}; qemu: hardware error: vfio: DMA mapping "
                                       "failed, unable to continue")

    def region_del(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.skipped(fr):
            self.events.append({"op": "vfio_listener_region_del_skip", "start": fr.start,
                                "end": fr.last, "region": fr.mr.name})
            return
        if self._unaligned(fr, "del"):
            return
        iova, end = self._range(fr)
        if iova >= end:
            return
        size = end - iova
        self.events.append({"op": "vfio_listener_region_del", "iova": iova, "end": end - 1,
                            "region": fr.mr.name})
        # a ram_device section is unmapped only if it could have been mapped
        try_unmap = not (fr.mr.ram_device and (iova % self.iommu_pgsize
                                               or size % self.iommu_pgsize))
        if not try_unmap:
            return
        if self.container is not None:
            try:
                unmapped = self.container.unmap_dma(iova, size)
            except IommuError as e:
                strerr = os.strerror(e.errno)
                msg = (f"vfio_dma_unmap({_ptr(self.container.qemu_ptr)}, {iova:#x}, "
                       f"{size:#x}) = {e.ret} ({strerr})")
                self.events.append({"op": "vfio_dma_unmap_failed", "region": fr.mr.name,
                                    "iova": iova, "size": size, "errno": e.errno_name,
                                    "message": msg,
                                    "qemu_log": [f"VFIO_UNMAP_DMA failed: {strerr}", msg]})
                return
            if not unmapped:
                return
        if iova in self.mappings:
            m = self.mappings.pop(iova)
            self.events.append({"op": "unmap_dma", "iova": iova, "size": m.size,
                                "region": fr.mr.name})

    def dma_map(self) -> list[DmaMapping]:
        """The container's mappings, by IOVA."""
        return [self.mappings[k] for k in sorted(self.mappings)]


# --- a device's DMA ----------------------------------------------------------------------------

def _host_target(host: HostAddressSpace, hpa: int) -> str | None:
    """What lives at a host physical address: guest RAM ("ram") or a
    device's MMIO ("bar", peer to peer), from QEMU's mappings."""
    for m in host.mappings:
        if m.hpa is not None and m.hpa <= hpa < m.hpa + m.size:
            return "bar" if m.kind == "pfnmap" else "ram"
    return None


def _translate(container: Type1Container, iova: int, access: str, requester: str,
               faults: list) -> list[dict]:
    """One DMA request through the container's IOMMU domain.

    Requests without PASID to the interrupt range 0xfee00000-0xfeefffff are
    not translated (VT-d spec section 3.14, "Handling Requests to Interrupt
    Address Range"): a write there is an interrupt request (MSI), anything
    else is blocked.  Otherwise the page table decides: no present leaf, or
    a leaf without the permission, is a DMA remapping fault (VT-d fault
    reasons 0x6 read / 0x5 write, 0x4 beyond the address width), logged by
    Linux ``dmar_fault_do_one``.
    """
    if access not in ("read", "write"):
        raise ActionError(None, "access", f"{access!r}: use read or write")
    if not 0 <= iova < _U64:
        raise ActionError(None, "iova", f"{iova:#x} is not a 64-bit address")
    if MSI_RANGE_START <= iova <= MSI_RANGE_END:
        if access == "write":
            return [{"op": "interrupt_request", "iova": fmt_hex(iova),
                     "reason": "a write to 0xfee00000-0xfeefffff is an MSI, handled by "
                               "interrupt remapping, not DMA (VT-d spec 3.14)"}]
        return [_fault(container, iova, access, requester, faults, None,
                       "read of the interrupt address range 0xfee00000-0xfeefffff: not "
                       "translated (VT-d spec 3.14)")]
    walk = container.page_table.walk(iova)
    if walk.beyond_width:
        return [_fault(container, iova, access, requester, faults, 0x4,
                       f"beyond the {container.page_table.address_width}-bit address width")]
    if walk.hpa is None:
        code = 0x5 if access == "write" else 0x6
        return [_fault(container, iova, access, requester, faults, code, "no mapping")]
    if (access == "write" and not walk.write) or (access == "read" and not walk.read):
        code = 0x5 if access == "write" else 0x6
        return [_fault(container, iova, access, requester, faults, code,
                       "read-only mapping" if access == "write" else "write-only mapping")]
    target = _host_target(container.host, walk.hpa)
    return [{"op": "dma", "iova": fmt_hex(iova), "hpa": fmt_hex(walk.hpa),
             "target": target or "unknown"}]


def _fault(container: Type1Container, iova: int, access: str, requester: str, faults: list,
           code: int | None, why: str) -> dict:
    text = VTD_FAULT_REASONS.get(code) if code is not None else None
    reason = f"{why}: {text} (VT-d fault reason {code:#04x})" if text else why
    rec = {"requester": requester, "iova": iova, "access": access, "fault_reason": code,
           "reason": reason, "log": None}
    if code is not None and container.config.vendor == "intel":
        # dmar_fault_do_one; the fault record holds the page address (bits 63:12)
        bus_dev = requester.split(":", 1)[1] if requester.count(":") == 2 else requester
        rec["log"] = (f"DMAR: [DMA {'Write' if access == 'write' else 'Read'} NO_PASID] "
                      f"Request device [{bus_dev}] fault addr {iova & ~0xFFF:#x} "
                      f"[fault reason {code:#04x}] {text}")
    faults.append(rec)
    return {"op": "dma_fault", "iova": fmt_hex(iova), "reason": reason}


class Iommu:
    """The host IOMMU as a passed-through device's DMA meets it.

    The device's requests carry its *host* requester ID; the IOMMU finds the
    domain QEMU's container set up for it and walks that domain's page
    table (:class:`VtdPageTable`).  Without a vIOMMU the table was filled
    with IOVA = GPA, so a DMA address is a guest-physical address: it
    reaches guest RAM, or (peer to peer) a BAR's host MMIO, or faults.
    ``faults`` keeps the fault records (requester, IOVA, reason, kernel log).
    """

    def __init__(self, vm):
        self.vm = vm
        self.faults: list[dict] = []

    @property
    def container(self) -> Type1Container | None:
        lst = self.vm.vfio
        return lst.container if lst is not None else None

    def device(self, bdf: str):
        """The vfio-pci function at guest address ``bdf``."""
        from .guest import find_bdf
        from .vfio import VfioPCIDevice
        dev = find_bdf(self.vm, bdf)
        if not isinstance(dev, VfioPCIDevice):
            raise ActionError(None, "bdf", f"{bdf} is {dev.type_name}, an emulated device: QEMU "
                                           "performs its DMA in its bus-master address space, "
                                           "no IOMMU is involved; DMA through the IOMMU needs a "
                                           "vfio-pci device")
        return dev

    def dma(self, bdf: str, iova: int, access: str = "read") -> list[dict]:
        """A DMA ``access`` ("read" or "write") by the device at guest BDF
        ``bdf`` to ``iova``: ``[{"op": "dma", "iova", "hpa", "target"}]``,
        ``[{"op": "dma_fault", "iova", "reason"}]`` or, while the device's
        Bus Master Enable is clear, ``[{"op": "dma_not_issued", "iova",
        "reason"}]`` (addresses in hex).

        Bus Master Enable (Command register bit 2, PCI Local Bus Spec 3.0
        section 6.2.2; PCIe Base Spec 7.5.1.1.3): while it is clear a
        function issues no memory requests at all, DMA and MSI/MSI-X writes
        alike, so nothing reaches the IOMMU.  vfio-pci does not virtualize
        the bit (Linux ``drivers/vfio/pci/vfio_pci_config.c``
        ``init_pci_cap_basic_perm``: of PCI_COMMAND only INTx disable is
        virtual), so the guest's write reaches the device; QEMU's copy of
        config space holds the same value, which is what is read here.
        """
        dev = self.device(bdf)
        cont = self.container
        if cont is None:
            raise ActionError(None, "bdf", f"{bdf}: no VFIO container (the model was built "
                                           "without QEMU's process)")
        if access not in ("read", "write"):
            raise ActionError(None, "access", f"{access!r}: use read or write")
        if not int.from_bytes(dev.config[PCI_COMMAND:PCI_COMMAND + 2], "little") & \
                PCI_COMMAND_MASTER:
            return [{"op": "dma_not_issued", "iova": fmt_hex(iova),
                     "reason": "Bus Master Enable is clear in the device's Command register "
                               "(the guest driver sets it with pci_set_master() before DMA)"}]
        return _translate(cont, iova, access, dev.host, self.faults)

    def walk(self, iova: int) -> PageWalk:
        """The page walk for ``iova``, entry by entry."""
        if self.container is None:
            raise ActionError(None, "iova", "no VFIO container in this VM")
        return self.container.page_table.walk(iova)


_IOMMUS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def iommu_for(vm) -> Iommu:
    """The :class:`Iommu` of ``vm`` (one per VM, so its fault records persist)."""
    io = _IOMMUS.get(vm)
    if io is None:
        io = _IOMMUS[vm] = Iommu(vm)
    return io


# --- contrast: a vIOMMU in the guest ------------------------------------------------------------

class VtdShadow:
    """The container QEMU keeps for a device behind ``-device
    intel-iommu,caching-mode=on``, once the guest has turned DMA remapping on.

    The device's DMA address space is then the vIOMMU's IOMMU region, not
    "memory" (QEMU 7.2 ``hw/i386/intel_iommu.c`` ``vtd_find_add_as``: the
    region with the interrupt window 0xfee00000-0xfeefffff overlaid as I/O,
    ``vtd_switch_address_space``), so the listener maps no RAM: it registers
    an IOMMU notifier per IOMMU section (trace
    ``vfio_listener_region_add_iommu``).  IOVA is what the guest's driver
    chooses.  The guest writes its own VT-d entries (IOVA -> GPA) and, with
    caching mode, invalidates even new entries; QEMU walks them and calls
    ``vfio_iommu_map_notify`` per entry (trace ``vfio_iommu_map_notify``,
    "MAP"/"UNMAP"), which finds the host pointer of the GPA
    (``memory_get_xlat_addr``; not RAM -> "iommu map to non memory area")
    and maps IOVA -> that HVA in the host container (``vfio_dma_map``, one
    ``vfio_dma`` per guest page), or unmaps.  The host table then maps
    IOVA -> HPA of the guest page.  Without caching mode QEMU refuses a
    vfio-pci device ("We need to set caching-mode=on for intel-iommu to
    enable device assignment with IOMMU protection.").
    """

    def __init__(self, vm, *, caching_mode: bool = True, events: list | None = None,
                 config: HostIommuConfig | None = None, aw_bits: int | None = None,
                 **settings):
        from .machine import intel_iommu_aw_bits
        if not caching_mode:
            raise ConfigError("We need to set caching-mode=on for intel-iommu to enable "
                              "device assignment with IOMMU protection.")
        self.vm = vm
        #: the vIOMMU's guest address width (``aw-bits``; its default follows
        #: the QEMU release and machine type: model/machine.py
        #: intel_iommu_aw_bits); the guest's VT-d tables cannot map an IOVA
        #: at or above 2^aw_bits
        self.aw_bits = intel_iommu_aw_bits(getattr(vm, "stack", None), aw_bits)
        self.events = events if events is not None else []
        self.container = Type1Container(vm.host, events=self.events, config=config, **settings)
        #: the guest's own mappings: IOVA page -> (GPA page, writable)
        self.guest_table: dict[int, tuple[int, bool]] = {}
        self.faults: list[dict] = []
        for start, end in ((0, MSI_RANGE_START - 1), (MSI_RANGE_END + 1, _U64 - 1)):
            self.events.append({"op": "vfio_listener_region_add_iommu", "start": start,
                                "end": end})

    def _pages(self, iova: int, size: int, what: str):
        if iova % PAGE_4K or size % PAGE_4K or size <= 0:
            raise ActionError(None, what, f"iova {iova:#x} size {size:#x}: the guest's VT-d "
                                          "entries map 4 KiB pages")
        return range(iova, iova + size, PAGE_4K)

    def guest_map(self, iova: int, gpa: int, size: int, write: bool = True) -> list[dict]:
        """The guest maps [iova, iova+size) -> [gpa, ...) in its VT-d tables
        and invalidates; returns the events QEMU and the kernel produce."""
        start = len(self.events)
        if iova + size > 1 << self.aw_bits:
            raise ActionError(None, "iova", f"iova {iova:#x} size {size:#x}: beyond the "
                              f"vIOMMU's {self.aw_bits}-bit address width (aw-bits)")
        for page in self._pages(iova, size, "iova"):
            g = gpa + (page - iova)
            self.guest_table[page] = (g, write)
            self.events.append({"op": "vfio_iommu_map_notify", "kind": "MAP",
                                "iova_start": page, "iova_end": page + PAGE_4K - 1})
            fr = self.vm.flatview().lookup(g)
            if fr is None or not fr.mr.is_ram():
                # memory_get_xlat_addr prints the offset inside the region found
                xlat = g if fr is None else fr.offset_in_region + (g - fr.start)
                self.events.append({"op": "vfio_iommu_map_notify_error", "iova": page,
                                    "message": f"iommu map to non memory area {xlat:x}"})
                continue
            vaddr = fr.mr.hva + fr.offset_in_region + (g - fr.start)
            readonly = not write or fr.readonly
            flags = VFIO_DMA_MAP_FLAG_READ | (0 if readonly else VFIO_DMA_MAP_FLAG_WRITE)
            try:
                self.container.map_dma(vaddr, page, PAGE_4K, flags)
            except IommuError as e:
                msg = (f"vfio_dma_map({_ptr(self.container.qemu_ptr)}, {page:#x}, "
                       f"{PAGE_4K:#x}, {_ptr(vaddr)}) = {e.ret} ({os.strerror(e.errno)})")
                self.events.append({"op": "vfio_dma_map_failed", "iova": page, "size": PAGE_4K,
                                    "vaddr": vaddr, "errno": e.errno_name, "ret": e.ret,
                                    "message": msg, "fatal": False})
        return self.events[start:]

    def guest_unmap(self, iova: int, size: int) -> list[dict]:
        """The guest clears its entries and invalidates: UNMAP per page."""
        start = len(self.events)
        for page in self._pages(iova, size, "iova"):
            self.guest_table.pop(page, None)
            self.events.append({"op": "vfio_iommu_map_notify", "kind": "UNMAP",
                                "iova_start": page, "iova_end": page + PAGE_4K - 1})
            try:
                self.container.unmap_dma(page, PAGE_4K)
            except IommuError as e:
                self.events.append({"op": "vfio_dma_unmap_failed", "iova": page,
                                    "size": PAGE_4K, "errno": e.errno_name})
        return self.events[start:]

    def dma(self, iova: int, access: str = "read", requester: str = "0000:01:00.0") -> list[dict]:
        """The device's DMA to ``iova`` through the host table QEMU filled."""
        return _translate(self.container, iova, access, requester, self.faults)
