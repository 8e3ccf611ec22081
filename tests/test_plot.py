"""vfiolab.plot: the lanes drawing, its axis transform, in-place updates, style.

Inputs are the records of the real capture data/references/q35-1G-ivshmem-1G
(QEMU 7.2.22, SeaBIOS 1.16.2, KVM); a moved BAR is made from them by the
rules of QEMU ``pci_update_mappings`` (the BAR's FlatRange moves, its size
stays) and KVM (its memslot is deleted and created at the new
guest_phys_addr with the same size and userspace_addr).
"""

import matplotlib

matplotlib.use("Agg")

import dataclasses  # noqa: E402
import io  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from PIL import Image  # noqa: E402

from vfiolab.plot import style  # noqa: E402
from vfiolab.plot.lanes import (GAP_WEIGHT, approx_size, compress_axis, draw_lanes,  # noqa: E402
                                lanes_figure)
from vfiolab.records import Memslot, Section  # noqa: E402
from vfiolab.real.reference import REFERENCES, load_reference  # noqa: E402
from vfiolab.views import lanes_from_records  # noqa: E402

CAP = REFERENCES / "q35-1G-ivshmem-1G"
M0_GPA, M0_SIZE, M0_UA = 0x100000000, 0x40000000, 0x7f5607e00000   # trace.log line 25


@pytest.fixture(scope="module")
def ref():
    return load_reference(CAP)


def moved(ref, new_gpa):
    """The capture after ivshmem BAR2 (region m0) moved to ``new_gpa``."""
    secs = [dataclasses.replace(s, start=new_gpa, end=new_gpa + M0_SIZE - 1)
            if s.name == "m0" else s for s in ref.sections]
    slots = [dataclasses.replace(m, guest_phys_addr=new_gpa)
             if m.guest_phys_addr == M0_GPA else m for m in ref.memslots]
    return secs, slots


def decode_off(ref):
    """The capture after the ivshmem function's memory decode was cleared:
    both memory BARs (ivshmem-mmio, m0) and m0's memslot are gone."""
    secs = [s for s in ref.sections if s.name not in ("m0", "ivshmem-mmio")]
    slots = [m for m in ref.memslots if m.guest_phys_addr != M0_GPA]
    return secs, slots


def draw(data):
    fig, ax, art = lanes_figure(data)
    fig.canvas.draw()
    return fig, ax, art


# --- the axis transform ---------------------------------------------------------

def test_compress_axis_monotone_with_min_height_and_gaps():
    # a 4 KiB page, a 4 GiB BAR far above it, a 256-byte register block
    ranges = [(0x1000, 0x2000), (0x100000000, 0x200000000), (0xfeb00000, 0xfeb00100)]
    amap = compress_axis(ranges)
    assert amap.addrs == sorted({a for r in ranges for a in r})
    ys = [amap(a) for a in amap.addrs]
    assert ys == sorted(ys) and ys[0] == 0.0 and ys[-1] == 1.0
    h = amap.piece_heights()
    page, bar = amap(0x2000) - amap(0x1000), amap(0x200000000) - amap(0x100000000)
    regs = amap(0xfeb00100) - amap(0xfeb00000)
    # every occupied piece gets at least the height of a 4 KiB page; the big one more
    assert regs == pytest.approx(page) and bar > page
    # both gaps are squeezed to the same height
    assert amap.gaps == [(0x2000, 0xfeb00000), (0xfeb00100, 0x100000000)]
    gap_h = [h[i] for i in range(len(h)) if (amap.addrs[i], amap.addrs[i + 1]) in amap.gaps]
    assert gap_h[0] == pytest.approx(gap_h[1]) and gap_h[0] / page == pytest.approx(GAP_WEIGHT)
    # linear inside a piece; 64-bit addresses keep their precision
    assert amap(0x180000000) == pytest.approx((amap(0x100000000) + amap(0x200000000)) / 2)
    assert amap(0xffff_ffff_ffff_f000) == 1.0


