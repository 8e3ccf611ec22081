"""Reading the QEMU command line a user would type.

Option syntax follows QEMU's (``util/qemu-option.c`` ``qemu_opts_parse``):
``-opt value`` where value is ``[implied=]x,key=value,...``; a doubled comma
``,,`` is a literal comma; options may be spelled with one or two dashes.
Sizes use QEMU's suffixes, and ``-m`` with no suffix means MiB
(``softmmu/vl.c`` ``parse_memory_options``).

What is modelled: ``-machine``/``-M`` (``pc``, ``q35`` and their versioned
names), ``-m``, ``-object memory-backend-ram|file|memfd``, ``-device``,
``-nodefaults``, ``-cpu`` (vendor and ``phys-bits``), the firmware
(``-drive if=pflash``, ``-blockdev`` nodes named by ``-machine
pflash0=/pflash1=``, ``-bios``) and ``-fw_cfg name=...,string=...``.
Other ``-drive``/``-blockdev`` options are block devices and are ignored.
Options that do not
change the guest-physical map (accelerator, display, monitor, tracing,
serial, ...) are accepted and ignored; anything else is refused with
:class:`~vfiolab.errors.UnsupportedOption`, naming the option and listing
what is supported.
"""

from __future__ import annotations

import json
import os
import re

from ..addr import parse_size
from ..errors import CommandLineError, SizeError, UnsupportedOption
from ..model.config import DeviceSpec, QemuConfig

__all__ = ["QemuConfig", "DeviceSpec", "parse_qemu_args", "split_opts"]

#: Options that take an argument and do not change the memory map.
IGNORED_WITH_ARG = {
    "accel", "display", "vga", "serial", "monitor", "qmp", "mon", "chardev", "name",
    "trace", "D", "d", "smp", "boot", "netdev", "rtc", "k", "uuid",
    "msg", "pidfile", "runas", "vnc", "spice", "audiodev", "parallel", "debugcon",
    "icount", "overcommit", "sandbox", "L",
}
#: Flag options that do not change the memory map.
IGNORED_FLAGS = {"enable-kvm", "nographic", "S", "no-reboot", "no-shutdown",
                 "daemonize", "snapshot", "no-user-config", "no-hpet", "no-acpi"}
#: Devices that are not PCI functions and do not change the guest-physical map here.
NON_PCI_DEVICES = {"isa-debugcon", "isa-serial", "i8042", "usb-tablet", "usb-kbd",
                   "scsi-hd", "ide-hd", "ide-cd", "virtio-serial-port", "pvpanic"}
SUPPORTED = sorted({"machine", "M", "m", "object", "device", "nodefaults", "cpu", "global",
                    "drive", "blockdev", "bios", "fw_cfg"}
                   | IGNORED_WITH_ARG | IGNORED_FLAGS)
MACHINE_ALIASES = {"pc": "pc", "q35": "q35"}
MEMORY_BACKENDS = ("memory-backend-ram", "memory-backend-file", "memory-backend-memfd")


def split_opts(text: str, implied: str | None = None, where: str = "") -> dict:
    """``key=value,key=value`` with ``,,`` as a literal comma; the first bare
    word is the ``implied`` key (QEMU ``opts_do_parse``)."""
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    out: dict = {}
    for n, p in enumerate(parts):
        if p == "":
            continue
        if "=" in p:
            k, v = p.split("=", 1)
        elif n == 0 and implied:
            k, v = implied, p
        else:
            k, v = p, "on"
        if not k:
            raise CommandLineError(f"{where}: empty option name in {text!r}")
        out[k] = v
    return out


def _json_or_opts(text: str, implied: str, where: str) -> dict:
    """``-object``/``-device`` also accept JSON (QEMU 6.0+)."""
    if text.lstrip().startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise CommandLineError(f"{where}: bad JSON: {e}") from None
        if not isinstance(d, dict):
            raise CommandLineError(f"{where}: JSON must be an object")
        d = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in d.items()}
        if implied == "qom-type" and "qom-type" in d:
            return d
        if implied == "driver" and "driver" in d:
            return d
        return d
    return split_opts(text, implied, where)


def _normalize_machine(name: str) -> str:
    """``pc``, ``pc-i440fx-7.2``, ``q35``, ``pc-q35-7.2`` ... -> ``pc``/``q35``."""
    if name in MACHINE_ALIASES:
        return MACHINE_ALIASES[name]
    if name.startswith("pc-q35"):
        return "q35"
    if name.startswith("pc-i440fx") or name.startswith("pc-"):
        return "pc"
    raise UnsupportedOption(f"-machine {name}", ["pc", "q35", "pc-i440fx-*", "pc-q35-*"])


