"""A libvirt domain XML (``virsh dumpxml``) -> the QEMU command line libvirt
would run, for the parts that matter to PCI, the memory map, memslots and DMA.

The argv is written in the form libvirt 9.0.0 (Debian 12, beside QEMU 7.2)
emits: JSON ``-device``/``-object``/``-blockdev`` (libvirt >= 7.x), the
firmware as ``-blockdev`` node pairs named by ``-machine pflash0=/pflash1=``
(libvirt >= 7.x), main RAM as ``-object memory-backend-*,id=pc.ram`` named
by ``-machine memory-backend=`` (libvirt >= 8.x), ``-m`` in MiB and
``-no-hpet`` (libvirt 9.0; later releases write ``-m size=...k`` and
``hpet=off``).  Each rule names the libvirt function it restates
(``src/qemu/qemu_command.c`` unless said otherwise); the output was checked
against libvirt's own expected argv (``tests/qemuxmlconfdata/*.args``:
``q35-virt-manager-basic``, ``hostdev-vfio``, ``pci-rom``,
``cpu-phys-bits-limit``, ``cpu-phys-bits-emulate2``) and a libvirt 9 log of a
``pc-q35-7.2`` OVMF domain (``data/configs/README.md``).

What is refused, with the reason: a device with no ``<address>`` where libvirt
would assign one (``qemuDomainAssignPCIAddresses``; ``virsh dumpxml`` always
has them), ``<cpu mode='host-model'>`` (libvirt expands it from the host's
capabilities; the running domain's ``virsh dumpxml`` shows the expansion),
non-x86 guests, and devices the reader does not know (named).  Elements that
cannot change PCI, the memory map, memslots or DMA (graphics, serials,
channels, sound codecs, ...) are not turned into arguments.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from ..errors import CommandLineError, ParseError

__all__ = ["libvirt_argv", "read_libvirt_xml", "LIBVIRT_VERSION", "libvirt_memtune",
           "read_libvirt_memtune"]

#: the libvirt release whose command-line form this reader writes
LIBVIRT_VERSION = "9.0.0"
QEMU_NS = "{http://libvirt.org/schemas/domain/qemu/1.0}"

#: Debian 12 ``ovmf`` 2022.11-6 firmware descriptors
#: (/usr/share/qemu/firmware/{40,50,60}-edk2-x86_64*.json, read on this
#: machine): what libvirt's firmware autoselection (``src/qemu/qemu_firmware.c``
#: ``qemuFirmwareFillDomain``) picks for ``<os firmware='efi'>``; the
#: lowest-numbered descriptor whose features match wins.
DEBIAN12_OVMF = [
    # (code, vars template, features)
    ("/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
     {"secure-boot", "enrolled-keys", "requires-smm"}),
    ("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd",
     {"secure-boot", "requires-smm"}),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", set()),
]

_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
          "mb": 10 ** 6, "g": 1 << 30, "gib": 1 << 30, "gb": 10 ** 9, "t": 1 << 40,
          "tib": 1 << 40, "tb": 10 ** 12}


def _j(d: dict) -> str:
    """libvirt's JSON property text: compact, keys in insertion order
    (``virJSONValueToString`` without pretty-printing)."""
    return json.dumps(d, separators=(",", ":"))


def _int(text, where: str) -> int:
    try:
        return int(str(text).strip(), 0)
    except (TypeError, ValueError):
        raise CommandLineError(f"{where}: {text!r} is not a number") from None


def _scaled(el, where: str, default_unit: str = "KiB") -> int:
    """A libvirt scaled integer (``<memory unit='KiB'>``,
    ``src/conf/domain_conf.c`` ``virDomainParseScaledValue``) in bytes."""
    unit = (el.get("unit") or default_unit).lower()
    if unit not in _UNITS:
        raise CommandLineError(f"{where}: unknown unit {el.get('unit')!r}")
    return _int(el.text, where) * _UNITS[unit]


class _Domain:
    def __init__(self, root: ET.Element, source: str):
        self.root = root
        self.src = source

    def where(self, path: str) -> str:
        return f"{self.src}: {path}"


def _pci_addr(el, what: str, d: _Domain, required: bool = True):
    """The ``<address type='pci' .../>`` of a device: (bus, slot, function,
    multifunction) or None when there is none."""
    a = el.find("address")
    if a is None or a.get("type") != "pci":
        if a is not None and a.get("type") not in (None, "pci"):
            return None
        if required:
            raise CommandLineError(
                f"{d.src}: {what} has no <address type='pci'>: libvirt assigns one when it "
                "defines the domain (qemu_domain_address.c qemuDomainAssignPCIAddresses); "
                "give the output of 'virsh dumpxml DOMAIN', which always has the addresses")
        return None
    dom = _int(a.get("domain", "0"), d.where(f"{what} address domain"))
    if dom != 0:
        raise CommandLineError(f"{d.src}: {what}: PCI domain {dom:#x}: QEMU's x86 machines "
                               "have one PCI domain, 0")
    bus = _int(a.get("bus", "0"), d.where(f"{what} address bus"))
    slot = _int(a.get("slot", "0"), d.where(f"{what} address slot"))
    fn = _int(a.get("function", "0"), d.where(f"{what} address function"))
    if not (0 <= slot < 32 and 0 <= fn < 8):
        raise CommandLineError(f"{d.src}: {what}: slot {slot:#x} function {fn} out of range "
                               "(slot 0..0x1f, function 0..7)")
    return bus, slot, fn, a.get("multifunction") == "on"


class _Builder:
    def __init__(self, d: _Domain, q35: bool):
        self.d = d
        self.q35 = q35
        self.ctrl_index = {}          # pci controller index -> model

    def bus_alias(self, bus: int, what: str) -> str:
        """The QEMU bus id of PCI controller ``bus`` (``src/qemu/qemu_alias.c``
        ``qemuAssignDeviceControllerAlias``: the root is ``pcie.0`` on q35,
        ``pci.0`` on i440fx; every other PCI controller is ``pci.INDEX``)."""
        if bus == 0:
            return "pcie.0" if self.q35 else "pci.0"
        if bus not in self.ctrl_index:
            raise CommandLineError(f"{self.d.src}: {what} is on bus {bus:#x}, but there is no "
                                   f"<controller type='pci' index='{bus}'>")
        return f"pci.{bus}"

    def addr_props(self, el, what: str, props: dict) -> dict:
        """``qemuBuildDeviceAddressProps``: ``bus``, ``multifunction`` (only when
        on), then ``addr`` as ``0xS`` or ``0xS.0xF``."""
        bus, slot, fn, mf = _pci_addr(el, what, self.d)
        props["bus"] = self.bus_alias(bus, what)
        if mf:
            props["multifunction"] = True
        props["addr"] = f"{slot:#x}" if fn == 0 else f"{slot:#x}.{fn:#x}"
        return props


def _virtio_props(el, props: dict) -> dict:
    """``qemuBuildVirtioDevProps``: ``<driver iommu='on' ats='on' packed='on'>``
    -> ``iommu_platform``, ``ats``, ``packed`` right after the driver."""
    drv = el.find("driver")
    if drv is not None:
        for attr, prop in (("iommu", "iommu_platform"), ("ats", "ats"), ("packed", "packed")):
            if drv.get(attr) in ("on", "off"):
                props[prop] = drv.get(attr) == "on"
    return props


def _rom_props(el, props: dict) -> dict:
    """``qemuBuildRomProps``: ``<rom bar='on|off'>`` -> ``rombar`` 1/0,
    ``<rom file=>`` -> ``romfile``, ``<rom enabled='no'>`` -> ``romfile=""``."""
    rom = el.find("rom")
    if rom is None:
        return props
    if rom.get("bar") in ("on", "off"):
        props["rombar"] = 1 if rom.get("bar") == "on" else 0
    if rom.get("enabled") == "no":
        props["romfile"] = ""
    elif rom.get("file") is not None:
        props["romfile"] = rom.get("file")
    return props


#: <devices> children turned into arguments here
HANDLED_DEVICES = {"panic", "emulator", "disk", "controller", "interface", "serial", "console", "channel",
                   "input", "graphics", "audio", "video", "sound", "watchdog", "redirdev",
                   "hostdev", "memballoon", "rng", "shmem", "tpm", "iommu"}
#: <devices> children with no PCI function and nothing in the memory map,
#: memslots or DMA: not written, reported as ignored
IGNORED_DEVICES = {"hub", "smartcard", "lease", "redirfilter", "parallel"}
#: <devices> children that add PCI functions or memory the model would miss
REFUSED_DEVICES = {"filesystem": "virtiofs adds a vhost-user-fs-pci function and needs "
                                 "shared guest RAM",
                   "vsock": "adds a vhost-vsock-pci function",
                   "memory": "memory hotplug (DIMMs, virtio-mem)",
                   "crypto": "adds a virtio-crypto-pci function",
                   "pstore": "adds memory", "nvram": "", "vdpa": ""}


def _flash_blockdevs(unit: int, path: str, fmt: str, read_only: bool) -> list[str]:
    """A firmware flash unit as libvirt writes it (``qemuBuildPflashBlockdevCommandLine``):
    a file node ``libvirt-pflashN-storage`` and a format node
    ``libvirt-pflashN-format`` on top, named by ``-machine pflashN=``."""
    storage, node = f"libvirt-pflash{unit}-storage", f"libvirt-pflash{unit}-format"
    return ["-blockdev", _j({"driver": "file", "filename": path, "node-name": storage,
                             "auto-read-only": True, "discard": "unmap"}),
            "-blockdev", _j({"node-name": node, "read-only": read_only, "driver": fmt,
                             "file": storage})]


def libvirt_argv(xml_text: str, *, source: str = "domain XML",
                 binary: str = "/usr/bin/qemu-system-x86_64",
                 libvirt: str = LIBVIRT_VERSION, notes: list | None = None) -> list[str]:
    """The QEMU argv (program first) libvirt would run for this domain.

    ``libvirt`` is ``"9.0.0"`` (Debian 12; the default) or ``"11"`` (the
    form of libvirt's current tests, ``tests/qemuxmlconfdata/*.x86_64-latest.args``).
    They differ in three spellings: ``-m MiB`` / ``-m size=KiBk``;
    ``-no-hpet`` / ``-machine hpet=on|off``; ``-no-acpi`` / ``-machine
    acpi=on|off`` (libvirt 9.2 moved both into -machine, 9.1 changed -m)."""
    if libvirt not in ("9.0.0", "11"):
        raise CommandLineError(f"libvirt version {libvirt!r}: 9.0.0 or 11")
    new = libvirt == "11"
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        line = e.position[0] if hasattr(e, "position") else None
        raise ParseError(f"not well-formed XML ({e})", line_no=line, source=source) from None
    if root.tag != "domain":
        raise ParseError(f"expected a <domain> element, got <{root.tag}>", source=source)
    d = _Domain(root, source)
    dtype = root.get("type")
    if dtype not in ("kvm", "qemu"):
        raise CommandLineError(f"{source}: <domain type={dtype!r}>: only the QEMU driver's "
                               "'kvm' and 'qemu' types run QEMU")
    name = root.findtext("name") or "guest"
    os_el = root.find("os")
    if os_el is None or os_el.find("type") is None:
        raise CommandLineError(f"{source}: no <os><type>: libvirt needs the machine type")
    ty = os_el.find("type")
    arch = ty.get("arch", "x86_64")
    if arch != "x86_64":
        raise CommandLineError(f"{source}: arch {arch!r}: only x86_64 guests are modelled")
    machine = ty.get("machine")
    if not machine:
        raise CommandLineError(f"{source}: <os><type> has no machine=: libvirt fills in its "
                               "default when it defines the domain; give 'virsh dumpxml' output")
    q35 = machine == "q35" or machine.startswith("pc-q35")
    if not (q35 or machine == "pc" or machine.startswith("pc-i440fx") or machine.startswith("pc-")):
        raise CommandLineError(f"{source}: machine {machine!r}: only pc and q35 are modelled")
    b = _Builder(d, q35)
    b.new = libvirt == "11"
    feats = root.find("features")
    smm = feats is not None and feats.find("smm") is not None and \
        feats.find("smm").get("state", "on") == "on"
    vmport_off = feats is not None and feats.find("vmport") is not None and \
        feats.find("vmport").get("state") == "off"

    # the domain's directory is domain-ID-NAME (ID -1 for a domain not running)
    ddir = f"/var/lib/libvirt/qemu/domain-{root.get('id', '-1')}-{name}"
    argv = [binary, "-name", f"guest={name},debug-threads=on", "-S",
            "-object", _j({"qom-type": "secret", "id": "masterKey0", "format": "raw",
                           "file": f"{ddir}/master-key.aes"})]

    # --- firmware: qemuBuildPflashBlockdevCommandLine (libvirt >= 7.x) ------
    machine_flash = []
    secure = False
    loader = os_el.find("loader")
    nvram = os_el.find("nvram")
    bios = None
    if os_el.get("firmware") == "efi" and (loader is None or not (loader.text or "").strip()):
        # qemu_firmware.c qemuFirmwareFillDomain: the first descriptor (by
        # file name) whose features satisfy <firmware><feature ...>
        want = {}
        fw = os_el.find("firmware")
        if fw is not None:
            for f in fw.findall("feature"):
                want[f.get("name")] = f.get("enabled") == "yes"
        code = None
        for c, v, fset in DEBIAN12_OVMF:
            if all((name_ in fset) == on for name_, on in want.items()):
                code, feats_of = c, fset
                break
        if code is None:
            raise CommandLineError(f"{source}: no Debian 12 OVMF descriptor has the features "
                                   f"{want}")
        loader_path, loader_ro, loader_type = code, True, "pflash"
        secure = "requires-smm" in feats_of
        if secure:
            smm = True
        nvram_path = (nvram.text.strip() if nvram is not None and (nvram.text or "").strip()
                      else f"/var/lib/libvirt/qemu/nvram/{name}_VARS.fd")
    elif loader is not None and (loader.text or "").strip():
        loader_path = loader.text.strip()
        loader_type = loader.get("type", "rom" if os_el.get("firmware") != "efi" else "pflash")
        loader_ro = loader.get("readonly", "yes" if loader_type == "pflash" else "no") == "yes"
        secure = loader.get("secure") == "yes"
        nvram_path = (nvram.text.strip() if nvram is not None and (nvram.text or "").strip()
                      else (f"/var/lib/libvirt/qemu/nvram/{name}_VARS.fd"
                            if loader_type == "pflash" and loader_ro else None))
    else:
        loader_path = None
        loader_type = None
        nvram_path = None
    if loader_path and loader_type == "rom":
        bios = loader_path
    elif loader_path:
        fmt = (loader.get("format") if loader is not None else None) or "raw"
        argv += _flash_blockdevs(0, loader_path, fmt, loader_ro)
        machine_flash.append("pflash0=libvirt-pflash0-format")
        if nvram_path:
            nfmt = (nvram.get("format") if nvram is not None else None) or "raw"
            argv += _flash_blockdevs(1, nvram_path, nfmt, False)
            machine_flash.append("pflash1=libvirt-pflash1-format")

    # --- -machine: qemuBuildMachineCommandLine ------------------------------
    mopts = [machine, "usb=off"]
    if vmport_off:
        mopts.append("vmport=off")
    if smm:
        mopts.append("smm=on")
    mopts += ["dump-guest-core=off", "memory-backend=pc.ram"] + machine_flash
    clock = root.find("clock")
    timers = {t.get("name"): t for t in clock.findall("timer")} if clock is not None else {}
    acpi = feats is not None and feats.find("acpi") is not None
    if new:
        if timers.get("hpet") is not None and timers["hpet"].get("present") in ("yes", "no"):
            mopts.append("hpet=" + ("on" if timers["hpet"].get("present") == "yes" else "off"))
        mopts.append("acpi=" + ("on" if acpi else "off"))
    argv += ["-machine", ",".join(mopts), "-accel", "kvm" if dtype == "kvm" else "tcg"]

    # --- -cpu: qemuBuildCpuCommandLine --------------------------------------
    argv += ["-cpu", _cpu(root, d)]
    if secure:
        # qemuBuildPflashBlockdevCommandLine: <loader secure='yes'> (or a
        # requires-smm descriptor) makes the code flash secure
        argv += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
    if bios:
        argv += ["-bios", bios]

    # --- memory: qemuBuildMemCommandLine + qemuBuildMemoryBackendProps ------
    mem_el = root.find("memory")
    if mem_el is None:
        raise CommandLineError(f"{source}: no <memory>")
    if root.find("maxMemory") is not None:
        # libvirt accepts memory hotplug only with guest NUMA cells ("At
        # least one numa node has to be configured when enabling memory
        # hotplug"), whose -numa nodes the reader does not write
        raise CommandLineError(f"{source}: <maxMemory> (memory hotplug) is not read: it needs "
                               "guest NUMA (-numa), not modelled; give the QEMU command line "
                               "(-m SIZE,slots=N,maxmem=MAX without -numa is modelled)")
    mem = _scaled(mem_el, d.where("<memory>"))
    # qemuDomainAlignMemorySizes: x86 guest RAM is rounded up to whole MiB
    mem_mib = -(-mem // (1 << 20))
    argv += ["-m", f"size={mem_mib << 10}k" if new else str(mem_mib),
             "-object", _j(_ram_backend(root, d, name, mem_mib << 20))]
    locked = root.find("memoryBacking/locked") is not None
    argv += ["-overcommit", f"mem-lock={'on' if locked else 'off'}"]
    argv += ["-smp", _smp(root, d)]
    uuid = root.findtext("uuid")
    if uuid:
        argv += ["-uuid", uuid.strip()]
    if root.find("devices/graphics") is None:
        argv += ["-display", "none"]
    argv += ["-no-user-config", "-nodefaults",
             "-chardev", "socket,id=charmonitor,fd=35,server=on,wait=off",
             "-mon", "chardev=charmonitor,id=monitor,mode=control"]
    # qemuBuildClockCommandLine: -rtc from <clock offset=> and the rtc timer's
    # tickpolicy; the PIT's tickpolicy as a kvm-pit global; hpet present='no'
    # -> -no-hpet (libvirt 9.0; 9.1+ writes hpet=off in -machine)
    rtc = "base=" + ("localtime" if clock is not None and clock.get("offset") == "localtime"
                     else "utc")
    if timers.get("rtc") is not None and timers["rtc"].get("tickpolicy") == "catchup":
        rtc += ",driftfix=slew"
    argv += ["-rtc", rtc]
    if timers.get("pit") is not None and timers["pit"].get("tickpolicy") in ("delay", "discard"):
        argv += ["-global", f"kvm-pit.lost_tick_policy={timers['pit'].get('tickpolicy')}"]
    if not new and timers.get("hpet") is not None and timers["hpet"].get("present") == "no":
        argv.append("-no-hpet")
    if not new and not acpi:
        argv.append("-no-acpi")
    argv.append("-no-shutdown")
    # qemuBuildPMCommandLine: <pm><suspend-to-mem|disk enabled=> -> the
    # chipset's disable_s3/disable_s4 (ICH9-LPC on q35, PIIX4_PM on pc)
    lpc = "ICH9-LPC" if q35 else "PIIX4_PM"
    for tag, prop in (("suspend-to-mem", "disable_s3"), ("suspend-to-disk", "disable_s4")):
        el = root.find(f"pm/{tag}")
        if el is not None and el.get("enabled") in ("yes", "no"):
            argv += ["-global", f"{lpc}.{prop}={1 if el.get('enabled') == 'no' else 0}"]
    argv += ["-boot", "strict=on"]

    devs = root.find("devices")
    if devs is not None:
        # qemuBuildIOMMUCommandLine: the vIOMMU right after -boot, before
        # every PCI device (libvirt's tests/qemuxmlconfdata/intel-iommu*.args)
        argv += _iommus(devs, d, q35)
    if devs is None:
        devs = ET.Element("devices")
    ignored = []
    for el in devs:
        tag = el.tag
        if tag in REFUSED_DEVICES:
            raise CommandLineError(f"{source}: <{tag}> is not modelled"
                                   + (f" ({REFUSED_DEVICES[tag]})" if REFUSED_DEVICES[tag] else ""))
        if tag == "panic":
            if el.get("model", "isa") != "isa":
                raise CommandLineError(f"{source}: <panic model={el.get('model')!r}>: not "
                                       "modelled (pvpanic-pci is a PCI function)")
        elif tag in IGNORED_DEVICES:
            ignored.append(f"<{tag}>")
        elif tag not in HANDLED_DEVICES:
            raise CommandLineError(f"{source}: <{tag}> in <devices>: not known to the reader")
    if any(g.get("type") == "spice" for g in devs.findall("graphics")):
        ignored.append("<graphics type='spice'> (-spice, a display)")
    if feats is not None:
        for f in ("ioapic",):
            if feats.find(f) is not None:
                ignored.append(f"<features><{f}> (CPU/interrupt flags)")
    if notes is not None and ignored:
        notes.append("not written (no PCI function, memory or DMA): " + ", ".join(ignored))
    _boot_devs_to_order(os_el, devs, d)
    argv += _controllers(devs, b)
    argv += _disks(devs, b)
    argv += _interfaces(devs, b)
    argv += _serials(devs, b)
    argv += _channels(devs, b)
    argv += _tpms(devs, b, ddir)
    argv += _inputs(devs, b)
    # qemuBuildAudioCommandLine / qemuBuildGraphicsCommandLine: no PCI
    # function, written for completeness
    for a in devs.findall("audio"):
        argv += ["-audiodev", _j({"id": f"audio{a.get('id', '1')}",
                                  "driver": a.get("type", "none")})]
    for g in devs.findall("graphics"):
        if g.get("type") == "vnc":
            port = _int(g.get("port", "5900"), d.where("<graphics port>"))
            port = 5900 if port < 5900 else port
            argv += ["-vnc", f"{g.get('listen', '127.0.0.1')}:{port - 5900}"
                     + (",audiodev=audio1" if devs.find("audio") is not None else "")]
    argv += _videos(devs, b)
    argv += _sounds(devs, b)
    argv += _watchdogs(devs, b)
    argv += _redirdevs(devs, b)
    argv += _shmems(devs, b)
    argv += _hostdevs(devs, b)
    argv += _balloon(devs, b)
    argv += _rngs(devs, b)
    if feats is not None and feats.find("vmcoreinfo") is not None and \
            feats.find("vmcoreinfo").get("state", "on") == "on":
        argv += ["-device", _j({"driver": "vmcoreinfo"})]   # fw_cfg only, no PCI function
    argv += ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
    # qemuBuildPanicCommandLine: <panic model='isa'/> -> pvpanic (ISA I/O port 0x505)
    argv += ["-device", _j({"driver": "pvpanic"})] * sum(
        1 for pn in devs.findall("panic") if pn.get("model", "isa") == "isa")
    argv += ["-msg", "timestamp=on"]
    # <qemu:commandline><qemu:arg value=.../> are appended last, verbatim
    # (qemuBuildCommandLine -> qemuBuildCommandLineNamespace)
    ns = root.find(f"{QEMU_NS}commandline")
    if ns is not None:
        for a in ns.findall(f"{QEMU_NS}arg"):
            if a.get("value") is None:
                raise CommandLineError(f"{source}: <qemu:arg> without value=")
            argv.append(a.get("value"))
    return argv


def _boot_devs_to_order(os_el, devs, d: _Domain) -> None:
    """``<os><boot dev='hd|cdrom|network'/>``: libvirt turns the i-th boot
    entry into ``bootindex`` i+1 on the first disk / CD-ROM / NIC
    (``qemuProcessPrepareDomain`` -> ``qemuBuildBootCommandLine``, libvirt >=
    5.x always uses bootindex); per-device ``<boot order>`` excludes it."""
    entries = [b.get("dev") for b in os_el.findall("boot")]
    if not entries:
        return
    per_device = [e for e in devs.iter() if e.tag == "boot" and e.get("order")]
    if per_device:
        raise CommandLineError(f"{d.src}: <os><boot dev=> and per-device <boot order=> "
                               "together: libvirt refuses this")
    for i, dev in enumerate(entries):
        if dev == "hd":
            cands = [x for x in devs.findall("disk") if x.get("device", "disk") == "disk"]
        elif dev == "cdrom":
            cands = [x for x in devs.findall("disk") if x.get("device") == "cdrom"]
        elif dev == "network":
            cands = devs.findall("interface")
        else:
            continue
        if cands:
            ET.SubElement(cands[0], "boot", {"order": str(i + 1)})


def _cpu(root, d: _Domain) -> str:
    """``qemuBuildCpuCommandLine`` / ``qemuBuildCpuModelArgStr``:
    host-passthrough -> ``host,migratable=on``; custom -> the model and its
    features (``name=on|off``); ``<maxphysaddr mode='passthrough' [limit=N]>``
    -> ``host-phys-bits=on[,host-phys-bits-limit=N]``, ``mode='emulate'
    bits=N`` -> ``phys-bits=N`` (libvirt 8.7.0, ``qemuBuildCpuCommandLine``)."""
    cpu = root.find("cpu")
    if cpu is None:
        return "qemu64"
    mode = cpu.get("mode", "custom")
    if mode == "host-passthrough" or mode == "maximum":
        parts = ["host" if mode == "host-passthrough" else "max"]
        if mode == "host-passthrough":
            parts.append("migratable=" + ("off" if cpu.get("migratable") == "off" else "on"))
    elif mode == "host-model":
        raise CommandLineError(
            f"{d.src}: <cpu mode='host-model'>: libvirt expands it from the host's CPU "
            "capabilities when the domain starts; give 'virsh dumpxml' of the running domain "
            "(which shows the expanded <cpu mode='custom'>), or use host-passthrough")
    elif mode == "custom":
        model = cpu.findtext("model")
        if not model:
            return "qemu64"
        parts = [model.strip()]
    else:
        raise CommandLineError(f"{d.src}: <cpu mode={mode!r}>: unknown mode")
    for f in cpu.findall("feature"):
        pol = f.get("policy", "require")
        fname = f.get("name")
        if pol in ("require", "force"):
            parts.append(f"{fname}=on")
        elif pol in ("disable", "forbid"):
            parts.append(f"{fname}=off")
    parts += _cpu_flags(root, d)
    mpa = cpu.find("maxphysaddr")
    if mpa is not None:
        m = mpa.get("mode")
        if m == "passthrough":
            parts.append("host-phys-bits=on")
            if mpa.get("limit") is not None:
                parts.append(f"host-phys-bits-limit={_int(mpa.get('limit'), d.where('maxphysaddr limit'))}")
        elif m == "emulate":
            if mpa.get("bits") is None:
                raise CommandLineError(f"{d.src}: <maxphysaddr mode='emulate'> needs bits=")
            parts.append(f"phys-bits={_int(mpa.get('bits'), d.where('maxphysaddr bits'))}")
        else:
            raise CommandLineError(f"{d.src}: <maxphysaddr mode={m!r}>: expected passthrough "
                                   "or emulate")
    return ",".join(parts)


#: libvirt's ``virDomainHyperv`` enum (src/conf/domain_conf.h), in its order,
#: the order ``qemuBuildCpuCommandLine`` writes them (libvirt 9.0 through 11)
HYPERV_FEATURES = ("relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer",
                   "reset", "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi",
                   "evmcs", "avic")


def _cpu_flags(root, d: _Domain) -> list[str]:
    """The flags ``qemuBuildCpuCommandLine`` appends after the model, in its
    order: paravirtual timers (``kvmclock=``, ``hv-time=on``,
    ``tsc-frequency=``) in ``<clock>`` order, ``kvm-pv-eoi``
    (``<apic eoi>``), ``kvm-pv-unhalt`` (``<pvspinlock>``), the Hyper-V
    enlightenments (``<hyperv mode='passthrough'>`` -> ``hv-passthrough=on``;
    each feature ``state='on'`` -> ``hv-NAME=on`` in the enum's order,
    ``hv-spinlocks=0xRETRIES``, ``hv-vendor-id=VALUE``, ``hv-stimer-direct``),
    then ``<kvm>`` (``hidden`` -> ``kvm=off``, ``hint-dedicated``,
    ``poll-control``, ``pv-ipi state='off'``) and ``<pmu>``.  They change
    no PCI function, memory or DMA; written so the argv is libvirt's
    (checked against libvirt's src/qemu/qemu_command.c at 4cf22396 and
    libvirt 9/10 logs: ``host,migratable=on,hv-time=on,hv-relaxed=on,
    hv-vapic=on,hv-spinlocks=0x1fff``)."""
    out = []
    on = ("on", "yes")
    for t in root.findall("clock/timer"):
        name, present = t.get("name"), t.get("present")
        if name == "kvmclock" and present in ("yes", "no"):
            out.append("kvmclock=" + ("on" if present == "yes" else "off"))
        elif name == "hypervclock" and present == "yes":
            out.append("hv-time=on")
        elif name == "tsc" and t.get("frequency"):
            out.append(f"tsc-frequency={_int(t.get('frequency'), d.where('tsc frequency'))}")
    feats = root.find("features")
    if feats is None:
        return out
    apic = feats.find("apic")
    if apic is not None and apic.get("eoi") in ("on", "off"):
        out.append(f"kvm-pv-eoi={apic.get('eoi')}")
    pvs = feats.find("pvspinlock")
    if pvs is not None:
        out.append("kvm-pv-unhalt=" + ("off" if pvs.get("state") == "off" else "on"))
    hv = feats.find("hyperv")
    if hv is not None:
        mode = hv.get("mode", "custom")
        if mode == "passthrough":
            out.append("hv-passthrough=on")
        elif mode != "custom":
            raise CommandLineError(f"{d.src}: <hyperv mode={mode!r}>: expected custom or passthrough")
        known = set(HYPERV_FEATURES)
        for el in hv:
            if el.tag not in known:
                raise CommandLineError(f"{d.src}: <hyperv><{el.tag}>: not known to the reader "
                                       f"(libvirt 9.0's are {', '.join(HYPERV_FEATURES)})")
        for name in HYPERV_FEATURES:
            el = hv.find(name)
            if el is None or el.get("state") not in on:
                continue
            if name == "spinlocks":
                out.append(f"hv-spinlocks={_int(el.get('retries', '8191'), d.where('spinlocks retries')):#x}")
            elif name == "vendor_id":
                out.append(f"hv-vendor-id={el.get('value', '')}")
            else:
                out.append(f"hv-{name}=on")
                if name == "stimer" and el.find("direct") is not None and \
                        el.find("direct").get("state") in on:
                    out.append("hv-stimer-direct=on")
    kvm = feats.find("kvm")
    if kvm is not None:
        for name, flag, when in (("hidden", "kvm=off", "on"),
                                 ("hint-dedicated", "kvm-hint-dedicated=on", "on"),
                                 ("poll-control", "kvm-poll-control=on", "on"),
                                 ("pv-ipi", "kvm-pv-ipi=off", "off")):
            el = kvm.find(name)
            if el is not None and el.get("state") == when:
                out.append(flag)
    pmu = feats.find("pmu")
    if pmu is not None:
        out.append("pmu=" + ("off" if pmu.get("state") == "off" else "on"))
    return out


def _smp(root, d: _Domain) -> str:
    """``qemuBuildSmpCommandLine``: vcpus, maxcpus when different, then the
    topology (``dies=1`` written since QEMU 4.1 has it)."""
    vc = root.find("vcpu")
    maxv = _int(vc.text, d.where("<vcpu>")) if vc is not None else 1
    cur = _int(vc.get("current"), d.where("<vcpu current>")) if vc is not None and \
        vc.get("current") else maxv
    topo = root.find("cpu/topology")
    if topo is not None:
        s, c, t = (_int(topo.get(k, "1"), d.where(f"topology {k}")) for k in
                   ("sockets", "cores", "threads"))
        dies = _int(topo.get("dies", "1"), d.where("topology dies"))
    else:
        s, c, t, dies = maxv, 1, 1, None
    out = str(cur)
    if cur != maxv:
        out += f",maxcpus={maxv}"
    # dies= only with an explicit <topology> (the libvirt tests' argv)
    return out + f",sockets={s}" + (f",dies={dies}" if dies is not None else "") + \
        f",cores={c},threads={t}"


def _ram_backend(root, d: _Domain, name: str, size: int) -> dict:
    """``qemuBuildMemoryBackendProps`` for the main RAM (id ``pc.ram``):
    ``<memoryBacking><hugepages/>`` -> memory-backend-file under the hugetlbfs
    mount with ``prealloc``; ``<source type='memfd'/>`` -> memory-backend-memfd
    (``hugetlb`` with hugepages); ``<access mode='shared'/>`` -> ``share``;
    otherwise memory-backend-ram."""
    mb = root.find("memoryBacking")
    huge = mb is not None and mb.find("hugepages") is not None
    src = mb.find("source").get("type") if mb is not None and mb.find("source") is not None else None
    shared = mb is not None and mb.find("access") is not None and \
        mb.find("access").get("mode") == "shared"
    if src == "memfd":
        p = {"qom-type": "memory-backend-memfd", "id": "pc.ram"}
        if huge:
            p["hugetlb"] = True
            pg = mb.find("hugepages/page")
            p["hugetlbsize"] = _scaled(pg, d.where("hugepages page")) if pg is not None \
                else 2 << 20
        if shared:
            p["share"] = True
        p["x-use-canonical-path-for-ramblock-id"] = False
        if huge:
            p["prealloc"] = True
        p["size"] = size
        return p
    if huge or src == "file":
        # qemuGetMemoryBackingPath: <hugetlbfs mount>/libvirt/qemu/ID-NAME
        did = d.root.get("id", "-1")
        path = (f"/dev/hugepages/libvirt/qemu/{did}-{name}" if huge
                else f"/var/lib/libvirt/qemu/ram/{did}-{name}/pc.ram")
        p = {"qom-type": "memory-backend-file", "id": "pc.ram", "mem-path": path}
        if shared:
            p["share"] = True
        p["x-use-canonical-path-for-ramblock-id"] = False
        if huge:
            p["prealloc"] = True
        p["size"] = size
        return p
    return {"qom-type": "memory-backend-ram", "id": "pc.ram", "size": size}


#: libvirt controller model -> QEMU driver (``qemuBuildControllerPCIProps``,
#: ``src/conf/domain_conf.c`` virDomainControllerPCIModelName)
_PCI_MODELS = {"pcie-root-port": "pcie-root-port", "ioh3420": "ioh3420",
               "pcie-pci-bridge": "pcie-pci-bridge", "pci-bridge": "pci-bridge",
               "i82801b11-bridge": "i82801b11-bridge",
               "x3130-upstream": "x3130-upstream", "xio3130-downstream": "xio3130-downstream"}


def _controllers(devs, b: _Builder) -> list[str]:
    """``qemuBuildControllersCommandLine``: PCI controllers by index, then
    USB, SCSI, SATA, virtio-serial (its order of controller types); the
    implicit ones (pcie-root/pci-root, the q35 SATA index 0 = ICH9 AHCI, IDE
    on pc) produce no argument."""
    d = b.d
    out = []
    conts = devs.findall("controller")
    pci = []
    for c in conts:
        if c.get("type") == "pci":
            idx = _int(c.get("index", "0"), d.where("pci controller index"))
            model = c.get("model")
            if idx in b.ctrl_index:
                raise CommandLineError(f"{d.src}: two PCI controllers with index {idx}")
            b.ctrl_index[idx] = model
            pci.append((idx, model, c))
    for idx, model, c in sorted(pci, key=lambda x: x[0]):
        if model in ("pcie-root", "pci-root"):
            if idx != 0:
                raise CommandLineError(f"{d.src}: {model} must have index 0")
            continue
        what = f"<controller type='pci' index='{idx}' model='{model}'>"
        mname = c.find("model")
        drv = mname.get("name") if mname is not None and mname.get("name") else {
            "pcie-root-port": "pcie-root-port", "pcie-to-pci-bridge": "pcie-pci-bridge",
            "pci-bridge": "pci-bridge", "dmi-to-pci-bridge": "i82801b11-bridge",
            "pcie-switch-upstream-port": "x3130-upstream",
            "pcie-switch-downstream-port": "xio3130-downstream"}.get(model)
        if drv not in _PCI_MODELS:
            raise CommandLineError(f"{d.src}: {what}: PCI controller model not modelled "
                                   f"(known: {', '.join(sorted(_PCI_MODELS))})")
        tgt = c.find("target")
        p = {"driver": drv}
        if drv in ("pcie-root-port", "ioh3420", "xio3130-downstream"):
            if tgt is None or tgt.get("port") is None or tgt.get("chassis") is None:
                raise CommandLineError(f"{d.src}: {what}: <target chassis= port=> missing; "
                                       "give 'virsh dumpxml' output")
            p["port"] = _int(tgt.get("port"), d.where(f"{what} port"))
            p["chassis"] = _int(tgt.get("chassis"), d.where(f"{what} chassis"))
        elif drv == "pci-bridge":
            nr = tgt.get("chassisNr") if tgt is not None else None
            p["chassis_nr"] = _int(nr if nr is not None else idx, d.where(f"{what} chassisNr"))
        p["id"] = f"pci.{idx}"
        out += ["-device", _j(b.addr_props(c, what, p))]
    order = ("usb", "scsi", "sata", "virtio-serial", "ide")
    for kind in order:
        for c in conts:
            if c.get("type") != kind:
                continue
            idx = _int(c.get("index", "0"), d.where(f"{kind} controller index"))
            model = c.get("model")
            what = f"<controller type='{kind}' index='{idx}'>"
            if kind == "usb":
                if model == "none":
                    continue
                drv = {"qemu-xhci": "qemu-xhci", "nec-xhci": "nec-usb-xhci",
                       "ich9-ehci1": "ich9-usb-ehci1", "piix3-uhci": "piix3-usb-uhci",
                       None: "piix3-usb-uhci"}.get(model)
                if drv is None:
                    raise CommandLineError(f"{d.src}: {what} model={model!r}: not modelled")
                p = {"driver": drv}
                ports = c.get("ports")
                if ports and drv in ("qemu-xhci", "nec-usb-xhci"):
                    n = _int(ports, d.where(f"{what} ports"))
                    p["p2"] = n
                    p["p3"] = n
                p["id"] = "usb" if idx == 0 else f"usb{idx}"
                out += ["-device", _j(b.addr_props(c, what, p))]
            elif kind == "scsi":
                drv = {"virtio-scsi": "virtio-scsi-pci", None: "lsi53c895a",
                       "lsilogic": "lsi53c895a"}.get(model)
                if drv is None:
                    raise CommandLineError(f"{d.src}: {what} model={model!r}: not modelled")
                p = _virtio_props(c, {"driver": drv}) if drv == "virtio-scsi-pci" else {"driver": drv}
                p["id"] = f"scsi{idx}"
                dq = c.find("driver")
                if dq is not None and dq.get("queues"):
                    p["num_queues"] = _int(dq.get("queues"), d.where(f"{what} queues"))
                out += ["-device", _j(b.addr_props(c, what, p))]
            elif kind == "sata":
                if b.q35 and idx == 0:
                    continue            # the ICH9 AHCI at 0x1f.2, part of the machine
                out += ["-device", _j(b.addr_props(c, what, {"driver": "ich9-ahci",
                                                              "id": f"sata{idx}"}))]
            elif kind == "virtio-serial":
                p = _virtio_props(c, {"driver": "virtio-serial-pci"})
                p["id"] = f"virtio-serial{idx}"
                out += ["-device", _j(b.addr_props(c, what, p))]
    for c in conts:
        if c.get("type") not in ("pci",) + order:
            raise CommandLineError(f"{d.src}: <controller type={c.get('type')!r}>: not modelled")
    return out


def _disks(devs, b: _Builder) -> list[str]:
    """``qemuBuildDiskCommandLine``: a storage node and a format node
    (``qemuBlockStorageSourceGetBackendProps``), then the frontend
    (``qemuBuildDiskDeviceProps``): virtio-blk-pci on its PCI address, ide-hd/
    ide-cd on the SATA/IDE bus, scsi-hd on the SCSI bus.  Node names count
    down from the number of disks (libvirt-N for the first)."""
    d = b.d
    out = []
    disks = devs.findall("disk")
    for n, disk in enumerate(disks):
        tgt = disk.find("target")
        if tgt is None or not tgt.get("dev"):
            raise CommandLineError(f"{d.src}: <disk> {n} has no <target dev=>")
        dev, bus = tgt.get("dev"), tgt.get("bus", "ide")
        what = f"<disk> {dev}"
        src = disk.find("source")
        path = None
        if src is not None:
            path = src.get("file") or src.get("dev")
        drv_el = disk.find("driver")
        fmt = drv_el.get("type", "raw") if drv_el is not None else "raw"
        node = f"libvirt-{len(disks) - n}"
        top = None
        ro = disk.find("readonly") is not None
        drvname = "host_device" if disk.get("type") == "block" else "file"
        # a raw image without discard needs no format layer
        # (qemuBlockStorageSourceNeedsFormatLayer, libvirt > 9.0; 9.0 always has one)
        if path and fmt == "raw" and b.new and not (drv_el is not None and drv_el.get("discard")):
            # a raw image needs no format layer (qemuBlockStorageSourceNeedsFormatLayer)
            top = f"{node}-storage"
            out += ["-blockdev", _j({"driver": drvname, "filename": path,
                                     "node-name": top, "read-only": ro})]
        elif path:
            top = f"{node}-format"
            fmt_node = {"node-name": top, "read-only": ro}
            if drv_el is not None and drv_el.get("discard") == "unmap":
                fmt_node["discard"] = "unmap"
            fmt_node.update({"driver": fmt, "file": f"{node}-storage"})
            bs = disk.find("backingStore")
            if bs is not None and len(bs) == 0 and fmt == "qcow2":
                fmt_node["backing"] = None      # <backingStore/>: the chain ends here
            out += ["-blockdev", _j({"driver": drvname, "filename": path,
                                     "node-name": f"{node}-storage", "auto-read-only": True,
                                     "discard": "unmap"}),
                    "-blockdev", _j(fmt_node)]
        boot = disk.find("boot")
        cdrom = disk.get("device") == "cdrom"
        if bus == "virtio":
            p = b.addr_props(disk, what, _virtio_props(disk, {"driver": "virtio-blk-pci"}))
            if drv_el is not None and drv_el.get("queues"):
                p["num-queues"] = _int(drv_el.get("queues"), d.where(f"{what} queues"))
            if top:
                p["drive"] = top
            p["id"] = f"virtio-disk{_disk_index(dev)}"
        elif bus in ("sata", "ide"):
            # qemuBuildDiskDeviceProps: SATA -> bus "ide.UNIT" on the q35
            # built-in AHCI (controller 0) or "sataN.UNIT"; IDE -> bus
            # "ide.BUS" with "unit"
            a = disk.find("address")
            unit = _int(a.get("unit", "0"), d.where(f"{what} unit")) if a is not None else 0
            abus = _int(a.get("bus", "0"), d.where(f"{what} bus")) if a is not None else 0
            ctl = _int(a.get("controller", "0"), d.where(f"{what} controller")) if a is not None else 0
            if bus == "sata":
                busname = "ide" if ctl == 0 and b.q35 else f"sata{ctl}"
                p = {"driver": "ide-cd" if cdrom else "ide-hd", "bus": f"{busname}.{unit}"}
            else:
                p = {"driver": "ide-cd" if cdrom else "ide-hd", "bus": f"ide.{abus}",
                     "unit": unit}
            if top:
                p["drive"] = top
            p["id"] = f"{bus}{ctl}-{abus}-{unit}"
        elif bus == "scsi":
            a = disk.find("address")
            unit = _int(a.get("unit", "0"), d.where(f"{what} unit")) if a is not None else 0
            ctl = _int(a.get("controller", "0"), d.where(f"{what} controller")) if a is not None else 0
            p = {"driver": "scsi-cd" if cdrom else "scsi-hd", "bus": f"scsi{ctl}.0",
                 "channel": 0, "scsi-id": 0, "lun": unit, "device_id": f"drive-scsi{ctl}-0-0-{unit}"}
            if top:
                p["drive"] = top
            p["id"] = f"scsi{ctl}-0-0-{unit}"
        else:
            raise CommandLineError(f"{d.src}: {what} bus={bus!r}: not modelled "
                                   "(virtio, sata, ide, scsi)")
        if boot is not None and boot.get("order"):
            p["bootindex"] = _int(boot.get("order"), d.where(f"{what} boot order"))
        out += ["-device", _j(p)]
    return out


def _disk_index(dev: str) -> int:
    """vda -> 0, vdb -> 1, ... (``virDiskNameToIndex``)."""
    letters = dev[2:] if len(dev) > 2 else "a"
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - ord("a") + 1)
    return n - 1


def _interfaces(devs, b: _Builder) -> list[str]:
    """``qemuBuildInterfaceCommandLine``: ``-netdev`` (a tap by file
    descriptor for network/bridge interfaces: the fd numbers are placeholders,
    libvirt passes open descriptors) then the NIC (``qemuBuildNicDevProps``:
    driver, netdev, id, mac, address, then ``rombar``/``romfile``)."""
    d = b.d
    out = []
    for n, ifc in enumerate(devs.findall("interface")):
        what = f"<interface> {n}"
        model = ifc.find("model")
        mtype = model.get("type") if model is not None else "rtl8139"
        drv = {"virtio": "virtio-net-pci", "e1000e": "e1000e", "e1000": "e1000",
               "rtl8139": "rtl8139", "vmxnet3": "vmxnet3", "igb": "igb"}.get(mtype)
        if drv is None:
            raise CommandLineError(f"{d.src}: {what} model={mtype!r}: not modelled")
        if ifc.get("type") == "hostdev":
            raise CommandLineError(f"{d.src}: {what} type='hostdev': write it as <hostdev> "
                                   "(the reader does not model SR-IOV VF interfaces)")
        drv_el = ifc.find("driver")
        queues = _int(drv_el.get("queues"), d.where(f"{what} queues")) \
            if drv_el is not None and drv_el.get("queues") else 1
        if ifc.get("type") == "user":
            netdev = {"type": "user", "id": f"hostnet{n}"}
        else:
            if queues > 1:
                netdev = {"type": "tap", "fds": ":".join(str(40 + i) for i in range(queues))}
            else:
                netdev = {"type": "tap", "fd": str(40 + 2 * n)}
            if mtype == "virtio":
                netdev["vhost"] = True
                if queues > 1:
                    netdev["vhostfds"] = ":".join(str(60 + i) for i in range(queues))
                else:
                    netdev["vhostfd"] = str(41 + 2 * n)
            netdev["id"] = f"hostnet{n}"
        out += ["-netdev", _j(netdev)]
        p = _virtio_props(ifc, {"driver": drv}) if mtype == "virtio" else {"driver": drv}
        drv_el = ifc.find("driver")
        queues = _int(drv_el.get("queues"), d.where(f"{what} queues")) \
            if drv_el is not None and drv_el.get("queues") else 1
        if mtype == "virtio" and queues > 1:
            # qemuBuildNicDevProps: multiqueue needs 2N+2 MSI-X vectors
            p["mq"] = True
            p["vectors"] = 2 * queues + 2
        p.update({"netdev": f"hostnet{n}", "id": f"net{n}"})
        mac = ifc.find("mac")
        if mac is not None and mac.get("address"):
            p["mac"] = mac.get("address")
        boot = ifc.find("boot")
        if boot is not None and boot.get("order"):
            p["bootindex"] = _int(boot.get("order"), d.where(f"{what} boot order"))
        b.addr_props(ifc, what, p)
        _rom_props(ifc, p)
        out += ["-device", _j(p)]
    return out


def _serials(devs, b: _Builder) -> list[str]:
    """``qemuBuildSerialCommandLine``: an ISA serial port (I/O ports, no PCI
    function) per ``<serial>`` with an isa-serial target."""
    out = []
    for n, sr in enumerate(devs.findall("serial")):
        tgt = sr.find("target")
        ttype = tgt.get("type", "isa-serial") if tgt is not None else "isa-serial"
        if ttype != "isa-serial":
            raise CommandLineError(f"{b.d.src}: <serial> target {ttype!r}: not modelled")
        port = _int(tgt.get("port", str(n)) if tgt is not None else str(n),
                    b.d.where("<serial> port"))
        out += ["-chardev", f"pty,id=charserial{port}",
                "-device", _j({"driver": "isa-serial", "chardev": f"charserial{port}",
                               "id": f"serial{port}", "index": port})]
    return out


def _channels(devs, b: _Builder) -> list[str]:
    """``qemuBuildChannelsCommandLine``: virtio channels are ports of a
    virtio-serial controller (no PCI function of their own)."""
    out = []
    for n, ch in enumerate(devs.findall("channel")):
        tgt = ch.find("target")
        if tgt is None or tgt.get("type") != "virtio":
            continue
        if ch.get("type") == "unix":
            out += ["-chardev", f"socket,id=charchannel{n},fd={30 + n},server=on,wait=off"]
        elif ch.get("type") == "spicevmc":
            out += ["-chardev", f"spicevmc,id=charchannel{n},name=vdagent"]
        else:
            continue
        a = ch.find("address")
        ctl = a.get("controller", "0") if a is not None else "0"
        bus = a.get("bus", "0") if a is not None else "0"
        p = {"driver": "virtserialport", "bus": f"virtio-serial{ctl}.{bus}"}
        if a is not None and a.get("port"):
            p["nr"] = _int(a.get("port"), b.d.where("<channel> port"))
        p.update({"chardev": f"charchannel{n}", "id": f"channel{n}"})
        if tgt.get("name"):
            p["name"] = tgt.get("name")
        out += ["-device", _j(p)]
    return out


def _tpms(devs, b: _Builder, ddir: str) -> list[str]:
    """``qemuBuildTPMCommandLine``: an swtpm emulator (a socket libvirt
    starts) behind tpm-crb or tpm-tis; both are MMIO at 0xfed40000, no PCI
    function."""
    out = []
    for n, t in enumerate(devs.findall("tpm")):
        model = t.get("model", "tpm-tis")
        if model not in ("tpm-crb", "tpm-tis"):
            raise CommandLineError(f"{b.d.src}: <tpm model={model!r}>: not modelled")
        be = t.find("backend")
        if be is None or be.get("type") != "emulator":
            raise CommandLineError(f"{b.d.src}: <tpm> backend: only type='emulator' is modelled")
        out += ["-chardev", f"socket,id=chrtpm,path=/run/libvirt/qemu/swtpm/"
                f"{ddir.rsplit('/', 1)[-1][len('domain-'):]}-swtpm.sock",
                "-tpmdev", f"emulator,id=tpm-tpm{n},chardev=chrtpm",
                "-device", _j({"driver": model, "tpmdev": f"tpm-tpm{n}", "id": f"tpm{n}"})]
    return out


def _redirdevs(devs, b: _Builder) -> list[str]:
    """``qemuBuildRedirdevCommandLine``: SPICE USB redirection (a USB device)."""
    out = []
    for n, r in enumerate(devs.findall("redirdev")):
        if r.get("type") != "spicevmc":
            continue
        out += ["-chardev", f"spicevmc,id=charredir{n},name=usbredir"]
        p = {"driver": "usb-redir", "chardev": f"charredir{n}", "id": f"redir{n}"}
        out += ["-device", _j(_usb_address(p, r))]
    return out


def _usb_address(p: dict, elem) -> dict:
    """A USB device's ``<address type='usb' bus= port=>`` as -device bus/port
    (``qemuBuildDeviceAddressProps``: bus ``usb.N``)."""
    a = elem.find("address")
    if a is not None and a.get("type") == "usb":
        p["bus"] = f"usb.{a.get('bus', '0')}"
        p["port"] = a.get("port", "1")
    return p


def _sounds(devs, b: _Builder) -> list[str]:
    """``qemuBuildSoundCommandLine``: ich9 -> ich9-intel-hda, ich6 ->
    intel-hda (each with an hda-duplex codec), ac97 -> AC97."""
    out = []
    audio = devs.find("audio")
    for n, snd in enumerate(devs.findall("sound")):
        model = snd.get("model")
        drv = {"ich9": "ich9-intel-hda", "ich6": "intel-hda", "ac97": "AC97",
               "es1370": "ES1370"}.get(model)
        if drv is None:
            raise CommandLineError(f"{b.d.src}: <sound model={model!r}>: not modelled")
        out += ["-device", _j(b.addr_props(snd, f"<sound> {n}",
                                           {"driver": drv, "id": f"sound{n}"}))]
        if drv in ("ich9-intel-hda", "intel-hda"):
            ctype = snd.find("codec").get("type", "duplex") if snd.find("codec") is not None \
                else "duplex"
            codec = {"driver": f"hda-{ctype}", "id": f"sound{n}-codec0", "bus": f"sound{n}.0",
                     "cad": 0}
            if audio is not None:
                codec["audiodev"] = f"audio{audio.get('id', '1')}"
            out += ["-device", _j(codec)]
    return out


def _watchdogs(devs, b: _Builder) -> list[str]:
    """``qemuBuildWatchdogCommandLine``: i6300esb is a PCI function; itco is
    the ICH9 LPC's own TCO timer (``ICH9-LPC.noreboot=off``); then the action."""
    out = []
    for n, w in enumerate(devs.findall("watchdog")):
        model = w.get("model")
        if model == "i6300esb":
            out += ["-device", _j(b.addr_props(w, f"<watchdog> {n}",
                                               {"driver": "i6300esb", "id": f"watchdog{n}"}))]
        elif model == "itco":
            out += ["-global", "ICH9-LPC.noreboot=off"]
        else:
            raise CommandLineError(f"{b.d.src}: <watchdog model={model!r}>: not modelled")
        if w.get("action"):
            out += ["-watchdog-action", w.get("action")]
    return out


def _inputs(devs, b: _Builder) -> list[str]:
    """``qemuBuildInputCommandLine``: USB tablets/keyboards/mice (no PCI
    function); PS/2 ones are the machine's i8042 and add no argument."""
    out = []
    for n, inp in enumerate(devs.findall("input")):
        if inp.get("bus") != "usb":
            continue
        drv = {"tablet": "usb-tablet", "keyboard": "usb-kbd", "mouse": "usb-mouse"}.get(
            inp.get("type"))
        if drv is None:
            continue
        p = {"driver": drv, "id": f"input{n}"}
        out += ["-device", _j(_usb_address(p, inp))]
    return out


def _videos(devs, b: _Builder) -> list[str]:
    """``qemuBuildVideoCommandLine`` / ``qemuBuildDeviceVideoStr``: the primary
    video is ``VGA``/``virtio-vga``/``qxl-vga``, secondaries ``virtio-gpu-pci``/
    ``qxl``; ``vgamem_mb`` from ``vram`` (KiB) for VGA, qxl's ``ram``/``vram``/
    ``vram64``/``vgamem`` in bytes and MiB; ``type='none'`` adds nothing."""
    d = b.d
    out = []
    for n, v in enumerate(devs.findall("video")):
        m = v.find("model")
        vt = m.get("type") if m is not None else "vga"
        what = f"<video> {n}"
        if vt == "none":
            continue
        primary = n == 0
        if vt == "vga":
            p = {"driver": "VGA", "id": f"video{n}"}
            vram = m.get("vram")
            p["vgamem_mb"] = _int(vram, d.where(f"{what} vram")) // 1024 if vram else 16
        elif vt == "virtio":
            p = {"driver": "virtio-vga" if primary else "virtio-gpu-pci", "id": f"video{n}",
                 "max_outputs": _int(m.get("heads", "1"), d.where(f"{what} heads"))}
        elif vt == "qxl":
            p = {"driver": "qxl-vga" if primary else "qxl", "id": f"video{n}",
                 "max_outputs": _int(m.get("heads", "1"), d.where(f"{what} heads")),
                 "ram_size": _int(m.get("ram", "65536"), d.where(f"{what} ram")) * 1024,
                 "vram_size": _int(m.get("vram", "65536"), d.where(f"{what} vram")) * 1024,
                 "vram64_size_mb": _int(m.get("vram64", "0"), d.where(f"{what} vram64")) // 1024,
                 "vgamem_mb": _int(m.get("vgamem", "16384"), d.where(f"{what} vgamem")) // 1024}
        elif vt == "bochs":
            p = {"driver": "bochs-display", "id": f"video{n}"}
            if m.get("vram"):
                p["vgamem"] = _int(m.get("vram"), d.where(f"{what} vram")) * 1024
        elif vt == "ramfb":
            out += ["-device", _j({"driver": "ramfb", "id": f"video{n}"})]
            continue
        else:
            raise CommandLineError(f"{d.src}: {what} type={vt!r}: not modelled "
                                   "(vga, virtio, qxl, bochs, ramfb, none)")
        out += ["-device", _j(b.addr_props(v, what, p))]
    return out


def _shmems(devs, b: _Builder) -> list[str]:
    """``qemuBuildShmemCommandLine``: ``<shmem name=N><model type='ivshmem-plain'/>
    <size unit='M'>S</size>`` -> a shared memory-backend-file in /dev/shm and
    an ivshmem-plain device using it (Looking Glass)."""
    d = b.d
    out = []
    for n, s in enumerate(devs.findall("shmem")):
        name = s.get("name")
        m = s.find("model")
        mt = m.get("type") if m is not None else "ivshmem-plain"
        what = f"<shmem name={name!r}>"
        if mt != "ivshmem-plain":
            raise CommandLineError(f"{d.src}: {what} model {mt!r}: only ivshmem-plain is modelled")
        size_el = s.find("size")
        size = _scaled(size_el, d.where(f"{what} size"), "B") if size_el is not None else 4 << 20
        out += ["-object", _j({"qom-type": "memory-backend-file", "id": f"shmmem-shmem{n}",
                               "mem-path": f"/dev/shm/{name}", "size": size, "share": True})]
        p = {"driver": "ivshmem-plain", "id": f"shmem{n}", "memdev": f"shmmem-shmem{n}"}
        out += ["-device", _j(b.addr_props(s, what, p))]
    return out


def _hostdevs(devs, b: _Builder) -> list[str]:
    """``qemuBuildHostdevCommandLine`` / ``qemuBuildPCIHostdevDevProps``:
    ``<hostdev mode='subsystem' type='pci'>`` -> vfio-pci with ``host``
    (DDDD:BB:DD.F), ``id`` hostdevN, the guest address, then ``<rom>``."""
    d = b.d
    out = []
    for n, h in enumerate(devs.findall("hostdev")):
        what = f"<hostdev> {n}"
        if h.get("mode", "subsystem") != "subsystem" or h.get("type") != "pci":
            raise CommandLineError(f"{d.src}: {what} mode={h.get('mode')!r} "
                                   f"type={h.get('type')!r}: only PCI subsystem hostdevs "
                                   "are modelled")
        drv = h.find("driver")
        if drv is not None and drv.get("name") not in (None, "vfio"):
            raise CommandLineError(f"{d.src}: {what} driver {drv.get('name')!r}: only vfio")
        sa = h.find("source/address")
        if sa is None:
            raise CommandLineError(f"{d.src}: {what} has no <source><address>")
        try:
            host = "%04x:%02x:%02x.%x" % tuple(int(sa.get(k, "0"), 0) for k in
                                                ("domain", "bus", "slot", "function"))
        except ValueError:
            raise CommandLineError(f"{d.src}: {what}: bad source address") from None
        alias = h.find("alias")
        p = {"driver": "vfio-pci", "host": host,
             "id": alias.get("name") if alias is not None and alias.get("name") else f"hostdev{n}"}
        b.addr_props(h, what, p)
        boot = h.find("boot")
        if boot is not None and boot.get("order"):
            p["bootindex"] = _int(boot.get("order"), d.where(f"{what} boot order"))
        _rom_props(h, p)
        out += ["-device", _j(p)]
    return out


def _balloon(devs, b: _Builder) -> list[str]:
    """``qemuBuildMemballoonCommandLine``: ``model='virtio'`` ->
    virtio-balloon-pci (``deflate-on-oom`` from ``autodeflate``,
    ``free-page-reporting`` from ``freePageReporting``); ``none`` -> nothing."""
    out = []
    mb = devs.find("memballoon")
    if mb is None or mb.get("model") == "none":
        return out
    if mb.get("model") != "virtio":
        raise CommandLineError(f"{b.d.src}: <memballoon model={mb.get('model')!r}>: not modelled")
    p = _virtio_props(mb, {"driver": "virtio-balloon-pci"})
    p["id"] = "balloon0"
    if mb.get("autodeflate") in ("on", "off"):
        p["deflate-on-oom"] = mb.get("autodeflate") == "on"
    if mb.get("freePageReporting") in ("on", "off"):
        p["free-page-reporting"] = mb.get("freePageReporting") == "on"
    return ["-device", _j(b.addr_props(mb, "<memballoon>", p))]


def _rngs(devs, b: _Builder) -> list[str]:
    """``qemuBuildRNGCommandLine``: an rng-random (or rng-builtin) object
    then virtio-rng-pci."""
    out = []
    for n, r in enumerate(devs.findall("rng")):
        be = r.find("backend")
        model = be.get("model") if be is not None else "random"
        if model == "random":
            obj = {"qom-type": "rng-random", "id": f"objrng{n}",
                   "filename": (be.text or "/dev/urandom").strip() if be is not None else "/dev/urandom"}
        elif model == "builtin":
            obj = {"qom-type": "rng-builtin", "id": f"objrng{n}"}
        else:
            raise CommandLineError(f"{b.d.src}: <rng> backend {model!r}: not modelled")
        out += ["-object", _j(obj)]
        p = _virtio_props(r, {"driver": "virtio-rng-pci"})
        p.update({"rng": f"objrng{n}", "id": f"rng{n}"})
        out += ["-device", _j(b.addr_props(r, f"<rng> {n}", p))]
    return out


#: <iommu><driver> attributes -> intel-iommu properties, in the order
#: libvirt's qemuBuildIOMMUCommandLine adds them (tests/qemuxmlconfdata/
#: intel-iommu-aw-bits.x86_64-latest.args at libvirt commit c2ea8b2e7c:
#: {"driver":"intel-iommu","id":"iommu0","intremap":"on","aw-bits":48})
_IOMMU_DRIVER_PROPS = (("intremap", "intremap"), ("caching_mode", "caching-mode"),
                       ("eim", "eim"), ("iotlb", "device-iotlb"), ("aw_bits", "aw-bits"))


def _iommus(devs, d: _Domain, q35: bool) -> list[str]:
    """``<iommu model='intel'>`` -> ``-device {"driver":"intel-iommu","id":"iommu0",...}``
    (the form read at libvirt commit c2ea8b2e7c, which 11.x writes; libvirt
    9.0.0's exact spelling of this one device was not read).  Other models
    (virtio, smmuv3, amd) are refused: the model has only intel-iommu.
    ``intremap='on'`` needs ``<ioapic driver='qemu'>``, i.e. QEMU's
    ``kernel_irqchip=split``, which the model does not take: refused."""
    out = []
    els = devs.findall("iommu")
    if len(els) > 1:
        raise CommandLineError(f"{d.src}: {len(els)} <iommu> elements: libvirt allows one")
    for el in els:
        model = el.get("model")
        if model != "intel":
            raise CommandLineError(f"{d.src}: <iommu model={model!r}>: only model='intel' "
                                   "(intel-iommu) is modelled")
        if not q35:
            raise CommandLineError(f"{d.src}: <iommu model='intel'> needs a q35 machine "
                                   "(libvirt qemuValidateDomainDeviceDefIOMMU)")
        props = {"driver": "intel-iommu", "id": "iommu0"}
        drv = el.find("driver")
        for attr, prop in _IOMMU_DRIVER_PROPS:
            v = drv.get(attr) if drv is not None else None
            if v is None:
                continue
            if attr == "aw_bits":
                props[prop] = _int(v, d.where("<iommu><driver aw_bits>"))
            elif v in ("on", "off"):
                props[prop] = v
            else:
                raise CommandLineError(f"{d.where('<iommu><driver>')} {attr}={v!r}: on or off")
        if props.get("intremap") == "on":
            raise CommandLineError(f"{d.src}: <iommu><driver intremap='on'> needs "
                                   "<ioapic driver='qemu'/> (-machine kernel_irqchip=split), "
                                   "which the model does not take")
        out += ["-device", _j(props)]
    return out


def libvirt_memtune(xml_text: str, *, source: str = "domain XML") -> dict:
    """What libvirt's locked-memory rule reads besides the devices:
    ``hard_limit`` (``<memtune><hard_limit>``, bytes, or None) and
    ``locked`` (``<memoryBacking><locked/>``)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        line = e.position[0] if hasattr(e, "position") else None
        raise ParseError(f"not well-formed XML ({e})", line_no=line, source=source) from None
    hl = root.find("memtune/hard_limit")
    hard = _scaled(hl, f"{source}: <memtune><hard_limit>") if hl is not None else None
    # src/util/virutil.c virMemoryLimitIsSet: a value of
    # VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (2^53 - 1) KiB or more means "not set"
    if hard is not None and hard >= ((1 << 53) - 1) * 1024:
        hard = None
    return {"hard_limit": hard, "locked": root.find("memoryBacking/locked") is not None}


def read_libvirt_memtune(path: str) -> dict:
    """:func:`libvirt_memtune` of the domain XML in ``path``."""
    from .paste import read_user_text
    return libvirt_memtune(read_user_text(path, "--libvirt-xml"), source=path)


def read_libvirt_xml(path: str, *, libvirt: str = LIBVIRT_VERSION,
                     notes: list | None = None) -> list[str]:
    """The argv for the domain XML in ``path`` (``virsh dumpxml`` output)."""
    from .paste import read_user_text
    text = read_user_text(path, "--libvirt-xml")
    return libvirt_argv(text, source=path, libvirt=libvirt, notes=notes)
