"""Host devices as people post them: several functions in one file, lspci -v,
pasted text (mail quoting, indentation, wrapped lines), cut-short dumps, files
that are not text, sysfs folders of any name.

Expected values are the numbers printed in the real dumps of
data/devices/ (the quoted line is next to each) and the rules of pciutils
(lspci.c show_bases(), show_verbose(); ls-caps.c) and Linux
(drivers/pci/pci-driver.c pci_uevent()), never the parsers' own output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vfiolab.addr import KiB, MiB
from vfiolab.errors import ConfigError, DeviceError, ParseError
from vfiolab.inputs.hostdevs import load_host_device, load_host_devices
from vfiolab.inputs.lspci import parse_lspci_vvv
from vfiolab.inputs.sysfs import read_sysfs_device
from vfiolab.predict import predict

DEV = Path(__file__).resolve().parents[1] / "data" / "devices"
WHOLE = DEV / "multi" / "dell-server-whole-lspci-vvv" / "lspci-vvv.txt"
GT520 = DEV / "multi" / "gpu-nvidia-gt520-with-audio-lspci-v" / "lspci-v.txt"
X520 = DEV / "nic-intel-x520" / "lspci-vvv.txt"


def _bars(dev):
    return [(b.index, b.host_address, b.size, b.kind) for b in dev.bars]


# ------------------------------------------------------- several functions per file

def test_whole_lspci_picks_the_function_named():
    # lspci prints "83:00.1" (no domain, show_slot_name()); the command line may
    # say 0000:83:00.1 or 83:00.1
    for name in ("83:00.1", "0000:83:00.1"):
        d = load_host_device(WHOLE, name)
        assert d.bdf == "0000:83:00.1"
        assert _bars(d) == [(0, 0xC9100000, 1 * MiB, "mem"),    # Region 0: Memory at c9100000 (64-bit, non-prefetchable) [size=1M]
                            (2, 0x8000, 32, "io"),               # Region 2: I/O ports at 8000 [size=32]
                            (4, 0xC9300000, 16 * KiB, "mem")]    # Region 4: Memory at c9300000 (64-bit, non-prefetchable) [size=16K]
        assert d.interrupt_pin == 2                              # Interrupt: pin B routed to IRQ 181
        assert (d.msix.table_bar, d.msix.table_offset, d.msix.pba_offset) == (4, 0, 0x2000)
    d0 = load_host_device(WHOLE, "83:00.0")
    assert d0.bars[0].host_address == 0xC9200000                 # Region 0: Memory at c9200000


def test_whole_lspci_every_function_and_errors():
    devs = load_host_devices(WHOLE)
    assert len(devs) == 201          # grep -c '^[0-9a-f][0-9a-f]:' lspci.txt
    with pytest.raises(ConfigError, match=r"no function 0000:83:00\.2 among the 201"):
        load_host_device(WHOLE, "83:00.2")
    with pytest.raises(ConfigError, match=r"201 functions .*say which"):
        load_host_device(WHOLE)


def test_both_functions_passed_through_from_one_file():
    """--host-device given once (for .0): .1 is taken from the same file.
    Two vfio-pci on one slot, multifunction=on on function 0 (QEMU
    do_pci_register_device sets PCI_HEADER_TYPE_MULTI_FUNCTION; vfio-pci
    emulates that bit, vfio_realize emulated_config_bits[PCI_HEADER_TYPE])."""
    args = ("-M q35 -m 1G -nodefaults "
            "-device vfio-pci,host=83:00.0,multifunction=on,addr=03.0 "
            "-device vfio-pci,host=83:00.1,addr=03.1").split()
    p = predict(args, host_devices={"83:00.0": str(WHOLE)})
    fns = sorted((d.slot, d.func) for d in p.vm.devices if d.type_name == "vfio-pci")
    assert fns == [(3, 0), (3, 1)]
    f0 = next(d for d in p.vm.devices if d.type_name == "vfio-pci" and d.func == 0)
    f1 = next(d for d in p.vm.devices if d.type_name == "vfio-pci" and d.func == 1)
    assert f0.config_read(0x0E, 1) & 0x80 and not f1.config_read(0x0E, 1) & 0x80
    assert f1.hostdev.bdf == "0000:83:00.1"
    assert any("taken from" in n for n in f1.hostdev.notes)
    flat = p.mtree_flat()
    assert "0000:83:00.0 BAR 0 mmaps[0]" in flat and "0000:83:00.1 BAR 0 mmaps[0]" in flat


# ------------------------------------------------------------------- lspci -v

def test_lspci_v_gpu_bars_numbered_when_they_fill_every_register():
    """GT 520 (lspci -vnn): 32-bit + 64-bit + 64-bit + I/O = 1+2+2+1 = 6
    registers, so show_bases() printed BAR0, BAR1, BAR3, BAR5."""
    d = load_host_device(GT520, "04:00.0")
    assert (d.vendor_id, d.device_id, d.class_code) == (0x10DE, 0x1040, 0x030000)
    assert _bars(d) == [(0, 0xFA000000, 16 * MiB, "mem"),      # Memory at fa000000 (32-bit, non-prefetchable) [size=16M]
                        (1, 0xD8000000, 128 * MiB, "mem"),     # Memory at d8000000 (64-bit, prefetchable) [size=128M]
                        (3, 0xD6000000, 32 * MiB, "mem"),      # Memory at d6000000 (64-bit, prefetchable) [size=32M]
                        (5, 0xCC00, 128, "io")]                # I/O ports at cc00 [size=128]
    assert (d.rom.host_address, d.rom.size, d.rom.virtual) == (0xFBC00000, 512 * KiB, True)
    assert d.interrupt_pin is None                             # Flags: ... IRQ 75 (no pin under -v)
    notes = " ".join(d.notes)
    assert "common indentation of 4" in notes and "shell prompt" in notes
    assert "BAR0, BAR1, BAR3, BAR5" in notes


def test_lspci_v_single_bar_cannot_be_numbered():
    """The HDMI audio function's one BAR could be any of the six registers."""
    with pytest.raises(ParseError) as e:
        load_host_device(GT520, "04:00.1")
    msg = str(e.value)
    assert "line 14" in msg and "sudo lspci -vvv -nn -s 04:00.1" in msg
    assert "show_bases" in msg


