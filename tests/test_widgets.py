"""vfiolab.widgets.BarPanel driven headless through its plain methods.

What each action must cause follows QEMU's and KVM's rules, not the model's
output:

* QEMU hw/pci/pci.c ``pci_update_mappings`` runs on every config write that
  touches a BAR or the COMMAND register; for each BAR whose decoded address
  changed it unmaps the old one (trace ``pci_update_mappings_del``) then maps
  the new one (``pci_update_mappings_add``).  Clearing COMMAND.MEM makes every
  memory BAR of the function decode as unmapped.
* A RAM-backed BAR (ivshmem-plain BAR2, memory-backend-ram) is backed by a
  KVM memslot (accel/kvm/kvm-all.c ``kvm_set_phys_mem``): removing the
  FlatRange deletes the slot (KVM_SET_USER_MEMORY_REGION with memory_size 0),
  adding it creates a slot at the new guest_phys_addr with the same size and
  the same userspace_addr (the host memory does not move).
* A clean move (decode off, write, decode on) therefore unmaps BAR2 once and
  maps it once; a careless move of a 64-bit BAR with decode on, low dword
  first, maps it once at the intermediate address (new low half, old high
  half) before the final one.
"""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vfiolab.errors import VfiolabError  # noqa: E402
from vfiolab.widgets import BarPanel, figure_mode, legal_bases  # noqa: E402

ARGS = ["-machine", "q35", "-accel", "kvm", "-m", "1G", "-nodefaults", "-object",
        "memory-backend-ram,id=m0,size=64M", "-device", "ivshmem-plain,memdev=m0,id=ivs0"]
SIZE = 64 << 20          # memory-backend-ram size=64M = ivshmem BAR2's size
BDF = "00:01.0"          # first free slot on the q35 root bus (00:00.0 is the MCH)


@pytest.fixture
def panel():
    return BarPanel(ARGS, cpu_vendor="AuthenticAMD", mode="image")


def bar2(rows):
    return [r for r in rows if r.get("bar") == 2 and r["op"].startswith("pci_update")]


def slot_rows(df, size=SIZE):
    return df[df["memory_size"] == hex(size)]


def test_defaults_pick_ivshmem_bar2(panel):
    assert (panel.bdf, panel.bar) == (BDF, 2)
    assert panel.region.size == SIZE and panel.decode
    assert panel.base % SIZE == 0
    # the slider offers hex labels of size-aligned bases, the current one included
    opts = panel.base_slider.options
    assert all(lab == hex(a) and a % SIZE == 0 for lab, a in opts)
    assert panel.base_slider.value == panel.base


def test_clean_move_updates_memslot_and_events(panel):
    old = panel.base
    slot_before = slot_rows(panel.memslot_table()).iloc[0]
    assert slot_before["guest_phys_addr"] == hex(old)
    events = panel.set_base(0x800000000)
    # one unmap + one map of BAR2, in that order
    b2 = bar2(events)
    assert [(e["op"], e["addr"]) for e in b2] == [("pci_update_mappings_del", old),
                                                    ("pci_update_mappings_add", 0x800000000)]
    # its memslot: deleted, then created at the new guest_phys_addr, same size and ua
    kvm = [e for e in events if e["op"] == "set_user_memory" and e["region"] == "m0"]
    assert [(e["gpa"], e["size"]) for e in kvm] == [(old, 0), (0x800000000, SIZE)]
    assert kvm[0]["slot"] == kvm[1]["slot"]
    slot_after = slot_rows(panel.memslot_table()).iloc[0]
    assert slot_after["guest_phys_addr"] == "0x800000000"
    assert slot_after["userspace_addr"] == slot_before["userspace_addr"]
    assert slot_after["slot"] == slot_before["slot"]
    # the events table: delete then create, in hex
    ev = panel.events_table()
    sm = ev[ev["op"] == "set_user_memory"]
    assert list(sm["action"]) == ["delete", "create"]
    assert list(sm["addr"]) == [hex(old), "0x800000000"]
    assert list(sm["size"]) == ["0x0", hex(SIZE)]
    # the HTML widgets were filled by assignment
    assert "0x800000000" in panel.memslot_html.value
    assert "pci_update_mappings_del" in panel.events_html.value
    assert panel.base == 0x800000000 and panel.region.addr == 0x800000000


