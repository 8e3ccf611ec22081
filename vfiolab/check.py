"""``vfiolab check``: why doesn't my passthrough work?

Takes the QEMU command line (and what the user knows of the host: its
IOMMU, KVM's address width, the locked-memory limit) and answers, before the
VM is started, the questions behind most failed passthrough reports: the
guest's physical-address width, the firmware's 64-bit window, the host
IOMMU's and KVM's address widths, and pinned memory.  Each answer is an
:class:`Item` (area, subject, verdict ``ok``/``warns``/``fails``, why, the
rule's source, and what QEMU, the kernel or the guest prints); then the
smallest set of changes that makes every item pass, re-checked by running
the check again with them applied.

The areas:

``placement``
    every BAR of every function, placed or not by the firmware
    (:mod:`vfiolab.model.firmware.seabios`, :mod:`~vfiolab.model.firmware.ovmf`),
    and BARs placed beyond the guest CPU's physical-address width (SeaBIOS
    1.16.2 does not read the width; the guest cannot reach them).
``phys-bits``
    the width QEMU gives the guest (:func:`vfiolab.model.boot.guest_cpu`),
    QEMU's refusal "Address space limit ... phys-bits too low" and its
    warning "Host physical bits (%u) does not match phys-bits property (%u)".
``kvm``
    every memslot against KVM's largest mappable GPA.
``iommu``
    every section QEMU's VFIO listener maps (IOVA = GPA) against the host
    IOMMU's aperture and reserved regions, replayed through the model's
    type1 container (:class:`vfiolab.model.iommu.Type1Container`); the
    vIOMMU's width when the command line has one.
``memlock``
    what type1 pins (guest RAM, not BAR mmaps; once per container, and with
    a vIOMMU each vfio-pci device has its own) against ``RLIMIT_MEMLOCK``:
    the one given (``memlock``) or the one the management layer sets
    (``memlock_policy``: libvirt by release, KubeVirt by release, Proxmox;
    :mod:`vfiolab.model.memlock`).
``granularity``
    the page sizes (host page tables, EPT, IOMMU) each large BAR will be
    mapped with, and how many entries that takes.

Use :func:`check`; :meth:`CheckReport.to_json` / :meth:`CheckReport.text`
are what ``vfiolab check`` prints.
"""

from __future__ import annotations

import errno as _errno
import inspect
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .addr import fmt_hex, fmt_size
from .errors import CommandLineError, ConfigError, FirmwareError, IommuError, VfiolabError
from .inputs.cmdline import mem_lock_value, parse_qemu_args, split_opts
from .model.boot import guest_cpu, vm_stack
from .model.machine import smp_topology
from .model.memlock import (KUBEVIRT_UNMODELLED_MAX, LIBVIRT_MEMLOCK_EXTRA, Demand, Policy,
                            containers, libvirt_limit, parse_policy, pinned_peak, policy_limit)
from .model.iommu import (HT_RANGE_END, HT_RANGE_START, MSI_RANGE_END, MSI_RANGE_START,
                          HostIommuConfig, Type1Container, host_config)
from .model.vfio import VFIO_PCI_OFFSET_SHIFT, VfioPCIDevice, mmap_alignment
from .predict import Prediction, predict
from .stack import Stack, make_stack

__all__ = ["Item", "HostIommu", "CheckReport", "check", "host_iommu_from_sysfs",
           "vtd_aperture_bits", "recognise_error", "KNOWN_ERRORS", "LIBVIRT_MEMLOCK_EXTRA"]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE_4K, PAGE_2M, PAGE_1G = 1 << 12, 1 << 21, 1 << 30
QEMU = "qemu-system-x86_64"

#: Debian 12's libvirt, whose rule the memlock item quotes when no
#: management layer is named (vfiolab.model.memlock.libvirt_limit)
DEBIAN12_LIBVIRT = (9, 0, 0)


# ============================================================================
# records
# ============================================================================

@dataclass
class Item:
    """One verdict of the check."""

    area: str          # placement | phys-bits | kvm | iommu | memlock | granularity
    subject: str       # "00:02.0 BAR1", "RAM 0x100000000-0x8ffffffff", ...
    verdict: str       # ok | warns | fails
    because: str
    source: str        # "project file function"
    message: str = ""  # what QEMU, the kernel or the guest prints, if anything

    def to_json(self) -> dict:
        return {"area": self.area, "subject": self.subject, "verdict": self.verdict,
                "because": self.because, "source": self.source, "message": self.message}


@dataclass
class HostIommu:
    """What the check knows of the host IOMMU a VFIO container gets.

    ``aperture_bits``: the IOVA width of the domain (VT-d:
    :func:`vtd_aperture_bits`); ``reserved``: ``(start, end, type)`` regions
    besides the ones the model always has (the MSI window; AMD: the
    HyperTransport range); ``mgaw``/``sagaw`` when read from the capability
    register."""

    vendor: str = "intel"
    aperture_bits: int = 48
    mgaw: int | None = None
    sagaw: int | None = None
    reserved: tuple = ()
    origin: str = "assumed (HostIommuConfig's 48 bits)"

    def config(self) -> HostIommuConfig:
        return HostIommuConfig(vendor=self.vendor, address_width=self.aperture_bits,
                               extra_reserved=tuple(self.reserved))


def vtd_aperture_bits(cap: int) -> tuple[int, int, int]:
    """(MGAW, SAGAW, domain width) from a VT-d capability register.

    Linux drivers/iommu/intel/iommu.h ``cap_mgaw`` (bits 21:16, plus one)
    and ``cap_sagaw`` (bits 12:8: bit n = an (n+2)-level table, 30 + 9n
    bits); iommu.c ``iommu_calculate_agaw`` picks the largest supported
    AGAW not above ``DEFAULT_DOMAIN_ADDRESS_WIDTH`` (57), and the domain's
    width is that AGAW's width capped at MGAW (6.12 ``paging_domain_alloc``;
    6.1 ``prepare_domain_attach_device``)."""
    mgaw = ((cap >> 16) & 0x3F) + 1
    sagaw = (cap >> 8) & 0x1F
    agaw = next((a for a in range(3, -1, -1) if sagaw & (1 << a)), None)
    if agaw is None:
        raise ConfigError(f"VT-d cap {cap:#x}: SAGAW {sagaw:#x} names no table width "
                          "the kernel would use (bits 0-3)")
    return mgaw, sagaw, min(30 + 9 * agaw, mgaw)


#: AMD-Vi with the v1 page table (the kernel's default): the domain's
#: aperture is the whole 64-bit space (Linux 6.1 drivers/iommu/amd/iommu.c
#: amd_iommu_domain_alloc: aperture_end ~0ULL; 6.12 dma_max_address(), ~0 for
#: v1), so type1 refuses nothing for width; the model's table stops at 57
#: bits, which no guest window reaches
_AMD_V1 = "AMD-Vi v1 page table: 64-bit aperture (taken as 57 bits here)"


