"""Pinned memory: what the kernel counts against ``RLIMIT_MEMLOCK`` for a
VFIO guest, and the limit each management layer gives QEMU.

**What is counted** (restated from the sources; the model's own
:class:`~vfiolab.model.iommu.Type1Container` replays the per-page check):

* VFIO type1 (Linux ``drivers/vfio/vfio_iommu_type1.c``, read in 6.1.20 and
  6.12): ``VFIO_IOMMU_MAP_DMA`` of guest RAM pins every page
  (``vfio_pin_pages_remote``) and adds it to the process's
  ``mm->locked_vm`` (``vfio_lock_acct`` -> ``__account_locked_vm``); the
  limit is checked as ``locked_vm + new + 1 > RLIMIT_MEMLOCK`` and refused
  with -ENOMEM and the warning ``"%s: RLIMIT_MEMLOCK (%ld) exceeded"``
  (``__func__`` = vfio_pin_pages_remote, the limit in bytes), unless the
  task has CAP_IPC_LOCK (``dma->lock_cap = capable(CAP_IPC_LOCK)``: counted,
  never refused).  Pages of a BAR mmap (VM_PFNMAP, ``is_invalid_reserved_pfn``)
  are neither pinned nor counted.  The count is per mapping: two containers
  mapping the same RAM count it twice in the same ``locked_vm``.
* QEMU keeps one container per address space (hw/vfio/common.c
  ``vfio_get_address_space``, ``vfio_connect_container``: a group joins a
  container of the same ``VFIOAddressSpace`` when the kernel lets it).
  Without a vIOMMU every vfio-pci device DMAs in ``address_space_memory``:
  one container, RAM pinned once.  With ``-device intel-iommu`` each
  device has its own address space (hw/i386/intel_iommu.c ``vtd_find_add_as``
  per bus and devfn), hence its own container, and while the guest has not
  enabled DMA remapping (firmware, early boot) or puts the device in
  pass-through, that address space is the ``nodmar`` alias of all of system
  memory (``vtd_switch_address_space``, read at QEMU v7.2.0): every
  container maps, pins and counts all of guest RAM.  Peak = one RAM per
  vfio-pci device.  (Functions of one host IOMMU group cannot sit in two
  address spaces: QEMU refuses them, "group %d used in multiple address
  spaces", hw/vfio/common.c at v7.2.0, container.c at v10.0.0; the model
  does not know host groups and counts every device.)
* iommufd (Linux >= 6.2, ``drivers/iommu/iommufd/pages.c``, read in 6.12;
  QEMU >= 9.0 ``-object iommufd``): pages are counted per *user*
  (``IOPT_PAGES_ACCOUNT_USER``, ``incr_user_locked_vm``: the user's
  ``locked_vm`` against the task's RLIMIT_MEMLOCK, so every process of
  that user shares the budget) unless the fd is the /dev/vfio/vfio
  compatibility node (``IOPT_PAGES_ACCOUNT_MM``, as type1) or the task has
  CAP_IPC_LOCK (``IOPT_PAGES_ACCOUNT_NONE``); QEMU does not set
  ``IOMMU_OPTION_RLIMIT_MODE`` (backends/iommufd.c at v10.0.0).  Refusal is
  -ENOMEM with no kernel message.

**What the management layers set** (:func:`libvirt_limit`,
:func:`kubevirt_limit`, :func:`proxmox_limit`): see each function; the
input forms are :func:`parse_policy`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..addr import fmt_size
from ..errors import ConfigError

__all__ = ["Demand", "Limit", "Policy", "parse_policy", "POLICY_FORMS", "containers",
           "pinned_peak", "libvirt_limit", "kubevirt_limit", "proxmox_limit", "policy_limit",
           "LIBVIRT_MEMLOCK_EXTRA", "VIR_DOMAIN_MEMORY_PARAM_UNLIMITED", "kubevirt_overhead",
           "KUBEVIRT_UNMODELLED_MAX"]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

#: libvirt's fixed extra for VFIO guests on x86, 1 GiB ("originates from
#: x86 systems where it was used as space reserved for the MMIO region",
#: src/qemu/qemu_domain.c ``qemuDomainGetMemLockLimitBytes``)
LIBVIRT_MEMLOCK_EXTRA = GiB
#: include/libvirt/libvirt-domain.h: "unlimited" for memory parameters,
#: 2^53 - 1 (what libvirt asks for with <memoryBacking><locked/>; it then
#: sets RLIM_INFINITY, src/util/virprocess.c ``virProcessSetMaxMemLock``)
VIR_DOMAIN_MEMORY_PARAM_UNLIMITED = 9007199254740991

#: the accepted ``--memlock-policy`` forms
POLICY_FORMS = ("none", "libvirt-X.Y[.Z] (7.0 to 12.5)", "proxmox",
                "kubevirt-1.0 ... kubevirt-1.8", "kubevirt-1.9", "kubevirt-main")


@dataclass(frozen=True)
class Demand:
    """What the management layer counts and what the kernel pins.

    ``memory``: the guest's memory in bytes (libvirt
    ``virDomainDefGetMemoryTotal``: <memory> plus memory devices; QEMU's
    ``-m``); ``ram_mapped``: what one container maps of it (RAM and ROM
    sections QEMU's listener maps, BAR mmaps excluded), default ``memory``;
    ``vfio``: vfio-pci devices (libvirt ``qemuDomainGetNumVFIOHostdevs``
    counts VFIO and mdev hostdevs; KubeVirt ``CountVFIODevices`` GPUs, host
    devices and SR-IOV interfaces); ``viommu``: the vIOMMU's QEMU device
    name or None (libvirt: any ``<iommu>``, ``def->iommu``); ``nvme``:
    disks QEMU drives through its own VFIO NVMe driver (``-blockdev
    driver=nvme``, libvirt ``<disk type='nvme'>``); ``vdpa``: vhost-vdpa
    netdevs and disks; ``mem_lock``: ``-overcommit mem-lock=on`` (libvirt
    ``<memoryBacking><locked/>``); ``vcpus``: for KubeVirt's overhead.
    iommufd's per-user count (above) has no field: the model refuses
    ``vfio-pci,iommufd=``."""

    memory: int
    vfio: int = 0
    viommu: str | None = None
    nvme: int = 0
    vdpa: int = 0
    mem_lock: bool = False
    vcpus: int = 1
    ram_mapped: int | None = None

    @property
    def mapped(self) -> int:
        return self.memory if self.ram_mapped is None else self.ram_mapped


@dataclass(frozen=True)
class Limit:
    """The ``RLIMIT_MEMLOCK`` QEMU ends up with.

    ``bytes``: the limit (None: unlimited, RLIM_INFINITY); ``exact``: False
    when ``bytes`` is a lower bound (terms of the layer's formula the input
    does not carry); ``lock_cap``: QEMU runs with CAP_IPC_LOCK (root), so
    the limit is never checked; ``how``: the rule applied, in words;
    ``source``: project, file, function; ``failure``: what the layer itself
    prints when it cannot set the limit (empty if it can); ``short_by``: by
    how much the layer's own limit is below what libvirt inside asks for
    (KubeVirt)."""

    who: str
    bytes: int | None
    how: str
    source: str
    exact: bool = True
    lock_cap: bool = False
    failure: str = ""
    short_by: int = 0


@dataclass(frozen=True)
class Policy:
    """A management layer and its release: ``layer`` one of none, libvirt,
    proxmox, kubevirt; ``version`` a tuple (libvirt (9, 0, 0); KubeVirt
    (1, 8) or ``None`` for main)."""

    layer: str
    version: tuple | None = None

    @property
    def name(self) -> str:
        if self.layer == "kubevirt":
            return "KubeVirt " + (".".join(map(str, self.version)) if self.version else "main")
        if self.layer == "libvirt":
            return "libvirt " + ".".join(map(str, self.version))
        return {"none": "no management layer", "proxmox": "Proxmox VE"}[self.layer]


def parse_policy(text: str | Policy | None) -> Policy:
    """``none``, ``libvirt-9.0.0`` (``libvirt-9.0``, ``libvirt-11``),
    ``proxmox``, ``kubevirt-1.8`` / ``kubevirt-1.9`` / ``kubevirt-main``."""
    if isinstance(text, Policy):
        return text
    if text is None:
        return Policy("none")
    t = str(text).strip().lower()
    if t in ("none", "qemu"):
        return Policy("none")
    if t in ("proxmox", "pve", "qemu-server"):
        return Policy("proxmox")
    m = re.fullmatch(r"libvirt-(\d+)(?:\.(\d+))?(?:\.(\d+))?", t)
    if m:
        v = (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))
        if not (7, 0, 0) <= v <= (12, 5, 0):
            raise ConfigError(f"--memlock-policy {text!r}: libvirt 7.0 to 12.5 are known here "
                              "(the rule's history was read from libvirt's NEWS.rst back to 7.0)")
        return Policy("libvirt", v)
    m = re.fullmatch(r"kubevirt-(?:v)?(\d+)\.(\d+)(?:\.\d+)?", t)
    if m:
        v = (int(m.group(1)), int(m.group(2)))
        if not (1, 0) <= v <= (1, 9):
            raise ConfigError(f"--memlock-policy {text!r}: KubeVirt 1.0 to 1.9, or kubevirt-main")
        return Policy("kubevirt", v)
    if t in ("kubevirt-main", "kubevirt"):
        return Policy("kubevirt", None)
    raise ConfigError(f"--memlock-policy {text!r}: expected one of " + ", ".join(POLICY_FORMS))


# ---------------------------------------------------------------------------
# what the kernel counts
# ---------------------------------------------------------------------------

def containers(d: Demand) -> int:
    """How many VFIO containers (or iommufd IOAS) map guest RAM at boot:
    one without a vIOMMU, one per vfio-pci device with one (module
    docstring)."""
    if not d.vfio:
        return 0
    return d.vfio if d.viommu else 1


def pinned_peak(d: Demand) -> int:
    """Bytes counted against RLIMIT_MEMLOCK at the peak (boot, before the
    guest turns DMA remapping on): guest RAM once per container."""
    return containers(d) * d.mapped


# ---------------------------------------------------------------------------
# libvirt
# ---------------------------------------------------------------------------

def libvirt_limit(version: tuple, d: Demand, *, hard_limit: int | None = None) -> Limit:
    """libvirt's ``qemuDomainGetMemLockLimitBytes`` (src/qemu/qemu_domain.c)
    for an x86 guest, by release:

    * ``<memtune><hard_limit>`` wins, whatever else (all releases; libvirt's
      tests/qemumemlocktest.c "pc-hardlimit+hostdev", "pc-hardlimit+locked").
    * ``<memoryBacking><locked/>`` (QEMU ``-overcommit mem-lock=on``):
      unlimited, ``VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`` (tests
      "pc-locked+hostdev").
    * before 8.7.0: any VFIO hostdev (and from 7.2.0 a vDPA device, NEWS
      7.2.0 "increase locked memory limit when a vDPA device is present"):
      memory + 1 GiB, however many devices (tests "pc-hostdev": 1 GiB guest
      -> 2147483648, at libvirt commits 29b1e859e3 and 4ceac4bf29).
    * from 8.7.0 (NEWS 8.7.0 "increase memlock limit for a domain with
      multiple vfio/vdpa devices"): ``factor * memory + 1 GiB``, with
      factor = vDPA devices + (with a VFIO hostdev: the number of VFIO
      hostdevs if the domain has a vIOMMU, else 1) -- as read at commit
      4cf223962a, whose comment says the per-device count "only applies
      when there is a vIOMMU"; KubeVirt's commit 52e868efa8 restates the
      same rule "since libvirt v8.7.0".
    * from 9.3.0 NVMe disks count too, one each (NEWS 9.3.0 "Properly
      configure locked memory limit for VMs with <disk type='nvme'>"; tests
      "pc-hostdev-nvme": 1 GiB guest, 1 hostdev + 1 NVMe -> 3221225472);
      vDPA *disks* count from 9.8.0 (NEWS 9.8.0 adds them; read at
      4cf223962a) -- here every vDPA device counts.
    * nothing of the above: 0, libvirt leaves the limit alone.

    libvirt sets it on QEMU only when higher than QEMU's current limit
    (``qemuDomainSetMaxMemLock``, NEWS 7.2.0 "Only raise memlock limit if
    necessary"); when it may not raise it (no CAP_SYS_RESOURCE: session
    mode, containers) ``virProcessSetMaxMemLock`` reports "cannot limit
    locked memory of process %lld to %llu" (or "cannot limit locked memory
    to %llu" before exec), and the domain does not start.  libvirt 12.1
    added an iommufd backend (NEWS 12.1.0, 12.2.0): its effect on the limit
    was not read; the type1 rule above is applied."""
    v = tuple(version)
    who = "libvirt " + ".".join(map(str, v))
    src = "libvirt src/qemu/qemu_domain.c qemuDomainGetMemLockLimitBytes"
    if hard_limit is not None:
        return Limit(who, hard_limit, f"<memtune><hard_limit> {hard_limit} bytes wins over "
                     "every other rule", src)
    if d.mem_lock:
        return Limit(who, None, "<memoryBacking><locked/> (-overcommit mem-lock=on): unlimited "
                     f"({VIR_DOMAIN_MEMORY_PARAM_UNLIMITED}, RLIM_INFINITY)", src)
    mem = d.memory
    vdpa = d.vdpa if v >= (7, 2, 0) else 0
    nvme = d.nvme
    if v < (8, 7, 0):
        if not (d.vfio or vdpa or nvme):
            return Limit(who, 0, "no VFIO hostdev, NVMe disk nor vDPA device: the limit is left "
                         "as QEMU inherits it", src)
        return Limit(who, mem + LIBVIRT_MEMLOCK_EXTRA,
                     f"guest memory {fmt_size(mem)} + 1 GiB, whatever the number of devices "
                     f"(libvirt < 8.7.0)", src)
    if v < (9, 3, 0):
        # NVMe disks: not counted between 8.7.0 and 9.2 (fixed in 9.3.0)
        nvme = 0
    if not (d.vfio or vdpa or nvme):
        return Limit(who, 0, "no VFIO hostdev, NVMe disk nor vDPA device: the limit is left as "
                     "QEMU inherits it", src)
    vf = (d.vfio if d.viommu else 1) if d.vfio else 0
    factor = vdpa + nvme + vf
    parts = []
    if d.vfio:
        parts.append(f"{vf} for {d.vfio} VFIO hostdev(s)"
                     + (f" behind the vIOMMU ({d.viommu})" if d.viommu else " without a vIOMMU"))
    if vdpa:
        parts.append(f"{vdpa} vDPA")
    if nvme:
        parts.append(f"{nvme} NVMe")
    return Limit(who, factor * mem + LIBVIRT_MEMLOCK_EXTRA,
                 f"{factor} x guest memory {fmt_size(mem)} + 1 GiB ({', '.join(parts)}; "
                 "libvirt >= 8.7.0" + (", NVMe counted from 9.3.0" if v >= (9, 3, 0) else "")
                 + ")", src)


# ---------------------------------------------------------------------------
# KubeVirt
# ---------------------------------------------------------------------------

#: pkg/hypervisor/kvm/hypervisorbackend.go (v1.8.0) constants: the ``ps`` RSS
#: of virt-launcher-monitor 25Mi, virt-launcher 100Mi, virtlogd 25Mi,
#: virtqemud 40Mi, qemu 30Mi
KUBEVIRT_FIXED = (25 + 100 + 25 + 40 + 30) * MiB
#: the most the fixed terms :func:`kubevirt_overhead` leaves out can add
#: (v1.8.0 hypervisorbackend.go: exec probes 100Mi + 2 x 10Mi, downward
#: metrics 1Mi, SEV 256Mi, TPM 53Mi, dedicated CPUs 100Mi); only the
#: user's ReservedOverhead.AddedOverhead and overhead ratio add more
KUBEVIRT_UNMODELLED_MAX = (120 + 1 + 256 + 53 + 100) * MiB


def kubevirt_overhead(d: Demand) -> int:
    """KubeVirt's ``GetMemoryOverhead`` (pkg/hypervisor/kvm/hypervisorbackend.go,
    read at v1.8.0 and main) for an x86 VMI, the terms the QEMU command line
    carries: page tables (memory / 512), the fixed 220 MiB of its
    processes, 8 MiB per vCPU, 8 MiB for the IOThread, 32 MiB of video RAM
    (AutoattachGraphicsDevice defaults to true), 1 GiB for VFIO.  Not
    carried, each only adds: probes, downward metrics (1Mi), SEV (256Mi),
    TPM (53Mi), dedicated CPUs (100Mi), ``ReservedOverhead.AddedOverhead``
    and ``additionalGuestMemoryOverheadRatio``."""
    over = d.memory // 512 + KUBEVIRT_FIXED + 8 * MiB * max(d.vcpus, 1) + 8 * MiB + 32 * MiB
    if d.vfio:
        over += GiB
    return over


def kubevirt_limit(version: tuple | None, d: Demand, *, libvirt: tuple = (11, 0, 0)) -> Limit:
    """KubeVirt's virt-handler sets the RLIMIT_MEMLOCK of virtqemud (before
    the domain starts) or of QEMU (once running) with prlimit for a VMI with
    VFIO devices, realtime, SEV or MemLock required
    (pkg/hypervisor/kvm/runtime.go ``AdjustResources``):

    * v1.0 to v1.8: the VMI's memory overhead plus its memory
      (pkg/virt-handler/isolation/detector.go at v1.0.0; runtime.go at
      v1.8.0);
    * v1.9 (commit 52e868efa8, PR #17805): plus (N - 1) x memory for N > 1
      VFIO devices, "matching libvirt's calculation introduced in v8.7.0"
      (applied with or without a vIOMMU);
    * main after v1.9 (commit d951a72249, not in a release when read):
      unlimited.

    libvirt inside virt-launcher runs without CAP_SYS_RESOURCE and then sets
    its own :func:`libvirt_limit` on QEMU; if that is above what virt-handler
    gave, the domain fails to start with libvirt's "cannot limit locked
    memory" (the failure PR #17805 fixed for several VFIO devices).  The
    returned :class:`Limit` is libvirt's when it fits, with ``failure`` set
    when it does not; ``exact`` is False since KubeVirt's overhead has
    terms the command line does not carry (:func:`kubevirt_overhead`)."""
    who = "KubeVirt " + (".".join(map(str, version)) if version else "main")
    src = ("KubeVirt pkg/hypervisor/kvm/runtime.go AdjustResources, hypervisorbackend.go "
           "GetMemoryOverhead")
    lv = libvirt_limit(libvirt, d)
    if version is None:
        kv, kv_how, exact = None, "unlimited (main after v1.9, commit d951a72249)", True
    else:
        kv = kubevirt_overhead(d) + d.memory
        kv_how = (f"memory {fmt_size(d.memory)} + overhead {fmt_size(kubevirt_overhead(d))} "
                  "(at least: page tables, its processes, vCPUs, IOThread, video, 1 GiB for VFIO)")
        if version >= (1, 9) and d.vfio > 1:
            kv += (d.vfio - 1) * d.memory
            kv_how += f" + {d.vfio - 1} x memory for {d.vfio} VFIO devices (v1.9)"
        exact = False
    if lv.bytes == 0:
        # libvirt leaves the limit alone: QEMU keeps what virt-handler gave
        return Limit(who, kv, f"virt-handler: {kv_how}; {lv.who} sets none", src, exact)
    if kv is None or (lv.bytes is not None and lv.bytes <= kv):
        # libvirt raises a lower limit to its own and leaves a higher one
        # (qemuDomainSetMaxMemLock, read at 4cf223962a): QEMU has at least
        # libvirt's value
        return Limit(who, lv.bytes, f"virt-handler gives virtqemud {kv_how}; {lv.who} inside "
                     f"asks {lv.how}, which fits", src + "; " + lv.source, False)
    # libvirt asks for more than virt-handler allowed
    asked = lv.bytes if lv.bytes is not None else VIR_DOMAIN_MEMORY_PARAM_UNLIMITED
    return Limit(who, kv, f"virt-handler gives virtqemud {kv_how}; {lv.who} inside wants "
                 f"{asked} ({lv.how}) and may not raise it", src + "; " + lv.source, exact,
                 short_by=asked - kv,
                 failure=(f"libvirt: error : cannot limit locked memory of process <pid> to "
                          f"{asked}: Operation not permitted"))


# ---------------------------------------------------------------------------
# Proxmox VE
# ---------------------------------------------------------------------------

def proxmox_limit(d: Demand) -> Limit:
    """Proxmox VE (qemu-server 9.2.6, read in full): sets no locked-memory
    limit -- the systemd scope it starts QEMU in (src/PVE/QemuServer.pm
    ``vm_start``: ``enter_systemd_scope`` with Slice, KillMode, CPUWeight,
    CPUQuota, timeouts) has no LimitMEMLOCK, and QEMU runs as root (no
    ``-runas``).  Root has CAP_IPC_LOCK, so type1 never checks the limit
    (``dma->lock_cap``) and iommufd does not count (``IOPT_PAGES_ACCOUNT_NONE``).
    What qemu-server does for hostpci instead: four times the start timeout
    (src/PVE/QemuServer/Helpers.pm ``config_aware_timeout``: "users reported
    much higher startup times, growing with the amount of memory")."""
    return Limit("Proxmox VE", None,
                 "no limit set (the VM's systemd scope has no LimitMEMLOCK) and QEMU runs as "
                 "root with CAP_IPC_LOCK: type1 counts the pinned pages but never refuses them",
                 "Proxmox qemu-server src/PVE/QemuServer.pm vm_start (enter_systemd_scope); "
                 "Linux drivers/vfio/vfio_iommu_type1.c vfio_pin_pages_remote (lock_cap)",
                 lock_cap=True)


def policy_limit(policy: Policy, d: Demand, *, hard_limit: int | None = None) -> Limit | None:
    """The limit ``policy`` gives QEMU for ``d`` (None for ``none``)."""
    if policy.layer == "libvirt":
        return libvirt_limit(policy.version, d, hard_limit=hard_limit)
    if policy.layer == "kubevirt":
        return kubevirt_limit(policy.version, d)
    if policy.layer == "proxmox":
        return proxmox_limit(d)
    return None
