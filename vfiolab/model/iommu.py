"""DMA for passthrough: QEMU's VFIO memory listener and the type1 container.

QEMU 7.2 ``hw/vfio/common.c`` registers one listener (name "vfio", priority
0, so it sees additions *before* KVM's priority-10 listener and deletions
*after* it) on the address space "memory" when the first vfio-pci device's
container is set up (``vfio_connect_container``); registering replays the
current view.  For each section (``vfio_listener_region_add``):

* skip what is neither RAM nor an IOMMU region, and sections with bit 63 set
  (``vfio_listener_skipped_section``; the 64-bit BAR sizing artefact);
* refuse a section whose address and offset disagree within a host page;
* IOVA = the section's guest-physical address, rounded up to a host page;
  the end rounded down; nothing left -> nothing mapped;
* ``vaddr`` = the region's host pointer + offset: for guest RAM the RAM
  block, for a BAR mmap the mmap of the device fd;
* ram_device sections not aligned to the IOMMU's page size are skipped with
  a trace ("cannot be mapped for DMA"), RAM is mapped
  (``vfio_dma_map`` -> ``VFIO_IOMMU_MAP_DMA``).

``region_del`` unmaps the same IOVA range (``VFIO_IOMMU_UNMAP_DMA``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..addr import PAGE_SIZE, align_down, align_up
from .memory import AddressSpace, FlatRange, MemoryListener

__all__ = ["DmaMapping", "VfioMemoryListener"]


@dataclass(frozen=True)
class DmaMapping:
    """One ``VFIO_IOMMU_MAP_DMA`` (Linux include/uapi/linux/vfio.h
    ``struct vfio_iommu_type1_dma_map``: flags READ/WRITE, vaddr, iova, size)."""

    iova: int
    size: int
    vaddr: int
    readonly: bool
    region: str
    ram_device: bool


@dataclass
class VfioMemoryListener(MemoryListener):
    """QEMU's ``vfio_memory_listener`` for one container."""

    events: list = field(default_factory=list)
    mappings: dict = field(default_factory=dict)     # iova -> DmaMapping
    host_page_size: int = PAGE_SIZE
    iommu_pgsize: int = PAGE_SIZE
    priority: int = 0
    name: str = "vfio"

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def _range(self, fr: FlatRange):
        """IOVA range of a section: start rounded up, end rounded down to host pages."""
        iova = align_up(fr.start, self.host_page_size)
        end = align_down(fr.start + fr.size, self.host_page_size)
        return iova, end

    def skipped(self, fr: FlatRange) -> bool:
        """``vfio_listener_skipped_section``: not RAM (and not an IOMMU
        region), or bit 63 of the address set."""
        return not fr.mr.is_ram() or bool(fr.start & (1 << 63))

    def region_add(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.skipped(fr):
            self.events.append({"op": "vfio_listener_region_add_skip", "start": fr.start,
                                "end": fr.last, "region": fr.mr.name})
            return
        if (fr.start % self.host_page_size) != (fr.offset_in_region % self.host_page_size):
            self.events.append({"op": "vfio_listener_region_add_unaligned", "region": fr.mr.name,
                                "start": fr.start})
            return
        iova, end = self._range(fr)
        if iova >= end:
            if fr.mr.ram_device:
                self.events.append({"op": "vfio_listener_region_add_no_dma_map",
                                    "region": fr.mr.name, "iova": fr.start, "size": fr.size,
                                    "page_size": self.iommu_pgsize})
            return
        size = end - iova
        vaddr = (fr.mr.hva or 0) + fr.offset_in_region + (iova - fr.start)
        if fr.mr.ram_device and (iova % self.iommu_pgsize or size % self.iommu_pgsize):
            self.events.append({"op": "vfio_listener_region_add_no_dma_map", "region": fr.mr.name,
                                "iova": iova, "size": size, "page_size": self.iommu_pgsize})
            return
        self.events.append({"op": "vfio_listener_region_add_ram", "iova": iova,
                            "end": end - 1, "vaddr": vaddr, "region": fr.mr.name})
        m = DmaMapping(iova, size, vaddr, fr.readonly, fr.mr.name, fr.mr.ram_device)
        self.mappings[iova] = m
        self.events.append({"op": "map_dma", "iova": iova, "size": size, "vaddr": vaddr,
                            "readonly": fr.readonly, "region": fr.mr.name})

    def region_del(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.skipped(fr):
            self.events.append({"op": "vfio_listener_region_del_skip", "start": fr.start,
                                "end": fr.last, "region": fr.mr.name})
            return
        iova, end = self._range(fr)
        if iova >= end:
            return
        self.events.append({"op": "vfio_listener_region_del", "iova": iova, "end": end - 1,
                            "region": fr.mr.name})
        if iova in self.mappings:
            m = self.mappings.pop(iova)
            self.events.append({"op": "unmap_dma", "iova": iova, "size": m.size,
                                "region": fr.mr.name})

    def dma_map(self) -> list[DmaMapping]:
        """The container's mappings, by IOVA."""
        return [self.mappings[k] for k in sorted(self.mappings)]