def host_iommu_from_sysfs(root: str | Path) -> HostIommu:
    """Read a copy of the host's /sys (``root`` stands for /sys):
    ``class/iommu/dmar*/intel-iommu/cap`` (Intel; the smallest domain width
    of all units, since which unit a device sits behind is not known here),
    ``class/iommu/ivhd*`` (AMD: the v1 table's aperture is 64-bit, :data:`_AMD_V1`),
    and every ``kernel/iommu_groups/*/reserved_regions`` (lines
    ``0x00000000fee00000 0x00000000feefffff msi``)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--host-sysfs {root}: not a folder")
    units = sorted((root / "class" / "iommu").glob("*"))
    out = None
    for u in units:
        capf = u / "intel-iommu" / "cap"
        if capf.is_file():
            text = capf.read_text().strip()
            try:
                cap = int(text, 16)
            except ValueError:
                raise ConfigError(f"{capf}: {text!r} is not a hex capability register") from None
            mgaw, sagaw, width = vtd_aperture_bits(cap)
            if out is None or width < out.aperture_bits:
                out = HostIommu("intel", width, mgaw, sagaw,
                                origin=f"{capf}: cap {cap:#x}, MGAW {mgaw}, SAGAW {sagaw:#x}")
        elif u.name.startswith("ivhd") and out is None:
            out = HostIommu("amd", 57, origin=f"{u}: {_AMD_V1}")
    if out is None:
        raise ConfigError(f"--host-sysfs {root}: no class/iommu/dmar*/intel-iommu/cap nor "
                          "class/iommu/ivhd* (is the IOMMU on? intel_iommu=on / amd_iommu)")
    resv = set()
    for f in sorted((root / "kernel" / "iommu_groups").glob("*/reserved_regions")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                start, end, kind = int(parts[0], 16), int(parts[1], 16), parts[2]
            except (ValueError, IndexError):
                raise ConfigError(f"{f}:{n}: expected 'START END TYPE', got {line!r}") from None
            if (start, end) in ((MSI_RANGE_START, MSI_RANGE_END), (HT_RANGE_START, HT_RANGE_END)):
                continue
            # vfio_iommu_type1.c vfio_iommu_resv_exclude: direct-relaxable
            # regions (RMRRs of USB and graphics devices) stay mappable
            if kind == "direct-relaxable":
                continue
            resv.add((start, end, kind))
    return replace(out, reserved=tuple(sorted(resv)))


# ============================================================================
# the report
# ============================================================================

@dataclass
class CheckReport:
    stack: dict
    items: list
    fix: dict
    error: dict | None = None
    prediction: Prediction | None = None

    @property
    def failed(self) -> bool:
        return any(i.verdict == "fails" for i in self.items)

    def by_area(self, area: str) -> list:
        return [i for i in self.items if i.area == area]

    def to_json(self) -> dict:
        out = {"stack": self.stack, "items": [i.to_json() for i in self.items], "fix": self.fix}
        if self.error is not None:
            out["error"] = self.error
        return out

    def text(self) -> str:
        """For a person: failing items, then the fix, then warnings and
        passing items."""
        lines = []
        order = {"fails": 0, "warns": 2, "ok": 3}
        bad = [i for i in self.items if i.verdict == "fails"]
        rest = sorted((i for i in self.items if i.verdict != "fails"),
                      key=lambda i: order[i.verdict])
        if self.error is not None:
            e = self.error
            lines.append(f"your error: {e['line']}")
            if e["recognised"]:
                lines.append(f"  comes from the {e['area']} item: {e['meaning']}")
                lines.append(f"  reproduced by the model for this VM: "
                             f"{'yes' if e['reproduced'] else 'no'}"
                             + (f" ({', '.join(e['items'])})" if e["items"] else ""))
            else:
                lines.append("  not recognised; known lines: " + "; ".join(e["known"]))
            lines.append("")
        for i in bad:
            lines += _item_lines(i)
        f = self.fix
        if bad or f.get("qemu_args") or f.get("notes"):
            lines.append("")
            lines.append("fix (re-checked: " + ("every item passes" if f.get("rechecked_ok")
                                                 else "not every item passes") + ")"
                         if f.get("rechecked") else "fix: none found")
            for k, what in (("qemu_args", "QEMU"), ("libvirt_xml", "libvirt"),
                            ("proxmox", "Proxmox")):
                for a in f.get(k, []):
                    lines.append(f"  {what}: {a}")
            if f.get("memlock_bytes"):
                lines.append(f"  RLIMIT_MEMLOCK at least {f['memlock_bytes']} bytes "
                             f"({fmt_size(f['memlock_bytes'])})")
            for n in f.get("notes", []):
                lines.append(f"  note: {n}")
            lines.append("")
        for i in rest:
            lines += _item_lines(i)
        s = self.stack
        lines.append("")
        lines.append(f"stack: QEMU {s.get('qemu')}, {s.get('machine')}, {s.get('firmware')}, "
                     f"Linux {s.get('kernel')}, host {s.get('cpu_vendor')} "
                     f"{s.get('host_phys_bits')} bits, {s.get('accel')}")
        return "\n".join(lines) + "\n"


def _item_lines(i: Item) -> list[str]:
    out = [f"{i.verdict.upper():5s} {i.area}: {i.subject}: {i.because}",
           f"      source: {i.source}"]
    if i.message:
        for m in i.message.splitlines():
            out.append(f"      prints: {m}")
    return out


# ============================================================================
# the check
# ============================================================================

@dataclass
class _Ctx:
    stack: Stack
    host_devices: dict | None
    accel: str | None
    iommu: HostIommu
    kvm_bits: int
    kvm_bits_from: str
    memlock: int | None
    policy: Policy = field(default_factory=lambda: Policy("none"))
    hard_limit: int | None = None


@dataclass
class _State:
    """What one evaluation found, for the fix search."""

    items: list = field(default_factory=list)
    stack: Stack | None = None
    pred: Prediction | None = None
    guest_bits: int | None = None
    cpu_model: str = "qemu64"
    host_phys: bool = False
    memlock_needed: int = 0
    has_vfio: bool = False
    cpu_props: dict = field(default_factory=dict)
    viommu: list = field(default_factory=list)
    mem64_needed: int = 0
    pin_users: dict = field(default_factory=dict)
    vcpus: int = 1
    memlock_limit: object = None    # the management layer's Limit, if one is named
    memlock_demand: object = None   # the Demand it was computed for


def check(args: list[str], *, stack: Stack | str | None = None, host_devices: dict | None = None,
          accel: str | None = None, host_iommu: str | None = None, iommu_aw: int | None = None,
          host_sysfs: str | Path | None = None, kvm_max_gpa_bits: int | None = None,
          memlock: int | None = None, error: str | None = None, fix: bool = True,
          memlock_policy: str | Policy | None = None, hard_limit: int | None = None,
          **stack_options) -> CheckReport:
    """Check the VM of ``args`` (a QEMU command line) on ``stack`` (a
    :class:`~vfiolab.stack.Stack`, a preset name, or built from
    ``stack_options`` as :func:`vfiolab.predict.predict` does).

    ``host_iommu`` ("intel"/"amd") and ``iommu_aw`` (bits) describe the host
    IOMMU, or ``host_sysfs`` (a copy of /sys) does; ``kvm_max_gpa_bits`` is
    the host MAXPHYADDR KVM uses (default: the stack's host phys-bits);
    ``memlock`` is QEMU's RLIMIT_MEMLOCK in bytes (None: not checked against
    a limit); ``memlock_policy`` names the management layer that sets it
    (:func:`vfiolab.model.memlock.parse_policy`: ``libvirt-9.0.0``,
    ``proxmox``, ``kubevirt-1.8``, ...; None: plain QEMU) and ``hard_limit``
    libvirt's ``<memtune><hard_limit>`` in bytes; ``error`` is a line the
    user saw."""
    if not isinstance(stack, Stack):
        stack = make_stack(stack, **stack_options)
    if host_sysfs is not None:
        hi = host_iommu_from_sysfs(host_sysfs)
        if iommu_aw is not None:
            hi = replace(hi, aperture_bits=iommu_aw, origin=hi.origin + f"; --iommu-aw {iommu_aw}")
    else:
        vendor = (host_iommu or ("amd" if stack.cpu_vendor == "AuthenticAMD" else "intel")).lower()
        if vendor not in ("intel", "amd"):
            raise ConfigError(f"--host-iommu {host_iommu!r}: use intel or amd")
        if iommu_aw:
            hi = HostIommu(vendor, iommu_aw, origin=f"--iommu-aw {iommu_aw}")
        elif vendor == "amd":
            hi = HostIommu(vendor, 57, origin=_AMD_V1)
        else:
            hi = HostIommu(vendor, 48, origin="assumed 48 bits (give --iommu-aw or --host-sysfs)")
    hi.config().check()
    if kvm_max_gpa_bits is None:
        kvm_bits, kvm_from = stack.host_phys_bits, f"the host's phys-bits ({stack.cpu_from})"
    else:
        if not 32 <= kvm_max_gpa_bits <= 52:
            raise ConfigError(f"--kvm-max-gpa-bits {kvm_max_gpa_bits}: expected 32 to 52")
        kvm_bits, kvm_from = kvm_max_gpa_bits, "--kvm-max-gpa-bits"
    if memlock is not None and memlock < 0:
        raise ConfigError(f"--memlock {memlock}: negative")
    policy = parse_policy(memlock_policy)
    if hard_limit is not None:
        if policy.layer != "libvirt":
            raise ConfigError(f"<memtune><hard_limit> {hard_limit}: a libvirt setting, but the "
                              f"memlock policy is {policy.name}")
        if hard_limit <= 0:
            raise ConfigError(f"<memtune><hard_limit> {hard_limit}: not a positive size")
    ctx = _Ctx(stack, host_devices, accel, hi, kvm_bits, kvm_from, memlock, policy, hard_limit)
    st = _evaluate(list(args), ctx)
    fixed = _find_fix(list(args), ctx, st) if fix else {}
    report = CheckReport(stack=(st.stack or stack).to_json(), items=st.items, fix=fixed,
                         prediction=st.pred)
    if error is not None:
        report.error = recognise_error(error, report)
    return report


def _evaluate(args: list[str], ctx: _Ctx) -> _State:
    st = _State()
    args, st.viommu = _take_viommu(args)
    st.pin_users = _pin_users(args, ctx.stack.qemu)
    try:
        cfg = _parse(args, ctx.stack)
    except CommandLineError as e:
        if "guest-phys-bits" not in str(e) or "not found" not in str(e):
            raise
        # QEMU < 9.1 has no such CPU property (513ba32dcc) and refuses it
        st.stack = ctx.stack
        st.items.append(Item("phys-bits", "guest-phys-bits", "fails",
                             f"-cpu guest-phys-bits= exists from QEMU 9.1 (commit 513ba32dcc); "
                             f"QEMU {ctx.stack.qemu_text} refuses it",
                             "QEMU target/i386/cpu.c x86_cpu_properties", f"{QEMU}: {e}"))
        return st
    stk = vm_stack(cfg, ctx.stack, ctx.accel)
    st.stack = stk
    st.cpu_model = cfg.cpu_model
    st.cpu_props = dict(cfg.cpu_props)
    st.vcpus = _vcpus(cfg, stk)
    _, st.guest_bits = guest_cpu(cfg, stk)
    hp = cfg.cpu_props.get("host-phys-bits")
    st.host_phys = stk.accel == "kvm" and (hp in ("on", "true") or (
        cfg.cpu_model in ("host", "max") and hp not in ("off", "false")))
    st.items += _phys_bits_items(cfg, stk, st)
    try:
        # the VM's own container as wide as VT-d goes, so that every section
        # QEMU would map is in its list; the host's limits are replayed below
        with host_config(address_width=57, rlimit_memlock=None):
            st.pred = predict(args, stack=ctx.stack, accel=ctx.accel,
                              host_devices=ctx.host_devices)
    except ConfigError as e:
        if "Address space limit" not in str(e):
            raise
        # hw/i386/pc.c pc_memory_init (QEMU >= 7.1, commit 1caab5cf86)
        st.items.append(Item(
            "phys-bits", "address space", "fails",
            f"RAM and the 64-bit PCI hole end above what {st.guest_bits} phys-bits address; "
            "QEMU refuses to start", "QEMU hw/i386/pc.c pc_memory_init",
            f"{QEMU}: {e}"))
        return st
    except FirmwareError as e:
        if "SeaBIOS panic" not in str(e):
            raise
        # SeaBIOS src/fw/pciinit.c pci_bios_map_devices: panic("PCI: out of
        # ... address space") when the root bus does not fit below 4 GiB
        st.items.append(Item(
            "placement", "PCI set-up", "fails",
            f"SeaBIOS stops: {e}", "vfiolab model/firmware/seabios.py pci_bios_map_devices "
            "(SeaBIOS src/fw/pciinit.c)", str(e).split(" (", 1)[0]))
        return st
    vm = st.pred.vm
    st.items += _firmware_width_items(st)
    st.items += _placement_items(st)
    st.items += _kvm_items(vm, stk, ctx)
    st.items += _iommu_and_memlock_items(vm, stk, cfg, ctx, st)
    st.items += _granularity_items(vm, stk)
    return st


def _parse(args: list[str], stack: Stack):
    """The command line as the stack's QEMU reads it (the reader takes the
    release where it knows one)."""
    if "qemu" in inspect.signature(parse_qemu_args).parameters:
        return parse_qemu_args(args, qemu=stack.qemu)
    return parse_qemu_args(args)


def _device_driver(text: str) -> tuple[str, dict]:
    """A ``-device`` value as (driver, properties), in either spelling QEMU
    takes: ``driver,key=value,...`` or JSON (``{"driver":...}``, what
    libvirt writes; softmmu/vl.c ``device_init_func`` / qdev-monitor.c)."""
    t = text.strip()
    if t.startswith("{"):
        try:
            d = json.loads(t)
        except ValueError:
            return "", {}
        if not isinstance(d, dict):
            return "", {}
        return str(d.get("driver", "")), {k: str(v).lower() if isinstance(v, bool) else str(v)
                                           for k, v in d.items() if k != "driver"}
    parts = t.split(",")
    drv = parts[0][len("driver="):] if parts[0].startswith("driver=") else parts[0]
    return drv, dict(p.split("=", 1) for p in parts[1:] if "=" in p)


def _take_viommu(args: list[str]) -> tuple[list[str], list[dict]]:
    """``-device intel-iommu,...`` is not a PCI function and the model's VM
    has no vIOMMU: take it out of the command line and keep its
    properties for the vIOMMU item."""
    out, found, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a.lstrip("-") == "device" and i + 1 < len(args) and \
                _device_driver(args[i + 1])[0] == "intel-iommu":
            found.append(_device_driver(args[i + 1])[1])
            i += 2
            continue
        out.append(a)
        i += 1
    return out, found


def _pin_users(args: list[str], qemu=(7, 2)) -> dict:
    """What else on the command line pins or locks guest memory, for the
    management layers' rules (vfiolab.model.memlock.Demand): QEMU's own VFIO
    NVMe driver (``-blockdev driver=nvme``, block/nvme.c; ``-drive
    file=nvme://``), vhost-vdpa netdevs and disks (``-netdev vhost-vdpa``,
    ``-blockdev driver=virtio-blk-vhost-vdpa``), and ``-overcommit
    mem-lock=on`` (softmmu/vl.c: mlockall of all of QEMU's memory)."""
    nvme = vdpa = 0
    mem_lock = False
    for opt, val in zip(args, args[1:]):
        o = opt.lstrip("-")
        v = val.strip()
        if v.startswith("{"):
            try:
                d = json.loads(v)
            except ValueError:
                d = {}
            kv = {k: str(x) for k, x in d.items()} if isinstance(d, dict) else {}
        else:
            first = v.split(",", 1)[0]
            kv = dict(p.split("=", 1) for p in v.split(",") if "=" in p)
            if "=" not in first:
                kv.setdefault("type" if o == "netdev" else "driver", first)
        if o == "blockdev" and kv.get("driver") == "nvme":
            nvme += 1
        elif o == "drive" and (kv.get("driver") == "nvme" or kv.get("file", "").startswith("nvme:")):
            nvme += 1
        elif o == "blockdev" and kv.get("driver") == "virtio-blk-vhost-vdpa":
            vdpa += 1
        elif o == "netdev" and kv.get("type") == "vhost-vdpa":
            vdpa += 1
        elif o == "overcommit":
            # the command-line reader has checked the value for this release
            ov = split_opts(v, None, "-overcommit", no_prefix=True)
            if "mem-lock" in ov:
                mem_lock = mem_lock_value(ov["mem-lock"], qemu, "-overcommit")
    return {"nvme": nvme, "vdpa": vdpa, "mem_lock": mem_lock}


def _vcpus(cfg, stk: Stack) -> int:
    """-smp: ``smp.cpus`` as QEMU works it out (hw/core/machine-smp.c
    ``machine_parse_smp_config``, :func:`vfiolab.model.machine.smp_topology`:
    ``cpus=``, else ``maxcpus=``, else the product of the topology)."""
    return smp_topology(getattr(cfg, "smp", None) or {}, stk).cpus


# --- phys-bits ---------------------------------------------------------------

def _phys_bits_items(cfg, stk: Stack, st: _State) -> list[Item]:
    items = []
    props = cfg.cpu_props
    host = stk.host_phys_bits
    if st.host_phys:
        how = f"host-phys-bits: the host's {host}"
        if props.get("host-phys-bits-limit"):
            how += f", capped by host-phys-bits-limit={props['host-phys-bits-limit']}"
    elif "phys-bits" in props:
        how = f"phys-bits={props['phys-bits']}"
    else:
        how = f"the named model's default 40 (TCG_PHYS_ADDR_BITS) for -cpu {cfg.cpu_model}"
    items.append(Item("phys-bits", f"-cpu {cfg.cpu_model}", "ok",
                      f"the guest sees {st.guest_bits} phys-bits ({how})",
                      "QEMU target/i386/host-cpu.c host_cpu_adjust_phys_bits, "
                      "target/i386/cpu.c x86_cpu_realizefn"))
    # target/i386/host-cpu.c host_cpu_adjust_phys_bits (v7.2.0, v10.0.0):
    # under KVM, a phys-bits property that is set and differs from the host's
    # width is warned about once
    if stk.accel == "kvm" and "phys-bits" in props:
        try:
            pb = int(props["phys-bits"])
        except ValueError:
            pb = None
        if pb is not None and pb != host:
            why = (f"phys-bits={pb} differs from the host's {host}")
            if st.host_phys:
                why += f"; with host-phys-bits QEMU uses {st.guest_bits} anyway"
            elif pb > host:
                why += ("; the guest may place BARs above what EPT/NPT can map (see the kvm "
                        "items)")
            items.append(Item("phys-bits", "phys-bits property", "warns", why,
                              "QEMU target/i386/host-cpu.c host_cpu_adjust_phys_bits",
                              f"{QEMU}: warning: Host physical bits ({host}) does not match "
                              f"phys-bits property ({pb})"))
    gpb = props.get("guest-phys-bits")
    if gpb is not None:
        if not stk.qemu_at_least(9, 1):
            items.append(Item("phys-bits", "guest-phys-bits", "fails",
                              f"-cpu guest-phys-bits= exists from QEMU 9.1 (commit 513ba32dcc); "
                              f"QEMU {stk.qemu_text} has no such CPU property and refuses it",
                              "QEMU target/i386/cpu.c x86_cpu_properties"))
        else:
            items.append(Item("phys-bits", "guest-phys-bits", "ok",
                              f"CPUID 0x80000008 EAX[23:16] = {gpb}: OVMF from edk2-stable202405 "
                              "trusts it and keeps its 64-bit window below it",
                              "QEMU target/i386/cpu.c (513ba32dcc, 9.1); EDK2 OvmfPkg "
                              "PlatformInitLib MemDetect.c PlatformAddressWidthFromCpuid"))
    return items


def _firmware_width_items(st: _State) -> list[Item]:
    """What the firmware makes of the width: OVMF's trusted PhysMemAddressWidth
    and its 64-bit window (PlatformInitLib MemDetect.c
    PlatformAddressWidthFromCpuid, PlatformDynamicMmioWindow), SeaBIOS's
    CPUPhysBits (src/fw/paravirt.c physbits, 1.16.3+; 1.16.2 reads none)."""
    fw, stk = st.pred.vm.firmware, st.stack
    ap = getattr(fw, "apertures", None)
    if stk.firmware == "ovmf" and ap is not None:
        why = ap.why or ap.window
        return [Item("phys-bits", f"OVMF {stk.firmware_version}", "ok",
                     f"{why}; 64-bit window [{fmt_hex(ap.mem64_base)}, "
                     f"{fmt_hex(ap.mem64_limit)}]" if ap.mem64_size else why,
                     "EDK2 OvmfPkg/Library/PlatformInitLib MemDetect.c "
                     "PlatformAddressWidthFromCpuid, PlatformDynamicMmioWindow; vfiolab "
                     "model/firmware/ovmf.py platform_apertures")]
    bits = getattr(fw, "cpu_phys_bits", 0)
    return [Item("phys-bits", f"SeaBIOS {stk.firmware_version}", "ok",
                 f"SeaBIOS trusts {bits} phys-bits" if bits else
                 ("SeaBIOS 1.16.2 does not read the CPU's width: its 64-bit window goes above "
                  "RAM whatever the guest can address" if stk.firmware_version == "1.16.2" else
                  f"SeaBIOS does not trust the CPU's {st.guest_bits} phys-bits: its 64-bit "
                  "window goes above RAM"),
                 "SeaBIOS src/fw/paravirt.c physbits, src/fw/pciinit.c pci_setup; vfiolab "
                 "model/firmware/seabios.py cpu_phys_bits")]


# --- placement ---------------------------------------------------------------

def _placement_items(st: _State) -> list[Item]:
    """Every BAR of every function: placed, left unassigned (OVMF rejected
    the function or gave up), or placed beyond the guest's width."""
    pred, stk = st.pred, st.stack
    fw = pred.vm.firmware
    left = set(getattr(fw, "rejected", []) or [])
    stopped = bool(getattr(fw, "stopped", False))
    limit = 1 << st.guest_bits
    items = []
    if stk.firmware == "ovmf":
        src = "vfiolab model/firmware/ovmf.py pci_setup (EDK2 PciBusDxe, PlatformInitLib)"
        ap = getattr(fw, "apertures", None)
        window = (f"the 64-bit window [{fmt_hex(ap.mem64_base)}, {fmt_hex(ap.mem64_limit)}] "
                  f"({fmt_size(ap.mem64_size)}, {ap.why})" if ap is not None and ap.mem64_size
                  else "no 64-bit window")
    else:
        src = "vfiolab model/firmware/seabios.py pci_setup (SeaBIOS src/fw/pciinit.c)"
        root = getattr(fw, "root", None)
        window = "the 64-bit window above RAM" if root is not None and root.mem64_used \
            else "the 32-bit window"
    need64 = 0
    for dev in pred.devices():
        for b in dev.bars:
            if b.type in ("mem64",) and b.bar != 6:
                need64 += b.size
    st.mem64_needed = need64
    reasons = {u.bdf: u.reason for u in getattr(fw, "unassigned", []) or []}
    for dev in pred.devices():
        for b in dev.bars:
            if not b.size:
                continue
            subj = f"{dev.bdf} BAR{b.bar}" if b.bar != 6 else f"{dev.bdf} ROM"
            who = f"{dev.type}" + (f" {dev.qdev_id}" if dev.qdev_id else "")
            if b.address is None:
                unassigned = stopped or dev.bdf in left
                if b.bar == 6 and not unassigned:
                    how = ("OVMF reads option ROMs through a temporary range"
                           if stk.firmware == "ovmf" else "no address given")
                    items.append(Item("placement", subj, "ok",
                                      f"{who}: ROM BAR left disabled by the firmware ({how}); "
                                      "the guest's driver maps it if it needs it", src))
                    continue
                why = reasons.get(dev.bdf) or (
                    f"OVMF {stk.firmware_version} gave up on PCI: no BAR of any function is "
                    f"assigned (64-bit BARs need at least {fmt_size(need64)}; the firmware had "
                    f"{window})" if stopped else f"not assigned (the firmware had {window})")
                if stopped:
                    why += ("; the firmware never reaches the boot manager and prints nothing "
                            "(observed on real runs, data/ovmf/*-ivshmem-64G-*)")
                items.append(Item("placement", subj, "fails",
                                  f"{who}: {fmt_size(b.size)} {b.type}: not assigned: {why}", src,
                                  "" if stopped else
                                  "guest: the device has no resources (Linux: 'BAR n: no space "
                                  "for [mem size ...]'; Windows: Code 12)"))
                continue
            end = b.address + b.size - 1
            if b.type != "io" and end >= limit:
                items.append(Item(
                    "placement", subj, "fails",
                    f"{who}: placed at [{fmt_hex(b.address)}, {fmt_hex(end)}], beyond the "
                    f"guest CPU's {st.guest_bits} phys-bits ({fmt_hex(limit - 1)}): the guest "
                    "cannot reach it (SeaBIOS 1.16.2 does not read the CPU's width; 1.16.3 "
                    "keeps the window below 2^phys-bits when it trusts it)",
                    src + "; SeaBIOS src/fw/paravirt.c physbits"))
                continue
            items.append(Item("placement", subj, "ok",
                              f"{who}: {fmt_size(b.size)} {b.type} at {fmt_hex(b.address)}", src))
    # OVMF dropped a hot-plug bridge's padding (PciEnumerator.c RejectPciDevice
    # after PciHostBridgeAdjustAllocation; real runs data/ovmf/q35-2G-14rp-*):
    # the machine boots, the bridge keeps what is behind it, but nothing
    # hot-plugged there later gets that resource
    for bdf, typ, size in getattr(fw, "padding_dropped", []) or []:
        kind = "I/O aperture" if typ == "io" else "32-bit window"
        items.append(Item("placement", f"{bdf} hot-plug padding", "warns",
                          f"{bdf}: its hot-plug padding was dropped (the firmware's {kind} "
                          f"could not take its {fmt_size(size)} {typ} padding, and "
                          "RejectPciDevice frees all of a port's padding): the port gets no "
                          "windows, so a device hot-plugged behind it later gets no resources",
                          src))
    return items


# --- KVM ---------------------------------------------------------------------

def _kvm_items(vm, stk: Stack, ctx: _Ctx) -> list[Item]:
    src = ("Linux arch/x86/kvm/mmu.h kvm_mmu_max_gfn, arch/x86/kvm/x86.c "
           "kvm_arch_prepare_memory_region")
    if stk.accel != "kvm":
        return [Item("kvm", "memslots", "ok", "TCG: no KVM memslots", src)]
    # kvm_mmu_max_gfn: with TDP (EPT/NPT) the host MAXPHYADDR (6.1:
    # shadow_phys_bits, 6.12: kvm_host.maxphyaddr), 52 without;
    # kvm_arch_prepare_memory_region refuses a new slot past it with -EINVAL
    max_gpa = (1 << ctx.kvm_bits) - 1
    items, worst = [], 0
    for m in vm.memslots():
        end = m.guest_phys_addr + m.memory_size - 1
        worst = max(worst, end)
        if end > max_gpa:
            items.append(Item(
                "kvm", f"slot {m.slot} [{fmt_hex(m.guest_phys_addr)}, {fmt_hex(end)}]", "fails",
                f"ends above KVM's largest GPA {fmt_hex(max_gpa)} ({ctx.kvm_bits} bits: "
                f"{ctx.kvm_bits_from}): KVM_SET_USER_MEMORY_REGION returns -EINVAL and QEMU "
                "aborts", src + "; QEMU accel/kvm/kvm-all.c kvm_set_phys_mem",
                f"kvm_set_user_memory_region: KVM_SET_USER_MEMORY_REGION failed, slot={m.slot}, "
                f"start={fmt_hex(m.guest_phys_addr)}, size={fmt_hex(m.memory_size)}: "
                "Invalid argument\nkvm_set_phys_mem: error registering slot: Invalid argument"))
    if not items:
        items.append(Item("kvm", "memslots", "ok",
                          f"all {len(vm.memslots())} memslots end at or below "
                          f"{fmt_hex(max_gpa)} ({ctx.kvm_bits} bits: {ctx.kvm_bits_from}); the "
                          f"highest ends at {fmt_hex(worst)}", src))
    return items


# --- IOMMU and memlock -------------------------------------------------------

def _vfio_devices(vm) -> list:
    return [d for d in vm.pci_devices() if isinstance(d, VfioPCIDevice)]


def _mmap_owner(vm) -> dict:
    """ram_device region name -> (guest BDF, BAR, host BDF)."""
    out = {}
    for d in _vfio_devices(vm):
        for vb in d.vbars:
            for m in vb.mmaps:
                if m.mr is not None:
                    out[m.mr.name] = (d.bdf, vb.index, d.host)
    return out


def _map_messages(stk: Stack, container, iova: int, size: int, vaddr: int, err: int,
                  ram: bool, region: str, host_bdf: str, guest_bdf: str | None) -> str:
    """What QEMU prints for a failed VFIO_IOMMU_MAP_DMA, by release (read at
    v7.2.0, v8.2.0, v9.2.0, v10.0.0):

    * the call: "vfio_dma_map(%p, 0x%x, 0x%x, %p) = %d (%s)" up to 8.2,
      "vfio_container_dma_map(...)" from 9.2 (hw/vfio/common.c
      ``vfio_listener_region_add``);
    * "VFIO_MAP_DMA failed: %s" from the ioctl wrapper first (7.2
      common.c ``vfio_dma_map``, 8.2/9.2 container.c
      ``vfio_legacy_dma_map``); 10.0's wrapper prints nothing;
    * a BAR (ram_device) failing: the call line alone (``error_report_err``)
      up to 9.2; 10.0 a warning, once, with the hint "%s: PCI peer-to-peer
      transactions on BARs are not supported." naming the host device
      (``vfio_device_error_append``, ``vbasedev->name``);
    * RAM failing during set-up fails the device: "vfio %s: failed to setup
      container for group %d: memory listener initialization failed:
      Region %s: <the call>" (the group number is the host's)."""
    strerr = os.strerror(err)
    ptr = f"0x{container.qemu_ptr:x}"
    name = "vfio_container_dma_map" if stk.qemu_at_least(9, 2) else "vfio_dma_map"
    call = f"{name}({ptr}, {iova:#x}, {size:#x}, 0x{vaddr:x}) = -{err} ({strerr})"
    lines = [] if stk.qemu_at_least(10, 0) else [f"{QEMU}: VFIO_MAP_DMA failed: {strerr}"]
    if not ram:
        if stk.qemu_at_least(10, 0):
            lines += [f"{QEMU}: warning: {call}",
                      f"{host_bdf}: PCI peer-to-peer transactions on BARs are not "
                      "supported."]
        else:
            lines.append(f"{QEMU}: {call}")
        return "\n".join(lines)
    lines.append(f"{QEMU}: -device vfio-pci,host={host_bdf}: vfio {host_bdf}: failed to setup "
                 f"container for group <group>: memory listener initialization failed: "
                 f"Region {region}: {call}")
    return "\n".join(lines)


def _iommu_and_memlock_items(vm, stk: Stack, cfg, ctx: _Ctx, st: _State) -> list[Item]:
    items = []
    vdevs = _vfio_devices(vm)
    st.has_vfio = bool(vdevs)
    viommu = st.viommu
    if viommu:
        items.append(_viommu_item(viommu[0], stk, ctx, bool(vdevs)))
    if not vdevs or vm.vfio is None:
        items.append(Item("iommu", "DMA", "ok", "no vfio-pci device: nothing is DMA-mapped",
                          "QEMU hw/vfio/common.c vfio_connect_container"))
        items += _memlock_items(vm, stk, ctx, st, [], None, vdevs)
        return items
    hi = ctx.iommu
    # Linux < 6.11 (6.1 read): vfio type1 allocates the domain with
    # iommu_domain_alloc(bus), whose VT-d aperture is the 57-bit default
    # (intel_iommu_domain_alloc -> md_domain_init(DEFAULT_DOMAIN_ADDRESS_WIDTH));
    # a map past the unit's width passes type1's IOVA check and fails in
    # intel_iommu_map with -EFAULT ("iommu width (%d) is not sufficient for
    # the mapped address").  From 6.11 (iommu_paging_domain_alloc(dev),
    # read in 6.11.11 and 6.12) the aperture is the unit's width, so type1's
    # vfio_iommu_iova_dma_valid refuses it with -EINVAL.
    old_vtd = hi.vendor == "intel" and not stk.kernel_at_least(6, 11)
    cfg_iommu = hi.config()
    if old_vtd:
        cfg_iommu = replace(cfg_iommu, address_width=57)
    cont = Type1Container(vm.vfio.container.host, config=cfg_iommu)
    if viommu:
        # with a vIOMMU the container follows the guest's own mappings once
        # the guest turns DMA remapping on (IOVA = what the guest driver
        # picks, hw/vfio/common.c vfio_iommu_map_notify): the IOVA = GPA
        # replay below does not apply.  Until then (and in pass-through) each
        # device's address space is the nodmar alias of system memory
        # (hw/i386/intel_iommu.c vtd_switch_address_space): its container
        # maps all RAM with IOVA = GPA, which is what memlock counts.
        ram = [m for m in vm.vfio.dma_map() if not m.ram_device]
        items += _memlock_items(vm, stk, ctx, st, ram, cont, vdevs)
        return items
    first_host = vdevs[0].host
    owners = _mmap_owner(vm)
    width_src = ("Linux drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map "
                 "(vfio_iommu_iova_dma_valid); drivers/iommu/intel/iommu.c "
                 + ("intel_iommu_map" if old_vtd else "paging_domain_alloc"))
    ram_pinned = []          # (region, bytes) in map order
    for m in vm.vfio.dma_map():
        end = m.iova + m.size - 1
        owner = owners.get(m.region)
        subj = (f"{owner[0]} BAR{owner[1]} [{fmt_hex(m.iova)}, {fmt_hex(end)}]" if owner
                else f"RAM {m.region} [{fmt_hex(m.iova)}, {fmt_hex(end)}]")
        host_bdf = owner[2] if owner else first_host
        err, why = None, ""
        if old_vtd and m.iova + m.size > (1 << hi.aperture_bits):
            err, why = _errno.EFAULT, (f"past the VT-d unit's {hi.aperture_bits}-bit width: "
                                       "intel_iommu_map returns -EFAULT (Linux < 6.11)")
        else:
            try:
                cont.map_dma(m.vaddr, m.iova, m.size)
            except IommuError as e:
                err, why = e.errno, str(e).split(": ", 1)[-1]
        if err is None:
            if not m.ram_device:
                ram_pinned.append(m)
            items.append(Item("iommu", subj, "ok",
                              f"mapped with IOVA = GPA inside the {hi.aperture_bits}-bit "
                              f"aperture ({hi.vendor}, {hi.origin})", width_src))
            continue
        msg = _map_messages(stk, cont, m.iova, m.size, m.vaddr, err, not m.ram_device, m.region,
                            host_bdf, owner[0] if owner else None)
        if old_vtd and err == _errno.EFAULT:
            msg = (f"kernel: DMAR: intel_iommu_map: iommu width ({hi.aperture_bits}) is not "
                   f"sufficient for the mapped address ({m.iova + m.size:x})\n" + msg)
        if m.ram_device:
            items.append(Item("iommu", subj, "warns",
                              f"{why}; QEMU goes on, but peer-to-peer DMA to this BAR will not "
                              "work", width_src + "; QEMU hw/vfio/common.c "
                              "vfio_listener_region_add (ram_device: not fatal)", msg))
        else:
            ram_pinned.append(m)
            items.append(Item("iommu", subj, "fails",
                              f"{why}; guest RAM that cannot be mapped is fatal: the vfio-pci "
                              "device fails to realize and QEMU exits", width_src +
                              "; QEMU hw/vfio/common.c vfio_listener_region_add", msg))
    items += _memlock_items(vm, stk, ctx, st, ram_pinned, cont, vdevs)
    return items


def _memlock_items(vm, stk: Stack, ctx: _Ctx, st: _State, ram_pinned: list, cont,
                   vdevs: list) -> list[Item]:
    """What type1 pins against RLIMIT_MEMLOCK, and the limit QEMU has: the
    one given (``--memlock``) or the one the management layer sets
    (:mod:`vfiolab.model.memlock`).  Every pinned RAM page counts in the
    process's locked_vm (Linux drivers/vfio/vfio_iommu_type1.c
    ``vfio_pin_pages_remote``: refused with -ENOMEM once locked_vm + the new
    pages exceed RLIMIT_MEMLOCK, without CAP_IPC_LOCK); VM_PFNMAP pages (BAR
    mmaps) are neither pinned nor counted.  Without a vIOMMU every vfio-pci
    device shares QEMU's container for "memory" (hw/vfio/common.c
    ``vfio_connect_container``), so RAM is pinned once; with one, each
    device's container pins all RAM at boot, counted once per container."""
    src = "Linux drivers/vfio/vfio_iommu_type1.c vfio_pin_pages_remote, vfio_dma_do_map"
    pu = st.pin_users or {}
    viommu = "intel-iommu" if st.viommu else None
    per = sum(m.size for m in ram_pinned)
    demand = Demand(memory=vm.ram_size, vfio=len(vdevs), viommu=viommu,
                    nvme=pu.get("nvme", 0), vdpa=pu.get("vdpa", 0),
                    mem_lock=pu.get("mem_lock", False), vcpus=st.vcpus,
                    ram_mapped=per)
    n_cont = containers(demand)
    needed = pinned_peak(demand)
    st.memlock_needed = needed
    policy = ctx.policy
    lim = policy_limit(policy, demand, hard_limit=ctx.hard_limit)
    st.memlock_limit = lim
    st.memlock_demand = demand
    if not vdevs or vm.vfio is None:
        why = "no vfio-pci device: type1 pins nothing"
        if lim is not None and lim.bytes != 0:
            why += f"; {lim.who} sets RLIMIT_MEMLOCK to " + (
                "unlimited" if lim.bytes is None else str(lim.bytes)) + f" ({lim.how})"
        return [Item("memlock", "pinned memory", "ok", why, src)]
    base = (f"type1 pins {fmt_size(needed)} ({needed} bytes: guest RAM and ROM, not the BAR "
            f"mmaps) in {n_cont} container(s) for {len(vdevs)} device(s)")
    if viommu:
        base += (f"; with the vIOMMU ({viommu}) each device has its own address space and "
                 "container, and until the guest turns DMA remapping on each maps all "
                 f"{fmt_size(per)} of RAM (QEMU hw/i386/intel_iommu.c vtd_switch_address_space: "
                 "nodmar); afterwards only what the guest maps stays pinned")
    if demand.mem_lock:
        base += ("; -overcommit mem-lock=on also mlocks all of QEMU's memory (softmmu/vl.c "
                 "mlockall), counted in the same locked_vm: a finite limit must cover QEMU's "
                 "whole footprint as well")
    if lim is None:
        # no management layer named: what Debian 12's libvirt would set, for reference
        ref = libvirt_limit(DEBIAN12_LIBVIRT, demand)
        base += (f"; libvirt would set RLIMIT_MEMLOCK to {ref.bytes} ({ref.how}; "
                 f"{ref.source}, as libvirt's tests/qemumemlocktest.c expects)")
    else:
        shown = "unlimited" if lim.bytes is None else (
            f"{'at least ' if not lim.exact else ''}{lim.bytes}")
        base += f"; {lim.who} gives QEMU {shown}: {lim.how}"
    src_all = src + ("; " + lim.source if lim is not None else "")
    items = []
    # the management layer itself may fail before QEMU runs
    if lim is not None and lim.failure and ctx.memlock is None:
        sure = lim.short_by > KUBEVIRT_UNMODELLED_MAX
        items.append(Item(
            "memlock", f"{lim.who} limit", "fails" if sure else "warns",
            base + f"; libvirt asks {lim.short_by} bytes more than {lim.who} allows"
            + ("" if sure else " -- within what the VMI's unmodelled overhead terms (probes, "
               "TPM, SEV, dedicated CPUs) could add")
            + "; the domain does not start", src_all, lim.failure))
        return items
    # the limit QEMU runs with
    if ctx.memlock is not None:
        limit, lock_cap, from_ = ctx.memlock, False, f"--memlock {ctx.memlock}"
    elif lim is not None:
        limit, lock_cap, from_ = lim.bytes, lim.lock_cap, f"{lim.who}'s limit"
        if lim.bytes == 0:
            limit, from_ = None, None
    else:
        limit, lock_cap, from_ = None, False, None
    if from_ is None:
        items.append(Item("memlock", "RLIMIT_MEMLOCK", "ok",
                          base + "; no --memlock given, not checked", src_all))
        return items
    if lock_cap:
        items.append(Item("memlock", "RLIMIT_MEMLOCK", "ok",
                          base + "; QEMU has CAP_IPC_LOCK: the pages are counted, the limit is "
                          "never checked", src_all))
        return items
    if limit is None:
        items.append(Item("memlock", "RLIMIT_MEMLOCK", "ok",
                          base + f"; {from_} is unlimited", src_all))
        return items
    # replay the pinning container by container: locked_vm grows by each
    # RAM section; the first that crosses the limit fails
    locked, failed_at, failed_dev = 0, None, None
    for k in range(n_cont):
        for m in ram_pinned:
            if locked + m.size > limit:
                failed_at, failed_dev = m, vdevs[k] if viommu else vdevs[0]
                break
            locked += m.size
        if failed_at is not None:
            break
    if failed_at is None:
        items.append(Item("memlock", "RLIMIT_MEMLOCK", "ok",
                          base + f"; {from_} ({limit}) is enough", src_all))
        return items
    m = failed_at
    region = m.region
    which = (f" in the container of {failed_dev.bdf} (host {failed_dev.host}), after "
             f"{fmt_size(locked)} already counted" if viommu else "")
    msg = (f"kernel: vfio_pin_pages_remote: RLIMIT_MEMLOCK ({limit >> 12 << 12}) exceeded\n"
           + _map_messages(stk, cont, m.iova, m.size, m.vaddr, _errno.ENOMEM, True, region,
                           failed_dev.host, None))
    items.append(Item("memlock", "RLIMIT_MEMLOCK", "fails",
                      base + f"; {from_} ({limit}) is short by {needed - limit} bytes: mapping "
                      f"{region} at {fmt_hex(m.iova)}{which} fails with -ENOMEM", src_all +
                      "; QEMU hw/vfio/common.c vfio_dma_map", msg))
    return items


def _viommu_item(dev: dict, stk: Stack, ctx: _Ctx, has_vfio: bool) -> Item:
    """QEMU hw/i386/intel_iommu.c ``aw-bits``: VTD_HOST_ADDRESS_WIDTH, 39 up
    to QEMU 9.1, 48 from 9.2, whose machine types before 9.2 keep 39
    (hw/i386/pc.c ``pc_compat_9_1``: intel-iommu aw-bits=39).  QEMU 10.0
    (read at v10.0.0, ``vtd_check_hiod``; not in v7.2.0) refuses a vfio-pci
    device behind a vIOMMU wider than the host IOMMU: "aw-bits %d > host
    aw-bits %d"; before, guest IOVAs past the host's width fail to map when
    the guest uses them."""
    if "aw-bits" in dev:
        try:
            aw, how = int(dev["aw-bits"]), "aw-bits given"
        except ValueError:
            raise ConfigError(f"-device intel-iommu,aw-bits={dev['aw-bits']!r}: not a number") \
                from None
    elif stk.qemu_at_least(9, 2) and stk.machine_at_least(9, 2):
        aw, how = 48, "the default from QEMU 9.2 machine types"
    else:
        aw, how = 39, "the default before the 9.2 machine types"
    host = ctx.iommu.aperture_bits
    src = "QEMU hw/i386/intel_iommu.c vtd_properties, vtd_check_hiod; hw/i386/pc.c pc_compat_9_1"
    why = (f"aw-bits {aw} ({how}): the guest driver chooses IOVAs below 2^{aw}, and QEMU "
           f"copies each guest mapping into the host container, whose aperture is {host} bits")
    if aw <= host or not has_vfio:
        return Item("iommu", "vIOMMU intel-iommu", "ok", why, src)
    if stk.qemu_at_least(10, 0):
        return Item("iommu", "vIOMMU intel-iommu", "fails",
                    why + ": QEMU refuses the vfio-pci device", src,
                    f"aw-bits {aw} > host aw-bits {host}")
    return Item("iommu", "vIOMMU intel-iommu", "warns",
                why + ": guest IOVAs above it cannot be mapped", src)


# --- granularity -------------------------------------------------------------

def _entries(start: int, end: int, other: int, sizes) -> dict:
    """How many entries of each size map [start, end) when the other side
    of the translation is at ``other`` (+ the same offset): the largest
    size whose blocks are aligned on both sides first (``sizes``
    descending)."""
    out = {}
    delta = (start - other)

    def rec(lo, hi, szs):
        if lo >= hi:
            return
        for i, p in enumerate(szs):
            if delta % p:
                continue
            a, b = -(-lo // p) * p, hi // p * p
            if a < b:
                out[p] = out.get(p, 0) + (b - a) // p
                rec(lo, a, szs[i + 1:])
                rec(b, hi, szs[i + 1:])
                return
        out[PAGE_4K] = out.get(PAGE_4K, 0) + (hi - lo) // PAGE_4K
    rec(start, end, [s for s in sizes if s > PAGE_4K] + [PAGE_4K])
    return out


def _fmt_counts(c: dict) -> str:
    names = {PAGE_1G: "1G", PAGE_2M: "2M", PAGE_4K: "4K"}
    return ", ".join(f"{n} x {names[p]}" for p, n in sorted(c.items(), reverse=True))


def _granularity_items(vm, stk: Stack) -> list[Item]:
    """Each BAR mmap of 2 MiB or more: host page table (Linux >= 6.12 maps
    BAR mmaps with PMD/PUD entries, vfio_pci_mmap_huge_fault; before, 4
    KiB), EPT (KVM maps a GPA with a page no larger than the host's and only
    where GPA and HVA agree modulo the page: arch/x86/kvm/mmu/mmu.c
    kvm_mmu_max_mapping_level / lpage_info), IOMMU (iommu_map picks the
    largest page size with IOVA and HPA aligned alike: VT-d 4K/2M/1G).  The
    HVA's alignment is :func:`vfiolab.model.vfio.mmap_alignment` (QEMU >=
    9.2 aligns the mmap).  Computed here from the stack; the MMU model's
    own host page-table rules (model/host.py, ept.py) are not used yet."""
    items = []
    if vm.vfio is None:
        return items
    owners = _mmap_owner(vm)
    huge = stk.kernel_at_least(6, 12)
    src = ("QEMU hw/vfio/helpers.c vfio_region_mmap (>= 9.2 alignment); Linux "
           "drivers/vfio/pci/vfio_pci_core.c vfio_pci_mmap_huge_fault (>= 6.12), "
           "arch/x86/kvm/mmu/mmu.c kvm_mmu_max_mapping_level, drivers/iommu/intel/iommu.c "
           "intel_iommu_map; vfiolab model/vfio.py mmap_alignment")
    for m in vm.vfio.dma_map():
        if not m.ram_device or m.size < PAGE_2M:
            continue
        owner = owners.get(m.region)
        hm = vm.host.find(m.vaddr)
        if hm is None or hm.hpa is None:
            continue
        hpa = hm.hpa + (m.vaddr - hm.vaddr)
        hva = m.vaddr
        host_sizes = [PAGE_1G, PAGE_2M] if huge else []
        host = _entries(hva, hva + m.size, hpa, host_sizes)
        top_host = max(host)
        ept_sizes = [p for p in (PAGE_1G, PAGE_2M) if p <= top_host and (hva - hpa) % p == 0]
        ept = _entries(m.iova, m.iova + m.size, hva, ept_sizes)
        iommu = _entries(m.iova, m.iova + m.size, hpa, [PAGE_1G, PAGE_2M])
        subj = (f"{owner[0]} BAR{owner[1]}" if owner else m.region) + \
            f" ({fmt_size(m.size)} at {fmt_hex(m.iova)})"
        slow = max(ept) == PAGE_4K and m.size >= GiB
        # the HVA the model gave the mmap follows mmap_alignment's rule
        align, rule = mmap_alignment(stk, m.size,
                                     (owner[1] if owner else 0) << VFIO_PCI_OFFSET_SHIFT)
        because = (f"mmap aligned to {fmt_size(align)} ({rule}); "
                   f"host page table: {_fmt_counts(host)} (HVA {fmt_hex(hva)}, Linux "
                   f"{stk.kernel[0]}.{stk.kernel[1]}: {'huge pfnmaps' if huge else '4 KiB only'}); "
                   f"EPT: {_fmt_counts(ept)}; IOMMU: {_fmt_counts(iommu)}")
        if slow:
            because += ("; every 4 KiB EPT entry is one fault to fill at first touch, which is "
                        "what makes large-BAR VMs slow")
        items.append(Item("granularity", subj, "warns" if slow else "ok", because, src))
    return items


# ============================================================================
# the fix
# ============================================================================

def _set_cpu(args: list[str], props: dict, drop: tuple) -> list[str]:
    out = list(args)
    idx = [i for i, a in enumerate(out) if a == "-cpu" and i + 1 < len(out)]
    if idx:
        i = idx[-1]
        parts = out[i + 1].split(",")
        keep = [parts[0]] + [p for p in parts[1:] if p.split("=", 1)[0] not in drop + tuple(props)]
        out[i + 1] = ",".join(keep + [f"{k}={v}" for k, v in props.items()])
    else:
        out += ["-cpu", ",".join(["qemu64"] + [f"{k}={v}" for k, v in props.items()])]
    return out


def _set_mmio64(args: list[str], mb: int) -> list[str]:
    out, i = [], 0
    while i < len(args):
        if args[i] == "-fw_cfg" and i + 1 < len(args) and "opt/ovmf/X-PciMmio64Mb" in args[i + 1]:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out + ["-fw_cfg", f"name=opt/ovmf/X-PciMmio64Mb,string={mb}"]


def _set_aw_bits(args: list[str], aw: int) -> list[str]:
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a.lstrip("-") == "device" and out[i + 1].split(",", 1)[0] == "intel-iommu":
            parts = [p for p in out[i + 1].split(",") if not p.startswith("aw-bits=")]
            out[i + 1] = ",".join(parts + [f"aw-bits={aw}"])
    return out


def _width_change(st: _State, width: int, use_gpb: bool) -> tuple | None:
    """The -cpu change that gives the guest ``width`` phys-bits (or, with
    ``use_gpb``, caps OVMF's window with guest-phys-bits), as QEMU
    arguments, a libvirt element and a Proxmox option."""
    stk = st.stack
    if use_gpb:
        return ({"guest-phys-bits": str(width)}, (),
                f"-cpu {st.cpu_model},...,guest-phys-bits={width}",
                None,
                f"cpu: {st.cpu_model},guest-phys-bits={width} (qemu-server >= 9.0.18)")
    # OVMF caps a width above 40 at 40 without 1 GiB pages
    # (PlatformAddressWidthFromCpuid; model/firmware/ovmf.py trusted_phys_bits)
    p1g = st.cpu_props.get("pdpe1gb") in ("on", "true", "yes") or "+pdpe1gb" in st.cpu_props \
        or (st.cpu_model in ("host", "max") and "-pdpe1gb" not in st.cpu_props
            and st.cpu_props.get("pdpe1gb") is None)
    extra = {"pdpe1gb": "on"} if stk.firmware == "ovmf" and width > 40 and not p1g else {}
    if stk.accel == "kvm" and width <= stk.host_phys_bits:
        props = {"host-phys-bits": "on"}
        if width < stk.host_phys_bits:
            props["host-phys-bits-limit"] = str(width)
        props.update(extra)
        xml = ("<cpu><maxphysaddr mode='passthrough'"
               + (f" limit='{width}'" if width < stk.host_phys_bits else "") + "/></cpu>")
        # Proxmox qemu-server src/PVE/QemuServer/CPUConfig.pm: phys-bits=host
        # becomes host-phys-bits=true, a number phys-bits=N, which QEMU
        # ignores while host-phys-bits is on (cputype host): no option
        # gives host-phys-bits-limit
        if width == stk.host_phys_bits:
            pve = f"cpu: {st.cpu_model},phys-bits=host"
        elif st.cpu_model in ("host", "max"):
            pve = (f"(none for cputype {st.cpu_model}: Proxmox's phys-bits={width} is ignored "
                   "by QEMU while host-phys-bits is on; use guest-phys-bits with QEMU >= 9.1, or "
                   f"a named model with phys-bits={width})")
        else:
            pve = f"cpu: {st.cpu_model},phys-bits={width}"
        return (props, ("phys-bits",), f"-cpu {st.cpu_model},...,"
                + ",".join(f"{k}={v}" for k, v in props.items()), _p1g_xml(xml, extra),
                _p1g_pve(pve, extra))
    props = {"phys-bits": str(width), **extra}
    return (props, ("host-phys-bits", "host-phys-bits-limit"),
            f"-cpu {st.cpu_model},...," + ",".join(f"{k}={v}" for k, v in props.items()),
            _p1g_xml(f"<cpu><maxphysaddr mode='emulate' bits='{width}'/></cpu>", extra),
            _p1g_pve(f"cpu: {st.cpu_model},phys-bits={width}", extra))


def _p1g_xml(xml: str, extra: dict) -> str:
    """libvirt: a CPU feature is ``<feature policy='require' name='...'/>``."""
    if not extra:
        return xml
    return xml.replace("</cpu>", "<feature policy='require' name='pdpe1gb'/></cpu>")


def _p1g_pve(pve: str, extra: dict) -> str:
    """Proxmox: CPU flags are ``flags=+FLAG`` in the cpu option (qemu-server
    CPUConfig.pm check_phys_bits_above_40_compat itself warns that OVMF may
    limit phys-bits to 40 without pdpe1gb)."""
    if not extra or not pve.startswith("cpu: "):
        return pve
    return pve + ",flags=+pdpe1gb"


def _targets(items: list) -> list:
    """What the fix must make pass: every failing item, and the IOMMU
    warnings (a BAR peer-to-peer DMA cannot reach)."""
    return [i for i in items if i.verdict == "fails" or (i.area == "iommu" and
                                                          i.verdict == "warns")]


def _memlock_fix(ctx: _Ctx, st: _State, out: dict) -> dict:
    """The change that gives QEMU the locked memory type1 pins, for the
    management layer in use; returns the check context's changes that
    stand for it in the re-check."""
    need = st.memlock_needed
    lim = st.memlock_limit
    pol = ctx.policy
    kib = -(-need // KiB)
    if ctx.memlock is not None or pol.layer == "none":
        # the limit QEMU runs with (as given): raise it
        out["notes"].append(f"without a management layer: run QEMU with ulimit -l {kib} (KiB), "
                            "or give it CAP_IPC_LOCK")
        if pol.layer in ("none", "libvirt"):
            ver = pol.version if pol.layer == "libvirt" else DEBIAN12_LIBVIRT
            own = libvirt_limit(ver, st.memlock_demand)
            if own.bytes is None or (own.bytes and own.bytes >= need):
                out["libvirt_xml"].append(
                    f"no <memtune><hard_limit>: libvirt {'.'.join(map(str, ver))} then sets "
                    + ("unlimited" if own.bytes is None else str(own.bytes)) + f" ({own.how})")
            else:
                hl = -(-(need + LIBVIRT_MEMLOCK_EXTRA) // KiB)
                out["libvirt_xml"].append(
                    f"<memtune><hard_limit unit='KiB'>{hl}</hard_limit></memtune> (libvirt sets "
                    "RLIMIT_MEMLOCK to it; it is also the cgroup's memory limit, so it must "
                    "cover QEMU's own memory too)")
        if pol.layer == "none":
            out["proxmox"].append("(none needed: qemu-server runs QEMU as root, with "
                                  "CAP_IPC_LOCK, and sets no limit)")
        return {"memlock": need if ctx.memlock is not None else None}
    if pol.layer == "libvirt":
        # libvirt's own rule without <hard_limit>, if it covers the need;
        # else a hard limit of what is pinned plus libvirt's own 1 GiB margin
        own = libvirt_limit(pol.version, st.memlock_demand)
        hl = own.bytes if own.bytes and own.bytes >= need else need + LIBVIRT_MEMLOCK_EXTRA
        hl_kib = -(-hl // KiB)
        if ctx.hard_limit is not None and own.bytes and own.bytes >= need:
            out["libvirt_xml"].append(
                f"remove <memtune><hard_limit> ({ctx.hard_limit} bytes is below what type1 "
                f"pins): libvirt then sets {own.bytes} ({own.how})")
            return {"hard_limit": None}
        out["libvirt_xml"].append(
            f"<memtune><hard_limit unit='KiB'>{hl_kib}</hard_limit></memtune> (libvirt sets "
            "RLIMIT_MEMLOCK to it; it is also the cgroup's memory limit, so it must cover "
            "QEMU's own memory too)")
        if pol.version < (8, 7, 0) and st.viommu:
            out["notes"].append("libvirt >= 8.7.0 counts guest memory once per VFIO hostdev "
                                "behind a vIOMMU (NEWS 8.7.0), which covers this without "
                                "<hard_limit>")
        return {"hard_limit": hl_kib * KiB}
    if pol.layer == "kubevirt" and lim is not None and lim.failure:
        out["notes"].append("KubeVirt >= 1.9 adds (N - 1) x guest memory to virt-handler's "
                            "memlock limit for N VFIO devices (commit 52e868efa8, PR #17805); "
                            "on older releases spec.domain.memory.reservedOverhead.addedOverhead "
                            f"of at least {lim.short_by} bytes raises it (feature gate "
                            "ReservedOverheadMemlock)")
        return {"policy": Policy("kubevirt", (1, 9))}
    return {}


def _find_fix(args: list[str], ctx: _Ctx, st: _State) -> dict:
    """Try the changes that address the failing items, smallest first, each
    by running the whole check again with the change applied; memlock is
    set to what type1 pins."""
    fails = _targets(st.items)
    out = {"qemu_args": [], "libvirt_xml": [], "proxmox": [],
           "memlock_bytes": st.memlock_needed or None, "notes": []}
    # the resource-reservation knob OVMF's model found for dropped hot-plug
    # padding (model/firmware/ovmf.py reservation_knobs; real run
    # data/ovmf/q35-2G-14rp-ioreserve0-2022.11-qemu7.2)
    fw = getattr(getattr(st, "pred", None), "vm", None)
    fw = getattr(fw, "firmware", None)
    reserve = [k for k in (getattr(fw, "knobs", None) or []) if "-reserve=" in k]
    if reserve and any(i.verdict == "warns" and i.subject.endswith("hot-plug padding")
                       for i in st.items):
        k = reserve[0]
        out["qemu_args"].append(k.split(" (", 1)[0])
        if k.startswith("-global "):
            g = k.split()[1]
            out["libvirt_xml"].append(
                f"<qemu:commandline><qemu:arg value='-global'/><qemu:arg value='{g}'/>"
                "</qemu:commandline> (domain xmlns:qemu='http://libvirt.org/schemas/domain/"
                "qemu/1.0'; libvirt's pcie-root-port controller has no such attribute)")
            out["proxmox"].append(f"args: -global {g}")
            args = list(args) + ["-global", g]
        out["notes"].append(f"keeps every hot-plug port's padding: {k}")
    if not fails and not out["qemu_args"]:
        return out
    areas = {i.area for i in fails if i.subject != "vIOMMU intel-iommu"}
    # the other areas' fixes are searched with memlock out of the way
    ctx2 = replace(ctx, memlock=None, policy=Policy("none"), hard_limit=None)
    # hw/i386/intel_iommu.c vtd_decide_config: aw-bits 39 or 48 only
    aw = None
    if any(i.subject == "vIOMMU intel-iommu" for i in fails):
        aw = 48 if ctx.iommu.aperture_bits >= 48 else 39
        args = _set_aw_bits(args, aw)
    stk = st.stack
    cands = [None]
    if areas & {"phys-bits", "kvm", "iommu", "placement"}:
        # the widest guest width every host piece can take
        target = min(ctx.kvm_bits, stk.host_phys_bits,
                     ctx.iommu.aperture_bits if st.has_vfio else 64)
        widths = [target]
        if stk.firmware == "ovmf" and stk.qemu_at_least(9, 1) and stk.accel == "kvm" \
                and st.guest_bits and st.guest_bits > target:
            # Proxmox's way (qemu-server 9.0.18, "guest-phys-bits"): OVMF
            # 2025.02 trusts CPUID's guest-phys-bits and stays below it
            cands.append(_width_change(st, target, True))
        for w in widths:
            if w != st.guest_bits or "phys-bits" in areas:
                cands.append(_width_change(st, w, False))
    mmios = [None]
    if stk.firmware == "ovmf" and ("placement" in areas or len(cands) > 1):
        size = 1 << (max(st.mem64_needed, GiB) - 1).bit_length()
        for _ in range(6):
            mmios.append(size)
            size <<= 1
    # combinations, preferred first: a placement-only failure is OVMF's
    # window (the knob real runs confirm, data/ovmf/*-X64G-*), anything else
    # the guest's width first
    widths_first = bool(areas & {"phys-bits", "kvm", "iommu"})
    singles_c = [(c, None) for c in cands if c is not None]
    singles_m = [(None, m) for m in mmios if m is not None]
    combos = (singles_c + singles_m) if widths_first else (singles_m + singles_c)
    combos += [(c, m) for m in mmios if m is not None for c in cands if c is not None]
    chosen = None
    if not areas - {"memlock"}:
        combos = []
    for c, mmio in combos[:30]:
        new = list(args)
        if c is not None:
            new = _set_cpu(new, c[0], c[1])
        if mmio is not None:
            new = _set_mmio64(new, mmio >> 20)
        try:
            s2 = _evaluate(new, ctx2)
        except VfiolabError:
            continue
        if _targets(s2.items):
            continue
        chosen = (c, mmio)
        st.memlock_needed = s2.memlock_needed or st.memlock_needed
        break
    if chosen is not None:
        c, mmio = chosen
        if c is not None:
            out["qemu_args"].append(c[2])
            if c[3]:
                out["libvirt_xml"].append(c[3])
            out["proxmox"].append(c[4])
        if mmio is not None:
            out["qemu_args"].append(f"-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string={mmio >> 20}")
            out["libvirt_xml"].append(
                "<qemu:commandline><qemu:arg value='-fw_cfg'/><qemu:arg value='name=opt/"
                f"ovmf/X-PciMmio64Mb,string={mmio >> 20}'/></qemu:commandline> (domain "
                "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0')")
            out["proxmox"].append(f"args: -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string="
                                  f"{mmio >> 20}")
    elif areas - {"memlock"}:
        out["notes"].append("no change of the guest's width and OVMF's window makes every "
                            "item pass")
    if aw is not None:
        out["qemu_args"].append(f"-device intel-iommu,...,aw-bits={aw}")
        out["libvirt_xml"].append(f"<iommu model='intel'><driver aw_bits='{aw}'/></iommu>")
        out["proxmox"].append(f"machine: q35,viommu=intel,aw-bits={aw}")
        if aw > ctx.iommu.aperture_bits:
            out["notes"].append(f"the host IOMMU's {ctx.iommu.aperture_bits} bits are below "
                                "every aw-bits QEMU accepts (39, 48)")
    memlock_ctx = {"memlock": out["memlock_bytes"] if ctx.memlock is not None else None}
    if "memlock" in areas:
        need = st.memlock_needed
        out["memlock_bytes"] = need
        memlock_ctx.update(_memlock_fix(ctx, st, out))
    # re-check with everything applied
    # re-check with everything applied
    final = list(args)
    if chosen is not None:
        if chosen[0] is not None:
            final = _set_cpu(final, chosen[0][0], chosen[0][1])
        if chosen[1] is not None:
            final = _set_mmio64(final, chosen[1] >> 20)
    try:
        s3 = _evaluate(final, replace(ctx, **memlock_ctx))
        out["rechecked"] = True
        out["rechecked_ok"] = not _targets(s3.items) and not (
            reserve and any(i.verdict == "warns" and i.subject.endswith("hot-plug padding")
                            for i in s3.items))
        out["rechecked_args"] = final
    except VfiolabError as e:
        out["rechecked"] = True
        out["rechecked_ok"] = False
        out["notes"].append(f"re-check failed: {e}")
    return out


# ============================================================================
# "paste your error"
# ============================================================================

#: the lines practitioners paste, what produces them, and the item
KNOWN_ERRORS = [
    (r"BAR\s*\d+ is 0M @ 0x0", "placement",
     "the NVIDIA guest driver (NVRM) found the BAR unassigned: the firmware left the device "
     "without resources"),
    (r"BAR \d+: no space for \[mem size", "placement",
     "the guest kernel could not fit a BAR the firmware left unassigned (or too small a window)"),
    (r"BAR \d+: failed to assign", "placement", "the guest kernel could not assign a BAR"),
    (r"Code 12", "placement",
     "Windows: 'This device cannot find enough free resources' (the firmware left BARs "
     "unassigned)"),
    (r"Address space limit 0x[0-9a-f]+ < 0x[0-9a-f]+ phys-bits too low", "phys-bits",
     "QEMU refuses to start: RAM and the 64-bit PCI hole end above the guest's phys-bits"),
    (r"Host physical bits \(\d+\) does not match phys-bits property", "phys-bits",
     "QEMU's warning: phys-bits= differs from the host's width"),
    (r"KVM_SET_USER_MEMORY_REGION failed", "kvm",
     "KVM refused a memslot (a GPA beyond what KVM can map, the host's MAXPHYADDR)"),
    (r"error registering slot", "kvm", "QEMU aborts after KVM refused a memslot"),
    (r"RLIMIT_MEMLOCK \(.*\) exceeded", "memlock",
     "the kernel: pinning guest RAM for VFIO went over RLIMIT_MEMLOCK"),
    (r"cannot limit locked memory", "memlock",
     "libvirt could not raise QEMU's RLIMIT_MEMLOCK (virProcessSetMaxMemLock)"),
    (r"VFIO_MAP_DMA failed: Cannot allocate memory", "memlock",
     "QEMU 7.2: VFIO_IOMMU_MAP_DMA returned -ENOMEM (pinning over RLIMIT_MEMLOCK)"),
    (r"(vfio_dma_map|vfio_container_dma_map)\(.*\) = -12", "memlock",
     "a DMA map failed with -ENOMEM: RLIMIT_MEMLOCK"),
    (r"(vfio_dma_map|vfio_container_dma_map)\(.*\) = -(22|14)", "iommu",
     "a DMA map (IOVA = GPA) outside the host IOMMU's aperture or in a reserved region"),
    (r"VFIO_MAP_DMA failed: (Invalid argument|Bad address)", "iommu",
     "QEMU 7.2: VFIO_IOMMU_MAP_DMA refused an IOVA"),
    (r"iommu width \(\d+\) is not sufficient", "iommu",
     "Linux < 6.11 intel_iommu_map: the IOVA is past the VT-d unit's width"),
    (r"PCI peer-to-peer transactions on BARs are not supported", "iommu",
     "QEMU >= 8.2: a BAR could not be DMA-mapped; only peer-to-peer DMA is affected"),
    (r"failed to setup container for group", "iommu",
     "QEMU: mapping guest RAM into the container failed (the rest of the line says why)"),
]


def recognise_error(line: str, report: CheckReport) -> dict:
    """Which item produces ``line``, and whether the model reproduces it
    for this VM: an item of that area warns or fails and, where the line
    carries an errno (``= -22``), prints the same one; placement items
    count whatever the guest prints."""
    for pattern, area, meaning in KNOWN_ERRORS:
        if not re.search(pattern, line, re.I):
            continue
        if area == "iommu" and re.search(r"= -12|Cannot allocate memory", line):
            continue
        ret = re.search(r"= (-\d+)", line)
        hits = []
        for i in report.items:
            if i.area != area or i.verdict == "ok":
                continue
            if ret and ret.group(0) not in (i.message or ""):
                continue
            if area == "placement" or not i.message or re.search(pattern, i.message, re.I) \
                    or ret:
                hits.append(i)
        return {"line": line, "recognised": True, "area": area, "meaning": meaning,
                "reproduced": bool(hits), "items": [i.subject for i in hits]}
    return {"line": line, "recognised": False,
            "known": [p for p, _a, _m in KNOWN_ERRORS]}