def parse_qemu_args(args: list[str]) -> QemuConfig:
    """Parse a QEMU argument list (without the binary) into a QemuConfig."""
    cfg = QemuConfig(args=list(args))
    if args and not args[0].startswith("-") and "qemu" in args[0]:
        args = args[1:]                           # tolerate the binary name
    i = 0
    position = 0
    while i < len(args):
        raw = args[i]
        if not raw.startswith("-") or raw in ("-", "--"):
            raise CommandLineError(f"argument {i + 1}: expected an option, got {raw!r}")
        opt = raw.lstrip("-")
        has_val = i + 1 < len(args)
        val = args[i + 1] if has_val else None

        def need():
            if val is None:
                raise CommandLineError(f"option {raw} needs an argument")
            return val

        if opt in ("machine", "M"):
            d = split_opts(need(), "type", raw)
            if "type" in d:
                cfg.machine_type = d.pop("type")
                cfg.machine = _normalize_machine(cfg.machine_type)
            if "accel" in d:
                cfg.accel = d.pop("accel").split(":")[0]
            # smm=on|off|auto decides whether q35 on QEMU >= 9.1 builds its
            # SMRAM regions (model/machine.py has_smm_ranges)
            if "smm" in d:
                cfg.machine_opts["smm"] = d.pop("smm")
            for k in ("kernel_irqchip", "kernel-irqchip", "usb", "vmport", "graphics",
                      "dump-guest-core", "mem-merge", "hpet"):
                d.pop(k, None)
            # -machine pflash0=NODE,pflash1=NODE (hw/i386/pc_sysfw.c: the
            # block nodes behind the two flash chips; what libvirt emits)
            for unit in (0, 1):
                node = d.pop(f"pflash{unit}", None)
                if node is not None:
                    cfg.machine_opts[f"pflash{unit}"] = node
            unsupported = set(d) - {"max-ram-below-4g", "memory-backend"}
            if unsupported:
                raise UnsupportedOption(f"-machine {sorted(unsupported)[0]}=",
                                        ["type", "accel", "max-ram-below-4g", "memory-backend",
                                         "kernel-irqchip", "usb", "vmport", "smm", "graphics",
                                         "hpet"])
            cfg.machine_opts.update(d)
            i += 2
        elif opt == "m":
            d = split_opts(need(), "size", raw)
            if "size" in d:
                try:
                    cfg.ram_size = parse_size(d.pop("size"), default_unit="M")
                except SizeError as e:
                    raise CommandLineError(f"-m: {e}") from None
            if d.get("slots") or d.get("maxmem"):
                raise UnsupportedOption("-m slots=/maxmem=", ["-m SIZE"],
                                        "memory hotplug is not modelled")
            i += 2
        elif opt == "object":
            d = _json_or_opts(need(), "qom-type", raw)
            qom = d.pop("qom-type", None)
            if qom not in MEMORY_BACKENDS:
                raise UnsupportedOption(f"-object {qom}", MEMORY_BACKENDS)
            oid = d.pop("id", None)
            if not oid:
                raise CommandLineError(f"-object {qom}: missing id=")
            if "size" not in d:
                raise CommandLineError(f"-object {qom},id={oid}: missing size=")
            try:
                size = parse_size(d.pop("size"))
            except SizeError as e:
                raise CommandLineError(f"-object {qom},id={oid}: size: {e}") from None
            if oid in cfg.memdevs:
                raise CommandLineError(f"-object {qom}: duplicate id {oid!r}")
            cfg.memdevs[oid] = (qom, size, d)
            i += 2
        elif opt == "device":
            d = _json_or_opts(need(), "driver", raw)
            dtype = d.pop("driver", None)
            if not dtype:
                raise CommandLineError(f"{raw} {val!r}: missing device type")
            if dtype == "isa-debugcon":
                cfg.isa_devices.append((dtype, d))
                i += 2
                continue
            if dtype in NON_PCI_DEVICES:
                i += 2
                continue
            did = d.pop("id", "")
            if did and any(x.id == did for x in cfg.devices):
                raise CommandLineError(f"-device {dtype}: duplicate id {did!r}")
            cfg.devices.append(DeviceSpec(dtype, did, d, position))
            position += 1
            i += 2
        elif opt == "nodefaults":
            cfg.nodefaults = True
            i += 1
        elif opt == "cpu":
            d = split_opts(need(), "model", raw)
            cfg.cpu_model = d.pop("model", "qemu64")
            cfg.cpu_props = d
            i += 2
        elif opt == "global":
            # softmmu/qdev-monitor.c qemu_global_option: "DRIVER.PROP=VALUE",
            # else the "driver=,property=,value=" form; the model reads the
            # ones it knows (e.g. q35-pcihost.pci-hole64-size) and no other
            text = need()
            m = re.match(r"^([^.=,]+)\.([^=,]+)=(.*)$", text)
            if m:
                driver, prop, value = m.groups()
            else:
                d = split_opts(text, None, raw)
                driver, prop, value = d.get("driver"), d.get("property"), d.get("value")
                if not driver or not prop or value is None:
                    raise CommandLineError(f"-global {text!r}: expected DRIVER.PROPERTY=VALUE")
            cfg.globals[(driver, prop)] = value
            i += 2
        elif opt == "drive":
            d = split_opts(need(), "file", raw)
            # only if=pflash drives change the guest-physical map (the
            # firmware flash); others are block devices
            if d.get("if") == "pflash":
                unit = d.get("unit")
                try:
                    unit = int(unit) if unit is not None else \
                        sum(1 for f in cfg.pflash if f.get("from") == "drive")
                except ValueError:
                    raise CommandLineError(f"-drive if=pflash: unit={unit!r} is not a number") from None
                if unit not in (0, 1) or any(f["unit"] == unit for f in cfg.pflash):
                    raise CommandLineError(f"-drive if=pflash,unit={unit}: QEMU's pc machines "
                                           "have two flash units, 0 and 1, each used once")
                cfg.pflash.append({"unit": unit, "file": d.get("file"),
                                   "readonly": d.get("readonly") in ("on", "true", "yes"),
                                   "format": d.get("format"), "from": "drive"})
            i += 2
        elif opt == "blockdev":
            d = _json_or_opts(need(), "driver", raw)
            cfg.blockdevs[d.get("node-name", "")] = d
            i += 2
        elif opt == "bios":
            cfg.bios = need()
            i += 2
        elif opt == "fw_cfg":
            d = split_opts(need(), "name", raw)
            name = d.get("name")
            if not name:
                raise CommandLineError(f"-fw_cfg {val!r}: missing name=")
            cfg.fw_cfg[name] = d.get("string", d.get("file"))
            i += 2
        elif opt == "enable-kvm":
            cfg.accel = "kvm"
            i += 1
        elif opt == "accel":
            cfg.accel = split_opts(need(), "accel", raw).get("accel", "kvm")
            i += 2
        elif opt in IGNORED_FLAGS:
            i += 1
        elif opt in IGNORED_WITH_ARG:
            need()
            i += 2
        else:
            raise UnsupportedOption(raw, ["-" + s for s in SUPPORTED])
    for unit in (0, 1):
        node = cfg.machine_opts.pop(f"pflash{unit}", None)
        if node is None:
            continue
        if any(f["unit"] == unit for f in cfg.pflash):
            raise CommandLineError(f"-machine pflash{unit}= and -drive if=pflash,unit={unit} "
                                   f"both give flash unit {unit}")
        bd = cfg.blockdevs.get(node)
        if bd is None:
            raise CommandLineError(f"-machine pflash{unit}={node}: no -blockdev with "
                                   f"node-name={node}")
        # follow a format node down to its file node (libvirt: a raw node over a file node)
        filename, ro, seen = bd.get("filename"), bd.get("read-only"), 0
        child = bd.get("file")
        while filename is None and isinstance(child, str) and child in cfg.blockdevs and seen < 8:
            filename = cfg.blockdevs[child].get("filename")
            ro = ro or cfg.blockdevs[child].get("read-only")
            child = cfg.blockdevs[child].get("file")
            seen += 1
        cfg.pflash.append({"unit": unit, "file": filename,
                           "readonly": ro in (True, "on", "true", "yes"),
                           "format": bd.get("driver"), "from": "blockdev"})
    cfg.pflash.sort(key=lambda f: f["unit"])
    if cfg.bios is not None:
        try:
            cfg.bios_size = os.path.getsize(cfg.bios)
        except OSError:
            cfg.bios_size = None
    for f in cfg.pflash:
        # QEMU sizes each flash device from its image (pflash_cfi01 realize)
        try:
            f["size"] = os.path.getsize(f["file"]) if f.get("file") else None
        except OSError:
            f["size"] = None
    if cfg.pflash and cfg.bios is not None:
        raise CommandLineError("-bios and a pflash drive together: QEMU refuses "
                               "(hw/i386/pc_sysfw.c: 'pflash and -bios are mutually exclusive')")
    if cfg.machine_opts.get("memory-backend"):
        raise UnsupportedOption("-machine memory-backend=", ["-m SIZE"],
                                "main RAM from a backend is not modelled")
    return cfg
