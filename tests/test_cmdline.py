"""The QEMU command line as QEMU reads it (vfiolab.inputs.cmdline).

Expected values come from real QEMU runs: the captures in
tests/fixtures/cmdline/ (their first line is the command; README.md there
says how they were made), and the messages real QEMU 7.2.22 (Debian 12) and
10.0.2 (Debian 13) printed for the refused command lines quoted below; the
sources are named per test.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from vfiolab.errors import CommandLineError, ConfigError, UnsupportedOption, VfiolabError
from vfiolab.inputs.cmdline import parse_qemu_args, qemu_strtosz
from vfiolab.predict import predict
from vfiolab.stack import make_stack

FIX = Path(__file__).parent / "fixtures" / "cmdline"


def _capture(name: str) -> tuple[list[str], str, list[str]]:
    """(QEMU args, HMP output, stderr lines) of a capture."""
    lines = (FIX / f"{name}.txt").read_text().splitlines()
    cmd = shlex.split(lines[0].split(": ", 1)[1])
    args = cmd[cmd.index("stdio") + 1:]
    err = [ln for ln in lines[2:] if ln.startswith("qemu-system")]
    body = [ln for ln in lines[2:] if not ln.startswith("qemu-system")]
    return args, "\n".join(body) + "\n", err


def _view(text: str, space: str, low: int = 0) -> set[str]:
    """The lines of the FlatView of address space ``space`` from ``low`` up,
    leaving out 0xa0000-0xfffff and pc.ram (firmware-state dependent)."""
    for block in text.split("FlatView #"):
        if f' AS "{space}"' in block:
            out = set()
            for ln in block.splitlines():
                m = re.match(r"\s+([0-9a-f]{16})-", ln)
                if not m or "pc.ram" in ln and int(m.group(1), 16) < 0x100000000:
                    continue
                start = int(m.group(1), 16)
                if start >= low and not 0xa0000 <= start < 0x100000:
                    out.add(ln.strip())
            return out
    raise AssertionError(f"no FlatView for {space}")


def _predict(args, **kw):
    kw.setdefault("cpu_vendor", "AuthenticAMD")
    kw.setdefault("phys_bits", 40)
    return predict(args, **kw)


# --- sizes ------------------------------------------------------------------------

#: -m VALUE -> RAM bytes on QEMU 7.2 and 10.0 (None: refused), as `info
#: memory_size_summary` printed them (softmmu/vl.c parse_memory_options,
#: util/cutils.c do_strtosz, hw/core/machine.c machine_set_mem: 8 KiB rounding)
M_REAL = {
    "0x1000": (4 << 30, None), "0x10": (16 << 20, None), "1000": (1048576000, 1048576000),
    "0x1000M": (4 << 30, None), "1.5G": (1610612736, 1610612736), "1.5": (None, None),
    "0": (128 << 20, 128 << 20), "4097k": (4202496, 4202496), "100000k": (102400000, 102400000),
    "0x1b": (8192, 8192), "1e3": (None, None), "-1": (None, None), "08": (8 << 20, 8 << 20),
}


@pytest.mark.parametrize("text", sorted(M_REAL))
@pytest.mark.parametrize("qemu", [(7, 2), (10, 0)])
def test_m_as_each_qemu_reads_it(text, qemu):
    want = M_REAL[text][qemu == (10, 0)]
    if want is None:
        with pytest.raises(CommandLineError, match=re.escape(text)):
            parse_qemu_args(["-m", text], qemu=qemu)
    else:
        assert parse_qemu_args(["-m", text], qemu=qemu).ram_size == want


def test_m_hex_warns_on_72_and_is_refused_on_10_with_qemus_words():
    _args, _out, err = _capture("q35-m-hex")
    cfg = parse_qemu_args(["-M", "q35", "-m", "0x1000"], qemu=(7, 2))
    assert [f"qemu-system-x86_64: warning: {w}" for w in cfg.warnings] == err
    _args, _out, err10 = _capture("q35-m-hex-qemu10")
    with pytest.raises(CommandLineError) as e:
        parse_qemu_args(["-M", "q35", "-m", "0x1000"], qemu=(10, 0))
    assert err10[0].split(": ", 1)[1] in str(e.value)


def test_m_hex_end_to_end_matches_real_72():
    """-m 0x1000 is 4 GiB on QEMU 7.2: 2 GiB below 4G on q35, 2 GiB above."""
    args, real, _ = _capture("q35-m-hex")
    p = _predict(args)
    assert p.vm.ram_size == 4 << 30
    assert _view(p.mtree_flat(), "memory", 0x80000000) == _view(real, "memory", 0x80000000)


def test_strtosz_rules():
    # util/cutils.c do_strtosz: fractions round half up, a fraction needs a scale
    assert qemu_strtosz("1.5k", "x") == 1536
    assert qemu_strtosz("0.0001k", "x") == 0            # 0.1024 rounds down
    assert qemu_strtosz("0.0005k", "x") == 1            # 0.512 rounds up
    with pytest.raises(CommandLineError):
        qemu_strtosz("1.5", "x")
    with pytest.raises(CommandLineError):
        qemu_strtosz("16E", "x")                        # 2^64: out of range
    assert qemu_strtosz("15E", "x") == 15 << 60


# --- default devices and their order ------------------------------------------------

@pytest.mark.parametrize("name", ["q35-defaults", "pc-global-vgamem", "q35-device-vga-vgamem",
                                  "q35-nic-order", "q35-multifunction-json"])
def test_info_pci_matches_real(name):
    """Default VGA and NIC (created by the machine before any -device),
    -global VGA.vgamem_mb (which, as a -global of a default_list driver, also
    turns the default VGA off: real QEMU warns "global VGA.vgamem_mb=32 not
    used" and has no VGA), -net nic models, JSON "multifunction":true."""
    args, real, _ = _capture(name)
    assert _predict(args).info_pci() == real


def test_pc_default_nic_is_e1000_as_real_qemu_shows():
    # hw/i386/pc_piix.c: the default NIC of pc is e1000, with the default VGA
    args, real, _ = _capture("pc-defaults")
    assert "Ethernet controller: PCI device 8086:100e" in real     # e1000 at 00:03.0
    assert _predict(args).info_pci() == real


def test_defaults_recorded_in_order():
    cfg = parse_qemu_args(["-M", "q35", "-device", "edu", "-nic", "user,model=virtio",
                           "-vga", "std"])
    assert [d.type for d in cfg.default_devices] == ["VGA", "virtio-net-pci"]
    assert [d.type for d in cfg.devices] == ["edu"]
    assert [d.type for d in parse_qemu_args(["-M", "q35", "-netdev", "user,id=n"]).default_devices] \
        == ["VGA"]                                       # -netdev: no default NIC
    assert parse_qemu_args(["-M", "q35", "-nodefaults"]).default_devices == []
    assert parse_qemu_args(["-M", "q35", "-vga", "none", "-nic", "none"]).default_devices == []
    # bochs-display is not in vl.c default_list: the default VGA stays
    assert [d.type for d in parse_qemu_args(["-M", "q35", "-nic", "none", "-device",
                                             "bochs-display"]).default_devices] == ["VGA"]
    # softmmu/vl.c vga_interfaces: -vga qxl creates qxl-vga
    assert [d.type for d in parse_qemu_args(["-M", "q35", "-nodefaults", "-vga", "qxl"])
            .default_devices] == ["qxl-vga"]
    with pytest.raises(UnsupportedOption, match="not a PC display"):
        parse_qemu_args(["-vga", "cg3"])


@pytest.mark.parametrize("name", ["pc-defaults-nic-none-mtree", "q35-isa-ports-mtree"])
def test_isa_ports_and_machine_switches_match_real(name):
    """Default serial (0x3f8) and parallel (0x378, pc only), -serial/-parallel,
    isa-serial index=3 (0x2e8), pvpanic (0x505), vmport=off, hpet=off."""
    args, real, _ = _capture(name)
    text = _predict(args).mtree_flat()
    assert _view(text, "I/O") == _view(real, "I/O")
    assert _view(text, "memory") == _view(real, "memory")


def test_max_ram_below_4g_matches_real():
    args, real, _ = _capture("pc-max-ram-below-4g")
    p = _predict(args)
    assert (p.vm.ram_split.below_4g, p.vm.ram_split.above_4g) == (2 << 30, 1 << 30)
    assert _view(p.mtree_flat(), "memory", 0x80000000) == _view(real, "memory", 0x80000000)
    # hw/i386/pc.c pc_machine_set_max_ram_below_4g
    with pytest.raises(CommandLineError, match="expects size less than or equal to 4G"):
        parse_qemu_args(["-machine", "pc,max-ram-below-4g=5G"])


def test_accel_tcg_matches_real_and_no_accel_is_recorded_as_none():
    args, real, _ = _capture("q35-accel-tcg")
    p = _predict(args)
    assert p.stack.accel == "tcg"
    assert _view(p.mtree_flat(), "memory", 0x80000000) == _view(real, "memory", 0x80000000)
    assert _view(p.mtree_flat(), "I/O") == _view(real, "I/O")
    assert parse_qemu_args(["-M", "q35"]).accel is None
    assert parse_qemu_args(["-enable-kvm"]).accel == "kvm"
    assert parse_qemu_args(["-machine", "q35,accel=tcg:kvm"]).accel == "tcg"


# --- refusals in QEMU's words (real QEMU 7.2 and 10.0 printed the same) --------------

@pytest.mark.parametrize("args, qemu_says", [
    (["-device", "edu,addr=3.0", "-device", "edu,addr=3.1"],
     "PCI: single function device can't be populated in function 3.1"),
    (["-device", "edu,addr=3.1,multifunction=on", "-device", "edu,addr=3.0"],
     "PCI: 3.0 indicates single function, but 3.1 is already populated."),
    (["-device", "edu,addr=0.0"], "PCI: slot 0 function 0 not available for edu, in use by mch,id=(null)"),
    (["-device", "edu,id=a", "-device", "edu,id=a"], "Duplicate ID 'a' for device"),
    (["-device", '{"driver":"edu","multifunction":"on"}'],
     "Invalid parameter type for 'multifunction', expected: boolean"),
    (["-device", "edu,multifunction=maybe"], "Parameter 'multifunction' expects 'on' or 'off'"),
    (["-device", '{"driver":"VGA","vgamem_mb":"32"}'], "Parameter 'vgamem_mb' expects uint64"),
    (["-device", "edu,id=0x5"], "Parameter 'id' expects an identifier"),
    (["-object", "iothread,id=0x5"], "Parameter 'id' expects an identifier"),
    (["-cpu", "xxx"], "unable to find CPU model 'xxx'"),
    (["-cpu", ""], "-cpu option cannot be empty"),
    (["-nic", "0xZZ"], "Parameter 'type' does not accept value '0xZZ'"),
    (["-net", ""], "Parameter 'type' is missing"),
    (["-device", '{"driver":"edu","multifunction":true,"addr":5}'],
     "PCI: single function device can't be populated in function 0.5"),
])
def test_refused_with_qemus_reason(args, qemu_says):
    with pytest.raises(VfiolabError) as e:
        _predict(["-M", "q35", "-m", "512M", "-nodefaults", *args])
    assert qemu_says in str(e.value)


def test_same_host_device_twice_is_refused():
    """hw/vfio/pci.c vfio_realize (7.2 and 10.0): the second vfio-pci of a
    host device finds it in its group's device list: "device is already
    attached", prefixed "vfio BDF: " (no real VFIO device to run here)."""
    with pytest.raises(CommandLineError, match="vfio 0000:3d:00.0: device is already attached"):
        parse_qemu_args(["-M", "q35", "-device", "vfio-pci,host=3d:00.0",
                         "-device", "vfio-pci,host=0000:3D:00.0"])


def test_pci_device_on_an_ide_bus_is_refused():
    # real QEMU 7.2: "-device edu,bus=ide.0: Device 'edu' can't go on IDE bus"
    with pytest.raises(CommandLineError, match="Device 'edu' can't go on IDE bus"):
        parse_qemu_args(["-M", "q35", "-device", "edu,bus=ide.0"])


def test_fn1_without_fn0_and_root_port_slot_1_are_accepted_as_by_qemu():
    """Real QEMU 7.2 and 10.0 start with -device edu,addr=3.1 alone, and with
    a device at slot 1 behind a pcie-root-port (pci_init_multifunction only
    checks an existing function 0; do_pci_register_device has no slot rule
    for a cold-plugged device)."""
    p = _predict(["-M", "q35", "-nodefaults", "-device", "edu,addr=3.1"])
    assert any((d.slot, d.func) == (3, 1) for d in p.devices())
    p = _predict(["-M", "q35", "-nodefaults", "-device", "pcie-root-port,id=rp,chassis=1",
                  "-device", "edu,bus=rp,addr=1.0"])
    assert any((d.bus, d.slot) == (1, 1) for d in p.devices())


# --- booleans, JSON, -global, -cpu, -fw_cfg, -drive --------------------------------------

@pytest.mark.parametrize("word", ["on", "yes", "true", "y"])
def test_multifunction_true_in_every_qemu_spelling(word):
    p = _predict(["-M", "q35", "-nodefaults", "-device", f"edu,addr=4,multifunction={word}",
                  "-device", "edu,addr=4.1"])
    assert [(d.slot, d.func) for d in p.devices() if d.type == "edu"] == [(4, 0), (4, 1)]


def test_global_applies_under_explicit_props_and_unknown_is_refused():
    cfg = parse_qemu_args(["-global", "VGA.vgamem_mb=32", "-device", "VGA,id=a",
                           "-device", "VGA,id=b,vgamem_mb=8"])
    assert [d.props.get("vgamem_mb") for d in cfg.devices] == ["32", "8"]
    assert cfg.globals == {("VGA", "vgamem_mb"): "32"}
    assert "-global kvm-pit.lost_tick_policy" in parse_qemu_args(
        ["-global", "kvm-pit.lost_tick_policy=delay"]).ignored
    with pytest.raises(UnsupportedOption, match="mch.extended-tseg-mbytes"):
        parse_qemu_args(["-global", "mch.extended-tseg-mbytes=16"])
    with pytest.raises(CommandLineError, match="VGA.nosuch"):
        parse_qemu_args(["-global", "VGA.nosuch=1"])


def test_cpu_props_recorded_with_qemu_booleans():
    cfg = parse_qemu_args(["-cpu", "host,host-phys-bits=true,host-phys-bits-limit=39,phys-bits=0,+vmx"])
    assert cfg.cpu_model == "host"
    assert cfg.cpu_props == {"host-phys-bits": "on", "host-phys-bits-limit": "39", "phys-bits": "0",
                             "vmx": "on"}
    # guest-phys-bits came with QEMU 9.0 (target/i386/cpu.c)
    with pytest.raises(CommandLineError, match="guest-phys-bits"):
        parse_qemu_args(["-cpu", "host,guest-phys-bits=39"], qemu=(7, 2))
    assert parse_qemu_args(["-cpu", "host,guest-phys-bits=39"], qemu=(10, 0)).cpu_props == \
        {"guest-phys-bits": "39"}
    with pytest.raises(CommandLineError, match="phys-bits should be between 32 and 52"):
        parse_qemu_args(["-cpu", "qemu64,phys-bits=60"])


def test_fw_cfg_drives_pflash_and_blockdev_are_kept_for_the_firmware():
    cfg = parse_qemu_args([
        "-fw_cfg", "name=opt/ovmf/X-PciMmio64Mb,string=65536",
        "-drive", "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE.fd,readonly=on",
        "-blockdev", '{"driver":"file","filename":"/x.fd","node-name":"libvirt-pflash0-storage"}'])
    assert cfg.fw_cfg == {"opt/ovmf/X-PciMmio64Mb": "65536"}
    assert cfg.drives[0]["if"] == "pflash" and cfg.pflash[0]["unit"] == 0
    assert "libvirt-pflash0-storage" in cfg.blockdevs
    # blockdev.c drive_new: if=virtio adds a virtio-blk-pci device for the drive
    assert [d.type for d in parse_qemu_args(["-drive", "file=x.img,if=virtio"]).devices] \
        == ["virtio-blk-pci"]
    assert "-drive if=ide" in parse_qemu_args(["-drive", "file=x.img,media=cdrom"]).ignored


def test_memory_backend_pc_ram_is_main_ram():
    cfg = parse_qemu_args(["-machine", "q35,memory-backend=pc.ram",
                           "-object", "memory-backend-ram,id=pc.ram,size=2G"])
    assert cfg.ram_size == 2 << 30 and cfg.memdevs == {}
    # hw/core/machine.c machine_run_board_init, vl.c qemu_resolve_machine_memdev
    with pytest.raises(CommandLineError, match="does not match the size of the memory backend"):
        parse_qemu_args(["-m", "1G", "-machine", "q35,memory-backend=pc.ram",
                         "-object", "memory-backend-ram,id=pc.ram,size=2G"])
    with pytest.raises(CommandLineError, match="Memory backend 'x' not found"):
        parse_qemu_args(["-machine", "q35,memory-backend=x"])


def test_pflash_blockdev_nodes_as_libvirt_names_them():
    """libvirt 10 (src/qemu/qemu_command.c qemuBuildPflashBlockdevCommandLine):
    a file node and a format node per flash unit, named by -machine pflash0=/pflash1=."""
    cfg = parse_qemu_args([
        "-blockdev", '{"driver":"file","filename":"/usr/share/OVMF/OVMF_CODE_4M.fd",'
                     '"node-name":"libvirt-pflash0-storage","auto-read-only":true,"discard":"unmap"}',
        "-blockdev", '{"node-name":"libvirt-pflash0-format","read-only":true,"driver":"raw",'
                     '"file":"libvirt-pflash0-storage"}',
        "-blockdev", '{"driver":"file","filename":"/var/lib/libvirt/qemu/nvram/vm_VARS.fd",'
                     '"node-name":"libvirt-pflash1-storage"}',
        "-blockdev", '{"node-name":"libvirt-pflash1-format","read-only":false,"driver":"raw",'
                     '"file":"libvirt-pflash1-storage"}',
        "-machine", "pc-q35-7.2,pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format"])
    assert [(f["unit"], f["file"], f["readonly"]) for f in cfg.pflash] == [
        (0, "/usr/share/OVMF/OVMF_CODE_4M.fd", True),
        (1, "/var/lib/libvirt/qemu/nvram/vm_VARS.fd", False)]
    assert cfg.firmware_kind == "ovmf"


def test_proxmox_machine_type_and_id():
    cfg = parse_qemu_args(["-id", "100", "-machine", "type=pc-q35-7.2+pve0", "-nodefaults"])
    assert cfg.machine == "q35" and cfg.machine_type == "pc-q35-7.2"


# --- a libvirt 10 command line ------------------------------------------------------

def test_libvirt_log_is_read_whole():
    from vfiolab.inputs.paste import argv_from_text
    argv = argv_from_text((FIX / "libvirt10-q35.log").read_text())
    # the log asks for smm=on, which QEMU refuses on a host whose KVM has no
    # SMM (as this one): the libvirt host it stands for has it
    with pytest.raises(ConfigError, match="System Management Mode not supported"):
        _predict(argv)
    p = _predict(argv, stack=make_stack(cpu_vendor="AuthenticAMD", phys_bits=40,
                                        host_kvm_smm=True))
    # every -device of the log is a PCI function the catalogue knows (libvirt
    # 10's q35 layout: root ports with qemu-xhci, virtio-serial, virtio-blk,
    # virtio-balloon behind them)
    types = {d.type_name for d in p.vm.pci_devices()}
    assert {"qemu-xhci", "virtio-serial-pci", "virtio-blk-pci", "virtio-balloon-pci"} <= types


def test_libvirt_reduced_matches_real_info_pci():
    """A reduced libvirt VM: real QEMU 7.2's info pci after SeaBIOS, line
    for line (virtio-net-pci behind a PCIe port is modern-only,
    disable-legacy=auto: device id 1af4:1041)."""
    argv = shlex.split((FIX / "libvirt10-q35-reduced.args").read_text())
    real = (FIX / "libvirt10-q35-reduced.pci").read_text()
    assert "    Ethernet controller: PCI device 1af4:1041" in real
    assert _predict(argv).info_pci() == real


# --- -readconfig ---------------------------------------------------------------------

def test_readconfig_file_in_qemus_format(tmp_path):
    f = tmp_path / "vm.cfg"
    f.write_text('# a comment\n[device "rp1"]\n  driver = "pcie-root-port"\n  chassis = "1"\n'
                 '  bus = "pcie.0"\n  addr = "5.0"\n\n[machine]\n  type = "q35"\n'
                 '[global]\n  driver = "VGA"\n  property = "vgamem_mb"\n  value = "8"\n')
    cfg = parse_qemu_args(["-readconfig", str(f), "-nodefaults", "-device", "edu,bus=rp1"])
    assert cfg.machine == "q35" and cfg.globals == {("VGA", "vgamem_mb"): "8"}
    assert [(d.type, d.id) for d in cfg.devices] == [("pcie-root-port", "rp1"), ("edu", "")]
    f.write_text("[device]\n  driver edu\n")
    with pytest.raises(CommandLineError, match="line 2: parse error"):
        parse_qemu_args(["-readconfig", str(f)])
    with pytest.raises(CommandLineError, match="cannot read it here"):
        parse_qemu_args(["-readconfig", str(tmp_path / "nosuch.cfg")])


def test_readconfig_proxmox_q35_layout():
    """proxmox/qemu-server pve-q35-4.0.cfg: USB 1d.0-2/1d.7 and 1a.0-2/1a.7,
    HDA 1b.0, four pcie-root-ports 1c.0-3, the DMI bridge 1e.0 with four
    pci-bridges behind it."""
    cfg = parse_qemu_args(["-readconfig", "/usr/share/qemu-server/pve-q35-4.0.cfg",
                           "-machine", "type=pc-q35-7.2+pve0", "-nodefaults"])
    got = [(d.id, d.type, d.props.get("addr")) for d in cfg.devices]
    assert len(got) == 18
    assert ("ich9-pcie-port-1", "pcie-root-port", "1c.0") in got
    assert ("pcidmi", "i82801b11-bridge", "1e.0") in got and ("pci.3", "pci-bridge", "4.0") in got
    p = _predict(cfg.args)
    where = {d.qdev_id: (d.bus.number, d.slot, d.func) for d in p.vm.pci_devices() if d.qdev_id}
    assert where["ich9-pcie-port-1"] == (0, 0x1c, 0) and where["pcidmi"] == (0, 0x1e, 0)
    assert where["ehci"] == (0, 0x1d, 7)


def test_blockdev_json_keeps_qapi_values_libvirt_writes():
    # libvirt writes "backing":null (qapi/block-core.json BlockdevRefOrNull);
    # the model reads no block options, so QEMU's accepted forms pass as they are
    cfg = parse_qemu_args(["-blockdev", '{"node-name":"libvirt-1-format","read-only":false,'
                                        '"driver":"qcow2","file":"libvirt-1-storage",'
                                        '"backing":null}'])
    assert cfg.blockdevs["libvirt-1-format"]["backing"] is None


def test_pflash_vars_copy_takes_its_templates_size():
    # libvirt's per-VM nvram file is a copy of the VARS template of the code
    # image (Debian's 4 MiB build: OVMF_CODE_4M.fd 0x37c000, OVMF_VARS_4M.fd 0x84000)
    p = _predict(["-M", "q35", "-accel", "kvm", "-nodefaults",
                  "-drive", "if=pflash,format=raw,unit=0,readonly=on,"
                            "file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                  "-drive", "if=pflash,format=raw,unit=1,"
                            "file=/var/lib/libvirt/qemu/nvram/vm_VARS.fd"],
                 firmware="ovmf-2022.11")
    flash = {s.name: s.end - s.start + 1 for s in p.sections() if s.name.startswith("system.flash")}
    assert flash == {"system.flash0": 0x37c000, "system.flash1": 0x84000}
    assert any("vm_VARS.fd" in n for n in p.stack.notes)


# --- what qemu-server and libvirt write that the reader once refused ----------

def test_pflash_raw_size_is_the_flash_size():
    """qemu-server's efidisk: ``-drive if=pflash,unit=1,format=raw,...,size=540672``.
    ``size=`` is an option of the raw format (QEMU block/raw-format.c
    ``raw_runtime_opts``) that limits the image's length, and the flash
    device is as long as its image (hw/block/pflash_cfi01.c realize,
    ``blk_getlength``): 540672 = 0x84000, the 4 MiB build's VARS size."""
    cfg = parse_qemu_args(["-machine", "q35", "-nodefaults",
                           "-drive", "if=pflash,unit=0,format=raw,readonly=on,"
                                     "file=/usr/share/pve-edk2-firmware/OVMF_CODE_4M.fd",
                           "-drive", "if=pflash,unit=1,id=drive-efidisk0,format=raw,"
                                     "file=/dev/pve/vm-100-disk-0,size=540672"])
    assert [f.get("size") for f in cfg.pflash][1] == 0x84000


def test_pflash_size_needs_the_raw_format():
    with pytest.raises(CommandLineError, match="raw format"):
        parse_qemu_args(["-drive", "if=pflash,unit=0,format=qcow2,file=x.qcow2,size=540672"])


def test_vmgenid_is_accepted_and_ignored():
    """hw/acpi/vmgenid.c adds no PCI function and no region (its GUID page is
    guest RAM the firmware places).  Real QEMU 7.2.22 (KVM, SeaBIOS 1.16.2):
    ``-machine q35 -accel kvm -m 1G -nodefaults`` with and without
    ``-device vmgenid,guid=ccdb5d0a-7d1e-4a6c-9b1f-4d2b0a0f9c1b`` gave the
    same ``info pci``, the same ``info mtree -f`` views and the same
    kvm_set_user_memory trace (ua aside); only the hash order of the
    address-space blocks differed (run 2026-12-06 with vfiolab capture)."""
    args = ["-machine", "q35", "-m", "1G", "-nodefaults"]
    with_vmgenid = predict(args + ["-device", "vmgenid,guid=ccdb5d0a-7d1e-4a6c-9b1f-4d2b0a0f9c1b"])
    without = predict(args)
    assert with_vmgenid.mtree_flat() == without.mtree_flat()
    assert with_vmgenid.info_pci() == without.info_pci()
    assert "-device vmgenid" in with_vmgenid.to_json()["ignored"]


@pytest.mark.parametrize("alias,type_name", [
    ("virtio-serial", "virtio-serial-pci"), ("virtio-net", "virtio-net-pci"),
    ("virtio-balloon", "virtio-balloon-pci"), ("lsi", "lsi53c895a"),
    ("e1000-82540em", "e1000")])
def test_device_aliases(alias, type_name):
    """softmmu/qdev-monitor.c ``qdev_alias_table`` (v7.2.0, x86: the
    QEMU_ARCH_VIRTIO_PCI entries): ``-device virtio-serial`` is
    virtio-serial-pci (qemu-server writes that spelling)."""
    cfg = parse_qemu_args(["-machine", "q35", "-nodefaults", "-device", f"{alias},id=d0"])
    assert [d.type for d in cfg.devices] == [type_name]


@pytest.mark.parametrize("cpu,accel,warned", [
    ("host,phys-bits=39", "kvm", True), ("qemu64,phys-bits=39", "kvm", True),
    ("qemu64,phys-bits=48", "kvm", False), ("qemu64,phys-bits=39", "tcg", False)])
def test_phys_bits_property_warning(cpu, accel, warned):
    """target/i386/host-cpu.c host_cpu_adjust_phys_bits (v7.2.0, v10.0.0):
    under KVM a phys-bits= other than the host's width makes QEMU warn
    "Host physical bits (%u) does not match phys-bits property (%u)", also
    when -cpu host's host-phys-bits then takes the host's width anyway."""
    p = predict(["-machine", "q35", "-m", "1G", "-nodefaults", "-cpu", cpu, "-accel", accel],
                cpu_vendor="GenuineIntel", phys_bits=48)
    want = "Host physical bits (48) does not match phys-bits property (39)"
    assert (want in p.to_json()["warnings"]) == warned


@pytest.mark.parametrize("device,bus", [
    ("hda-duplex", "HDA"), ("scsi-hd,drive=x", "SCSI"), ("nvme-ns,drive=x", "nvme-bus"),
    ("floppy", "floppy-bus"), ("virtserialport", "virtio-serial-bus")])
def test_child_device_without_its_bus(device, bus):
    """Real QEMU 7.2.22, ``-machine q35 -accel tcg -nodefaults -display none -S
    -blockdev driver=null-co,node-name=x -device DEVICE`` (2026-12-06):
    "-device hda-duplex: No 'HDA' bus found for device 'hda-duplex'", and the
    same for SCSI, nvme-bus, floppy-bus and virtio-serial-bus."""
    name = device.split(",")[0]
    with pytest.raises(CommandLineError, match=f"No '{bus}' bus found for device '{name}'"):
        parse_qemu_args(["-machine", "q35", "-nodefaults", "-blockdev",
                         "driver=null-co,node-name=x", "-device", device])


def test_child_devices_with_their_bus_are_accepted():
    cfg = parse_qemu_args(["-machine", "q35", "-nodefaults", "-blockdev",
                           "driver=null-co,node-name=x", "-device", "virtio-scsi-pci",
                           "-device", "scsi-hd,drive=x", "-device", "intel-hda",
                           "-device", "hda-duplex", "-device", "virtio-serial-pci",
                           "-device", "virtserialport"])
    assert {"-device scsi-hd", "-device hda-duplex", "-device virtserialport"} <= set(cfg.ignored)


@pytest.mark.parametrize("m", ["0x1b", "640K", "992K"])
def test_ram_below_one_mib_is_not_modelled(m):
    """Real QEMU 7.2.22 + SeaBIOS 1.16.2 (KVM, q35, 2026-12-06): -m 640K stops
    after the banner, 896K prints "No space for init relocation", 992K boots,
    -m 0x1b (one byte, rounded up to 8K) ends in "KVM internal error": the
    model refuses RAM below 1 MiB rather than predict a POST."""
    with pytest.raises(UnsupportedOption, match="below 1 MiB"):
        predict(["-M", "q35", "-nodefaults", "-m", m])


@pytest.mark.parametrize("qemu,value,locked", [
    ("7.2", "on", True), ("7.2", "y", True), ("7.2", "off", False),
    ("10.0", "on", True), ("10.0", "on-fault", True), ("10.0", "off", False)])
def test_overcommit_mem_lock_by_release(qemu, value, locked):
    """softmmu/vl.c (v7.2.0): mem-lock is a QEMU_OPT_BOOL; system/vl.c
    (v10.0.0, commit 13057e064a): one of on, off, on-fault."""
    from vfiolab.inputs.cmdline import mem_lock_value
    assert mem_lock_value(value, tuple(int(x) for x in qemu.split(".")), "-overcommit") == locked


def test_overcommit_mem_lock_refusals():
    with pytest.raises(CommandLineError, match="expects one of 'on', 'off', 'on-fault'"):
        parse_qemu_args(["-overcommit", "mem-lock=true"], qemu=(10, 0))
    with pytest.raises(CommandLineError, match="expects 'on' or 'off'"):
        parse_qemu_args(["-overcommit", "mem-lock=on-fault"], qemu=(7, 2))


def test_netdev_bridge_takes_no_queues_and_tap_fds_excludes_queues():
    """qapi/net.json NetdevBridgeOptions has br and helper only; net/tap.c
    net_init_tap refuses queues= (and the others) with fds= (v7.2.0)."""
    with pytest.raises(CommandLineError, match="Invalid parameter 'queues'"):
        parse_qemu_args(["-netdev", "bridge,id=n0,br=br0,queues=4"])
    with pytest.raises(CommandLineError, match="invalid with fds="):
        parse_qemu_args(["-netdev", "tap,id=n0,fds=3:4,queues=2"])
