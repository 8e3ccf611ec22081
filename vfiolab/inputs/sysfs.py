"""Read a PCI function from Linux sysfs (``/sys/bus/pci/devices/DDDD:BB:DD.F``).

Files read (Linux ``drivers/pci/pci-sysfs.c``):

``resource``
  ``resource_show()``: one line per ``struct resource`` of the device,
  ``"0x%016llx 0x%016llx 0x%016llx"`` = start, end (inclusive), flags.  Lines
  0-5 are the BARs, line 6 the expansion ROM (``PCI_ROM_RESOURCE``); with
  ``CONFIG_PCI_IOV`` lines 7-12 are the SR-IOV VF BARs, and a bridge adds its
  windows after those.  Only lines 0-6 are used here.  An unused entry is all
  zeros; a 64-bit BAR's upper register has an all-zero line of its own.
  Flags (Linux ``include/linux/ioport.h``): ``IORESOURCE_IO`` 0x100,
  ``IORESOURCE_MEM`` 0x200, ``IORESOURCE_PREFETCH`` 0x2000,
  ``IORESOURCE_MEM_64`` 0x100000, ``IORESOURCE_UNSET`` 0x20000000 (no
  address assigned yet), ``IORESOURCE_DISABLED`` 0x10000000; for the ROM,
  bit 0 ``IORESOURCE_ROM_ENABLE`` and bit 1 ``IORESOURCE_ROM_SHADOW`` (the
  resource is the RAM shadow copy; lspci calls it ``[virtual]``).  The low
  byte (``IORESOURCE_BITS``) of a BAR's flags holds the BAR register's own
  low flag bits (Linux ``drivers/pci/probe.c`` ``decode_bar()``).  The size
  is ``end - start + 1``: the kernel sized the BAR in ``__pci_read_base()``.
``config``
  binary configuration space (256 bytes, 4096 for PCIe; only 64 for a
  non-root reader) -- decoded by ``HostDevice.from_config``.
``vendor``, ``device``, ``class``, ``revision``, ``subsystem_vendor``, ``subsystem_device``
  ``"0x%04x"`` / ``"0x%06x"`` / ``"0x%02x"`` lines.

Resource addresses are CPU physical addresses (``pci_resource_to_user()``;
equal to bus addresses on x86), what vfio-pci reports and maps.  Where
``resource`` and ``config`` both describe a BAR, the kind and width must
agree, else ``DeviceError``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DeviceError, ParseError
from ..model.hostdev import HostBar, HostDevice, HostRom, decode_config, normalize_bdf

__all__ = ["read_sysfs_device", "parse_resource",
           "IORESOURCE_IO", "IORESOURCE_MEM", "IORESOURCE_PREFETCH", "IORESOURCE_MEM_64",
           "IORESOURCE_UNSET", "IORESOURCE_DISABLED", "IORESOURCE_ROM_ENABLE",
           "IORESOURCE_ROM_SHADOW"]

# Linux include/linux/ioport.h
IORESOURCE_IO = 0x00000100
IORESOURCE_MEM = 0x00000200
IORESOURCE_PREFETCH = 0x00002000
IORESOURCE_MEM_64 = 0x00100000
IORESOURCE_DISABLED = 0x10000000
IORESOURCE_UNSET = 0x20000000
IORESOURCE_ROM_ENABLE = 1 << 0
IORESOURCE_ROM_SHADOW = 1 << 1
#: Linux include/linux/pci.h: PCI_ROM_RESOURCE = PCI_STD_RESOURCE_END + 1 = 6
PCI_ROM_RESOURCE = 6

_FILES = ("resource", "config", "vendor", "device", "class", "revision",
          "subsystem_vendor", "subsystem_device", "uevent")


def parse_resource(text: str, source: str | None = None) -> list[tuple[int, int, int]]:
    """The ``resource`` file as (start, end, flags) per line; ``ParseError`` if malformed."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ParseError("resource file is not ASCII text", source=source) from None
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not all(p.lower().startswith("0x") for p in parts):
            raise ParseError("expected three 0x-hex numbers (start end flags)",
                             line_no=no, line=line, source=source)
        try:
            start, end, flags = (int(p, 16) for p in parts)
        except ValueError:
            raise ParseError("not a hex number", line_no=no, line=line, source=source) from None
        out.append((start, end, flags))
    return out


