"""A Proxmox VE VM config (``/etc/pve/qemu-server/VMID.conf``) -> the QEMU
command line ``qm showcmd VMID`` prints, for the parts that matter to PCI, the
memory map, memslots and DMA.

The rules are qemu-server 9.2.6's (proxmox/qemu-server commit e6352be6,
``src/PVE/QemuServer.pm`` ``config_to_command``, ``QemuServer/PCI.pm``,
``Machine.pm``, ``CPUConfig.pm``, ``OVMF.pm``, ``Blockdev.pm``,
``DriveDevice.pm``, ``Cfg2Cmd/Timer.pm``), with the installed QEMU
(``kvm_user_version``) taken to be the stack's (7.2 on debian12, 10.0 on
debian13): an unversioned ``machine: q35`` runs the installed QEMU's newest
q35 (``q35+pveN``, Proxmox's QEMU names it so), and the rules gated on the
machine version follow it (``-drive`` below 10.0, ``-blockdev`` from 10.0;
S3/S4 off from 9.2+pve1; ``host_mtu`` from 10.0+pve1; ...).  The output
was checked against qemu-server's own expected command lines
(``src/test/cfg2cmd/*.conf.cmd``, see ``tests/test_proxmox.py``).

The q35 layout Proxmox loads with ``-readconfig
/usr/share/qemu-server/pve-q35-4.0.cfg`` (``src/usr/pve-q35-4.0.cfg``:
EHCI/UHCI USB, an ICH9 HDA, four root ports ``ich9-pcie-port-1..4`` at
1c.0-1c.3, the DMI-to-PCI bridge ``pcidmi`` at 1e.0 and the PCI bridges
``pci.0``..``pci.3`` behind it) is kept as that one argument in the argv
``qm showcmd`` prints; :func:`qemu_args_for_model` spells it out as the
``-device`` options it stands for, and maps Proxmox's machine names to the
QEMU machine they stand for, for the command-line reader.

Not written: ``-iscsi initiator-name=...`` (qemu-server reads it from the
host's ``/etc/iscsi/initiatorname.iscsi``; it changes nothing here).  Host
facts a config does not hold are taken as said in a note: the bridge MTU
behind ``host_mtu`` (1500), storages other than a default install's
(``storages=``), the functions of a ``hostpciN: BB:DD`` device
(``host_functions=``, from ``--host-device``).

Refused with the reason: ``hostpciN: mapping=`` (a cluster resource mapping
the config does not contain), mediated devices (``mdev=``), memory hotplug,
hugepages, non-x86 VMs, keys the reader does not know.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex

from ..errors import CommandLineError, ParseError
from .paste import with_program_accel

__all__ = ["proxmox_argv", "read_proxmox_conf", "parse_conf", "qemu_args_for_model",
           "PVE_Q35_4_0_CFG", "QEMU_SERVER_VERSION", "format_showcmd"]

QEMU_SERVER_VERSION = "9.2.6"

#: ``src/usr/pve-q35-4.0.cfg`` (qemu-server 9.2.6): [device "ID"] sections,
#: in file order, as (id, {property: value})
PVE_Q35_4_0_CFG = [
    ("ehci", {"driver": "ich9-usb-ehci1", "multifunction": "on", "bus": "pcie.0", "addr": "1d.7"}),
    ("uhci-1", {"driver": "ich9-usb-uhci1", "multifunction": "on", "bus": "pcie.0", "addr": "1d.0",
                "masterbus": "ehci.0", "firstport": "0"}),
    ("uhci-2", {"driver": "ich9-usb-uhci2", "multifunction": "on", "bus": "pcie.0", "addr": "1d.1",
                "masterbus": "ehci.0", "firstport": "2"}),
    ("uhci-3", {"driver": "ich9-usb-uhci3", "multifunction": "on", "bus": "pcie.0", "addr": "1d.2",
                "masterbus": "ehci.0", "firstport": "4"}),
    ("ehci-2", {"driver": "ich9-usb-ehci2", "multifunction": "on", "bus": "pcie.0", "addr": "1a.7"}),
    ("uhci-4", {"driver": "ich9-usb-uhci4", "multifunction": "on", "bus": "pcie.0", "addr": "1a.0",
                "masterbus": "ehci-2.0", "firstport": "0"}),
    ("uhci-5", {"driver": "ich9-usb-uhci5", "multifunction": "on", "bus": "pcie.0", "addr": "1a.1",
                "masterbus": "ehci-2.0", "firstport": "2"}),
    ("uhci-6", {"driver": "ich9-usb-uhci6", "multifunction": "on", "bus": "pcie.0", "addr": "1a.2",
                "masterbus": "ehci-2.0", "firstport": "4"}),
    ("audio0", {"driver": "ich9-intel-hda", "bus": "pcie.0", "addr": "1b.0"}),
] + [
    (f"ich9-pcie-port-{n}", {"driver": "pcie-root-port", "x-speed": "16", "x-width": "32",
                             "multifunction": "on", "bus": "pcie.0", "addr": f"1c.{n - 1}",
                             "port": str(n), "chassis": str(n)})
    for n in (1, 2, 3, 4)
] + [
    ("pcidmi", {"driver": "i82801b11-bridge", "bus": "pcie.0", "addr": "1e.0"}),
] + [
    (f"pci.{n}", {"driver": "pci-bridge", "bus": "pcidmi", "addr": f"{n + 1}.0",
                  "chassis_nr": str(n + 1)})
    for n in (0, 1, 2, 3)
]
READCONFIG_Q35 = "/usr/share/qemu-server/pve-q35-4.0.cfg"

#: ``PCI.pm`` ``get_pci_addr_map`` (the entries used here): id -> (bus, slot)
PCI_ADDR = {"vga": (0, 2), "balloon0": (0, 3), "watchdog": (0, 4), "scsihw0": (0, 5),
            "scsihw1": (0, 6), "ahci0": (0, 7), "qga0": (0, 8), "spice": (0, 9),
            **{f"virtio{i}": (0, 10 + i) for i in range(6)},
            "hostpci0": (0, 16), "hostpci1": (0, 17),
            **{f"net{i}": (0, 18 + i) for i in range(6)},
            "hostpci2": (0, 27), "hostpci3": (0, 28), "pci.1": (0, 30), "pci.2": (0, 31),
            "pci.3": (0, 5),
            **{f"net{i}": (1, i - 5) for i in range(6, 32)},
            "xhci": (1, 27), "pci.4": (1, 28), "rng0": (1, 29),
            **{f"virtio{i}": (2, i - 5) for i in range(6, 16)},
            "ivshmem": (2, 11), "audio0": (2, 12),
            **{f"hostpci{i}": (2, 9 + i) for i in range(4, 16)},
            **{f"virtioscsi{i}": (3, i + 1) for i in range(31)},
            "scsihw2": (4, 1), "scsihw3": (4, 2), "scsihw4": (4, 3)}
#: ``PCI.pm`` ``print_pcie_root_port``: root ports 5..16 added on demand
ROOT_PORT_ADDR = {4: "10.0", 5: "10.1", 6: "10.2", 7: "10.3", 8: "10.4", 9: "10.5",
                  10: "10.6", 11: "10.7", 12: "11.0", 13: "11.1", 14: "11.2", 15: "11.3"}
#: ``Machine.pm`` ``$PVE_MACHINE_VERSION``: the highest +pveN per QEMU version
PVE_MACHINE_REVISIONS = {(4, 1): 2, (9, 2): 1, (10, 0): 1, (11, 0): 2}
#: ``OVMF.pm`` ``$OVMF`` (x86_64)
EDK2 = "/usr/share/pve-edk2-firmware/"
OVMF_FILES = {"default": (f"{EDK2}/OVMF_CODE.fd", f"{EDK2}/OVMF_VARS.fd", 131072),
              "4m-no-smm": (f"{EDK2}/OVMF_CODE_4M.fd", f"{EDK2}/OVMF_VARS_4M.fd", 540672),
              "4m-no-smm-ms": (f"{EDK2}/OVMF_CODE_4M.fd", f"{EDK2}/OVMF_VARS_4M.ms.fd", 540672),
              "4m": (f"{EDK2}/OVMF_CODE_4M.secboot.fd", f"{EDK2}/OVMF_VARS_4M.fd", 540672),
              "4m-ms": (f"{EDK2}/OVMF_CODE_4M.secboot.fd", f"{EDK2}/OVMF_VARS_4M.ms.fd", 540672)}
#: the two storages a fresh Proxmox VE install has (``/etc/pve/storage.cfg``):
#: 'local' (dir /var/lib/vz) and 'local-lvm' (lvmthin, VG pve); 'local-zfs'
#: (zfspool rpool/data) on ZFS installs
STORAGES = {"local": {"type": "dir", "path": "/var/lib/vz"},
            "local-lvm": {"type": "lvmthin", "vgname": "pve"},
            "local-zfs": {"type": "zfspool", "pool": "rpool/data"}}

#: ``CPUConfig.pm`` ``$cpu_models_by_arch`` (x86_64): the AMD models; the
#: generic ones take the host's vendor; the rest are Intel's
AMD_MODELS = set("athlon phenom Opteron_G1 Opteron_G2 Opteron_G3 Opteron_G4 Opteron_G5 EPYC "
                 "EPYC-IBPB EPYC-v3 EPYC-v4 EPYC-v5 EPYC-Rome EPYC-Rome-v2 EPYC-Rome-v3 "
                 "EPYC-Rome-v4 EPYC-Rome-v5 EPYC-Milan EPYC-Milan-v2 EPYC-Milan-v3 EPYC-Genoa "
                 "EPYC-Genoa-v2 EPYC-Turin".split())
GENERIC_MODELS = {"kvm32", "kvm64", "qemu32", "qemu64", "max", "host"}
INTEL_MODELS = set(
    "486 pentium pentium2 pentium3 coreduo core2duo Conroe Penryn Nehalem Nehalem-IBRS Westmere "
    "Westmere-IBRS SandyBridge SandyBridge-IBRS IvyBridge IvyBridge-IBRS Haswell Haswell-IBRS "
    "Haswell-noTSX Haswell-noTSX-IBRS Broadwell Broadwell-IBRS Broadwell-noTSX "
    "Broadwell-noTSX-IBRS Skylake-Client Skylake-Client-IBRS Skylake-Client-noTSX-IBRS "
    "Skylake-Client-v4 Skylake-Server Skylake-Server-IBRS Skylake-Server-noTSX-IBRS "
    "Skylake-Server-v4 Skylake-Server-v5 Cascadelake-Server Cascadelake-Server-v2 "
    "Cascadelake-Server-noTSX Cascadelake-Server-v4 Cascadelake-Server-v5 Cooperlake "
    "Cooperlake-v2 KnightsMill Icelake-Client Icelake-Client-noTSX Icelake-Server "
    "Icelake-Server-noTSX Icelake-Server-v3 Icelake-Server-v4 Icelake-Server-v5 "
    "Icelake-Server-v6 Icelake-Server-v7 SapphireRapids SapphireRapids-v2 SapphireRapids-v3 "
    "SapphireRapids-v4 GraniteRapids GraniteRapids-v2 GraniteRapids-v3 SierraForest "
    "SierraForest-v2 SierraForest-v3 ClearwaterForest".split())
#: ``CPUConfig.pm`` ``$depreacated_cpu_map``
DEPRECATED_CPU = {"Icelake-Client": "Icelake-Server",
                  "Icelake-Client-noTSX": "Icelake-Server-noTSX"}

#: keys that cannot change PCI, the memory map, memslots or DMA
IGNORED_KEYS = {"name", "description", "onboot", "startup", "protection", "tags", "lock",
                "digest", "smbios1", "vmgenid", "meta", "boot", "bootdisk", "agent", "tablet",
                "localtime", "tdf", "startdate", "keyboard", "hotplug", "reboot", "freeze",
                "template", "parent", "snaptime", "vmstatestorage", "hookscript", "serial0",
                "serial1", "serial2", "serial3", "cpulimit", "cpuunits", "affinity", "acpi",
                "kvm", "numa", "cores", "sockets", "vcpus", "ostype", "scsihw", "cdrom",
                "shares", "migrate_speed", "migrate_downtime", "watchdog", "rng0", "ivshmem",
                "balloon", "memory", "machine", "bios", "cpu", "vga", "efidisk0", "args",
                "allow-ksm", "spice_enhancements", "audio0", "tpmstate0", "arch", "ide"}


def parse_conf(text: str, source: str = "VM config") -> dict:
    """The current section of a VM config: ``key: value`` lines, ``#`` lines
    are the description; a ``[name]`` line starts a snapshot section, which
    ``qm showcmd`` does not use (``PVE::QemuConfig`` ``parse_vm_config``)."""
    conf: dict = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            break
        m = re.match(r"^([a-z][a-z_0-9-]*)\s*:\s*(.*?)\s*$", line)
        if not m:
            raise ParseError("expected 'key: value'", line_no=n, line=raw, source=source)
        key, value = m.groups()
        if key in conf:
            raise ParseError(f"duplicate key {key!r}", line_no=n, line=raw, source=source)
        conf[key] = value
    return conf


def _props(value: str, default_key: str | None, where: str) -> dict:
    """A property string ``a=b,c=d`` whose first bare item is ``default_key``
    (``PVE::JSONSchema::parse_property_string``)."""
    out: dict = {}
    for n, part in enumerate(value.split(",")):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        elif n == 0 and default_key:
            k, v = default_key, part
        else:
            raise CommandLineError(f"{where}: {part!r} is not key=value")
        out[k.strip()] = v.strip()
    return out


def _bool(v) -> bool:
    return str(v).lower() in ("1", "on", "yes", "true")


def _ver(s: str) -> tuple[int, int]:
    m = re.match(r"^(\d+)\.(\d+)", s)
    if not m:
        raise CommandLineError(f"version {s!r}")
    return int(m.group(1)), int(m.group(2))


class _MachineVersion:
    """``Helpers.pm`` ``min_version`` and ``config_to_command``'s
    ``$version_guard`` over a machine version ``major.minor+pveN``."""

    def __init__(self, major: int, minor: int, pve: int):
        self.v = (major, minor, pve)
        self.required_pve = 0

    def at_least(self, major, minor, pve=0) -> bool:
        return self.v >= (major, minor, pve)

    def guard(self, major, minor, pve=0) -> bool:
        if not self.at_least(major, minor, pve):
            return False
        top = PVE_MACHINE_REVISIONS.get((major, minor), 0)
        if self.at_least(major, minor, top + 1):
            return True
        if pve > self.required_pve:
            self.required_pve = pve
        return True


def _windows_version(ostype) -> int:
    """``Helpers.pm`` ``windows_version``."""
    if not ostype:
        return 0
    if ostype in ("wxp", "w2k3", "w2k"):
        return 5
    if ostype in ("w2k8", "wvista"):
        return 6
    m = re.match(r"^win(\d+)$", ostype)
    return int(m.group(1)) if m else 0


def _pci_addr(name: str) -> str:
    """``PCI.pm`` ``print_pci_addr``: ``,bus=pci.N,addr=0xS``."""
    if name not in PCI_ADDR:
        return ""
    bus, slot = PCI_ADDR[name]
    return f",bus=pci.{bus},addr={slot:#x}"


def _volume(volid: str, vmid: int, storages: dict, where: str, notes: list):
    """(path, QEMU block driver, format, storage type) of a volume
    (``PVE::Storage::path`` / ``parse_volname`` for directory, LVM, LVM-thin
    and ZFS-pool storages; ``/dev/cdrom`` for ``cdrom``; a path as it is)."""
    if volid == "cdrom":
        return "/dev/cdrom", "host_cdrom", "raw", None
    if volid.startswith("/"):
        fmt = "qcow2" if volid.endswith(".qcow2") else "raw"
        return volid, ("host_device" if volid.startswith("/dev/") else "file"), fmt, None
    if ":" not in volid:
        raise CommandLineError(f"{where}: volume {volid!r} is not STORAGE:VOLUME or a path")
    store, vol = volid.split(":", 1)
    sc = storages.get(store)
    if sc is None:
        notes.append(f"{where}: storage {store!r} is not in the storages given (a default "
                     f"install has {', '.join(STORAGES)}); its path is written as "
                     f"/dev/{store}/{vol} (a disk's path does not change PCI or the memory map)")
        return f"/dev/{store}/{vol}", "host_device", "raw", None
    kind = sc["type"]
    if kind in ("dir", "cifs", "nfs"):
        name = vol.rsplit("/", 1)[-1]
        fmt = name.rsplit(".", 1)[-1] if "." in name else "raw"
        if vol.startswith("iso/"):
            return f"{sc['path']}/template/iso/{vol[4:]}", "file", "raw", kind
        return f"{sc['path']}/images/{vol}", "file", fmt if fmt in ("qcow2", "vmdk") else "raw", kind
    if kind in ("lvm", "lvmthin"):
        return f"/dev/{sc['vgname']}/{vol}", "host_device", "raw", kind
    if kind == "zfspool":
        return f"/dev/zvol/{sc['pool']}/{vol}", "host_device", "raw", kind
    notes.append(f"{where}: storage type {kind!r} is not modelled; the path is written as "
                 f"/dev/{store}/{vol}")
    return f"/dev/{store}/{vol}", "host_device", "raw", kind


def _cache_direct(d: dict, stype) -> bool:
    """``Drive.pm`` ``drive_uses_cache_direct``."""
    if d.get("cache"):
        return d["cache"] in ("off", "none", "directsync")
    return d.get("media") != "cdrom" and stype != "btrfs"


def _aio(d: dict, stype, direct: bool) -> str:
    """``Drive.pm`` ``aio_cmdline_option`` / ``storage_allows_io_uring_default``:
    io_uring unless the storage is LVM (thick) or CIFS; then native with
    O_DIRECT, else threads."""
    if d.get("aio"):
        return d["aio"]
    if stype not in ("lvm", "cifs"):
        return "io_uring"
    return "native" if direct else "threads"


def _detect_zeroes(d: dict) -> str:
    """``Drive.pm`` ``detect_zeroes_cmdline_option``."""
    if d.get("detect_zeroes") is not None and not _bool(d["detect_zeroes"]):
        return "off"
    if d.get("discard") is not None:
        return "unmap" if d["discard"] == "on" else "on"
    return "on"


def _node_name(kind: str, drive_id: str, volid: str) -> str:
    """``Blockdev.pm`` ``get_node_name``: 'e'/'f' + the first 30 hex digits
    of sha256("drive=ID,volid=VOLID")."""
    h = hashlib.sha256(f"drive={drive_id},volid={volid}".encode()).hexdigest()[:30]
    return {"file": "e", "fmt": "f"}[kind] + h


def _cj(d) -> str:
    """``to_json($x, { canonical => 1 })``: keys sorted, no spaces."""
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


class _Gen:
    def __init__(self, conf: dict, *, vmid: int, qemu: str, source: str,
                 host_functions: dict | None, cpu_vendor: str | None = None,
                 storages: dict | None = None):
        self.conf = conf
        self.vmid = vmid
        self.kvmver = _ver(qemu)
        self.src = source
        self.notes: list[str] = []
        self.host_functions = host_functions or {}
        self.cpu_vendor = cpu_vendor
        self.storages = dict(STORAGES, **(storages or {}))

    # ------------------------------------------------------------------
    def machine(self):
        """``Machine.pm`` ``get_vm_machine`` and ``extract_version``."""
        mconf = _props(self.conf.get("machine", ""), "type", f"{self.src}: machine")
        for k in mconf:
            if k not in ("type", "viommu", "enable-s3", "enable-s4", "aw-bits"):
                raise CommandLineError(f"{self.src}: machine: {k}= is not modelled")
        if mconf.get("viommu"):
            raise CommandLineError(f"{self.src}: machine: viommu= (a vIOMMU) is not modelled")
        mtype = mconf.get("type") or "pc"
        self.mconf = mconf
        winver = _windows_version(self.conf.get("ostype"))
        kv = self.kvmver
        if mtype in ("pc", "q35"):
            if winver:
                # pinned to 5.1, or to the creation QEMU from 9.1 on
                # (windows_get_pinned_machine_version)
                base = (5, 1)
                meta = _props(self.conf.get("meta", ""), None, f"{self.src}: meta") \
                    if "=" in self.conf.get("meta", "") else {}
                cq = meta.get("creation-qemu")
                if cq and _ver(cq) >= (9, 1):
                    base = _ver(cq)
                if base > kv:
                    base = kv
                name = ("pc-q35-" if mtype == "q35" else "pc-i440fx-") + f"{base[0]}.{base[1]}"
                mtype = name + "+pve0"
            else:
                mtype += f"+pve{PVE_MACHINE_REVISIONS.get(kv, 0)}"
        elif not re.search(r"\+pve\d+$", mtype):
            mtype += "+pve0"
        m = re.match(r"^(?:pc(?:-i440fx|-q35)?)-(\d+)\.(\d+)(?:\+pve(\d+))?$", mtype)
        if m:
            ver = _MachineVersion(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
            if (ver.v[0], ver.v[1]) > kv:
                raise CommandLineError(
                    f"{self.src}: machine {mconf.get('type')}: installed QEMU "
                    f"{kv[0]}.{kv[1]} is too old to run it (config_to_command)")
        elif re.match(r"^(pc|q35)\+pve\d+$", mtype):
            ver = _MachineVersion(kv[0], kv[1], PVE_MACHINE_REVISIONS.get(kv, 0))
        else:
            raise CommandLineError(f"{self.src}: machine {mtype!r}: not a pc/q35 machine")
        self.mtype = mtype
        self.mver = ver
        self.q35 = "q35" in mtype
        self.winver = winver

    def qemu_machine(self) -> str:
        """The upstream QEMU machine a Proxmox machine name stands for
        (Proxmox's QEMU adds the ``+pveN`` variants of each versioned machine)."""
        base = re.sub(r"\+pve\d+$", "", self.mtype)
        if base in ("q35", "pc"):
            v = self.mver.v
            return ("pc-q35-" if base == "q35" else "pc-i440fx-") + f"{v[0]}.{v[1]}"
        return base

    # ------------------------------------------------------------------
    def run(self) -> list[str]:
        conf, vmid = self.conf, self.vmid
        for k in conf:
            base = re.sub(r"\d+$", "", k)
            if k not in IGNORED_KEYS and base not in ("hostpci", "net", "scsi", "virtio",
                                                      "sata", "ide", "unused", "usb",
                                                      "numa", "parallel", "serial"):
                raise CommandLineError(f"{self.src}: {k}: not modelled")
        if _bool(conf.get("template", "0")):
            raise CommandLineError(f"{self.src}: template: 1: a template only starts for "
                                   "backups, with a reduced config; not modelled")
        if conf.get("arch", "x86_64") != "x86_64":
            raise CommandLineError(f"{self.src}: arch {conf['arch']}: only x86_64 is modelled")
        if conf.get("hugepages"):
            raise CommandLineError(f"{self.src}: hugepages: not modelled")
        hot = conf.get("hotplug", "network,disk,usb")
        if "memory" in hot.split(",") or "cpu" in hot.split(","):
            raise CommandLineError(f"{self.src}: hotplug: memory/cpu hotplug is not modelled")
        self.machine()
        mv = self.mver
        kvm = _bool(conf.get("kvm", "1"))
        cmd = ["/usr/bin/kvm", "-id", str(vmid)]
        name = conf.get("name") or f"vm{vmid}"
        cmd += ["-name", f"{name},debug-threads=on" if self.kvmver < (11, 0) else name]
        cmd += ["-no-shutdown",
                "-chardev", f"socket,id=qmp,path=/var/run/qemu-server/{vmid}.qmp,server=on,wait=off",
                "-mon", "chardev=qmp,mode=control"]
        rec = "reconnect-ms=5000" if self.kvmver >= (9, 2) else "reconnect=5"
        cmd += ["-chardev", f"socket,id=qmp-event,path=/var/run/qmeventd.sock,{rec}",
                "-mon", "chardev=qmp-event,mode=control",
                "-pidfile", f"/var/run/qemu-server/{vmid}.pid", "-daemonize"]
        if conf.get("smbios1"):
            sm = _props(conf["smbios1"], None, f"{self.src}: smbios1")
            cmd += ["-smbios", "type=1" + "".join(f",{k}={v}" for k, v in sorted(sm.items())
                                                 if k != "base64")]
        machine_flags: list[str] = []
        devices: list[str] = []
        bridges: set = set()
        # OVMF (OVMF.pm print_ovmf_commandline)
        if conf.get("bios") == "ovmf":
            c, mf = self.ovmf()
            cmd += c
            machine_flags += mf
        elif conf.get("bios", "seabios") != "seabios":
            raise CommandLineError(f"{self.src}: bios {conf['bios']!r}: seabios or ovmf")
        if self.q35:
            devices += ["-readconfig", READCONFIG_Q35 if mv.at_least(4, 0)
                        else "/usr/share/qemu-server/pve-q35.cfg"]
            if not mv.at_least(4, 0):
                raise CommandLineError(f"{self.src}: machine {self.mtype}: q35 below 4.0 uses "
                                       "pve-q35.cfg, which is not modelled")
        # qemu_created_version_fixups
        mtype_conf = self.mconf.get("type")
        meta = conf.get("meta", "")
        cq = re.search(r"creation-qemu=([\d.]+)", meta)
        if (mtype_conf in (None, "pc", "q35") and (not cq or _ver(cq.group(1)) < (6, 1))
                and self.kvmver >= (6, 1) and self.q35 and conf.get("ostype") == "l26"):
            cmd += ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
        if conf.get("vmgenid"):
            devices += ["-device", f"vmgenid,guid={conf['vmgenid']}"]
        # USB controllers (USB.pm get_usb_controllers): PIIX3 UHCI on i440fx;
        # qemu-xhci when a usbN entry exists, from machine 7.1 for Linux and
        # Windows 8+; else nec-usb-xhci for usb3=1 entries
        usbs = [k for k in sorted(conf, key=lambda k: int(k[3:]) if k[3:].isdigit() else 0)
                if re.fullmatch(r"usb\d+", k)]
        ostype = conf.get("ostype")
        qxhci = mv.at_least(7, 1) and ostype is not None and \
            (ostype == "l26" or self.winver > 7)
        if not self.q35:
            devices += ["-device", "piix3-usb-uhci,id=uhci,bus=pci.0,addr=0x1.0x2"]
            bridges.add(0)
        usb_parsed = {k: _props(conf[k], "host", f"{self.src}: {k}") for k in usbs}
        use3 = any(_bool(d.get("usb3", "0")) for d in usb_parsed.values())
        use2 = any(not _bool(d.get("usb3", "0")) for d in usb_parsed.values())
        if not qxhci and not self.q35 and use2:
            raise CommandLineError(f"{self.src}: {usbs[0]}: USB 2 passthrough on i440fx "
                                   "(-readconfig pve-usb.cfg) is not modelled")
        if qxhci and usbs:
            devices += ["-device", "qemu-xhci,p2=15,p3=15,id=xhci" + _pci_addr("xhci")]
            bridges.add(1)
        elif use3:
            devices += ["-device", "nec-usb-xhci,id=xhci" + _pci_addr("xhci")]
            bridges.add(1)
        usb_devs = []
        for k, d in usb_parsed.items():
            i = int(k[3:])
            port = i + 1 if qxhci else None
            host = d.get("host", "")
            if host == "spice":
                raise CommandLineError(f"{self.src}: {k}: SPICE USB redirection is not modelled")
            s = "usb-host"
            if _bool(d.get("usb3", "0")) or port is not None:
                s += ",bus=xhci.0" + (f",port={port}" if port is not None else "")
            m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{4}):(?:0x)?([0-9a-fA-F]{4})", host)
            m2 = re.fullmatch(r"(\d+)-([\d.]+)", host)
            if m:
                s += f",vendorid=0x{m.group(1).lower()},productid=0x{m.group(2).lower()}"
            elif m2:
                s += f",hostbus={m2.group(1)},hostport={m2.group(2)}"
            else:
                raise CommandLineError(f"{self.src}: {k}: host={host!r}: expected "
                                       "VENDOR:PRODUCT or BUS-PORT")
            usb_devs += ["-device", s + f",id={k}"]
        vga = _props(conf.get("vga", ""), "type", f"{self.src}: vga") if conf.get("vga") else {}
        vtype = vga.get("type") or "std"
        if re.fullmatch(r"qxl\d?", vtype):
            raise CommandLineError(f"{self.src}: vga {vtype}: SPICE/qxl is not modelled")
        tablet = _bool(conf.get("tablet", "1")) and not vtype.startswith("serial")
        if tablet:
            devices += ["-device", "usb-tablet,id=tablet,bus=ehci.0,port=1" if self.q35
                        else "usb-tablet,id=tablet,bus=uhci.0,port=1"]
        boot = self.bootorder()
        kvm_off, gpu, hdevs = self.hostpci(devices, bridges, boot, vga)
        devices += usb_devs
        for i in range(4):
            if conf.get(f"serial{i}") == "socket":
                devices += ["-chardev", f"socket,id=serial{i},path=/var/run/qemu-server/"
                            f"{vmid}.serial{i},server=on,wait=off",
                            "-device", f"isa-serial,chardev=serial{i}"]
            elif conf.get(f"serial{i}"):
                devices += ["-chardev", f"serial,id=serial{i},path={conf[f'serial{i}']}",
                            "-device", f"isa-serial,chardev=serial{i}"]
        if conf.get("audio0"):
            raise CommandLineError(f"{self.src}: audio0: not modelled")
        if conf.get("tpmstate0"):
            # add_tpm_device: swtpm behind a tpm-tis (an ISA device, MMIO at 0xfed40000)
            devices += ["-chardev", f"socket,id=tpmchar,path=/var/run/qemu-server/{vmid}.swtpm",
                        "-tpmdev", "emulator,id=tpmdev,chardev=tpmchar",
                        "-device", "tpm-tis,tpmdev=tpmdev"]
        if not vga.get("type") and gpu and "vga" not in conf:
            vtype = "none"
        sockets = int(conf.get("sockets", conf.get("smp", 1)))
        cores = int(conf.get("cores", 1))
        vcpus = int(conf.get("vcpus", sockets * cores))
        cmd += ["-smp", f"{vcpus},sockets={sockets},cores={cores},maxcpus={sockets * cores}",
                "-nodefaults", "-boot",
                "menu=on,strict=on,reboot-timeout=1000,splash=/usr/share/qemu-server/bootsplash.jpg"]
        if vtype not in ("none",) and not vtype.startswith("serial"):
            drv = {"std": "VGA", "cirrus": "cirrus-vga", "vmware": "vmware-svga",
                   "virtio": "virtio-vga", "virtio-gl": "virtio-vga-gl"}.get(vtype)
            if drv is None:
                raise CommandLineError(f"{self.src}: vga {vtype!r}: not modelled")
            mem = ""
            if vga.get("memory"):
                mem = (f",max_hostmem={int(vga['memory']) << 20}" if vtype.startswith("virtio")
                       else f",vgamem_mb={vga['memory']}")
            edid = ",edid=off" if drv == "VGA" and self.winver and conf.get("bios") != "ovmf" else ""
            addr = ",bus=pcie.0,addr=0x1" if self.q35 else _pci_addr("vga")
            if not self.q35:
                bridges.add(0)
            devices += ["-device", f"{drv},id=vga{mem}{addr}{edid}"]
            cmd += ["-vnc", f"unix:/var/run/qemu-server/{vmid}.vnc,password=on"]
        else:
            if vtype == "none":
                cmd += ["-vga", "none"]
            cmd += ["-nographic"]
        # Cfg2Cmd/Timer.pm
        glob, rtc = [], []
        tdf = conf.get("tdf")
        localtime = conf.get("localtime")
        acpi = _bool(conf.get("acpi", "1"))
        if self.winver >= 5:
            if localtime is None:
                localtime = "1"
            if tdf is None and acpi:
                tdf = "1"
        if self.winver >= 6:
            glob.append("kvm-pit.lost_tick_policy=discard")
            machine_flags.append("hpet=off")
        elif conf.get("ostype") == "l26" and mv.guard(10, 1, 0):
            machine_flags.append("hpet=off")
        if tdf and _bool(tdf):
            rtc.append("driftfix=slew")
        if conf.get("startdate", "now") != "now":
            rtc.append(f"base={conf['startdate']}")
        elif localtime and _bool(localtime):
            rtc.append("base=localtime")
        for g in glob:
            cmd += ["-global", g]
        cmd += ["-cpu", self.cpu(kvm, kvm_off, gpu)]
        cmd += self.memory(sockets)
        # parse_guest_agent: 'agent: 1' or 'enabled=1[,type=virtio|isa]'
        agent = _props(conf.get("agent", "0"), "enabled", f"{self.src}: agent")
        if _bool(agent.get("enabled", "0")):
            devices += ["-chardev", f"socket,path=/var/run/qemu-server/{vmid}.qga,server=on,"
                        "wait=off,id=qga0"]
            if agent.get("type", "virtio") == "virtio":
                devices += ["-device", "virtio-serial,id=qga0" + _pci_addr("qga0"),
                            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"]
                bridges.add(0)
            elif agent.get("type") == "isa":
                devices += ["-device", "isa-serial,chardev=qga0"]
        devices += self.balloon_rng(bridges, vga)
        scsi_ctl, ahci_ctl = set(), set()
        for ds, drive in self.drives():
            devices_d, cmd_d = self.drive(ds, drive, boot, bridges, scsi_ctl, ahci_ctl)
            devices += devices_d
            cmd += cmd_d
        devices += self.nets(boot, bridges)
        if conf.get("ivshmem"):
            iv = _props(conf["ivshmem"], None, f"{self.src}: ivshmem")
            if "size" not in iv:
                raise CommandLineError(f"{self.src}: ivshmem: size= missing")
            bus = ",bus=pcie.0,addr=0x14" if self.q35 else _pci_addr("ivshmem")
            if not self.q35:
                bridges.add(2)
            devices += ["-device", f"ivshmem-plain,memdev=ivshmem{bus},",
                        "-object", "memory-backend-file,id=ivshmem,share=on,mem-path="
                        f"/dev/shm/pve-shm-{iv.get('name', vmid)},size={iv['size']}M"]
        # bridges (config_to_command): pci.4 sits behind pci.1; on i440fx
        # pci.1 and pci.2 always (machine >= 2.3), pci.3 for virtio-scsi-single
        if 4 in bridges:
            bridges.add(1)
        if not self.q35:
            bridges.update({1, 2})
            if conf.get("scsihw", "").startswith("virtio-scsi-single"):
                bridges.add(3)
        for k in sorted(bridges, key=str, reverse=True):
            if self.q35 and k < 4:
                continue
            if k == 0:
                continue
            devstr = f"pci-bridge,id=pci.{k},chassis_nr={k}" + _pci_addr(f"pci.{k}")
            if self.q35:
                devices[2:2] = ["-device", devstr]
            else:
                devices[0:0] = ["-device", devstr]
        if not kvm:
            machine_flags.append("accel=tcg")
        # Machine.pm get_power_state_flags: S3/S4 off by default from 9.2+pve1
        default_off = mv.guard(9, 2, 1)
        obj = "ICH9-LPC" if self.q35 else "PIIX4_PM"
        s3 = self.mconf.get("enable-s3")
        s4 = self.mconf.get("enable-s4")
        power = []
        if not (_bool(s3) if s3 is not None else not default_off):
            power += ["-global", f"{obj}.disable_s3=1"]
        if not (_bool(s4) if s4 is not None else not default_off):
            power += ["-global", f"{obj}.disable_s4=1"]
        cmd += power
        # should_disable_smm: SeaBIOS with no VGA (vga none/serialN, or
        # none because an x-vga GPU took over)
        if conf.get("bios", "seabios") == "seabios" and \
                (vtype == "none" or vtype.startswith("serial")):
            machine_flags.append("smm=off")
        mtype_min = re.sub(r"\+pve\d+$", "", self.mtype) + f"+pve{mv.required_pve}"
        machine_flags.append(f"type={mtype_min}")
        cmd += devices
        if rtc:
            cmd += ["-rtc", ",".join(rtc)]
        cmd += ["-machine", ",".join(machine_flags)]
        if conf.get("args"):
            try:
                cmd += shlex.split(conf["args"])
            except ValueError as e:
                raise CommandLineError(f"{self.src}: args: {e}") from None
        self.hostdevs = hdevs
        return cmd

    # ------------------------------------------------------------------
    def ovmf(self):
        """``OVMF.pm`` ``print_ovmf_commandline``: ``-drive if=pflash`` below
        machine 10.0, two ``-blockdev`` trees named by ``-machine
        pflash0=/pflash1=`` from 10.0 (``$version_guard->(10, 0, 0)``)."""
        conf = self.conf
        efi = _props(conf["efidisk0"], "file", f"{self.src}: efidisk0") if conf.get("efidisk0") else None
        kind = "default"
        if efi and efi.get("efitype") == "4m":
            kind = "4m" if self.q35 else "4m-no-smm"
            if _bool(efi.get("pre-enrolled-keys", "0")):
                kind += "-ms"
        code, vars_t, vars_size = OVMF_FILES[kind]
        if self.mver.guard(10, 0, 0):
            code_bd = {"driver": "raw", "file": {"driver": "file", "filename": code},
                       "node-name": "pflash0", "read-only": True}
            if not efi:
                raise CommandLineError(f"{self.src}: bios: ovmf without efidisk0 (qemu-server "
                                       "then copies a temporary VARS file) is not modelled")
            # "Prior to -blockdev, QEMU's default 'writeback' cache mode was
            # used for EFI disks" (generate_ovmf_blockdev)
            efi = dict(efi, cache=efi.get("cache", "writeback"))
            vars_bd = self.blockdev("efidisk0", efi, size=vars_size)
            cmd = ["-object", _cj({"id": "throttle-drive-efidisk0", "limits": {},
                                   "qom-type": "throttle-group"}),
                   "-blockdev", _cj(code_bd), "-blockdev", _cj(vars_bd)]
            return cmd, ["pflash0=pflash0", "pflash1=drive-efidisk0"]
        if not efi:
            raise CommandLineError(f"{self.src}: bios: ovmf without efidisk0 (qemu-server then "
                                   "copies a temporary VARS file) is not modelled")
        path, _drv, fmt, _st = _volume(efi["file"], self.vmid, self.storages,
                                       f"{self.src}: efidisk0", self.notes)
        fmt = efi.get("format", fmt)
        var = f"if=pflash,unit=1,id=drive-efidisk0,format={fmt},file={path}"
        if fmt == "raw" and self.mver.guard(4, 1, 2):
            var += f",size={vars_size}"
        return ["-drive", f"if=pflash,unit=0,format=raw,readonly=on,file={code}",
                "-drive", var], []

    def bootorder(self) -> dict:
        """``device_bootorder``: ``boot: order=a;b`` -> 100, 101, ...; else the
        legacy letters (default ``cdn``: the bootdisk 100, CD-ROMs 200+, NICs 300+)."""
        conf = self.conf
        boot = conf.get("boot")
        order: dict = {}
        if boot is not None and "order=" not in boot and \
                not _props(boot, "legacy", f"{self.src}: boot").get("legacy"):
            return order                # 'boot:' with neither: no boot indices
        if boot and "order=" in boot:
            items = _props(boot, "legacy", f"{self.src}: boot").get("order", "")
            for i, dev in enumerate(x for x in re.split(r"[;,]", items) if x):
                order[dev] = 100 + i
            return order
        legacy = (_props(boot, "legacy", f"{self.src}: boot").get("legacy") if boot else None) or "cdn"
        idx = {ch: (i + 1) * 100 for i, ch in enumerate(legacy)}
        for ds, drive in self.drives():
            if drive.get("media") == "cdrom" or drive.get("file") == "cdrom":
                if "d" in idx:
                    order[ds] = idx["d"]
                    idx["d"] += 1
            elif "c" in idx:
                if conf.get("bootdisk") == ds:
                    order[ds] = idx["c"]
                idx["c"] += 1
        if "n" in idx:
            for i in range(32):
                if conf.get(f"net{i}"):
                    order[f"net{i}"] = idx["n"]
                    idx["n"] += 1
        return order

    def drives(self):
        """``foreach_volume`` order: ide0-3, scsi0-30, virtio0-15, sata0-5."""
        for prefix, n in (("ide", 4), ("scsi", 31), ("virtio", 16), ("sata", 6)):
            for i in range(n):
                k = f"{prefix}{i}"
                if k in self.conf:
                    d = _props(self.conf[k], "file", f"{self.src}: {k}")
                    d["interface"], d["index"] = prefix, i
                    yield k, d

    def hostpci(self, devices, bridges, boot, vga):
        """``PCI.pm`` ``print_hostpci_devices``."""
        kvm_off = gpu = False
        hdevs = []
        for i in range(16):
            key = f"hostpci{i}"
            if key not in self.conf:
                continue
            d = _props(self.conf[key], "host", f"{self.src}: {key}")
            where = f"{self.src}: {key}"
            for k in d:
                if k not in ("host", "pcie", "x-vga", "rombar", "romfile", "vendor-id",
                             "device-id", "sub-vendor-id", "sub-device-id", "driver",
                             "legacy-igd"):
                    raise CommandLineError(f"{where}: {k}= is not modelled"
                                           + (" (a cluster resource mapping: give host= "
                                              "instead)" if k == "mapping" else ""))
            if "host" not in d:
                raise CommandLineError(f"{where}: no host= (qemu-server: \"Either 'host' or "
                                       "'mapping' must be set.\")")
            if _bool(d.get("pcie", "0")) and not self.q35:
                raise CommandLineError(f"{where}: pcie=1 needs the q35 machine "
                                       "(qemu-server: 'q35 machine model is not enabled')")
            if _bool(d.get("legacy-igd", "0")):
                raise CommandLineError(f"{where}: legacy-igd is not modelled")
            ids = []
            for h in d["host"].split(";"):
                ids += self.host_ids(h, where)
            if _bool(d.get("pcie", "0")):
                if self.winver == 7:
                    slot = {0: 16, 1: 17, 2: 18, 3: 19, 4: 9, 5: 10, 6: 11, 7: 12, 8: 13, 9: 14,
                            10: 15, 11: 21, 12: 22, 13: 23, 14: 24, 15: 25}[i]
                    addr = f",bus=pcie.0,addr={slot:#x}"
                else:
                    if i > 3:
                        n = i + 1
                        devices += ["-device", f"pcie-root-port,id=ich9-pcie-port-{n},addr="
                                    f"{ROOT_PORT_ADDR[i]},x-speed=16,x-width=32,multifunction=on,"
                                    f"bus=pcie.0,port={n},chassis={n}"]
                    addr = f",bus=ich9-pcie-port-{i + 1},addr=0x0"
            else:
                addr = _pci_addr(key)
                bridges.add(PCI_ADDR[key][0])
            multi = len(ids) > 1
            xvga = ""
            if _bool(d.get("x-vga", "0")):
                if self.conf.get("bios") != "ovmf":
                    xvga = ",x-vga=on"
                kvm_off = True
                gpu = True
            for j, host in enumerate(ids):
                mf = f".{j}" if multi else ""
                s = f"vfio-pci,host={host},id={key}{mf}{addr}{mf}"
                if j == 0:
                    if "rombar" in d and not _bool(d["rombar"]):
                        s += ",rombar=0"
                    s += xvga
                    if multi:
                        s += ",multifunction=on"
                    if d.get("romfile"):
                        s += f",romfile=/usr/share/kvm/{d['romfile']}"
                    if boot.get(key):
                        s += f",bootindex={boot[key]}"
                    for opt in ("vendor-id", "device-id", "sub-vendor-id", "sub-device-id"):
                        if d.get(opt):
                            s += f",x-pci-{opt}={d[opt]}"
                devices += ["-device", s]
                hdevs.append(host)
        return kvm_off, gpu, hdevs

    def host_ids(self, h: str, where: str) -> list[str]:
        """A HOSTPCIID: ``[DDDD:]BB:DD.F`` is that function; ``[DDDD:]BB:DD``
        is every function of the device (``PVE::SysFSTools::lspci``), which
        only the host knows: taken from ``host_functions``."""
        m = re.fullmatch(r"(?:([0-9a-fA-F]{4,}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})(?:\.([0-7]))?", h)
        if not m:
            raise CommandLineError(f"{where}: {h!r} is not a host PCI id ([DDDD:]BB:DD[.F])")
        dom = (m.group(1) or "0000").lower()
        base = f"{dom}:{m.group(2).lower()}:{m.group(3).lower()}"
        if m.group(4) is not None:
            return [f"{base}.{m.group(4)}"]
        funcs = self.host_functions.get(base)
        if not funcs:
            raise CommandLineError(
                f"{where}: {h!r} names every function of the host device, which qemu-server "
                "reads from the host's sysfs; name the functions (e.g. --host-device "
                f"{base}.0=FILE --host-device {base}.1=FILE) or write {h}.0;{h}.1")
        return [f"{base}.{f}" for f in sorted(funcs)]

    def cpu(self, kvm: bool, kvm_off: bool, gpu: bool) -> str:
        """``CPUConfig.pm`` ``get_cpu_options``: the model (default kvm64 with
        KVM), PVE's flags, Hyper-V enlightenments for Windows, the VM's
        ``flags``, then ``phys-bits`` (``host`` -> ``host-phys-bits=true``) and
        ``guest-phys-bits``; flags sorted by name (``print_cpu_flags``)."""
        conf = self.conf
        cputype = "kvm64" if kvm else "qemu64"
        cpu = {}
        if conf.get("cpu"):
            cpu = _props(conf["cpu"], "cputype", f"{self.src}: cpu")
            cputype = cpu.get("cputype", cputype)
            if cputype.startswith("custom-"):
                raise CommandLineError(f"{self.src}: cpu {cputype}: custom CPU models live in "
                                       "/etc/pve/virtual-guest/cpu-models.conf; not modelled")
            if "hidden" in cpu:
                kvm_off = _bool(cpu["hidden"])
        # builtin models (CPUConfig.pm $builtin_models): x86-64-v2-AES etc.
        builtin = {"x86-64-v2": ("qemu64", "+popcnt;+sse4.1;+sse4.2;+ssse3"),
                   "x86-64-v2-AES": ("qemu64", "+aes;+popcnt;+sse4.1;+sse4.2;+ssse3"),
                   "x86-64-v3": ("qemu64", "+aes;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+movbe;"
                                 "+popcnt;+sse4.1;+sse4.2;+ssse3;+xsave"),
                   "x86-64-v4": ("qemu64", "+aes;+avx;+avx2;+avx512bw;+avx512cd;+avx512dq;"
                                 "+avx512f;+avx512vl;+bmi1;+bmi2;+f16c;+fma;+movbe;+popcnt;"
                                 "+sse4.1;+sse4.2;+ssse3;+xsave")}
        flags: dict = {}
        bflags = None
        if cputype in builtin:
            cputype, bflags = builtin[cputype]
        cputype = DEPRECATED_CPU.get(cputype, cputype)
        if cputype not in AMD_MODELS | INTEL_MODELS | GENERIC_MODELS:
            raise CommandLineError(f"{self.src}: cpu {cputype!r}: qemu-server: \"CPU model "
                                   f"'{cputype}' does not exist\"")
        if cputype == "kvm64":
            flags["lahf_lm"] = ("+", None)
        if cputype in ("kvm64", "kvm32"):
            flags["sep"] = ("+", None)
        if cputype.startswith("Opteron"):
            flags["rdtscp"] = ("-", None)
        if conf.get("ostype") == "solaris":
            flags["x2apic"] = ("-", None)
        if kvm and self.mver.guard(2, 3):
            flags["kvm_pv_unhalt"] = ("+", None)
            flags["kvm_pv_eoi"] = ("+", None)
        if self.kvmver >= (11, 0) and self.winver >= 11:
            flags["cet-ibt"] = ("-", None)
            flags["cet-ss"] = ("-", None)
        if self.kvmver >= (11, 0) and cputype == "host" and not self.mver.guard(11, 0):
            flags["vmx-mbec"] = ("-", None)
        if kvm and self.winver >= 6 and not (conf.get("bios") == "ovmf" and self.winver < 8):
            hv = {}
            if gpu or cpu.get("hv-vendor-id"):
                hv["hv_vendor_id"] = cpu.get("hv-vendor-id", "proxmox")
            hv.update({"hv_spinlocks": "0x1fff", "hv_vapic": None, "hv_time": None,
                       "hv_reset": None, "hv_vpindex": None, "hv_runtime": None})
            if self.winver >= 7:
                hv.update({"hv_relaxed": None, "hv_synic": None, "hv_stimer": None,
                           "hv_ipi": None})
            if self.winver >= 11 and self.mver.at_least(11, 0, 2):
                # the host's vendor is read first; the guard (which may
                # raise the machine's +pveN) only runs on Intel hosts
                if self.cpu_vendor is None:
                    raise CommandLineError(f"{self.src}: hv_evmcs depends on the host CPU's "
                                           "vendor; give it (--cpu-vendor)")
                if self.cpu_vendor == "GenuineIntel" and self.mver.guard(11, 0, 2):
                    hv["hv_evmcs"] = None
            for k, v in hv.items():
                flags[k] = ("", v)
        for src in (bflags, cpu.get("flags")):
            for f in (src or "").split(";"):
                if not f:
                    continue
                if f[0] not in "+-":
                    raise CommandLineError(f"{self.src}: cpu flags: {f!r} needs + or -")
                flags[f[1:]] = (f[0], None)
        if cputype != "host" and kvm:
            flags["enforce"] = ("", None)
        if kvm_off:
            flags["kvm"] = ("", "off")
        if cputype in AMD_MODELS:
            flags["vendor"] = ("", "AuthenticAMD")
        elif cputype in INTEL_MODELS:
            flags["vendor"] = ("", "GenuineIntel")
        s = cputype
        if cpu.get("level"):
            s += f",level={cpu['level']}"
        for k in sorted(flags):
            op, v = flags[k]
            s += f",{op}{k}" + (f"={v}" if v else "")
        for opt in ("guest-phys-bits", "phys-bits"):
            v = cpu.get(opt)
            if not v:
                continue
            if v == "host":
                if opt == "guest-phys-bits":
                    raise CommandLineError(f"{self.src}: cpu guest-phys-bits=host is invalid")
                s += ",host-phys-bits=true"
            else:
                s += f",{opt}={int(v)}"
        return s

    def memory(self, sockets: int) -> list[str]:
        """``Memory.pm`` ``config``: ``-m MiB`` (``$memory_fmt`` default 512)
        and, with ``numa: 1``, one memory-backend-ram per socket."""
        mem = self.conf.get("memory", "512")
        m = re.fullmatch(r"(?:current=)?(\d+)", mem)
        if not m:
            raise CommandLineError(f"{self.src}: memory {mem!r}: expected MiB")
        size = int(m.group(1))
        out = ["-m", str(size)]
        if _bool(self.conf.get("numa", "0")):
            if any(re.fullmatch(r"numa\d+", k) for k in self.conf):
                raise CommandLineError(f"{self.src}: numaN: explicit NUMA nodes are not modelled")
            per = size // sockets
            for n in range(sockets):
                out += ["-object", f"memory-backend-ram,id=ram-node{n},size={per}M",
                        "-numa", f"node,nodeid={n},cpus={n},memdev=ram-node{n}"]
        return out

    def balloon_rng(self, bridges, vga) -> list[str]:
        out = []
        if self.conf.get("rng0") and self.mver.guard(4, 1, 2):
            r = _props(self.conf["rng0"], "source", f"{self.src}: rng0")
            out += ["-object", f"rng-random,filename={r['source']},id=rng0",
                    "-device", "virtio-rng-pci,rng=rng0" + (
                        f",max-bytes={r['max_bytes']},period={r.get('period', 1000)}"
                        if r.get("max_bytes") else "") + _pci_addr("rng0")]
            bridges.add(1)
        if vga.get("clipboard") == "vnc":
            # the VNC clipboard: a virtio-serial port to qemu-vdagent
            out += ["-device", "virtio-serial,id=spice" + _pci_addr("spice"),
                    "-chardev", "qemu-vdagent,id=vdagent,name=vdagent,clipboard=on",
                    "-device", "virtserialport,chardev=vdagent,name=com.redhat.spice.0"]
            bridges.add(0)
        # "enable balloon by default, unless explicitly disabled" (balloon: 0)
        if self.conf.get("balloon", "1").strip() not in ("0", ""):
            s = "virtio-balloon-pci,id=balloon0" + _pci_addr("balloon0")
            if self.mver.at_least(6, 2):
                s += ",free-page-reporting=on"
            out += ["-device", s]
            bridges.add(0)
        return out

    def drive(self, ds, d, boot, bridges, scsi_ctl, ahci_ctl):
        """A disk: controller (``scsihw``, ahci), backend (``-drive`` below
        machine 10.0, ``-blockdev`` from 10.0) and front end
        (``DriveDevice.pm`` ``print_drivedevice_full``)."""
        conf, mv = self.conf, self.mver
        devices, cmd = [], []
        iface, idx = d["interface"], d["index"]
        where = f"{self.src}: {ds}"
        cd = d.get("media") == "cdrom"          # Drive.pm drive_is_cdrom
        if iface == "scsi":
            scsihw = conf.get("scsihw", "lsi")
            maxdev = 7 if scsihw.startswith("lsi") else (1 if scsihw == "virtio-scsi-single" else 256)
            ctl = idx // maxdev
            prefix = "virtioscsi" if scsihw == "virtio-scsi-single" else "scsihw"
            if ctl not in scsi_ctl:
                hw = "virtio-scsi-pci" if scsihw.startswith("virtio-scsi") else scsihw
                if hw not in ("virtio-scsi-pci", "lsi", "lsi53c810", "megasas", "pvscsi"):
                    raise CommandLineError(f"{where}: scsihw {scsihw!r}: not modelled")
                devices += ["-device", f"{hw},id={prefix}{ctl}" + _pci_addr(f"{prefix}{ctl}")]
                bridges.add(PCI_ADDR[f"{prefix}{ctl}"][0])
                scsi_ctl.add(ctl)
        if iface == "sata":
            ctl = idx // 6
            if ctl not in ahci_ctl:
                devices += ["-device", f"ahci,id=ahci{ctl},multifunction=on" + _pci_addr(f"ahci{ctl}")]
                bridges.add(0)
                ahci_ctl.add(ctl)
        if iface == "virtio" and _bool(d.get("iothread", "0")):
            cmd += ["-object", f"iothread,id=iothread-{ds}"]
        if _bool(d.get("scsiblock", "0")):
            raise CommandLineError(f"{where}: scsiblock=1 (scsi-block passthrough) is not "
                                   "modelled")
        file = d["file"]
        has_media = file not in ("none",)
        if has_media and mv.guard(10, 0, 0):
            cmd += ["-object", _cj({"id": f"throttle-drive-{ds}", "limits": {},
                                    "qom-type": "throttle-group"})]
            devices += ["-blockdev", _cj(self.blockdev(ds, d))]
        elif has_media:
            devices += ["-drive", self.drive_opts(ds, d)]
        elif not mv.at_least(10, 0):
            devices += ["-drive", self.drive_opts(ds, d)]
        drive_arg = f",drive=drive-{ds}" if (not mv.at_least(10, 0) or has_media) else ""
        if iface == "virtio":
            s = f"virtio-blk-pci{drive_arg},id={ds}" + _pci_addr(ds)
            bridges.add(PCI_ADDR[ds][0])
            if _bool(d.get("iothread", "0")):
                s += f",iothread=iothread-{ds}"
        elif iface == "scsi":
            scsihw = conf.get("scsihw", "lsi")
            maxdev = 7 if scsihw.startswith("lsi") else (1 if scsihw == "virtio-scsi-single" else 256)
            prefix = "virtioscsi" if scsihw == "virtio-scsi-single" else "scsihw"
            dtype = "cd" if cd else "hd"
            if scsihw.startswith("lsi") or scsihw == "pvscsi":
                s = f"scsi-{dtype},bus={prefix}{idx // maxdev}.0,scsi-id={idx % maxdev}"
            else:
                s = f"scsi-{dtype},bus={prefix}{idx // maxdev}.0,channel=0,scsi-id=0,lun={idx}"
            s += f"{drive_arg},id={ds}"
            if mv.at_least(10, 0):
                s += f",device_id=drive-{ds}"
            if _bool(d.get("ssd", "0")):
                s += ",rotation_rate=1"
        else:
            maxdev = 6 if iface == "sata" else 2
            ctl, unit = idx // maxdev, idx % maxdev
            if self.q35 and iface == "ide":
                ctl += 2 * (unit % 2)
                unit = 0
            s = "ide-cd" if cd else "ide-hd"
            s += f",bus=ide.{ctl},unit={unit}" if iface == "ide" else f",bus=ahci{ctl}.{unit}"
            s += f"{drive_arg},id={ds}"
            if not cd and _bool(d.get("ssd", "0")):
                s += ",rotation_rate=1"
        if boot.get(ds):
            s += f",bootindex={boot[ds]}"
        if mv.at_least(10, 0) and not cd:
            wc = "off" if d.get("cache") in ("writethrough", "directsync") else "on"
            s += f",write-cache={wc}"
        devices += ["-device", s]
        return devices, cmd

    def blockdev(self, ds: str, d: dict, size: int | None = None) -> dict:
        """``Blockdev.pm`` ``generate_drive_blockdev``: a throttle node over
        the format node over the file node (``get_node_name``), with the
        cache, aio, discard and detect-zeroes rules of ``Drive.pm``."""
        where = f"{self.src}: {ds}"
        path, drv, fmt, stype = _volume(d["file"], self.vmid, self.storages, where, self.notes)
        fmt = d.get("format", fmt)
        cd = d.get("media") == "cdrom"
        if cd and drv == "host_device":
            drv = "host_cdrom"
        direct = _cache_direct(d, stype)
        cache = {"direct": direct, "no-flush": d.get("cache") == "unsafe"}
        common = {} if cd else {"detect-zeroes": _detect_zeroes(d),
                                "discard": "unmap" if d.get("discard") == "on" else "ignore"}
        ro = cd or _bool(d.get("ro", "0"))
        filen = {"cache": cache, **common, "driver": drv, "filename": path,
                 "node-name": _node_name("file", ds, d["file"]), "read-only": ro}
        if drv in ("file", "host_cdrom", "host_device"):
            filen["aio"] = _aio(d, stype, direct)
        fmtn = {"cache": cache, **common, "driver": fmt, "file": filen,
                "node-name": _node_name("fmt", ds, d["file"]), "read-only": ro}
        if size is not None and fmt == "raw":
            fmtn["size"] = size
        top = {**common, "driver": "throttle", "file": fmtn, "node-name": f"drive-{ds}",
               "read-only": ro, "throttle-group": f"throttle-drive-{ds}"}
        return top

    def drive_opts(self, ds: str, d: dict) -> str:
        """``print_drive_commandline_full`` (below machine 10.0)."""
        where = f"{self.src}: {ds}"
        opts = ""
        for o in ("media", "cache", "rerror", "werror", "discard"):
            if d.get(o) is not None:
                opts += f",{o}={d[o]}"
        if d.get("ro") is not None:
            opts += ",readonly=" + ("on" if _bool(d["ro"]) else "off")
        pathinfo, stype = "", None
        if d["file"] != "none":
            path, _drv, fmt, stype = _volume(d["file"], self.vmid, self.storages, where,
                                             self.notes)
            opts += f",format={d.get('format', fmt)}"
            pathinfo = f"file={path},"
        direct = _cache_direct(d, stype)
        if not d.get("cache") and direct:
            opts += ",cache=none"
        opts += f",aio={_aio(d, stype, direct)}"
        if d.get("media") != "cdrom":
            opts += f",detect-zeroes={_detect_zeroes(d)}"
        return f"{pathinfo}if=none,id=drive-{ds}{opts}"

    def nets(self, boot, bridges) -> list[str]:
        """``print_netdev_full`` / ``print_netdevice_full``: a tap with the
        pve-bridge scripts (vhost for virtio), then the NIC on its slot."""
        out = []
        mv = self.mver
        for i in range(32):
            key = f"net{i}"
            if key not in self.conf:
                continue
            first = self.conf[key].split(",", 1)[0]
            model, _, mac = first.partition("=")
            rest = _props(self.conf[key].split(",", 1)[1] if "," in self.conf[key] else "",
                          None, f"{self.src}: {key}")
            dev = {"virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e",
                   "rtl8139": "rtl8139", "vmxnet3": "vmxnet3"}.get(model)
            if dev is None:
                raise CommandLineError(f"{self.src}: {key}: model {model!r} not modelled")
            if not mac:
                raise CommandLineError(f"{self.src}: {key}: no MAC address (qemu-server "
                                       "writes one into the config when it creates the NIC)")
            nd = f"type=tap,id={key},ifname=tap{self.vmid}i{i}," \
                 "script=/usr/libexec/qemu-server/pve-bridge," \
                 "downscript=/usr/libexec/qemu-server/pve-bridgedown"
            if model == "virtio":
                nd += ",vhost=on"
            if rest.get("queues") and int(rest["queues"]) > 0:
                nd += f",queues={int(rest['queues'])}"
            if not rest.get("bridge"):
                nd = f"type=user,id={key},hostname={self.conf.get('name') or 'vm' + str(self.vmid)}"
            out += ["-netdev", nd]
            mv.guard(10, 0, 1)
            s = f"{dev},mac={mac},netdev={key}" + _pci_addr(key) + f",id={key}"
            bridges.add(PCI_ADDR[key][0])
            q = int(rest.get("queues", "0") or 0)
            if q > 1 and model == "virtio":
                s += f",vectors={q * 2 + 2},mq=on"
                if mv.at_least(7, 1):
                    s += ",packed=on"
            if mv.at_least(7, 1) and model == "virtio":
                s += ",rx_queue_size=1024,tx_queue_size=256"
            if boot.get(key):
                s += f",bootindex={boot[key]}"
            if model == "virtio" and rest.get("bridge"):
                # the bridge's MTU is read from the host; 1500 is Linux's default
                mtu = int(rest.get("mtu", "1") or 1)
                if mtu == 1:
                    self.notes.append(f"{key}: host_mtu is the MTU of bridge "
                                      f"{rest['bridge']}, read from the host; taken as 1500")
                    mtu = 1500
                if mv.at_least(10, 0, 1) or mtu != 1500:
                    s += f",host_mtu={mtu}"
            if mv.at_least(11, 0, 1) and model == "virtio":
                s += ",host_tunnel=off"
            out += ["-device", s]
        return out


def proxmox_argv(text: str, *, vmid: int = 100, qemu: str = "7.2",
                 source: str = "VM config", host_functions: dict | None = None,
                 notes: list | None = None, cpu_vendor: str | None = None,
                 storages: dict | None = None) -> list[str]:
    """The argv ``qm showcmd VMID`` would print for this config, with the
    installed QEMU at version ``qemu`` (``major.minor``).  ``storages`` adds
    to the default install's storages (:data:`STORAGES`): ``{id: {"type":
    "dir"|"cifs"|"nfs"|"lvm"|"lvmthin"|"zfspool", "path"|"vgname"|"pool": ...}}``."""
    conf = parse_conf(text, source)
    g = _Gen(conf, vmid=vmid, qemu=qemu, source=source, host_functions=host_functions,
             cpu_vendor=cpu_vendor, storages=storages)
    argv = g.run()
    if notes is not None:
        notes.extend(g.notes)
    return argv


def qemu_args_for_model(argv: list[str], *, qemu: str = "7.2") -> list[str]:
    """The same command line in upstream QEMU's terms, for the command-line
    reader: ``-readconfig pve-q35-4.0.cfg`` becomes the ``-device`` options
    of its sections, and ``q35+pveN``/``pc-q35-X.Y+pveN`` the machine it
    stands for (``pc-q35-<installed QEMU>``/``pc-q35-X.Y``); ``-id`` (an
    option only Proxmox's QEMU has) is dropped; ``-accel kvm`` first when
    no accelerator is named (the program is ``kvm``, which prefers KVM)."""
    out = []
    kv = _ver(qemu)
    args = argv[1:] if argv and not argv[0].startswith("-") else list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-readconfig" and i + 1 < len(args):
            if args[i + 1] != READCONFIG_Q35:
                raise CommandLineError(f"-readconfig {args[i + 1]}: only {READCONFIG_Q35} "
                                       "is known")
            for did, props in PVE_Q35_4_0_CFG:
                p = dict(props)
                drv = p.pop("driver")
                out += ["-device", ",".join([drv, f"id={did}"] + [f"{k}={v}" for k, v in
                                                                   p.items()])]
            i += 2
            continue
        if a == "-id" and i + 1 < len(args):
            # -id VMID is an option of Proxmox's QEMU build only (pve-qemu-kvm);
            # it names the VM and changes nothing the model reads
            i += 2
            continue
        if a == "-machine" and i + 1 < len(args):
            parts = []
            for p in args[i + 1].split(","):
                if p.startswith("type="):
                    t = re.sub(r"\+pve\d+$", "", p[5:])
                    if t in ("q35", "pc"):
                        t = ("pc-q35-" if t == "q35" else "pc-i440fx-") + f"{kv[0]}.{kv[1]}"
                    p = "type=" + t
                parts.append(p)
            out += ["-machine", ",".join(parts)]
            i += 2
            continue
        out.append(a)
        i += 1
    # qemu-server runs /usr/bin/kvm (Helpers.pm get_command_for_arch) and
    # names no accelerator unless 'kvm: 0' (QemuServer.pm: -machine
    # accel=tcg); a program named *kvm tries KVM first (paste.py)
    return with_program_accel("/usr/bin/kvm", out)


def format_showcmd(argv: list[str]) -> str:
    """``qm showcmd --pretty``: the program, then one option and its value per
    line, shell-quoted, joined with `` \\``."""
    lines = [argv[0]]
    i = 1
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            lines.append(f"  {argv[i]} {shlex.quote(argv[i + 1])}")
            i += 2
        else:
            lines.append(f"  {argv[i]}")
            i += 1
    return " \\\n".join(lines) + "\n"


def read_proxmox_conf(path: str, *, qemu: str = "7.2", vmid: int | None = None,
                      host_functions: dict | None = None,
                      notes: list | None = None, cpu_vendor: str | None = None) -> list[str]:
    """The argv for the VM config in ``path`` (VMID from a ``NNN.conf`` name)."""
    from .paste import read_user_text
    text = read_user_text(path, "--proxmox-conf")
    if vmid is None:
        m = re.search(r"(\d+)\.conf$", path)
        vmid = int(m.group(1)) if m else 100
    return proxmox_argv(text, vmid=vmid, qemu=qemu, source=path,
                        host_functions=host_functions, notes=notes, cpu_vendor=cpu_vendor)
