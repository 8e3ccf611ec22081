"""Host PCI devices: the HostDevice model and the lspci / sysfs parsers.

Expected values are copied from the real dumps in data/devices/ (the quoted
line is given next to each number), or worked out by hand from the config
bytes with the register layout of the PCI spec -- never from running the
parsers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from mutate import FUZZ, mutated

from vfiolab.addr import GiB, KiB, MiB
from vfiolab.errors import DeviceError, ParseError
from vfiolab.model.hostdev import Cap, HostBar, HostDevice, HostRom, MsiInfo, MsixInfo
from vfiolab.inputs.lspci import merge, parse_lspci_vvv, parse_lspci_x
from vfiolab.inputs.sysfs import read_sysfs_device

DEV = Path(__file__).resolve().parents[1] / "data" / "devices"


def _text(folder: str, name: str) -> str:
    with open(DEV / folder / name, newline="", encoding="utf-8") as f:
        return f.read()


def _one(devs):
    assert len(devs) == 1
    return devs[0]


def _verbose_file(folder: str) -> str:
    names = sorted(p.name for p in (DEV / folder).glob("lspci-v*.txt"))
    assert len(names) == 1, names
    return names[0]


# one device per folder; data/devices/multi/ holds files with several functions
FOLDERS = sorted(p.name for p in DEV.iterdir() if p.is_dir() and p.name != "multi")


# ---------------------------------------------------------------- the data set

def test_data_set_has_the_promised_devices():
    assert len(FOLDERS) >= 5
    readme = (DEV / "README.md").read_text()
    for folder in FOLDERS:
        assert (DEV / folder / "source.txt").is_file(), folder
        assert f"`{folder}`" in readme, f"{folder} missing from data/devices/README.md"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_entry_loads(folder):
    dev = _one(parse_lspci_vvv(_text(folder, _verbose_file(folder)), source=folder))
    assert dev.bars, folder
    for p in sorted((DEV / folder).glob("lspci-x*.txt")):
        x = _one(parse_lspci_x(_text(folder, p.name), source=p.name))
        assert x.bdf == dev.bdf
        assert all(b.size is None for b in x.bars)      # a dump has no sizes
        merged = _one(merge([dev], [x]))
        assert all(b.size is not None for b in merged.bars)


# (index, host address, size, kind, is64, prefetch), copied from the Region lines
EXPECT = {
    "gpu-nvidia-tesla-p100": dict(
        bdf="0000:04:00.0",
        bars=[(0, 0x91000000, 16 * MiB, "mem", False, False),   # Region 0: Memory at 91000000 (32-bit, non-prefetchable) [size=16M]
              (1, 0x3B800000000, 16 * GiB, "mem", True, True),  # Region 1: Memory at 3b800000000 (64-bit, prefetchable) [size=16G]
              (3, 0x3BC00000000, 32 * MiB, "mem", True, True)],  # Region 3: Memory at 3bc00000000 (64-bit, prefetchable) [size=32M]
        rom=None, msix=None,
        msi=dict(is64=True, per_vector_mask=False, vectors=1),  # MSI: Enable+ Count=1/1 Maskable- 64bit+
        pcie=True, pin=1, caps=[(0x01, 0x60), (0x05, 0x68), (0x10, 0x78)]),
    "gpu-nvidia-rtx6000-ada": dict(
        bdf="0000:01:00.0",
        bars=[(0, 0xF8000000, 16 * MiB, "mem", False, False),
              (1, 0x3F000000000, 64 * GiB, "mem", True, True),  # Region 1: Memory at 3f000000000 (64-bit, prefetchable) [size=64G]
              (3, 0x40000000000, 32 * MiB, "mem", True, True),
              (5, 0x2000, 128, "io", False, False)],            # Region 5: I/O ports at 2000 [size=128]
        rom=dict(addr=0xF9000000, size=512 * KiB, enabled=False, virtual=True),  # [virtual] [disabled] [size=512K]
        msix=None, msi=dict(is64=True, per_vector_mask=False, vectors=1),
        pcie=True, pin=1, caps=[(0x01, 0x60), (0x05, 0x68), (0x10, 0x78), (0x09, 0xB4)]),
    "nvme-intel-dc-ssd": dict(
        bdf="0000:81:00.0",
        bars=[(0, 0xC9400000, 16 * KiB, "mem", True, False)],   # Region 0: Memory at c9400000 (64-bit, non-prefetchable) [size=16K]
        rom=dict(addr=0xC9410000, size=64 * KiB, enabled=False, virtual=False),
        msix=dict(nentries=32, table_bar=0, table_offset=0x2000, pba_bar=0, pba_offset=0x3000),
        msi=None, pcie=True, pin=1, caps=[(0x01, 0x40), (0x11, 0x50), (0x10, 0x60)]),
    "nic-intel-x520": dict(
        bdf="0000:83:00.0",
        bars=[(0, 0xC9200000, 1 * MiB, "mem", True, False),
              (2, 0x8020, 32, "io", False, False),               # Region 2: I/O ports at 8020 [size=32]
              (4, 0xC9304000, 16 * KiB, "mem", True, False)],    # Region 4: Memory at c9304000 (64-bit, non-prefetchable) [size=16K]
        rom=dict(addr=0xC9380000, size=512 * KiB, enabled=False, virtual=False),
        msix=dict(nentries=64, table_bar=4, table_offset=0, pba_bar=4, pba_offset=0x2000),
        msi=dict(is64=True, per_vector_mask=True, vectors=1),
        pcie=True, pin=1, caps=[(0x01, 0x40), (0x05, 0x50), (0x11, 0x70), (0x10, 0xA0), (0x03, 0xE0)]),
    "nic-intel-xl710": dict(
        bdf="0000:af:00.0",
        bars=[(0, 0xED000000, 8 * MiB, "mem", True, True),
              (3, 0xEE000000, 32 * KiB, "mem", True, True)],     # Region 3: Memory at ee000000 (64-bit, prefetchable) [size=32K]
        rom=dict(addr=0xEE600000, size=512 * KiB, enabled=False, virtual=False),
        msix=dict(nentries=129, table_bar=3, table_offset=0, pba_bar=3, pba_offset=0x1000),
        msi=dict(is64=True, per_vector_mask=True, vectors=1),
        pcie=True, pin=1, caps=[(0x01, 0x40), (0x05, 0x50), (0x11, 0x70), (0x10, 0xA0), (0x03, 0xE0)]),
    "nic-huawei-hi1822": dict(
        bdf="0000:05:00.0",
        bars=[(0, 0x80007B00000, 128 * KiB, "mem", True, True),
              (2, 0x80008A20000, 32 * KiB, "mem", True, True),
              (4, 0x80000200000, 1 * MiB, "mem", True, True)],
        rom=dict(addr=0xE9200000, size=1 * MiB, enabled=False, virtual=False),
        msix=dict(nentries=32, table_bar=2, table_offset=0, pba_bar=2, pba_offset=0x4000),
        msi=dict(is64=True, per_vector_mask=True, vectors=32),   # MSI: Enable- Count=1/32 Maskable+ 64bit+
        pcie=True, pin=0, caps=[(0x10, 0x40), (0x05, 0x80), (0x11, 0xA0), (0x01, 0xB0), (0x03, 0xC0)]),
    "gpu-nvidia-tesla-t4": dict(
        bdf="0000:3d:00.0",
        bars=[(0, 0xB7000000, 16 * MiB, "mem", False, False),      # Region 0: Memory at b7000000 (32-bit, non-prefetchable) [size=16M]
              (1, 0x38BFC0000000, 256 * MiB, "mem", True, True),   # Region 1: Memory at 38bfc0000000 (64-bit, prefetchable) [size=256M]
              (3, 0x38BFF0000000, 32 * MiB, "mem", True, True)],   # Region 3: Memory at 38bff0000000 (64-bit, prefetchable) [size=32M]
        rom=None,
        # [c8] MSI-X: Enable+ Count=6; Vector table: BAR=0 offset=00b90000; PBA: BAR=0 offset=00ba0000
        msix=dict(nentries=6, table_bar=0, table_offset=0xB90000, pba_bar=0, pba_offset=0xBA0000),
        msi=None,                       # [68] #00 [0080]: the MSI capability ID reads as 0
        pcie=True, pin=1, caps=[(0x01, 0x60), (0x00, 0x68), (0x10, 0x78), (0x11, 0xC8)]),
    "nic-mellanox-connectx7": dict(
        bdf="0000:21:00.0",
        bars=[(0, 0x500AA000000, 32 * MiB, "mem", True, True)],  # Region 0: Memory at 500aa000000 (64-bit, prefetchable) [size=32M]
        rom=dict(addr=0xB8100000, size=1 * MiB, enabled=False, virtual=False),
        msix=dict(nentries=64, table_bar=0, table_offset=0x2000, pba_bar=0, pba_offset=0x3000),
        msi=None, pcie=True, pin=1, caps=None),
    "raid-highpoint-ssd7540": dict(
        bdf="0000:71:00.0",
        bars=[(0, 0x7050, 8, "io", False, False), (1, 0x7040, 4, "io", False, False),
              (2, 0x7030, 8, "io", False, False), (3, 0x7020, 4, "io", False, False),
              (4, 0x7000, 32, "io", False, False),
              (5, 0xC6810000, 2 * KiB, "mem", False, False)],    # Region 5: Memory at c6810000 (32-bit, non-prefetchable) [size=2K]
        rom=dict(addr=0xC6800000, size=64 * KiB, enabled=False, virtual=False),
        msix=None, msi=dict(is64=False, per_vector_mask=False, vectors=1),
        pcie=True, pin=1, caps=None),
    "raid-lsi-megaraid-3108": dict(
        bdf="0000:03:00.0",
        bars=[(0, 0x2000, 256, "io", False, False),
              (1, 0x92D00000, 64 * KiB, "mem", True, False),
              (3, 0x92C00000, 1 * MiB, "mem", True, False)],
        rom=dict(addr=None, size=None, enabled=False, virtual=False),   # Expansion ROM at <ignored> [disabled]
        msix=dict(nentries=97, table_bar=1, table_offset=0xE000, pba_bar=1, pba_offset=0xF000),
        msi=dict(is64=True, per_vector_mask=True, vectors=1),
        pcie=True, pin=1, caps=[(0x01, 0x50), (0x10, 0x68), (0x03, 0xD0), (0x05, 0xA8), (0x11, 0xC0)]),
    "virtio-net-this-machine": dict(
        bdf="0000:00:03.0",
        bars=[(0, 0x4000100000, 512 * KiB, "mem", True, False)],  # Region 0: Memory at 4000100000 (64-bit, non-prefetchable) [size=512K]
        rom=None,
        msix=dict(nentries=3, table_bar=0, table_offset=0x8000, pba_bar=0, pba_offset=0x48000),
        msi=None, pcie=False, pin=0,
        caps=[(0x09, 0x40), (0x09, 0x50), (0x09, 0x60), (0x09, 0x70), (0x09, 0x84), (0x11, 0x98)]),
}


def test_expectations_cover_every_folder():
    assert sorted(EXPECT) == FOLDERS


def _check(dev: HostDevice, exp: dict):
    assert dev.bdf == exp["bdf"]
    got = [(b.index, b.host_address, b.size, b.kind, b.is64, b.prefetch) for b in dev.bars]
    assert got == exp["bars"]
    if exp["rom"] is None:
        assert dev.rom is None
    else:
        r = exp["rom"]
        assert (dev.rom.host_address, dev.rom.size, dev.rom.enabled, dev.rom.virtual) == \
            (r["addr"], r["size"], r["enabled"], r["virtual"])
    if exp["msix"] is None:
        assert dev.msix is None
    else:
        for k, v in exp["msix"].items():
            assert getattr(dev.msix, k) == v, k
    if exp["msi"] is None:
        assert dev.msi is None
    else:
        for k, v in exp["msi"].items():
            assert getattr(dev.msi, k) == v, k
    assert dev.is_pcie == exp["pcie"]
    assert dev.interrupt_pin == exp["pin"]
    if exp["caps"] is not None:
        assert [tuple(c) for c in dev.capabilities] == exp["caps"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_text_facts_equal_the_dump(folder):
    dev = _one(parse_lspci_vvv(_text(folder, _verbose_file(folder)), source=folder))
    _check(dev, EXPECT[folder])


def test_msix_sizes_of_real_devices():
    # 129 vectors (XL710): 129 * 16 = 2064 table bytes; PBA ceil(129/64) QWORDs = 24 bytes
    xl = _one(parse_lspci_vvv(_text("nic-intel-xl710", "lspci-vvv.txt")))
    assert xl.msix.table_bytes == 2064 and xl.msix.pba_bytes == 24
    nvme = _one(parse_lspci_vvv(_text("nvme-intel-dc-ssd", "lspci-vvv.txt")))
    assert nvme.msix.table_bytes == 512 and nvme.msix.pba_bytes == 8
    # Tesla T4, Count=6: 6 * 16 = 0x60 table bytes; one QWORD of pending bits
    t4 = _one(parse_lspci_vvv(_text("gpu-nvidia-tesla-t4", "lspci-vvv.txt")))
    assert t4.msix.table_bytes == 0x60 and t4.msix.pba_bytes == 8


def test_sriov_vf_regions_are_not_bars():
    # the ConnectX-7's SR-IOV capability lists "Region 0: Memory at 00000500ae000000" nested
    cx7 = _one(parse_lspci_vvv(_text("nic-mellanox-connectx7", "lspci-vvv.txt")))
    assert [b.index for b in cx7.bars] == [0]
    assert cx7.bars[0].host_address == 0x500AA000000
    # ... while the SR-IOV extended capability (ID 0x10) itself is listed
    assert any(c.id == 0x10 for c in cx7.ext_capabilities)


def test_header_ids_with_nn():
    # 00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio 1.0 network device [1af4:1041] (rev 01)
    # 	Subsystem: Red Hat, Inc. Virtio 1.0 network device [1af4:1041]
    d = _one(parse_lspci_vvv(_text("virtio-net-this-machine", "lspci-vvv.txt")))
    assert (d.vendor_id, d.device_id, d.revision) == (0x1AF4, 0x1041, 0x01)
    assert d.class_code >> 8 == 0x0200
    assert (d.subsystem_vendor_id, d.subsystem_id) == (0x1AF4, 0x1041)
    assert d.kernel_driver == "virtio-pci"


def test_header_without_nn_numbers_from_pci_ids_names():
    """"04:00.0 3D controller: NVIDIA Corporation GP100GL [Tesla P100 PCIe
    12GB] (rev a1)": pci.ids (pciutils repository, 2025.06.21) has
    "C 03 Display controller / 02 3D controller" and "10de  NVIDIA
    Corporation"; the device name is pci.ids' and carries no number, and no
    "(prog-if" means prog-if 0 (lspci.c show_terse prints it under -v when
    non-zero or named)."""
    d = _one(parse_lspci_vvv(_text("gpu-nvidia-tesla-p100", "lspci-vvv.txt")))
    assert d.vendor_id == 0x10de and d.device_id is None
    assert d.class_code == 0x030200
    assert d.revision == 0xA1                      # (rev a1)
    assert d.class_name == "3D controller"
    assert d.device_name == "NVIDIA Corporation GP100GL [Tesla P100 PCIe 12GB]"


def test_header_without_nn_vendor_device_number():
    """"3d:00.0 3D controller: NVIDIA Corporation Device 1eb8 (rev a1)":
    pciutils lib/names.c format_name_pair prints "<vendor> Device dddd" for a
    device pci.ids does not name."""
    d = _one(parse_lspci_vvv(_text("gpu-nvidia-tesla-t4", "lspci-vvv.txt")))
    assert (d.vendor_id, d.device_id, d.class_code) == (0x10de, 0x1eb8, 0x030200)


_HDR = "01:00.0 {cls}: {dev}\n\tControl: I/O- Mem+ BusMaster-\n"


@pytest.mark.parametrize("cls, code", [
    # pci.ids 2025.06.21 "C xx" / "\tyy" lines
    ("VGA compatible controller", 0x030000), ("3D controller", 0x030200),
    ("Display controller", 0x038000), ("Non-Volatile memory controller", 0x010800),
    ("USB controller", 0x0c0300), ("Processing accelerators", 0x120000),
    ("Smard Card controller", 0x070500), ("Bridge", 0x068000),
    # lib/names.c: class known, subclass not -> "<class> [ccss]"; neither -> "Class ccss"
    ("Non-Essential Instrumentation [1300]", 0x130000), ("Class 4100", 0x410000),
])
def test_class_names_lspci_prints(cls, code):
    d = _one(parse_lspci_vvv(_HDR.format(cls=cls, dev="Intel Corporation Device 1234")))
    assert d.class_code == code


@pytest.mark.parametrize("dev, vendor", [
    # pci.ids 2025.06.21 vendor lines
    ("NVIDIA Corporation AD102GL [RTX 6000 Ada Generation]", 0x10de),
    ("Advanced Micro Devices, Inc. [AMD/ATI] Navi 21", 0x1002),
    ("Advanced Micro Devices, Inc. [AMD] Starship/Matisse PCIe Dummy Host Bridge", 0x1022),
    ("Intel Corporation Ethernet Controller XL710 for 40GbE QSFP+", 0x8086),
    ("Mellanox Technologies MT2910 Family [ConnectX-7]", 0x15b3),
    ("Device 1234:5678", 0x1234),                  # format_name_pair, vendor unknown
])
def test_vendor_names_lspci_prints(dev, vendor):
    d = _one(parse_lspci_vvv(_HDR.format(cls="Ethernet controller", dev=dev)))
    assert d.vendor_id == vendor


def test_unknown_or_ambiguous_names_are_reported_not_guessed():
    """pci.ids names both 1af4 and 1b36 "Red Hat, Inc."; a class or vendor
    name not in the tables stays unknown, with a note."""
    d = _one(parse_lspci_vvv(_HDR.format(cls="Ethernet controller",
                                         dev="Red Hat, Inc. Virtio 1.0 network device")))
    assert d.vendor_id is None and any("1af4 and 1b36" in n for n in d.notes)
    d = _one(parse_lspci_vvv(_HDR.format(cls="Frobnicator", dev="Acme Widgets Thing")))
    assert d.class_code is None and d.vendor_id is None
    assert any("Frobnicator" in n for n in d.notes) and any("Acme" in n for n in d.notes)


def test_kernel_log_marks_an_unreadable_rom():
    """Linux drivers/pci/rom.c pci_get_rom_size: "Invalid PCI ROM header
    signature" is printed only for the first image (size 0, pci_map_rom
    fails); the data-signature message may concern a later image."""
    from vfiolab.inputs.lspci import apply_kernel_log
    d = _one(parse_lspci_vvv(_text("nic-intel-x520", "lspci-vvv.txt")))
    log = ("[    2.345678] pci 0000:83:00.0: Invalid PCI ROM header signature: "
           "expecting 0xaa55, got 0xffff\n")
    (bad,) = apply_kernel_log([d], log)
    assert d.rom.image_valid is None and bad.rom.image_valid is False
    log = ("vfio-pci 0000:83:00.0: Invalid PCI ROM data signature: expecting 0x52494350, "
           "got 0xffffffff\n")
    (unsure,) = apply_kernel_log([d], log)
    assert unsure.rom.image_valid is None and any("data signature" in n for n in unsure.notes)


# ------------------------------------------------ hex dumps against the text

def test_hi1822_dump_agrees_with_its_text():
    text = _one(parse_lspci_vvv(_text("nic-huawei-hi1822", "lspci-vv.txt")))
    x = _one(parse_lspci_x(_text("nic-huawei-hi1822", "lspci-xxx.txt")))
    assert len(x.config) == 256
    # by hand from the dump: "00: e5 19 00 02 ..  45 00 00 02" -> 19e5:0200 rev 45 class 020000
    assert (x.vendor_id, x.device_id, x.revision, x.class_code) == (0x19E5, 0x0200, 0x45, 0x020000)
    # "20: ... e5 19 39 d1" -> subsystem 19e5:d139; "30: 00 00 20 e9" ROM e9200000, bit0 clear
    assert (x.subsystem_vendor_id, x.subsystem_id) == (0x19E5, 0xD139)
    assert (x.rom.host_address, x.rom.enabled) == (0xE9200000, False)
    # BARs: "10: 0c 00 b0 07 00 08 00 00" = 64-bit prefetchable 0x800_07b00000, ...
    assert [(b.index, b.host_address, b.is64, b.prefetch) for b in x.bars] == \
        [(b.index, b.host_address, b.is64, b.prefetch) for b in text.bars]
    assert [tuple(c) for c in x.capabilities] == [tuple(c) for c in text.capabilities]
    # "a0: 11 b0 1f 00 02 00 00 00 02 40 00 00": 0x1f + 1 = 32 entries, BIR 2 +0, BIR 2 +0x4000
    assert x.msix == MsixInfo(nentries=32, table_bar=2, table_offset=0, pba_bar=2,
                              pba_offset=0x4000, enabled=False, masked=False, cap_offset=0xA0)
    for k in ("nentries", "table_bar", "table_offset", "pba_bar", "pba_offset", "enabled"):
        assert getattr(x.msix, k) == getattr(text.msix, k)
    # "80: 05 a0 8a 01": control 0x018a -> 64-bit, per-vector mask, MMC 5 = 32 vectors
    assert (x.msi.is64, x.msi.per_vector_mask, x.msi.vectors) == (True, True, 32)
    assert x.msi == text.msi
    assert x.is_pcie and x.pcie_type == 0 and text.pcie_type == 0   # Express (v2) Endpoint
    assert x.interrupt_pin == text.interrupt_pin == 0
    merged = _one(merge([text], [x]))
    _check(merged, EXPECT["nic-huawei-hi1822"])
    assert merged.config == x.config


def test_virtio_xxxx_agrees_with_vvv():
    text = _one(parse_lspci_vvv(_text("virtio-net-this-machine", "lspci-vvv.txt")))
    x = _one(parse_lspci_x(_text("virtio-net-this-machine", "lspci-xxxx.txt")))
    # -xxxx printed 256 bytes: conventional PCI, no extended space
    assert len(x.config) == 256 and not x.is_pcie
    # "10: 04 00 10 00 40 00 00 00" -> 64-bit memory BAR0 at 0x40_00100000
    assert [(b.index, b.host_address, b.is64, b.prefetch) for b in x.bars] == [(0, 0x4000100000, True, False)]
    assert [tuple(c) for c in x.capabilities] == [tuple(c) for c in text.capabilities]
    assert x.capabilities[-1] == Cap(0x11, 0x98)      # "98: 11 00 ..": MSI-X, end of chain
    # "90: .. 11 00 02 80", "a0: 00 80 04 00": 3 entries, enabled; table BAR0+0x8000, PBA BAR0+0x48000
    assert x.msix == MsixInfo(3, 0, 0x8000, 0, 0x48000, enabled=True, masked=False, cap_offset=0x98)
    assert (x.vendor_id, x.device_id) == (text.vendor_id, text.device_id) == (0x1AF4, 0x1041)
    assert x.interrupt_pin == text.interrupt_pin == 0
    merged = _one(merge([text], [x]))
    _check(merged, EXPECT["virtio-net-this-machine"])


def test_vvv_with_embedded_hex_dump():
    # lspci -vvv -xxx prints the dump inside the device block; both are read
    t = _text("nic-huawei-hi1822", "lspci-vv.txt").rstrip("\n") + "\n"
    hexpart = "\n".join(_text("nic-huawei-hi1822", "lspci-xxx.txt").splitlines()[1:])
    dev = _one(parse_lspci_vvv(t + hexpart + "\n"))
    assert len(dev.config) == 256
    _check(dev, EXPECT["nic-huawei-hi1822"])


# ------------------------------------------------------------------ sysfs

def _sysfs_dict():
    d = DEV / "virtio-net-this-machine" / "sysfs"
    return {p.name: (p.read_bytes() if p.name == "config" else p.read_text())
            for p in d.iterdir()}


def test_sysfs_directory_and_dict_agree_with_lspci():
    a = read_sysfs_device(DEV / "virtio-net-this-machine" / "sysfs", bdf="0000:00:03.0")
    b = read_sysfs_device(_sysfs_dict(), bdf="0000:00:03.0")
    # resource line 0: "0x0000004000100000 0x000000400017ffff 0x0000000000140204"
    #   -> 0x4000100000, size 0x80000, IORESOURCE_MEM | IORESOURCE_MEM_64, not prefetchable
    for dev in (a, b):
        _check(dev, EXPECT["virtio-net-this-machine"])
        assert (dev.vendor_id, dev.device_id, dev.class_code, dev.revision) == \
            (0x1AF4, 0x1041, 0x020000, 0x01)
        assert len(dev.config) == 256
    assert a.bars == b.bars and a.msix == b.msix


def test_sysfs_resource_only():
    files = {"resource": _sysfs_dict()["resource"], "vendor": "0x1af4\n", "device": "0x1041\n"}
    dev = read_sysfs_device(files, bdf="00:03.0")
    assert dev.bdf == "0000:00:03.0"
    assert [(b.index, b.host_address, b.size, b.is64) for b in dev.bars] == \
        [(0, 0x4000100000, 0x80000, True)]
    assert dev.msix is None and any("config" in n for n in dev.notes)


def test_sysfs_rom_and_io_flags():
    # flags from include/linux/ioport.h: I/O 0x100; ROM = MEM|PREFETCH|READONLY|CACHEABLE|SIZEALIGN
    # (0x4e200, probe.c pci_read_bases) with IORESOURCE_ROM_SHADOW (bit 1)
    z = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
    res = ("0x0000000000002000 0x00000000000020ff 0x0000000000040101\n" + z * 5
           + "0x00000000000c0000 0x00000000000dffff 0x000000000004e202\n")
    dev = read_sysfs_device({"resource": res}, bdf="0000:03:00.0")
    assert [(b.index, b.kind, b.host_address, b.size) for b in dev.bars] == [(0, "io", 0x2000, 256)]
    assert (dev.rom.host_address, dev.rom.size, dev.rom.virtual, dev.rom.enabled) == \
        (0xC0000, 128 * KiB, True, False)


def test_sysfs_errors():
    with pytest.raises(ParseError) as e:
        read_sysfs_device({"resource": "0x0 0x1\n"}, bdf="0000:00:03.0")
    assert e.value.line_no == 1
    files = _sysfs_dict()
    # resource says I/O where config says 64-bit memory
    files["resource"] = "0x0000000000002000 0x000000000000201f 0x0000000000040101\n"
    with pytest.raises(DeviceError) as e:
        read_sysfs_device(files, bdf="0000:00:03.0")
    assert (e.value.device, e.value.field) == ("0000:00:03.0", "BAR0")
    files = _sysfs_dict()
    files["vendor"] = "0x8086\n"
    with pytest.raises(DeviceError) as e:
        read_sysfs_device(files, bdf="0000:00:03.0")
    assert e.value.field == "vendor_id"


# ------------------------------------------------------------- validation

def _dev(**kw):
    base = dict(bdf="0000:65:00.0")
    base.update(kw)
    return HostDevice(**base)


def _raises(field_, **kw):
    with pytest.raises(DeviceError) as e:
        _dev(**kw)
    assert e.value.device == "0000:65:00.0"
    assert e.value.field == field_, str(e.value)
    assert "0000:65:00.0" in str(e.value) and field_ in str(e.value)
    return e.value


def test_valid_device_builds():
    d = _dev(bars=[HostBar(0, 0xF0000000, 16 * MiB, "mem"),
                   HostBar(1, 0x4000000000, 256 * MiB, "mem", is64=True, prefetch=True)],
             msix=MsixInfo(8, 0, 0x2000, 0, 0x3000))
    assert d.bar(1).size == 256 * MiB and d.bar(2) is None
    r = d.bars[0].range
    assert (r.start, r.size) == (0xF0000000, 16 * MiB)


def test_bar_size_not_power_of_two():
    e = _raises("BAR2", bars=[HostBar(2, 0xF0000000, 12 * MiB, "mem")])
    assert "power of two" in e.why


def test_bar_not_aligned():
    e = _raises("BAR1", bars=[HostBar(1, 0xF0100000, 16 * MiB, "mem")])
    assert "aligned" in e.why


def test_bars_overlap():
    _raises("BAR3", bars=[HostBar(0, 0xF0000000, 16 * MiB, "mem"),
                          HostBar(3, 0xF0800000, 8 * MiB, "mem")])
    # an I/O BAR and a memory BAR at the same number do not overlap
    _dev(bars=[HostBar(0, 0x2000, 256, "io"), HostBar(1, 0x2000, 4096, "mem")])


def test_64bit_bar_at_index_5():
    e = _raises("BAR5", bars=[HostBar(5, 0xF0000000, 16 * MiB, "mem", is64=True)])
    assert "upper" in e.why


def test_upper_half_of_64bit_bar_is_not_a_bar():
    _raises("BAR1", bars=[HostBar(0, 0xF0000000, 16 * MiB, "mem", is64=True),
                          HostBar(1, 0xE0000000, 16 * MiB, "mem")])


def test_io_bar_cannot_be_64bit():
    _raises("BAR0", bars=[HostBar(0, 0x2000, 256, "io", is64=True)])


def test_msix_table_outside_bar():
    # 64 entries * 16 = 1 KiB from 0x3c00 runs past a 16 KiB BAR
    e = _raises("MSI-X table", bars=[HostBar(4, 0xC9304000, 16 * KiB, "mem", is64=True)],
                msix=MsixInfo(64, 4, 0x3E00, 4, 0x2000))
    assert "does not fit" in e.why


def test_msix_pba_outside_bar():
    # the QEMU vfio_msix_early_setup() case: PBA offset beyond the BAR
    _raises("MSI-X PBA", bars=[HostBar(0, 0xC9400000, 16 * KiB, "mem", is64=True)],
            msix=MsixInfo(32, 0, 0x2000, 0, 0x4000))


def test_msix_names_missing_bar():
    # the real NVMe with its BAR0 gone (as when firmware fails to assign it: lspci then
    # omits the Region line but still prints the MSI-X capability)
    nvme = _one(parse_lspci_vvv(_text("nvme-intel-dc-ssd", "lspci-vvv.txt")))
    with pytest.raises(DeviceError) as e:
        nvme.with_changes(bars=())
    assert (e.value.device, e.value.field) == ("0000:81:00.0", "MSI-X table")
    assert "does not have" in e.value.why


def test_msix_names_upper_half_or_io_bar():
    e = _raises("MSI-X table", bars=[HostBar(0, 0xF0000000, 1 * MiB, "mem", is64=True)],
                msix=MsixInfo(4, 1, 0, 1, 0x800))
    assert "upper half" in e.why
    _raises("MSI-X table", bars=[HostBar(2, 0x8020, 32, "io")], msix=MsixInfo(1, 2, 0, 2, 0x10))


def test_msix_table_and_pba_overlap():
    _raises("MSI-X PBA", bars=[HostBar(0, 0xF0000000, 1 * MiB, "mem")],
            msix=MsixInfo(64, 0, 0, 0, 0x200))


def test_msi_vector_count():
    _raises("MSI", msi=MsiInfo(is64=True, per_vector_mask=False, vectors=3))


def test_rom_checks():
    _raises("ROM", rom=HostRom(0xC9380000, 3 * KiB))
    _raises("ROM", rom=HostRom(0xC9381000, 512 * KiB))
    _raises("ROM", bars=[HostBar(0, 0xC9300000, 1 * MiB, "mem")],
            rom=HostRom(0xC9380000, 512 * KiB, enabled=True))


def test_truncated_config_dump():
    cfg = _text("virtio-net-this-machine", "lspci-xxxx.txt").splitlines()
    # the dump stops after 0x70: 128 bytes is no length lspci prints
    with pytest.raises(DeviceError) as e:
        parse_lspci_x("\n".join(cfg[:9]) + "\n")
    assert (e.value.device, e.value.field) == ("0000:00:03.0", "config")
    assert "128 bytes" in e.value.why
    # cut in the middle of a line
    with pytest.raises(ParseError) as p:
        parse_lspci_x("\n".join(cfg[:5]) + "\n" + cfg[5][:20] + "\n", source="cut")
    assert p.value.line_no == 6 and p.value.source == "cut"
    # a line missing from the middle
    with pytest.raises(ParseError) as p:
        parse_lspci_x("\n".join(cfg[:4] + cfg[5:]) + "\n")
    assert p.value.line_no == 5
    with pytest.raises(DeviceError):
        HostDevice.from_config("0000:00:03.0", bytes(100))


def test_bad_text_values_name_device_and_field():
    text = _text("gpu-nvidia-tesla-p100", "lspci-vvv.txt")
    bad = text.replace("(64-bit, prefetchable) [size=16G]", "(64-bit, prefetchable) [size=12G]")
    with pytest.raises(DeviceError) as e:
        parse_lspci_vvv(bad)
    assert (e.value.device, e.value.field) == ("0000:04:00.0", "BAR1")
    bad = text.replace("Region 3: Memory at 3bc00000000", "Region 5: Memory at 3bc00000000")
    with pytest.raises(DeviceError) as e:
        parse_lspci_vvv(bad)
    assert e.value.field == "BAR5"
    x520 = _text("nic-intel-x520", "lspci-vvv.txt")
    with pytest.raises(DeviceError) as e:
        parse_lspci_vvv(x520.replace("PBA: BAR=4 offset=00002000", "PBA: BAR=4 offset=00004000"))
    assert (e.value.device, e.value.field) == ("0000:83:00.0", "MSI-X PBA")


def test_merge_disagreement_names_field():
    text = _text("nic-huawei-hi1822", "lspci-vv.txt").replace(
        "Region 2: Memory at 80008a20000", "Region 2: Memory at 80008a28000")
    t = _one(parse_lspci_vvv(text))
    x = _one(parse_lspci_x(_text("nic-huawei-hi1822", "lspci-xxx.txt")))
    with pytest.raises(DeviceError) as e:
        merge([t], [x])
    assert (e.value.device, e.value.field) == ("0000:05:00.0", "BAR2")


def test_malformed_text_gives_line():
    text = _text("nic-intel-x520", "lspci-vvv.txt")
    lines = text.splitlines()
    i = next(n for n, l in enumerate(lines) if "Region 2:" in l)
    lines[i] = lines[i].replace("I/O ports at 8020", "I/O ports at zz")
    with pytest.raises(ParseError) as e:
        parse_lspci_vvv("\n".join(lines), source="x520")
    assert e.value.line_no == i + 1 and "Region 2" in e.value.line
    with pytest.raises(ParseError) as e:
        parse_lspci_vvv("not lspci output\n")
    assert e.value.line_no == 1


def test_formats_old_and_numeric():
    # pciutils before 2020 put [virtual] first; lspci -n prints numbers only; -D the domain
    text = ("0001:00:02.0 0300: 8086:0106 (rev 09) (prog-if 00 [VGA controller])\n"
            "\tRegion 0: Memory at f7800000 (64-bit, non-prefetchable) [size=4M]\n"
            "\tRegion 4: I/O ports at f000 [size=64]\n"
            "\t[virtual] Expansion ROM at 000c0000 [disabled] [size=128K]\n"
            "\tCapabilities: [68] #00 [0080]\n"
            "\tCapabilities: [90] MSI: Enable+ Count=1/1 Maskable- 64bit-\n"
            # -vv always prints the MSI details (ls-caps.c cap_msi); without them the
            # text would end inside the capability (a cut-short dump, refused)
            "\t\tAddress: fee00000  Data: 0000\n")
    d = _one(parse_lspci_vvv(text))
    assert d.bdf == "0001:00:02.0" and (d.vendor_id, d.device_id) == (0x8086, 0x0106)
    assert d.class_code == 0x030000 and d.revision == 0x09
    assert (d.rom.host_address, d.rom.virtual, d.rom.enabled) == (0xC0000, True, False)
    assert [tuple(c) for c in d.capabilities] == [(0x00, 0x68), (0x05, 0x90)]
    assert d.interrupt_pin == 0          # no Interrupt: line


# ---------------------------------------------------------------- fuzzing

_TEXTS = {f: _text(f, _verbose_file(f)) for f in FOLDERS}
_DUMPS = {"virtio": _text("virtio-net-this-machine", "lspci-xxxx.txt"),
          "hi1822": _text("nic-huawei-hi1822", "lspci-xxx.txt")}
_mutated = mutated
_FUZZ = FUZZ


@_FUZZ
@given(_mutated(_TEXTS))
def test_fuzz_parse_lspci_vvv(text):
    try:
        devs = parse_lspci_vvv(text, source="fuzz")
    except ParseError as exc:
        assert isinstance(exc.line_no, int) and exc.source == "fuzz"
        return
    except DeviceError as exc:
        assert exc.device and exc.field and exc.why
        return
    for d in devs:
        for b in d.bars:
            assert b.size is None or b.size & (b.size - 1) == 0


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(_DUMPS))
def test_fuzz_parse_lspci_x(text):
    try:
        parse_lspci_x(text, source="fuzz")
    except ParseError as exc:
        assert isinstance(exc.line_no, int)
    except DeviceError as exc:
        assert exc.field


@pytest.mark.parametrize("extra, why", [
    ("\t\tVector table: BAR=0 offset=00b90000\n", "second MSI-X vector table line"),
    ("\t\tPBA: BAR=0 offset=0ba0000\n", "malformed MSI-X PBA line"),
])
def test_msix_detail_lines_checked(extra, why):
    # the T4's MSI-X capability (lspci prints offsets as %08x: ls-caps.c cap_msix)
    text = ("3d:00.0 3D controller: NVIDIA Corporation Device 1eb8 (rev a1)\n"
            "\tRegion 0: Memory at b7000000 (32-bit, non-prefetchable) [size=16M]\n"
            "\tCapabilities: [c8] MSI-X: Enable+ Count=6 Masked-\n"
            "\t\tVector table: BAR=0 offset=00b90000\n" + extra)
    with pytest.raises(ParseError, match=why) as ei:
        parse_lspci_vvv(text, source="t4.txt")
    assert ei.value.line_no == 5
