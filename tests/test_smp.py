"""``-smp``: QEMU's vCPU count and topology, and what it changes (issue 14).

Expected values come from QEMU's source (hw/core/machine-smp.c
``machine_parse_smp_config`` at v7.2.0 b67b00e6b4 and v10.0.0 7c949c53e9,
hw/virtio/virtio-pci.c ``virtio_pci_optimal_num_queues``, the device
realize functions named per test) and from real QEMU runs: the error texts
below are what Debian 12's QEMU 7.2.22 and QEMU 10.0.2 printed for
``qemu-system-x86_64 -machine q35 -accel tcg -smp ARG -S -display none
-nodefaults -monitor none``; the whole-capture comparisons are the
data/references/*smp* folders (tests/test_predict_references.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vfiolab.errors import CommandLineError, ConfigError, DeviceError, UnsupportedOption
from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.model.devices import VirtIOBlkPCI
from vfiolab.model.machine import machine_max_cpus, smp_topology
from vfiolab.predict import predict
from vfiolab.stack import make_stack

Q72 = make_stack("debian12")
Q10 = make_stack("debian13")


def _st(stack, machine="q35"):
    return stack.for_machine(machine)


# --- machine_parse_smp_config ----------------------------------------------------

@pytest.mark.parametrize("given, want", [
    # no cpus and no maxcpus: sockets = cores = threads = 1 unless given, the
    # product is maxcpus and cpus
    ({}, (1, 1, 1, 1, 1)),
    ({"sockets": 2, "cores": 3}, (6, 6, 2, 3, 1)),
    # cpus given: maxcpus = cpus; "prefer cores over sockets since 6.2"
    ({"cpus": 4}, (4, 4, 1, 4, 1)),
    ({"cpus": 4, "sockets": 2}, (4, 4, 2, 2, 1)),
    ({"cpus": 8, "cores": 2}, (8, 8, 4, 2, 1)),
    # threads computed last
    ({"cpus": 8, "sockets": 2, "cores": 2}, (8, 8, 2, 2, 2)),
    # maxcpus given: the topology counts maxcpus, cpus stays
    ({"cpus": 2, "maxcpus": 8, "sockets": 2, "cores": 2, "threads": 2}, (2, 8, 2, 2, 2)),
    ({"maxcpus": 8}, (8, 8, 1, 8, 1)),
])
def test_topology_q35_72(given, want):
    t = smp_topology(given, _st(Q72))
    assert (t.cpus, t.max_cpus, t.sockets, t.cores, t.threads) == want


def test_prefer_sockets_on_machine_types_up_to_6_1():
    # hw/i386/pc_q35.c pc_q35_6_1_machine_options: smp_props.prefer_sockets
    t = smp_topology({"cpus": 4}, _st(Q72, "pc-q35-6.1"))
    assert (t.sockets, t.cores) == (4, 1)
    t = smp_topology({"cpus": 4}, _st(Q72, "pc-q35-6.2"))
    assert (t.sockets, t.cores) == (1, 4)


@pytest.mark.parametrize("stack, given, msg", [
    # real QEMU 7.2.22 / 10.0.2, -smp 5,threads=2
    (Q72, {"cpus": 5, "threads": 2}, "Invalid CPU topology: product of the hierarchy must match "
     "maxcpus: sockets (1) * dies (1) * cores (2) * threads (2) != maxcpus (5)"),
    (Q10, {"cpus": 5, "threads": 2}, "Invalid CPU topology: product of the hierarchy must match "
     "maxcpus: sockets (1) * dies (1) * modules (1) * cores (2) * threads (2) != maxcpus (5)"),
    # -smp 2,maxcpus=1
    (Q72, {"cpus": 2, "maxcpus": 1}, "Invalid CPU topology: maxcpus must be equal to or greater "
     "than smp: sockets (1) * dies (1) * cores (1) * threads (1) == maxcpus (1) < smp_cpus (2)"),
    # -smp sockets=2,cores=3,maxcpus=8
    (Q72, {"sockets": 2, "cores": 3, "maxcpus": 8}, "product of the hierarchy must match "
     "maxcpus: sockets (2) * dies (1) * cores (3) * threads (1) != maxcpus (8)"),
    # -smp 300 on pc-q35-7.2 (max_cpus 288)
    (Q72, {"cpus": 300}, "Invalid SMP CPUs 300. The max CPUs supported by machine 'pc-q35-7.2' is 288"),
    # -smp 2,clusters=2: x86 has no clusters
    (Q72, {"cpus": 2, "clusters": 2}, "clusters not supported by this machine's CPU topology"),
    (Q10, {"cpus": 2, "clusters": 2}, "clusters > 1 not supported by this machine's CPU topology"),
])
def test_topology_refusals_in_qemus_words(stack, given, msg):
    with pytest.raises(ConfigError) as e:
        smp_topology(given, _st(stack))
    assert msg in str(e.value)


def test_dies_are_supported_on_x86():
    # hw/i386/pc.c pc_machine_class_init: smp_props.dies_supported (real 7.2
    # and 10.0 start with -smp 2,dies=2)
    t = smp_topology({"cpus": 2, "dies": 2}, _st(Q72))
    assert (t.cpus, t.dies, t.cores) == (2, 2, 1)


def test_machine_max_cpus():
    # hw/i386/pc.c 255; hw/i386/pc_q35.c: 4096 (9.0+), 1024 (8.1, 8.2),
    # 288 (2.8 .. 8.0), 255 (up to 2.7)
    assert machine_max_cpus(_st(Q72, "pc")) == 255
    assert machine_max_cpus(_st(Q72)) == 288
    assert machine_max_cpus(_st(Q10)) == 4096
    assert machine_max_cpus(_st(Q10, "pc-q35-8.2")) == 1024
    assert machine_max_cpus(_st(Q10, "pc-q35-8.0")) == 288
    assert machine_max_cpus(_st(Q72, "pc-q35-2.7")) == 255


def test_more_than_255_vcpus_are_refused():
    # QEMU 10.0.2 -machine q35 -smp 300: "APIC ID 255 requires x2APIC
    # feature in CPU"; the model does not model x2APIC
    with pytest.raises(ConfigError, match="x2APIC"):
        smp_topology({"cpus": 300}, _st(Q10))


# --- the command-line reader ---------------------------------------------------

@pytest.mark.parametrize("smp, cpus", [("4", 4), ("sockets=2,cores=2", 4), ("cpus=2,maxcpus=8", 2),
                                       ("maxcpus=6", 6), ("threads=2", 2),
                                       ("2,sockets=1,dies=1,cores=2,threads=2,maxcpus=4", 2)])
def test_reader_cpus_agree_with_the_topology(smp, cpus):
    # the reader's count (QemuConfig.smp_cpus) is the topology's smp.cpus
    cfg = parse_qemu_args(["-smp", smp])
    assert cfg.smp_cpus == cpus == smp_topology(cfg.smp, _st(Q72)).cpus


def test_reader_numbers_are_base_0():
    # qapi/qobject-input-visitor.c qobject_input_type_int64_keyval: qemu_strtoi64(.., 0, ..)
    assert parse_qemu_args(["-smp", "010"]).smp == {"cpus": 8}
    assert parse_qemu_args(["-smp", "0x4"]).smp == {"cpus": 4}


def test_reader_messages():
    with pytest.raises(CommandLineError, match=r"Parameter 'smp.cpus' expects integer"):
        parse_qemu_args(["-smp", "x"])
    # QEMU 7.2 has no modules key (qapi/machine.json SMPConfiguration)
    with pytest.raises(CommandLineError, match=r"Parameter 'smp.modules' is unexpected"):
        parse_qemu_args(["-smp", "2,modules=1"], qemu=(7, 2))
    assert parse_qemu_args(["-smp", "2,modules=1"], qemu=(10, 0)).smp == {"cpus": 2, "modules": 1}
    with pytest.raises(CommandLineError, match="books"):
        parse_qemu_args(["-smp", "2,books=1"], qemu=(7, 2))


def test_reader_zero_is_a_warning_on_72_and_an_error_on_10():
    cfg = parse_qemu_args(["-smp", "cpus=0"], qemu=(7, 2))
    assert cfg.smp == {}
    assert cfg.warnings == ["Deprecated CPU topology (considered invalid): CPU topology "
                            "parameters must be greater than zero"]
    with pytest.raises(CommandLineError, match="Invalid CPU topology: CPU topology parameters "
                                               "must be greater than zero"):
        parse_qemu_args(["-smp", "cpus=0"], qemu=(10, 0))


def test_reader_merges_smp_options_and_notes_the_topology():
    # vl.c machine_merge_property: a later -smp overrides keys, keeps the others
    cfg = parse_qemu_args(["-smp", "4", "-smp", "sockets=2"])
    assert cfg.smp == {"cpus": 4, "sockets": 2}
    assert "-smp" not in cfg.ignored
    assert "-smp sockets=" in cfg.ignored
    assert parse_qemu_args(["-smp", "4"]).ignored == []


# --- what smp.cpus changes ----------------------------------------------------------

def _vm(cpus):
    return SimpleNamespace(smp_cpus=cpus)


def test_optimal_num_queues_caps():
    # virtio_pci_optimal_num_queues(fixed): MIN(cpus, PCI_MSIX_FLAGS_QSIZE (0x7ff)
    # - fixed), then MIN(.., VIRTIO_QUEUE_MAX (1024) - fixed)
    blk = VirtIOBlkPCI.__new__(VirtIOBlkPCI)
    assert blk.optimal_num_queues(_vm(4), 0) == 4
    assert blk.optimal_num_queues(_vm(5000), 0) == 1024
    assert blk.optimal_num_queues(_vm(5000), 2) == 1022
    assert blk.optimal_num_queues(None, 0) == 1


def _msix_tables(args, qemu="7.2"):
    p = predict(args, qemu=qemu) if qemu != "7.2" else predict(args)
    return [ln.split(":")[0].split()[0] for ln in p.mtree_flat().splitlines()
            if ln.endswith("msix-table")]


BLK = ["-blockdev", "driver=null-co,node-name=d0", "-device", "virtio-blk-pci,drive=d0,id=vblk0"]


@pytest.mark.parametrize("machine, smp, extra, size", [
    # virtio_blk_pci_realize: nvectors = num_queues + 1; 16 bytes a vector
    ("q35", "4", "", 5 * 16),
    ("q35", "sockets=2,cores=3", "", 7 * 16),
    ("q35", "2,maxcpus=8", "", 3 * 16),
    # hw_compat_5_1: virtio-blk-device num-queues=1
    ("pc-i440fx-5.1", "4", "", 2 * 16),
    ("pc-i440fx-5.2", "4", "", 5 * 16),
    # explicit num-queues and vectors win
    ("pc-i440fx-5.1", "4", ",num-queues=3", 4 * 16),
    ("q35", "4", ",vectors=2", 2 * 16),
])
def test_virtio_blk_msix_follows_smp(machine, smp, extra, size):
    args = ["-machine", machine, "-accel", "kvm", "-m", "512M", "-nodefaults", "-smp", smp,
            BLK[0], BLK[1], BLK[2], BLK[3] + extra]
    (table,) = _msix_tables(args)
    lo, hi = (int(x, 16) for x in table.split("-"))
    assert hi - lo + 1 == size


def test_virtio_scsi_msix_follows_smp():
    # virtio_scsi_pci_realize: num_queues + VIRTIO_SCSI_VQ_NUM_FIXED (2) + 1
    args = ["-machine", "q35", "-accel", "kvm", "-m", "512M", "-nodefaults", "-smp", "3",
            "-device", "virtio-scsi-pci,id=s0"]
    (table,) = _msix_tables(args)
    lo, hi = (int(x, 16) for x in table.split("-"))
    assert hi - lo + 1 == (3 + 2 + 1) * 16


def test_cpu_address_spaces_follow_smp_cpus():
    # hw/i386/x86.c x86_cpus_init creates smp.cpus CPUs, each with "cpu-memory-N"
    p = predict(["-machine", "q35", "-accel", "kvm", "-nodefaults", "-smp", "2,maxcpus=8"])
    text = p.mtree_flat()
    assert 'AS "cpu-memory-1"' in text and 'AS "cpu-memory-2"' not in text


def test_num_queues_checks():
    base = ["-machine", "q35", "-accel", "kvm", "-nodefaults"]
    # hw/block/virtio-blk.c virtio_blk_device_realize
    with pytest.raises(DeviceError, match="num-queues property must be larger than 0"):
        predict(base + BLK[:3] + [BLK[3] + ",num-queues=0"])
    # hw/scsi/virtio-scsi.c virtio_scsi_common_realize
    with pytest.raises(DeviceError, match=r"Invalid number of queues \(= 1023\), must be a "
                                          r"positive integer less than 1022\."):
        predict(base + ["-device", "virtio-scsi-pci,num_queues=1023"])


def test_virtio_net_vectors_follow_the_netdev_queues():
    # hw/virtio/virtio-net-pci.c virtio_net_pci_realize: 2 * MAX(queues, 1) + 2
    # (the real capture data/references/q35-512M-virtio-net-tap-mq4: 0xa0 bytes)
    base = ["-machine", "q35", "-accel", "kvm", "-nodefaults", "-smp", "4"]
    for netdev, vectors in (("tap,id=n0", 4), ("tap,id=n0,queues=3", 8),
                            ("tap,id=n0,fds=3:4", 6), ("vhost-user,id=n0,chardev=c0,queues=2", 6)):
        (table,) = _msix_tables(base + ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"])
        lo, hi = (int(x, 16) for x in table.split("-"))
        assert hi - lo + 1 == vectors * 16, netdev
    with pytest.raises(DeviceError, match="vhost-vdpa"):
        predict(base + ["-netdev", "vhost-vdpa,id=n0,vhostdev=/dev/vhost-vdpa-0",
                        "-device", "virtio-net-pci,netdev=n0"])
    with pytest.raises(UnsupportedOption, match="multiqueue"):
        parse_qemu_args(["-nic", "tap,queues=4,model=virtio"])


# --- other options that were taken as ignored ----------------------------------------

def test_floppy_on_q35_is_refused():
    # real QEMU 7.2 and 10.0: q35 + -fda / -drive if=floppy adds "fdc" at
    # 0x3f1-0x3f5 and 0x3f7 in the I/O view (isa-fdc, hw/i386/pc_q35.c no_floppy)
    for opt in (["-fda", "x.img"], ["-drive", "if=floppy,file=x.img"]):
        with pytest.raises(UnsupportedOption, match="isa-fdc"):
            parse_qemu_args(["-machine", "q35"] + opt)
        assert parse_qemu_args(["-machine", "pc"] + opt).ignored


def test_accel_kernel_irqchip_split_is_refused():
    # real QEMU 7.2: -accel kvm,kernel-irqchip=split -> "pic", "pit", "elcr", "ioapic"
    with pytest.raises(UnsupportedOption, match="kernel-irqchip=split"):
        parse_qemu_args(["-machine", "q35", "-accel", "kvm,kernel-irqchip=split"])
    assert parse_qemu_args(["-accel", "kvm,kernel-irqchip=on"]).accel == "kvm"


def test_machine_firmware_is_bios():
    # softmmu/vl.c: -bios X sets the machine's "firmware" property; real QEMU
    # 7.2 with -machine q35,firmware=/usr/share/seabios/bios.bin (128 KiB)
    # maps pc.bios at 0xfffe0000-0xffffffff (bios-256k.bin: 0xfffc0000)
    cfg = parse_qemu_args(["-machine", "q35,firmware=/usr/share/seabios/bios.bin"])
    assert cfg.bios == "/usr/share/seabios/bios.bin"
    assert "-machine firmware=" not in cfg.ignored
    assert parse_qemu_args(["-bios", "a.bin", "-machine", "firmware=b.bin"]).bios == "b.bin"
