"""Every figure the notebooks show fits the page and can be read there.

Each figure is built by the same functions the notebooks' cells call (the
course helpers ``course.lanes_fig``, ``course.placement_fig``, ``lessons.ept_fig``,
``lessons.walk_fig``, ``lessons.dma_figs``, ``lessons.timeline_fig``,
``lessons.thread_model_fig``, ``lessons.capture_timelines_fig``,
``course.move_strip_fig``, ``course.config_grid_fig``),
with the notebooks' inputs, and checked by
:func:`vfiolab.plot.style.figure_problems`: a PNG no wider than the page
(``PAGE_PX``, 960 px), no text under ``MIN_TEXT_PX`` (9 px) as rendered, no
two texts' boxes overlapping, no text clipped by its axes.  The widgets'
figures (BarPanel, DmaView, the static BAR view) are checked the same way.
"""

from __future__ import annotations

import pytest

from vfiolab import course
from vfiolab.course import lessons
from vfiolab.plot import style

P100 = {"0000:01:00.0": "gpu-nvidia-tesla-p100"}
ARGS = "-machine q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0"


def nb00():
    from vfiolab.views import lanes_data
    p = course.predict_vm(ARGS, P100)
    yield "00 lanes", course.lanes_fig(lanes_data(p, lanes=("gpa", "hva", "hpa"),
                                                  highlight={"0000:01:00.0 BAR 1 mmaps[0]"}))


def nb01():
    p = course.predict_vm(ARGS, P100)
    yield "01 placement P100", course.placement_fig(p)
    p2 = course.predict_vm("-machine q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,"
                           "id=nic0", {"0000:01:00.0": "nic-intel-x520"})
    yield "01 placement X520", course.placement_fig(p2)


def nb02():
    p = course.predict_vm("-machine q35 -m 2G -nodefaults -device "
                          "vfio-pci,host=0000:01:00.0,id=nic0",
                          {"0000:01:00.0": "nic-intel-xl710"})
    yield "02 ownership grid", course.config_grid_fig(course.vfio_device(p))


def nb03():
    from vfiolab.views import lanes_data
    p = course.predict_vm("-machine q35 -m 2G -nodefaults -device "
                          "vfio-pci,host=0000:01:00.0,id=nic0",
                          {"0000:01:00.0": "nic-mellanox-connectx7"})
    yield "03 lanes", course.lanes_fig(lanes_data(p, highlight={"0000:01:00.0 BAR 0 mmaps[0]"}))
    story = course.story("-machine q35 -m 2G -nodefaults -device "
                         "vfio-pci,host=0000:01:00.0,id=nic0",
                         {"0000:01:00.0": "nic-mellanox-connectx7"}, bdf="00:01.0", bar=0,
                         moves=[(0x1000000000, "clean"), (0x2002000000, "careless")])
    yield "03 move strip", course.move_strip_fig(story, ["move_clean", "move_careless"],
                                                 "00:01.0", 0)


def nb04():
    from vfiolab.model.ept import Mmu
    p = course.predict_vm(ARGS, P100)
    mmu = Mmu(p.vm)
    # the touches of notebook 04's cells, in order
    lessons.touch_table(mmu, [(0x1000000, "write", ""), (0x1000040, "read", ""),
                              (0x11ff000, "read", ""), (0x1ff000, "read", ""),
                              (0x9000, "read", "")])
    lessons.touch_table(mmu, [(0x400000040, "read", ""), (0xfd000000, "write", ""),
                              (0x800000000, "read", ""), (0xfffffff0, "read", "")])
    lessons.zap_and_refault(mmu, "00:01.0", 3, 0x1000000000, [
        (0x1000000, "read", ""), (0x800000000, "read", ""), (0x1000000000, "read", ""),
        (0x400000040, "read", "")])
    yield "04 EPT tree", lessons.ept_fig(mmu, 0x400000040)
    _, walk = lessons.walk_2d(ARGS, P100, thp=False)
    yield "04 2D walk", lessons.walk_fig(walk)


def nb05():
    p2 = course.predict_vm(ARGS, P100)
    lessons.bus_master(p2)
    for i, fig in enumerate(lessons.dma_figs(p2, viommu=False)):
        yield f"05 DMA {i}", fig
    lessons.viommu_frame(p2)
    for i, fig in enumerate(lessons.dma_figs(p2, viommu=True)):
        yield f"05 vIOMMU {i}", fig


def nb06():
    story = lessons.whole_story(ARGS, P100, bdf="00:01.0", bar=3, new=0x1000000000)
    yield "06 realize", lessons.timeline_fig(story, "realize", "realize: before the guest runs")
    yield "06 after", lessons.timeline_fig(
        story, ["kernel_touches", "device_dma", "move_clean", "after_move"],
        "after the firmware: the kernel, the device, a BAR move")
    yield "06 capture", lessons.capture_timelines_fig("q35-ivshmem-move", 6)


def nb07():
    story = lessons.whole_story(ARGS, P100, bdf="00:01.0", bar=3, new=0x1000000000)
    yield "07 corrected model", lessons.thread_model_fig(story)


def nb08():
    from vfiolab.inputs import flatview_for, parse_mtree_flat
    from vfiolab.views import lanes_data, lanes_from_records
    mine = course.predict_vm("-machine q35 -m 4G -nodefaults -object memory-backend-ram,id=m0,"
                             "size=256M -device ivshmem-plain,memdev=m0,id=ivs0 "
                             "-device vfio-pci,host=0000:01:00.0,id=gpu0",
                             {"0000:01:00.0": "gpu-nvidia-rtx6000-ada"})
    yield "08 lanes", course.lanes_fig(lanes_data(mine, lanes=("gpa", "hva", "hpa")))
    views = parse_mtree_flat(course.read_input("data/references/q35-4G-ivshmem-2G/"
                                               "info_mtree_f.txt"))
    captured = flatview_for(views, "memory").sections
    yield "08 captured", course.lanes_fig(lanes_from_records(captured, [], lanes=("gpa",)))


