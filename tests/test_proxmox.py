"""Proxmox VE VM config -> the QEMU command line ``qm showcmd`` prints
(vfiolab.inputs.proxmox).

Expected command lines come from qemu-server itself: its regression tests
``src/test/cfg2cmd/NAME.conf`` and ``NAME.conf.cmd`` (proxmox/qemu-server
9.2.6, commit e6352be6), copied to ``data/configs/proxmox/qemu-server-tests/``.
Those tests run with the test host's QEMU (11.x: ``-name`` without
debug-threads, ``host_tunnel=off``), mock ``lspci`` with a fixed device list
(``run_config2command_tests.pl`` ``$pci_devs``) and the bridge MTU as 1500;
``-iscsi`` (the host's initiator name) is left out of the comparison.  The
version-gated rules below QEMU 10.0 are checked against the tests pinned to
older machines and against the qemu-server source (named per test).

The generated command lines run through the real QEMU 7.2 here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from vfiolab.cli import main
from vfiolab.errors import CommandLineError, ParseError, VfiolabError
from vfiolab.inputs.proxmox import (PVE_Q35_4_0_CFG, parse_conf, proxmox_argv,
                                    qemu_args_for_model, read_proxmox_conf)

DATA = Path(__file__).resolve().parents[1] / "data" / "configs" / "proxmox"
QS_TESTS = DATA / "qemu-server-tests"
QEMU = "/usr/bin/qemu-system-x86_64"
#: run_config2command_tests.pl: PVE::SysFSTools::lspci is mocked with this list
MOCK_FUNCTIONS = {"0000:f0:43": [0, 1], "1234:f0:43": [1]}
#: ... and storage.cfg with these (the ones the copied tests use)
MOCK_STORAGES = {"cifs-store": {"type": "cifs", "path": "/mnt/pve/cifs-store"},
                 "lvm-store": {"type": "lvm", "vgname": "veegee"},
                 "local-lvm": {"type": "lvmthin", "vgname": "pve"}}


def _cmd_file(path: Path) -> list[str]:
    words = shlex.split(path.read_text().replace("\\\n", " "))
    out, i = [], 0
    while i < len(words):
        if words[i] == "-iscsi":
            i += 2
            continue
        out.append(words[i])
        i += 1
    return out


@pytest.mark.parametrize("name", sorted(p.name[:-5] for p in QS_TESTS.glob("*.conf")))
def test_qemu_server_cfg2cmd(name):
    conf = (QS_TESTS / f"{name}.conf").read_text()
    want = _cmd_file(QS_TESTS / f"{name}.conf.cmd")
    got = proxmox_argv(conf, vmid=8006, qemu="11.0", host_functions=MOCK_FUNCTIONS,
                       storages=MOCK_STORAGES,
                       cpu_vendor="AuthenticAMD" if "amd" in name else "GenuineIntel")
    assert got == want


# -- the GPU VM of the issue ----------------------------------------------------
def _gpu(qemu="7.2"):
    return read_proxmox_conf(str(DATA / "100.conf"), qemu=qemu,
                             host_functions={"0000:01:00": [0, 1]})


def test_gpu_vm_hostpci_all_functions():
    """hostpci0: 0000:01:00,pcie=1,x-vga=1 with OVMF (PCI.pm
    print_hostpci_devices): every function, ids hostpci0.N, on root port
    ich9-pcie-port-1 at addr 0x0.N, multifunction on function 0, no
    x-vga=on under OVMF, and the CPU hides KVM (kvm=off) with Hyper-V's
    vendor id 'proxmox' for Windows (CPUConfig.pm get_hyperv_enlightenments)."""
    argv = _gpu()
    devs = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
    assert [d for d in devs if d.startswith("vfio-pci")] == [
        "vfio-pci,host=0000:01:00.0,id=hostpci0.0,bus=ich9-pcie-port-1,addr=0x0.0,"
        "multifunction=on",
        "vfio-pci,host=0000:01:00.1,id=hostpci0.1,bus=ich9-pcie-port-1,addr=0x0.1"]
    cpu = argv[argv.index("-cpu") + 1]
    assert cpu.startswith("host,hv_ipi,") and ",hv_vendor_id=proxmox," in cpu
    # phys-bits=host -> host-phys-bits=true (CPUConfig.pm get_cpu_options)
    assert ",kvm=off," in cpu and cpu.endswith(",host-phys-bits=true")
    assert argv[argv.index("-machine") + 1] == "hpet=off,type=pc-q35-7.2+pve0"


def test_public_gpu_config():
    """210.conf, a Proxmox VE 7.x GPU VM from a public article: the GPU's
    functions on ich9-pcie-port-1, the second device (no pcie=1) on the
    PCI bridge pci.0 at slot 0x11 (PCI.pm get_pci_addr_map hostpci1), no
    emulated VGA (-vga none: x-vga with vga: none), no balloon (balloon: 0),
    the agent's virtio-serial at pci.0 slot 8, the SCSI SSD with
    rotation_rate=1 (DriveDevice.pm)."""
    argv = read_proxmox_conf(str(DATA / "210.conf"), qemu="7.2",
                             host_functions={"0000:01:00": [0, 1]})
    devs = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
    assert [d for d in devs if d.startswith("vfio-pci")] == [
        "vfio-pci,host=0000:01:00.0,id=hostpci0.0,bus=ich9-pcie-port-1,addr=0x0.0,"
        "multifunction=on",
        "vfio-pci,host=0000:01:00.1,id=hostpci0.1,bus=ich9-pcie-port-1,addr=0x0.1",
        "vfio-pci,host=0000:0f:00.4,id=hostpci1,bus=pci.0,addr=0x11"]
    assert "virtio-serial,id=qga0,bus=pci.0,addr=0x8" in devs
    assert not any(d.startswith(("VGA", "virtio-balloon")) for d in devs)
    assert argv[argv.index("-vga") + 1] == "none"
    assert "scsi-hd,bus=virtioscsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0,id=scsi0," \
        "rotation_rate=1,bootindex=100" in devs
    assert argv[argv.index("-m") + 1] == "32768"


def test_version_gates_qemu_7_2():
    """Below machine 10.0 the firmware is two -drive if=pflash
    (OVMF.pm print_ovmf_drive_commandlines, a raw efidisk with size=), S3/S4
    stay on (Machine.pm get_power_state_flags: off from 9.2+pve1)."""
    argv = _gpu("7.2")
    drives = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"][:2]
    assert drives == [
        "if=pflash,unit=0,format=raw,readonly=on,"
        "file=/usr/share/pve-edk2-firmware//OVMF_CODE_4M.secboot.fd",
        "if=pflash,unit=1,id=drive-efidisk0,format=raw,file=/dev/pve/vm-100-disk-0,size=540672"]
    assert not any("disable_s3" in a for a in argv)


def test_version_gates_unpinned_qemu_10_0():
    """machine: q35 on QEMU 10.0: -blockdev firmware named by -machine
    pflash0=/pflash1= ($version_guard->(10, 0, 0)), S3/S4 off, host_mtu
    always (10.0+pve1, which the NIC then requires: type=q35+pve1)."""
    conf = (DATA / "100.conf").read_text().replace("machine: pc-q35-7.2", "machine: q35") \
        .replace("ostype: win10", "ostype: l26")
    argv = proxmox_argv(conf, qemu="10.0", host_functions={"0000:01:00": [0, 1]})
    assert argv[argv.index("-machine") + 1] == \
        "pflash0=pflash0,pflash1=drive-efidisk0,type=q35+pve1"
    assert "ICH9-LPC.disable_s3=1" in argv and "ICH9-LPC.disable_s4=1" in argv
    assert [a for a in argv if a.startswith("virtio-net-pci")][0].endswith(",host_mtu=1500")
    assert not any(a.startswith("if=pflash") for a in argv)


def test_cli_format_argv(capsys):
    assert main(["predict", "--format", "argv", "--proxmox-conf", str(DATA / "100.conf"),
                 "--host-device", "0000:01:00.0=a", "--host-device", "0000:01:00.1=b"]) == 0
    out = capsys.readouterr()
    assert shlex.split(out.out.replace("\\\n", " ")) == _gpu()
    assert "host_mtu is the MTU of bridge vmbr0" in out.err


def test_all_functions_need_the_host(capsys):
    """host=01:00 names every function; qemu-server asks the host's sysfs,
    which a config alone does not have."""
    assert main(["predict", "--format", "argv", "--proxmox-conf", str(DATA / "100.conf")]) == 2
    assert "names every function of the host device" in capsys.readouterr().err


# -- what the command-line reader gets ---------------------------------------------
def test_qemu_args_for_model():
    """-readconfig pve-q35-4.0.cfg becomes its [device] sections, in file
    order; q35+pveN / pc-q35-X.Y+pveN the upstream machine; -id dropped."""
    args = qemu_args_for_model(_gpu(), qemu="7.2")
    assert "-readconfig" not in args and "-id" not in args
    assert args[args.index("-machine") + 1] == "hpet=off,type=pc-q35-7.2"
    devs = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
    assert devs[:len(PVE_Q35_4_0_CFG)][9:14] == [
        f"pcie-root-port,id=ich9-pcie-port-{n},x-speed=16,x-width=32,multifunction=on,"
        f"bus=pcie.0,addr=1c.{n - 1},port={n},chassis={n}" for n in (1, 2, 3, 4)] + [
        "i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=1e.0"]
    unpinned = proxmox_argv("machine: q35\nostype: l26\n", qemu="10.0")
    assert qemu_args_for_model(unpinned, qemu="10.0")[-1] == "hpet=off,type=pc-q35-10.0" \
        or "type=pc-q35-10.0" in qemu_args_for_model(unpinned, qemu="10.0")[-1]


# -- refusals -------------------------------------------------------------------
@pytest.mark.parametrize("conf, words", [
    ("memory 512\n", "expected 'key: value'"),
    ("memory: 512\nmemory: 1024\n", "duplicate key"),
    ("bogus: 1\n", "bogus: not modelled"),
    ("hostpci0: mapping=gpu\nmachine: q35\n", "mapping= is not modelled"),
    ("hostpci0: 01:00.0,pcie=1\n", "pcie=1 needs the q35 machine"),
    ("hostpci0: 01:00\nmachine: q35\n", "names every function"),
    ("hostpci0: zz:00.0\n", "not a host PCI id"),
    ("machine: q35,viommu=intel\n", "vIOMMU"),
    ("vga: qxl\n", "SPICE/qxl"),
    ("template: 1\n", "template"),
    ("hugepages: 2\n", "hugepages"),
    ("machine: pc-q35-9.2\n", "too old to run it"),
    ("cpu: custom-foo\n", "custom CPU models"),
    ("cpu: Zen9\n", "does not exist"),
    ("net0: virtio,bridge=vmbr0\n", "no MAC address"),
    ("bios: ovmf\nmachine: q35\n", "without efidisk0"),
])
def test_refused_with_reason(conf, words):
    with pytest.raises(VfiolabError) as e:
        proxmox_argv(conf, qemu="7.2", source="101.conf")
    assert words in str(e.value)


def test_snapshot_sections_ignored():
    """Only the current config: '[snap]' starts a snapshot section."""
    assert parse_conf("memory: 512\n[snap1]\nmemory: 4096\n") == {"memory": "512"}


def test_unreadable(tmp_path):
    p = tmp_path / "101.conf"
    p.write_bytes(b"memory: \xff\n")
    with pytest.raises(ParseError, match="not UTF-8"):
        read_proxmox_conf(str(p))
    with pytest.raises(CommandLineError, match="No such file"):
        read_proxmox_conf(str(tmp_path / "102.conf"))


# -- real QEMU 7.2 accepts the command line ---------------------------------------------
def runnable(argv: list[str], tmp: str) -> list[str]:
    """What upstream QEMU 7.2 on this machine can run of a qm showcmd argv:
    no vfio-pci or usb-host (no such hardware here), no -id (Proxmox's QEMU
    only) or -daemonize, sockets and files under tmp, user networking, at
    most 2 GiB of RAM,
    the q35 cfg written out, the upstream machine name, -cpu host as kvm64
    and no hv_* flags (this nested KVM fails -cpu host and has no Hyper-V)."""
    out, i = [QEMU], 1
    while i < len(argv):
        o, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if o == "-daemonize":
            i += 1
            continue
        if o == "-id" or (o == "-device" and v.split(",")[0] in ("vfio-pci", "usb-host")):
            i += 2
            continue
        if o == "-chardev" and "qmeventd" in v:
            i += 4                                  # and its -mon
            continue
        if o in ("-chardev", "-pidfile"):
            v = v.replace("/var/run/qemu-server/", tmp + "/")
        elif o == "-vnc":
            v = "none"
        elif o == "-m" and int(v) > 2048:
            v = "2048"                  # this machine's RAM; the layout does not depend on it
        elif o == "-boot":
            v = ",".join(x for x in v.split(",") if not x.startswith("splash="))
        elif o == "-netdev":
            v = "user," + [x for x in v.split(",") if x.startswith("id=")][0]
        elif o == "-readconfig":
            path = os.path.join(tmp, "pve-q35-4.0.cfg")
            with open(path, "w") as f:
                for did, props in PVE_Q35_4_0_CFG:
                    f.write(f'[device "{did}"]\n')
                    f.writelines(f'  {k} = "{val}"\n' for k, val in props.items())
                    f.write("\n")
            v = path
        elif o == "-machine":
            v = qemu_args_for_model(["-machine", v], qemu="7.2")[-1]
        elif o == "-cpu":
            parts = v.split(",")
            v = ",".join(["kvm64" if parts[0] == "host" else parts[0]]
                         + [x for x in parts[1:] if not x.startswith("hv_")])
        elif o == "-drive":
            v = v.replace("/usr/share/pve-edk2-firmware//", "/usr/share/OVMF/")
            parts = []
            for x in v.split(","):
                if x.startswith("file=") and not os.path.exists(x[5:]):
                    new = os.path.join(tmp, os.path.basename(x[5:]))
                    if "efidisk" in v:
                        shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.ms.fd", new)
                    else:
                        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", new, "64M"],
                                       check=True)
                    x = "file=" + new
                parts.append(x)
            v = ",".join(parts)
        if o.startswith("-") and v is not None and not v.startswith("-"):
            out += [o, v]
            i += 2
        else:
            out.append(o)
            i += 1
    return out


def run_info_pci(argv: list[str], vmid: int = 100) -> str:
    from vfiolab.real.qemurun import QemuRun
    with QemuRun("qm showcmd argv", timeout=90) as run:
        sock = run.path(f"{vmid}.qmp")
        run.start(runnable(argv, run.tmp))
        run.wait_until(lambda: os.path.exists(sock), "the QMP socket")
        run.connect_qmp(sock)
        text = run.qmp_calls(lambda q: q.hmp("info pci", deadline=run.deadline), "info pci")
        run.quit()
    return text


def _qemu_ok() -> bool:
    from vfiolab.real.qemurun import kvm_usable
    return os.path.exists(QEMU) and kvm_usable(QEMU)


def run_placement(argv: list[str], vmid: int) -> dict:
    """Start QEMU (-S) on the argv and read where it put each -device with an
    id and an addr (QOM addr = devfn, parent_bus)."""
    from vfiolab.real.qemurun import qom_placement
    want = {}
    for i, a in enumerate(argv):
        if a == "-device":
            props = dict(x.split("=", 1) for x in argv[i + 1].split(",")[1:] if "=" in x)
            if "addr" in props and "id" in props and not argv[i + 1].startswith("vfio-pci"):
                want[props["id"]] = (props["bus"], props["addr"])
    got = qom_placement(lambda tmp: runnable(argv, tmp), want, f"{vmid}.qmp", "qm showcmd argv")
    return {k: (want[k], got[k]) for k in want}


@pytest.mark.skipif(not _qemu_ok(), reason="needs QEMU 7.2 with KVM")
def test_real_qemu_accepts_public_config():
    """QEMU 7.2 starts with 210.conf's command line (without the GPU) and
    puts every device at the bus and address qemu-server gave it."""
    argv = read_proxmox_conf(str(DATA / "210.conf"), qemu="7.2",
                             host_functions={"0000:01:00": [0, 1]})
    placed = run_placement(argv, 210)
    assert {"qga0", "virtioscsi0", "net0"} <= set(placed)
    for did, ((bus, addr), (devfn, parent)) in placed.items():
        slot, _, fn = addr.replace("0x", "").partition(".")
        assert devfn == int(slot, 16) << 3 | (int(fn, 16) if fn else 0), did
        assert parent.endswith("/" + bus), (did, parent)


@pytest.mark.skipif(not _qemu_ok(), reason="needs QEMU 7.2 with KVM")
def test_real_qemu_accepts_and_readconfig_expansion_is_equal():
    """QEMU 7.2 (KVM) starts with the argv (without the GPU), and the same
    argv with -readconfig spelt out as -device options gives the same
    `info pci` (qemu_args_for_model stands for the cfg file exactly)."""
    argv = _gpu()
    text = run_info_pci(argv)
    assert 'id "ich9-pcie-port-1"' in text and 'id "pcidmi"' in text
    assert re.search(r'Bus\s+0, device\s+1, function 0:\s+VGA controller', text)
    expanded = [argv[0]] + qemu_args_for_model(argv, qemu="7.2")
    # qemu_args_for_model drops -id; keep the rest identical
    assert run_info_pci(expanded) == text


def test_predict_catalogue_vm():
    """A q35 VM with the catalogue's devices (VGA, virtio-net, e1000e on a
    root port): devices where qemu-server puts them."""
    from vfiolab.predict import predict
    conf = ("machine: q35\nostype: l26\nmemory: 1024\nnet0: virtio=BC:24:11:00:00:01\n"
            "net1: e1000e=BC:24:11:00:00:02\nballoon: 0\ntablet: 0\n")
    p = predict(qemu_args_for_model(proxmox_argv(conf, qemu="7.2"), qemu="7.2"),
                stack="debian12", cpu_vendor="GenuineIntel", phys_bits=46)
    by_id = {d.qdev_id: d for d in p.devices()}
    assert (by_id["vga"].bus, by_id["vga"].slot) == (0, 1)
    assert by_id["net0"].slot == 0x12 and by_id["net1"].slot == 0x13


def test_issue_vm_with_a_real_gpu_and_its_audio():
    """data/configs/proxmox/100.conf (q35 7.2, OVMF with a 4M efidisk,
    vmgenid, virtio-serial for the agent, a GPU with its audio as
    ``hostpci0: 0000:01:00``) with the two functions of a real RTX A6000 dump
    (data/devices/multi/gpu-nvidia-rtx-a6000-with-audio-lspci-vv): both are
    passed through, at 01:00.0 and 01:00.1 behind qemu-server's root port
    ich9-pcie-port-1 (PVE/QemuServer.pm: pcie=1 puts hostpciN on
    ich9-pcie-port-(N+1); the functions keep their numbers), and the check
    reads it without an edit."""
    from vfiolab.check import check
    dump = str(DATA.parents[1] / "devices" / "multi" /
               "gpu-nvidia-rtx-a6000-with-audio-lspci-vv" / "lspci-vv.txt")
    hosts = {"0000:01:00.0": dump, "0000:01:00.1": dump}
    argv = proxmox_argv((DATA / "100.conf").read_text(), qemu="7.2",
                        host_functions={"0000:01:00": [0, 1]})
    from vfiolab.predict import predict
    p = predict(qemu_args_for_model(argv, qemu="7.2"), host_devices=hosts,
                firmware="ovmf-2022.11", cpu_vendor="GenuineIntel", phys_bits=48)
    vfio = sorted((d.bdf, d.type) for d in p.devices() if d.type == "vfio-pci")
    assert [b for b, _ in vfio] == ["01:00.0", "01:00.1"]
    res = check(qemu_args_for_model(argv, qemu="7.2"), host_devices=hosts,
                firmware="ovmf-2022.11", cpu_vendor="GenuineIntel", phys_bits=48)
    assert res.items