def test_careless_move_maps_the_intermediate_address(panel):
    panel.set_base(0x800000000)
    panel.set_how("careless")
    events = panel.set_base(0x1040000000)
    # low dword first: 0x40000000 with the old high dword 0x8 -> 0x840000000
    assert [(e["op"][-3:], e["addr"]) for e in bar2(events)] == [
        ("del", 0x800000000), ("add", 0x840000000), ("del", 0x840000000), ("add", 0x1040000000)]
    kvm = [(e["gpa"], e["size"]) for e in events if e["op"] == "set_user_memory"]
    assert kvm == [(0x800000000, 0), (0x840000000, SIZE), (0x840000000, 0),
                   (0x1040000000, SIZE)]
    assert list(panel.events_table()["action"]) == ["unmap", "delete", "map", "create",
                                                     "unmap", "delete", "map", "create"]


def test_decode_off_removes_the_memslot(panel):
    old = panel.base
    n_slots = len(panel.memslot_table())
    events = panel.set_decode(False)
    # COMMAND.MEM cleared: both memory BARs (0 and 2) unmapped, BAR2's slot deleted
    assert sorted(e["bar"] for e in events if e["op"] == "pci_update_mappings_del") == [0, 2]
    assert not any(e["op"] == "pci_update_mappings_add" for e in events)
    table = panel.memslot_table()
    assert len(table) == n_slots - 1 and slot_rows(table).empty
    assert list(panel.events_table()["action"]) == ["unmap", "unmap", "delete"]
    assert not panel.region.mapped and not panel.decode_tb.value
    # moving with decode off is a plain BAR write: nothing maps, no event
    assert panel.set_base(0x800000000) == []
    assert panel.base == 0x800000000 and not panel.region.mapped
    # decode on: BAR2 maps where it is now programmed, with a new memslot there
    events = panel.set_decode(True)
    assert [e["addr"] for e in bar2(events)] == [0x800000000]
    assert slot_rows(panel.memslot_table()).iloc[0]["guest_phys_addr"] == "0x800000000"
    assert old != 0x800000000


def test_lanes_update_in_place(panel):
    art = panel.artists
    rects = list(art.lanes["gpa"].rects)
    png0 = panel.figure_widget.value
    panel.set_base(0x800000000)
    # the BAR stays one FlatRange: same number of GPA ranges, same artists
    assert all(a is b for a, b in zip(art.lanes["gpa"].rects, rects))
    assert len(art.lanes["gpa"].rects) == len(rects)
    labels = [t.get_text() for t in art.lanes["gpa"].labels]
    assert "m0  0x800000000-0x803ffffff  (64M)" in labels
    # the highlighted range is the BAR's
    hl = [r for r in panel.lanes().lane("gpa").ranges if r.highlight]
    assert [(r.start, r.size) for r in hl] == [(0x800000000, SIZE)]
    assert panel.figure_widget.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert panel.figure_widget.value != png0
    assert len(art.bands) == len(panel.vm.memslots())


def test_widget_observers_call_the_methods(panel):
    target = [a for _, a in panel.base_slider.options if a >= 1 << 32][3]
    panel.base_slider.value = target                # what the browser does
    assert panel.base == target
    assert hex(target) in panel.memslot_html.value
    panel.decode_tb.value = False
    assert not panel.decode and not panel.region.mapped
    panel.how_tb.value = "careless"
    assert panel.how == "careless"
    panel.bar_dd.value = 0                          # BAR0: 256 bytes of registers
    assert panel.bar == 0
    assert all(a % 0x100 == 0 and a + 0x100 <= 0xfec00000 for _, a in panel.base_slider.options)


def test_refused_move_is_reported_not_raised(panel):
    with pytest.raises(VfiolabError):
        panel.set_base(0x800000000 + 0x1000)        # not aligned to the BAR size
    panel._guard(panel.set_base, 0x800000000 + 0x1000)
    assert "refused" in panel.status.value


