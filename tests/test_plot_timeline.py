"""The sequence diagram of the event stream (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from vfiolab.simulate import run_story  # noqa: E402
from vfiolab.plot.timeline import ACTORS, draw_timeline, event_arrow  # noqa: E402


def test_arrows_follow_the_real_path():
    """A config write traps guest -> QEMU; QEMU passes it to vfio-pci;
    a memslot change is an ioctl QEMU -> KVM; a DMA map QEMU -> VFIO."""
    assert event_arrow({"op": "pci_cfg_write", "bdf": "00:01.0", "offset": 4, "value": 3})[:2] == ("guest", "QEMU")
    assert event_arrow({"op": "vfio_pci_write_config", "addr": 4, "val": 3, "len": 2})[:2] == ("QEMU", "VFIO")
    assert event_arrow({"op": "set_user_memory", "slot": 3, "gpa": 0, "size": 0})[:2] == ("QEMU", "KVM")
    assert event_arrow({"op": "map_dma", "iova": 0, "size": 4096})[:2] == ("QEMU", "VFIO")
    assert event_arrow({"op": "dma_fault", "iova": 0})[:2] == ("device", "IOMMU")


def test_careless_move_drawn():
    st = run_story("-M q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=g".split(),
                   host_devices={"0000:01:00.0": "data/devices/gpu-nvidia-tesla-p100"},
                   bdf="00:01.0", bar=3, moves=[(0x1002000000, "careless")],
                   cpu_vendor="AuthenticAMD")
    evs = st.events("move_careless")
    fig = Figure(figsize=(11, 7))
    art = draw_timeline(fig.add_subplot(111), evs)
    texts = [t.get_text() for t in art.labels]
    assert [t for t in texts if t in ACTORS] == list(ACTORS)
    # two BAR writes, each: trap, pwrite, unmap, commit, memslot delete,
    # UNMAP_DMA, map, commit, MAP_DMA, memslot create
    assert len(art.arrows) == 20
    assert sum("SET_USER_MEMORY_REGION" in t for t in texts) == 4
    fig.canvas.draw()


def test_ept_events_print_the_guest_physical_address():
    """KVM's map event carries a frame number (gfn); the arrow prints the
    GPA, gfn << 12 (Linux arch/x86/kvm/mmu gfn_to_gpa), not "gfn 0x1000"."""
    label = event_arrow({"op": "map", "gfn": "0x1000", "level": 1, "memtype": "wb"})[2]
    assert "GPA 0x1000000" in label and "gfn" not in label
    label = event_arrow({"op": "mmio", "gfn": 0x800000})[2]
    assert "GPA 0x800000000" in label
