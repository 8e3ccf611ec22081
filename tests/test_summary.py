"""``vfiolab predict --format summary`` and ``vfiolab simulate --format table``:
the lines a person needs.

Expected values come from the host devices' own dumps (data/devices/*/lspci-vvv.txt:
BAR sizes, the MSI-X table's BAR and offset and its entry count), the PCI
specification (an MSI-X table entry is 16 bytes, PCI Local Bus 3.0 6.8.2) and
SeaBIOS 1.16.2 src/fw/pciinit.c (placement, worked by hand below); the summary
must also agree with the prediction's own records.
"""

from __future__ import annotations

import json

import pytest

from vfiolab.addr import fmt_hex
from vfiolab.cli import main
from vfiolab.predict import predict

T4 = "0000:3d:00.0"
T4_DIR = "data/devices/gpu-nvidia-tesla-t4"
P100 = "0000:04:00.0"
P100_DIR = "data/devices/gpu-nvidia-tesla-p100"
T4_ARGS = f"-M q35 -accel kvm -m 2G -nodefaults -device vfio-pci,host={T4},id=gpu0".split()
P100_ARGS = f"-M q35 -accel kvm -m 6G -nodefaults -device vfio-pci,host={P100},id=gpu0".split()


@pytest.fixture(scope="module")
def t4():
    return predict(T4_ARGS, host_devices={T4: T4_DIR})


@pytest.fixture(scope="module")
def p100():
    return predict(P100_ARGS, host_devices={P100: P100_DIR})


def lines_with(text, *words):
    return [ln for ln in text.splitlines() if all(w in ln.split() for w in words)]


def test_summary_fits_100_columns(t4, p100):
    for p in (t4, p100):
        text = p.summary()
        assert max(len(ln) for ln in text.splitlines()) <= 100


def test_t4_bars_host_and_guest(t4):
    text = t4.summary()
    assert f"host {T4}" in text and "-> guest 00:01.0" in text
    # host addresses: lspci-vvv.txt "Region 0: Memory at b7000000 ... [size=16M]",
    # "Region 1: Memory at 38bfc0000000 ... [size=256M]", "Region 3: ... 38bff0000000 [size=32M]"
    # guest BAR0: SeaBIOS pciinit.c puts the non-prefetchable list (BAR0 16M +
    # the ICH9 AHCI's 4K BAR5) at the top of the 32-bit window:
    # ALIGN_DOWN(0xfec00000 - 0x1001000, 16M) = 0xfd000000
    assert lines_with(text, "BAR0", "mem32", "16M", "0xb7000000", "0xfd000000", "0xfdffffff")
    assert lines_with(text, "BAR1", "mem64", "256M", "0x38bfc0000000")
    assert lines_with(text, "BAR3", "mem64", "32M", "0x38bff0000000")
    # and the guest addresses are the prediction's records
    rec = next(d for d in t4.devices() if d.bdf == "00:01.0")
    for b in rec.bars:
        assert lines_with(text, f"BAR{b.bar}", fmt_hex(b.address), fmt_hex(b.address + b.size - 1))


def test_t4_msix_table_is_trapped_inside_bar0(t4):
    text = t4.summary()
    # lspci-vvv.txt: "MSI-X: Enable+ Count=6", "Vector table: BAR=0 offset=00b90000";
    # 6 entries x 16 bytes = 0x60 from BAR0 + 0xb90000
    start, end = 0xfd000000 + 0xb90000, 0xfd000000 + 0xb90000 + 6 * 16 - 1
    assert lines_with(text, "BAR0", fmt_hex(start), fmt_hex(end), "trapped", "msix-table")
    # the BAR's mmap below the table is a memslot and a DMA map of its own
    assert lines_with(text, "BAR0", "0xfd000000", fmt_hex(start - 1), "ramd", "mmap", "KVM")
    assert lines_with(text, "0xfd000000", fmt_hex(start - 1), "11840K")      # memslot + DMA
    assert len(lines_with(text, "0xfd000000", fmt_hex(start - 1), "bar")) == 1


def test_t4_memslots_and_dma_maps_listed(t4):
    text = t4.summary()
    for m in t4.memslots():
        if m.guest_phys_addr >= 0xe0000000 and m.guest_phys_addr < 0xfec00000:
            assert lines_with(text, str(m.slot), fmt_hex(m.guest_phys_addr),
                              fmt_hex(m.guest_phys_addr + m.memory_size - 1))
    for m in t4.vm.vfio.mappings.values():
        assert lines_with(text, fmt_hex(m.iova), fmt_hex(m.iova + m.size - 1), m.region.split()[0])
    # RAM below 4G: -m 2G on q35 is all below 4G (hw/i386/pc_q35.c: lowmem 0xb0000000)
    assert lines_with(text, "below", "4G", "0x0", "0x7fffffff", "2G")
    assert "SeaBIOS 1.16.2" in text


