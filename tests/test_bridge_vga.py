"""A VGA device behind a PCIe root port: the bridge's VGA forwarding (issue 14).

QEMU hw/pci/pci_bridge.c ``pci_bridge_init_vga_aliases`` (v7.2.0 and
v10.0.0) makes three aliases of the secondary bus's spaces,
``pci_bridge_vga_io_lo`` (0x3b0, 0xc), ``pci_bridge_vga_io_hi`` (0x3c0, 0x20)
and ``pci_bridge_vga_mem`` (0xa0000, 0x20000), and registers them in the
parent bus with hw/pci/pci.c ``pci_register_vga`` (priority 1, enabled by the
bridge's command register) only while the bridge control has VGA Enable.
SeaBIOS sets it on every bridge above the VGA device it picks (src/fw/
pciinit.c ``pci_enable_default_vga``; class 0x0300 only, so not for
bochs-display, class 0x0380).  vfio-pci's x-vga regions go through
``pci_register_vga`` into the GPU's own bus, so behind a root port they
reach the guest the same way.

Expected values: the real captures data/references/q35-1G-rootport-vga
(QEMU 7.2), -qemu10-sb1162 (QEMU 10.0) and q35-1G-rootport-bochs*
(tests/test_predict_references.py compares them whole).
"""

from __future__ import annotations

import pytest

from vfiolab.model.pci import PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_VGA, PCI_COMMAND
from vfiolab.predict import predict
from vfiolab.real.reference import REFERENCES

RP = ["-machine", "q35", "-accel", "kvm", "-m", "1G", "-nodefaults",
      "-device", "pcie-root-port,id=rp1,chassis=1,slot=1"]
HOST = "0000:01:00.0"
GPU = "data/devices/gpu-nvidia-rtx6000-ada"     # class 0300, NVIDIA, BAR1, I/O BAR5


def _bridge_vga_lines(text: str) -> list[str]:
    return sorted(line.strip() for line in text.splitlines() if "pci_bridge_vga" in line)


def _capture(name: str, file: str = "info_mtree.txt") -> str:
    return (REFERENCES / name / file).read_text()


def _ranges(vm, space="memory"):
    fv = (vm.as_io if space == "io" else vm.as_memory).flatview()
    return [(fr.start, fr.size, fr.mr.name) for fr in fv.ranges]


def _dev(p, qdev_id):
    return next(d for d in p.vm.pci_devices() if d.qdev_id == qdev_id)


@pytest.mark.parametrize("stack, capture", [("debian12", "q35-1G-rootport-vga"),
                                            ("debian13", "q35-1G-rootport-vga-qemu10-sb1162")])
def test_vga_behind_root_port_aliases_as_captured(stack, capture):
    """The five alias lines of `info mtree` (io_lo and io_hi in I/O; vga_mem
    in the "pci" region of "memory", of the root port's bus-master view
    and of memory-region: pci) are the capture's."""
    p = predict(RP + ["-device", "VGA,id=vga0,bus=rp1"], stack=stack,
                firmware="seabios-1.16.2")
    want = _bridge_vga_lines(_capture(capture))
    assert len(want) == 5
    assert _bridge_vga_lines(p.mtree()) == want


def test_vga_behind_root_port_flat_view():
    """vga-lowmem at 0xa0000 and the vga ports 0x3b4.. reach the guest
    through the aliases (info_mtree_f.txt of q35-1G-rootport-vga:
    "00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem",
    "00000000000003c0-00000000000003cf (prio 0, i/o): vga")."""
    f = _capture("q35-1G-rootport-vga", "info_mtree_f.txt")
    assert "00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem" in f
    assert "00000000000003c0-00000000000003cf (prio 0, i/o): vga" in f
    p = predict(RP + ["-device", "VGA,id=vga0,bus=rp1"])
    assert (0xA0000, 0x20000, "vga-lowmem") in _ranges(p.vm)
    assert (0x3C0, 0x10, "vga") in _ranges(p.vm, "io")


def test_bochs_display_gets_no_vga_enable():
    """bochs-display is class 0x0380: SeaBIOS "PCI: No VGA devices found",
    the root port keeps VGA Enable clear and no alias is registered
    (q35-1G-rootport-bochs: no pci_bridge_vga line)."""
    assert _bridge_vga_lines(_capture("q35-1G-rootport-bochs")) == []
    assert "PCI: No VGA devices found" in _capture("q35-1G-rootport-bochs", "seabios.log")
    p = predict(RP + ["-device", "bochs-display,id=disp0,bus=rp1"])
    assert _bridge_vga_lines(p.mtree()) == []
    assert not _dev(p, "rp1").config[PCI_BRIDGE_CONTROL] & PCI_BRIDGE_CTL_VGA


