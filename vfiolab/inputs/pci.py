"""Read ``info pci`` as real QEMU prints it.

Source of the format: ``hmp_info_pci`` / ``hmp_info_pci_device``, in QEMU
``monitor/hmp-cmds.c`` up to 7.2 and ``hw/pci/pci-hmp-cmds.c`` from 8.0 (read
at the 7.2.0 and 10.2.0 release commits).  They print the QAPI
``query-pci`` answer built by ``qmp_query_pci_device`` /
``qmp_query_pci_regions`` / ``qmp_query_pci_bridge`` (``hw/pci/pci.c``).
Per function, in this order::

      Bus %2d, device %3d, function %d:
        <class description>|Class %04d: PCI device %04x:%04x
          PCI subsystem %04x:%04x          (header type 0 and 2 only)
          IRQ %d, pin %c                   (only if Interrupt Pin != 0)
          BUS %d.                          (bridges: primary, secondary and
          secondary bus %d.                 subordinate bus numbers, then the
          subordinate bus %d.               three forwarding windows as
          IO range [0x%04x, 0x%04x]         [base, limit]; base > limit means
          memory range [0x%08x, 0x%08x]     the window is closed)
          prefetchable memory range [0x%08x, 0x%08x]
          BAR%d: ...                       (one per region with size != 0, index
                                            ascending; index 6 is the expansion ROM)
          id "%s"
    then the functions behind a bridge, recursively.

BAR lines changed in QEMU 9.2 (commit aa37616fb4 "hw/pci/pci-hmp-cmds: Avoid
displaying bogus size in 'info pci'"):

* up to 9.1: ``I/O at 0x%04x [0x%04x].`` / ``%d bit[ prefetchable] memory at
  0x%08x [0x%08x].`` -- with a trailing dot, and an unmapped BAR printed with
  address PCI_BAR_UNMAPPED = 0xffffffffffffffff and "end" = address + size - 1
  wrapped modulo 2^64, i.e. size - 2 (``[0x0000fffe]`` for a 64 KiB ROM).
* 9.2 and later: the same without the trailing dot, and ``I/O (not mapped)`` /
  ``%d bit[ prefetchable] memory (not mapped)`` for an unmapped BAR (its size
  is no longer printed; the record then has ``size`` 0).

The class code after ``Class`` is printed with ``%04`` PRId64, i.e. in
*decimal* (the edu device's class 0x00ff shows as ``Class 0255``).  QEMU 7.2
prints ``PCI devices not supported`` when query-pci fails; that gives [].
There is no ``ROM at`` line in 7.2 ... 10.2: the ROM is ``BAR6``.
"""

from __future__ import annotations

import re

from ..errors import ParseError
from ..records import BarRecord, PciDeviceRecord
from .mtree import _lines

__all__ = ["parse_info_pci", "PCI_BAR_UNMAPPED", "PCI_ROM_SLOT"]

#: QEMU include/hw/pci/pci.h: ``#define PCI_BAR_UNMAPPED (~(pcibus_t)0)``
PCI_BAR_UNMAPPED = (1 << 64) - 1
#: QEMU include/hw/pci/pci.h ``PCI_ROM_SLOT`` (= 6): the expansion ROM's region index
PCI_ROM_SLOT = 6
_MASK64 = (1 << 64) - 1

_A = re.ASCII
_BUS = re.compile(r"  Bus (?P<bus> *\d+), device (?P<dev> *\d+), function (?P<fn>\d+):\Z", _A)
_CLASS = re.compile(r"    (?P<desc>.+): PCI device (?P<ven>[0-9a-f]{4}):(?P<did>[0-9a-f]{4})\Z",
                    _A | re.DOTALL)
