"""The host side that QEMU's process sees: its virtual address space.

QEMU backs every RAM block with host memory in its own address space
(``qemu_ram_alloc`` -> ``qemu_anon_ram_alloc``/``file_ram_alloc`` in QEMU
``softmmu/physmem.c``, ``util/oslib-posix.c`` ``qemu_ram_mmap``) and hands
those host virtual addresses (HVAs) to KVM as ``userspace_addr``.  Real
addresses differ from run to run (ASLR), so the model allocates them
deterministically from a fixed base: only their *alignment* is meaningful,
and it follows QEMU: RAM blocks are aligned to the transparent huge page size
(2 MiB, ``QEMU_VMALLOC_ALIGN`` on x86-64 Linux) and vfio BAR mmaps to
min(BAR size, 1 GiB) (``vfio_region_mmap``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..addr import MiB, align_up

__all__ = ["HostAddressSpace", "HostMapping", "QEMU_VMALLOC_ALIGN"]

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


@dataclass
class HostAddressSpace:
    """A bump allocator for QEMU's HVAs, with the mappings it handed out."""

    base: int = 0x7F0000000000
    top: int = 0x7F0000000000
    mappings: list[HostMapping] = field(default_factory=list)

    def alloc(self, size: int, name: str, kind: str = "ram", align: int = QEMU_VMALLOC_ALIGN,
              hpa: int | None = None) -> int:
        """Reserve ``size`` bytes aligned to ``align``; return the HVA."""
        vaddr = align_up(self.top, max(align, 4096))
        self.top = vaddr + size
        self.mappings.append(HostMapping(vaddr, size, name, kind, hpa))
        return vaddr
