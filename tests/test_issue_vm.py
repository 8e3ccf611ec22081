"""Issue 14's "Done when": one VM three ways.

A q35 + OVMF Windows VM with a GPU and its HDMI audio on a root port, a
virtio disk and NIC, USB, a balloon, an RNG and the guest agent's
virtio-serial, written as

* ``data/configs/libvirt/q35-ovmf-gpu.xml``: ``virsh dumpxml`` (libvirt 9.0);
* ``data/configs/libvirt/q35-ovmf-gpu.log``: the command line libvirt 9.0
  logs for it (``/var/log/libvirt/qemu/win10-gpu.log``);
* ``data/configs/proxmox/100.conf``: the same VM on Proxmox VE.

Each predicts the same VM with no edit (the GPU from a real RTX A6000 dump,
data/devices/multi/gpu-nvidia-rtx-a6000-with-audio-lspci-vv), and the
command lines without the two vfio-pci devices were run on real QEMU 7.2 +
Debian OVMF 2022.11 (data/ovmf/q35-8G-libvirt-gpu-vm-2022.11-qemu7.2 and
q35-8G-proxmox-gpu-vm-2022.11-qemu7.2), which tests/test_ovmf.py compares
BAR by BAR, window by window, and line by line (info mtree -f and the
info mtree trees).

What differs between libvirt and Proxmox by construction (qemu-server lays
the VM out its own way; PVE/QemuServer.pm, src/usr/pve-q35-4.0.cfg at
qemu-server e6352be6):

* ``-readconfig pve-q35-4.0.cfg`` adds two ICH9 EHCI/UHCI USB sets
  (00:1a, 00:1d), the ICH9 HDA at 00:1b, four root ports at 00:1c.0-3, the
  DMI-to-PCI bridge at 00:1e.0 with four pci-bridges behind it; virtio
  devices go on those PCI bridges (``get_pci_addr_map``), libvirt puts each
  on its own pcie-root-port;
* the GPU sits at 01:00.0/.1 behind ich9-pcie-port-1 (00:1c.0) on Proxmox,
  at 05:00.0/.1 behind pci.5 (00:02.4) with libvirt; so the guest addresses
  of BARs differ while their sizes and the windows they land in do not;
* USB: libvirt's tablet is on qemu-xhci; Proxmox's tablet is on the EHCI of
  the cfg and its qemu-xhci exists for ``usb0: host=046d:c52b`` (a USB
  host device, no PCI function; not in the dumpxml: the libvirt reader does
  not write USB hostdevs);
* firmware file: Proxmox's ``OVMF_CODE_4M.secboot.fd`` (pve-edk2-firmware,
  secure boot build), libvirt's Debian ``OVMF_CODE_4M.fd``: the same 4 MiB
  code and 528 KiB vars flash, so the same memory map;
* CPU flags: Proxmox's ``kvm=off``, Hyper-V flags for ``ostype: win10``;
  libvirt's from ``<hyperv>``; none reaches PCI, memory or DMA.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from vfiolab.cli import main
from vfiolab.inputs.libvirt import read_libvirt_xml
from vfiolab.inputs.paste import read_command_file
from vfiolab.inputs.proxmox import proxmox_argv, qemu_args_for_model
from vfiolab.predict import predict

ROOT = Path(__file__).resolve().parent.parent
LIBVIRT = ROOT / "data" / "configs" / "libvirt"
XML = LIBVIRT / "q35-ovmf-gpu.xml"
LOG = LIBVIRT / "q35-ovmf-gpu.log"
CONF = ROOT / "data" / "configs" / "proxmox" / "100.conf"
GPU = str(ROOT / "data" / "devices" / "multi" / "gpu-nvidia-rtx-a6000-with-audio-lspci-vv")
HOSTS = {"0000:01:00.0": GPU, "0000:01:00.1": GPU}
OVMF = ROOT / "data" / "ovmf"
GiB = 1 << 30

#: src/usr/pve-q35-4.0.cfg (qemu-server e6352be6): the drivers of its [device] sections
PVE_Q35_CFG_TYPES = {"ich9-usb-ehci1", "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3",
                     "ich9-usb-ehci2", "ich9-usb-uhci4", "ich9-usb-uhci5", "ich9-usb-uhci6",
                     "ich9-intel-hda", "pcie-root-port", "i82801b11-bridge", "pci-bridge"}


def _log_args() -> list[str]:
    return read_command_file(str(LOG))


def _xml_args() -> list[str]:
    return read_libvirt_xml(str(XML))[1:]          # without the program path


def _pve_args() -> list[str]:
    return qemu_args_for_model(proxmox_argv(CONF.read_text(), vmid=100, qemu="7.2",
                                            host_functions={"0000:01:00": [0, 1]}), qemu="7.2")


SOURCES = {"libvirt-log": _log_args, "dumpxml": _xml_args, "proxmox": _pve_args}


def _predict(args, phys_bits=39):
    # a desktop host of the kind GPU passthrough runs on: Intel, 39 address bits
    return predict(args, host_devices=HOSTS, firmware="ovmf-2022.11", stack="debian12",
                   cpu_vendor="GenuineIntel", phys_bits=phys_bits)


# -- the libvirt log line is the dumpxml's command line ------------------------
def test_log_line_is_the_dumpxml_command_line():
    """The paste reader drops the log's "starting up" line, the environment
    (LC_ALL, PATH, HOME, USER, LOGNAME, XDG_*) and the program; what is
    left is, option for option, what the XML reader writes for the dumpxml."""
    assert _log_args() == _xml_args()


def _options(argv):
    return {a for a in argv if a.startswith("-")}


def test_log_line_spelling_is_libvirts():
    """Every option of the log line appears in a real libvirt 9 command line
    (androiduam-libvirt9.cmdline) or libvirt's own expected argv
    (libvirt-tests/*.args); -cpu is written as libvirt's
    qemuBuildCpuCommandLine does (src/qemu/qemu_command.c at 4cf22396: the
    model, migratable, hv-time from the hypervclock timer, the Hyper-V
    features in enum order, host-phys-bits last), as real libvirt 9/10 logs
    show it (``host,migratable=on,hv-time=on,hv-relaxed=on,hv-vapic=on,
    hv-spinlocks=0x1fff``)."""
    known = _options((LIBVIRT / "androiduam-libvirt9.cmdline").read_text().split())
    for f in (LIBVIRT / "libvirt-tests").glob("*.args"):
        known |= _options(read_command_file(str(f)))
    argv = _log_args()
    assert _options(argv) <= known
    assert argv[argv.index("-cpu") + 1] == \
        "host,migratable=on,hv-time=on,hv-relaxed=on,hv-vapic=on,hv-spinlocks=0x1fff," \
        "host-phys-bits=on"
    assert argv[argv.index("-smp") + 1] == "4,sockets=1,dies=1,cores=4,threads=1"


# -- the three predict the same VM -----------------------------------------------
def _vm_facts(p):
    """What must be the same whichever way the VM was written."""
    vfio = sorted((d for d in p.devices() if d.type == "vfio-pci"), key=lambda d: d.func)
    by_bus = {d.secondary_bus: d for d in p.devices() if d.secondary_bus is not None}
    split = p.vm.ram_split
    return {
        "ram": (split.below_4g, split.above_4g, split.above_4g_start),
        "firmware": p.to_json()["stack"]["firmware"],
        "phys_bits": p.to_json()["guest_cpu"]["phys_bits"],
        "gpu_functions": [(d.func, d.vendor, d.class_desc) for d in vfio],
        "gpu_port": {by_bus[d.bus].type for d in vfio},
        "gpu_bars": [[(b.bar, b.type, b.prefetch, b.size) for b in d.bars] for d in vfio],
    }


@pytest.mark.parametrize("source", SOURCES)
def test_each_predicts_the_gpu_on_a_root_port(source):
    """The GPU and its audio (NVIDIA, 10de: the dump is ``lspci -vv``
    without ``-nn``) as functions 0 and 1 of one slot behind a
    pcie-root-port, every BAR placed: BAR0 (16 MiB), the
    64-bit prefetchable BAR1 (256 MiB) and BAR3 (32 MiB) below 2^39 (the
    guest's 39 address bits), BAR5 (I/O); the audio's BAR0.  The ROM BAR is
    not mapped at the boot manager, as on every OVMF capture (PciBusDxe
    disables ROM decoding once it has read the images)."""
    p = _predict(SOURCES[source]())
    vfio = sorted((d for d in p.devices() if d.type == "vfio-pci"), key=lambda d: d.func)
    assert [d.func for d in vfio] == [0, 1] and vfio[0].slot == vfio[1].slot == 0
    assert [(d.vendor, d.class_desc) for d in vfio] == [(0x10de, "VGA controller"),
                                                        (0x10de, "Audio controller")]
    assert vfio[0].bus == vfio[1].bus != 0
    ports = {d.secondary_bus: d.type for d in p.devices() if d.secondary_bus is not None}
    assert ports[vfio[0].bus] == "pcie-root-port"
    for d in vfio:
        for b in d.bars:
            if b.bar == 6:
                assert b.address is None
                continue
            assert b.address is not None, (d.bdf, b.bar)
            assert b.address + b.size <= 1 << 39, (d.bdf, b.bar)
    assert {(b.bar, b.size) for b in vfio[0].bars if b.bar != 6} == \
        {(0, 16 << 20), (1, 256 << 20), (3, 32 << 20), (5, 0x80)}
    assert [(b.bar, b.size) for b in vfio[1].bars] == [(0, 16 << 10)]


def test_the_three_are_the_same_vm():
    """RAM split (hw/i386/pc_q35.c pc_q35_init: 8 GiB >= 0xb0000000, so
    2 GiB below 4 GiB and 6 GiB from 4 GiB), firmware, guest phys-bits, the
    GPU's functions and BARs and the kind of port it sits behind: the same
    from all three inputs."""
    facts = {s: _vm_facts(_predict(f())) for s, f in SOURCES.items()}
    assert facts["libvirt-log"]["ram"] == (2 * GiB, 6 * GiB, 4 * GiB)
    assert facts["libvirt-log"]["firmware"] == "ovmf-2022.11"
    assert facts["libvirt-log"]["phys_bits"] == 39
    assert facts["libvirt-log"]["gpu_port"] == {"pcie-root-port"}
    assert facts["dumpxml"] == facts["libvirt-log"]
    assert facts["proxmox"] == facts["libvirt-log"]


def test_guest_phys_bits_follow_the_host_in_both():
    """libvirt's <maxphysaddr mode='passthrough'/> writes host-phys-bits=on;
    qemu-server's ``cpu: host,phys-bits=host`` writes host-phys-bits=true
    (CPUConfig.pm); with -cpu host QEMU 7.2 takes the host's bits either way
    (target/i386/host-cpu.c host_cpu_adjust_phys_bits).  A plain
    ``phys-bits=39`` would not do on Proxmox: -cpu host sets host-phys-bits
    itself (host_cpu_max_instance_init), which wins over phys-bits."""
    for f in SOURCES.values():
        assert _predict(f(), phys_bits=48).to_json()["guest_cpu"]["phys_bits"] == 48


def test_emulated_devices_differ_only_by_construction():
    """The emulated device types of the libvirt VM all exist on Proxmox;
    Proxmox adds exactly the drivers of qemu-server's pve-q35-4.0.cfg."""
    types = {s: {d.type for d in _predict(f()).devices()} for s, f in SOURCES.items()}
    assert types["dumpxml"] == types["libvirt-log"]
    assert types["libvirt-log"] == {
        "mch", "ICH9-LPC", "ich9-ahci", "ICH9-SMB", "VGA", "pcie-root-port", "qemu-xhci",
        "virtio-serial-pci", "virtio-blk-pci", "virtio-net-pci", "virtio-balloon-pci",
        "virtio-rng-pci", "vfio-pci"}
    assert types["libvirt-log"] <= types["proxmox"]
    assert types["proxmox"] - types["libvirt-log"] == PVE_Q35_CFG_TYPES - {"pcie-root-port"}


@pytest.mark.parametrize("how", [
    ["--libvirt-xml", str(XML)],
    ["--proxmox-conf", str(CONF)],
    ["--command-file", str(LOG), "--firmware", "ovmf-2022.11"]])
def test_cli_takes_each_without_an_edit(how, capsys):
    """As a user runs it; the raw command line names no firmware release, so
    it takes --firmware (libvirt's and Proxmox's configs say OVMF and the
    stack's OVMF is taken, with a note)."""
    rc = main(["predict", "--format", "json", "--cpu-vendor", "GenuineIntel",
               "--phys-bits", "39", *how,
               "--host-device", f"0000:01:00.0={GPU}", "--host-device", f"0000:01:00.1={GPU}"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stack"]["firmware"] == "ovmf-2022.11"
    assert sum(d["type"] == "vfio-pci" for d in out["devices"]) == 2


# -- the real runs are of these command lines ------------------------------------
def runnable_libvirt(argv: list[str]) -> list[str]:
    """The libvirt command line as the OVMF capture ran it: no -S (the
    capture waits for the firmware), no vfio-pci (no GPU here), no monitor
    or VNC (the capture has its own QMP and -display none), TCG with
    ``qemu64,phys-bits=39`` for ``-cpu host`` (OVMF cannot run under this
    machine's nested KVM, and -cpu host needs KVM: 39 bits is the host of
    the predictions), the firmware from @FW@ and the vars copy in @TMP@,
    the secret inline, the qcow2 image on null-co, user networking for the
    tap, a socket path for the agent channel's fd."""
    out, i = [], 0
    while i < len(argv):
        o = argv[i]
        v = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else None
        i += 1 if v is None else 2
        if o == "-S" or o in ("-mon", "-vnc") or (o == "-chardev" and "charmonitor" in v) \
                or (o == "-device" and '"vfio-pci"' in v):
            continue
        if o == "-object" and '"secret"' in v:
            d = json.loads(v)
            d.pop("file")
            d["data"] = "0123456789abcdef0123456789abcdef"
            v = json.dumps(d, separators=(",", ":"))
        elif o == "-blockdev":
            d = json.loads(v)
            if d.get("filename", "").endswith("OVMF_CODE_4M.fd"):
                d["filename"] = "@FW@/OVMF_CODE_4M.fd"
            elif d.get("filename", "").endswith("_VARS.fd"):
                d["filename"] = "@TMP@/OVMF_VARS_4M.fd"
            elif d.get("driver") == "file":
                continue
            elif d.get("driver") == "qcow2":
                d = {"driver": "null-co", "node-name": d["node-name"], "size": 64 << 30}
            v = json.dumps(d, separators=(",", ":"))
        elif o == "-netdev":
            v = json.dumps({"type": "user", "id": json.loads(v)["id"]}, separators=(",", ":"))
        elif o == "-chardev" and ",fd=" in v:
            cid = v.split(",")[1]
            v = f"socket,{cid},path=@TMP@/{cid[3:]}.sock,server=on,wait=off"
        elif o == "-cpu":
            v = "qemu64,phys-bits=39"
        elif o == "-accel":
            v = "tcg"
        out += [o] if v is None else [o, v]
    return out


def runnable_proxmox(argv: list[str]) -> list[str]:
    """qm showcmd's command line (after qemu_args_for_model: the cfg's
    devices written out, the upstream machine) as the OVMF capture ran it:
    TCG for the ``-accel kvm`` qemu_args_for_model puts first (the program
    is /usr/bin/kvm, which prefers KVM when none is named), no
    -daemonize, qmeventd or VNC, the sockets and pidfile under @TMP@, Debian's
    OVMF_CODE_4M.fd for pve-edk2-firmware's secboot build (the same size)
    and the vars copy as the efidisk (540672 bytes, the size= qemu-server
    writes), the disk on null-co, user networking, no boot splash file, and
    ``qemu64,phys-bits=39`` for ``-cpu host,...`` as above."""
    out, i = [], 0
    while i < len(argv):
        o = argv[i]
        v = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else None
        if o == "-chardev" and "qmeventd" in v:
            i += 4                                   # and its -mon
            continue
        i += 1 if v is None else 2
        if o in ("-daemonize", "-vnc") or (o == "-device" and v.startswith("vfio-pci,")):
            continue
        if o in ("-chardev", "-pidfile"):
            v = v.replace("/var/run/qemu-server/", "@TMP@/")
        elif o == "-drive" and "if=pflash" in v and "unit=0" in v:
            v = "if=pflash,unit=0,format=raw,readonly=on,file=@FW@/OVMF_CODE_4M.fd"
        elif o == "-drive" and "drive-efidisk0" in v:
            v = v.replace("file=/dev/pve/vm-100-disk-0", "file=@TMP@/OVMF_VARS_4M.fd")
        elif o == "-drive":
            v = "if=none,id=drive-virtio0,driver=null-co,size=68719476736"
        elif o == "-netdev":
            v = "type=user,id=net0"
        elif o == "-boot":
            v = ",".join(x for x in v.split(",") if not x.startswith("splash="))
        elif o == "-cpu":
            v = "qemu64,phys-bits=39"
        elif o == "-accel":
            v = "tcg"
        out += [o] if v is None else [o, v]
    return out


def test_proxmox_runs_kvm():
    """qemu-server's program is /usr/bin/kvm and it names no accelerator:
    QEMU prefers KVM for a program name ending in "kvm" (softmmu/vl.c
    configure_accelerators), so the model's arguments say -accel kvm, and
    the prediction has no "KVM assumed" note."""
    args = _pve_args()
    assert args[:2] == ["-accel", "kvm"]
    assert not any("KVM assumed" in n for n in _predict(args).stack.notes)


@pytest.mark.parametrize("name, args", [
    ("q35-8G-libvirt-gpu-vm-2022.11-qemu7.2", lambda: runnable_libvirt(_log_args())),
    ("q35-8G-proxmox-gpu-vm-2022.11-qemu7.2", lambda: runnable_proxmox(_pve_args()))])
def test_captures_ran_these_command_lines(name, args):
    """The two OVMF captures (compared in full by tests/test_ovmf.py) are
    of the issue's VM: their recorded arguments are the inputs' command
    lines with only the changes above.  The dumpxml's command line is the
    log line's (test_log_line_is_the_dumpxml_command_line), so the libvirt
    capture stands for both."""
    meta = json.loads((OVMF / name / "meta.json").read_text())
    assert meta["args"] == args()
    assert meta["boot_manager_reached"] is True
    v = meta["qemu_version"]["qemu"]
    assert (v["major"], v["minor"]) == (7, 2)       # Debian 12's 1:7.2+dfsg-7+deb12u18
    assert (OVMF / name / "command.txt").read_text().strip() == shlex.join(args())


@pytest.mark.parametrize("smp, cpus", [("4", 4), ("sockets=2,cores=2", 4), ("cpus=2,maxcpus=8", 2),
                                       ("maxcpus=6", 6), ("2,sockets=1,dies=1,cores=2,threads=2,maxcpus=4", 2),
                                       ("threads=2", 2)])
def test_smp_vcpu_count(smp, cpus):
    """hw/core/machine-smp.c machine_parse_smp_config (QEMU 7.2 and 10.0):
    cpus as given, else maxcpus, else the product of the topology with the
    omitted members 1.  It is the default queue count of virtio-blk-pci
    (virtio_pci_optimal_num_queues), whose MSI-X table has one vector more:
    the libvirt capture above (-smp 4) has 5 (msix-table 0x50 bytes)."""
    from vfiolab.inputs.cmdline import parse_qemu_args
    assert parse_qemu_args(["-smp", smp]).smp_cpus == cpus
