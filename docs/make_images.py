"""Write the figures of docs/images/ (deterministic: same bytes on every run).

Each figure starts from the command line of a real capture in
data/references/ (``command.txt``):

* ``lanes.png`` -- ``q35-4G-ivshmem-2G`` predicted by vfiolab: GPA (the flat
  view of "memory") and HVA (QEMU's RAM blocks), memslot bands between them;
  RAM above 4 GiB and the 2 GiB BAR in SeaBIOS's 64-bit window.
* ``lanes-capture.png`` -- ``q35-1G-multi`` straight from the real capture
  (info mtree -f and the kvm_set_user_memory trace; the HVA side is rebuilt
  from the memslots, as a capture does not list QEMU's mappings).
* ``lanes-moved.png`` -- ``q35-1G-ivshmem-1G`` predicted, after the guest
  moved ivshmem BAR2 to 0x800000000 the clean way (highlighted).
* ``lanes-four.png`` -- the same VM with the HPA and IOVA lanes shown
  (the IOVA lane empty: no vfio device).
* ``ept-tree.png``, ``ept-walk-2d.png``, ``lanes-four-filled.png``,
  ``dma-view.png`` -- a guest with a passed-through Tesla P100 (the host
  device profile data/devices/gpu-nvidia-tesla-p100; no real capture has
  one): see :func:`more_images`.

Run from the repository root:  .venv/bin/python docs/make_images.py
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from vfiolab.model.guest import move_bar  # noqa: E402
from vfiolab.plot.lanes import lanes_figure  # noqa: E402
from vfiolab.plot.style import save  # noqa: E402
from vfiolab.predict import predict  # noqa: E402
from vfiolab.real.reference import REFERENCES, load_reference  # noqa: E402
from vfiolab.views import lanes_data, lanes_from_records  # noqa: E402

OUT = ROOT / "docs" / "images"


def command(name: str) -> list[str]:
    return shlex.split((REFERENCES / name / "command.txt").read_text())


def write(name: str, data) -> Path:
    fig, ax, art = lanes_figure(data)
    path = OUT / name
    save(fig, path)
    return path


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    written = []

    p = predict(command("q35-4G-ivshmem-2G"), cpu_vendor="AuthenticAMD")
    written.append(write("lanes.png", lanes_data(p, highlight={"m0"})))

    ref = load_reference(REFERENCES / "q35-1G-multi")
    written.append(write("lanes-capture.png", lanes_from_records(ref.sections, ref.memslots)))

    p = predict(command("q35-1G-ivshmem-1G"), cpu_vendor="AuthenticAMD")
    move_bar(p.vm, "00:01.0", 2, 0x800000000, how="clean")
    written.append(write("lanes-moved.png", lanes_data(p, highlight={"m0"})))
    written.append(write("lanes-four.png",
                         lanes_data(p, lanes=("gpa", "hva", "hpa", "iova"), highlight={"m0"})))

    written += more_images()

    for path in written:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path.relative_to(ROOT)}  sha256:{digest}")
    return 0


# --------------------------------------------------------------------------
# EPT, 2-D walk, four filled lanes, DMA (issue 6)
# --------------------------------------------------------------------------
#
# * ``ept-tree.png`` -- KVM's EPT of a q35 guest with 2 GiB and a passed-through
#   Tesla P100 (data/devices/gpu-nvidia-tesla-p100: BAR0 16M, BAR1 16G, BAR3 32M),
#   KVM_X86_QUIRK_SLOT_ZAP_ALL disabled (zap="slot"), after the guest touched
#   its first MiB (4K leaves), 64 MiB of RAM (2M leaves: THP), pages of BAR0 and
#   BAR1 (2M / 1G UC leaves), the HPET and the AHCI registers (MMIO SPTEs),
#   then moved BAR3 the clean way (its slot is deleted: 2M leaves zapped, every
#   MMIO SPTE stale) and touched the HPET again; the walk of one RAM address
#   is highlighted.
# * ``ept-walk-2d.png`` -- the same guest without THP: a kernel-style mapping
#   0xffff888000201000 -> 0x3000000 walked cold: 24 references.
# * ``lanes-four-filled.png`` -- the P100 guest with GPA, HVA, HPA and IOVA
#   lanes: host page tables HVA -> HPA and IOMMU maps IOVA -> HPA.
# * ``dma-view.png`` -- the P100's DMA without and with a vIOMMU.

P100_ARGS = "-M q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0".split()
P100_DEVS = {"0000:01:00.0": "data/devices/gpu-nvidia-tesla-p100"}


def p100():
    return predict(P100_ARGS, host_devices=P100_DEVS, cpu_vendor="AuthenticAMD")


def ept_tree_image() -> Path:
    import numpy as np

    from vfiolab.model.ept import Mmu
    from vfiolab.model.guest import find_bdf
    from vfiolab.plot.ept import ept_figure

    vm = p100().vm
    mmu = Mmu(vm, record=False, zap="slot")
    mmu.touch(np.arange(0, 0x100000, 0x1000))
    mmu.touch(np.arange(0x1000000, 0x5000000, 0x200000))
    dev = find_bdf(vm, "00:01.0")
    bar0, bar1, bar3 = (dev.io_regions[i].addr for i in (0, 1, 3))
    for off in (0, 0x5000, 0x200000):
        mmu.access(bar0 + off)
    mmu.access(bar1 + 0x5000)
    mmu.touch(np.arange(bar3, bar3 + 0x2000000, 0x200000))
    for gpa in (0xFED00000, 0xFE000000):
        mmu.access(gpa)
    move_bar(vm, "00:01.0", 3, 0x1000000000, how="clean")
    mmu.access(0xFED00000)
    fig, ax, art = ept_figure(mmu, highlight_gpa=0x1234567)
    path = OUT / "ept-tree.png"
    save(fig, path)
    return path


def ept_walk_2d_image() -> Path:
    from vfiolab.model.ept import GuestPageTables, Mmu
    from vfiolab.plot.ept import walk_2d_figure

    vm = p100().vm
    vm.host.thp = False
    mmu = Mmu(vm, record=False)
    pt = GuestPageTables(mmu, pool_gpa=0x1000000)
    gva = 0xFFFF888000201000
    pt.map(gva, 0x3000000)
    fig, ax, art = walk_2d_figure(mmu.walk_2d(gva, pt.cr3))
    path = OUT / "ept-walk-2d.png"
    save(fig, path)
    return path


def lanes_four_filled_image() -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vfiolab.plot.lanes import draw_lanes
    from vfiolab.plot.style import DPI, style_context

    data = lanes_data(p100(), lanes=("gpa", "hva", "hpa", "iova"),
                      highlight={"0000:01:00.0 BAR 1 mmaps[0]"})
    with style_context():
        fig = Figure(figsize=(23.0, 8.5), dpi=DPI)      # room for the BARs' long names
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.01, 0.05, 0.98, 0.91))
        draw_lanes(ax, data, band_legend="band: memslot (GPA -> HVA), host page table "
                                         "(HVA -> HPA), IOMMU map (IOVA -> HPA)")
    path = OUT / "lanes-four-filled.png"
    save(fig, path)
    return path


def dma_view_image() -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vfiolab.plot.iommu import dma_view_data, draw_dma_view
    from vfiolab.plot.style import DPI, style_context

    p = p100()
    plain = dma_view_data(p)
    shadowed = dma_view_data(p, viommu=True)
    with style_context():
        fig = Figure(figsize=(24.0, 17.0), dpi=DPI)
        FigureCanvasAgg(fig)
        draw_dma_view(fig.add_axes((0.17, 0.54, 0.66, 0.43)), plain)
        draw_dma_view(fig.add_axes((0.01, 0.04, 0.98, 0.43)), shadowed)
    path = OUT / "dma-view.png"
    save(fig, path)
    return path


def more_images() -> list[Path]:
    return [ept_tree_image(), ept_walk_2d_image(), lanes_four_filled_image(), dma_view_image()]


if __name__ == "__main__":
    sys.exit(main())