def test_p100_bars_above_4g(p100):
    text = p100.summary()
    # q35 -m 6G: 2G below 4G, 4G from 0x100000000 (pc_q35.c: ram_size >= 0xb0000000
    # -> lowmem 0x80000000)
    assert lines_with(text, "above", "4G", "0x100000000", "0x1ffffffff", "4G")
    # SeaBIOS pciinit.c pci_setup: pcimem64_start = ALIGN(4G + RamSizeOver4G, 1G)
    # = 0x200000000; the 64-bit prefetchable list (BAR1 16G, then BAR3 32M,
    # sorted by size) starts aligned to its largest BAR: 0x400000000, 0x800000000
    assert lines_with(text, "BAR1", "mem64", "16G", "0x3b800000000", "0x400000000", "0x7ffffffff")
    assert lines_with(text, "BAR3", "mem64", "32M", "0x3bc00000000", "0x800000000", "0x801ffffff")
    assert lines_with(text, "mem64", "0x200000000")
    # no MSI-X (source.txt: "MSI only"): nothing trapped inside the BARs
    assert "trapped  " not in text.split("KVM memslots")[0].split("Flat view")[1]
    # each BAR is one memslot and one peer-to-peer DMA map
    for start, last in ((0xfd000000, 0xfdffffff), (0x400000000, 0x7ffffffff),
                        (0x800000000, 0x801ffffff)):
        assert len(lines_with(text, fmt_hex(start), fmt_hex(last))) == 4   # bar, fv, slot, dma


def test_cli_summary_and_ignored(capsys):
    rc = main(["predict", "--format", "summary", "--host-device", f"{T4}={T4_DIR}", "--"]
              + T4_ARGS + ["-name", "gpuvm"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "== Ignored or assumed ==" in out and "ignored option: -name" in out


def test_simulate_table(tmp_path, capsys):
    acts = tmp_path / "a.json"
    acts.write_text(json.dumps([{"op": "touch", "gpa": "0xfdb90000", "access": "write"},
                                {"op": "set_master", "bdf": "00:01.0"},
                                {"op": "dma", "bdf": "00:01.0", "iova": "0x1000"}]))
    rc = main(["simulate", "--format", "table", "--actions", str(acts),
               "--host-device", f"{T4}={T4_DIR}", "--"] + T4_ARGS)
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["op", "of", "address", "size", "what"]
    # the MSI-X table (BAR0 + 0xb90000) is trapped: the touch exits to QEMU
    assert lines_with(out, "exit_mmio", "gpa", "0xfdb90000")
    assert any(ln.startswith("touch ") and "0xfdb90000" in ln and "exit=yes" in ln for ln in lines)
    assert lines_with(out, "dma", "iova", "0x1000")
    # columns line up: every address ends in the same column
    ends = {ln.index(" 0x") + len(ln.split()[2]) + 1 for ln in lines[1:] if " gpa " in ln}
    assert len(ends) == 1


def test_io_bar_is_looked_up_in_the_io_address_space():
    """An I/O BAR's guest address is a port number: its flat-view rows come
    from the "io" address space (hw/pci/pci.c pci_update_mappings maps I/O
    BARs into the bus's address_space_io), and no KVM memslot covers it (port
    I/O always exits, KVM_EXIT_IO).  RTX A6000 41:00.0, lspci-vv.txt "Region 5:
    I/O ports at 7000 [size=128]"; SeaBIOS 1.16.2 pciinit.c starts the I/O
    window at 0xc000 (pci_bios_init_root_regions_io) and the root port's I/O
    window holds only this BAR."""
    a6000 = "data/devices/multi/gpu-nvidia-rtx-a6000-with-audio-lspci-vv/lspci-vv.txt"
    args = ("-M q35 -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,bus=pcie.0,"
            "addr=1c.0 -device vfio-pci,host=41:00.0,bus=rp1").split()
    p = predict(args, host_devices={"41:00.0": a6000})
    dev = p.summary().split("== VM:")[0]
    assert lines_with(dev, "BAR5", "io", "0x7000", "0xc000", "0xc07f")
    flat = dev.split("Flat view")[1].split("KVM memslots")[0]
    assert lines_with(flat, "BAR5", "0xc000", "0xc07f", "i/o", "trapped", "BAR", "5")
    assert "pc.ram" not in flat
    slots = dev.split("KVM memslots")[1].split("IOMMU DMA maps")[0]
    assert not lines_with(slots, "0x0")              # RAM's memslot at GPA 0 is not a BAR's
