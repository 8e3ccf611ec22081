"""Pinned memory and the locked-memory limit each management layer sets
(vfiolab.model.memlock, the memlock items of vfiolab.check).

Expected numbers come from the sources, never from the model:

* libvirt's own test of ``qemuDomainGetMemLockLimitBytes``,
  tests/qemumemlocktest.c with tests/qemumemlockdata/qemumemlock-*.xml
  (1 GiB guests, ``<memory unit='KiB'>1048576</memory>``; pc-hardlimit*:
  ``<hard_limit unit='KiB'>2097152</hard_limit>``): "pc-kvm" 0,
  "pc-hardlimit" 2147483648, "pc-locked" VIR_DOMAIN_MEMORY_PARAM_UNLIMITED,
  "pc-hostdev" 2147483648, "pc-hostdev-nvme" 3221225472,
  "pc-hardlimit+hostdev" 2147483648, "pc-locked+hostdev" UNLIMITED;
* the function as read at libvirt commit 4cf223962a (src/qemu/qemu_domain.c):
  ``factor * virDomainDefGetMemoryTotal(def) + 1024 * 1024`` KiB with
  factor = nvdpa + nnvme + (nvfio ? (def->iommu ? nvfio : 1) : 0);
  NEWS.rst 8.7.0 (per-device factor), 9.3.0 (NVMe);
* KubeVirt pkg/hypervisor/kvm/hypervisorbackend.go at v1.8.0
  (GetMemoryOverhead: RAM/512, 25Mi + 100Mi + 25Mi + 40Mi + 30Mi, 8Mi per
  vCPU, 8Mi IOThread, 32Mi video, 1Gi VFIO) and runtime.go (overhead +
  memory; v1.9 commit 52e868efa8 adds (N - 1) x memory; main commit
  d951a72249 sets RLIM_INFINITY);
* Proxmox qemu-server 9.2.6 src/PVE/QemuServer.pm vm_start: no
  LimitMEMLOCK, QEMU as root.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_check import _gpus  # noqa: E402

from vfiolab.check import check, recognise_error  # noqa: E402
from vfiolab.cli import main  # noqa: E402
from vfiolab.errors import ConfigError  # noqa: E402
from vfiolab.model.memlock import (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, Demand, Policy,  # noqa: E402
                                   kubevirt_limit, kubevirt_overhead, libvirt_limit,
                                   parse_policy, pinned_peak, proxmox_limit)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
ROOT = Path(__file__).resolve().parent.parent
GPU_XML = ROOT / "data" / "configs" / "libvirt" / "q35-ovmf-gpu.xml"
T4 = str(ROOT / "data" / "devices" / "gpu-nvidia-tesla-t4")
VIOMMU = ["-device", '{"driver":"intel-iommu","id":"iommu0","caching-mode":"on"}']
BASE = ["-machine", "q35", "-accel", "kvm", "-m", "8G", "-nodefaults", "-smp", "4"]


# --------------------------------------------------------------------------
# libvirt's rule: its own test cases (tests/qemumemlocktest.c)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", [(7, 0, 0), (8, 6, 0), (9, 0, 0), (9, 3, 0), (11, 0, 0)])
@pytest.mark.parametrize("case, demand, hard, expected", [
    ("pc-kvm", Demand(GiB), None, 0),
    ("pc-hardlimit", Demand(GiB), 2097152 * KiB, 2147483648),
    ("pc-locked", Demand(GiB, mem_lock=True), None, None),
    ("pc-hostdev", Demand(GiB, vfio=1), None, 2147483648),
    ("pc-hardlimit+locked", Demand(GiB, mem_lock=True), 2097152 * KiB, 2147483648),
    ("pc-hardlimit+hostdev", Demand(GiB, vfio=1), 2097152 * KiB, 2147483648),
    ("pc-hardlimit+locked+hostdev", Demand(GiB, vfio=1, mem_lock=True), 2097152 * KiB,
     2147483648),
    ("pc-locked+hostdev", Demand(GiB, vfio=1, mem_lock=True), None, None),
])
def test_libvirt_qemumemlocktest_cases(version, case, demand, hard, expected):
    """The x86 cases of libvirt's tests/qemumemlocktest.c, the same in every
    release read (29b1e859e3, 4ceac4bf29, and the 2023 test with
    pc-hostdev-nvme); None stands for VIR_DOMAIN_MEMORY_PARAM_UNLIMITED."""
    lim = libvirt_limit(version, demand, hard_limit=hard)
    assert lim.bytes == expected, case


def test_libvirt_nvme_counts_from_9_3():
    """"pc-hostdev-nvme" (1 GiB, one VFIO hostdev and one <disk type='nvme'>)
    is 3221225472 in libvirt's test from 9.3.0 (NEWS 9.3.0: "Properly
    configure locked memory limit for VMs with <disk type='nvme'>")."""
    d = Demand(GiB, vfio=1, nvme=1)
    assert libvirt_limit((9, 3, 0), d).bytes == 3221225472
    assert libvirt_limit((11, 0, 0), d).bytes == 3221225472