def test_vga_enable_and_command_gate_the_aliases():
    """pci_bridge_write_config: a write to the bridge control re-creates the
    windows; clearing VGA Enable unregisters the aliases (the legacy range
    falls back to what the root bus has there); clearing the command's I/O
    bit disables the two port aliases only (pci_update_vga)."""
    p = predict(RP + ["-device", "VGA,id=vga0,bus=rp1"])
    rp = _dev(p, "rp1")
    assert rp.config[PCI_BRIDGE_CONTROL] & PCI_BRIDGE_CTL_VGA       # SeaBIOS set it
    cmd = rp.config_read(PCI_COMMAND, 2)
    rp.config_write(PCI_COMMAND, cmd & ~0x1, 2)
    names_io = {n for _, _, n in _ranges(p.vm, "io")}
    assert (0xA0000, 0x20000, "vga-lowmem") in _ranges(p.vm)
    assert "vga" not in names_io
    rp.config_write(PCI_COMMAND, cmd, 2)
    assert (0x3C0, 0x10, "vga") in _ranges(p.vm, "io")
    ctl = rp.config_read(PCI_BRIDGE_CONTROL, 2)
    rp.config_write(PCI_BRIDGE_CONTROL, ctl & ~PCI_BRIDGE_CTL_VGA, 2)
    assert _bridge_vga_lines(p.mtree()) == []
    assert not any(n == "vga-lowmem" for _, _, n in _ranges(p.vm))
    rp.config_write(PCI_BRIDGE_CONTROL, ctl, 2)
    assert (0xA0000, 0x20000, "vga-lowmem") in _ranges(p.vm)


@pytest.mark.parametrize("stack", ["debian12", "debian13"])
def test_vfio_x_vga_behind_root_port(stack):
    """-device vfio-pci,x-vga=on,bus=rp1 (Proxmox hostpci0 pcie=1,x-vga=1
    with SeaBIOS): vfio_populate_vga registers its regions in rp1's bus and
    the root port forwards them as it forwards an emulated VGA's: the same
    alias lines as the emulated-VGA capture, vfio-vga-mmio@0xa0000 at
    0xa0000 and the 0x3b0/0x3c0 ranges in the I/O flat view."""
    p = predict(RP + ["-device", f"vfio-pci,host={HOST},id=gpu0,bus=rp1,x-vga=on"],
                host_devices={HOST: GPU}, stack=stack, cpu_vendor="AuthenticAMD",
                firmware="seabios-1.16.2")
    capture = "q35-1G-rootport-vga" + ("-qemu10-sb1162" if stack == "debian13" else "")
    assert _bridge_vga_lines(p.mtree()) == _bridge_vga_lines(_capture(capture))
    if stack == "debian12":
        assert (0xA0000, 0x20000, "vfio-vga-mmio@0xa0000") in _ranges(p.vm)
    else:
        # QEMU 10.0 q35 on a host without KVM SMM has no smram-region: RAM
        # covers 0xa0000 in "memory" as in the capture ("0000000000000000-
        # 00000000000bffff (prio 0, ram): pc.ram KVM"); the range is still
        # forwarded in the PCI space
        assert any(start == 0 and size >= 0xC0000 and name == "pc.ram"
                   for start, size, name in _ranges(p.vm))
        assert ("  0000000000000000-00000000000bffff (prio 0, ram): pc.ram KVM"
                in _capture(capture, "info_mtree_f.txt"))
    assert "alias pci_bridge_vga_mem" in p.mtree() and "vfio-vga-mmio@0xa0000" in p.mtree()
    io = _ranges(p.vm, "io")
    assert (0x3B0, 0xC, "vfio-vga-io@0x3b0") in io
    # vfio_vga_probe_nvidia_3d0_quirk: 3d0/3d4 inside vfio-vga-io@0x3c0
    assert (0x3D0, 2, "vfio-nvidia-3d0-quirk") in io
    gpu = _dev(p, "gpu0")
    assert gpu.bus.parent_dev is _dev(p, "rp1")


def test_proxmox_x_vga_with_seabios_is_predicted():
    """qemu-server: hostpci0 with pcie=1,x-vga=1 and SeaBIOS puts
    vfio-pci,...,x-vga=on on ich9-pcie-port-1 (PCI.pm print_hostpci_devices)
    and -vga none; the model no longer refuses it."""
    from vfiolab.inputs.proxmox import proxmox_argv, qemu_args_for_model
    conf = ("machine: q35\nostype: l26\nmemory: 2048\nbios: seabios\n"
            "hostpci0: 0000:01:00,pcie=1,x-vga=1\nballoon: 0\ntablet: 0\n")
    argv = proxmox_argv(conf, qemu="7.2", host_functions={"0000:01:00": [0]})
    vfio = [a for a in argv if a.startswith("vfio-pci")]
    assert vfio and "x-vga=on" in vfio[0] and "bus=ich9-pcie-port-1" in vfio[0]
    p = predict(qemu_args_for_model(argv, qemu="7.2"), host_devices={HOST: GPU},
                stack="debian12", cpu_vendor="AuthenticAMD", phys_bits=46)
    assert any(n == "vfio-vga-mmio@0xa0000" for _, _, n in _ranges(p.vm))


def test_bus_pci_0_on_q35_is_a_bridge_of_that_id():
    """qbus_find: on q35 "bus=pci.0" names a bus called pci.0, i.e. a bridge
    with id pci.0 (Proxmox's pve-q35-4.0.cfg has one); without one, QEMU 7.2
    says "Bus 'pci.0' not found"."""
    from vfiolab.errors import ConfigError
    base = ["-machine", "q35", "-accel", "kvm", "-m", "512M", "-nodefaults"]
    p = predict(base + ["-device", "pci-bridge,id=pci.0,chassis_nr=1",
                        "-device", "edu,id=e0,bus=pci.0,addr=3"])
    assert _dev(p, "e0").bus.parent_dev is _dev(p, "pci.0")
    with pytest.raises(ConfigError, match="bus 'pci.0' not found"):
        predict(base + ["-device", "edu,id=e0,bus=pci.0"])