def nb09():
    from vfiolab.course import widths
    pf = (" -drive if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd"
          " -drive if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd")
    vm = ("-machine q35 -accel kvm -m 4G -nodefaults -object memory-backend-ram,id=m0,size=64G,"
          "reserve=off -device ivshmem-plain,memdev=m0,id=ivs0")
    host = dict(cpu_vendor="GenuineIntel", phys_bits=46)
    vms = {"SeaBIOS 1.16.2, -cpu qemu64": course.predict_vm(vm, **host),
           "SeaBIOS 1.16.3, -cpu host": course.predict_vm(vm + " -cpu host", stack="debian13",
                                                          **host),
           "OVMF 2025.02, -cpu host": course.predict_vm(vm + pf + " -cpu host", stack="debian13",
                                                        firmware="ovmf-2025.02", **host)}
    yield "09 widths", widths.widths_fig([widths.widths_column(p, n) for n, p in vms.items()])
    small = course.predict_vm(vm + pf, stack="debian13", firmware="ovmf-2025.02", **host)
    fixed = course.predict_vm(vm + pf + " -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536",
                              stack="debian13", firmware="ovmf-2025.02", **host)
    yield "09 knob", widths.widths_fig([widths.widths_column(small, "OVMF, -cpu qemu64"),
                                        widths.widths_column(fixed, "OVMF + X-PciMmio64Mb")])


def nb11():
    from vfiolab.check import check
    from vfiolab.course import widths
    pf = ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd",
          "-drive", "if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd"]
    hosts = {"0000:01:00.0": course.host_device_path("gpu-nvidia-rtx6000-ada")}
    kw = dict(stack="debian13", firmware="ovmf-2025.02", cpu_vendor="GenuineIntel", phys_bits=46,
              host_sysfs=course.resolve("data/check/sysfs-vtd-mgaw39"), host_devices=hosts)
    r = check(["-machine", "q35", "-accel", "kvm", "-m", "16G", "-nodefaults", "-cpu", "host"]
              + pf + ["-object", "memory-backend-ram,id=shm,size=256M,share=on",
                      "-device", "ivshmem-plain,memdev=shm,id=shmem0",
                      "-device", "vfio-pci,host=0000:01:00.0,id=gpu0"], **kw)
    fixed = check(r.fix["rechecked_args"], **kw)
    limits = [("host IOMMU 39 bits", 39), ("KVM 46 bits", 46)]
    yield "11 widths", widths.widths_fig([
        widths.widths_column(r.prediction, "-cpu host", limits=limits,
                             beyond={"00:02.0 BAR1", "00:02.0 BAR3"}),
        widths.widths_column(fixed.prediction, "-cpu host,guest-phys-bits=39 + X-PciMmio64Mb",
                             limits=limits)])


def widgets():
    from vfiolab.widgets import BarPanel, DmaView
    panel = BarPanel(course.predict_vm("-machine q35 -m 2G -nodefaults -device "
                                       "vfio-pci,host=0000:01:00.0,id=nic0",
                                       {"0000:01:00.0": "nic-mellanox-connectx7"}),
                     bdf="00:01.0", bar=0, mode="image")
    yield "BarPanel", panel.fig
    dv = DmaView(course.predict_vm(ARGS, P100), mode="image")
    yield "DmaView", dv.fig
    dv.set_viommu(True)
    yield "DmaView vIOMMU", dv.fig


SOURCES = {"00": nb00, "01": nb01, "02": nb02, "03": nb03, "04": nb04, "05": nb05, "06": nb06,
           "07": nb07, "08": nb08, "09": nb09, "11": nb11, "widgets": widgets}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_figures_fit_the_page_and_read(source):
    problems = []
    n = 0
    for name, fig in SOURCES[source]():
        n += 1
        problems += [f"{name}: {p}" for p in style.figure_problems(fig)]
    assert n
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"


def test_the_check_finds_what_it_should():
    """figure_problems catches a too-wide figure, small text, overlapping
    and clipped text (and passes a clean figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def fig_(w=4.0):
        f = Figure(figsize=(w, 2), dpi=style.DPI)
        FigureCanvasAgg(f)
        return f

    f = fig_()
    ax = f.add_subplot()
    ax.set_axis_off()
    ax.text(0.1, 0.5, "fine", fontsize=style.SMALL_SIZE)
    assert style.figure_problems(f) == []
    f = fig_(12.0)
    f.text(0.01, 0.5, "from the left edge")
    f.text(0.9, 0.5, "to the right edge")
    assert any("px wide" in p for p in style.figure_problems(f))
    f = fig_()
    f.text(0.1, 0.5, "tiny", fontsize=5)
    assert any("px high" in p for p in style.figure_problems(f))
    f = fig_()
    f.text(0.1, 0.5, "one label", fontsize=8)
    f.text(0.12, 0.5, "another label", fontsize=8)
    assert any("overlap" in p for p in style.figure_problems(f))
    f = fig_()
    ax = f.add_axes((0.1, 0.1, 0.5, 0.5))
    ax.text(0.9, 0.5, "runs out of its axes", clip_on=True)
    assert any("clipped" in p for p in style.figure_problems(f))