def test_libvirt_multi_device_and_viommu_by_release():
    """qemuDomainGetMemLockLimitBytes from 8.7.0 (NEWS 8.7.0; code read at
    4cf223962a): VFIO hostdevs count once without a vIOMMU, once each with
    one; vDPA devices count one each (from 7.2.0, NEWS 7.2.0).  Before
    8.7.0: memory + 1 GiB whatever the count.  8 GiB guest, 1 GiB =
    1048576 KiB: 2 hostdevs + vIOMMU -> (2 * 8388608 + 1048576) KiB."""
    two = Demand(8 * GiB, vfio=2)
    two_vi = Demand(8 * GiB, vfio=2, viommu="intel-iommu")
    assert libvirt_limit((9, 0, 0), two).bytes == (8388608 + 1048576) * KiB
    assert libvirt_limit((9, 0, 0), two_vi).bytes == (2 * 8388608 + 1048576) * KiB
    assert libvirt_limit((8, 7, 0), two_vi).bytes == (2 * 8388608 + 1048576) * KiB
    assert libvirt_limit((8, 6, 0), two_vi).bytes == (8388608 + 1048576) * KiB
    vdpa = Demand(8 * GiB, vfio=1, vdpa=2)
    assert libvirt_limit((9, 0, 0), vdpa).bytes == (3 * 8388608 + 1048576) * KiB
    assert libvirt_limit((8, 6, 0), vdpa).bytes == (8388608 + 1048576) * KiB
    assert libvirt_limit((7, 1, 0), Demand(8 * GiB, vdpa=1)).bytes == 0


def test_what_type1_pins():
    """One container without a vIOMMU (all devices in address_space_memory,
    hw/vfio/common.c vfio_connect_container); one per device with
    intel-iommu, each mapping all RAM through the nodmar alias until the
    guest enables DMA remapping (hw/i386/intel_iommu.c
    vtd_switch_address_space); each container's pages count in locked_vm
    (vfio_iommu_type1.c vfio_lock_acct)."""
    assert pinned_peak(Demand(8 * GiB, vfio=3)) == 8 * GiB
    assert pinned_peak(Demand(8 * GiB, vfio=3, viommu="intel-iommu")) == 24 * GiB
    assert pinned_peak(Demand(8 * GiB)) == 0


# --------------------------------------------------------------------------
# KubeVirt and Proxmox
# --------------------------------------------------------------------------

