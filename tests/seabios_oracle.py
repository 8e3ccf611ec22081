"""An independent oracle for SeaBIOS 1.16.2's placement of root-bus memory BARs.

Written for the tests from SeaBIOS ``src/fw/pciinit.c`` at tag rel-1.16.2 (not
from vfiolab's code), for a root bus without bridges:

* ``pci_bios_check_devices``: one entry per memory BAR, its size raised to
  PCI_DEVICE_MEM_MIN (0x1000), alignment = size; ``pci_region_create_entry``
  inserts it before the first entry with a smaller alignment, or the same
  alignment and a smaller size -- so each list (MEM, PREFMEM) is sorted by
  size, largest first, equal sizes in scan order (bus 0, devfn ascending, BAR
  ascending; the ROM BAR is slot 6).
* ``pci_region_align``: the first entry's alignment, 1 for an empty list;
  ``pci_region_sum``: the sizes added.
* ``pci_bios_init_root_regions_mem``: r_end = PREFMEM and r_start = MEM,
  swapped when MEM's alignment is the smaller; r_end.base =
  ALIGN_DOWN(pcimem_end - sum, align), r_start.base = ALIGN_DOWN(r_end.base -
  sum, align); it fails when r_start.base < pcimem_start (u64 arithmetic: a
  negative value wraps and fails the "> pcimem_end" test instead).
* ``pci_bios_map_devices``: on failure every 64-bit entry (not USB class
  0x0c03) moves, in order, to r64_mem / r64_pref and the 32-bit layout is
  tried again (a second failure panics); r64_mem.base = max(4 GiB +
  RamSizeOver4G, etc/reserved-memory-end) aligned up to its alignment then to 1
  GiB; r64_pref.base = r64_mem.base + its sum, aligned up likewise.
* ``pci_region_map_entries``: each list is laid out upwards from its base.

pcimem_end is BUILD_PCIMEM_END = 0xfec00000 (src/config.h).  pcimem_start is
set by the platform: ``i440fx_mem_addr_setup`` 0x80000000 when RamSize <= 2
GiB, 0xc0000000 when RamSize <= 3 GiB, else RamSize; ``mch_mem_addr_setup``
(q35) 0xb0000000 + 256 MiB = 0xc0000000.
"""

from __future__ import annotations

from dataclasses import dataclass

PCIMEM_END = 0xFEC00000
PCI_DEVICE_MEM_MIN = 0x1000
GiB = 1 << 30


@dataclass(frozen=True)
class Bar:
    """One memory BAR as SeaBIOS's probe sees it."""

    bdf: str               # "00:02.0"; scan order is the order the caller gives
    bar: int
    size: int
    prefetch: bool
    is64: bool
    usb: bool = False      # class PCI_CLASS_SERIAL_USB: never moved above 4 GiB


class OutOf32BitSpace(Exception):
    """SeaBIOS panics: "PCI: out of 32bit address space"."""


def _align_up(x, a):
    return -(-x // a) * a


def _align_down(x, a):
    return x // a * a


def _sorted(bars):
    # stable sort by size descending == the insertion rule, as align == size
    return sorted(bars, key=lambda b: -max(b.size, PCI_DEVICE_MEM_MIN))


def _size(b):
    return max(b.size, PCI_DEVICE_MEM_MIN)


def _align(lst):
    return _size(lst[0]) if lst else 1


def _sum(lst):
    return sum(_size(b) for b in lst)


def _root_32(mem, pref, pcimem_start):
    """pci_bios_init_root_regions_mem: (mem base, pref base) or None."""
    start, end = mem, pref
    if _align(mem) < _align(pref):
        start, end = pref, mem
    end_base = _align_down(PCIMEM_END - _sum(end), _align(end))
    start_base = _align_down(end_base - _sum(start), _align(start))
    if start_base < pcimem_start or start_base > PCIMEM_END:
        return None
    return (start_base, end_base) if start is mem else (end_base, start_base)


def place(bars, pcimem_start, ram_over_4g, reserved_memory_end=0):
    """{(bdf, bar): address} for ``bars`` given in scan order."""
    mem = _sorted([b for b in bars if not b.prefetch])
    pref = _sorted([b for b in bars if b.prefetch])
    lists = []                                   # (list, base), in mapping order
    bases = _root_32(mem, pref, pcimem_start)
    if bases is None:
        up = [b for b in mem if b.is64 and not b.usb]
        up_pref = [b for b in pref if b.is64 and not b.usb]
        mem = [b for b in mem if b not in up]
        pref = [b for b in pref if b not in up_pref]
        bases = _root_32(mem, pref, pcimem_start)
        if bases is None:
            raise OutOf32BitSpace()
        base64 = max(reserved_memory_end, (1 << 32) + ram_over_4g)
        base64 = _align_up(_align_up(base64, _align(up)), GiB)
        pbase64 = _align_up(_align_up(base64 + _sum(up), _align(up_pref)), GiB)
        lists += [(up, base64), (up_pref, pbase64)]
    lists += [(mem, bases[0]), (pref, bases[1])]
    where = {}
    for lst, base in lists:
        for b in lst:
            where[(b.bdf, b.bar)] = base
            base += _size(b)
    return where


def pcimem_start_for(machine: str, ram_below_4g: int) -> int:
    """The 32-bit window's start SeaBIOS 1.16.2 sets (see the module docstring)."""
    if machine == "q35":
        return 0xC0000000
    if ram_below_4g <= 0x80000000:
        return 0x80000000
    if ram_below_4g <= 0xC0000000:
        return 0xC0000000
    return ram_below_4g


def ram_split(machine: str, ram: int) -> tuple[int, int]:
    """(below 4 GiB, above 4 GiB) for QEMU 7.2 without -maxmem: hw/i386/pc_piix.c
    pc_init1 (gigabyte_align: RAM >= 0xe0000000 -> 3 GiB below), hw/i386/pc_q35.c
    pc_q35_init (RAM >= 0xb0000000 -> 2 GiB below, else all below)."""
    if machine == "q35":
        low = 0x80000000 if ram >= 0xB0000000 else ram
    else:
        low = 0xC0000000 if ram >= 0xE0000000 else ram
    return low, ram - low


def reserved_memory_end(ram: int, ram_over_4g: int, maxram: int | None, slots: int) -> int:
    """fw_cfg etc/reserved-memory-end of QEMU 7.2 (hw/i386/pc.c
    pc_memory_init, pc_get_device_memory_range) for a current machine type:
    with maxmem above the RAM, the hotplug area starts at
    ROUND_UP(4 GiB + RAM above 4 GiB, 1 GiB), holds maxmem - RAM + 1 GiB per
    slot, and the file holds its end rounded up to 1 GiB; else no file (0)."""
    if not maxram or maxram <= ram:
        return 0
    gib = 1 << 30
    base = _align_up((1 << 32) + ram_over_4g, gib)
    return _align_up(base + maxram - ram + slots * gib, gib)
