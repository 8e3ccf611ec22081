"""Read ``lspci`` output into :class:`vfiolab.model.hostdev.HostDevice`.

Two forms are read, both as pciutils prints them (``lspci.c`` and
``ls-caps.c`` / ``ls-ecaps.c`` of pciutils 3.x, read at the 3.9.0 and
current releases):

``parse_lspci_vvv(text)`` -- ``lspci -vv`` / ``-vvv`` with or without ``-nn``
  and ``-D``.  Per function (``show_device()`` -> ``show_verbose()``)::

      [dddd:]bb:dd.f <class>[ [cccc]]: <vendor device>[ [vvvv:dddd]][ (rev rr)][ (prog-if pp[ [name]])]
      \\tSubsystem: <name>[ [vvvv:dddd]]
      \\tInterrupt: pin A routed to IRQ n          (only if pin or IRQ != 0)
      \\tRegion N: Memory at <addr> (64-bit, prefetchable)[ [virtual]|[disabled]][ [enhanced]][ [size=S]]
      \\tRegion N: I/O ports at <addr>[ [virtual]|[disabled]][ [size=S]]
      \\tExpansion ROM at <addr>[ [virtual]][ [disabled]|[disabled by cmd]][ [size=S]]
      \\tCapabilities: [xx] <name ...>            (standard, show_caps())
      \\t\\t...                                    (details, one level deeper)
      \\tCapabilities: [xxx vN] <name ...>        (extended, show_ext_caps())
      \\tKernel driver in use: <name>

  ``<addr>`` is hex, or ``<unassigned>`` / ``<ignored>`` /
  ``<broken-64-bit-slot>``; ``[size=S]`` is ``show_size()``: a decimal
  number with the largest of K, M, G, T that divides it.  pciutils before
  January 2020 (commits bf72d3e, cb94f26) printed ``[virtual]`` *before*
  ``Memory at`` / ``Expansion ROM at``; both orders are read.  Unknown
  capabilities are ``Capability ID 0x.. [....]`` (older: ``#xx [xxxx]``).
  The MSI line is ``MSI: Enable+ Count=e/c Maskable- 64bit+`` (``cap_msi()``,
  Count = enabled/capable vectors), MSI-X is ``MSI-X: Enable+ Count=n Masked-``
  with ``Vector table: BAR=b offset=oooooooo`` and ``PBA: BAR=b offset=...``
  (``cap_msix()``), PCIe is ``Express (v2) <type>, MSI nn`` (``cap_express()``).
  Lines nested deeper than the function's own lines (e.g. the SR-IOV
  capability's VF ``Region`` lines) are details of the capability above.
  Any hex-dump lines (``lspci -vvv -xxx``) inside a block are decoded too.

``lspci -v`` (one ``v``) is read too: ``show_bases()`` then prints each
  BAR as ``\tMemory at ...`` / ``\tI/O ports at ...`` without ``Region N:``,
  ``show_verbose()`` prints ``Flags: ..., IRQ n`` instead of ``Interrupt:
  pin``, and the capabilities carry no detail lines (ls-caps.c returns when
  ``verbose < 2``).  The BAR lines are in register order; their numbers are
  known only when they fill every BAR register of the header or a hex dump
  of the function gives them, otherwise the function is refused with the
  command to run (:func:`_number_bars`).

Text as people paste it (:func:`_normalize`): mail quoting (``> ``), a
common indentation (markdown, forums), a pasted prompt line
(``$ sudo lspci -vvv``) and device header lines wrapped by a mailer are
undone, each with a note in ``HostDevice.notes``; a file with NUL bytes or
that is not UTF-8 raises ``ParseError`` naming the line (:func:`decode_text`).
A dump that ends inside a capability whose -vv details are missing raises
``ParseError`` naming that line (:func:`_check_cut_short`).

``parse_lspci_x(text)`` -- ``lspci -x`` / ``-xxx`` / ``-xxxx``: the same header
  line, then ``show_hex_dump()`` lines ``"%02x:"`` + 16 x ``" %02x"`` (the
  offset grows to three digits past 0xff): 64, 256 or 4096 bytes.

Sizes.  lspci takes BAR sizes from the kernel (sysfs ``resource``, filled by
Linux ``drivers/pci/probe.c`` ``__pci_read_base()``); a hex dump has no sizes
and cannot have them (sizing writes all ones into the BAR).  So
``parse_lspci_x`` leaves every ``HostBar.size`` as ``None`` and says so in
``HostDevice.notes``; :func:`merge` fills them from the ``-vvv`` text of the
same function (and checks that both views agree), and
``vfiolab.inputs.sysfs.read_sysfs_device`` fills them from ``resource``.

Header type from ``-vvv`` text.  lspci does not print it; it chooses what to
print by it (``show_htype0/1/2()``): a ``Bus: primary=`` line means a bridge
(type 1), with ``Memory window 0:`` a CardBus bridge (type 2), otherwise
type 0.  The interrupt pin is 0 when lspci printed no ``Interrupt:`` line
(it prints one whenever the pin or the IRQ is non-zero), and ``pin ?`` is 0.

Names without ``-nn``.  The header line then carries names only
(pciutils ``lib/names.c`` ``pci_lookup_name``): the class is the pci.ids
*subclass* name if pci.ids has one, else ``<class name> [ccss]`` (the number
added because the subclass is unknown), else ``Class ccss``; the device is
``<vendor name> <device name>``, ``<vendor name> Device dddd`` or
``Device vvvv:dddd`` (``format_name_pair``).  :data:`PCI_SUBCLASS_NAMES` and
:data:`PCI_VENDOR_NAMES` turn the names back into numbers; a name missing
from them, or a vendor name pci.ids gives two vendors ("Red Hat, Inc." is
both 1af4 and 1b36), leaves the number ``None`` and says so in
``HostDevice.notes`` (the model then refuses the device rather than guess).
The prog-if is printed under ``-v`` only when it is non-zero or has a name,
so its absence means 0.

Malformed text raises ``vfiolab.errors.ParseError`` with the line number and
the line; an impossible device raises ``vfiolab.errors.DeviceError``.  Lines
lspci prints that are not needed here (Control, Status, link details, ...)
are skipped.  Lines starting ``lspci:`` or ``pcilib:`` (the tools' own
warnings, when stderr was captured too) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..errors import DeviceError, ParseError
from ..model.hostdev import (EXT_CAP_NAMES, Cap, HostBar, HostDevice, HostRom,
                             MsiInfo, MsixInfo, normalize_bdf)

__all__ = ["parse_lspci_vvv", "parse_lspci_x", "merge", "parse_lspci_size",
           "PCI_SUBCLASS_NAMES", "PCI_VENDOR_NAMES", "class_from_name", "vendor_from_name",
           "apply_kernel_log"]

#: pci.ids subclass names -> class code (class << 8 | subclass), the names
#: ``lspci`` prints without ``-nn`` (pci.ids 2025.06.21 from the pciutils
#: repository; older pci.ids lack 0109, 0502, 0899 and 1201).  The thirteen
#: class names that equal their xx80 subclass name ("Network controller",
#: "Bridge", ...) are covered by it: lspci prints the subclass name.
PCI_SUBCLASS_NAMES = {
    "Non-VGA unclassified device": 0x0000, "VGA compatible unclassified device": 0x0001,
    "Image coprocessor": 0x0005,
    "SCSI storage controller": 0x0100, "IDE interface": 0x0101, "Floppy disk controller": 0x0102,
    "IPI bus controller": 0x0103, "RAID bus controller": 0x0104, "ATA controller": 0x0105,
    "SATA controller": 0x0106, "Serial Attached SCSI controller": 0x0107,
    "Non-Volatile memory controller": 0x0108, "Universal Flash Storage controller": 0x0109,
    "Mass storage controller": 0x0180,
    "Ethernet controller": 0x0200, "Token ring network controller": 0x0201,
    "FDDI network controller": 0x0202, "ATM network controller": 0x0203, "ISDN controller": 0x0204,
    "WorldFip controller": 0x0205, "PICMG controller": 0x0206, "Infiniband controller": 0x0207,
    "Fabric controller": 0x0208, "Network controller": 0x0280,
    "VGA compatible controller": 0x0300, "XGA compatible controller": 0x0301,
    "3D controller": 0x0302, "Display controller": 0x0380,
    "Multimedia video controller": 0x0400, "Multimedia audio controller": 0x0401,
    "Computer telephony device": 0x0402, "Audio device": 0x0403, "Multimedia controller": 0x0480,
    "RAM memory": 0x0500, "FLASH memory": 0x0501, "CXL": 0x0502, "Memory controller": 0x0580,
    "Host bridge": 0x0600, "ISA bridge": 0x0601, "EISA bridge": 0x0602,
    "MicroChannel bridge": 0x0603, "PCI bridge": 0x0604, "PCMCIA bridge": 0x0605,
    "NuBus bridge": 0x0606, "CardBus bridge": 0x0607, "RACEway bridge": 0x0608,
    "Semi-transparent PCI-to-PCI bridge": 0x0609, "InfiniBand to PCI host bridge": 0x060a,
    "Bridge": 0x0680,
    "Serial controller": 0x0700, "Parallel controller": 0x0701,
    "Multiport serial controller": 0x0702, "Modem": 0x0703, "GPIB controller": 0x0704,
    "Smard Card controller": 0x0705, "Communication controller": 0x0780,
    "PIC": 0x0800, "DMA controller": 0x0801, "Timer": 0x0802, "RTC": 0x0803,
    "PCI Hot-plug controller": 0x0804, "SD Host controller": 0x0805, "IOMMU": 0x0806,
    "System peripheral": 0x0880, "Timing Card": 0x0899,
    "Keyboard controller": 0x0900, "Digitizer Pen": 0x0901, "Mouse controller": 0x0902,
    "Scanner controller": 0x0903, "Gameport controller": 0x0904, "Input device controller": 0x0980,
    "Generic Docking Station": 0x0a00, "Docking Station": 0x0a80,
    "386": 0x0b00, "486": 0x0b01, "Pentium": 0x0b02, "Alpha": 0x0b10, "Power PC": 0x0b20,
    "MIPS": 0x0b30, "Co-processor": 0x0b40,
    "FireWire (IEEE 1394)": 0x0c00, "ACCESS Bus": 0x0c01, "SSA": 0x0c02, "USB controller": 0x0c03,
    "Fibre Channel": 0x0c04, "SMBus": 0x0c05, "InfiniBand": 0x0c06, "IPMI Interface": 0x0c07,
    "SERCOS interface": 0x0c08, "CANBUS": 0x0c09, "Serial bus controller": 0x0c80,
    "IRDA controller": 0x0d00, "Consumer IR controller": 0x0d01, "RF controller": 0x0d10,
    "Bluetooth": 0x0d11, "Broadband": 0x0d12, "802.1a controller": 0x0d20,
    "802.1b controller": 0x0d21, "Wireless controller": 0x0d80,
    "I2O": 0x0e00,
    "Satellite TV controller": 0x0f01, "Satellite audio communication controller": 0x0f02,
    "Satellite voice communication controller": 0x0f03,
    "Satellite data communication controller": 0x0f04,
    "Network and computing encryption device": 0x1000, "Entertainment encryption device": 0x1010,
    "Encryption controller": 0x1080,
    "DPIO module": 0x1100, "Performance counters": 0x1101, "Communication synchronizer": 0x1110,
    "Signal processing management": 0x1120, "Signal processing controller": 0x1180,
    "Processing accelerators": 0x1200,
    "SNIA Smart Data Accelerator Interface (SDXI) controller": 0x1201,
}

#: pci.ids vendor names -> vendor IDs, for the vendors the model's devices
#: come from (pci.ids 2025.06.21).  A name pci.ids gives more than one vendor
#: maps to all of them, and is then not enough to tell the vendor.
PCI_VENDOR_NAMES = {
    "NVIDIA Corporation": (0x10de,), "Advanced Micro Devices, Inc. [AMD/ATI]": (0x1002,),
    "Advanced Micro Devices, Inc. [AMD]": (0x1022,), "Intel Corporation": (0x8086,),
    "Mellanox Technologies": (0x15b3,), "Red Hat, Inc.": (0x1af4, 0x1b36),
    "Broadcom / LSI": (0x1000,), "Broadcom Inc. and subsidiaries": (0x14e4,),
    "HighPoint Technologies, Inc.": (0x1103,), "Samsung Electronics Co Ltd": (0x144d,),
    "Huawei Technologies Co., Ltd.": (0x19e5,),
    # devices people pass through (GPUs' companions, NICs, NVMe, USB): pci.ids
    # 2025.06.21 in the pciutils repository; "Marvell Technology Group Ltd."
    # is both 11ab and 1b4b, "Qualcomm Atheros" both 168c and 1969
    "Matrox Electronics Systems Ltd.": (0x102b,), "Realtek Semiconductor Co., Ltd.": (0x10ec,),
    "ASMedia Technology Inc.": (0x1b21,), "Renesas Electronics Corp.": (0x1912,),
    "Micron Technology Inc": (0x1344,), "Sandisk Corp": (0x15b7,),
    "Phison Electronics Corporation": (0x1987,), "SK hynix": (0x1c5c,),
    "Silicon Motion, Inc.": (0x126f,), "KIOXIA Corporation": (0x1e0f,),
    "Kingston Technology Company, Inc.": (0x2646,), "Aquantia Corp.": (0x1d6a,),
    "Marvell Technology Group Ltd.": (0x11ab, 0x1b4b), "Qualcomm Atheros": (0x168c, 0x1969),
}

_A = re.ASCII
# show_slot_name(): [domain:]bus:dev.fn -- domain is %04x, so at least 4 digits
_HEADER = re.compile(r"(?P<slot>(?:[0-9a-f]{4,8}:)?[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]) (?P<rest>.*)\Z",
                     _A | re.DOTALL)
_HEX = re.compile(r"(?P<off>[0-9a-f]{2,3}):(?P<bytes>(?: [0-9a-f]{2}){16})\Z", _A)
_CLASS_ID = re.compile(r"(?P<name>.*?) ?\[(?P<cls>[0-9a-f]{4})\]\Z", _A | re.DOTALL)
_DEV_TAIL = re.compile(
    r"(?P<name>.*?)"
    r"(?: ?\[(?P<ven>[0-9a-f]{4}):(?P<dev>[0-9a-f]{4})\])?"
    r"(?: \(rev (?P<rev>[0-9a-f]{2})\))?"
    r"(?: \(prog-if (?P<pi>[0-9a-f]{2})(?: \[[^\]]*\])?\))?\Z", _A | re.DOTALL)
_NUMERIC = re.compile(r"(?P<ven>[0-9a-f]{4}):(?P<dev>[0-9a-f]{4})\Z", _A)
# format_name_pair without -nn: "Device vvvv:dddd" (vendor unknown to pci.ids)
_UNKNOWN_VENDOR = re.compile(r"Device (?P<ven>[0-9a-f]{4}):(?P<dev>[0-9a-f]{4})\Z", _A)
# format_name without -nn: "Class ccss" (class unknown to pci.ids)
_UNKNOWN_CLASS = re.compile(r"Class (?P<cls>[0-9a-f]{4})\Z", _A)
_SUBSYS = re.compile(r"Subsystem: ?(?P<name>.*?)(?: ?\[(?P<ven>[0-9a-f]{4}):(?P<dev>[0-9a-f]{4})\])?\Z",
                     _A | re.DOTALL)
_ADDR = r"(?:[0-9a-f]+|<unassigned>|<ignored>|<broken-64-bit-slot>)"
_SIZE = r"(?: \[size=(?P<size>\d+)(?P<unit>[KMGT]?)\])?"
# one BAR as pciutils lspci.c show_bases() prints it
_BAR_TEXT = (
    r"(?P<v0>\[virtual\] )?(?:"
    r"I/O ports at (?P<io>" + _ADDR + r")"
    r"|Memory at (?P<mem>" + _ADDR + r") \((?P<bits>32-bit|64-bit|low-1M|type 3), "
    r"(?P<nonpf>non-)?prefetchable\))"
    r"(?P<marks>(?: \[(?:virtual|disabled|enhanced)\])*)" + _SIZE + r"\Z")
_REGION = re.compile(r"Region (?P<idx>\d+): " + _BAR_TEXT, _A)
# lspci -v (show_bases() with verbose == 1): the same text without the
# "Region N: " prefix, so without the BAR's register number
_REGION_V = re.compile(_BAR_TEXT, _A)
_ROM = re.compile(
    r"(?P<v0>\[virtual\] )?Expansion ROM at (?P<addr>" + _ADDR + r")"
    r"(?P<marks>(?: \[(?:virtual|disabled|disabled by cmd|enhanced)\])*)" + _SIZE + r"\Z", _A)
_CAP = re.compile(r"Capabilities: \[(?P<off>[0-9a-f]{2,3})(?: v(?P<ver>\d+))?\] (?P<body>.*)\Z",
                  _A | re.DOTALL)
_MSI = re.compile(r"MSI: Enable(?P<en>[+-]) Count=(?P<cur>\d+)/(?P<max>\d+) "
                  r"Maskable(?P<mask>[+-]) 64bit(?P<b64>[+-])\Z", _A)
_MSIX = re.compile(r"MSI-X: Enable(?P<en>[+-]) Count=(?P<n>\d+) Masked(?P<mask>[+-])\Z", _A)
_MSIX_TABLE = re.compile(r"Vector table: BAR=(?P<bar>\d+) offset=(?P<off>[0-9a-f]{8})\Z", _A)
_MSIX_PBA = re.compile(r"PBA: BAR=(?P<bar>\d+) offset=(?P<off>[0-9a-f]{8})\Z", _A)
_INTERRUPT = re.compile(r"Interrupt: pin (?P<pin>[A-D?]) routed to IRQ", _A)
_UNKNOWN_CAP = re.compile(r"(?:Capability ID 0x(?P<new>[0-9a-f]{1,2})|#(?P<old>[0-9a-f]{2}))\b", _A)
_UNKNOWN_ECAP = re.compile(r"(?:Extended Capability ID 0x(?P<new>[0-9a-f]{1,4})|#(?P<old>[0-9a-f]{2}))\b",
                           _A)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
#: the two detail lines of an MSI-X capability: (prefix, pattern, name, record key)
_MSIX_LINES = (("Vector table:", _MSIX_TABLE, "vector table", "table"),
               ("PBA:", _MSIX_PBA, "PBA", "pba"))

# Standard capability names -> ID, by the text pciutils ls-caps.c prints first.
# Order matters: "MSI-X:" before "MSI:", "AGP3" before "AGP".
_CAP_PREFIXES = [
    ("Null", 0x00), ("Power Management", 0x01), ("AGP3", 0x0E), ("AGP", 0x02),
    ("Vital Product Data", 0x03), ("Slot ID", 0x04), ("MSI-X:", 0x11), ("MSI:", 0x05),
    ("CompactPCI hot-swap", 0x06), ("PCI-X", 0x07), ("HyperTransport", 0x08),
    ("Vendor Specific Information", 0x09), ("Debug port", 0x0A),
    ("CompactPCI central resource control", 0x0B), ("Hot-plug capable", 0x0C),
    ("Subsystem:", 0x0D), ("Secure device", 0x0F), ("Express", 0x10),
    ("SATA HBA", 0x12), ("PCI Advanced Features", 0x13), ("Enhanced Allocation", 0x14),
]
# Extended capability names -> ID (pciutils ls-ecaps.c), longest first.
_ECAP_PREFIXES = sorted(((name, cid) for cid, name in EXT_CAP_NAMES.items() if cid != 0x09),
                        key=lambda p: -len(p[0]))
# PCIe Device/Port Type names -> PCI_EXP_TYPE_* (ls-caps.c cap_express())
_PCIE_TYPE_PREFIXES = [
    ("Root Complex Integrated Endpoint", 0x9), ("Root Complex Event Collector", 0xA),
    ("Legacy Endpoint", 0x1), ("Endpoint", 0x0), ("Root Port", 0x4),
    ("Upstream Port", 0x5), ("Downstream Port", 0x6),
    ("PCI-Express to PCI/PCI-X Bridge", 0x7), ("PCI/PCI-X to PCI-Express Bridge", 0x8),
]


def parse_lspci_size(num: str, unit: str) -> int:
    """``[size=16M]`` -> 16 MiB: pciutils ``show_size()`` divides by 1024 while it can."""
    return int(num, 10) * _UNITS[unit]


def _indent(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip(" "))


@dataclass
class _Block:
    """The lines of one function in lspci output, with their line numbers."""

    slot: str
    rest: str
    line_no: int
    header: str
    lines: list = field(default_factory=list)       # (line_no, text)
    hex_lines: list = field(default_factory=list)   # (line_no, text)
    notes: list = field(default_factory=list)       # what _normalize undid
    last_line: int | None = None                    # the text's last line, on the last block


def decode_text(data, source=None) -> str:
    """The text of a file as a person saved it: bytes decoded as UTF-8.

    lspci prints ASCII and the UTF-8 names of pci.ids; anything else is not
    lspci output.  A file with NUL bytes (a binary ``config`` dump, an
    image) or that is not UTF-8 raises ``ParseError`` naming the line and
    byte, never a traceback."""
    if isinstance(data, str):
        return data
    if not isinstance(data, (bytes, bytearray)):
        raise ParseError(f"expected text, got {type(data).__name__}", source=source)
    data = bytes(data)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Windows PowerShell's ">" writes UTF-16 with a byte-order mark
        raise ParseError("UTF-16 text (as PowerShell's '>' writes it), not the UTF-8 lspci "
                         "prints: save it as UTF-8", line_no=1, source=source)
    nul = data.find(b"\0")
    if nul >= 0:
        raise ParseError(f"binary data, not lspci text (a NUL byte at offset {nul:#x}; a "
                         "sysfs config file is read through its device folder, an lspci "
                         "hex dump is text: lspci -xxx)",
                         line_no=data.count(b"\n", 0, nul) + 1, source=source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(f"not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start:#x} "
                         "(lspci prints ASCII and UTF-8; save the output as it was printed)",
                         line_no=line_no, source=source) from None


# mail quoting: "> ", ">> ", "> > " at the start of a line
_QUOTE = re.compile(r"(?:>[ \t]?)+")
# a mailer or terminal wraps lines at 72-80 columns: a shorter header line was
# not wrapped, and a line after it is not its tail
_WRAP_MIN = 50
# "user@host:~$ sudo lspci -vvv -s 01:00.0", "# lspci -nnvvv": a pasted prompt line
_PROMPT = re.compile(r"\S*[$#%>] *(?:sudo )?lspci\b")


def _normalize(text: str, source) -> tuple[list[tuple[int, str]], list[str]]:
    """The lines of pasted lspci text as lspci printed them, with their
    original line numbers, and notes on what was undone:

    * mail quoting: when every non-blank line starts with ``>`` the common
      quote depth is removed;
    * a common indentation of every line (markdown code blocks, a paste
      indented by a mail client or forum): lspci starts each device header
      in column 0 (pciutils ``lspci.c`` ``show_device()`` prints the slot
      first), so the indentation the header lines share is removed;
    * wrapped header lines: a line that is neither a device header, nor
      indented, nor a hex-dump line, right after a device header line of
      at least ``_WRAP_MIN`` characters, is the tail a mail client or
      terminal wrapped off it (lspci prints the header as one line); it is
      joined back with one space;
    * a first line that is a shell prompt running lspci is skipped.
    """
    if "\0" in text:
        # name where: the line of the first NUL
        no = text.count("\n", 0, text.index("\0")) + 1
        raise ParseError("binary data, not lspci text (a NUL character)", line_no=no,
                         line=text.splitlines()[no - 1][:80].replace("\0", "\\0"), source=source)
    raw = [(no, ln.rstrip("\r")) for no, ln in enumerate(text.splitlines(), 1)]
    notes: list[str] = []
    body = [ln for _, ln in raw if ln.strip()]
    if body and all(ln.lstrip(" ").startswith(">") for ln in body):
        depth = min(_QUOTE.match(ln.lstrip(" "))[0].count(">") for ln in body)

        def unquote(ln: str) -> str:
            ln = ln.lstrip(" ")
            for _ in range(depth):
                ln = ln[1:]                       # the '>'
                if ln.startswith(" "):            # and the space a mailer adds after it
                    ln = ln[1:]
            return ln
        raw = [(no, unquote(ln) if ln.strip() else "") for no, ln in raw]
        notes.append(f"mail quoting ({'>' * depth} ) removed from every line")
    heads = [ln for _, ln in raw if _HEADER.match(ln.lstrip(" \t"))]
    if heads:
        pre = min(len(h) - len(h.lstrip(" \t")) for h in heads)
        first = heads[0][:pre]
        if pre and all(h[:pre] == first for h in heads) and \
                all(ln[:pre] == first for _, ln in raw if ln.strip()):
            raw = [(no, ln[pre:]) for no, ln in raw]
            notes.append(f"a common indentation of {pre} character(s) removed from every "
                         "line (lspci starts each device header in column 0)")
    out: list[tuple[int, str]] = []
    prev_header = False
    for no, ln in raw:
        if not ln.strip():
            out.append((no, ""))
            prev_header = False
            continue
        if not out and _PROMPT.match(ln):
            notes.append(f"line {no} is the shell prompt and command, not lspci output: "
                         "skipped")
            continue
        if (prev_header and ln[0] not in " \t" and not _HEADER.match(ln)
                and not _HEX.match(ln) and not ln.startswith(("lspci:", "pcilib:"))
                and len(out[-1][1]) >= _WRAP_MIN):
            # a device header line lspci printed as one line, wrapped by a mailer
            pno, pln = out[-1]
            out[-1] = (pno, pln.rstrip(" ") + " " + ln.strip())
            notes.append(f"line {no} joined to the device header line {pno}: the header "
                         "was wrapped (lspci prints it as one line)")
            continue
        out.append((no, ln))
        prev_header = bool(_HEADER.match(ln))
    return out, notes


def _split_blocks(text, source, *, allow_hex: bool) -> list[_Block]:
    text = decode_text(text, source)
    blocks: list[_Block] = []
    cur: _Block | None = None
    lines, notes = _normalize(text, source)
    last_no = lines[-1][0] if lines else 0
    for no, line in lines:
        if not line.strip():
            continue
        if line[0] in " \t":
            if cur is None:
                raise ParseError("indented line before any device header line",
                                 line_no=no, line=line, source=source)
            cur.lines.append((no, line))
            continue
        if line.startswith(("lspci:", "pcilib:")):
            continue
        m = _HEX.match(line)
        if m and allow_hex:
            if cur is None:
                raise ParseError("hex dump line before any device header line",
                                 line_no=no, line=line, source=source)
            cur.hex_lines.append((no, line))
            continue
        m = _HEADER.match(line)
        if m is None:
            if re.match(r"[0-9a-f]{2,3}:", line, _A):
                raise ParseError("malformed hex dump line (expected an offset and 16 bytes)",
                                 line_no=no, line=line, source=source)
            raise ParseError("expected a device header line ([dddd:]bb:dd.f class: name)",
                             line_no=no, line=line, source=source)
        cur = _Block(m["slot"], m["rest"], no, line)
        blocks.append(cur)
    for b in blocks:
        b.notes = list(notes)
    if blocks:
        blocks[-1].last_line = last_no
    return blocks


def _bdf(block: _Block, source) -> str:
    try:
        return normalize_bdf(block.slot)
    except ValueError as exc:
        raise ParseError(str(exc), line_no=block.line_no, line=block.header,
                         source=source) from None


def _parse_header(block: _Block, source) -> dict:
    """Class, vendor/device, revision from the header line (lspci.c show_terse())."""
    rest = block.rest
    out: dict = {}
    if ": " not in rest:
        raise ParseError("device header line has no 'class: device' part",
                         line_no=block.line_no, line=block.header, source=source)
    cls, dev = rest.split(": ", 1)
    m = _CLASS_ID.match(cls)
    if re.fullmatch(r"[0-9a-f]{4}", cls, _A):            # lspci -n: "0200: 8086:10fb"
        out["class16"] = int(cls, 16)
    elif m:
        out["class16"] = int(m["cls"], 16)
        out["class_name"] = m["name"]
    elif _UNKNOWN_CLASS.match(cls):
        out["class16"] = int(_UNKNOWN_CLASS.match(cls)["cls"], 16)
    else:
        out["class_name"] = cls
        code, note = class_from_name(cls)
        if code is None:
            out.setdefault("notes", []).append(note)
        else:
            out["class16"] = code
    m = _DEV_TAIL.match(dev)
    if m is None:   # the pattern accepts any text; kept as a guard
        raise ParseError("unreadable device name", line_no=block.line_no,
                         line=block.header, source=source)
    name = m["name"]
    n = _NUMERIC.match(name)
    if m["ven"]:
        out["vendor_id"], out["device_id"] = int(m["ven"], 16), int(m["dev"], 16)
        out["device_name"] = name
    elif n:
        out["vendor_id"], out["device_id"] = int(n["ven"], 16), int(n["dev"], 16)
    elif _UNKNOWN_VENDOR.match(name):
        u = _UNKNOWN_VENDOR.match(name)
        out["vendor_id"], out["device_id"] = int(u["ven"], 16), int(u["dev"], 16)
    else:
        out["device_name"] = name
        vendor, device, note = vendor_from_name(name)
        if vendor is not None:
            out["vendor_id"] = vendor
        if device is not None:
            out["device_id"] = device
        if note:
            out.setdefault("notes", []).append(note)
    if m["rev"]:
        out["revision"] = int(m["rev"], 16)
    if m["pi"]:
        out["prog_if"] = int(m["pi"], 16)
    return out


def class_from_name(name: str) -> tuple[int | None, str]:
    """(class << 8 | subclass, "") for a subclass name lspci printed without
    ``-nn``; (None, why) for a name not in :data:`PCI_SUBCLASS_NAMES`."""
    code = PCI_SUBCLASS_NAMES.get(name)
    if code is None:
        return None, (f"class {name!r} is not a pci.ids subclass name vfiolab knows: "
                      "its number is unknown (lspci -nn prints it)")
    return code, ""


def vendor_from_name(text: str) -> tuple[int | None, int | None, str]:
    """(vendor ID, device ID, note) from lspci's ``<vendor> <device>`` text:
    the longest :data:`PCI_VENDOR_NAMES` name followed by a space; the device
    ID only from ``<vendor> Device dddd`` (a device pci.ids does not name).
    The note says why an ID is missing."""
    known = [v for v in PCI_VENDOR_NAMES if text.startswith(v + " ")]
    if not known:
        return None, None, (f"vendor of {text!r} is not a pci.ids vendor name vfiolab knows: "
                            "its ID is unknown (lspci -nn prints it)")
    vname = max(known, key=len)
    ids = PCI_VENDOR_NAMES[vname]
    rest = text[len(vname) + 1:]
    m = re.fullmatch(r"Device (?P<dev>[0-9a-f]{4})", rest, _A)
    device = int(m["dev"], 16) if m else None
    if len(ids) > 1:
        return None, device, (f"vendor name {vname!r} is pci.ids' name for "
                              f"{' and '.join(f'{v:04x}' for v in ids)}: the vendor ID is "
                              "unknown (lspci -nn prints it)")
    return ids[0], device, ""


# Linux drivers/pci/rom.c pci_get_rom_size (6.1 and 6.12): pci_info() lines,
# "<driver or bus> <dddd:bb:dd.f>: ..." in dmesg (any timestamp or journal prefix)
_ROM_HEADER_BAD = re.compile(
    r"\S+ (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]): Invalid PCI ROM header "
    r"signature: expecting 0xaa55, got (?P<got>\S+)", _A)
_ROM_DATA_BAD = re.compile(
    r"\S+ (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]): Invalid PCI ROM data "
    r"signature: expecting 0x52494350, got (?P<got>\S+)", _A)


def apply_kernel_log(devices: list[HostDevice], log: str) -> list[HostDevice]:
    """Mark the ROM images the host kernel could not read, from its log
    (``dmesg``/``journalctl -k`` text).

    Linux drivers/pci/rom.c ``pci_get_rom_size`` checks the first image's
    0xAA55 header signature at the top of its loop; later images' headers
    are checked before looping ("No more image in the PCI ROM"), so
    "Invalid PCI ROM header signature" is always about the first image: the
    size is 0, ``pci_map_rom`` fails and ``HostRom.image_valid`` becomes
    False.  "Invalid PCI ROM data signature" may be about a later image
    (then the ROM is valid up to it), so it only adds a note.  A device
    the log names that has no ROM BAR is left alone."""
    bad, unsure = set(), set()
    for line in log.splitlines():
        m = _ROM_HEADER_BAD.search(line)
        if m:
            bad.add(m["bdf"])
            continue
        m = _ROM_DATA_BAD.search(line)
        if m:
            unsure.add(m["bdf"])
    out = []
    for dev in devices:
        if dev.rom is not None and dev.bdf in bad:
            dev = dev.with_changes(rom=replace(dev.rom, image_valid=False), notes=dev.notes + (
                "kernel log: Invalid PCI ROM header signature: the kernel maps no ROM image "
                "(VFIO ROM region size 0)",))
        elif dev.rom is not None and dev.bdf in unsure:
            dev = dev.with_changes(notes=dev.notes + (
                "kernel log: Invalid PCI ROM data signature: the ROM image may be unreadable "
                "(only if it is the first image's)",))
        out.append(dev)
    return out


def _hex_config(block: _Block, source) -> bytes | None:
    """The bytes of ``show_hex_dump()`` lines, checked for order and gaps."""
    if not block.hex_lines:
        return None
    data = bytearray()
    for no, line in block.hex_lines:
        m = _HEX.match(line)
        off = int(m["off"], 16)
        if off != len(data):
            raise ParseError(f"hex dump offset {off:#x} where {len(data):#x} was expected "
                             "(lines missing or out of order)", line_no=no, line=line,
                             source=source)
        data += bytes(int(x, 16) for x in m["bytes"].split())
    return bytes(data)


def _region(m: re.Match, no: int, line: str, source, idx: int | None = None) -> HostBar:
    idx = int(m["idx"], 10) if idx is None else idx
    marks = m["marks"] or ""
    virtual = bool(m["v0"]) or "[virtual]" in marks
    disabled = "[disabled]" in marks
    size = parse_lspci_size(m["size"], m["unit"]) if m["size"] else None
    if m["io"] is not None:
        a = m["io"]
        addr = int(a, 16) if not a.startswith("<") else None
        return HostBar(idx, addr, size, "io", disabled=disabled, virtual=virtual)
    a = m["mem"]
    if a == "<broken-64-bit-slot>":
        # pciutils show_bases(): a 64-bit BAR in the last BAR register
        return HostBar(idx, None, size, "mem", is64=True, prefetch=not m["nonpf"],
                       disabled=disabled, virtual=virtual)
    addr = int(a, 16) if not a.startswith("<") else None
    bits = m["bits"]
    if bits == "type 3":
        raise ParseError("memory BAR type 3 is reserved", line_no=no, line=line, source=source)
    return HostBar(idx, addr, size, "mem", is64=bits == "64-bit", prefetch=not m["nonpf"],
                   disabled=disabled, virtual=virtual, low1m=bits == "low-1M")


def _cap_id(body: str, extended: bool) -> int | None:
    if extended:
        m = _UNKNOWN_ECAP.match(body)
        if m:
            return int(m["new"] or m["old"], 16)
        for name, cid in _ECAP_PREFIXES:
            if body.startswith(name):
                return cid
        return None
    m = _UNKNOWN_CAP.match(body)
    if m:
        return int(m["new"] or m["old"], 16)
    for name, cid in _CAP_PREFIXES:
        if body.startswith(name):
            return cid
    return None


def _parse_block(block: _Block, source) -> HostDevice:
    bdf = _bdf(block, source)
    hdr = _parse_header(block, source)
    fields: dict = {k: hdr[k] for k in ("vendor_id", "device_id", "revision", "class_name",
                                         "device_name") if k in hdr}
    if "class16" in hdr:
        fields["class_code"] = hdr["class16"] << 8 | hdr.get("prog_if", 0)
    notes: list[str] = list(block.notes) + list(hdr.get("notes", ()))
    base = min((_indent(t) for _, t in block.lines), default=0)
    bars: list[HostBar] = []
    rom: HostRom | None = None
    caps: list[Cap] = []
    ecaps: list[Cap] = []
    names: dict = {}
    msix: dict | None = None
    msi: MsiInfo | None = None
    in_msix = False
    header_type = 0
    pin = 0
    is_pcie = False
    pcie_type = None
    access_denied = False
    unindexed: list = []          # lspci -v BAR lines: (line_no, line, match)
    verbose2 = False              # lines only -vv prints were seen
    flags_line = interrupt_line = False
    last_cap = None               # (line_no, line, id, extended) of the last capability
    for no, line in block.lines:
        body = line.strip()
        if _indent(line) > base:
            # a detail line of the capability above
            for prefix, rx, what, key in _MSIX_LINES if in_msix else ():
                if body.startswith(prefix):
                    m = rx.match(body)
                    if m is None:
                        raise ParseError(f"malformed MSI-X {what} line",
                                         line_no=no, line=line, source=source)
                    if f"{key}_bar" in msix:
                        raise ParseError(f"second MSI-X {what} line",
                                         line_no=no, line=line, source=source)
                    msix[f"{key}_bar"], msix[f"{key}_offset"] = int(m["bar"]), int(m["off"], 16)
            continue
        in_msix = False
        if body.startswith(("Memory at ", "I/O ports at ", "[virtual] Memory at ",
                            "[virtual] I/O ports at ")):
            # lspci -v: a BAR without its register number
            m = _REGION_V.match(body)
            if m is None:
                raise ParseError("malformed BAR line", line_no=no, line=line, source=source)
            unindexed.append((no, line, m))
        elif body.startswith("Region "):
            verbose2 = True
            m = _REGION.match(body)
            if m is None:
                raise ParseError("malformed Region line", line_no=no, line=line, source=source)
            bar = _region(m, no, line, source)
            if any(b.index == bar.index for b in bars):
                raise ParseError(f"Region {bar.index} listed twice", line_no=no, line=line,
                                 source=source)
            bars.append(bar)
        elif body.startswith(("Expansion ROM at", "[virtual] Expansion ROM at")):
            m = _ROM.match(body)
            if m is None:
                raise ParseError("malformed Expansion ROM line", line_no=no, line=line,
                                 source=source)
            if rom is not None:
                raise ParseError("Expansion ROM listed twice", line_no=no, line=line,
                                 source=source)
            marks = m["marks"] or ""
            a = m["addr"]
            rom = HostRom(int(a, 16) if not a.startswith("<") else None,
                          parse_lspci_size(m["size"], m["unit"]) if m["size"] else None,
                          enabled="[disabled]" not in marks,
                          virtual=bool(m["v0"]) or "[virtual]" in marks)
        elif body.startswith("Capabilities:"):
            if body == "Capabilities: <access denied>":
                access_denied = True
                continue
            m = _CAP.match(body)
            if m is None:
                raise ParseError("malformed Capabilities line", line_no=no, line=line,
                                 source=source)
            off = int(m["off"], 16)
            extended = m["ver"] is not None or off >= 0x100
            cap_body = m["body"]
            cid = _cap_id(cap_body, extended)
            last_cap = (no, line, cid, extended)
            target = ecaps if extended else caps
            if any(c.offset == off for c in target):
                raise ParseError(f"capability at [{off:x}] listed twice", line_no=no,
                                 line=line, source=source)
            target.append(Cap(cid, off))
            names[off] = cap_body
            if extended:
                continue
            if cid == 0x11:
                mm = _MSIX.match(cap_body)
                if mm is None:
                    raise ParseError("malformed MSI-X capability line", line_no=no,
                                     line=line, source=source)
                if msix is not None:
                    raise ParseError("second MSI-X capability", line_no=no, line=line,
                                     source=source)
                msix = {"nentries": int(mm["n"]), "enabled": mm["en"] == "+",
                        "masked": mm["mask"] == "+", "cap_offset": off}
                in_msix = True
            elif cid == 0x05:
                mm = _MSI.match(cap_body)
                if mm is None:
                    raise ParseError("malformed MSI capability line", line_no=no,
                                     line=line, source=source)
                if msi is not None:
                    raise ParseError("second MSI capability", line_no=no, line=line,
                                     source=source)
                msi = MsiInfo(is64=mm["b64"] == "+", per_vector_mask=mm["mask"] == "+",
                              vectors=int(mm["max"]), vectors_enabled=int(mm["cur"]),
                              enabled=mm["en"] == "+", cap_offset=off)
            elif cid == 0x10:
                is_pcie = True
                rest = cap_body[len("Express"):].lstrip()
                rest = re.sub(r"^\(v\d+\) ", "", rest)
                for name, t in _PCIE_TYPE_PREFIXES:
                    if rest.startswith(name):
                        pcie_type = t
                        break
            elif cid == 0x0D and "subsystem_vendor_id" not in fields:
                sm = re.search(r"\[(?P<ven>[0-9a-f]{4}):(?P<dev>[0-9a-f]{4})\]\Z", cap_body, _A)
                if sm:
                    fields["subsystem_vendor_id"] = int(sm["ven"], 16)
                    fields["subsystem_id"] = int(sm["dev"], 16)
        elif body.startswith("Subsystem:"):
            m = _SUBSYS.match(body)
            if m is None:
                raise ParseError("malformed Subsystem line", line_no=no, line=line,
                                 source=source)
            if m["ven"]:
                fields["subsystem_vendor_id"] = int(m["ven"], 16)
                fields["subsystem_id"] = int(m["dev"], 16)
            else:
                n = _NUMERIC.match(m["name"])
                if n:
                    fields["subsystem_vendor_id"] = int(n["ven"], 16)
                    fields["subsystem_id"] = int(n["dev"], 16)
        elif body.startswith(("Control:", "Latency:")):
            verbose2 = True
        elif body.startswith("Flags:"):
            flags_line = True          # show_verbose() with verbose <= 1
        elif body.startswith("Interrupt:"):
            interrupt_line = True
            m = _INTERRUPT.match(body)
            if m is None:
                raise ParseError("malformed Interrupt line", line_no=no, line=line, source=source)
            pin = 0 if m["pin"] == "?" else ord(m["pin"]) - ord("A") + 1
        elif body.startswith("Bus: primary="):
            header_type = 1 if header_type == 0 else header_type
        elif body.startswith("Memory window 0:") or body.startswith("I/O window 0:"):
            header_type = 2
        elif body.startswith("Kernel driver in use:"):
            fields["kernel_driver"] = body.split(":", 1)[1].strip()
    if unindexed:
        bars = _number_bars(block, bdf, unindexed, bars, header_type, notes, source)
    if flags_line and not interrupt_line:
        # show_verbose(): "Interrupt: pin X routed to IRQ n" only with -vv
        pin = None
        notes.append("interrupt pin not shown: lspci -v prints 'Flags: ... IRQ n', the pin "
                     "only with -vv (the guest's copy reads pin 0)")
    _check_cut_short(block, last_cap, msix, verbose2 and not access_denied, source)
    if msix is not None:
        fields["msix"] = MsixInfo(**msix)
        if "table_bar" not in msix:
            notes.append("MSI-X table/PBA location not shown (lspci -vv or more, as root, "
                         "prints it)")
    if access_denied:
        notes.append("capabilities not shown: lspci printed <access denied> (run it as root)")
        fields["caps_known"] = False
    fields["msi"] = msi
    fields.update(bars=tuple(bars), rom=rom, capabilities=tuple(caps),
                  ext_capabilities=tuple(ecaps), cap_names=names, is_pcie=is_pcie,
                  pcie_type=pcie_type, interrupt_pin=pin, header_type=header_type,
                  source=source, notes=tuple(notes))
    config = _hex_config(block, source)
    dev = HostDevice(bdf=bdf, **fields)
    if config is not None:
        dev = merge([dev], [_from_hex(bdf, config, block, source)], source=source)[0]
    return dev


def _number_bars(block: _Block, bdf: str, unindexed: list, bars: list, header_type: int,
                 notes: list, source) -> list[HostBar]:
    """Give ``lspci -v`` BAR lines their register numbers, where the text
    allows it.

    pciutils ``lspci.c`` ``show_bases()`` walks the BAR registers in order
    and skips the empty ones (and, with Linux sysfs, the upper half of a
    64-bit BAR: its ``resource`` line is all zeros); ``Region N:`` is printed
    only with ``-vv``.  So the lines are in register order, a 64-bit BAR
    taking two registers, and their numbers are known only when they fill
    every register of the header (6 on type 0, 2 on a bridge, 1 on CardBus:
    ``show_htype0/1/2()``), or when a hex dump of the same function gives the
    registers.  Otherwise the device is refused: a guess would put the BARs
    at the wrong config offsets."""
    first_no, first_line, _ = unindexed[0]
    if bars:
        raise ParseError("BAR lines with and without 'Region N:' in one device",
                         line_no=first_no, line=first_line, source=source)
    nslots = {1: 2, 2: 1}.get(header_type, 6)
    widths = [2 if m["bits"] == "64-bit" else 1 for _, _, m in unindexed]
    indices = None
    config = _hex_config(block, source)
    if sum(widths) == nslots:
        indices, i = [], 0
        for w in widths:
            indices.append(i)
            i += w
        why = f"they fill all {nslots} BAR registers"
    elif config is not None and len(config) >= 64:
        from ..model.hostdev import decode_config
        got = [b.index for b in decode_config(bdf, config)["bars"]]
        if len(got) == len(unindexed):
            indices, why = got, "the hex dump's BAR registers"
    if indices is None:
        slot = block.slot
        raise ParseError(
            f"lspci -v prints BARs without their register number ('Region N:' comes only "
            f"with -vv, pciutils lspci.c show_bases()); the {len(unindexed)} BAR(s) of "
            f"{bdf} take {sum(widths)} of its {nslots} BAR registers, so which ones is "
            f"unknown: run `sudo lspci -vvv -nn -s {slot}` (or give its sysfs folder "
            f"/sys/bus/pci/devices/{bdf})", line_no=first_no, line=first_line, source=source)
    out = [_region(m, no, line, source, idx) for (no, line, m), idx in zip(unindexed, indices)]
    notes.append("lspci -v printed no BAR numbers; " + why + ", so they are "
                 + ", ".join(f"BAR{i}" for i in indices))
    return out


#: capabilities whose -vv details always follow their line (pciutils
#: ls-caps.c cap_pm, cap_msi, cap_express, cap_msix; ls-ecaps.c cap_aer,
#: cap_sriov: each returns early only when verbose < 2)
_DETAILED_CAPS = {(0x01, False), (0x05, False), (0x10, False), (0x11, False),
                  (0x01, True), (0x10, True)}


def _check_cut_short(block: _Block, last_cap, msix, verbose2: bool, source) -> None:
    """A dump that ends inside a capability: the text's last line is a
    capability whose -vv detail lines are missing, or an MSI-X capability
    with its vector table line but not its PBA line."""
    if block.last_line is None or last_cap is None or not verbose2:
        return
    no, line, cid, extended = last_cap
    last_no, last_text = block.lines[-1] if block.lines else (None, None)
    if no == last_no and (cid, extended) in _DETAILED_CAPS:
        raise ParseError("the text ends inside this capability: lspci -vv prints its details "
                         "on the lines that follow (pciutils ls-caps.c); the dump was cut "
                         "short", line_no=no, line=line, source=source)
    if (cid, extended) == (0x11, False) and msix is not None and "table_bar" in msix \
            and "pba_bar" not in msix and last_text.strip().startswith("Vector table:"):
        raise ParseError("the text ends inside the MSI-X capability: its 'PBA:' line is "
                         "missing (pciutils ls-caps.c cap_msix prints it after 'Vector "
                         "table:'); the dump was cut short", line_no=last_no, line=last_text,
                         source=source)


def _from_hex(bdf: str, config: bytes, block: _Block, source) -> HostDevice:
    hdr = _parse_header(block, source)
    extra = {k: hdr[k] for k in ("class_name", "device_name") if k in hdr}
    return HostDevice.from_config(bdf, config, source=source, **extra)


def parse_lspci_vvv(text: str, source: str | None = None, *,
                    errors: dict | None = None) -> list[HostDevice]:
    """Parse ``lspci -v``/``-vv``/``-vvv`` output (any of ``-nn``, ``-D``)
    into devices.

    ``source`` names the input in error messages.  See the module docstring
    for the format and what is taken from it.  With ``errors`` (a dict), a
    function whose block cannot be read (e.g. ``lspci -v`` BARs whose
    registers are unknown) is left out and its ``ParseError`` stored under
    its address, so the other functions of the text stay usable; without
    it the first such error is raised.
    """
    out = []
    for b in _split_blocks(text, source, allow_hex=True):
        if errors is None:
            out.append(_parse_block(b, source))
            continue
        bdf = _bdf(b, source)
        try:
            out.append(_parse_block(b, source))
        except (ParseError, DeviceError) as exc:
            errors[bdf] = exc
    return out


def parse_lspci_x(text: str, source: str | None = None) -> list[HostDevice]:
    """Parse ``lspci -x``/``-xxx``/``-xxxx`` hex dumps into devices.

    Every BAR's ``size`` is ``None`` (a dump cannot be sized; see the module
    docstring): use :func:`merge` with the ``-vvv`` text of the same devices,
    or ``read_sysfs_device``.  A dump of another length than 64, 256 or 4096
    bytes raises ``DeviceError`` (field ``config``); a partial line raises
    ``ParseError``.
    """
    out = []
    for b in _split_blocks(text, source, allow_hex=True):
        bdf = _bdf(b, source)
        for no, line in b.lines:
            if "Cannot show hex-dump" in line:
                raise ParseError("lspci could not read this device's config space",
                                 line_no=no, line=line, source=source)
        config = _hex_config(b, source)
        if config is None:
            raise ParseError("device has no hex dump lines (run lspci with -x, -xxx or -xxxx)",
                             line_no=b.line_no, line=b.header, source=source)
        out.append(_from_hex(bdf, config, b, source))
    return out


def _same(a, b) -> bool:
    return a is None or b is None or a == b


def merge(vvv_devices, x_devices, source: str | None = None) -> list[HostDevice]:
    """Join ``-vvv`` devices with hex-dump devices of the same BDF.

    The result keeps the config bytes and everything decoded from them, and
    takes from the text what a dump lacks: BAR and ROM sizes, ``[virtual]`` /
    ``[disabled]`` marks, names, the kernel driver, and BARs lspci shows as
    ``[virtual]`` (an address the OS knows but the BAR register does not
    hold).  Where both say something they must agree -- BAR index, kind,
    width, prefetchability, address; MSI-X and MSI parameters; vendor and
    device IDs -- else ``DeviceError`` names the field.  Devices found in
    only one list are returned unchanged, text devices first.
    """
    by_bdf = {d.bdf: d for d in x_devices}
    out = []
    used = set()
    for t in vvv_devices:
        x = by_bdf.get(t.bdf)
        if x is None:
            out.append(t)
            continue
        used.add(t.bdf)
        out.append(_merge_one(t, x))
    out += [d for d in x_devices if d.bdf not in used]
    return out


def _merge_one(t: HostDevice, x: HostDevice) -> HostDevice:
    bdf = t.bdf

    def fail(field_, why):
        raise DeviceError(bdf, field_, why)

    for name in ("vendor_id", "device_id", "revision", "subsystem_vendor_id", "subsystem_id",
                 "interrupt_pin", "header_type"):
        if not _same(getattr(t, name), getattr(x, name)):
            fail(name, f"lspci -vvv says {getattr(t, name)!r} but the config dump says "
                       f"{getattr(x, name)!r}")
    if t.class_code is not None and x.class_code is not None and t.class_code >> 8 != x.class_code >> 8:
        fail("class", f"lspci -vvv says {t.class_code >> 8:04x} but the config dump says "
                      f"{x.class_code >> 8:04x}")
    bars = []
    tb = {b.index: b for b in t.bars}
    xb = {b.index: b for b in x.bars}
    for idx in sorted(set(tb) | set(xb)):
        a, b = tb.get(idx), xb.get(idx)
        if b is None:
            if not a.virtual and a.host_address is not None:
                fail(f"BAR{idx}", f"lspci -vvv shows {a.describe()} but the config dump has "
                                  "no such BAR")
            bars.append(a)
            continue
        if a is None:
            bars.append(b)
            continue
        if (a.kind, a.is64, a.prefetch) != (b.kind, b.is64, b.prefetch):
            fail(f"BAR{idx}", f"lspci -vvv shows {a.type}"
                              f"{' prefetchable' if a.prefetch else ''} but the config dump "
                              f"has {b.type}{' prefetchable' if b.prefetch else ''}")
        if not a.virtual and a.host_address is not None and b.host_address is not None \
                and a.host_address != b.host_address:
            fail(f"BAR{idx}", f"lspci -vvv shows address {a.host_address:#x} but the config "
                              f"dump has {b.host_address:#x}")
        bars.append(HostBar(idx, a.host_address if a.host_address is not None else b.host_address,
                            a.size, b.kind, is64=b.is64, prefetch=b.prefetch,
                            disabled=a.disabled, virtual=a.virtual, low1m=b.low1m))
    rom = x.rom
    if t.rom is not None:
        if rom is not None and not t.rom.virtual and t.rom.host_address is not None \
                and rom.host_address is not None and t.rom.host_address != rom.host_address:
            fail("ROM", f"lspci -vvv shows {t.rom.host_address:#x} but the config dump has "
                        f"{rom.host_address:#x}")
        if rom is not None and not t.rom.virtual and t.rom.enabled != rom.enabled:
            fail("ROM", "lspci -vvv and the config dump disagree on the ROM enable bit")
        rom = t.rom if rom is None or t.rom.virtual else HostRom(
            rom.host_address, t.rom.size, enabled=rom.enabled, virtual=False)
    if t.msix is not None and x.msix is not None:
        for name in ("nentries", "table_bar", "table_offset", "pba_bar", "pba_offset",
                     "enabled", "masked", "cap_offset"):
            if not _same(getattr(t.msix, name), getattr(x.msix, name)):
                fail("MSI-X", f"{name}: lspci -vvv says {getattr(t.msix, name)!r} but the "
                              f"config dump says {getattr(x.msix, name)!r}")
    if t.msi is not None and x.msi is not None:
        for name in ("is64", "per_vector_mask", "vectors", "vectors_enabled", "enabled",
                     "cap_offset"):
            if getattr(t.msi, name) != getattr(x.msi, name):
                fail("MSI", f"{name}: lspci -vvv says {getattr(t.msi, name)!r} but the "
                            f"config dump says {getattr(x.msi, name)!r}")
    # capabilities: the text, where it was readable, must list the dump's chain
    if t.capabilities and x.capabilities and \
            [c.offset for c in t.capabilities] != [c.offset for c in x.capabilities]:
        fail("capabilities", "lspci -vvv lists them at "
                             f"{[hex(c.offset) for c in t.capabilities]} but the config dump "
                             f"chains {[hex(c.offset) for c in x.capabilities]}")
    names = dict(x.cap_names)
    names.update(t.cap_names)
    notes = tuple(n for n in x.notes if not n.startswith("BAR sizes unknown")) + t.notes
    if any(b.size is None for b in bars):
        notes += ("some BAR sizes unknown: lspci -vvv did not print them",)
    ext = x.ext_capabilities or t.ext_capabilities
    return x.with_changes(
        bars=tuple(bars), rom=rom, cap_names=names, ext_capabilities=ext,
        class_name=t.class_name or x.class_name, device_name=t.device_name or x.device_name,
        kernel_driver=t.kernel_driver, source=t.source or x.source, notes=notes,
        capabilities=x.capabilities or t.capabilities,
        msix=x.msix or t.msix, msi=x.msi or t.msi,
        is_pcie=x.is_pcie or t.is_pcie,
        pcie_type=x.pcie_type if x.pcie_type is not None else t.pcie_type)