def test_kubevirt_overhead_and_limit_by_release():
    """GetMemoryOverhead at v1.8.0 for an 8 GiB, 4-vCPU VMI with VFIO:
    8 GiB / 512 = 16 MiB, + 220 MiB (its processes), + 4 x 8 MiB, + 8 MiB
    (IOThread), + 32 MiB (video), + 1 GiB = 1332 MiB; v1.8 gives virtqemud
    memory + that; libvirt 11 inside wants (2 x 8 GiB + 1 GiB) with a vIOMMU
    and two devices and may not raise it; v1.9 adds 1 x 8 GiB and fits;
    main gives unlimited and libvirt's own value holds."""
    d = Demand(8 * GiB, vfio=2, viommu="intel-iommu", vcpus=4)
    assert kubevirt_overhead(d) == 1332 * MiB
    lv = (2 * 8388608 + 1048576) * KiB
    old = kubevirt_limit((1, 8), d)
    assert old.bytes == 8 * GiB + 1332 * MiB and not old.exact
    assert old.failure == ("libvirt: error : cannot limit locked memory of process <pid> to "
                           f"{lv}: Operation not permitted")
    assert old.short_by == lv - (8 * GiB + 1332 * MiB)
    new = kubevirt_limit((1, 9), d)
    assert new.bytes == lv and not new.failure
    main_ = kubevirt_limit(None, d)
    assert main_.bytes == lv and not main_.failure
    # one device, no vIOMMU: libvirt's memory + 1 GiB fits under KubeVirt's
    one = kubevirt_limit((1, 8), Demand(8 * GiB, vfio=1, vcpus=4))
    assert one.bytes == (8388608 + 1048576) * KiB and not one.failure


def test_proxmox_sets_no_limit_and_runs_as_root():
    lim = proxmox_limit(Demand(8 * GiB, vfio=2, viommu="intel-iommu"))
    assert lim.bytes is None and lim.lock_cap
    assert "qemu-server" in lim.source and "lock_cap" in lim.source


def test_policy_forms_and_typed_errors():
    assert parse_policy("libvirt-9.0.0") == Policy("libvirt", (9, 0, 0))
    assert parse_policy("libvirt-11") == Policy("libvirt", (11, 0, 0))
    assert parse_policy("proxmox") == Policy("proxmox")
    assert parse_policy("kubevirt-1.8") == Policy("kubevirt", (1, 8))
    assert parse_policy("kubevirt-main") == Policy("kubevirt", None)
    assert parse_policy(None) == Policy("none")
    for bad in ("libvirt-6.0", "libvirt-13.1", "kubevirt-2.0", "ovirt", "libvirt-x"):
        with pytest.raises(ConfigError, match="--memlock-policy"):
            parse_policy(bad)
    with pytest.raises(ConfigError, match="hard_limit"):
        check(BASE, cpu_vendor="GenuineIntel", phys_bits=46, hard_limit=GiB,
              memlock_policy="proxmox")


# --------------------------------------------------------------------------
# the check: multi-device and vIOMMU forms
# --------------------------------------------------------------------------

def _two(policy=None, viommu=True, **kw):
    g, hosts = _gpus(2)
    args = BASE + (VIOMMU if viommu else []) + g
    return check(args, cpu_vendor="GenuineIntel", phys_bits=46, host_devices=hosts,
                 memlock_policy=policy, **kw)


def test_viommu_pins_ram_once_per_device_and_libvirt_8_6_is_short():
    """Two GPUs behind -device intel-iommu (libvirt's JSON spelling): two
    containers each pin the 8 GiB guest's RAM and ROM at boot; libvirt 8.6
    gives 8 GiB + 1 GiB, so the second device's container crosses the limit:
    "vfio_pin_pages_remote: RLIMIT_MEMLOCK (%ld) exceeded" (Linux
    vfio_iommu_type1.c), QEMU 7.2's "VFIO_MAP_DMA failed: Cannot allocate
    memory" and the realize error of that device.  libvirt 9.0.0 (>= 8.7.0)
    gives 2 x 8 GiB + 1 GiB, which holds."""
    r = _two("libvirt-8.6")
    bad = [i for i in r.items if i.verdict == "fails"]
    assert [i.area for i in bad] == ["memlock"]
    lines = bad[0].message.splitlines()
    assert lines[0] == f"kernel: vfio_pin_pages_remote: RLIMIT_MEMLOCK ({9 * GiB}) exceeded"
    assert lines[1] == "qemu-system-x86_64: VFIO_MAP_DMA failed: Cannot allocate memory"
    assert "-device vfio-pci,host=0000:02:00.0: vfio 0000:02:00.0: failed to setup container" \
        in lines[2]
    assert "2 container(s) for 2 device(s)" in bad[0].because
    # what is pinned: twice the RAM (plus the ROM sections, under 2 MiB each time)
    assert 16 * GiB <= r.fix["memlock_bytes"] < 16 * GiB + 4 * MiB
    assert r.fix["rechecked_ok"]
    assert any("hard_limit" in x for x in r.fix["libvirt_xml"])
    ok = _two("libvirt-9.0.0")
    assert not ok.failed
    assert str((2 * 8388608 + 1048576) * KiB) in ok.by_area("memlock")[0].because