def test_lspci_v_access_denied_is_refused_by_the_model():
    """lspci as a user: "Capabilities: <access denied>" -- MSI-X unknown, so
    where QEMU overlays its table is unknown: refused with the command."""
    args = "-M q35 -m 1G -nodefaults -device vfio-pci,host=04:00.0".split()
    with pytest.raises(DeviceError, match=r"access denied.*sudo lspci -vvv -nn -s"):
        predict(args, host_devices={"04:00.0": str(GT520)})
    with pytest.raises(ConfigError, match="2 functions"):
        load_host_device(GT520)


def test_lspci_v_numbers_from_an_embedded_hex_dump():
    """lspci -v -xxx: the BAR registers of the dump number the BAR lines."""
    text = ("00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio 1.0 network device "
            "[1af4:1041] (rev 01)\n"
            "\tFlags: bus master, fast devsel, latency 0\n"
            "\tMemory at 4000100000 (64-bit, non-prefetchable) [size=512K]\n")
    hexdump = (DEV / "virtio-net-this-machine" / "lspci-xxxx.txt").read_text().splitlines()[1:]
    d = parse_lspci_vvv(text + "\n".join(hexdump) + "\n")[0]
    # lspci-xxxx.txt: BAR0 (offset 0x10) is the 64-bit 4000100000 (Region 0 in lspci-vvv.txt)
    assert _bars(d) == [(0, 0x4000100000, 512 * KiB, "mem")]


# -------------------------------------------------------------- pasted text

def _rtx() -> str:
    return (DEV / "gpu-nvidia-rtx6000-ada" / "lspci-vvv.txt").read_text()


def _same(a, b):
    assert (a.bdf, _bars(a), a.rom, a.msi, a.capabilities) == \
        (b.bdf, _bars(b), b.rom, b.msi, b.capabilities)


def test_mail_quoting_undone_with_a_note():
    plain = parse_lspci_vvv(_rtx())[0]
    for prefix in ("> ", ">", "> > "):
        quoted = "".join(prefix + ln + "\n" for ln in _rtx().splitlines())
        d = parse_lspci_vvv(quoted)[0]
        _same(d, plain)
        assert any("mail quoting" in n for n in d.notes)