_CLASS_CODE = re.compile(r"Class (?P<code>\d{4,5})\Z", _A)
_SUBSYS = re.compile(r"      PCI subsystem (?P<sv>[0-9a-f]{4}):(?P<sd>[0-9a-f]{4})\Z", _A)
_IRQ = re.compile(r"      IRQ (?P<irq>\d+), pin (?P<pin>.)\Z", _A | re.DOTALL)
_BRIDGE = [
    ("primary", re.compile(r"      BUS (?P<v>\d+)\.\Z", _A)),
    ("secondary", re.compile(r"      secondary bus (?P<v>\d+)\.\Z", _A)),
    ("subordinate", re.compile(r"      subordinate bus (?P<v>\d+)\.\Z", _A)),
    # window names are the QAPI PciBusInfo members
    ("io_range", re.compile(r"      IO range \[0x(?P<b>[0-9a-f]{4,}), 0x(?P<l>[0-9a-f]{4,})\]\Z", _A)),
    ("memory_range", re.compile(
        r"      memory range \[0x(?P<b>[0-9a-f]{8,}), 0x(?P<l>[0-9a-f]{8,})\]\Z", _A)),
    ("prefetchable_range", re.compile(
        r"      prefetchable memory range \[0x(?P<b>[0-9a-f]{8,}), 0x(?P<l>[0-9a-f]{8,})\]\Z", _A)),
]
_BAR = re.compile(
    r"      BAR(?P<bar>\d+): (?:"
    r"I/O at 0x(?P<ioa>[0-9a-f]{4,}) \[0x(?P<ioe>[0-9a-f]{4,})\](?P<iodot>\.?)"
    r"|(?P<iounm>I/O \(not mapped\))"
    r"|(?P<bits>\d+) bit(?P<pf> prefetchable)? memory (?:"
    r"at 0x(?P<ma>[0-9a-f]{8,}) \[0x(?P<me>[0-9a-f]{8,})\](?P<mdot>\.?)"
    r"|(?P<munm>\(not mapped\))))\Z", _A)
_ID = re.compile(r'      id "(?P<id>.*)"\Z', _A | re.DOTALL)
_NOT_SUPPORTED = "PCI devices not supported"

# line kinds in the order hmp_info_pci_device prints them
_ST_CLASS, _ST_SUBSYS, _ST_IRQ, _ST_BRIDGE, _ST_BAR, _ST_ID = range(6)


def _fixed_width(text: str, width: int) -> bool:
    """True if ``text`` is an integer printed with ``%<width>d``."""
    return text == f"{int(text):{width}d}"