def test_viommu_with_a_given_limit():
    """--memlock 12 GiB: enough for one container's 8 GiB, not for the
    second's; without the vIOMMU the same limit is enough (one container)."""
    r = _two(memlock=12 * GiB)
    assert [i.verdict for i in r.by_area("memlock")] == ["fails"]
    assert f"RLIMIT_MEMLOCK ({12 * GiB}) exceeded" in r.by_area("memlock")[0].message
    assert not _two(memlock=12 * GiB, viommu=False).failed


def test_kubevirt_1_8_fails_in_libvirt_and_1_9_fixes_it():
    """KubeVirt PR #17805 (v1.9): "Fixed multi-device VFIO passthrough VMs
    failing to start with "cannot limit locked memory"": with a vIOMMU and
    two devices libvirt asks 2 x 8 GiB + 1 GiB, more than v1.8's
    virt-handler allowed virtqemud."""
    r = _two("kubevirt-1.8")
    bad = [i for i in r.items if i.verdict == "fails"]
    assert [(i.area, i.subject) for i in bad] == [("memlock", "KubeVirt 1.8 limit")]
    assert "cannot limit locked memory of process" in bad[0].message
    e = recognise_error("error : cannot limit locked memory of process 111 to 18253611008: "
                        "Operation not permitted", r)
    assert e["area"] == "memlock" and e["reproduced"]
    assert r.fix["rechecked_ok"] and any("52e868efa8" in n for n in r.fix["notes"])
    assert not _two("kubevirt-1.9").failed
    assert not _two("kubevirt-main").failed
    assert not _two("kubevirt-1.8", viommu=False).failed


def test_proxmox_never_fails_memlock():
    r = _two("proxmox", memlock=None)
    assert [i.verdict for i in r.by_area("memlock")] == ["ok"]
    assert "CAP_IPC_LOCK" in r.by_area("memlock")[0].because


def test_mem_lock_on_under_libvirt_is_unlimited():
    """<memoryBacking><locked/> is -overcommit mem-lock=on; libvirt then
    lifts the limit ("pc-locked+hostdev")."""
    g, hosts = _gpus(1)
    r = check(BASE + ["-overcommit", "mem-lock=on"] + g, cpu_vendor="GenuineIntel",
              phys_bits=46, host_devices=hosts, memlock_policy="libvirt-9.0.0")
    it = r.by_area("memlock")[0]
    assert it.verdict == "ok" and "unlimited" in it.because and "mlockall" in it.because


# --------------------------------------------------------------------------
# the command line: the layer comes from the input
# --------------------------------------------------------------------------

def _viommu_xml(tmp_path, hard_kib=None):
    s = GPU_XML.read_text().replace(
        "    <memballoon model='virtio'>",
        "    <iommu model='intel'>\n      <driver caching_mode='on'/>\n    </iommu>\n"
        "    <memballoon model='virtio'>", 1)
    if hard_kib:
        s = s.replace("  <vcpu placement='static'>4</vcpu>",
                      f"  <memtune><hard_limit unit='KiB'>{hard_kib}</hard_limit></memtune>\n"
                      "  <vcpu placement='static'>4</vcpu>")
    p = tmp_path / "gpu-viommu.xml"
    p.write_text(s)
    return str(p)