def test_indentation_undone_with_a_note():
    plain = parse_lspci_vvv(_rtx())[0]
    d = parse_lspci_vvv("".join("    " + ln + "\n" for ln in _rtx().splitlines()))[0]
    _same(d, plain)
    assert any("indentation of 4" in n for n in d.notes)


def test_wrapped_header_line_joined_with_a_note():
    lines = _rtx().splitlines()
    head = lines[0]        # 01:00.0 VGA compatible controller: NVIDIA Corporation AD102GL [...] (rev a1) (prog-if 00 [VGA controller])
    cut = head.index(" [RTX")
    text = "\n".join([head[:cut], head[cut + 1:]] + lines[1:]) + "\n"
    d = parse_lspci_vvv(text)[0]
    plain = parse_lspci_vvv(_rtx())[0]
    _same(d, plain)
    assert (d.class_code, d.device_name) == (plain.class_code, plain.device_name)
    assert any("line 2 joined to the device header line 1" in n for n in d.notes)


def test_not_utf8_and_binary_files(tmp_path):
    bad = tmp_path / "latin1.txt"
    head = _rtx().encode()[:200]
    bad.write_bytes(head + b"\n\tSubsystem: Caf\xe9\n")
    n = head.count(b"\n") + 2                     # the line after the cut one
    with pytest.raises(ParseError, match=rf"line {n}: not UTF-8 text: byte 0xe9"):
        load_host_device(bad, "01:00.0")
    utf16 = tmp_path / "ps.txt"
    utf16.write_bytes(_rtx().encode("utf-16"))
    with pytest.raises(ParseError, match="UTF-16 text"):
        load_host_device(utf16, "01:00.0")
    # sysfs config is binary: given as a file it is refused, not decoded
    cfg = DEV / "virtio-net-this-machine" / "sysfs" / "config"
    with pytest.raises(ParseError, match="binary data"):
        load_host_device(cfg, "00:03.0")
    with pytest.raises(ParseError, match="binary data"):
        parse_lspci_vvv(cfg.read_bytes())


# ------------------------------------------------------------ cut-short dumps

def _x520_upto(marker: str) -> tuple[str, int]:
    lines = X520.read_text().splitlines()
    n = next(i for i, ln in enumerate(lines) if marker in ln) + 1
    return "\n".join(lines[:n]) + "\n", n


def test_dump_cut_inside_a_capability_names_the_line():
    # ls-caps.c cap_express(): with -vv "DevCap:" always follows the Express line
    text, n = _x520_upto("Capabilities: [a0] Express (v2) Endpoint, MSI 00")
    with pytest.raises(ParseError, match=rf"line {n}: the text ends inside this capability"):
        parse_lspci_vvv(text)
    # cap_msix(): "PBA:" always follows "Vector table:"
    text, n = _x520_upto("Vector table: BAR=4 offset=00000000")
    with pytest.raises(ParseError, match=rf"line {n}: the text ends inside the MSI-X"):
        parse_lspci_vvv(text)


def test_dump_cut_mid_line_names_the_line():
    text, n = _x520_upto("Region 4: Memory at c9304000")
    text = text.rstrip("\n")[:-len("non-prefetchable) [size=16K]")] + "\n"
    with pytest.raises(ParseError, match=rf"line {n}: malformed Region line"):
        parse_lspci_vvv(text)


# ------------------------------------------------------------ sysfs folders

SYSFS = DEV / "virtio-net-this-machine" / "sysfs"


def test_sysfs_folder_of_any_name_uses_uevent(tmp_path):
    # pci_uevent(): PCI_SLOT_NAME=0000:00:03.0 (sysfs/uevent)
    folder = tmp_path / "my-nic"
    shutil.copytree(SYSFS, folder)
    d = read_sysfs_device(folder)
    assert d.bdf == "0000:00:03.0"
    assert _bars(d) == [(0, 0x4000100000, 512 * KiB, "mem")]
    assert load_host_device(folder, "0000:00:03.0").bdf == "0000:00:03.0"
    # the data folder itself is called "sysfs"
    assert read_sysfs_device(SYSFS).bdf == "0000:00:03.0"