def _resource_bars(bdf: str, rows) -> tuple[list[HostBar], HostRom | None]:
    bars: list[HostBar] = []
    for idx, (start, end, flags) in enumerate(rows[:PCI_ROM_RESOURCE]):
        if not flags:
            continue            # unimplemented BAR, or the upper half of a 64-bit one
        if end < start:
            raise DeviceError(bdf, f"BAR{idx}", f"sysfs resource end {end:#x} is below "
                                                f"start {start:#x}")
        size = end - start + 1 if (start or end) else None
        unset = bool(flags & IORESOURCE_UNSET)
        addr = None if unset or not start else start
        if flags & IORESOURCE_IO:
            bars.append(HostBar(idx, addr, size, "io",
                                disabled=bool(flags & IORESOURCE_DISABLED)))
        elif flags & IORESOURCE_MEM:
            bars.append(HostBar(idx, addr, size, "mem", is64=bool(flags & IORESOURCE_MEM_64),
                                prefetch=bool(flags & IORESOURCE_PREFETCH),
                                disabled=bool(flags & IORESOURCE_DISABLED)))
        else:
            raise DeviceError(bdf, f"BAR{idx}", f"sysfs resource flags {flags:#x} are "
                                                "neither I/O nor memory")
    rom = None
    if len(rows) > PCI_ROM_RESOURCE:
        start, end, flags = rows[PCI_ROM_RESOURCE]
        if flags:
            if end < start:
                raise DeviceError(bdf, "ROM", f"sysfs resource end {end:#x} is below start "
                                              f"{start:#x}")
            size = end - start + 1 if (start or end) else None
            addr = None if flags & IORESOURCE_UNSET or not start else start
            rom = HostRom(addr, size, enabled=bool(flags & IORESOURCE_ROM_ENABLE),
                          virtual=bool(flags & IORESOURCE_ROM_SHADOW))
    return bars, rom


def _hexfile(files: dict, name: str, bdf: str, source):
    v = files.get(name)
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("ascii", "replace")
    t = v.strip()
    try:
        return int(t, 16)
    except ValueError:
        raise ParseError(f"sysfs {name}: expected a hex number", line_no=1, line=t,
                         source=source) from None


def _read_dir(path: Path) -> dict:
    files = {}
    for name in _FILES:
        p = path / name
        if not p.exists():
            continue
        try:
            data = p.read_bytes()
        except OSError as exc:
            # config reads are cut short for non-root; other files are world-readable
            raise ParseError(f"cannot read {p}: {exc.strerror}", source=str(path)) from None
        files[name] = data if name == "config" else data.decode("ascii", "replace")
    return files


