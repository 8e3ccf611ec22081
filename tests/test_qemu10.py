"""The rules that changed between QEMU 7.2 and 10.0 (issue 12), one by one.

Expected values come from the real QEMU 10.0.2 captures in data/references/
(``*-qemu10-*``: the folder is named at each test) or, where no capture
exists (QEMU 8.2, 9.2, 10.2, other machine types, other hosts), from the
QEMU source at the release commits (file and function named at each test).
tests/test_predict_references.py compares every capture as a whole; these
tests pin each rule and its version boundary, and what follows the QEMU
binary (plain code) versus the machine type (compat properties).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from vfiolab.errors import CommandLineError, ConfigError
from vfiolab.inputs import parse_trace
from vfiolab.model.machine import intel_iommu_aw_bits
from vfiolab.predict import predict
from vfiolab.real.reference import REFERENCES
from vfiolab.stack import QEMU_VERSIONS, make_stack

EDU_PC = ["-machine", "pc", "-accel", "kvm", "-m", "512M", "-nodefaults",
          "-device", "edu,id=edu0"]


def _stack(qemu: str, **changes):
    # the reference host: AMD, 48 bits (data/references/README.md)
    s = make_stack(qemu=qemu, cpu_vendor="AuthenticAMD", phys_bits=48, cpu="assumed")
    return replace(s, **changes) if changes else s


def _with_machine(args: list[str], machine: str) -> list[str]:
    out = list(args)
    out[out.index("-machine") + 1] = machine
    return out


# --- pc: the i440fx host bridge is realized before pc_memory_init (8.1) -----------------------

def _real_slot_events(name: str, n: int):
    trace = (REFERENCES / name / "trace.log").read_text()
    evs = [e for e in parse_trace(trace) if e.name == "kvm_set_user_memory"]
    return [(e.args["slot"], e.args["guest_phys_addr"], e.args["memory_size"]) for e in evs[:n]]


def _model_slot_events(pred, n: int):
    evs = [e for e in pred.vm.kvm.events if e.get("op") == "set_user_memory"]
    return [(e["slot"], e["gpa"], e["size"]) for e in evs[:n]]


def test_pc_machine_init_slot_order_10_0():
    """Capture pc-512M-edu-qemu10-sb1162: RAM as one slot, then isa-bios
    splits it (slots 0-2), pc.bios takes slot 3, pc.rom slot 4 (commits
    c589f7cf08 and ce5ac09a75, QEMU 8.1).  The first nine kvm_set_user_memory
    events, as the real trace has them."""
    pred = predict(EDU_PC, stack=_stack("10.0"))
    assert _model_slot_events(pred, 9) == _real_slot_events("pc-512M-edu-qemu10-sb1162", 9)


def test_pc_final_slot_numbers_10_0_and_7_2():
    """Final slot numbers of pc-512M-edu (captures pc-512M-edu and
    pc-512M-edu-qemu10-sb1162; /tmp/research/qemu10-diffs.md item 4)."""
    want_72 = {0x0: 0, 0xfffc0000: 1, 0xc3000: 2, 0xe8000: 3, 0xf0000: 4, 0x100000: 5}
    want_10 = {0x0: 0, 0xc3000: 1, 0xe8000: 2, 0xfffc0000: 3, 0xf0000: 4, 0x100000: 5}
    for qemu, want in (("7.2", want_72), ("10.0", want_10)):
        pred = predict(EDU_PC, stack=_stack(qemu, firmware_version="1.16.2"))
        assert {m.guest_phys_addr: m.slot for m in pred.memslots()} == want, qemu


@pytest.mark.parametrize("qemu,machine", [("8.2", "pc"), ("10.0", "pc-i440fx-7.2"),
                                          ("10.2", "pc")])
def test_pc_slot_order_is_plain_code(qemu, machine):
    """The realize order is plain code in hw/i386/pc_piix.c pc_init1 (8.1):
    every machine type on a QEMU >= 8.1 binary gets it, pc-i440fx-7.2
    included; 8.2 and 10.2 from source."""
    pred = predict(_with_machine(EDU_PC, machine), stack=_stack(qemu, firmware_version="1.16.2"))
    assert _model_slot_events(pred, 9) == _real_slot_events("pc-512M-edu-qemu10-sb1162", 9)


# --- pc: the reset-control port's name (8.2) --------------------------------------------------

def _cf9(pred) -> str:
    line = next(l for l in pred.mtree().splitlines() if "0000000000000cf9-" in l)
    return line.rsplit(": ", 1)[1]


def test_piix_reset_control_name():
    """captures pc-512M-edu (7.2: piix3-reset-control) and
    pc-512M-edu-qemu10-sb1162 (10.0: piix-reset-control); 8.2 from source
    (hw/isa/piix.c, commit f97479cad8); plain code, so pc-i440fx-7.2 on 10.0
    has the new name too."""
    assert _cf9(predict(EDU_PC, stack=_stack("7.2"))) == "piix3-reset-control"
    assert _cf9(predict(EDU_PC, stack=_stack("10.0"))) == "piix-reset-control"
    assert _cf9(predict(EDU_PC, stack=_stack("8.2"))) == "piix-reset-control"
    assert _cf9(predict(_with_machine(EDU_PC, "pc-i440fx-7.2"),
                        stack=_stack("10.0"))) == "piix-reset-control"
    for name in ("pc-512M-edu", "pc-512M-edu-qemu10-sb1162"):
        real = (REFERENCES / name / "info_mtree.txt").read_text()
        want = "piix3-reset-control" if name == "pc-512M-edu" else "piix-reset-control"
        assert f"(prio 1, i/o): {want}" in real


# --- q35: SMRAM regions only where SMM is available (9.1) -------------------------------------

VGA_Q35 = ["-machine", "q35", "-accel", "kvm", "-m", "1G", "-nodefaults", "-device", "VGA"]


def _has_smram(pred) -> bool:
    return "smram-region" in pred.mtree()


def test_q35_smram_follows_smm_availability():
    """hw/pci-host/q35.c mch_realize returns before the SMRAM regions when
    the host's ``smm-ranges`` is false (commit b07bf7b73f, QEMU 9.1), which
    pc_q35_init sets from x86_machine_is_smm_enabled (hw/i386/x86.c): TCG has
    SMM, KVM only with KVM_CAP_X86_SMM.  Capture q35-1G-multi-qemu10-sb1162
    (reference host without KVM SMM): no smram-region; its 7.2 twin has one."""
    assert "smram-region" not in (REFERENCES / "q35-1G-multi-qemu10-sb1162"
                                  / "info_mtree.txt").read_text()
    assert "smram-region" in (REFERENCES / "q35-1G-multi" / "info_mtree.txt").read_text()
    assert not _has_smram(predict(VGA_Q35, stack=_stack("10.0")))
    assert _has_smram(predict(VGA_Q35, stack=_stack("10.0", host_kvm_smm=True)))
    assert _has_smram(predict(VGA_Q35, stack=_stack("10.0"), accel="tcg"))
    assert not _has_smram(predict(_with_machine(VGA_Q35, "q35,smm=off"), stack=_stack("10.0"),
                                  accel="tcg"))
    # a real QEMU 10.0 run under TCG (SMM available) has the regions
    assert "smram-region" in (REFERENCES.parent / "ovmf" / "q35-1G-no64-ivshmem-256M-2025.02-qemu10.0"
                              / "info_mtree.txt").read_text()
    # 9.2 from source: the same rule; 8.2 builds the regions regardless
    assert not _has_smram(predict(VGA_Q35, stack=_stack("9.2")))
    assert _has_smram(predict(VGA_Q35, stack=_stack("8.2")))
    # 7.2 builds them even with smm=off (no smm-ranges property yet)
    assert _has_smram(predict(_with_machine(VGA_Q35, "q35,smm=off"), stack=_stack("7.2")))


def test_q35_smram_is_plain_code():
    """smm-ranges is set by pc_q35_init, not by a compat property: -M
    pc-q35-7.2 on QEMU 10.0 loses the regions too (b07bf7b73f adds no
    hw_compat/pc_compat entry)."""
    assert not _has_smram(predict(_with_machine(VGA_Q35, "pc-q35-7.2"), stack=_stack("10.0")))


def test_q35_vga_window_without_smram():
    """Capture q35-1G-multi-qemu10-sb1162 (/tmp/research/qemu10-diffs.md
    item 5): with nothing lifting the PCI window, 0xa0000-0xbffff is pc.ram
    and the low RAM slot covers it (slot 0 = 0x0 + 0xc0000)."""
    pred = predict(VGA_Q35, stack=_stack("10.0"))
    low = [s for s in pred.sections() if s.start < 0xc0000]
    assert [(s.start, s.end, s.name) for s in low] == [(0, 0xbffff, "pc.ram")]
    slots = {m.guest_phys_addr: (m.slot, m.memory_size) for m in pred.memslots()}
    assert slots[0] == (0, 0xc0000)


def test_smm_on_without_kvm_smm_is_refused():
    """hw/i386/x86.c x86_machine_is_smm_enabled: smm=on under KVM without
    KVM_CAP_X86_SMM exits ("System Management Mode not supported by this
    hypervisor."), as it does on the reference host."""
    with pytest.raises(ConfigError, match="System Management Mode not supported"):
        predict(_with_machine(VGA_Q35, "q35,smm=on"), stack=_stack("10.0"))
    # an OnOffAuto property refuses anything else when the command line is read
    with pytest.raises(CommandLineError, match="Parameter 'smm' does not accept value 'maybe'"):
        predict(_with_machine(VGA_Q35, "q35,smm=maybe"), stack=_stack("10.0"))


def test_stack_states_kvm_smm():
    s = make_stack(cpu="assumed")
    assert s.host_kvm_smm is False
    assert s.to_json()["host_kvm_smm"] is False


def test_pc_keeps_smram_region():
    """i440fx has no smm-ranges switch (hw/pci-host/i440fx.c
    i440fx_pcihost_realize); capture pc-512M-edu-qemu10-sb1162 has the line."""
    assert "smram-region" in (REFERENCES / "pc-512M-edu-qemu10-sb1162"
                              / "info_mtree.txt").read_text()
    assert _has_smram(predict(EDU_PC, stack=_stack("10.0")))


# --- 9.2: address spaces of bridges and virtio-pci --------------------------------------------

ROOTPORT = ["-machine", "q35", "-accel", "kvm", "-m", "1G", "-nodefaults",
            "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
            "-object", "memory-backend-ram,id=m0,size=64M",
            "-device", "ivshmem-plain,memdev=m0,id=ivs0,bus=rp1",
            "-device", "virtio-net-pci,id=vnet0"]


def _as_names(text: str) -> list[str]:
    return [l.split('"')[1] for l in text.splitlines() if l.startswith(' AS "')]


def test_bridge_and_virtio_address_spaces_from_9_2():
    """Commit 55fa4be6f7 (QEMU 9.2; hw/pci/pci_bridge.c pci_bridge_initfn,
    hw/virtio/virtio-pci.c virtio_pci_realize): each bridge adds
    pci_bridge_pci_mem and pci_bridge_pci_io, each modern virtio-pci function
    virtio-pci-cfg-mem-as (captures q35-1G-rootport-qemu10-sb1162,
    pc-1G-multi-qemu10-sb1162); none up to 9.1 (the 7.2 captures)."""
    new = {"pci_bridge_pci_mem", "pci_bridge_pci_io", "virtio-pci-cfg-mem-as"}
    for qemu in ("9.2", "10.0", "10.2"):
        names = _as_names(predict(ROOTPORT, stack=_stack(qemu)).mtree_flat())
        assert new <= set(names), qemu
    for qemu in ("7.2", "8.2"):
        assert not new & set(_as_names(predict(ROOTPORT, stack=_stack(qemu)).mtree_flat()))
    for name in ("q35-1G-rootport-qemu10-sb1162", "pc-1G-multi-qemu10-sb1162"):
        real = set(_as_names((REFERENCES / name / "info_mtree_f.txt").read_text()))
        assert real & new
    assert not new & set(_as_names((REFERENCES / "q35-1G-rootport" / "info_mtree_f.txt")
                                   .read_text()))


def test_virtio_cfg_view_at_bar_address():
    """The virtio-pci-cfg-mem-as view is rendered from the BAR's address
    (memory.c render_memory_region adds the root's own offset), with no KVM
    marker (KVM does not listen to that space): capture
    pc-1G-multi-qemu10-sb1162, FlatView of virtio-pci-cfg-mem-as."""
    from vfiolab.inputs import parse_mtree_flat
    real = parse_mtree_flat((REFERENCES / "pc-1G-multi-qemu10-sb1162"
                             / "info_mtree_f.txt").read_text())
    view = next(v for v in real if "virtio-pci-cfg-mem-as" in v.address_spaces)
    assert view.root == "virtio-pci"
    assert view.sections[0].start == 0xfd000000 and view.sections[0].accel is None
    pred = predict(_with_machine(ROOTPORT, "q35"), stack=_stack("10.0"))
    mine = next(v for v in parse_mtree_flat(pred.mtree_flat())
                if "virtio-pci-cfg-mem-as" in v.address_spaces)
    bar4 = next(b for d in pred.devices() if d.qdev_id == "vnet0" for b in d.bars if b.bar == 4)
    assert mine.sections[0].start == bar4.address
    assert all(s.accel is None for s in mine.sections)


# --- intel-iommu aw-bits: a compat property (pc_compat_9_1, QEMU 10.0) ------------------------

@pytest.mark.parametrize("qemu,machine,want", [
    ("7.2", "q35", 39), ("9.2", "q35", 39), ("10.0", "q35", 48),
    ("10.0", "pc-q35-9.2", 48), ("10.0", "pc-q35-9.1", 39), ("10.0", "pc-q35-7.2", 39),
    ("10.2", "q35", 48)])
def test_intel_iommu_aw_bits_default(qemu, machine, want):
    """include/hw/i386/intel_iommu.h VTD_HOST_ADDRESS_WIDTH: 39 up to 9.2,
    48 from 10.0 (commit ddd84fd0c1, first in v10.0.0), with aw-bits=39 in
    hw/i386/pc.c pc_compat_9_1 for machine types up to 9.1."""
    stack = make_stack(qemu=qemu, cpu="assumed").for_machine(machine)
    assert intel_iommu_aw_bits(stack) == want


def test_intel_iommu_aw_bits_given_and_refused():
    s = make_stack(qemu="7.2", cpu="assumed").for_machine("q35")
    assert intel_iommu_aw_bits(s, 48) == 48
    with pytest.raises(ConfigError, match="supported values for aw-bits are: 39, 48"):
        intel_iommu_aw_bits(s, 57)


def test_vtd_shadow_refuses_iova_beyond_aw_bits():
    """A guest VT-d table with aw-bits 39 (3 levels) cannot map IOVA 2^39."""
    from vfiolab.errors import ActionError
    from vfiolab.model.iommu import VtdShadow
    pred = predict(["-machine", "pc-q35-9.1", "-accel", "kvm", "-m", "512M", "-nodefaults"],
                   stack=_stack("10.0"))
    sh = VtdShadow(pred.vm)
    assert sh.aw_bits == 39
    with pytest.raises(ActionError, match="39-bit"):
        sh.guest_map(1 << 39, 0x100000, 0x1000)
    sh.guest_map((1 << 39) - 0x1000, 0x100000, 0x1000)


# --- which releases rest on captures ----------------------------------------------------------

def test_versions_evidence():
    """QEMU 7.2 and 10.0 are captured (data/references/); 8.2, 9.2 and 10.2
    are from source, and predictions for them say so."""
    assert {v: e for v, e in QEMU_VERSIONS.items()} == {
        "7.2": "captured", "8.2": "source", "9.2": "source", "10.0": "captured",
        "10.2": "source"}
    for qemu in ("8.2", "9.2", "10.2"):
        pred = predict(EDU_PC, stack=_stack(qemu))
        assert f"QEMU {qemu}: from source, no capture" in pred.vm.stack.notes
        assert pred.vm.stack.to_json()["qemu_evidence"] == "source"
    pred = predict(EDU_PC, stack=_stack("10.0"))
    assert not any("from source" in n for n in pred.vm.stack.notes)
    assert pred.vm.stack.to_json()["qemu_evidence"] == "captured"


def test_smm_on_refused_in_every_release_and_machine():
    """x86_machine_is_smm_enabled runs in pc_init1 and pc_q35_init of 7.2 and
    10.0 alike (the PM function's smm-enabled), so smm=on under KVM without
    KVM_CAP_X86_SMM fails on both machines and releases."""
    for qemu in ("7.2", "10.0"):
        for machine in ("pc,smm=on", "q35,smm=on"):
            with pytest.raises(ConfigError, match="System Management Mode not supported"):
                predict(_with_machine(EDU_PC, machine), stack=_stack(qemu))


def test_kvm_smm_says_smram_space_not_modelled():
    pred = predict(VGA_Q35, stack=_stack("10.0", host_kvm_smm=True))
    assert any("KVM-SMRAM" in n for n in pred.vm.stack.notes)
    pred = predict(VGA_Q35, stack=_stack("10.0"))
    assert not any("KVM-SMRAM" in n for n in pred.vm.stack.notes)


def test_host_kvm_smm_from_the_cli_and_noted():
    """--host-kvm-smm sets the fact; without it a q35 prediction for QEMU
    >= 9.1 under KVM says what it assumed."""
    import json
    import subprocess
    import sys
    args = ["-machine", "q35", "-accel", "kvm", "-m", "512M", "-nodefaults"]
    out = {}
    for flag in ([], ["--host-kvm-smm"]):
        r = subprocess.run([sys.executable, "-m", "vfiolab", "predict", "--qemu", "10.0",
                            "--cpu-vendor", "AuthenticAMD", "--phys-bits", "48", *flag,
                            "--", *args], capture_output=True, text=True, check=True)
        out[bool(flag)] = json.loads(r.stdout)
    assert out[True]["stack"]["host_kvm_smm"] is True
    assert out[False]["stack"]["host_kvm_smm"] is False
    assert any("KVM_CAP_X86_SMM assumed" in n for n in out[False]["stack"]["notes"])
    assert not any("KVM_CAP_X86_SMM assumed" in n for n in out[True]["stack"]["notes"])