def test_compress_axis_extra_points_and_empty():
    amap = compress_axis([(0, 0x40000000)], points=[0xc0000, 0x100000])
    assert amap.addrs == [0, 0xc0000, 0x100000, 0x40000000] and amap.gaps == []
    empty = compress_axis([])
    assert empty.addrs == [] and np.isnan(empty(5))


def test_approx_size():
    assert approx_size(0x100000) == "1M"
    assert approx_size(0x6ff00000) == "1791M"
    assert approx_size(0x3ebfe000) == "~1004M"


# --- what is drawn --------------------------------------------------------------

def test_lanes_labels_colours_bands_breaks(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    gpa = art.lanes["gpa"]
    texts = [t.get_text() for t in gpa.labels]
    # info_mtree_f.txt line 99 "0000000100000000-000000013fffffff (prio 1, ram): m0 KVM"
    assert "m0  0x100000000-0x13fffffff  (1G)" in texts
    # line 92 "00000000febfe000-00000000febfe0ff (prio 1, i/o): ivshmem-mmio"
    assert "ivshmem-mmio  0xfebfe000-0xfebfe0ff  (0x100)" in texts
    assert len(gpa.rects) == len(ref.sections)
    # colours by kind
    for r, rect in zip(data.lane("gpa").ranges, gpa.rects):
        assert rect.get_facecolor() == pytest.approx(to_rgba(style.kind_color(r.kind)))
    kinds = {r.kind for r in data.lane("gpa").ranges}
    assert {"ram", "rom", "i/o"} <= kinds
    # one band per memslot
    assert len(art.bands) == len(ref.memslots) == len(art.band_labels)
    assert sorted(t.get_text() for t in art.band_labels) == \
        sorted(f"slot {m.slot}" for m in ref.memslots)
    # the sparse GPA space has gaps: hatched, with break strokes on both edges
    gaps = art.maps["gpa"].gaps
    assert gaps and len(gpa.breaks) == len(gaps) == len(gpa.gap_rects)
    assert all(b.get_gid() == "axis-break" for b in gpa.breaks)
    # 0x40000000 .. 0xb0000000 is unassigned (RAM ends at 1 GiB, ECAM at 0xb0000000)
    assert (0x40000000, 0xb0000000) in gaps
    assert all(g.get_hatch() for g in gpa.gap_rects)
    # lane titles
    assert "GPA" in gpa.title.get_text() and "HVA" in art.lanes["hva"].title.get_text()


def test_band_joins_memslot_ends(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    i = [b.src_start for b in data.bands].index(M0_GPA)
    xy = art.bands[i].get_xy()
    g, h = art.maps["gpa"], art.maps["hva"]
    # left edge on the GPA lane at m0's bounds, right edge on the HVA lane at its ua range
    assert xy[0][1] == pytest.approx(g(M0_GPA)) and xy[3][1] == pytest.approx(g(M0_GPA + M0_SIZE))
    assert xy[1][1] == pytest.approx(h(M0_UA)) and xy[2][1] == pytest.approx(h(M0_UA + M0_SIZE))
    assert xy[0][0] == pytest.approx(art.lane_x("gpa") + 1.0)
    assert xy[1][0] == pytest.approx(art.lane_x("hva"))


def test_small_range_stays_readable(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    ranges = data.lane("gpa").ranges
    k = [r.name for r in ranges].index("ivshmem-mmio")                 # 256 bytes
    rect = art.lanes["gpa"].rects[k]
    px = rect.get_window_extent().height
    assert px >= style.LABEL_SIZE * fig.dpi / 72          # room for one line of its label


def test_no_breaks_without_gaps():
    secs = [Section(0, 0x9ffff, 0, "ram", "pc.ram"), Section(0xa0000, 0xbffff, 1, "i/o", "vga"),
            Section(0xc0000, 0xfffff, 0, "rom", "pc.ram", offset=0xc0000)]
    data = lanes_from_records(secs, [], lanes=("gpa",))
    fig, ax, art = draw(data)
    assert art.lanes["gpa"].breaks == [] and art.bands == []


def test_empty_lane_shows_note():
    data = lanes_from_records([Section(0, 0xfff, 0, "ram", "r")], [], [],
                              lanes=("gpa", "hva", "hpa", "iova"))
    fig, ax, art = draw(data)
    assert "not modelled" in art.lanes["iova"].note.get_text()
    assert art.lanes["hpa"].note is not None


# --- update in place ------------------------------------------------------------

def test_update_keeps_artists_when_counts_unchanged(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    rects, labels = list(art.lanes["gpa"].rects), list(art.lanes["gpa"].labels)
    hva_rects, bands = list(art.lanes["hva"].rects), list(art.bands)
    k = [r.name for r in data.lane("gpa").ranges].index("m0")
    old_y = rects[k].get_y()

    secs, slots = moved(ref, 0x800000000)
    art.update(lanes_from_records(secs, slots))
    fig.canvas.draw()
    assert art.lanes["gpa"].rects == rects and all(a is b for a, b in
                                                   zip(art.lanes["gpa"].rects, rects))
    assert all(a is b for a, b in zip(art.lanes["gpa"].labels, labels))
    assert all(a is b for a, b in zip(art.lanes["hva"].rects, hva_rects))
    assert all(a is b for a, b in zip(art.bands, bands)) and len(art.bands) == len(bands)
    texts = [t.get_text() for t in art.lanes["gpa"].labels]
    assert "m0  0x800000000-0x83fffffff  (1G)" in texts
    assert "m0  0x100000000-0x13fffffff  (1G)" not in texts
    # pc.bios ended at 0xffffffff right below m0; now 4 GiB .. 32 GiB is a gap
    assert (0x100000000, 0x800000000) in art.maps["gpa"].gaps
    assert rects[k].get_y() != old_y


def test_update_adds_and_removes_when_counts_change(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    rects = list(art.lanes["gpa"].rects)
    bands = list(art.bands)
    secs, slots = decode_off(ref)
    art.update(lanes_from_records(secs, slots))
    fig.canvas.draw()
    assert len(art.lanes["gpa"].rects) == len(rects) - 2
    assert len(art.bands) == len(bands) - 1
    # the survivors are the same objects; the removed ones left the axes
    assert all(a is b for a, b in zip(art.lanes["gpa"].rects, rects))
    assert all(r.axes is None for r in rects[len(rects) - 2:])
    n_patches = len(ax.patches)
    art.update(data)                                # decode on again
    assert len(art.lanes["gpa"].rects) == len(rects) and len(art.bands) == len(bands)
    assert len(ax.patches) > n_patches


# --- style and output -----------------------------------------------------------

def test_hex_formatter():
    f = style.hex_formatter()
    assert f(0xfebfe000) == "0xfebfe000" and f(0) == "0x0" and f(-1) == ""


def test_kind_colours():
    assert style.kind_color("nv-ram") == style.KIND_COLORS["ram"]
    assert style.kind_color("rom") == style.kind_color("romd")
    assert style.kind_color("whatever") == style.KIND_COLORS["reserved"]
    assert len({style.KIND_COLORS[k] for k in ("ram", "ramd", "rom", "i/o", "reserved")}) == 5


def test_saved_images_are_deterministic(ref, tmp_path):
    data = lanes_from_records(ref.sections, ref.memslots)
    outs = []
    for _ in range(2):
        fig, ax, art = lanes_figure(data)
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            style.save(fig, buf, fmt)
            outs.append(buf.getvalue())
    assert outs[0] == outs[2] and outs[1] == outs[3]
    assert b"<dc:date>" not in outs[1] and b"Software" not in outs[0]


def test_fast_text_canvas_matches_plain_agg(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    imgs = []
    for fast in (False, True):
        fig, ax, art = lanes_figure(data, fast_text=fast)
        fig.canvas.draw()
        fig.canvas.draw()                        # second draw: from the bitmap cache
        imgs.append(np.asarray(fig.canvas.buffer_rgba()).astype(int))
    diff = np.abs(imgs[0] - imgs[1]).max(axis=2)
    # same picture; text may sit a pixel off (positions rounded to whole pixels)
    assert (diff > 64).mean() < 0.02
    assert diff.mean() < 2.0


def test_png_bytes_round_trip():
    rgba = np.zeros((7, 5, 4), np.uint8)
    rgba[..., 0] = np.arange(5)
    rgba[..., 3] = 255
    rgba[3, 2] = (1, 2, 3, 4)
    data = style.png_bytes(rgba)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert (back == rgba).all()


def test_draw_lanes_on_given_axes(ref):
    fig = style.new_figure("lanes")
    ax = fig.add_subplot()
    art = draw_lanes(ax, lanes_from_records(ref.sections, ref.memslots), legend=False)
    assert art.legend is None and art.ax is ax
    assert set(art.artists()) <= set(ax.get_children())


def test_bands_colour_readonly_slot(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    fig, ax, art = draw(data)
    i = [b.src_start for b in data.bands].index(0xfffc0000)   # Slot#1 flags=0x2
    fc = art.bands[i].get_facecolor()
    assert fc[:3] == pytest.approx(to_rgba(style.KIND_COLORS["rom"])[:3])
    slots = [Memslot(0, 0, 0, 0x1000, 0x7f0000000000)]
    d2 = lanes_from_records([Section(0, 0xfff, 0, "ramd", "vfio-bar")], slots)
    assert d2.bands[0].kind == "ramd"


def test_move_strip_shows_the_careless_moves_passing_place():
    """A careless move of a 64-bit BAR from 0x1000000000 to 0x2002000000,
    low dword first with decode on: after the low write QEMU decodes the
    BAR at (old high dword, new low dword) = 0x10_02000000 (QEMU
    hw/pci/pci.c pci_bar_address reads both dwords of the BAR as they are),
    and only the upper write puts it at 0x2002000000.  A clean move (decode
    off around the writes, Linux drivers/pci/setup-res.c) is mapped nowhere
    until decode is back on."""
    from vfiolab import course
    from vfiolab.plot.moves import draw_move_strip  # noqa: F401
    story = course.story("-machine q35 -m 2G -nodefaults -device "
                         "vfio-pci,host=0000:01:00.0,id=nic0",
                         {"0000:01:00.0": "nic-mellanox-connectx7"}, bdf="00:01.0", bar=0,
                         moves=[(0x1000000000, "clean"), (0x2002000000, "careless")])
    fig = course.move_strip_fig(story, ["move_clean", "move_careless"], "00:01.0", 0)
    boxes = [p.get_gid() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("moment")]
    assert boxes == ["moment:start", "moment:none", "moment:none", "moment:none", "moment:final",
                     "moment:start", "moment:transient", "moment:final"]
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "0x1002000000" in texts and "passing through" in texts
    assert "write BAR0 upper" in texts


def test_config_grid_colours_each_byte_by_its_owner():
    """The grid has a box for every byte of the first 256, coloured by
    owner; the BARs (0x10-0x27) are QEMU's emulated copy (QEMU 7.2
    hw/vfio/pci.c vfio_realize: memset(emulated_config_bits +
    PCI_BASE_ADDRESS_0, 0xff, 6 * 4))."""
    from vfiolab import course
    from vfiolab.plot.config import OWNER_COLORS
    p = course.predict_vm("-machine q35 -m 2G -nodefaults -device "
                          "vfio-pci,host=0000:01:00.0,id=nic0",
                          {"0000:01:00.0": "nic-intel-xl710"})
    fig = course.config_grid_fig(course.vfio_device(p))
    boxes = [b for b in fig.axes[0].patches if (b.get_gid() or "").startswith("owner:")]
    assert sum(b.get_width() for b in boxes) == 256
    bar0 = [b for b in boxes if b.get_y() == 1 and b.get_x() == 0][0]     # offset 0x10
    assert bar0.get_gid() == "owner:qemu"
    assert bar0.get_facecolor()[:3] == pytest.approx(
        tuple(int(OWNER_COLORS["qemu"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
