"""What a guest kernel does to a BAR, as config-space accesses.

Every access goes through the VM's config path (``VM.cfg_read`` /
``VM.cfg_write``), so each one can be shown as a trap to QEMU and each
``pci_update_mappings`` it causes appears in the event stream.

Two ways to move a BAR, as the thread discusses them:

* ``clean``: clear the command register's decode bit, write the BAR (both
  dwords of a 64-bit BAR), restore the command register.  This is what
  Linux does around BAR sizing (``drivers/pci/probe.c`` ``__pci_read_base``,
  and ``pci_read_bases`` since "PCI: Batch BAR sizing operations") and what
  careful reassignment does.  QEMU unmaps the BAR once and maps it once.
* ``careless``: decode left on, the low dword written before the high dword.
  Between the two writes the 64-bit BAR decodes at an intermediate address
  (new low half, old high half), and QEMU maps it there
  (``pci_update_mappings`` runs on every BAR write).
"""

from __future__ import annotations

from ..errors import ActionError
from .pci import (PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
                  PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY,
                  PCI_ROM_SLOT, PCIDevice)

__all__ = ["find_bdf", "move_bar", "set_decode", "set_bus_master", "parse_bdf"]


def parse_bdf(text: str) -> tuple[int, int, int]:
    """``bb:dd.f`` (or ``dd.f``, optional ``0000:`` domain) -> (bus, slot, func)."""
    t = text.strip().lower()
    if t.count(":") == 2:
        t = t.split(":", 1)[1]
    try:
        if ":" in t:
            b, rest = t.split(":")
        else:
            b, rest = "0", t
        d, f = rest.split(".")
        bus, slot, func = int(b, 16), int(d, 16), int(f, 16)
    except ValueError:
        raise ActionError(None, "bdf", f"{text!r} is not bus:device.function, e.g. 00:01.0") from None
    if not (bus < 256 and slot < 32 and func < 8):
        raise ActionError(None, "bdf", f"{text!r} out of range")
    return bus, slot, func


def find_bdf(vm, bdf: str) -> PCIDevice:
    bus, slot, func = parse_bdf(bdf)
    dev = vm.find_device(bus, slot << 3 | func)
    if dev is None:
        raise ActionError(None, "bdf", f"no PCI function at {bdf}")
    return dev


def set_decode(vm, dev: PCIDevice, on: bool, io: bool = False) -> None:
    """Set or clear the memory (or I/O) decode bit with a 16-bit command write."""
    bit = PCI_COMMAND_IO if io else PCI_COMMAND_MEMORY
    cmd = vm.cfg_read(dev.bus.number, dev.devfn, PCI_COMMAND, 2)
    cmd = (cmd | bit) if on else (cmd & ~bit)
    vm.cfg_write(dev.bus.number, dev.devfn, PCI_COMMAND, cmd, 2)


def set_bus_master(vm, dev: PCIDevice, on: bool = True) -> None:
    """Set or clear Bus Master Enable with a 16-bit command read and write,
    as a driver does before its device may DMA (Linux ``pci_set_master()``
    in ``drivers/pci/pci.c``: read PCI_COMMAND, OR in PCI_COMMAND_MASTER,
    write it back).  SeaBIOS leaves the bit clear on devices it does not
    drive itself: the real captures show it writing 0x103 (I/O, memory,
    SERR) to their command register (data/references/*/pci_cfg_write.log)."""
    cmd = vm.cfg_read(dev.bus.number, dev.devfn, PCI_COMMAND, 2)
    cmd = (cmd | PCI_COMMAND_MASTER) if on else (cmd & ~PCI_COMMAND_MASTER)
    vm.cfg_write(dev.bus.number, dev.devfn, PCI_COMMAND, cmd, 2)


def move_bar(vm, bdf: str, bar: int, address: int, how: str = "clean") -> None:
    """Program BAR ``bar`` of the function at ``bdf`` to ``address``.

    ``how`` is ``clean`` or ``careless`` (see the module docstring).  The
    address must be aligned to the BAR's size, as the PCI spec requires for
    a BAR (the low bits are read-only, so an unaligned value is not what
    software writes).
    """
    dev = find_bdf(vm, bdf)
    if not (0 <= bar < PCI_ROM_SLOT) or dev.io_regions[bar] is None:
        have = ", ".join(str(r.index) for r in dev.bars() if r.index != PCI_ROM_SLOT) or "none"
        raise ActionError(None, "bar", f"{bdf} has no BAR {bar} (it has: {have})")
    r = dev.io_regions[bar]
    if address % r.size:
        raise ActionError(None, "address", f"{address:#x} is not aligned to BAR {bar}'s "
                                           f"size {r.size:#x}")
    is64 = not r.type & PCI_BASE_ADDRESS_SPACE_IO and r.type & PCI_BASE_ADDRESS_MEM_TYPE_64
    if not is64 and address + r.size > 1 << 32:
        raise ActionError(None, "address", f"{address:#x} is above 4 GiB but BAR {bar} is 32-bit")
    if how not in ("clean", "careless"):
        raise ActionError(None, "how", f"{how!r}: use 'clean' or 'careless'")
    off = dev.bar_offset(bar)
    io = bool(r.type & PCI_BASE_ADDRESS_SPACE_IO)
    b, devfn = dev.bus.number, dev.devfn
    low = (address & 0xffffffff) | (r.type & (0x3 if io else 0xf))
    if how == "clean":
        set_decode(vm, dev, False, io)
        vm.cfg_write(b, devfn, off, low, 4)
        if is64:
            vm.cfg_write(b, devfn, off + 4, address >> 32, 4)
        set_decode(vm, dev, True, io)
    else:
        vm.cfg_write(b, devfn, off, low, 4)
        if is64:
            vm.cfg_write(b, devfn, off + 4, address >> 32, 4)
