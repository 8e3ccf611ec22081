"""The software stack a prediction is made for.

A :class:`Stack` names every version the model's answer depends on: the QEMU
release, the machine type (with its version: ``pc-q35-7.2`` run by QEMU 10.0
is not ``q35`` on QEMU 10.0), the guest firmware and its release, the host
kernel, the host CPU (its vendor is what KVM guests see, its physical-address
width is what ``host-phys-bits`` copies) and the accelerator.  Every rule of
the model whose behaviour changed between releases reads the stack, and its
docstring names the boundary and the commit or release where it moved; no
rule reads a global default.

Two presets stand for what most users run:

``debian12``  QEMU 7.2 (``qemu-system-x86`` 1:7.2+dfsg-7+deb12u*), SeaBIOS
              1.16.2, OVMF 2022.11, Linux 6.1
``debian13``  QEMU 10.0, SeaBIOS 1.16.3, OVMF 2025.02, Linux 6.12

:func:`make_stack` builds one from a preset and overrides (the CLI's
``--stack``, ``--qemu``, ``--firmware``, ``--kernel``, ``--cpu-vendor``,
``--phys-bits``); :meth:`Stack.for_machine` then fixes the machine type a
command line's ``-machine`` resolves to on that QEMU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "Stack", "PRESETS", "QEMU_VERSIONS", "FIRMWARES", "DEFAULT_STACK", "make_stack",
    "parse_version", "bundled_seabios", "resolve_machine", "host_cpu",
]

#: QEMU releases the model knows, and what each rests on: ``captured`` where
#: data/references/ has real runs of that release that the model reproduces
#: (7.2.22 of Debian 12; 10.0.2 of Debian 13 / bookworm-backports, issue
#: 12), ``source`` where the model restates the release's source with no
#: capture (its output notes say so; docs/qemu-versions.md has a table per
#: release).
QEMU_VERSIONS = {"7.2": "captured", "8.2": "source", "9.2": "source", "10.0": "captured",
                 "10.2": "source"}
#: guest firmware builds the model knows: (kind, release)
FIRMWARES = {
    "seabios-1.16.2": ("seabios", "1.16.2"),
    "seabios-1.16.3": ("seabios", "1.16.3"),
    "seabios-1.17.0": ("seabios", "1.17.0"),
    "ovmf-2022.11": ("ovmf", "2022.11"),
    "ovmf-2025.02": ("ovmf", "2025.02"),
}
#: host kernels whose rules the model names (any X.Y is accepted; rules compare)
KERNEL_EXAMPLES = ("6.1", "6.12")


def parse_version(text: str, what: str) -> tuple[int, int]:
    """``"10.0"`` -> ``(10, 0)``; ``"6.12.38"`` -> ``(6, 12)``."""
    m = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)?(?:[-+~][\w.+~-]*)?\s*", str(text))
    if not m:
        raise ConfigError(f"{what} {text!r}: expected a version such as 7.2 or 6.12")
    return int(m.group(1)), int(m.group(2))


def bundled_seabios(qemu: tuple[int, int]) -> str:
    """The SeaBIOS release upstream QEMU bundles (its ``roms/seabios``
    submodule and ``pc-bios/bios-256k.bin``): 1.16.3 from QEMU 8.2 (commit
    eb0ce1346e "seabios: update binaries to 1.16.3 release"), 1.17.0 from
    QEMU 10.1 (cba36cf388).  Before 8.2 the model has 1.16.2, the Debian 12
    build of the 1.16 series that the 7.2 references ran (upstream 7.2
    bundles 1.16.1, 8.0 and 8.1 1.16.2: no difference for the model).  So
    8.2, 9.2 and 10.0 get 1.16.3 (as Debian 13's QEMU 10.0 does), 10.2
    1.17.0."""
    if qemu >= (10, 1):
        return "1.17.0"
    if qemu >= (8, 2):
        return "1.16.3"
    return "1.16.2"


@dataclass(frozen=True)
class Stack:
    """What a prediction is for.  Versions are ``(major, minor)`` tuples."""

    name: str
    qemu: tuple[int, int]
    firmware: str                 # "seabios" | "ovmf"
    firmware_version: str         # "1.16.2", "2025.02", ...
    kernel: tuple[int, int]
    #: the host CPU: under KVM QEMU gives the guest the host's vendor
    #: (target/i386/host-cpu.c ``host_cpu_instance_init``) and, with
    #: host-phys-bits, the host's physical-address width
    cpu_vendor: str = "GenuineIntel"
    host_phys_bits: int = 46
    cpu_from: str = "assumed"
    #: whether KVM may build 5-level TDP tables (mmu.c ``kvm_mmu_get_tdp_level``):
    #: on Intel the CPU's EPT supports a 5-level walk (IA32_VMX_EPT_VPID_CAP
    #: bit 7, ``cpu_has_vmx_ept_5levels``; "ept_5level" in /proc/cpuinfo's vmx
    #: flags), on AMD the host kernel runs with 5-level paging (svm.c
    #: ``get_npt_level``: ``pgtable_l5_enabled()``; "la57" in /proc/cpuinfo).
    #: Assumed False (4-level hosts), the same in Linux 6.1 and 6.12.
    host_5level: bool = False
    #: whether the host's KVM offers SMM (``KVM_CAP_X86_SMM``, QEMU
    #: ``kvm_has_smm()``), which ``-machine smm=auto`` follows under KVM
    #: (hw/i386/x86.c ``x86_machine_is_smm_enabled``).  False by default: the
    #: host every capture in data/references/ was made on (nested KVM) has
    #: none, as the 7.2 captures show (no ``KVM-SMRAM`` address space).  On
    #: QEMU >= 9.1 it decides whether q35 builds its SMRAM regions
    #: (model/machine.py ``has_smm_ranges``).
    host_kvm_smm: bool = False
    #: "kvm" or "tcg"; None until a command line says (QEMU's own default is TCG)
    accel: str | None = None
    #: the machine type the command line resolves to on this QEMU, with its version
    machine: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    # -- version tests the rules use -------------------------------------
    def qemu_at_least(self, major: int, minor: int = 0) -> bool:
        return self.qemu >= (major, minor)

    def kernel_at_least(self, major: int, minor: int = 0) -> bool:
        return self.kernel >= (major, minor)

    @property
    def machine_version(self) -> tuple[int, int]:
        """The version of the machine type (``pc-q35-7.2`` -> (7, 2)); the
        QEMU release itself for an unversioned alias."""
        if self.machine:
            m = re.search(r"-(\d+)\.(\d+)$", self.machine)
            if m:
                return int(m.group(1)), int(m.group(2))
        return self.qemu

    def machine_at_least(self, major: int, minor: int = 0) -> bool:
        return self.machine_version >= (major, minor)

    @property
    def qemu_text(self) -> str:
        return f"{self.qemu[0]}.{self.qemu[1]}"

    @property
    def firmware_text(self) -> str:
        return f"{self.firmware}-{self.firmware_version}"

    def for_machine(self, machine: str) -> "Stack":
        """This stack with ``-machine`` resolved (see :func:`resolve_machine`)."""
        return replace(self, machine=resolve_machine(machine, self.qemu))

    def with_accel(self, accel: str | None) -> "Stack":
        return replace(self, accel=accel)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "qemu": self.qemu_text,
            "qemu_evidence": QEMU_VERSIONS.get(self.qemu_text, "source"),
            "machine": self.machine,
            "firmware": self.firmware_text,
            "kernel": f"{self.kernel[0]}.{self.kernel[1]}",
            "cpu_vendor": self.cpu_vendor,
            "host_phys_bits": self.host_phys_bits,
            "cpu_from": self.cpu_from,
            "host_5level": self.host_5level,
            "accel": self.accel,
            "host_kvm_smm": self.host_kvm_smm,
            "notes": list(self.notes),
        }


PRESETS = {
    "debian12": dict(qemu=(7, 2), firmware="seabios", firmware_version="1.16.2",
                     kernel=(6, 1), ovmf="2022.11"),
    "debian13": dict(qemu=(10, 0), firmware="seabios", firmware_version="1.16.3",
                     kernel=(6, 12), ovmf="2025.02"),
}
#: The stack used when none is named.  Both presets are captured and
#: reproduced (data/references/: QEMU 7.2 captures and their ``-qemu10-``
#: twins); debian12 stays the default because the notebooks, the course
#: text and most tests were written against its captures (the
#: un-suffixed folders).  ``--stack debian13`` or ``--qemu 10.0`` selects the other.
DEFAULT_STACK = "debian12"


def host_cpu(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[str, int] | None:
    """This machine's CPU vendor and physical-address bits, from /proc/cpuinfo
    (``vendor_id`` and ``address sizes : N bits physical``); None if unreadable."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    vendor = re.search(r"^vendor_id\s*:\s*(\S+)", text, re.M)
    bits = re.search(r"^address sizes\s*:\s*(\d+) bits physical", text, re.M)
    if not vendor or not bits:
        return None
    return vendor.group(1), int(bits.group(1))


def make_stack(name: str | None = None, *, qemu: str | None = None, firmware: str | None = None,
               kernel: str | None = None, cpu_vendor: str | None = None,
               phys_bits: int | None = None, seabios: str | None = None,
               cpu: str = "this-machine", host_kvm_smm: bool = False) -> Stack:
    """A stack from a preset (``debian12``/``debian13``; default
    :data:`DEFAULT_STACK`) with overrides.

    ``--qemu`` alone picks the preset that ships that QEMU, or else the
    SeaBIOS upstream bundles with it (:func:`bundled_seabios`).  ``seabios``
    is the older ``--seabios VER`` spelling of ``firmware="seabios-VER"``.
    The host CPU is ``cpu_vendor``/``phys_bits`` when given, else this
    machine's (``cpu="this-machine"``; say so in the JSON), else Intel with
    46 bits (``cpu="assumed"``).  ``host_kvm_smm``: the host's KVM offers
    SMM (:attr:`Stack.host_kvm_smm`; False, as on the reference host)."""
    notes = []
    if name is None and qemu is not None:
        q = parse_version(qemu, "--qemu")
        name = next((n for n, p in PRESETS.items() if p["qemu"] == q), None)
        if name is None:
            base = dict(PRESETS[DEFAULT_STACK], qemu=q,
                        firmware_version=bundled_seabios(q))
            name = "custom"
        else:
            base = dict(PRESETS[name])
    else:
        name = name or DEFAULT_STACK
        if name not in PRESETS:
            raise ConfigError(f"--stack {name!r}: known stacks are {', '.join(PRESETS)}")
        base = dict(PRESETS[name])
    custom = False
    if qemu is not None:
        q = parse_version(qemu, "--qemu")
        if q != base["qemu"]:
            custom = True
            base["qemu"] = q
    qtext = f"{base['qemu'][0]}.{base['qemu'][1]}"
    if qtext not in QEMU_VERSIONS:
        raise ConfigError(f"--qemu {qtext}: the model knows QEMU {', '.join(QEMU_VERSIONS)}")
    if QEMU_VERSIONS[qtext] == "source":
        notes.append(f"QEMU {qtext}: from source, no capture")
    if seabios is not None:
        if firmware is not None and firmware != f"seabios-{seabios}":
            raise ConfigError(f"--seabios {seabios} and --firmware {firmware} disagree")
        firmware = f"seabios-{seabios}"
    if firmware is not None:
        if firmware in ("ovmf", "seabios"):
            firmware = (f"ovmf-{base['ovmf']}" if firmware == "ovmf"
                        else f"seabios-{base['firmware_version'] if base['firmware'] == 'seabios' else '1.16.2'}")
        if firmware not in FIRMWARES:
            raise ConfigError(f"--firmware {firmware!r}: the model knows {', '.join(FIRMWARES)}")
        kind, ver = FIRMWARES[firmware]
        if (kind, ver) != (base["firmware"], base["firmware_version"]):
            custom = True
        base["firmware"], base["firmware_version"] = kind, ver
    if kernel is not None:
        k = parse_version(kernel, "--kernel")
        if k != base["kernel"]:
            custom = True
        base["kernel"] = k
    if cpu_vendor is not None or phys_bits is not None:
        found = host_cpu() if cpu == "this-machine" else None
        vendor = cpu_vendor or (found[0] if found else "GenuineIntel")
        bits = phys_bits or (found[1] if found else 46)
        cpu_from = "given"
    elif cpu == "this-machine" and (found := host_cpu()) is not None:
        vendor, bits = found
        cpu_from = "this machine (/proc/cpuinfo)"
    else:
        vendor, bits, cpu_from = "GenuineIntel", 46, "assumed"
    if vendor not in ("GenuineIntel", "AuthenticAMD"):
        raise ConfigError(f"CPU vendor {vendor!r}: expected GenuineIntel or AuthenticAMD")
    if not 32 <= bits <= 64:
        raise ConfigError(f"phys-bits {bits}: expected 32 to 64")
    base.pop("ovmf", None)
    return Stack(name=f"{name}+custom" if custom and name != "custom" else name,
                 qemu=base["qemu"], firmware=base["firmware"],
                 firmware_version=base["firmware_version"], kernel=base["kernel"],
                 cpu_vendor=vendor, host_phys_bits=bits, cpu_from=cpu_from,
                 host_kvm_smm=bool(host_kvm_smm), notes=tuple(notes))


#: ``-machine`` aliases and the versioned types they stand for on a release
#: (hw/i386/pc_piix.c and pc_q35.c: the newest versioned type carries the
#: ``pc``/``q35`` alias).
_MACHINE_RE = re.compile(r"pc-(i440fx|q35)-(\d+)\.(\d+)")


def resolve_machine(name: str, qemu: tuple[int, int]) -> str:
    """The versioned machine type ``-machine NAME`` means on QEMU ``qemu``.

    ``pc`` and ``q35`` are aliases of the newest ``pc-i440fx-X.Y`` and
    ``pc-q35-X.Y`` of the release; a versioned name must not be newer than
    the release (QEMU refuses an unknown machine type)."""
    if name in ("pc", "q35"):
        kind = "i440fx" if name == "pc" else "q35"
        return f"pc-{kind}-{qemu[0]}.{qemu[1]}"
    m = _MACHINE_RE.fullmatch(name)
    if not m:
        raise ConfigError(f"-machine {name}: expected pc, q35, pc-i440fx-X.Y or pc-q35-X.Y")
    ver = (int(m.group(2)), int(m.group(3)))
    if ver > qemu:
        raise ConfigError(f"-machine {name}: unsupported machine type on QEMU "
                          f"{qemu[0]}.{qemu[1]} (its newest is pc-{m.group(1)}-{qemu[0]}.{qemu[1]})")
    return name