def test_legal_bases_rules(panel):
    vm = panel.vm
    root = vm.firmware.root
    bases = legal_bases(vm, BDF, 2)
    others = [(o.addr, o.addr + o.size) for d in vm.pci_devices() for o in d.bars()
              if o.mapped and not o.type & 1 and not (d.slot == 1 and o.index == 2)]
    for a in bases:
        assert a % SIZE == 0
        low = root.pcimem_start <= a and a + SIZE <= root.pcimem_end
        assert low or a >= 1 << 32
        assert not any(a < e and s < a + SIZE for s, e in others)
    assert any(a >= 1 << 32 for a in bases) and any(a < 1 << 32 for a in bases)
    # the 32-bit BAR0 gets no base above 4 GiB, nor below the window (SeaBIOS
    # BUILD_PCIMEM_END is 0xfec00000)
    b0 = legal_bases(vm, BDF, 0)
    assert all(root.pcimem_start <= a and a + 0x100 <= 0xfec00000 for a in b0)
    assert len(b0) <= 70


def test_figure_mode():
    assert figure_mode("module://ipympl.backend_nbagg") == "canvas"
    assert figure_mode("widget") == "canvas"
    assert figure_mode("agg") == "image"
    assert figure_mode("module://matplotlib_inline.backend_inline") == "image"


def test_panel_from_a_prediction_and_trace_config():
    from vfiolab.predict import predict
    p = predict(ARGS, cpu_vendor="AuthenticAMD")
    panel = BarPanel(p, trace_config=True, mode="image")
    events = panel.set_base(0x800000000)
    writes = [e for e in events if e["op"] == "pci_cfg_write"]
    # clean: COMMAND (decode off), BAR2 low, BAR2 high (PCI_BASE_ADDRESS_2 = 0x18), COMMAND
    assert [w["offset"] for w in writes] == [0x04, 0x18, 0x1c, 0x04]
    ev = panel.events_table()
    assert "offset" in ev.columns and "0x18" in list(ev["offset"])
    box = panel.widget
    assert panel.figure_widget in box.children


def test_config_explorer_bits():
    """BAR0 bits are QEMU's (emulated_config_bits 0xff over 0x10-0x13); the
    vendor ID bits are the device's."""
    from vfiolab.predict import predict
    from vfiolab.widgets import ConfigExplorer
    p = predict("-M q35 -m 1G -nodefaults -device vfio-pci,host=0000:00:03.0,id=n".split(),
                host_devices={"0000:00:03.0": "data/devices/virtio-net-this-machine"},
                cpu_vendor="AuthenticAMD")
    dev = next(d for d in p.vm.devices if d.type_name == "vfio-pci")
    ce = ConfigExplorer(dev)
    assert {who for _, _, who in ce.bits("BAR0")} == {"qemu"}
    assert {who for _, _, who in ce.bits("VENDOR_ID")} == {"device"}
    html = ce.select("BAR0")
    assert "BAR0" in html and ce.out.value == html


def test_barpanel_shows_ept_fill_and_iommu_map_list():
    """After moving a passthrough BAR the guest touches it: a memslot backs
    it, so KVM fills EPT (a "map" event, no exit); the IOMMU map list holds
    the BAR's new IOVA (QEMU's VFIO listener maps ram_device sections with
    IOVA = GPA)."""
    from vfiolab.predict import predict
    from vfiolab.widgets import BarPanel
    p = predict("-M q35 -m 1G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0".split(),
                host_devices={"0000:01:00.0": "data/devices/gpu-nvidia-tesla-p100"},
                cpu_vendor="AuthenticAMD")
    panel = BarPanel(p, bdf="00:01.0", bar=3)
    new = [b for b in panel.candidates() if b != panel.base][0]
    panel.set_base(new)
    assert any(e["op"] == "map" and not e["exit"] for e in panel.last_touch)
    assert f"<code>{hex(new)}</code>" in panel.mmu_html.value
    # the touch prints the guest-physical address of the page KVM mapped
    # (gpa = gfn << 12), never the frame number dressed as an address
    assert f"map GPA {hex(new)}" in panel.mmu_html.value


def test_status_of_an_unmapped_bar_reads_as_a_sentence(panel):
    """With decode off the BAR is decoded nowhere: the status says so
    rather than "decoded at not mapped"."""
    panel.set_decode(False)
    assert "not mapped (decoded nowhere)" in panel.status.value
    assert "decoded at not mapped" not in panel.status.value
    panel.set_decode(True)
    assert f"decoded at <code>{hex(panel.region.addr)}</code>" in panel.status.value