def parse_uevent(text, source=None) -> dict:
    """``uevent`` as Linux ``drivers/pci/pci-driver.c`` ``pci_uevent()``
    writes it: ``KEY=VALUE`` lines (``PCI_CLASS=%04X``, ``PCI_ID=%04X:%04X``,
    ``PCI_SUBSYS_ID=%04X:%04X``, ``PCI_SLOT_NAME=dddd:bb:dd.f``,
    ``MODALIAS=...``; ``DRIVER=`` when one is bound)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    out = {}
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ParseError("expected KEY=VALUE", line_no=no, line=line, source=source)
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _folder_bdf(path: Path, files: dict, source) -> str:
    """The function a sysfs folder describes: its name when that is an
    address (``/sys/bus/pci/devices/dddd:bb:dd.f``), else the
    ``PCI_SLOT_NAME`` of its ``uevent`` (a copied folder of any name), else
    the caller must say (``--host-device BDF=FOLDER``)."""
    try:
        return normalize_bdf(path.name)
    except ValueError:
        pass
    if "uevent" in files:
        ev = parse_uevent(files["uevent"], source=f"{source}/uevent")
        if "PCI_SLOT_NAME" in ev:
            return ev["PCI_SLOT_NAME"]
    raise ParseError(f"which function this sysfs folder describes is unknown: its name "
                     f"{path.name!r} is not an address and it has no uevent with "
                     "PCI_SLOT_NAME; give --host-device DOMAIN:BUS:DEV.FN=FOLDER",
                     source=source)


def read_sysfs_device(path_or_dict, bdf: str | None = None,
                      source: str | None = None) -> HostDevice:
    """Build a :class:`HostDevice` from a sysfs device directory or a dict of its files.

    ``path_or_dict`` is a directory path or ``{filename: bytes or str}`` with
    any of ``resource``, ``config``, ``vendor``, ``device``, ``class``,
    ``revision``, ``subsystem_vendor``, ``subsystem_device``.  ``bdf``
    defaults to the directory name (sysfs names it ``dddd:bb:dd.f``) or to a
    ``"bdf"`` key of the dict.  With ``config`` the device is decoded from it
    and its BAR sizes/addresses taken from ``resource``; without it, from
    ``resource`` and the ID files alone.
    """
    if isinstance(path_or_dict, dict):
        files = dict(path_or_dict)
        bdf = bdf or files.pop("bdf", None)
        src = source or "sysfs"
    else:
        path = Path(os.fspath(path_or_dict))
        if not path.is_dir():
            raise ParseError(f"not a sysfs device directory: {path}", source=str(path))
        files = _read_dir(path)
        src = source or str(path)
        bdf = bdf or _folder_bdf(path, files, src)
    if bdf is None:
        raise ParseError("no BDF given (pass bdf= or a 'bdf' key)", source=src)
    try:
        bdf = normalize_bdf(str(bdf))
    except ValueError as exc:
        raise ParseError(str(exc), source=src) from None
    rows = None
    if "resource" in files:
        rows = parse_resource(files["resource"], source=f"{src}/resource")
    ids = {name: _hexfile(files, name, bdf, f"{src}/{name}")
           for name in ("vendor", "device", "class", "revision", "subsystem_vendor",
                        "subsystem_device")}
    config = files.get("config")
    if isinstance(config, str):
        raise ParseError("sysfs config must be bytes (it is a binary file)", source=src)
    notes = []
    if rows is not None:
        bars, rom = _resource_bars(bdf, rows)
    else:
        bars, rom = None, None
        notes.append("no sysfs resource file: BAR sizes unknown")
    if config is not None:
        fields = decode_config(bdf, config)
        cfg_notes = fields.pop("notes")
        if bars is not None:
            cfg_bars = {b.index: b for b in fields.get("bars", ())}
            for b in bars:
                c = cfg_bars.get(b.index)
                if c is not None and (c.kind, c.is64, c.prefetch) != (b.kind, b.is64, b.prefetch):
                    raise DeviceError(bdf, f"BAR{b.index}",
                                      f"sysfs resource says {b.type}"
                                      f"{' prefetchable' if b.prefetch else ''} but config says "
                                      f"{c.type}{' prefetchable' if c.prefetch else ''}")
            # the kernel's view (addresses, sizes) replaces the register decode
            fields["bars"] = tuple(bars)
            fields["rom"] = rom
            cfg_notes = [n for n in cfg_notes if not n.startswith("BAR sizes unknown")]
        dev = HostDevice(bdf=bdf, config=bytes(config), source=src,
                         notes=tuple(notes) + tuple(cfg_notes), **fields)
        for name, field_ in (("vendor", "vendor_id"), ("device", "device_id"),
                             ("revision", "revision"),
                             ("subsystem_vendor", "subsystem_vendor_id"),
                             ("subsystem_device", "subsystem_id"), ("class", "class_code")):
            v = ids[name]
            if v is not None and getattr(dev, field_) is not None and v != getattr(dev, field_):
                raise DeviceError(bdf, field_, f"sysfs {name} says {v:#x} but config says "
                                               f"{getattr(dev, field_):#x}")
        return dev
    return HostDevice(bdf=bdf, vendor_id=ids["vendor"], device_id=ids["device"],
                      class_code=ids["class"], revision=ids["revision"],
                      subsystem_vendor_id=ids["subsystem_vendor"],
                      subsystem_id=ids["subsystem_device"],
                      bars=tuple(bars or ()), rom=rom, source=src,
                      notes=tuple(notes) + ("no sysfs config file: capabilities, MSI/MSI-X "
                                            "unknown",))