def _cli(capsys, *extra):
    rc = main(["check", "--format", "json", "--cpu-vendor", "GenuineIntel", "--phys-bits", "46",
               "--host-device", f"0000:01:00.0={T4}", "--host-device", f"0000:01:00.1={T4}",
               *extra])
    out = capsys.readouterr()
    return rc, json.loads(out.out) if out.out.strip() else None, out.err


def test_cli_libvirt_xml_with_iommu_and_hard_limit(tmp_path, capsys):
    """--libvirt-xml selects libvirt's rule at --libvirt-version (9.0.0):
    the GPU and its audio function behind <iommu model='intel'> get 2 x
    8 GiB + 1 GiB; a <memtune><hard_limit> of 10 GiB wins and is short of
    the 2 x 8 GiB pinned; the fix is to drop it."""
    rc, doc, _ = _cli(capsys, "--libvirt-xml", _viommu_xml(tmp_path))
    mem = [i for i in doc["items"] if i["area"] == "memlock"]
    assert rc == 0 and [i["verdict"] for i in mem] == ["ok"]
    assert "libvirt 9.0.0 gives QEMU 18253611008" in mem[0]["because"]
    rc, doc, _ = _cli(capsys, "--libvirt-xml", _viommu_xml(tmp_path, 10 * 1024 * 1024))
    mem = [i for i in doc["items"] if i["area"] == "memlock"]
    assert rc == 1 and mem[0]["verdict"] == "fails"
    assert f"RLIMIT_MEMLOCK ({10 * GiB}) exceeded" in mem[0]["message"]
    assert doc["fix"]["libvirt_xml"][0].startswith("remove <memtune><hard_limit>")
    assert doc["fix"]["rechecked_ok"]
    # an older libvirt named explicitly
    rc, doc, _ = _cli(capsys, "--libvirt-xml", _viommu_xml(tmp_path), "--memlock-policy",
                      "libvirt-8.6")
    assert rc == 1


def test_cli_memlock_policy_errors(capsys):
    rc, doc, err = _cli(capsys, "--memlock-policy", "ovirt-4", "--", *BASE)
    assert rc == 2 and "--memlock-policy 'ovirt-4'" in err


def test_cli_proxmox_conf_selects_proxmox(capsys, tmp_path):
    """--proxmox-conf: qemu-server sets no limit and QEMU runs as root, so
    the memlock item passes whatever the RAM (CAP_IPC_LOCK: type1's
    dma->lock_cap).  (A minimal config: the model does not take every
    device of data/configs/proxmox/100.conf in the check path.)"""
    conf = tmp_path / "101.conf"
    conf.write_text("boot: order=ide0\ncores: 4\ncpu: host\nhostpci0: 0000:01:00.0,pcie=1\n"
                    "machine: pc-q35-7.2\nmemory: 8192\nname: gpu\nostype: l26\nsockets: 1\n"
                    "balloon: 0\n")
    rc, doc, _ = _cli(capsys, "--proxmox-conf", str(conf))
    mem = [i for i in doc["items"] if i["area"] == "memlock"]
    assert [i["verdict"] for i in mem] == ["ok"]
    assert "Proxmox VE gives QEMU unlimited" in mem[0]["because"]
    assert "CAP_IPC_LOCK" in mem[0]["because"]


def test_kubevirt_with_mem_lock_is_not_read_as_no_libvirt_limit():
    """With <locked/> (-overcommit mem-lock=on) libvirt asks for an unlimited
    RLIMIT_MEMLOCK (qemuDomainGetMemLockLimitBytes), which is not "libvirt
    sets none": inside KubeVirt's pod it cannot raise the limit so far."""
    from vfiolab.model.memlock import Demand, kubevirt_limit
    lim = kubevirt_limit((1, 8), Demand(memory=4 << 30, vfio=1, mem_lock=True))
    assert "sets none" not in lim.how
    assert "cannot limit locked memory" in lim.failure