def test_sysfs_folder_without_name_or_uevent(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(SYSFS, folder)
    (folder / "uevent").unlink()
    with pytest.raises(ParseError, match=r"'copy' is not an address.*--host-device"):
        read_sysfs_device(folder)
    # the command line's address is enough
    assert read_sysfs_device(folder, "0000:00:03.0").bdf == "0000:00:03.0"
    assert load_host_device(folder, "00:03.0").bdf == "0000:00:03.0"


def test_sysfsdev_property_reads_the_folder(tmp_path):
    """-device vfio-pci,sysfsdev=PATH: QEMU opens that folder and names the
    device by its basename (hw/vfio/pci.c vfio_realize)."""
    folder = tmp_path / "0000:00:03.0"
    shutil.copytree(SYSFS, folder)
    p = predict(["-M", "q35", "-m", "1G", "-nodefaults", "-device",
                 f"vfio-pci,sysfsdev={folder}"])
    d = next(x for x in p.vm.devices if x.type_name == "vfio-pci")
    assert d.hostdev.bdf == "0000:00:03.0" and d.config_read(0, 2) == 0x1AF4


def test_nul_byte_is_refused_naming_its_line():
    # found by the fuzz test of tests/test_hostdev.py: a NUL is binary data,
    # refused with the line it is on, like every other parse error
    from vfiolab.errors import ParseError
    from vfiolab.inputs.lspci import parse_lspci_vvv
    with pytest.raises(ParseError) as e:
        parse_lspci_vvv("01:00.0 VGA compatible controller: x\n\tControl: I/O\x00+\n", source="paste")
    assert e.value.line_no == 2 and e.value.source == "paste" and "NUL" in str(e.value)


# ------------------------------------- a GPU and its HDMI audio function, both passed

# data/devices/multi/gpu-nvidia-rtx-a6000-with-audio-lspci-vv: `lspci -vvd 10DE:` as root of
# four RTX A6000 and their audio functions (neuropoly/intranet.neuro.polymtl.ca gpus.md)
A6000 = DEV / "multi" / "gpu-nvidia-rtx-a6000-with-audio-lspci-vv" / "lspci-vv.txt"
# function 0 with multifunction=on, function 1 at the same slot, behind a root port
A6000_ARGS = ("-M q35 -m 1G -nodefaults "
              "-device pcie-root-port,id=rp1,chassis=1,bus=pcie.0,addr=1c.0 "
              "-device vfio-pci,host=41:00.0,bus=rp1,addr=00.0,multifunction=on "
              "-device vfio-pci,host=41:00.1,bus=rp1,addr=00.1").split()


def test_a6000_file_holds_four_gpus_and_their_audio_functions():
    devs = load_host_devices(A6000)
    # grep '^[0-9a-f][0-9a-f]:' lspci-vv.txt
    assert [d.bdf for d in devs] == [f"0000:{b}:00.{f}" for b in ("01", "41", "81", "c1")
                                     for f in (0, 1)]
    with pytest.raises(ConfigError, match=r"8 functions .*say which"):
        load_host_device(A6000)


def test_a6000_gpu_function_read_from_the_text():
    d = load_host_device(A6000, "41:00.0")
    # "41:00.0 VGA compatible controller: NVIDIA Corporation GA102GL [RTX A6000] (rev a1)
    #  (prog-if 00 [VGA controller])": class 03 sub 00 prog-if 00; pci.ids "10de  NVIDIA
    # Corporation"; no -nn, so no device ID
    assert (d.vendor_id, d.device_id, d.class_code, d.revision) == (0x10DE, None, 0x030000, 0xA1)
    assert [(b.index, b.host_address, b.size, b.kind, b.is64, b.prefetch) for b in d.bars] == [
        (0, 0xB0000000, 16 * MiB, "mem", False, False),       # Region 0: Memory at b0000000 (32-bit, non-prefetchable) [size=16M]
        (1, 0x28060000000, 256 * MiB, "mem", True, True),     # Region 1: Memory at 28060000000 (64-bit, prefetchable) [size=256M]
        (3, 0x28070000000, 32 * MiB, "mem", True, True),      # Region 3: Memory at 28070000000 (64-bit, prefetchable) [size=32M]
        (5, 0x7000, 128, "io", False, False)]                 # Region 5: I/O ports at 7000 [size=128]
    # Expansion ROM at b1000000 [virtual] [disabled] [size=512K]
    assert (d.rom.host_address, d.rom.size, d.rom.enabled, d.rom.virtual) == \
        (0xB1000000, 512 * KiB, False, True)
    assert d.interrupt_pin == 1                                # Interrupt: pin A routed to IRQ 239
    # Capabilities: [68] MSI: Enable+ Count=1/1 Maskable- 64bit+ ; no MSI-X capability
    assert (d.msi.cap_offset, d.msi.enabled, d.msi.vectors, d.msi.is64,
            d.msi.per_vector_mask) == (0x68, True, 1, True, False)
    assert d.msix is None
    # Capabilities: [78] Express (v2) Legacy Endpoint (PCI_EXP_TYPE_LEG_END = 1)
    assert (d.is_pcie, d.pcie_type) == (True, 1)
    # Capabilities: [bb0 v1] Physical Resizable BAR (PCI_EXT_CAP_ID_REBAR = 0x15,
    # Linux include/uapi/linux/pci_regs.h)
    assert (0x15, 0xBB0) in [tuple(c) for c in d.ext_capabilities]
    assert d.kernel_driver == "nvidia"                         # Kernel driver in use: nvidia


def test_a6000_audio_function_read_from_the_text():
    d = load_host_device(A6000, "41:00.1")
    # "41:00.1 Audio device: NVIDIA Corporation GA102 High Definition Audio Controller (rev a1)":
    # class 04 sub 03, no "(prog-if" printed (pciutils lspci.c show_terse: only when nonzero
    # or named), so 00
    assert (d.vendor_id, d.device_id, d.class_code, d.revision) == (0x10DE, None, 0x040300, 0xA1)
    # Region 0: Memory at b1080000 (32-bit, non-prefetchable) [size=16K]
    assert [(b.index, b.host_address, b.size, b.kind, b.is64, b.prefetch) for b in d.bars] == \
        [(0, 0xB1080000, 16 * KiB, "mem", False, False)]
    assert d.rom is None                                       # no "Expansion ROM" line
    assert d.interrupt_pin == 2                                # Interrupt: pin B routed to IRQ 258
    # Capabilities: [68] MSI: Enable- Count=1/1 Maskable- 64bit+
    assert (d.msi.enabled, d.msi.vectors, d.msi.is64) == (False, 1, True)
    assert d.msix is None
    assert (d.is_pcie, d.pcie_type) == (True, 0)               # Express (v2) Endpoint
    assert d.kernel_driver == "snd_hda_intel"
    # the other pairs: 01:00.x below 4G ("Region 1: Memory at c0000000 ... [size=256M]",
    # 01:00.1 "Region 0: Memory at df080000 ... [size=16K]")
    assert load_host_device(A6000, "01:00.0").bar(1).host_address == 0xC0000000
    assert load_host_device(A6000, "01:00.1").bar(0).host_address == 0xDF080000


def _a6000_predict(host_devices):
    p = predict(A6000_ARGS, host_devices=host_devices)
    vf = {d.func: d for d in p.vm.devices if d.type_name == "vfio-pci"}
    return p, vf


def test_a6000_gpu_and_audio_passed_through_behind_a_root_port():
    """Both functions from one file, each named by --host-device; function 0
    carries multifunction=on (QEMU hw/pci/pci.c pci_init_multifunction)."""
    p, vf = _a6000_predict({"41:00.0": str(A6000), "41:00.1": str(A6000)})
    assert sorted(vf) == [0, 1]
    rp = next(d for d in p.vm.devices if d.qdev_id == "rp1")
    for f, d in vf.items():
        assert (d.bus.number, d.slot) == (rp.config[0x19], 0)     # the root port's secondary bus
        assert d.hostdev.bdf == f"0000:41:00.{f}"
    # PCI_HEADER_TYPE bit 7 on function 0 only (vfio-pci emulates it,
    # vfio_realize emulated_config_bits[PCI_HEADER_TYPE])
    assert vf[0].config_read(0x0E, 1) & 0x80 and not vf[1].config_read(0x0E, 1) & 0x80
    # both read vendor 10de; the device ID is not in the text: the guest reads 0000, said
    assert vf[0].config_read(0, 2) == vf[1].config_read(0, 2) == 0x10DE
    assert vf[0].config_read(2, 2) == 0
    assert all("device ID unknown" in d.id_note for d in vf.values())
    # SeaBIOS 1.16.2 src/fw/pciinit.c, by hand: the root port's windows are
    # ALIGN(sum, align) (pci_bios_check_devices): prefetchable 256M + 32M
    # -> 512M aligned 256M; non-prefetchable 16M + the GPU's 512K ROM + 16K
    # -> 32M aligned 16M.  pci_bios_init_root_regions_mem puts the region of
    # smaller alignment (mem: the 32M window + the AHCI's 4K) at the top:
    # ALIGN_DOWN(0xfec00000 - 0x2001000, 16M) = 0xfc000000, then the
    # prefetchable one below it: ALIGN_DOWN(0xfc000000 - 512M, 256M) = 0xd0000000;
    # in each window the BARs go largest first
    rec = {(r.bus, r.slot, r.func): r for r in p.devices()}
    bus = rp.config[0x19]
    gpu = {b.bar: b.address for b in rec[(bus, 0, 0)].bars}
    audio = {b.bar: b.address for b in rec[(bus, 0, 1)].bars}
    assert (gpu[0], gpu[1], gpu[3]) == (0xFC000000, 0xD0000000, 0xE0000000)
    assert audio[0] == 0xFC000000 + 16 * MiB + 512 * KiB       # after BAR0 16M and the ROM 512K
    # both functions' BARs are mmapped (ram_device) in the flat view and DMA-mapped
    flat = p.mtree_flat()
    for name in ("0000:41:00.0 BAR 1 mmaps[0]", "0000:41:00.0 BAR 3 mmaps[0]",
                 "0000:41:00.1 BAR 0 mmaps[0]"):
        assert name in flat
        assert any(m.region == name for m in p.vm.vfio.mappings.values())


def test_a6000_audio_function_taken_from_the_gpus_file():
    """--host-device given for the GPU only: the audio function is the same
    file's 41:00.1, with a note."""
    _p, vf = _a6000_predict({"41:00.0": str(A6000)})
    assert vf[1].hostdev.bdf == "0000:41:00.1"
    assert vf[1].hostdev.bar(0).host_address == 0xB1080000
    assert any("taken from" in n for n in vf[1].hostdev.notes)


def test_a6000_summary_shows_both_functions(capsys):
    from vfiolab.cli import main
    rc = main(["predict", "--format", "summary", "--host-device", f"41:00.0={A6000}",
               "--host-device", f"41:00.1={A6000}", "--"] + A6000_ARGS)
    out = capsys.readouterr().out
    assert rc == 0
    # guest 01:00.x: the root port's secondary bus is 1 (SeaBIOS pci_bios_init_bus)
    assert "== vfio-pci: host 0000:41:00.0 (10de:0000 VGA controller) -> guest 01:00.0 ==" in out
    assert "== vfio-pci: host 0000:41:00.1 (10de:0000 Audio controller) -> guest 01:00.1 ==" \
        in out
    gpu, audio = out.split("host 0000:41:00.1")[0], out.split("host 0000:41:00.1")[1]

    def row(text, *words):
        return [ln for ln in text.splitlines() if all(w in ln.split() for w in words)]
    assert row(gpu, "BAR1", "mem64", "yes", "256M", "0x28060000000", "0xd0000000", "0xdfffffff")
    assert row(gpu, "BAR3", "mem64", "yes", "32M", "0x28070000000", "0xe0000000", "0xe1ffffff")
    assert row(gpu, "BAR0", "mem32", "no", "16M", "0xb0000000", "0xfc000000", "0xfcffffff")
    assert row(gpu, "BAR5", "io", "no", "0x7000", "0xc000", "0xc07f")
    assert row(audio.split("Flat view")[0], "BAR0", "mem32", "no", "16K", "0xb1080000",
               "0xfd080000", "0xfd083fff")
    assert row(audio, "BAR0", "0xfd080000", "0xfd083fff", "ramd", "mmap", "KVM")
    assert "device ID unknown" in out


def test_a6000_refusals():
    # function 1 needs function 0 to be multifunction (QEMU hw/pci/pci.c
    # pci_init_multifunction: "PCI: single function device can't be populated
    # in function %x.%x")
    args = [a.replace(",multifunction=on", "") for a in A6000_ARGS]
    with pytest.raises(ConfigError, match=r"single function device can't be populated in "
                                          r"function 0\.1"):
        predict(args, host_devices={"41:00.0": str(A6000)})
    # a function the file does not hold
    with pytest.raises(ConfigError, match=r"no function 0000:41:00\.2 among the 8"):
        predict(A6000_ARGS, host_devices={"41:00.2": str(A6000)})