def parse_info_pci(text, source=None) -> list[PciDeviceRecord]:
    """Parse ``info pci`` (QEMU 7.2 ... 10.x) into one record per function.

    Functions behind bridges are listed flat, in print order (depth first).
    Lines must come in the order ``hmp_info_pci_device`` prints them; every
    function must end with its ``id "..."`` line; a text cut in the middle of
    a function raises ParseError.
    """
    devices: list[PciDeviceRecord] = []
    cur: PciDeviceRecord | None = None
    stage = _ST_ID
    bridge_next = 0
    dotted: bool | None = None      # BAR line style of this text (<= 9.1 dotted)
    bars_seen: list[int] = []
    last_no, last_line = 0, ""
    only_not_supported = False

    def fail(msg, no, line):
        raise ParseError(msg, line_no=no, line=line, source=source)

    for no, line in _lines(text, source):
        last_no, last_line = no, line
        if line == "":
            if cur is not None and stage != _ST_ID:
                fail("blank line inside a device (missing 'id' line)", no, line)
            continue
        if line == _NOT_SUPPORTED and not devices and cur is None:
            only_not_supported = True
            continue
        if only_not_supported:
            fail(f"text after '{_NOT_SUPPORTED}'", no, line)

        m = _BUS.match(line)
        if m:
            if cur is not None and stage != _ST_ID:
                fail("new device before the previous one's 'id' line", no, line)
            if not (_fixed_width(m["bus"], 2) and _fixed_width(m["dev"], 3)):
                fail("bus/device numbers not printed as '%2d'/'%3d'", no, line)
            bus, slot, fn = int(m["bus"]), int(m["dev"]), int(m["fn"])
            if bus > 255 or slot > 31 or fn > 7:
                fail("bus/device/function out of range (bus <= 255, device <= 31, "
                     "function <= 7)", no, line)
            cur = PciDeviceRecord(bus=bus, slot=slot, func=fn, vendor=0, device=0)
            devices.append(cur)
            stage, bridge_next, bars_seen = -1, 0, []
            continue
        if cur is None or stage == _ST_ID:
            fail("expected '  Bus N, device N, function N:'", no, line)

        if stage == -1:
            m = _CLASS.match(line)
            if not m:
                fail("expected '    <class>: PCI device vvvv:dddd'", no, line)
            cur.class_desc = m["desc"]
            c = _CLASS_CODE.match(m["desc"])
            if c:
                # "Class %04" PRId64: the 16-bit class code in decimal
                code = int(c["code"])
                if code > 0xFFFF:
                    fail("class code above 0xffff", no, line)
                cur.class_code = code
            cur.vendor, cur.device = int(m["ven"], 16), int(m["did"], 16)
            stage = _ST_CLASS
            continue

        m = _SUBSYS.match(line)
        if m:
            if stage >= _ST_SUBSYS:
                fail("'PCI subsystem' out of order", no, line)
            cur.subsystem_vendor, cur.subsystem = int(m["sv"], 16), int(m["sd"], 16)
            stage = _ST_SUBSYS
            continue
        m = _IRQ.match(line)
        if m:
            if stage >= _ST_IRQ:
                fail("'IRQ' line out of order", no, line)
            # pin printed as 'A' + Interrupt Pin - 1
            cur.irq, cur.pin = int(m["irq"]), m["pin"]
            stage = _ST_IRQ
            continue
        matched_bridge = False
        for i, (key, rx) in enumerate(_BRIDGE):
            m = rx.match(line)
            if not m:
                continue
            matched_bridge = True
            if stage > _ST_BRIDGE or (stage == _ST_BRIDGE) != (i > 0) or i != bridge_next:
                fail("bridge lines out of order (BUS, secondary bus, subordinate bus, "
                     "IO range, memory range, prefetchable memory range)", no, line)
            if cur.subsystem_vendor is not None:
                # qmp_query_pci_device: subsystem ids only for header types 0 and 2,
                # bridge info only for header type 1
                fail("bridge lines on a function that printed 'PCI subsystem'", no, line)
            if key == "primary":
                pass
            elif key == "secondary":
                cur.secondary_bus = int(m["v"])
            elif key == "subordinate":
                cur.subordinate_bus = int(m["v"])
            else:
                cur.windows[key] = (int(m["b"], 16), int(m["l"], 16))
            stage, bridge_next = _ST_BRIDGE, i + 1
            break
        if matched_bridge:
            continue
        if stage == _ST_BRIDGE and bridge_next != len(_BRIDGE):
            fail("incomplete bridge lines", no, line)

        m = _BAR.match(line)
        if m:
            if stage > _ST_BAR:
                fail("BAR line out of order", no, line)
            bar = int(m["bar"])
            if bar > PCI_ROM_SLOT:
                fail("BAR index above 6 (PCI_NUM_REGIONS is 7)", no, line)
            if bars_seen and bar <= bars_seen[-1]:
                fail("BAR indices must increase (qmp_query_pci_regions walks 0..6)", no, line)
            bars_seen.append(bar)
            unmapped_new = bool(m["iounm"] or m["munm"])
            # "(not mapped)" exists only in the >= 9.2 (undotted) style
            style = False if unmapped_new else bool(m["iodot"] or m["mdot"])
            if dotted is None:
                dotted = style
            elif dotted != style:
                fail("BAR lines mix the <= 9.1 style (trailing '.') and the >= 9.2 style",
                     no, line)
            if m["bits"] is not None:
                if m["bits"] not in ("32", "64"):
                    fail("memory BAR must be '32 bit' or '64 bit'", no, line)
                btype, pf = ("mem64" if m["bits"] == "64" else "mem32"), bool(m["pf"])
                a, e = m["ma"], m["me"]
            else:
                btype, pf = "io", False
                a, e = m["ioa"], m["ioe"]
            if unmapped_new:
                address, size = None, 0
            else:
                addr, end = int(a, 16), int(e, 16)
                if addr > _MASK64 or end > _MASK64:
                    fail("BAR address wider than 64 bits", no, line)
                if addr == PCI_BAR_UNMAPPED:
                    # <= 9.1 printed the unmapped marker and addr + size - 1 wrapped
                    address, size = None, (end + 2) & _MASK64
                else:
                    if end < addr:
                        fail("BAR ends before it starts", no, line)
                    address, size = addr, end - addr + 1
            cur.bars.append(BarRecord(bar=bar, type=btype, prefetch=pf,
                                      address=address, size=size))
            stage = _ST_BAR
            continue

        m = _ID.match(line)
        if m:
            cur.qdev_id = m["id"]
            stage = _ST_ID
            continue
        fail("unrecognised line in a device", no, line)

    if cur is not None and stage != _ST_ID:
        raise ParseError(f"device {cur.bdf} has no 'id' line (text truncated?)",
                         line_no=last_no, line=last_line, source=source)
    return devices
